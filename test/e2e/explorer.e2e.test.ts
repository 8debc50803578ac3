/**
 * The explorer as a person sees it, in a real headless browser (Debian's Chromium driven by playwright-core):
 * a devnet (a `hardhat node` process mining one block a second), an honest worker and a cheating one (fault
 * mode `random`: every output made up) as separate processes, two verifiers, and a dApp posting jobs with
 * sampling forced to 100%, so that the cheater's job is audited, disputed by its auditor and slashed by a
 * committee. The explorer indexes it all; it is stopped and started again on the same data dir (nothing may
 * be counted twice), then the page is opened and checked against the chain's truth, computed here from the
 * node's own logs (test/helpers/explorer-truth.ts), never from the explorer's file:
 *
 * - the network's counts (posted, finalized, expired, slashed);
 * - the cheating provider's row shows its slash, the honest one's none;
 * - the slashed job's timeline shows posted, committed, sampled, audited and slashed, and its audit
 *   comparison (max error against the model's tolerance);
 * - a job posted while the page is open shows up in the count without a reload (Server-Sent Events).
 *
 * Screenshots go to test-results/ (explorer.png: the network page; explorer-job.png, explorer-provider.png,
 * explorer-disputes.png).
 *
 * Run alone: `npm run test:explorer` (about three minutes on 2 cores). Needs Chromium at /usr/bin/chromium
 * (`apt-get install -y chromium`); DINFER_E2E_LOG_DIR=<dir> keeps every daemon's log.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { Locator } from "playwright-core";
import { decodeEventLog, getAddress, parseEther, type Hex } from "viem";

import { dinferTestTokenAbi, jobMarketAbi, modelRegistryAbi } from "../../offchain/chain/abis.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { startDaemon, type Daemon } from "../../offchain/devnet/daemon.js";
import { DEVNET_COLLATERAL, DEVNET_TOLERANCE, startDevnet, type Devnet } from "../../offchain/devnet/devnet.js";
import { startExplorer, type Explorer } from "../../offchain/explorer/explorer.js";
import { hashModel } from "../../offchain/inference/model.js";
import { postJob } from "../../offchain/sdk/jobs.js";
import { launchChromium, type LaunchedBrowser } from "../helpers/browser.js";
import { chainTruth, type ChainTruth } from "../helpers/explorer-truth.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const RESULTS = path.join(ROOT, "test-results");
const FEE = parseEther("2");
/** Every job sampled; short windows (as test/e2e/verification.e2e.test.ts): a blind audit commit within 15 s, 12 s to challenge, 8 + 8 s to vote. */
const MARKET_PARAMS = { samplingPpm: 1_000_000, seedDelay: 2, challengeWindow: 12, revealTimeout: 60, disputeDuration: 120, auditLevyBps: 2_000 };
const VERIFICATION_PARAMS = {
  challengeBond: parseEther("50").toString(),
  auditorPenalty: parseEther("5").toString(),
  voterPenalty: parseEther("2").toString(),
  auditCommitTimeout: 15,
  voteCommitTimeout: 8,
  voteRevealTimeout: 8,
  committeeSize: 3,
  challengerRewardBps: 4_000,
  providerRewardBps: 5_000,
  auditRewardBps: 1_000,
  voterRewardBps: 1_000,
  recheckPpm: 0,
};
const HONEST_JOBS = 2;

type Role = "honest" | "cheater";

describe("dinfer explorer in a real browser: a devnet with a cheater slashed, the page checked against the chain", function () {
  let devnet: Devnet;
  let explorer: Explorer | undefined;
  let browser: LaunchedBrowser | undefined;
  const daemons: { name: string; daemon: Daemon }[] = [];
  const modelOf = new Map<Role, number>();
  const logDir = process.env.DINFER_E2E_LOG_DIR;
  let explorerDir: string;

  before(async function () {
    this.timeout(360_000);
    process.setMaxListeners(32);
    // Fail now, with the remedy, rather than after minutes of chain work.
    browser = await launchChromium();
    devnet = await startDevnet({ providers: 2, verifiers: 2, providerStake: parseEther("5000"), marketParams: MARKET_PARAMS, verificationParams: VERIFICATION_PARAMS });
    if (logDir) mkdirSync(logDir, { recursive: true });
    const owner = devnet.deployerSender;

    // The cheater serves its own registered copy of the cls model, so each job goes to the worker meant for it.
    modelOf.set("honest", devnet.modelIds.cls);
    const { receipt } = await owner.send({
      address: devnet.deployment.registry,
      abi: modelRegistryAbi,
      functionName: "register",
      args: [
        {
          modelHash: hashModel(new Uint8Array(readFileSync(devnet.modelFiles.cls))),
          uri: "file:ch_ppocr_mobile_v2.0_cls_infer.onnx",
          runtime: "onnxruntime-node@1.30.0",
          tolerance: DEVNET_TOLERANCE,
          minCollateral: DEVNET_COLLATERAL,
          priceFloor: parseEther("1"),
          nonFiniteInputs: false,
        },
      ],
    });
    const registered = receipt.logs
      .map((log) => {
        try {
          return decodeEventLog({ abi: modelRegistryAbi, data: log.data, topics: log.topics as [Hex, ...Hex[]] });
        } catch {
          return undefined;
        }
      })
      .find((e) => e?.eventName === "ModelRegistered");
    modelOf.set("cheater", Number((registered!.args as { modelId: bigint }).modelId));

    // The audit pool funded, so that audit rewards and voter pay are paid in full; the dApp's allowance.
    const token = { address: devnet.deployment.token, abi: dinferTestTokenAbi };
    await owner.send({ ...token, functionName: "mint", args: [devnet.deployer.address, parseEther("1000")] });
    await owner.send({ ...token, functionName: "approve", args: [devnet.deployment.market, parseEther("1000")] });
    await Promise.all([
      owner.send({ address: devnet.deployment.market, abi: jobMarketAbi, functionName: "fundAuditPool", args: [parseEther("500")] }),
      devnet.dappSender.send({ ...token, functionName: "approve", args: [devnet.deployment.market, parseEther("1000000")] }),
    ]);

    const common = { rpcUrl: devnet.url, addresses: devnet.deployment, host: "127.0.0.1", port: 0, pollIntervalMs: 400, threads: 1, ep: "cpu" };
    const models = [...modelOf.values()].map((modelId) => ({ modelId, path: devnet.modelFiles.cls }));
    const started = [
      ...(["honest", "cheater"] as const).map((role, i) => {
        const dataDir = devnet.tempDir(`worker-${role}`);
        return startDaemon({
          command: "worker",
          configFile: path.join(dataDir, "worker.config.json"),
          config: { ...common, dataDir, metricsPort: -1, models: [{ modelId: modelOf.get(role)!, path: devnet.modelFiles.cls }], ...(role === "cheater" ? { fault: { mode: "random" } } : {}) },
          env: { DINFER_PRIVATE_KEY: devnet.providers[i]!.key, DINFER_WORKER_SECRET: `explorer-e2e-worker-${role}-0123456789`, DINFER_ALLOW_FAULTS: "1" },
          readyMsg: "worker ready",
          readyTimeoutMs: 180_000,
          logFile: logDir && path.join(logDir, `worker-${role}.log`),
        }).then((daemon) => daemons.push({ name: `worker ${role}`, daemon }));
      }),
      ...devnet.verifiers.map((account, i) => {
        const dataDir = devnet.tempDir(`verifier-${i}`);
        return startDaemon({
          command: "verifier",
          configFile: path.join(dataDir, "verifier.config.json"),
          config: { ...common, dataDir, metricsPort: -1, models, outputReserveSeconds: 3, keeperGraceSeconds: 4 },
          env: { DINFER_PRIVATE_KEY: account.key, DINFER_VERIFIER_SECRET: `explorer-e2e-verifier-${i}-0123456789` },
          readyMsg: "verifier ready",
          readyTimeoutMs: 180_000,
          logFile: logDir && path.join(logDir, `verifier-${i}.log`),
        }).then((daemon) => daemons.push({ name: `verifier ${i}`, daemon }));
      }),
    ];
    await Promise.all(started);
    for (const { daemon } of daemons) devnet.onStop(() => daemon.kill());

    explorerDir = devnet.tempDir("explorer");
    explorer = await startExplorer({ rpcUrl: devnet.url, deployment: devnet.deployment, dataDir: explorerDir, port: 0, allowPrivateHosts: true });
  });

  afterEach(function () {
    if (this.currentTest?.state !== "failed") return;
    for (const { name, daemon } of daemons) console.log(`--- ${name} ---\n${daemon.logs().slice(-2_500)}`);
  });

  after(async function () {
    this.timeout(120_000);
    await browser?.close();
    await explorer?.stop();
    await devnet?.stop();
  });

  // ------------------------------------------------------------------ chain

  let inputSeed = 1;
  /** A small deterministic cls input ([1, 3, 8, 32] float32, inline). */
  function clsInput(): Uint8Array {
    let state = inputSeed++ * 0x9e3779b1;
    const next = () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), state | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const values = Float32Array.from({ length: 3 * 8 * 32 }, () => next() * 2 - 1);
    return encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values, dims: [1, 3, 8, 32] })]);
  }

  async function post(role: Role): Promise<bigint> {
    const { jobId } = await postJob({ sender: devnet.dappSender, publicClient: devnet.publicClient, deployment: devnet.deployment, modelId: modelOf.get(role)!, input: clsInput(), fee: FEE });
    return jobId;
  }

  async function statusOf(jobId: bigint): Promise<number> {
    for (;;) {
      try {
        return (await readJob({ client: devnet.publicClient, market: devnet.deployment.market, jobId })).job.status;
      } catch (error) {
        if ((error as { code?: string }).code !== "JOB_STATE_MISMATCH") throw error;
      }
    }
  }

  async function waitFinal(jobIds: readonly bigint[], timeoutMs = 240_000): Promise<Map<bigint, number>> {
    const final = new Set<number>([JobStatus.Finalized, JobStatus.Slashed, JobStatus.Expired]);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const statuses = new Map(await Promise.all(jobIds.map(async (id) => [id, await statusOf(id)] as const)));
      if ([...statuses.values()].every((s) => final.has(s))) return statuses;
      if (Date.now() > deadline) assert.fail(`jobs not final within ${timeoutMs} ms: ${[...statuses].map(([id, s]) => `${id}: ${s}`).join(", ")}`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }

  const api = async <T>(route: string): Promise<T> => {
    const res = await fetch(`${explorer!.url}${route}`);
    assert.equal(res.status, 200, `${route}: ${res.status}`);
    return (await res.json()) as T;
  };

  /** Polls the explorer's API until it shows the truth's counts (it follows the chain a block behind). */
  async function caughtUp(truth: ChainTruth, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = await api<{ jobs: { allTime: Record<string, number> } }>("/api/network");
      const { posted, finalized, expired, slashed } = n.jobs.allTime;
      if (posted === truth.posted && finalized === truth.finalized && expired === truth.expired && slashed === truth.slashed) return n;
      if (Date.now() > deadline) assert.fail(`explorer shows ${JSON.stringify(n.jobs.allTime)}, the chain ${JSON.stringify({ posted: truth.posted, finalized: truth.finalized, expired: truth.expired, slashed: truth.slashed })}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  // ------------------------------------------------------------------ the test

  it("shows the chain's counts, the cheater's slash and the slashed job's timeline; counts nothing twice across a restart; updates live", async function () {
    this.timeout(600_000);
    const cheater = getAddress(devnet.providers[1]!.address);
    const honest = getAddress(devnet.providers[0]!.address);

    const jobs = [...(await Promise.all(Array.from({ length: HONEST_JOBS }, () => post("honest")))), await post("cheater")];
    const statuses = await waitFinal(jobs);
    const cheatJob = jobs.at(-1)!;
    assert.equal(statuses.get(cheatJob), JobStatus.Slashed, "the cheater's made-up result was audited and slashed");
    for (const id of jobs.slice(0, -1)) assert.equal(statuses.get(id), JobStatus.Finalized, `honest job ${id} finalized`);

    const truth = await chainTruth(devnet.publicClient, devnet.deployment);
    assert.deepEqual(truth.slashedJobs, [cheatJob]);
    await caughtUp(truth);

    // A restart on the same data dir: resumes from its cursor and counts nothing twice.
    const before = explorer!.db.counts();
    await explorer!.stop();
    explorer = await startExplorer({ rpcUrl: devnet.url, deployment: devnet.deployment, dataDir: explorerDir, port: 0, allowPrivateHosts: true });
    const after = await caughtUp(await chainTruth(devnet.publicClient, devnet.deployment));
    assert.ok(explorer.db.counts().events >= before.events, "the restarted explorer kept its rows");
    assert.equal((after as { jobs: { allTime: { posted: number } } }).jobs.allTime.posted, truth.posted);

    // The page, as a person sees it.
    const { page } = browser!;
    await page.goto(explorer.url);
    const text = (id: string) => page.getByTestId(id).first().textContent({ timeout: 30_000 });
    await page.getByTestId("count-posted").waitFor({ timeout: 30_000 });
    await waitForText(page.getByTestId("live-status"), /live/);
    assert.equal(await text("count-posted"), String(truth.posted));
    assert.equal(await text("count-finalized"), String(truth.finalized));
    assert.equal(await text("count-expired"), String(truth.expired));
    assert.equal(await text("count-slashed"), String(truth.slashed));
    // Sampling forced to 100%: every job whose sampling is known was sampled.
    assert.match((await text("count-sampling")) ?? "", /^100\.0%$/);

    const cheaterRow = page.getByTestId(`provider-row-${cheater.toLowerCase()}`);
    const honestRow = page.getByTestId(`provider-row-${honest.toLowerCase()}`);
    assert.match((await cheaterRow.getByTestId("provider-slashes").textContent()) ?? "", new RegExp(`^${truth.faults.get(cheater.toLowerCase())} \\(100 DINF\\)$`), "the cheater's row shows its slash");
    assert.equal(await honestRow.getByTestId("provider-slashes").textContent(), "0");
    assert.equal(await honestRow.getByTestId("provider-jobs").textContent(), String(HONEST_JOBS));
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: path.join(RESULTS, "explorer.png"), fullPage: true });

    // The slashed job's page: its timeline, its audit and the comparison of the two outputs.
    await page.goto(`${explorer.url}/#/job/${cheatJob}`);
    await page.getByTestId("timeline").waitFor({ timeout: 30_000 });
    const steps: string[] = [];
    for (const li of await page.getByTestId("timeline").locator("li").all()) steps.push((await li.getAttribute("data-step")) ?? "");
    for (const wanted of ["posted", "committed", "sampled", "audited", "slashed"]) assert.ok(steps.includes(wanted), `timeline shows ${wanted}: ${steps.join(", ")}`);
    assert.ok(steps.indexOf("posted") < steps.indexOf("committed") && steps.indexOf("committed") < steps.indexOf("audited") && steps.indexOf("audited") < steps.indexOf("slashed"), `in order: ${steps.join(", ")}`);
    assert.equal(await page.getByTestId("job-status").textContent(), "slashed");
    assert.equal(await page.getByTestId("audit-verdict").locator(".badge").textContent(), "Disagree");
    // The made-up output against the auditor's own run: far outside allclose(1e-4, 1e-3).
    await page.getByTestId("comparison-table").waitFor({ timeout: 30_000 });
    const maxAbs = Number(await page.getByTestId("comparison-max-abs").first().textContent());
    assert.ok(maxAbs > 1e-4, `max abs error ${maxAbs} is outside the tolerance`);
    await page.screenshot({ path: path.join(RESULTS, "explorer-job.png"), fullPage: true });

    // The cheater's page: its slash, its reputation's fall.
    await page.goto(`${explorer.url}/#/provider/${cheater}`);
    await page.getByTestId("slashes-table").waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId("count-slashes").textContent(), "1");
    await page.getByTestId("chart-reputation").waitFor();
    await page.screenshot({ path: path.join(RESULTS, "explorer-provider.png"), fullPage: true });

    // The other views: the cheater's model with its slashed job, the dispute faulting it, the jobs filtered by status.
    await page.goto(`${explorer.url}/#/models`);
    const modelRow = page.getByTestId(`model-row-${modelOf.get("cheater")}`);
    await modelRow.waitFor({ timeout: 30_000 });
    assert.match((await modelRow.textContent()) ?? "", /allclose/);
    await page.goto(`${explorer.url}/#/disputes`);
    await waitForText(page.getByTestId(`dispute-row-${cheatJob}`), /faulted/);
    await page.screenshot({ path: path.join(RESULTS, "explorer-disputes.png"), fullPage: true });
    await page.goto(`${explorer.url}/#/jobs?status=slashed`);
    await page.getByTestId(`job-row-${cheatJob}`).waitFor({ timeout: 30_000 });
    assert.equal(await page.getByTestId("jobs-table").locator("tbody tr").count(), truth.slashed);

    // Live: a job posted while the page is open shows up without a reload.
    await page.goto(explorer.url);
    await waitForText(page.getByTestId("count-posted"), new RegExp(`^${truth.posted}$`));
    await page.evaluate("window.__notReloaded = true");
    await post("honest");
    await waitForText(page.getByTestId("count-posted"), new RegExp(`^${truth.posted + 1}$`), 30_000);
    assert.equal(await page.evaluate("window.__notReloaded === true"), true, "the page was not reloaded");
    const live = await chainTruth(devnet.publicClient, devnet.deployment);
    assert.equal(live.posted, truth.posted + 1);
  });
});

/** Waits until the locator's text matches `pattern`. */
async function waitForText(locator: Locator, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string | null = null;
  for (;;) {
    last = await locator.textContent({ timeout: timeoutMs }).catch(() => null);
    if (last !== null && pattern.test(last)) return;
    if (Date.now() > deadline) assert.fail(`text ${JSON.stringify(last)} never matched ${pattern} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

