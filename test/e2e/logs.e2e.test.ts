/**
 * The worker's logs as an operator sees them, from a real `dinfer worker` process on a real node with
 * the PaddleOCR cls model: piped, every line of its stderr is a JSON record while it chooses an
 * execution provider (`ep: auto` tries WebGPU, whose Dawn backend prints its own warnings on a machine
 * without Vulkan), runs a job, and logs its idle status line; with DINFER_LOG_FORMAT=pretty the same
 * process writes one readable line a record.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { after, before, describe, it } from "mocha";

import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { encodeTensorBlob } from "../../offchain/codec/tensor.js";
import { imageToClsInput } from "../../offchain/sdk/image.js";
import { postJob } from "../../offchain/sdk/jobs.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";
import { startWorkerProcess } from "../helpers/worker-process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin/dinfer.js");
const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
const SECRET = "cd".repeat(32);
const FEE = 2_000_000_000_000_000_000n;

describe("dinfer worker logs: JSON when piped (no native noise), readable lines with DINFER_LOG_FORMAT=pretty", function () {
  this.timeout(300_000);
  let net: LocalNetwork;
  const dir = mkdtempSync(path.join(tmpdir(), "dinfer-logs-"));

  before(async function () {
    net = await startLocalNetwork();
  });

  after(async function () {
    await net?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("piped: every stderr line parses as JSON through an auto provider choice and a job, amounts carry tokens, and the idle worker logs its status", async () => {
    mkdirSync(path.join(dir, "piped"));
    const worker = await startWorkerProcess({
      url: net.url,
      deployment: net.deployment,
      models: [{ modelId: net.modelIds.cls, path: net.modelFiles.cls }],
      dataDir: path.join(dir, "piped"),
      key: net.keys.provider,
      secret: SECRET,
      ep: "auto",
      extra: { statusIntervalMs: 300 },
    });
    try {
      // The daemon re-executed itself, under the same pid, with glibc's malloc kept from unmapping freed blobs and
      // V8's old generation started at 256 MiB (bin/dinfer.js), once; its warning about process.execve never
      // reaches stderr (every line below is JSON).
      if (process.platform === "linux" && typeof process.execve === "function") {
        const argv = readFileSync(`/proc/${worker.pid}/cmdline`, "utf8").split("\0");
        assert.equal(argv.filter((arg) => arg === "--initial-old-space-size=256").length, 1, `re-executed once with V8's heap flag: ${argv.join(" ")}`);
        const environ = readFileSync(`/proc/${worker.pid}/environ`, "utf8");
        // (glibc cuts the variable short in place as it parses it: only its start is still there to read)
        if (process.env.GLIBC_TUNABLES === undefined) assert.match(environ, /(^|\0)GLIBC_TUNABLES=glibc\.malloc\.mmap_threshold=33554432/);
      }
      const input = encodeTensorBlob([await imageToClsInput(`${IMAGES}line-1.png`)]);
      const { jobId } = await postJob({
        sender: net.dappSender,
        publicClient: net.publicClient,
        deployment: net.deployment,
        modelId: net.modelIds.cls,
        input,
        fee: FEE,
        upload: { serverUrl: net.blobServer.url, token: net.uploadToken },
      });
      const claimed = await worker.waitForLine((l) => l.msg === "job claimed" && l.job_id === jobId.toString(), "the job's claim", 120_000);
      assert.equal(claimed.fee, FEE.toString());
      assert.equal(claimed.fee_tokens, "2 DINF");
      await worker.waitForLine((l) => l.msg === "execution provider chosen", "the provider choice");
      await worker.waitForLine((l) => l.msg === "reveal confirmed" && l.job_id === jobId.toString(), "the reveal", 60_000);
      const status = await worker.waitForLine((l) => typeof l.msg === "string" && l.msg.startsWith("idle:") && l.revealed === 1, "an idle status line after the reveal", 30_000);
      assert.match(String(status.msg), /^idle: 1 job seen, \d+ open, 1 claimed, 1 committed, 1 revealed, stake 1000 DINF \(\d+(\.\d+)? DINF free\), up \d+s$/);
      const { job } = await readJob({ client: net.publicClient, market: net.deployment.market, jobId });
      assert.ok(job.status >= JobStatus.Revealed);
    } finally {
      await worker.stop();
    }
    const lines = worker.logs().split("\n").filter((line) => line.trim() !== "");
    assert.ok(lines.length > 10, `a worker that ran a job logged ${lines.length} lines`);
    const notJson = lines.filter((line) => {
      try {
        return typeof JSON.parse(line) !== "object";
      } catch {
        return true;
      }
    });
    assert.deepEqual(notJson, [], "every line the piped worker printed is a JSON record");
  });

  it("DINFER_LOG_FORMAT=pretty: one readable line a record (time, level, process, message), no JSON", async () => {
    const dataDir = path.join(dir, "pretty");
    const configFile = path.join(dir, "pretty.config.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        rpcUrl: net.url,
        addresses: net.deployment,
        models: [{ modelId: net.modelIds.cls, path: net.modelFiles.cls }],
        dataDir,
        port: 0,
        metricsPort: 0,
        ep: "cpu",
        threads: 1,
        statusIntervalMs: 300,
      }),
    );
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("DINFER_")));
    const child = spawn(process.execPath, [BIN, "worker", "--config", configFile], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...env, FORCE_COLOR: "0", DINFER_LOG_FORMAT: "pretty", DINFER_PRIVATE_KEY: net.keys.provider, DINFER_WORKER_SECRET: SECRET },
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const deadline = Date.now() + 90_000;
      while (!/\(worker\) idle: /.test(stderr)) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no idle status line from the pretty worker:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      child.kill("SIGTERM");
      assert.equal(await exited, 0, stderr);
    }
    const lines = stderr.split("\n").filter((line) => line.trim() !== "");
    const record = /^\[\d\d:\d\d:\d\d\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): \(worker(\/[a-z-]+)?\) \S/;
    assert.deepEqual(lines.filter((line) => !record.test(line)), [], "every line is one readable record");
    assert.ok(lines.some((line) => / INFO: \(worker\) worker ready \{.*"account":"0x[0-9a-fA-F]{40}"/.test(line)), stderr);
    assert.ok(lines.some((line) => / INFO: \(worker\) idle: \d+ jobs? seen, \d+ open, \d+ claimed, .* stake 1000 DINF/.test(line)), stderr);
    assert.ok(lines.some((line) => / INFO: \(worker\) worker stopped/.test(line)), stderr);
  });
});
