/**
 * `dinfer devnet --data-dir` across a restart, as processes: the devnet says what it does while it
 * starts; restarted with the same dir it comes back on the same ports with the same upload token,
 * deployment id and contract addresses (on a new chain); a worker restarted with its old data dir
 * notices the reset chain and runs on without a reorg error, and `dinfer job post --wait` prints each
 * stage of a job it serves (claimed, committed, revealed, final) as the chain shows it; a worker data
 * dir used against another deployment is refused with one line and the fix.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { after, before, describe, it } from "mocha";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import type { Deployment } from "../../offchain/chain/deployment.js";
import { MODEL_FILES } from "../../offchain/devnet/devnet.js";
import { freePort } from "../../offchain/devnet/node.js";
import { deployVersionStub } from "../helpers/version-stub.js";
import { startWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin/dinfer.js");
const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const SECRET = "ab".repeat(32);

type DevnetProcess = {
  child: ChildProcessWithoutNullStreams;
  rows: Map<string, string>;
  stderr: () => string;
  stop: () => Promise<void>;
};

/** Starts `dinfer devnet <args>` and waits for its summary; `rows` maps each summary label to its value. */
async function startDevnetProcess(args: string[]): Promise<DevnetProcess> {
  const child = spawn(process.execPath, [BIN, "devnet", ...args], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: "0" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
    await exited;
  };
  const deadline = Date.now() + 240_000;
  while (!/dApp blob server .*\n/.test(stdout)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`dinfer devnet did not come up:\n${stdout}\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const rows = new Map<string, string>();
  for (const line of stdout.split("\n").filter((l) => l.startsWith("  "))) rows.set(line.slice(2, 24).trim(), line.slice(24).trim());
  return { child, rows, stderr: () => stderr, stop };
}

const deploymentOf = (rows: Map<string, string>): Deployment => ({
  token: rows.get("token") as Hex,
  staking: rows.get("staking") as Hex,
  registry: rows.get("registry") as Hex,
  market: rows.get("market") as Hex,
  verification: rows.get("verification") as Hex,
  batchMarket: rows.get("batchMarket") as Hex,
  profiles: rows.get("profiles") as Hex,
  replicaMarket: rows.get("replicaMarket") as Hex,
});

describe("dinfer devnet --data-dir: a restart keeps the network, daemons resume, job post --wait shows progress", function () {
  this.timeout(600_000);
  const dir = mkdtempSync(path.join(tmpdir(), "dinfer-devnet-restart-"));
  const devnetDir = path.join(dir, "devnet");
  const workerDir = path.join(dir, "worker");
  let devnet: DevnetProcess | undefined;
  let worker: WorkerProcess | undefined;
  let first: Map<string, string>;
  let second: Map<string, string>;
  let firstStderr = "";
  let port = 0;
  let blobPort = 0;

  const keyOf = (rows: Map<string, string>, label: string) => rows.get(label)!.split(" key ")[1] as Hex;
  const rpcOf = (rows: Map<string, string>) => rows.get("JSON-RPC")!.split(" ")[0]!;
  const startWorker = (rows: Map<string, string>) =>
    startWorkerProcess({
      url: rpcOf(rows),
      deployment: deploymentOf(rows),
      models: [{ modelId: 1, path: MODEL_FILES.cls }],
      dataDir: workerDir,
      key: keyOf(rows, "provider #1"),
      secret: SECRET,
    });

  before(async function () {
    this.timeout(480_000);
    [port, blobPort] = [await freePort(), await freePort()];
    devnet = await startDevnetProcess(["--data-dir", devnetDir, "--port", String(port), "--blob-port", String(blobPort), "--providers", "1", "--verifiers", "0"]);
    first = devnet.rows;
    firstStderr = devnet.stderr();
    mkdirSync(workerDir, { recursive: true });
    // The worker follows the first chain for a while: its journal holds a cursor on that chain.
    worker = await startWorker(first);
    await new Promise((r) => setTimeout(r, 3_000));
    await worker.stop();
    worker = undefined;
    await devnet.stop();

    // Only the data dir: the ports and the rest come from it.
    devnet = await startDevnetProcess(["--data-dir", devnetDir]);
    second = devnet.rows;
  });

  after(async () => {
    await worker?.kill();
    await devnet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("says what it is doing while it starts", () => {
    for (const stage of ["building the contracts", "starting the chain", "chain up at", "deploying the protocol", "checking the PaddleOCR models and registering them", "staking 1 provider(s) and 0 verifier(s)", "starting the dApp's blob server", "ready in"]) {
      assert.match(firstStderr, new RegExp(`^\\[\\s*\\d+\\.\\d+s\\] ${stage.replace(/[()]/g, "\\$&")}`, "m"), `no "${stage}" line in:\n${firstStderr}`);
    }
  });

  it("comes back with the same ports, upload token, deployment id, addresses and keys, and says the chain is new", () => {
    assert.equal(rpcOf(second), `http://127.0.0.1:${port}`);
    assert.match(second.get("dApp blob server")!, new RegExp(`^http://127\\.0\\.0\\.1:${blobPort} `));
    for (const label of ["deployment id", "token", "staking", "registry", "market", "verification", "models", "provider #1", "dApp #2", "dApp blob server"]) {
      assert.equal(second.get(label), first.get(label), label);
    }
    assert.match(devnet!.stderr(), /^restarting the devnet saved in .*the chain starts empty and the protocol is deployed again/m);
  });

  it("a worker restarted with its old data dir starts a fresh journal on the new chain, with no reorg error, and serves a job posted with job post --wait, which prints each stage", async () => {
    worker = await startWorker(second);
    await worker.waitForLine((line) => /the chain was reset/.test(String(line.msg)), "the reset warning", 10_000);

    const config = path.join(dir, "dapp.json");
    writeFileSync(config, JSON.stringify({ rpcUrl: rpcOf(second), addresses: deploymentOf(second) }));
    const token = second.get("dApp blob server")!.match(/upload token ([0-9a-f]+)/)![1]!;
    const post = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [BIN, "--config", config, "job", "post", "--model", "1", "--image", "cls", "--input", `${IMAGES}line-1.png`, "--fee", "2", "--upload", second.get("dApp blob server")!.split(" ")[0]!, "--wait"],
        { cwd: ROOT, env: { ...process.env, FORCE_COLOR: "0", DINFER_PRIVATE_KEY: keyOf(second, "dApp #2"), DINFER_UPLOAD_TOKEN: token } },
      );
      let [stdout, stderr] = ["", ""];
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.once("exit", (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(post.code, 0, `${post.stdout}\n${post.stderr}`);
    const jobId = post.stdout.match(/^posted job (\d+)/m)![1];
    const stages = post.stderr.split("\n").filter((l) => l.startsWith(`job ${jobId}: `)).map((l) => l.slice(`job ${jobId}: `.length));
    const provider = second.get("provider #1")!.split(" ")[0]!;
    assert.match(stages[0]!, /^waiting for a provider to claim it/);
    assert.ok(stages.includes(`claimed by ${provider}`), stages.join("\n"));
    assert.ok(stages.some((s) => s.startsWith(`committed: ${provider} sealed its result`)), stages.join("\n"));
    assert.ok(stages.some((s) => /^revealed: output root 0x[0-9a-f]+…[0-9a-f]{4}, (not )?sampled for audit/.test(s) && /finalizing in \d+/.test(s)), stages.join("\n"));
    assert.equal(stages.at(-1), "final");
    assert.match(post.stdout, new RegExp(`^job ${jobId}: final, output root 0x[0-9a-f]{64} verified`, "m"));

    const errors = worker.lines().filter((line) => (line.level ?? 0) >= 50 || /reorg/i.test(String(line.msg)));
    assert.deepEqual(errors, [], "no error and no reorg in the worker's log");
    assert.ok(!worker.exited());
    await worker.stop();
    worker = undefined;
  });

  it("a worker data dir used against another deployment is refused with one line naming both and the fix", async () => {
    const config = path.join(dir, "other.json");
    // Another deployment's market: a stand-in that reports this protocol version, so the start gets past that check to the data dir.
    const market = await deployVersionStub({ rpcUrl: rpcOf(second), account: privateKeyToAccount(keyOf(second, "provider #1")) });
    const other = { ...deploymentOf(second), market };
    mkdirSync(workerDir, { recursive: true });
    writeFileSync(config, JSON.stringify({ rpcUrl: rpcOf(second), addresses: other, models: [{ modelId: 1, path: MODEL_FILES.cls }], dataDir: workerDir, metricsPort: -1, port: 0 }));
    const run = spawnSync(process.execPath, [BIN, "--config", config, "worker"], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, FORCE_COLOR: "0", DINFER_DEBUG: "", DINFER_PRIVATE_KEY: keyOf(second, "provider #1"), DINFER_WORKER_SECRET: SECRET },
      timeout: 60_000,
    });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    const lines = run.stderr.split("\n").filter((l) => l.startsWith("dinfer:") || /^\s+at /.test(l));
    assert.deepEqual(lines, [
      `dinfer: this data dir (${workerDir}) belongs to chain 31337 deployment ${second.get("market")}, not chain 31337 deployment ${other.market}: use a new --data-dir or remove it`,
    ]);
  });
});
