/**
 * A dApp's batches from the CLI, as processes against a real node with the protocol deployed and the
 * PaddleOCR models registered (test/helpers/network.ts): `deposit add|withdraw|show`, `job post --batch
 * file.jsonl` (inputs checked against the models, uploaded, posted in one transaction from the deposit,
 * topped up when short) and `job status` of a job still in its batch. No worker runs: the jobs stay posted
 * (test/e2e/worker-batch.e2e.test.ts has a worker finish them).
 *
 * Run alone: `npx hardhat test mocha test/e2e/cli-batch.e2e.test.ts`.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { parseEther, type Address } from "viem";

import { batchMarketAbi, dinferTestTokenAbi } from "../../offchain/chain/abis.js";
import { readBatch } from "../../offchain/chain/batches.js";
import { encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin/dinfer.js");
const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));

describe("dinfer deposit, job post --batch, job status of a batch job (CLI processes)", function () {
  this.timeout(300_000);
  const dir = mkdtempSync(path.join(tmpdir(), "dinfer-cli-batch-"));
  let net: LocalNetwork;
  let config: string;

  function dinfer(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [BIN, "--config", config, ...args],
        { cwd: ROOT, encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0", DINFER_PRIVATE_KEY: net.keys.dapp, DINFER_UPLOAD_TOKEN: net.uploadToken }, timeout: 120_000 },
        (error, stdout, stderr) => resolve({ status: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
      );
    });
  }
  const balance = async (address: Address) =>
    (await net.publicClient.readContract({ address: net.deployment.token, abi: dinferTestTokenAbi, functionName: "balanceOf", args: [address] })) as bigint;
  const depositOf = async (address: Address) =>
    (await net.publicClient.readContract({ address: net.deployment.batchMarket, abi: batchMarketAbi, functionName: "deposits", args: [address] })) as bigint;

  before(async function () {
    this.timeout(240_000);
    net = await startLocalNetwork();
    config = path.join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ rpcUrl: net.url, addresses: net.deployment }));
  });

  after(async function () {
    this.timeout(60_000);
    await net?.stop();
  });

  it("deposit add, withdraw and show move the dApp's tokens, and a withdrawal over the deposit is refused with the balance named", async () => {
    const before = await balance(net.addresses.dapp);
    const added = await dinfer(["deposit", "add", "5"]);
    assert.equal(added.status, 0, added.stderr);
    assert.match(added.stdout, /^deposited 5 DINF; the batches deposit holds 5 DINF/m);
    const withdrawn = await dinfer(["deposit", "withdraw", "2"]);
    assert.equal(withdrawn.status, 0, withdrawn.stderr);
    assert.match(withdrawn.stdout, /the batches deposit holds 3 DINF/);
    const refused = await dinfer(["deposit", "withdraw", "4"]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /the deposit holds 3000000000000000000 \(wei\), less than the 4000000000000000000 asked for/);
    const shown = await dinfer(["deposit", "show"]);
    assert.equal(shown.status, 0, shown.stderr);
    assert.equal(shown.stdout.trim(), `deposit of ${net.addresses.dapp}: 3 DINF\n  for signed requests and jobs from a deposit (JobMarket, --jobs): 0 DINF`);
    assert.equal(await balance(net.addresses.dapp), before - parseEther("3"));
    // The JobMarket's deposit (signed requests) is its own: --jobs adds to it and takes from it.
    assert.match((await dinfer(["deposit", "add", "2", "--jobs"])).stdout, /the jobs deposit holds 2 DINF/);
    assert.match((await dinfer(["deposit", "withdraw", "1", "--jobs"])).stdout, /the jobs deposit holds 1 DINF/);
    assert.match((await dinfer(["deposit", "show"])).stdout, /: 3 DINF\n {2}for signed requests .*: 1 DINF/);
    assert.equal(await balance(net.addresses.dapp), before - parseEther("4"));
  });

  it("job post --batch posts a .jsonl file's jobs in one transaction, topping the deposit up, and job status shows each in its batch", async () => {
    const cls = net.modelIds.cls;
    const file = path.join(dir, "jobs.jsonl");
    writeFileSync(
      file,
      [
        `# two text lines for the angle classifier, one at a higher fee`,
        JSON.stringify({ model: cls, input: `${IMAGES}line-1.png`, image: "cls" }),
        "",
        JSON.stringify({ model: cls, input: `${IMAGES}line-2-rot180.png`, image: "cls", fee: "4" }),
        JSON.stringify({ model: cls, input: `${IMAGES}line-2-rot180.png`, image: "cls" }),
      ].join("\n"),
    );
    const depositBefore = await depositOf(net.addresses.dapp);
    const posted = await dinfer(["job", "post", "--batch", file, "--upload", net.blobServer.url]);
    assert.equal(posted.status, 0, posted.stderr);
    const ids = [...posted.stdout.matchAll(/^job (\d+) {2}batch (\d+) {2}model (\d+) {2}(\S+)$/gm)].map((m) => ({ jobId: BigInt(m[1]!), batchId: BigInt(m[2]!), file: m[4] }));
    assert.equal(ids.length, 3, posted.stdout);
    assert.deepEqual(ids.map((j) => j.file), ["line-1.png", "line-2-rot180.png", "line-2-rot180.png"]);
    assert.match(posted.stdout, /^posted 3 jobs in 2 batch\(es\)/m);
    assert.equal(ids[0]!.batchId, ids[2]!.batchId, "the two jobs at the model's floor share a batch");
    assert.notEqual(ids[0]!.batchId, ids[1]!.batchId);
    // The floor of the cls model twice and 4 tokens once, the deposit topped up by what it lacked.
    const [, floor] = (await net.publicClient.readContract({
      address: net.deployment.registry,
      abi: [{ type: "function", name: "terms", stateMutability: "view", inputs: [{ type: "uint256" }], outputs: [{ type: "bool" }, { type: "uint96" }, { type: "uint96" }] }],
      functionName: "terms",
      args: [BigInt(cls)],
    })) as [boolean, bigint, bigint];
    const cost = 2n * floor + parseEther("4");
    assert.match(posted.stdout, new RegExp(`for ${cost} wei from the deposit, the deposit topped up by ${cost - depositBefore} wei first`));
    assert.equal(await depositOf(net.addresses.dapp), 0n);

    const batch = await readBatch({ client: net.publicClient, batchMarket: net.deployment.batchMarket, batchId: ids[0]!.batchId });
    assert.equal(batch.batch.count, 2);
    assert.equal(batch.batch.firstJobId, ids[0]!.jobId);
    assert.equal(batch.batch.firstJobId + 1n, ids[2]!.jobId);

    const status = await dinfer(["job", "status", String(ids[2]!.jobId)]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^job ${ids[2]!.jobId}: posted \\(job 1 of batch ${ids[0]!.batchId}, 2 jobs\\)$`, "m"));
    assert.match(status.stdout, /^ {2}claim by \S+ \(in \d+m \d+s\)$/m);
    assert.match(status.stdout, /^ {2}input http:\/\/127\.0\.0\.1:\d+\/blobs\/0x[0-9a-f]{64} \(0x[0-9a-f]{64}\)$/m);
    const json = await dinfer(["job", "status", String(ids[1]!.jobId), "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { state: string; batchId: string; fee: string; index: number };
    assert.deepEqual([parsed.state, parsed.batchId, parsed.fee, parsed.index], ["posted", String(ids[1]!.batchId), parseEther("4").toString(), 0]);
  });

  it("job post --batch refuses a bad line by its number, and an input the model cannot take, before anything is paid", async () => {
    const before = [await balance(net.addresses.dapp), await depositOf(net.addresses.dapp)];
    const bad = path.join(dir, "bad.jsonl");
    writeFileSync(bad, [JSON.stringify({ model: net.modelIds.cls, input: `${IMAGES}line-1.png`, image: "cls" }), JSON.stringify({ modle: 1, input: "x" })].join("\n"));
    const refused = await dinfer(["job", "post", "--batch", bad, "--upload", net.blobServer.url]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /bad\.jsonl:2: .*model: /);

    // The cls model takes x float32[?, 3, 48, ?]: 4 channels is wrong (the second line; the first is fine).
    writeFileSync(
      path.join(dir, "wrong.dtn"),
      encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values: new Float32Array(4 * 48 * 4).fill(0.5), dims: [1, 4, 48, 4] })]),
    );
    const wrong = path.join(dir, "wrong.jsonl");
    writeFileSync(wrong, [JSON.stringify({ model: net.modelIds.cls, input: `${IMAGES}line-1.png`, image: "cls" }), JSON.stringify({ model: net.modelIds.cls, input: "wrong.dtn" })].join("\n"));
    const unfit = await dinfer(["job", "post", "--batch", wrong, "--upload", net.blobServer.url]);
    assert.equal(unfit.status, 1, unfit.stdout + unfit.stderr);
    assert.match(unfit.stderr, /job 1 \(model \d+\): model \d+ cannot take this input: input "x" dims\[1\]: is 4, the model takes 3/);
    const missing = await dinfer(["job", "post", "--model", "1"]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /job post needs --input, --fee \(or --batch file\.jsonl\)/);
    assert.deepEqual([await balance(net.addresses.dapp), await depositOf(net.addresses.dapp)], before);
  });
});
