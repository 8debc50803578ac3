/**
 * The SDK's and the CLI's reads of what others chose (offchain/sdk/jobs.ts `fetchOutput`, the client's
 * `allowPrivateHosts`, `dinfer job post|get|status --allow-private-hosts`): an output location is the provider's
 * choice, so a dApp's server that reads it must not be made to send requests into its own network. With
 * `allowPrivateHosts` off, a location on a loopback, private or link-local host is refused before any request
 * reaches it; an `ipfs://` output read through the dApp's own gateway on localhost is read all the same. Real
 * sockets throughout: each refusal is checked against a server on 127.0.0.1 that counts the requests it gets.
 * The client's default (the devnet rule, on the node's chain id) runs on a chain in test/offchain/sdk.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import type { Command } from "commander";
import { after, before, describe, it } from "mocha";
import { toHex } from "viem";

import type { JobRecord } from "../../offchain/chain/jobs.js";
import { allowPrivateHostsOption } from "../../offchain/cli/context.js";
import { ALLOW_PRIVATE_HOSTS_FLAG } from "../../offchain/cli/flags.js";
import { buildProgram } from "../../offchain/cli/main.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId, encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { ConfigError } from "../../offchain/config/options.js";
import { allowsPrivateHosts as daemonRule } from "../../offchain/daemon/options.js";
import { DEVNET_CHAIN_ID as DEVNET_SPEC_CHAIN_ID } from "../../offchain/devnet/chain-spec.js";
import { allowsPrivateHosts, DEVNET_CHAIN_ID, PrivateHostRefusedError } from "../../offchain/sdk/index.js";
import { fetchOutput } from "../../offchain/sdk/jobs.js";
import { countingServer, refused, type CountingServer } from "../helpers/private-hosts.js";
import { revealedJob } from "../helpers/revealed-job.js";

const CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
const output = encodeTensorBlob([tensorFromArray({ name: "y", dtype: "float32", values: new Float32Array(1_500).map((_, i) => i / 7), dims: [1_500] })]);
const root = outputRoot(output);

/** A job revealed with `outputURI` (what readJob would rebuild from the chain's events). */
const revealed = (outputURI: string): JobRecord => revealedJob({ root, outputURI });

describe("sdk fetchOutput: an output location the provider chose, on a private host", function () {
  let local: CountingServer;

  before(async () => {
    local = await countingServer(output);
  });
  after(async () => {
    await local.close();
  });

  it("is refused by default before any request: by address, by a hostname that resolves there, on a worker's blob route", async function () {
    const before = local.requests();
    await assert.rejects(fetchOutput({ record: revealed(`${local.base}/outputs/${root}`) }), refused(/^private host refused: 127\.0\.0\.1 is a private address \(loopback\)/));
    await assert.rejects(fetchOutput({ record: revealed(`http://localhost:${local.port}/outputs/${root}`) }), refused(/localhost resolves to (127\.0\.0\.1|::1), a private address \(loopback\)/));
    // A `.../blobs/<id>` location is read by its id (fetchBlob): refused the same way.
    await assert.rejects(fetchOutput({ record: revealed(`${local.base}/blobs/${blobId(output)}`) }), refused(/127\.0\.0\.1 is a private address \(loopback\)/));
    await assert.rejects(fetchOutput({ record: revealed(`${local.base}/outputs/${root}`), allowPrivateHosts: false }), refused(/127\.0\.0\.1/));
    assert.equal(local.requests(), before, "the server got no request");
  });

  it("refuses the cloud's metadata service at once, without a connection attempt (no time limit waited out)", async function () {
    const started = Date.now();
    await assert.rejects(fetchOutput({ record: revealed("http://169.254.169.254/latest/meta-data/") }), refused(/169\.254\.169\.254 is a private address \(link-local\)/));
    assert.ok(Date.now() - started < 5_000, "refused, not timed out");
  });

  it("is read, checked against the root, with allowPrivateHosts on (a devnet, a provider on the dApp's own network)", async function () {
    const before = local.requests();
    assert.deepEqual(await fetchOutput({ record: revealed(`${local.base}/outputs/${root}`), allowPrivateHosts: true }), output);
    assert.deepEqual(await fetchOutput({ record: revealed(`${local.base}/blobs/${blobId(output)}`), allowPrivateHosts: true }), output);
    assert.equal(local.requests(), before + 2);
  });

  it("reads a file:// output (a worker on the dApp's own machine) only with allowPrivateHosts on: the path is the provider's choice too", async function () {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "dinfer-sdk-file-")), "output.dtn");
    writeFileSync(file, output);
    await assert.rejects(fetchOutput({ record: revealed(`file://${file}`) }), (error: Error & { code?: string }) => error.code === "OUTPUT_URI_REFUSED");
    assert.deepEqual(await fetchOutput({ record: revealed(`file://${file}`), allowPrivateHosts: true }), output);
  });

  it("reads an inline output with nothing to fetch, whatever the setting", async function () {
    const small = encodeTensorBlob([tensorFromArray({ name: "y", dtype: "float32", values: [0.25, 0.75], dims: [1, 2] })]);
    const record = { ...revealed(""), inlineOutput: toHex(small), job: { ...revealed("").job, result: outputRoot(small) } } as JobRecord;
    assert.deepEqual(await fetchOutput({ record }), small);
  });

  it("reads an ipfs:// output through the dApp's gateway on 127.0.0.1 with private hosts refused: the gateway is the dApp's choice", async function () {
    const before = local.requests();
    assert.deepEqual(await fetchOutput({ record: revealed(`ipfs://${CID}/output.bin`), ipfsGateway: local.base }), output);
    assert.equal(local.requests(), before + 1, "the gateway was read");
  });

  it("screens a redirect off the gateway: the private host it points to gets no request", async function () {
    const gateway = await countingServer(output, { ipfsRedirect: `${local.base}/blob` });
    try {
      const before = local.requests();
      await assert.rejects(fetchOutput({ record: revealed(`ipfs://${CID}`), ipfsGateway: gateway.base }), refused(/127\.0\.0\.1 is a private address \(loopback\)/));
      assert.equal(gateway.requests(), 1, "the gateway was read");
      assert.equal(local.requests(), before, "the host it redirected to got no request");
    } finally {
      await gateway.close();
    }
  });
});

describe("the private-host rule: one definition for the daemons, the SDK and the devnet", function () {
  it("is on by default only on chain 31337, whatever is given wins; the SDK exports the daemons' own rule and error", function () {
    assert.equal(allowsPrivateHosts, daemonRule, "the daemons' allowsPrivateHosts is the SDK's");
    assert.equal(DEVNET_CHAIN_ID, 31337);
    assert.equal(DEVNET_SPEC_CHAIN_ID, DEVNET_CHAIN_ID, "the devnet's chain id is the one the rule names");
    assert.equal(allowsPrivateHosts({ chainId: 31337 }), true);
    assert.equal(allowsPrivateHosts({ chainId: 8453 }), false);
    assert.equal(allowsPrivateHosts({ allowPrivateHosts: false, chainId: 31337 }), false);
    assert.equal(allowsPrivateHosts({ allowPrivateHosts: true, chainId: 1 }), true);
    assert.equal(new PrivateHostRefusedError({ source: "s", host: "h", address: "10.0.0.1", kind: "private" }).code, "PRIVATE_HOST_REFUSED");
  });
});

describe("cli: --allow-private-hosts on the commands that read outputs", function () {
  const dir = mkdtempSync(path.join(tmpdir(), "dinfer-cli-private-hosts-"));
  const config = (name: string, value: unknown) => {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(value));
    return file;
  };

  /** `dinfer job <name> ...args` parsed by the real command, its `allowPrivateHostsOption` read (with `env`) instead of running it. */
  async function option(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<boolean | undefined> {
    const program = buildProgram();
    const job = program.commands.find((command) => command.name() === "job")!;
    let read: { value: boolean | undefined } | undefined;
    job.commands
      .find((command) => command.name() === name)!
      .action((...parameters: unknown[]) => {
        read = { value: allowPrivateHostsOption(parameters.at(-1) as Command, env) };
      });
    await program.parseAsync(["node", "dinfer", "job", name, ...(name === "post" ? [] : ["1"]), ...args]);
    assert.ok(read !== undefined, `job ${name}'s action did not run`);
    return read.value;
  }

  it("reads --allow-private-hosts on job post, get and status, with the daemons' help", async function () {
    for (const name of ["post", "get", "status"]) {
      assert.equal(await option(name, ["--allow-private-hosts"]), true, name);
      assert.equal(await option(name, []), undefined, `${name}: unset, the devnet rule decides`);
      const help = buildProgram().commands.find((c) => c.name() === "job")!.commands.find((c) => c.name() === name)!.helpInformation();
      assert.ok(help.replace(/\s+/g, " ").includes(ALLOW_PRIVATE_HOSTS_FLAG.slice(0, 60)), `${name}'s help`);
    }
  });

  it("reads DINFER_ALLOW_PRIVATE_HOSTS strictly (false is false, anything but yes or no is refused) and the config file, the flag first", async function () {
    assert.equal(await option("get", [], { DINFER_ALLOW_PRIVATE_HOSTS: "false" }), false);
    assert.equal(await option("get", [], { DINFER_ALLOW_PRIVATE_HOSTS: "1" }), true);
    assert.equal(await option("get", ["--config", config("off.json", { allowPrivateHosts: false, rpcUrl: "http://127.0.0.1:1" })]), false);
    assert.equal(await option("get", ["--config", config("on.json", { allowPrivateHosts: true })], { DINFER_ALLOW_PRIVATE_HOSTS: "no" }), false, "the environment beats the file");
    assert.equal(await option("status", ["--allow-private-hosts"], { DINFER_ALLOW_PRIVATE_HOSTS: "false" }), true, "the flag beats the environment");
    await assert.rejects(option("get", [], { DINFER_ALLOW_PRIVATE_HOSTS: "maybe" }), (error: unknown) => error instanceof ConfigError && /allowPrivateHosts: must be true or false/.test(error.message));
  });
});
