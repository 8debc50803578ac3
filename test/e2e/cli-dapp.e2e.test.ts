/**
 * A dApp developer's CLI, as processes against a real node with the protocol deployed and the PaddleOCR
 * models registered (test/helpers/network.ts): `tensor encode|decode|show`, `job post` refusing an input
 * the model cannot take before any fee is escrowed, and `job list|status` and `history` of posted jobs.
 * No worker runs: the jobs stay posted.
 *
 * Run alone: `npx hardhat test mocha test/e2e/cli-dapp.e2e.test.ts`.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { Address } from "viem";

import { dinferTestTokenAbi } from "../../offchain/chain/abis.js";
import { decodeTensorBlob, tensorToArray } from "../../offchain/codec/tensor.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin/dinfer.js");
const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const NPY = fileURLToPath(new URL("../fixtures/npy/", import.meta.url));

describe("dinfer tensor, job post's input check, job list|status, history (CLI processes)", function () {
  this.timeout(300_000);
  const dir = mkdtempSync(path.join(tmpdir(), "dinfer-cli-dapp-"));
  let net: LocalNetwork;
  let config: string;

  /** Runs the CLI without blocking this process: the devnet's blob server (uploads) runs in it. */
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

  it("tensor encode builds a blob from JSON and .npy, show lists it, decode gives back JSON that encodes to the same bytes", async () => {
    const json = path.join(dir, "x.json");
    writeFileSync(json, JSON.stringify({ ids: { dtype: "int64", dims: [3], data: [1, "9007199254740993", -1] }, scores: [[0.5, 1.5], [2, -3]] }));
    const blob = path.join(dir, "x.dtn");
    const encoded = await dinfer(["tensor", "encode", json, `a=${NPY}f4_2x3.npy`, "-o", blob]);
    assert.equal(encoded.status, 0, encoded.stderr);
    assert.match(encoded.stdout, /^wrote .*x\.dtn: \d+ bytes, blob id 0x[0-9a-f]{64}$/m);
    const tensors = decodeTensorBlob(new Uint8Array(readFileSync(blob)));
    assert.deepEqual(tensors.map((t) => `${t.name} ${t.dtype}[${t.dims}]`), ["a float32[2,3]", "ids int64[3]", "scores float32[2,2]"]);
    assert.deepEqual([...tensorToArray(tensors[1]!)], [1n, 9007199254740993n, -1n]);

    const shown = await dinfer(["tensor", "show", blob, "--values", "3"]);
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /DTN1 blob, 3 tensors/);
    assert.match(shown.stdout, /^ {2}a float32\[2, 3\] \(24 bytes\): 0, 0\.25, 0\.5, \.\.\. \(6 values\)$/m);

    const back = path.join(dir, "back.json");
    assert.equal((await dinfer(["tensor", "decode", blob, "-o", back])).status, 0);
    assert.deepEqual(JSON.parse(readFileSync(back, "utf8")).ids.data, [1, "9007199254740993", -1]);
    const again = path.join(dir, "again.dtn");
    assert.equal((await dinfer(["tensor", "encode", back, "-o", again])).status, 0);
    assert.deepEqual(readFileSync(again), readFileSync(blob));
  });

  it("job post refuses an input of the wrong shape before escrowing anything, and a JSON file that is no blob", async () => {
    const cls = String(net.modelIds.cls);
    const wrong = path.join(dir, "wrong.dtn");
    // The cls model takes x float32[?, 3, 48, ?]: 4 channels is wrong.
    writeFileSync(path.join(dir, "wrong.json"), JSON.stringify({ x: { dtype: "float32", dims: [1, 4, 48, 4], data: new Array(4 * 48 * 4).fill(0.5) } }));
    assert.equal((await dinfer(["tensor", "encode", path.join(dir, "wrong.json"), "-o", wrong])).status, 0);
    const before = await balance(net.addresses.dapp);

    const refused = await dinfer(["job", "post", "--model", cls, "--input", wrong, "--fee", "2"]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /model \d+ cannot take this input: input "x" dims\[1\]: is 4, the model takes 3/);
    assert.match(refused.stderr, /dinfer tensor show/);
    const notBlob = await dinfer(["job", "post", "--model", cls, "--input", path.join(dir, "wrong.json"), "--fee", "2"]);
    assert.equal(notBlob.status, 1);
    assert.match(notBlob.stderr, /not a DTN1 tensor blob .*dinfer tensor encode/);
    assert.equal(await balance(net.addresses.dapp), before, "no fee left the account");

    // --no-check posts it all the same (the fee is escrowed: 2 tokens leave the account).
    const unchecked = await dinfer(["job", "post", "--model", cls, "--input", wrong, "--fee", "2", "--no-check"]);
    assert.equal(unchecked.status, 0, unchecked.stderr);
    assert.equal(await balance(net.addresses.dapp), before - 2n * 10n ** 18n);
  });

  it("job post checks a good input against a local --model-file and posts; job list and job status show the dApp's jobs", async () => {
    const blob = path.join(dir, "line.dtn");
    assert.equal((await dinfer(["tensor", "encode", "--image", "cls", `${IMAGES}line-1.png`, "-o", blob])).status, 0);
    const wrongFile = await dinfer(["job", "post", "--model", String(net.modelIds.cls), "--input", blob, "--fee", "3", "--model-file", net.modelFiles.det, "--upload", net.blobServer.url]);
    assert.equal(wrongFile.status, 1);
    assert.match(wrongFile.stderr, /sha256 0x[0-9a-f]+, not model \d+'s registered/);
    const posted = await dinfer(["job", "post", "--model", String(net.modelIds.cls), "--input", blob, "--fee", "3", "--model-file", net.modelFiles.cls, "--upload", net.blobServer.url]);
    assert.equal(posted.status, 0, posted.stderr);
    const jobId = /posted job (\d+)/.exec(posted.stdout)![1]!;

    const list = await dinfer(["job", "list", "--json"]);
    assert.equal(list.status, 0, list.stderr);
    const jobs = JSON.parse(list.stdout) as { jobId: string; state: string; fee: string; poster: string; deadline: { what: string } }[];
    assert.deepEqual(jobs.map((j) => [j.state, j.fee]), [["posted", "2000000000000000000"], ["posted", "3000000000000000000"]]);
    assert.equal(jobs[1]!.jobId, jobId);
    assert.equal(jobs[1]!.poster.toLowerCase(), net.addresses.dapp.toLowerCase());
    assert.equal(jobs[1]!.deadline.what, "claim by");
    assert.match((await dinfer(["job", "list", "--state", "finalized"])).stdout, /no jobs posted by .* in state finalized/);
    assert.match((await dinfer(["job", "list", "--poster", net.addresses.provider])).stdout, /no jobs posted by/);

    const status = await dinfer(["job", "status", jobId]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^job ${jobId}: posted$`, "m"));
    assert.match(status.stdout, /fee 3 DINF/);
    assert.match(status.stdout, /claim by \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in (9m|10m)/);

    const history = await dinfer(["history", "--json"]);
    assert.equal(history.status, 0, history.stderr);
    const { entries, totals } = JSON.parse(history.stdout) as { entries: { kind: string; amount: string; jobId: string }[]; totals: { feesPaid: string } };
    assert.deepEqual(entries.filter((e) => e.kind === "fee paid").map((e) => e.amount), ["-2000000000000000000", "-3000000000000000000"]);
    assert.equal(totals.feesPaid, "-5000000000000000000");
  });
});
