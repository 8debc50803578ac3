/**
 * The provider worker (offchain/provider/worker.ts) across a reorg that gives a job id another input. Job ids are
 * a counter and the market's job hash does not cover the input, so the same poster posting two jobs with the same
 * terms can, reordered by a reorg, give id N the other input under the very same hash. The worker must then commit
 * the output of the input the chain now holds, never the one it ran for the replaced post.
 *
 * A real worker on the in-process chain (its poller, journal, stores and sender), with a runner that echoes its
 * input as the output (so each input has its own output root), and a reorg made with evm_snapshot/evm_revert.
 *
 * Run alone: `npx hardhat test mocha --no-compile test/offchain/provider-reorg.test.ts`.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { network } from "hardhat";
import { after, describe, it } from "mocha";
import { createPublicClient, createWalletClient, custom, getAbiItem, isAddressEqual, toHex, type AbiEvent, type Hex, type PublicClient } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { jobMarketAbi } from "../../offchain/chain/abis.js";
import { chainFor } from "../../offchain/chain/clients.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { LogPoller, MemoryCursorStore } from "../../offchain/chain/poller.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { commitment, deriveSalt } from "../../offchain/codec/commitment.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { decodeTensorBlob, encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { DEV_MNEMONIC } from "../../offchain/devnet/chain-spec.js";
import { silentLogger } from "../../offchain/log.js";
import type { JobRunner } from "../../offchain/provider/job-runner.js";
import { createWorkerMetrics } from "../../offchain/provider/metrics.js";
import { ProviderWorker } from "../../offchain/provider/worker.js";
import { Journal } from "../../offchain/state/journal.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { deploymentOf, deploySystem, FEE, jobRequest, modelSpec, PRICE_FLOOR, setUpMarket } from "../helpers/fixture.js";

const connection = await network.create();
const { networkHelpers } = connection;
/** deploySystem's provider is the node's third account. */
const PROVIDER_INDEX = 2;
const ZERO_HASH: Hex = `0x${"00".repeat(32)}`;

/** An inline input: one float32 tensor `x` of four values. */
const inputOf = (values: number[]) => toHex(encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values: new Float32Array(values) })]));
/** What the echo runner outputs for an input: its tensor renamed `y`. */
const outputOf = (input: Uint8Array) => encodeTensorBlob(decodeTensorBlob(input).map((t) => ({ ...t, name: "y" })));

/** A runner that echoes its input; `hold` makes the next runs wait until `release`. */
function echoRunner() {
  const runs: Hex[] = [];
  let gate: Promise<void> | undefined;
  let open = () => {};
  const runner: JobRunner = {
    async run({ input }) {
      runs.push(toHex(input));
      if (gate !== undefined) await gate;
      const output = outputOf(input);
      return { output, outputRoot: outputRoot(output), ms: 1, ep: "cpu", timings: { queuedMs: 0, prepMs: 0, encodeMs: 0, hashMs: 0 } };
    },
    stats: () => ({ workers: 1, busy: 0, queued: 0, restarts: 0, hashThreads: 1 }),
  };
  return {
    runner,
    runs,
    hold: () => void (gate = new Promise((resolve) => (open = resolve))),
    release: () => {
      gate = undefined;
      open();
    },
  };
}

describe("provider worker: a reorg that gives a job id another input", function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function setUp() {
    const sys = await deploySystem(connection, { marketParams: { samplingPpm: 0 } });
    const { modelId } = await setUpMarket(sys);
    const transport = custom({ request: ({ method, params }: { method: string; params?: unknown }) => connection.provider.request({ method, params: params as unknown[] }) });
    const chainId = await sys.publicClient.getChainId();
    const chain = chainFor({ chainId, rpcUrl: "http://in-process.invalid" });
    const publicClient = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: 20 }) as PublicClient;
    const account = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: PROVIDER_INDEX });
    assert.ok(isAddressEqual(account.address, sys.provider.account.address));
    const sender = new TxSender({ publicClient, walletClient: createWalletClient({ chain, transport, account, cacheTime: 0, pollingInterval: 20 }), receiptPollingIntervalMs: 10 });
    const dir = await mkdtemp(path.join(os.tmpdir(), "dinfer-reorg-"));
    dirs.push(dir);
    const journal = new Journal({ path: ":memory:" });
    const echo = echoRunner();
    const secret = toHex(randomBytes(32));
    const deployment = deploymentOf(sys);
    const worker = new ProviderWorker({
      log: silentLogger(),
      publicClient,
      sender,
      account: account.address,
      chainId,
      deployment,
      journal,
      runner: echo.runner,
      store: new LocalBlobStore({ dir: path.join(dir, "blobs") }),
      outputs: new LocalBlobStore({ dir: path.join(dir, "outputs"), address: "outputRoot" }),
      models: [
        {
          modelId: Number(modelId),
          path: path.join(dir, "unused.onnx"),
          modelHash: modelSpec().modelHash,
          minFee: PRICE_FLOOR,
          nonFiniteInputs: false,
          inputMetadata: [{ name: "x", isTensor: true, type: "float32", shape: [4] }] as never,
          outputMetadata: [],
        },
      ],
      secret,
      publicUrl: "http://127.0.0.1:9/blobs",
      metrics: createWorkerMetrics(),
      ep: "cpu",
      inferenceTimeoutMs: 10_000,
      maxInputBytes: 1 << 20,
      allowFileUris: false,
      allowPrivateHosts: true, // a devnet's: the test serves on 127.0.0.1
      withdrawMin: 10n ** 30n,
      claimMode: "run-first",
      keeper: false,
      maxBatchWaitMs: 0,
    });
    await worker.init();
    // The worker's poller, as offchain/provider/start.ts builds it (JobPosted only).
    const poller = new LogPoller({
      name: "provider",
      publicClient,
      store: new MemoryCursorStore(),
      address: deployment.market,
      events: [getAbiItem({ abi: jobMarketAbi, name: "JobPosted" }) as AbiEvent],
      startBlock: await publicClient.getBlockNumber(),
      confirmations: 0,
      onReorg: () => worker.onReorg(),
      onLogs: async ({ logs }) => {
        worker.onPosted(
          logs.map((l) => {
            const args = l.args as { jobId: bigint; modelId: bigint; poster: Hex; claimBy: bigint; fee: bigint };
            return { jobId: args.jobId, modelId: Number(args.modelId), postedBlock: l.blockNumber, poster: args.poster, claimBy: args.claimBy, fee: args.fee, log: { data: l.data, topics: l.topics, blockNumber: l.blockNumber } };
          }),
        );
      },
    });
    /** The poller's step at the head; returns the head. */
    const poll = async () => {
      const head = await publicClient.getBlock({ blockTag: "latest" });
      await poller.poll({ head: { number: head.number, hash: head.hash, parentHash: head.parentHash } });
      return head;
    };
    /** One turn of the daemon loop (offchain/daemon/loop.ts): the logs up to the head, then a tick at it. */
    const turn = async () => {
      const head = await poll();
      worker.tick({ number: head.number, timestamp: head.timestamp });
    };
    const turnsUntil = async (done: () => Promise<boolean> | boolean, what: string) => {
      for (let i = 0; i < 300; i++) {
        await turn();
        if (await done()) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.fail(`never happened: ${what}`);
    };
    const claimBy = (await publicClient.getBlock()).timestamp + 1_800n;
    /** The same poster, fee and claim deadline by default: every post of one id has the same job hash, whatever its input. */
    const post = async (inlineInput: Hex, { fee = FEE }: { fee?: bigint } = {}) => {
      const hash = await sys.market.write.postJob([jobRequest(modelId, claimBy, { inputHash: ZERO_HASH, inputURI: "", inlineInput, fee })], { account: sys.dapp.account });
      await publicClient.waitForTransactionReceipt({ hash });
      return sys.market.read.jobCount();
    };
    const read = (jobId: bigint) => readJob({ client: publicClient, market: deployment.market, jobId });
    /** Our commitment to the output of `input` for `jobId`. */
    const commitmentTo = (jobId: bigint, input: Hex) =>
      commitment({
        chainId: BigInt(chainId),
        jobMarket: deployment.market,
        jobId,
        provider: account.address,
        outputRoot: outputRoot(outputOf(Buffer.from(input.slice(2), "hex"))),
        salt: deriveSalt({ workerSecret: secret, chainId: BigInt(chainId), jobId }),
      });
    return { sys, worker, journal, sender, echo, poll, turn, turnsUntil, post, read, commitmentTo, close: async () => (await worker.drain(), journal.close()) };
  }

  const A = inputOf([1, 2, 3, 4]);
  const B = inputOf([5, 6, 7, 8]);

  /** A point to reorg back to: what is mined after it is the branch `revertTo` replaces. */
  const snapshot = async () => (await connection.provider.request({ method: "evm_snapshot", params: [] })) as string;
  const revertTo = (point: string) => connection.provider.request({ method: "evm_revert", params: [point] });
  const committed = (t: Awaited<ReturnType<typeof setUp>>, jobId: bigint, what = "the job is committed") =>
    t.turnsUntil(async () => (await t.read(jobId)).job.status === JobStatus.Committed, what);
  /** Posts input A from a fresh snapshot and lets the worker start its run of A, held there: the snapshot and the job id. */
  async function runningA(t: Awaited<ReturnType<typeof setUp>>): Promise<{ point: string; jobId: bigint }> {
    const point = await snapshot();
    t.echo.hold();
    const jobId = await t.post(A);
    await t.turnsUntil(() => t.echo.runs.length === 1, "the worker runs input A");
    return { point, jobId };
  }

  it("a reorg before the worker ran the job, its new post in an earlier block: the job is read from there and committed with the new input's output", async () => {
    const t = await setUp();
    try {
      await t.poll(); // the poller remembers the block the reorg forks from
      const point = await snapshot();
      await networkHelpers.mine(3);
      const jobId = await t.post(A);
      await t.poll(); // seen (a candidate), not taken up yet

      await revertTo(point);
      assert.equal(await t.post(B), jobId, "the same job id, posted 3 blocks earlier");
      await networkHelpers.mine(6);

      await committed(t, jobId);
      assert.equal((await t.read(jobId)).job.result, await t.commitmentTo(jobId, B), "committed to the output of input B");
      assert.deepEqual(t.echo.runs, [B]);
    } finally {
      await t.close();
    }
  });

  for (const { title, fee } of [
    { title: "the same job hash", fee: FEE },
    { title: "another job hash (another fee): the old commit is refused", fee: FEE + 1n },
  ]) {
    it(`a reorg while the worker runs the old input, ${title}: the job is committed with the new input's output, not the old one's`, async () => {
      const t = await setUp();
      try {
        const { point, jobId } = await runningA(t);
        assert.equal(t.echo.runs[0], A);

        // The post is replaced: the same id and poster, input B.
        await revertTo(point);
        assert.equal(await t.post(B, { fee }), jobId, "the same job id");
        await t.turn(); // the poller sees the reorg and delivers B's post while the run of A is still going
        t.echo.release();

        await committed(t, jobId);
        const { job } = await t.read(jobId);
        assert.ok(isAddressEqual(job.provider, t.sys.provider.account.address));
        assert.notEqual(job.result, await t.commitmentTo(jobId, A), "not committed to the output of input A");
        assert.equal(job.result, await t.commitmentTo(jobId, B), "committed to the output of input B");
        assert.deepEqual(t.echo.runs, [A, B], "B was run after the reorg");
      } finally {
        await t.close();
      }
    });
  }

  it("a reorg to another input and one back to the first while the worker runs it: the job is committed with the first input's output", async () => {
    const t = await setUp();
    try {
      const { point, jobId } = await runningA(t);
      // B replaces A (the same id and job hash) while A runs: its reset waits for the step's end.
      await revertTo(point);
      const replaced = await snapshot();
      assert.equal(await t.post(B), jobId, "the same job id");
      await t.turn();
      // Another reorg brings A back, as the journal holds it: nothing is left to take up afresh.
      await revertTo(replaced);
      assert.equal(await t.post(A), jobId, "the same job id");
      await networkHelpers.mine(1);
      await t.turn();
      t.echo.release();

      await committed(t, jobId);
      const { job, inputHash } = await t.read(jobId);
      assert.equal((t.journal.getJob(jobId)!.data as { inputHash?: Hex }).inputHash, inputHash, "the journal names the chain's input");
      assert.equal(job.result, await t.commitmentTo(jobId, A), "committed to the output of input A, the chain's input");
      assert.deepEqual(t.echo.runs, [A], "A's run stands: nothing was taken up afresh");
    } finally {
      await t.close();
    }
  });

  it("a reorg that takes the worker's mined commit away: the job is committed again, with the new input's output", async () => {
    const t = await setUp();
    try {
      const point = await snapshot();
      const jobId = await t.post(A);
      await committed(t, jobId);
      assert.equal((await t.read(jobId)).job.result, await t.commitmentTo(jobId, A));
      await t.turnsUntil(() => t.journal.getJob(jobId)?.status === "active", "the job is ours in the journal");

      // The post and our commit are replaced: the same id and job hash, input B; the chain grows past the old head.
      await revertTo(point);
      // Our commit is gone from this chain (a real node would put it back in its mempool): our nonce with it.
      t.sender.resyncNonce();
      assert.equal(await t.post(B), jobId, "the same job id");
      await networkHelpers.mine(3);
      assert.equal((await t.read(jobId)).job.status, JobStatus.Posted);

      await committed(t, jobId, "the job is committed again");
      assert.equal((await t.read(jobId)).job.result, await t.commitmentTo(jobId, B), "committed to the output of input B");
      assert.deepEqual(t.echo.runs, [A, B]);
    } finally {
      await t.close();
    }
  });
});
