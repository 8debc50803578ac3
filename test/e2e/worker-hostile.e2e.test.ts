/**
 * A worker no dApp can stall or bleed, end to end: a real `hardhat node` process with the protocol
 * deployed, `dinfer worker` as its own process, the PaddleOCR cls and det models, and real HTTP
 * servers: input servers that hang or answer 500, a port that refuses connections, and a counting
 * JSON-RPC proxy in front of the node. Nothing is timed: the tests assert on order, on counts of
 * requests and log lines, and on what the chain shows.
 *
 * Every test after the first runs its worker with a price above the first test's fee, so that the
 * bad jobs it leaves posted are skipped at once, not fetched again.
 *
 * Run alone: `npx hardhat test mocha test/e2e/worker-hostile.e2e.test.ts` (a few minutes on 2 cores).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, utimesSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";

import type { Hex } from "viem";

import { jobMarketAbi, stakingAbi } from "../../offchain/chain/abis.js";
import { createChainClients } from "../../offchain/chain/clients.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { blobId, encodeTensorBlob, type Tensor } from "../../offchain/codec/tensor.js";
import { imageToClsInput, imageToDetInput } from "../../offchain/sdk/image.js";
import { postJob } from "../../offchain/sdk/jobs.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { jobEvents, jobsInReceipt } from "../helpers/job-events.js";
import { startLocalNetwork, type LocalNetwork } from "../helpers/network.js";
import { freePort } from "../helpers/node.js";
import { startRpcProxy } from "../helpers/rpc-proxy.js";
import { startWorkerProcess, type WorkerProcess } from "../helpers/worker-process.js";

const IMAGES = fileURLToPath(new URL("../fixtures/images/", import.meta.url));
/** The fee of the first test's jobs; later tests post at FEE2 and price their worker between the two. */
const FEE = 2_000_000_000_000_000_000n;
const FEE2 = 2n * FEE;
const STATUS_NAMES = Object.fromEntries(Object.entries(JobStatus).map(([name, value]) => [value, name]));

describe("dinfer worker under hostile input and a costly endpoint (node process, worker process, real HTTP servers)", function () {
  let net: LocalNetwork;
  let clsInput: Tensor<"float32">;
  const started: WorkerProcess[] = [];
  const servers: Server[] = [];

  before(async function () {
    this.timeout(240_000);
    net = await startLocalNetwork();
    clsInput = await imageToClsInput(`${IMAGES}line-1.png`);
  });

  afterEach(async function () {
    this.timeout(60_000);
    for (const worker of started) if (!worker.exited()) await worker.kill();
  });

  after(async function () {
    this.timeout(60_000);
    for (const worker of started) await worker.kill();
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await net?.stop();
  });

  // ------------------------------------------------------------------ helpers

  async function startWorker({
    dataDir,
    secret = randomBytes(32).toString("hex"),
    models = ["cls"],
    minFee = 0n,
    url = net.url,
    extra = {},
  }: {
    dataDir: string;
    secret?: string;
    models?: ("cls" | "det")[];
    minFee?: bigint;
    url?: string;
    extra?: Record<string, unknown>;
  }): Promise<WorkerProcess> {
    const worker = await startWorkerProcess({
      url,
      deployment: net.deployment,
      models: models.map((kind) => ({ modelId: net.modelIds[kind], path: net.modelFiles[kind], minFee })),
      dataDir,
      key: net.keys.provider,
      secret,
      // One inference and one hashing thread: a prefetch of 4 jobs, fewer than the bad jobs below.
      extra: { hashThreads: 1, keeperGraceSeconds: 0, ...extra },
    });
    started.push(worker);
    return worker;
  }

  async function post({ kind = "cls", fee = FEE, inputURI, input, claimWithin }: { kind?: "cls" | "det"; fee?: bigint; inputURI?: string; input?: Tensor<"float32">; claimWithin?: number } = {}) {
    const { jobId } = await postJob({
      sender: net.dappSender,
      publicClient: net.publicClient,
      deployment: net.deployment,
      modelId: net.modelIds[kind],
      input: encodeTensorBlob([input ?? clsInput]),
      fee,
      inputURI,
      claimWithin,
      upload: { serverUrl: net.blobServer.url, token: net.uploadToken },
    });
    return jobId;
  }

  const status = async (jobId: bigint) => (await readJob({ client: net.publicClient, market: net.deployment.market, jobId })).job.status;

  async function waitForStatus(jobIds: readonly bigint[], atLeast: JobStatus, worker: WorkerProcess, timeoutMs = 120_000) {
    for (const until = Date.now() + timeoutMs; ; await sleep(250)) {
      const states = await Promise.all(jobIds.map((id) => status(id).catch(() => JobStatus.None)));
      if (states.every((s) => s >= atLeast && s !== JobStatus.Expired && s !== JobStatus.Slashed)) return;
      if (Date.now() > until) {
        throw new Error(`jobs not ${STATUS_NAMES[atLeast]} in time: ${states.map((s, i) => `${jobIds[i]}=${STATUS_NAMES[s]}`).join(" ")}\n${worker.logs().slice(-5_000)}`);
      }
    }
  }

  /** An HTTP server that answers with `respond`, counting requests and the connections the client gave up. */
  async function inputServer(respond: "hang" | "500") {
    const counts = { requests: 0, abortedByClient: 0 };
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      counts.requests++;
      if (respond === "500") {
        res.writeHead(500).end("broken on purpose");
        return;
      }
      req.socket.once("close", () => counts.abortedByClient++);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address() as { port: number };
    return { url: `http://127.0.0.1:${address.port}`, counts };
  }

  const linesOf = (worker: WorkerProcess, msg: string) => worker.lines().filter((l) => l.msg === msg);

  /** Provider transactions mined from `fromBlock` on, with their receipt status. */
  async function providerTransactions(fromBlock: bigint) {
    const latest = await net.publicClient.getBlockNumber({ cacheTime: 0 });
    const sent: { hash: Hex; status: string; selector: string; jobs: number }[] = [];
    for (let number = fromBlock; number <= latest; number++) {
      const block = await net.publicClient.getBlock({ blockNumber: number, includeTransactions: true });
      for (const tx of block.transactions) {
        if (tx.from.toLowerCase() !== net.addresses.provider.toLowerCase()) continue;
        const receipt = await net.publicClient.getTransactionReceipt({ hash: tx.hash });
        sent.push({ hash: tx.hash, status: receipt.status, selector: tx.input.slice(0, 10), jobs: jobsInReceipt({ logs: receipt.logs, market: net.deployment.market }).length });
      }
    }
    return sent;
  }

  /** No step of any worker so far failed for a job it discovered at a head newer than its tick's. */
  function assertNoJobNotFound(worker: WorkerProcess) {
    const notFound = worker.lines().filter((l) => String(l.err ?? "").includes("job not found"));
    assert.deepEqual(notFound, [], "no step failed with `job not found`");
  }

  // ------------------------------------------------------------------ tests

  it("commits good jobs posted right after a flood of hanging and failing inputs while every hanging fetch is still open, and backs the bad ones off", async function () {
    this.timeout(300_000);
    const hanging = await inputServer("hang");
    const failing = await inputServer("500");
    const refusedPort = await freePort();
    const worker = await startWorker({ dataDir: net.tempDir("hostile-flood") });

    // The flood: 6 inputs that hang, 6 that answer 500, 3 whose port refuses connections, all posted
    // (at once) before the good jobs: oldest first, they come first.
    const bad = await Promise.all([
      ...Array.from({ length: 6 }, (_, i) => post({ inputURI: `${hanging.url}/blob-${i}` })),
      ...Array.from({ length: 6 }, (_, i) => post({ inputURI: `${failing.url}/blob-${i}` })),
      ...Array.from({ length: 3 }, (_, i) => post({ inputURI: `http://127.0.0.1:${refusedPort}/blob-${i}` })),
    ]);
    const good = [];
    for (let i = 0; i < 3; i++) good.push(await post());
    assert.ok(Math.min(...good.map(Number)) > Math.max(...bad.map(Number)), "the good jobs come after the flood");

    await waitForStatus(good, JobStatus.Committed, worker, 90_000);
    // The hanging inputs are fetched with a 30 s limit: every good job was committed before any of
    // those fetches was given up, so no good job waited for a hanging one.
    assert.ok(hanging.counts.requests >= 1, "the hanging server was asked");
    assert.equal(hanging.counts.abortedByClient, 0, `no hanging fetch had run out when the good jobs were committed (${hanging.counts.requests} open)`);

    // Let the bad jobs fail for a while longer: each is tried again after a doubling backoff.
    const failingAtCommit = failing.counts.requests;
    await sleep(20_000);
    const perJob = failing.counts.requests / 6;
    assert.ok(failing.counts.requests <= 6 * 6, `the failing server got ${failing.counts.requests} requests for 6 jobs (${failingAtCommit} by the good commits): a few each, not a tight loop`);
    assert.ok(failing.counts.requests >= 6, "every failing job was tried");
    // WARN lines: at the 1st, 2nd, 4th... failure of a job, never one per attempt.
    for (const jobId of bad) {
      const warns = linesOf(worker, "job step failed").filter((l) => l.job_id === jobId.toString() && l.level === 40);
      assert.ok(warns.length <= 3, `job ${jobId}: ${warns.length} WARN lines (${perJob.toFixed(1)} requests per failing job)`);
    }
    for (const jobId of bad) assert.equal(await status(jobId), JobStatus.Posted, `bad job ${jobId} never claimed`);

    await waitForStatus(good, JobStatus.Finalized, worker);
    assertNoJobNotFound(worker);
    await worker.stop();
  });

  it("never sends a claim its stake cannot back: with stake for two jobs and five queued, no claim reverts or is stopped by simulation", async function () {
    this.timeout(300_000);
    // The operator unbonds all but 2.5 jobs' collateral (the model's collateral, read from a posted job).
    const { walletClient, publicClient } = await createChainClients({ rpcUrl: net.url, privateKey: net.keys.provider, chainId: net.chainId });
    const providerSender = new TxSender({ publicClient, walletClient: walletClient! });
    const jobs: bigint[] = [];
    jobs.push(await post({ fee: FEE2 }));
    const collateral = (await jobEvents({ client: net.publicClient, market: net.deployment.market, jobId: jobs[0]! }))[0]!.args.collateral as bigint;
    const available = (await net.publicClient.readContract({ address: net.deployment.staking, abi: stakingAbi, functionName: "availableStake", args: [net.addresses.provider] })) as bigint;
    const keep = collateral * 2n + collateral / 2n;
    assert.ok(available > keep, `the provider has ${available}`);
    await providerSender.send({ address: net.deployment.staking, abi: stakingAbi, functionName: "requestUnbond", args: [available - keep] });
    for (let i = 0; i < 4; i++) jobs.push(await post({ fee: FEE2 }));

    const firstBlock = await net.publicClient.getBlockNumber({ cacheTime: 0 });
    const worker = await startWorker({ dataDir: net.tempDir("hostile-stake"), minFee: FEE + 1n });
    await waitForStatus(jobs, JobStatus.Finalized, worker, 240_000);
    await worker.stop();

    const simulated = linesOf(worker, "simulation reverted, not sent");
    assert.deepEqual(simulated.map((l) => `${l.function}: ${l.error_name}`), [], "no claim was stopped by simulation");
    assert.deepEqual(linesOf(worker, "claimAndCommit refused by the contract"), [], "none was refused");
    const sent = await providerTransactions(firstBlock);
    // A transaction may carry several jobs' steps (the worker groups them into a multicall): count the steps.
    const steps = sent.reduce((n, tx) => n + tx.jobs, 0);
    const grouped = sent.filter((tx) => tx.jobs > 1);
    console.log(`      ${sent.length} provider transactions for ${steps} job steps (${grouped.length} grouped: ${grouped.map((tx) => tx.jobs).join(", ") || "none"})`);
    assert.ok(steps >= jobs.length * 3, `${steps} job steps in ${sent.length} provider transactions`);
    assert.deepEqual(sent.filter((tx) => tx.status !== "success"), [], "no provider transaction reverted");
    assert.ok(linesOf(worker, "job claimed").length === jobs.length, "every job was claimed once");
    assertNoJobNotFound(worker);
  });

  it("makes under one RPC request a second when idle (counted at a JSON-RPC proxy), logs an outage a few times and its end once, and still picks up a job", async function () {
    this.timeout(300_000);
    const proxy = await startRpcProxy({ target: net.url });
    try {
      const worker = await startWorker({ dataDir: net.tempDir("hostile-rpc"), minFee: FEE + 1n, url: proxy.url, extra: { pollIntervalMs: 500 } });
      await sleep(10_000); // start-up reads, the catch-up, the first credits read
      const [calls0, t0] = [proxy.calls(), Date.now()];
      await sleep(20_000);
      const rate = (proxy.calls() - calls0) / ((Date.now() - t0) / 1000);
      assert.ok(rate < 1, `an idle worker made ${rate.toFixed(2)} requests a second: ${JSON.stringify(proxy.byMethod())}`);

      // A 12 s outage: a few WARN lines (exponentially spaced), not two a second; one line when it ends.
      proxy.down();
      const linesBefore = worker.lines().length;
      await sleep(12_000);
      proxy.up();
      await worker.waitForLine((l) => l.msg === "chain read recovered", "the recovery line", 30_000);
      const during = worker.lines().slice(linesBefore);
      const warns = during.filter((l) => (l.level ?? 0) >= 40);
      assert.ok(warns.length >= 1 && warns.length <= 6, `${warns.length} WARN lines in a 12 s outage: ${JSON.stringify(warns.map((l) => l.msg))}`);
      assert.equal(during.filter((l) => l.msg === "chain read recovered").length, 1);

      // Still picks a job up.
      const jobId = await post({ fee: FEE2 });
      await waitForStatus([jobId], JobStatus.Finalized, worker);
      assertNoJobNotFound(worker);
      await worker.stop();
    } finally {
      await proxy.close();
    }
  });

  it("expires, as a keeper, a job nobody claims by its claim deadline: the poster's refund is credited", async function () {
    this.timeout(300_000);
    const worker = await startWorker({ dataDir: net.tempDir("hostile-keeper"), minFee: FEE2 });
    const credits = () =>
      net.publicClient.readContract({ address: net.deployment.market, abi: jobMarketAbi, functionName: "credits", args: [net.addresses.dapp] }) as Promise<bigint>;
    const before = await credits();
    // Below the worker's price: nobody claims it.
    const jobId = await post({ fee: FEE, claimWithin: 5 });
    await worker.waitForLine((l) => l.msg === "job skipped" && l.job_id === jobId.toString(), "the skip", 30_000);
    await worker.waitForLine((l) => l.msg === "unclaimed job expired (keeper): the poster is refunded" && l.job_id === jobId.toString(), "the keeper's expiry", 60_000);
    const events = await jobEvents({ client: net.publicClient, market: net.deployment.market, jobId });
    assert.deepEqual(events.map((e) => e.eventName), ["JobPosted", "JobExpired"]);
    assert.equal(events[1]!.args.refund, FEE);
    assert.equal((await credits()) - before, FEE, "the fee is credited back to the poster, to withdraw");
    await worker.stop();
  });

  it("takes, restarted with a newly added model, the open jobs already posted for that model", async function () {
    this.timeout(300_000);
    const dataDir = net.tempDir("hostile-new-model");
    const secret = randomBytes(32).toString("hex");
    const first = await startWorker({ dataDir, secret, models: ["cls"], minFee: FEE + 1n });
    const det = await post({ kind: "det", fee: FEE2, input: (await imageToDetInput(`${IMAGES}doc.png`, { size: 320 })).tensor });
    const cls = await post({ fee: FEE2 });
    // Its cls job committed: the worker's log cursor is past the det job's block.
    await waitForStatus([cls], JobStatus.Finalized, first);
    assert.equal(await status(det), JobStatus.Posted, "the det job waits: no worker serves det");
    await first.stop();

    const second = await startWorker({ dataDir, secret, models: ["cls", "det"], minFee: FEE + 1n });
    await waitForStatus([det], JobStatus.Finalized, second);
    const caughtUp = linesOf(second, "new models caught up");
    assert.equal(caughtUp.length, 1);
    assert.deepEqual(caughtUp[0]!.models, [net.modelIds.det]);
    await second.stop();
  });

  it("deletes, at its first tick, a stored blob no job can need any more (kept longer ago than twice the longest job lifetime plus its retention), and keeps a younger one", async function () {
    this.timeout(120_000);
    const dataDir = net.tempDir("hostile-prune");
    const blobs = new LocalBlobStore({ dir: path.join(dataDir, "blobs") });
    // Two blobs of the first shard the worker sweeps ("00"): one kept in 2020, one just now.
    const inShard0 = (from: number) => {
      for (let seed = from; ; seed++) {
        const bytes = new TextEncoder().encode(`blob ${seed}`);
        if (blobId(bytes).startsWith("0x00")) return { bytes, next: seed + 1 };
      }
    };
    const old = inShard0(0);
    const young = inShard0(old.next);
    const oldId = await blobs.put(old.bytes);
    const youngId = await blobs.put(young.bytes);
    const y2020 = Date.UTC(2020, 0, 1) / 1000;
    utimesSync(blobs.pathOf(oldId), y2020, y2020);
    // Priced above every job the suite posts, so it takes none: its stop must not wait on earlier tests' hanging inputs.
    const worker = await startWorker({ dataDir, minFee: 100n * FEE, extra: { blobRetentionSeconds: 0 } });
    const deleted = await worker.waitForLine((l) => l.msg === "old blobs deleted", "the first sweep step", 30_000);
    assert.equal(deleted.shard, "00");
    assert.equal(deleted.blobs, 1);
    assert.equal(await blobs.has(oldId), false);
    assert.deepEqual(await blobs.get(youngId), young.bytes);
    await worker.stop();
  });

  it("keeps, however old their files, the blobs of a job its journal holds open (committed before a restart, ended after it), even where an older worker's journal did not name its input, while the same sweep deletes an old blob no job names", async function () {
    this.timeout(180_000);
    const dataDir = net.tempDir("hostile-prune-open");
    // A cls input whose blob id falls in the first shard the sweep reads ("00"): one value moved a little.
    let input = clsInput;
    for (let step = 1; !blobId(encodeTensorBlob([input])).startsWith("0x00"); step++) {
      const values = new Float32Array(clsInput.data.slice().buffer);
      values[0] = values[0]! + step / 4096;
      input = { ...clsInput, data: new Uint8Array(values.buffer) };
    }
    const inputId = blobId(encodeTensorBlob([input]));
    // Priced above the suite's other jobs; this worker keeps every blob (no pruning).
    const fee = 30n * FEE;
    const secret = randomBytes(32).toString("hex");
    const first = await startWorker({ dataDir, secret, minFee: fee, extra: { blobRetentionSeconds: -1 } });
    const jobId = await post({ fee, input });
    await waitForStatus([jobId], JobStatus.Committed, first);
    await first.stop();
    // Nobody finalizes it meanwhile (no other worker of this suite is running): the job stays open.
    assert.ok((await status(jobId)) < JobStatus.Finalized, "still open after the first worker stopped");

    // Every file of both stores kept in 2020, and one more blob of shard "00" that no job names.
    const y2020 = Date.UTC(2020, 0, 1) / 1000;
    const blobs = new LocalBlobStore({ dir: path.join(dataDir, "blobs") });
    let orphan = new TextEncoder().encode("orphan 0");
    for (let seed = 1; !blobId(orphan).startsWith("0x00"); seed++) orphan = new TextEncoder().encode(`orphan ${seed}`);
    const orphanId = await blobs.put(orphan);
    const aged: string[] = [];
    for (const store of ["blobs", "outputs"]) {
      for (const entry of readdirSync(path.join(dataDir, store), { recursive: true, withFileTypes: true })) {
        if (!entry.isFile() || entry.parentPath.includes(".tmp")) continue;
        utimesSync(path.join(entry.parentPath, entry.name), y2020, y2020);
        aged.push(entry.name);
      }
    }
    assert.ok(aged.includes(inputId.slice(2)), `the job's input was kept by the first worker (aged: ${aged.join(", ")})`);
    // As an older worker journaled it: its output named, its input not. (The suite's other jobs, which this worker
    // saw and left, are journaled with the input their post named; an older worker named none.)
    const journal = new DatabaseSync(path.join(dataDir, "journal.sqlite"));
    const stripped = journal
      .prepare("UPDATE jobs SET data = json_remove(data, '$.inputHash') WHERE job_id = ? AND json_extract(data, '$.inputHash') IS NOT NULL")
      .run(jobId.toString());
    journal.close();
    assert.equal(stripped.changes, 1, "the job's entry named its input");

    const second = await startWorker({ dataDir, secret, minFee: fee, extra: { blobRetentionSeconds: 0 } });
    // The job's first step names its input again; the sweep's step waits for that if it comes first (which of
    // the two reads the chain first is a race: the wait itself is test/offchain/prune.test.ts's).
    const deleted = await second.waitForLine((l) => l.msg === "old blobs deleted", "the first sweep step", 60_000);
    assert.equal(deleted.shard, "00");
    assert.equal(deleted.blobs, 1, "only the blob no job names");
    assert.equal(await blobs.has(orphanId), false);
    assert.deepEqual(await blobs.get(inputId), encodeTensorBlob([input]), "the open job's input, aged like the orphan, is kept");
    // And the restarted worker ends the job with what it kept.
    await waitForStatus([jobId], JobStatus.Finalized, second);
    await second.stop();
    const reopened = new DatabaseSync(path.join(dataDir, "journal.sqlite"));
    const named = reopened.prepare("SELECT json_extract(data, '$.inputHash') AS inputHash FROM jobs WHERE json_extract(data, '$.outputRoot') IS NOT NULL").all();
    reopened.close();
    assert.deepEqual(named.map((row) => String(row.inputHash).toLowerCase()), [inputId.toLowerCase()], "the entry names its input again, from the chain");
  });

  it("stops at once on SIGTERM while it reads an input from a server that never answers: the read is aborted, not waited out for the 30 s fetch timeout, and the worker exits 0", async function () {
    this.timeout(120_000);
    const hanging = await inputServer("hang");
    // Priced above every other job the suite posts: this worker reads only the hanging input.
    await post({ fee: 50n * FEE, inputURI: `${hanging.url}/blob` });
    const worker = await startWorker({ dataDir: net.tempDir("hostile-stop"), minFee: 50n * FEE });
    for (const until = Date.now() + 60_000; hanging.counts.requests === 0; await sleep(50)) {
      if (Date.now() > until) assert.fail(`the worker never read the hanging input:\n${worker.logs().slice(-3_000)}`);
    }
    const stopping = Date.now();
    // Throws unless the exit code is 0; before the read took the stop's signal, the shutdown's grace (30 s,
    // the fetch timeout's length) could run out first, and the worker exited 1.
    await worker.stop();
    const tookMs = Date.now() - stopping;
    assert.ok(tookMs < 15_000, `stopped ${tookMs} ms after SIGTERM: the read was waited out, not aborted`);
    const failed = linesOf(worker, "job step failed").map((l) => String(l.err));
    assert.ok(failed.some((err) => /aborted/.test(err)), `the read ended aborted (steps failed: ${failed.join(" | ") || "none"})`);
  });

  // Last: the NaN job stays posted, and its claim deadline must not fall in the idle test's window, where the
  // worker's keeper would read it.
  it("skips, running first, jobs whose input (read, hash-checked and staged in a hashing thread) holds a NaN the model's owner did not opt in to, keeps none of them on disk, and commits the job after them, keeping its input", async function () {
    this.timeout(240_000);
    const dataDir = net.tempDir("hostile-nan");
    const worker = await startWorker({ dataDir });
    // The right hash for bytes that are wrong: only the values' scan can refuse them, and run first no
    // main-thread scan does (the inference thread's must). Each its own blob: a poster's flood of them must
    // leave nothing on the provider's disk, staged or stored.
    const nanInputs = [7, 70, 700, 7000].map((at) => {
      const values = new Float32Array(clsInput.data.slice().buffer);
      values[at] = Number.NaN;
      return { ...clsInput, data: new Uint8Array(values.buffer) };
    });
    const bad: bigint[] = [];
    for (const input of nanInputs) bad.push(await post({ input }));
    const good = await post();
    await waitForStatus([good], JobStatus.Committed, worker);
    await worker.waitForLine((l) => l.msg === "job claimed" && l.job_id === good.toString(), "the good job's claim, its input kept", 30_000);
    for (const jobId of bad) {
      const skipped = await worker.waitForLine((l) => l.msg === "job skipped" && l.job_id === jobId.toString(), `NaN job ${jobId}'s skip`, 30_000);
      assert.match(String(skipped.reason), /^bad input: .*NaN/, String(skipped.reason));
      assert.equal(await status(jobId), JobStatus.Posted, "never claimed");
    }
    const blobs = new LocalBlobStore({ dir: path.join(dataDir, "blobs") });
    for (const input of nanInputs) assert.equal(await blobs.has(blobId(encodeTensorBlob([input]))), false, "a skipped job's input is not kept");
    assert.deepEqual(await blobs.get(blobId(encodeTensorBlob([clsInput]))), encodeTensorBlob([clsInput]), "the committed job's input is kept, as read");
    // Each skipped job's staged input is deleted as its step ends (just after its "job skipped" line).
    const staging = path.join(dataDir, "blobs", ".tmp", "staged");
    for (const until = Date.now() + 10_000; readdirSync(staging).length > 0; await sleep(100)) {
      if (Date.now() > until) assert.fail(`still staged: ${readdirSync(staging).join(", ")}`);
    }
    await worker.stop();
    assert.equal(existsSync(staging), false, "the staging directory goes with its worker");
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
