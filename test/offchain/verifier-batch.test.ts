/**
 * The verifier's watchdog over batches (offchain/verifier/decide.ts `decideBatchWatch`, verifier.ts, and
 * offchain/storage/batch-outputs.ts `withBatchOutput`): what a revealed batch calls for (re-run the picked jobs,
 * split out the wrong ones, never after the window, never our own batch), the journal records the daemon keeps
 * for batches and for the jobs it judged in them (and how a split hands such a job to the job steps, which then
 * challenge it), and, against the real contracts and a real blob server: the split proof the daemon builds from
 * BatchRevealed is accepted, the split job is challenged as it is, and its output is found through the batch's
 * output list (a posted job's and an unserved list's are left alone).
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, keccak256, parseEther, toHex, type Hex } from "viem";

import { BatchStatus, batchLeaf, batchTreeProof, batchTrees, readBatch } from "../../offchain/chain/batches.js";
import { JobStatus, readJob, type Job } from "../../offchain/chain/jobs.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { Journal } from "../../offchain/state/journal.js";
import { encodeBatchOutputs, withBatchOutput } from "../../offchain/storage/batch-outputs.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { fetchOutput } from "../../offchain/storage/output.js";
import { startBlobServer } from "../../offchain/storage/server.js";
import {
  decideBatchWatch,
  decideStep,
  NO_AUDIT,
  NO_DISPUTE,
  REFUSAL_BACKOFF_SECONDS,
  watchdogPicks,
  type BatchPick,
  type BatchWatchSnapshot,
} from "../../offchain/verifier/decide.js";
import { BATCH_KEY, type VerifierBatchData, type VerifierJobData } from "../../offchain/verifier/verifier.js";
import { batchDriver } from "../helpers/batch.js";
import { deploySystem, setUpMarket } from "../helpers/fixture.js";
import { marketDriver } from "../helpers/market.js";
import { testVerifierDaemon } from "../helpers/verifier-daemon.js";

const ME = getAddress("0x00000000000000000000000000000000000000a1");
const OTHER = getAddress("0x00000000000000000000000000000000000000b2");
const PROVIDER = getAddress("0x00000000000000000000000000000000000000d4");
const SECRET: Hex = "0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

describe("verifier watchdog over batches: decisions", () => {
  const snap = (over: Partial<BatchWatchSnapshot> = {}): BatchWatchSnapshot => ({
    me: ME,
    now: 1_000n,
    status: BatchStatus.Revealed,
    deadline: 1_012n,
    provider: PROVIDER,
    picks: [],
    ...over,
  });
  const pick = (index: number, over: Partial<BatchPick> = {}): BatchPick => ({ index, split: false, ...over });

  it("waits for the batch's reveal (the event wakes it, its deadline is the fallback), and ends with the batch", () => {
    for (const status of [BatchStatus.Posted, BatchStatus.Claimed, BatchStatus.Committed]) {
      const step = decideBatchWatch(snap({ status, deadline: 1_030n, picks: [pick(0)] }));
      assert.deepEqual(step, { kind: "wait", time: 1_031n, reason: "waiting for the batch's reveal" }, `status ${status}`);
    }
    assert.deepEqual(decideBatchWatch(snap({ status: BatchStatus.Finalized })), { kind: "done", outcome: "finalized" });
    assert.deepEqual(decideBatchWatch(snap({ status: BatchStatus.Expired })), { kind: "done", outcome: "expired" });
  });

  it("re-runs every picked job still in the revealed batch, then splits out only those judged wrong, to challenge them", () => {
    const first = decideBatchWatch(snap({ picks: [pick(0), pick(3), pick(5, { split: true })] }));
    assert.equal(first.kind, "act");
    assert.deepEqual(first.kind === "act" && [first.watch, first.split], [[0, 3], []], "a job already split out is the job steps' business");
    const judged = decideBatchWatch(
      snap({ picks: [pick(0, { watch: "agree" }), pick(3, { watch: "disagree" }), pick(4, { watch: "reported" }), pick(5, { split: true, watch: "disagree" })] }),
    );
    assert.deepEqual(judged.kind === "act" && [judged.watch, judged.split], [[], [3]], "agree and reported are left in the batch; a split one is not split again");
    const quiet = decideBatchWatch(snap({ picks: [pick(0, { watch: "agree" }), pick(3, { split: true, watch: "disagree" })] }));
    assert.deepEqual(quiet, { kind: "wait", time: 1_013n, reason: "waiting for the challenge window to end" });
  });

  it("never acts after the challenge window (the batch finalizes with its jobs), nor on its own batch", () => {
    const wrong = [pick(0), pick(1, { watch: "disagree" })];
    assert.deepEqual(decideBatchWatch(snap({ now: 1_012n, picks: wrong })).kind, "act", "the window's last second is inside it");
    assert.deepEqual(decideBatchWatch(snap({ now: 1_013n, picks: wrong })), { kind: "done", outcome: "challenge window over" });
    assert.deepEqual(decideBatchWatch(snap({ provider: ME, picks: wrong })), { kind: "done", outcome: "our own batch" });
  });

  it("rests a split the contract refused, then tries it again", () => {
    const refused = [pick(2, { watch: "disagree", refusedAt: 1_000n })];
    assert.equal(decideBatchWatch(snap({ now: 1_000n + REFUSAL_BACKOFF_SECONDS - 1n, picks: refused, deadline: 2_000n })).kind, "wait");
    const again = decideBatchWatch(snap({ now: 1_000n + REFUSAL_BACKOFF_SECONDS, picks: refused, deadline: 2_000n }));
    assert.deepEqual(again.kind === "act" && again.split, [2]);
  });
});

describe("verifier watchdog over batches: journal records", () => {
  function daemon(journal: Journal, share: number) {
    return testVerifierDaemon({ journal, account: ME, secret: SECRET, placeholder: OTHER, watchdog: { share, challenge: true } });
  }


  it("follows the batches of served models only, and only with the watchdog on, apart from its jobs", () => {
    for (const share of [0, 0.5]) {
      const journal = new Journal({ path: ":memory:" });
      try {
        const d = daemon(journal, share);
        const logs = [
          { eventName: "BatchPosted", args: { batchId: 1n, modelId: 1n, firstJobId: 10n, count: 4n }, blockNumber: 7n },
          { eventName: "BatchPosted", args: { batchId: 2n, modelId: 9n, firstJobId: 14n, count: 2n }, blockNumber: 7n },
          // A JobSplit names a job too: it is about the batch, and starts no job record (JobImported does).
          { eventName: "JobSplit", args: { batchId: 1n, jobId: 11n, index: 1n, status: JobStatus.Revealed }, blockNumber: 9n },
        ];
        d.onLogs(logs);
        d.onLogs(logs);
        const rows = journal.listJobs<VerifierBatchData>().map((r) => [r.jobId - BATCH_KEY, r.role, r.status, r.data.postedBlock, r.data.modelId]);
        assert.deepEqual(rows, share > 0 ? [[1n, "verifier-batch", "open", 7n, 1]] : [], `share ${share}`);
        assert.equal(d.activity().open, 0, "a batch is not counted as an open job");
      } finally {
        journal.close();
      }
    }
  });

  it("hands a batch job it judged wrong to the job steps when it is split out, with its judgement kept: their next step is the challenge", () => {
    const journal = new Journal({ path: ":memory:" });
    try {
      const d = daemon(journal, 1);
      const jobId = 12n;
      const watched: VerifierJobData = { postedBlock: 7n, modelId: 1, batchId: 1n, watch: "disagree", judgement: { root: keccak256("0x01"), verdict: "disagree", rootsEqual: false } };
      journal.upsertJob<VerifierJobData>({ jobId, role: "auditor", status: "watching", data: watched });
      assert.equal(d.activity().open, 0, "while in its batch, no job step runs it");
      const job: Job = {
        poster: OTHER,
        modelId: 1,
        terms: 1,
        fee: parseEther("2"),
        collateral: parseEther("20"),
        callbackGasLimit: 0,
        status: JobStatus.Revealed,
        deadline: 1_012,
        provider: PROVIDER,
        commitBlock: 5n,
        result: keccak256("0x01"),
        inlineOutput: false,
        sampled: false,
      };
      d.onLogs([{ eventName: "JobImported", args: { jobId, job }, blockNumber: 20n }]);
      const record = journal.getJob<VerifierJobData>(jobId)!;
      assert.equal(record.status, "open");
      assert.deepEqual(record.data, watched, "the judgement made in the batch is kept (no second run)");
      const step = decideStep({
        me: ME,
        jobId,
        head: 30n,
        now: 1_001n,
        terms: { seedDelay: 2, revealTimeout: 60, challengeWindow: 12, disputeDuration: 120, auditCommitTimeout: 15, voteCommitTimeout: 8, voteRevealTimeout: 8 },
        job,
        audit: NO_AUDIT,
        dispute: NO_DISPUTE,
        votes: [],
        keeper: true,
        keeperGraceSeconds: 5,
        keepers: [ME],
        watched: watchdogPicks({ secret: SECRET, jobId, share: 1 }),
        watchJudged: record.data.watch,
        refused: {},
      });
      assert.deepEqual(step, { kind: "act", action: "challenge", reason: "watchdog: the result is wrong or served nowhere" });
    } finally {
      journal.close();
    }
  });
});

describe("verifier watchdog over batches: against the contracts", function () {
  this.timeout(120_000);

  it("splits a wrong job with the proof built from BatchRevealed, challenges it, and finds its output through the batch's output list", async () => {
    const connection = await network.create();
    const dir = mkdtempSync(path.join(tmpdir(), "dinfer-verifier-batch-"));
    const store = new LocalBlobStore({ dir });
    const server = await startBlobServer({ store, port: 0 });
    try {
      const sys = await deploySystem(connection);
      const { modelId } = await setUpMarket(sys, { providerStake: parseEther("10000") });
      const d = marketDriver({ connection, ...sys });
      const b = batchDriver({ connection, sys, d, modelId });
      await b.fund(parseEther("10000"));
      const client = sys.publicClient as never;
      const batchMarket = sys.batchMarket.address;
      const chainId = await sys.publicClient.getChainId();

      // A posted job first (an ordinary one), then a batch of 5 whose outputs and output list a worker serves.
      const postedJob = await d.post();
      const batchId = await b.post(5);
      const posted = await readBatch({ client, batchMarket, batchId });
      const { firstJobId } = posted.batch;
      const blobs = Array.from({ length: 5 }, (_, i) => encodeTensorBlob([tensorFromArray({ name: "y", dtype: "float32", dims: [2], values: [i, i + 0.5] })]));
      const ids = await Promise.all(blobs.map((blob) => store.put(blob)));
      const roots = blobs.map((blob) => outputRoot(blob));
      const listId = await store.put(encodeBatchOutputs({ firstJobId, outputs: ids.map((id) => `${server.url}/blobs/${id}`) }));
      const salt = keccak256(toHex("batch salt"));
      const trees = batchTrees({ chainId, jobMarket: sys.market.address, provider: sys.provider.account.address, firstJobId, outputRoots: roots, batchSalt: salt });
      await b.send(sys.batchMarket.write.claimAndCommitBatch([batchId, posted.batch, trees.commitmentRoot], { account: sys.provider.account }));
      const committed = await readBatch({ client, batchMarket, batchId });
      const { seedDelay } = await sys.batchMarket.read.marketTermsOf([BigInt(committed.batch.terms)]);
      await connection.networkHelpers.mine(BigInt(seedDelay) + 1n);
      await b.send(sys.batchMarket.write.revealBatch([batchId, committed.batch, trees.revealValues, salt, `${server.url}/blobs/${listId}`], { account: sys.provider.account }));

      // The daemon's split: leaves from the event's output roots, in job order. Index 4 is the odd leaf carried up.
      const revealed = await readBatch({ client, batchMarket, batchId });
      for (const index of [4, 1]) {
        const current = await readBatch({ client, batchMarket, batchId });
        const leaves = current.outputRoots!.map((root, i) => batchLeaf(firstJobId + BigInt(i), root));
        await b.send(
          sys.batchMarket.write.splitRevealed([batchId, current.batch, BigInt(index), current.outputRoots![index]!, batchTreeProof(leaves, index)], { account: sys.keeper.account }),
        );
      }
      const after = await readBatch({ client, batchMarket, batchId });
      assert.deepEqual([...after.split.entries()].sort(), [[1, JobStatus.Revealed], [4, JobStatus.Revealed]]);
      assert.equal(after.batch.deadline, revealed.batch.deadline, "a split changes nothing of the batch's state");

      // The split job, as the JobMarket holds it: Revealed, unsampled, no output location of its own.
      const jobId = firstJobId + 1n;
      const split = await readJob({ client, market: sys.market.address, jobId });
      assert.deepEqual([split.job.status, split.job.sampled, split.job.result, split.outputURI], [JobStatus.Revealed, false, roots[1], undefined]);
      // Verification.challenge takes it unchanged.
      await sys.token.write.mint([sys.challenger.account.address, parseEther("100")]);
      await sys.token.write.approve([sys.verification.address, parseEther("100")], { account: sys.challenger.account });
      await sys.verification.write.challenge([jobId, split.job], { account: sys.challenger.account });
      const disputed = await readJob({ client, market: sys.market.address, jobId });
      assert.equal(disputed.job.status, JobStatus.Disputed);

      // Its output, from the batch's list: the bytes under the revealed root (what a voter and `dinfer audit` judge).
      const problems: string[] = [];
      const located = await withBatchOutput({ record: disputed, client, batchMarket, onProblem: (p) => problems.push(p) });
      assert.equal(located.outputURI, `${server.url}/blobs/${ids[1]}`);
      const fetched = await fetchOutput({ root: disputed.job.result, uris: [located.outputURI], allowFileUris: false });
      assert.ok(fetched.ok && Buffer.from(fetched.bytes).equals(Buffer.from(blobs[1]!)), fetched.ok ? "" : fetched.problem);
      assert.equal(problems.length, 0, problems.join("\n"));

      // A posted job is left as it is; so is a split job whose batch's list is not served (no location: the rules
      // for an output served nowhere apply), with the reason told.
      const postedRecord = await readJob({ client, market: sys.market.address, jobId: postedJob });
      assert.equal(await withBatchOutput({ record: postedRecord, client, batchMarket }), postedRecord);
      await server.close();
      const unserved = await withBatchOutput({ record: await readJob({ client, market: sys.market.address, jobId: firstJobId + 4n }), client, batchMarket, timeoutMs: 2_000, onProblem: (p) => problems.push(p) });
      assert.equal(unserved.outputURI, undefined);
      assert.match(problems.join("\n"), new RegExp(`output list of batch ${batchId} at .* cannot be read`));
    } finally {
      await server.close().catch(() => undefined);
    }
  });
});
