/**
 * `npm run demo` as a newcomer runs it: `npm run demo -- --json > summary.json`, which runs `dinfer demo`
 * as its own process (chain, Ignition, 3 workers with one cheater, 4 verifiers, a dApp posting real
 * jobs in batches from a deposit, then three redundant jobs for all three workers). Checks that the file is
 * the JSON summary and nothing else, the summary against what the demo promises (batches, gas per job, the
 * cheater caught on its redundant seats by their committees), that no faked result is ever paid (the demo
 * counts the cheater's faked results, in batches or split out of them, from the chain's events against
 * its own reference run: a cheater's unsampled batch jobs are caught only by a verifier's watchdog on
 * batches), and that the demo leaves no process and no port behind, also when interrupted with Ctrl-C.
 *
 * Run alone: `npx hardhat test mocha test/e2e/demo.e2e.test.ts` (about six minutes on 2 cores: the
 * chain's clock keeps with the wall clock, so a 60 s challenge window takes 60 s).
 */
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { DemoSummary } from "../../offchain/devnet/demo.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.join(ROOT, "bin/dinfer.js");

type DemoRun = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; chainPort?: number };

/**
 * Runs `dinfer demo <args>`, or with `npmTo` `npm run demo -- <args> > npmTo` (stdout is that file, as the
 * shell would make it); `interruptAfter` sends SIGINT once that stderr text appears.
 */
function runDemo(
  args: string[],
  { interruptAfter, npmTo, timeoutMs = 600_000, onStderr }: { interruptAfter?: string; npmTo?: string; timeoutMs?: number; onStderr?: (stderr: string) => void } = {},
): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const out = npmTo === undefined ? "pipe" : openSync(npmTo, "w");
    const [command, argv] = npmTo === undefined ? [process.execPath, [BIN, "demo", ...args]] : ["npm", ["run", "demo", "--", ...args]];
    const child = spawn(command, argv, { cwd: ROOT, stdio: ["ignore", out, "pipe"], env: { ...process.env, FORCE_COLOR: "0" } });
    if (typeof out === "number") closeSync(out);
    let stdout = "";
    let stderr = "";
    let interrupted = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`demo did not finish within ${timeoutMs} ms:\n${stderr.slice(-4000)}`));
    }, timeoutMs);
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      onStderr?.(stderr);
      if (interruptAfter && !interrupted && stderr.includes(interruptAfter)) {
        interrupted = true;
        child.kill("SIGINT");
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      const port = /chain http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)?.[1];
      if (npmTo !== undefined) stdout = readFileSync(npmTo, "utf8");
      resolve({ code, signal, stdout, stderr, chainPort: port ? Number(port) : undefined });
    });
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Processes whose command line mentions `text` (the demo's data dir is in every daemon's). */
function processesMentioning(text: string): string[] {
  const out = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return out.split("\n").filter((line) => line.includes(text) && !line.includes("ps -eo"));
}

describe("npm run demo (dinfer demo as its own process)", function () {
  const dirs: string[] = [];
  const dataDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-demo-test-"));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("runs real jobs to the end, never pays a faked result, writes the JSON summary alone to the file and leaves nothing behind", async function () {
    this.timeout(780_000);
    const dir = dataDir();
    const file = path.join(dir, "summary.json");
    // The explorer the demo starts answers while the jobs run (its browser test is test/e2e/explorer.e2e.test.ts).
    let explorer: Promise<{ url: string; network: { chain: { chainId: number } } }> | undefined;
    const onStderr = (stderr: string) => {
      const url = /explorer: (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
      if (url === undefined || explorer !== undefined) return;
      explorer = fetch(`${url}/api/network`).then(async (response) => ({ url, network: (await response.json()) as { chain: { chainId: number } } }));
    };
    const run = await runDemo(["--jobs", "8", "--json", "--data-dir", dir], { npmTo: file, timeoutMs: 720_000, onStderr });
    assert.equal(run.code, 0, `exit code:\n${run.stderr.slice(-4000)}`);
    assert.ok(explorer, `the demo printed its explorer's URL:\n${run.stderr.slice(-2000)}`);
    const { url: explorerUrl, network: explored } = await explorer;
    assert.equal(explored.chain.chainId, 31337, "the explorer followed the demo's chain");
    assert.equal(await canListen(Number(new URL(explorerUrl).port)), true, "the explorer's port is free again");
    // `npm run demo -- --json > summary.json`: the file is the summary, not npm's banner before it.
    assert.match(run.stdout, /^\{/, `the file starts with the JSON: ${JSON.stringify(run.stdout.slice(0, 120))}`);
    const summary = JSON.parse(run.stdout) as DemoSummary;

    assert.equal(summary.jobs, 8);
    assert.equal(summary.interrupted, false);
    assert.equal(summary.finalized + summary.slashed + summary.expired, 8, "every job ended");
    assert.equal(summary.expired, 0, "no job was left to expire");
    // The dApp posted in batches from a deposit: the SDK makes one batch per model, both in one transaction.
    assert.deepEqual(summary.batches, { posted: 2, transactions: 1, sizes: [4, 4] }, "a cls batch and a det batch, posted together");
    // Gas per job from receipts: the mean covers every job (the shares add up to the gas of the transactions
    // counted), and every sampled job was split out of its batch for its audit. A job paid with its batch of 4
    // costs less than one job posted alone (236,036: post + claimAndCommit + reveal + finalize, README), even
    // when its three batch-mates were split out (~208,000: the reveal and finalize are then its alone).
    const { gas } = summary;
    assert.equal(gas.perJob, summary.gasPerJob);
    assert.ok(gas.total > 0 && Math.abs(gas.perJob * summary.jobs - gas.total) <= summary.jobs, `mean ${gas.perJob} x ${summary.jobs} jobs vs total ${gas.total}`);
    assert.equal(gas.splitForAudit.jobs, summary.sampled, `every sampled job was split out of its batch: ${JSON.stringify(gas)}`);
    // (Each det job is sampled with probability 1/2: all four are, in one run of 16, and none is paid with its batch.)
    if (gas.inBatch.jobs > 0) assert.ok(gas.inBatch.mean > 20_000 && gas.inBatch.mean < 236_036, `gas per job paid with its batch: ${JSON.stringify(gas)}`);
    for (const key of ["postToReveal", "postToFinal"] as const) {
      const { mean, p95 } = summary.latencyMs[key];
      assert.ok(mean > 0 && p95 >= mean * 0.5, `${key}: ${JSON.stringify(summary.latencyMs[key])}`);
    }
    assert.ok(summary.latencyMs.postToFinal.mean > summary.latencyMs.postToReveal.mean, "final comes after reveal");

    assert.equal(summary.providers.length, 3);
    const cheaters = summary.providers.filter((p) => p.role === "cheater");
    assert.equal(cheaters.length, 1);
    const [cheater] = cheaters;
    // The truth, counted from the chain against the demo's own reference runs: the cheater faked every
    // result it committed, and not one of them was paid.
    const { cheats } = summary;
    assert.ok(cheater!.jobs > 0, `the cheater took no job: nothing was tested (${JSON.stringify(summary.providers)})`);
    assert.equal(cheater!.jobs, 4, "the cheater, alone serving cls, took the cls batch; the honest workers the det batch");
    assert.equal(cheats.faked, cheater!.jobs, `the cheater committed ${cheater!.jobs} results, ${cheats.faked} counted faked: it never runs the model`);
    assert.equal(cheats.finalized, 0, `${cheats.finalized} of ${cheats.faked} faked results were finalized and paid`);
    assert.equal(cheats.slashed, cheats.faked, `${cheats.slashed} of ${cheats.faked} faked results were slashed`);
    // Every job the cheater took was caught and slashed; the honest ones were paid for all of theirs.
    assert.equal(summary.slashed, cheater!.jobs, `cheater took ${cheater!.jobs} jobs, ${summary.slashed} slashed`);
    assert.equal(summary.disputes >= summary.slashed, true);
    assert.equal(cheater!.earned, "0.000", "the cheater earned nothing");
    for (const honest of summary.providers.filter((p) => p.role === "honest")) {
      assert.equal(honest.slashed, "0.000", `${honest.address} was never slashed`);
      if (honest.jobs > 0) assert.match(honest.ep, /^(cpu|webgpu|cuda)(\+|$)/, "the execution provider it ran on");
    }
    assert.equal(summary.providers.reduce((n, p) => n + p.jobs, 0), 8, "each job had one provider");
    // Reputation from the chain's events: the slashed cheater falls below a new provider; the honest ones do not.
    assert.ok(Number(cheater!.reputation) < 0.5, `the cheater's reputation ${cheater!.reputation}`);
    for (const honest of summary.providers.filter((p) => p.role === "honest")) {
      assert.ok(Number(honest.reputation) >= 0.5, `${honest.address}: reputation ${honest.reputation}`);
    }
    // The redundant jobs: all three workers took a seat of each; the cheater's made-up roots differ from the
    // honest ones, so the seats went to committees, and every seat a committee slashed was the cheater's (per
    // provider, from ReplicaCommitted and the DisputeSettled of each seat's JobMarket job).
    const { redundant } = summary;
    assert.equal(redundant.jobs, 3, JSON.stringify(redundant));
    assert.ok(redundant.disagreements >= 1, `no redundant job disagreed: ${JSON.stringify(redundant)}`);
    assert.ok(redundant.slashed >= 1, `no redundant seat slashed: ${JSON.stringify(redundant)}`);
    for (const p of summary.providers) assert.equal(p.seats.taken, 3, `${p.role} ${p.address} took ${p.seats.taken} of the 3 redundant jobs' seats`);
    assert.equal(cheater!.seats.slashed, redundant.slashed, `every slashed seat was the cheater's: ${JSON.stringify(summary.providers.map((p) => p.seats))}`);
    for (const honest of summary.providers.filter((p) => p.role === "honest")) {
      assert.equal(honest.seats.slashed, 0, `${honest.address}'s seat was slashed`);
      assert.ok(Number(honest.earned) > 0, `${honest.address} was paid for its seats: earned ${honest.earned}`);
    }
    assert.equal(summary.verifiers.length, 4);
    assert.ok(summary.wallTimeMs.total >= summary.wallTimeMs.jobs && summary.wallTimeMs.jobs > 0, JSON.stringify(summary.wallTimeMs));

    assert.ok(run.chainPort, "the demo said where its chain was");
    assert.equal(await canListen(run.chainPort!), true, "the chain's port is free again");
    assert.deepEqual(processesMentioning(dir), [], "no daemon is left running");
  });

  it("stops everything on Ctrl-C and still exits 0", async function () {
    this.timeout(240_000);
    const dir = dataDir();
    const run = await runDemo(["--jobs", "40", "--data-dir", dir], { interruptAfter: "network up" });
    assert.equal(run.code, 0, `exit code after SIGINT:\n${run.stderr.slice(-4000)}`);
    assert.match(run.stderr, /interrupted/, "the summary says the run was interrupted");
    assert.ok(run.chainPort);
    assert.equal(await canListen(run.chainPort!), true, "the chain's port is free again");
    assert.deepEqual(processesMentioning(dir), [], "no daemon is left running");
  });
});
