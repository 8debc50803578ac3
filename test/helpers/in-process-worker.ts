/**
 * A real provider worker (offchain/provider/worker.ts) on the in-process chain, driven by hand: its poller
 * (as offchain/provider/start.ts builds it), journal, stores and sender, with a runner that echoes its input
 * as the output (so each input has its own output root) and can hold its runs. `turn()` is one turn of the
 * daemon loop (offchain/daemon/loop.ts), so a test decides what the chain does between two of them.
 *
 *   const t = await inProcessWorker(connection);
 *   try { const jobId = await t.post(inputOf([1, 2, 3, 4])); await t.turnsUntil(...); } finally { await t.close(); }
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { createPublicClient, createWalletClient, custom, getAbiItem, isAddressEqual, toHex, type AbiEvent, type Hex, type PublicClient } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { batchMarketAbi, jobMarketAbi, replicaMarketAbi } from "../../offchain/chain/abis.js";
import { batchTrees, readBatch } from "../../offchain/chain/batches.js";
import { chainFor } from "../../offchain/chain/clients.js";
import { readJob } from "../../offchain/chain/jobs.js";
import { LogPoller, MemoryCursorStore } from "../../offchain/chain/poller.js";
import { readReplicaJob } from "../../offchain/chain/replicas.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { commitment, deriveBatchSalt, deriveSalt } from "../../offchain/codec/commitment.js";
import { RetryableError } from "../../offchain/errors.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId, decodeTensorBlob, encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { DEV_MNEMONIC } from "../../offchain/devnet/chain-spec.js";
import { silentLogger } from "../../offchain/log.js";
import type { JobRunner } from "../../offchain/provider/job-runner.js";
import { createWorkerMetrics } from "../../offchain/provider/metrics.js";
import { REPLICA_KEY } from "../../offchain/provider/replica-worker.js";
import { ProviderWorker } from "../../offchain/provider/worker.js";
import { Journal } from "../../offchain/state/journal.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { deploymentOf, deploySystem, FEE, jobRequest, modelSpec, PRICE_FLOOR, ROLE_PROVIDER, setUpMarket, stake, type Connection } from "./fixture.js";

/** deploySystem's provider is the node's third account. */
const PROVIDER_INDEX = 2;
const ZERO_HASH: Hex = `0x${"00".repeat(32)}`;

/** An inline input: one float32 tensor `x` of four values. */
export const inputOf = (values: number[]) => toHex(encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values: new Float32Array(values) })]));
/** What the echo runner outputs for an input: its tensor renamed `y`. */
export const outputOf = (input: Uint8Array) => encodeTensorBlob(decodeTensorBlob(input).map((t) => ({ ...t, name: "y" })));

/**
 * A runner that echoes its input. `hold` makes the runs that start from then on wait: `release` lets them
 * all go (and stops holding), `releaseNext` only the one that started first.
 */
export function echoRunner() {
  const runs: Hex[] = [];
  const held: (() => void)[] = [];
  let holding = false;
  /** Inputs (hex) whose runs fail, with the error each run throws. */
  const failing = new Map<Hex, () => Error>();
  const runner: JobRunner = {
    async run({ input }) {
      runs.push(toHex(input));
      const failure = failing.get(toHex(input));
      if (failure !== undefined) throw failure();
      if (holding) await new Promise<void>((resolve) => held.push(resolve));
      const output = outputOf(input);
      return { output, outputRoot: outputRoot(output), ms: 1, ep: "cpu", timings: { queuedMs: 0, prepMs: 0, encodeMs: 0, hashMs: 0 } };
    },
    stats: () => ({ workers: 1, busy: 0, queued: 0, restarts: 0, hashThreads: 1 }),
  };
  return {
    runner,
    /** Every run's input, in the order the runs started. */
    runs,
    /** Runs started and waiting for a release. */
    get held() {
      return held.length;
    },
    hold: () => void (holding = true),
    /** Every run of `input` (hex) from now on throws `error()`. */
    failOn: (input: Hex, error: () => Error) => void failing.set(input, error),
    release: () => {
      holding = false;
      for (const open of held.splice(0)) open();
    },
    releaseNext: () => held.shift()?.(),
  };
}

export type InProcessWorkerParameters = {
  /** The worker's `maxClaimWaitMs` (default: the worker's). */
  maxClaimWaitMs?: number;
  /** The worker's `claimMode` (default: run-first). */
  claimMode?: "run-first" | "claim-first";
  /** Posted jobs the worker takes up at once (default: the worker's, 4 with the echo runner's one thread). */
  prefetch?: number;
  /** The worker's stake (default: setUpMarket's). */
  providerStake?: bigint;
  /** Stakes deploySystem's second provider (`sys.provider2`) with this much, as a rival for the jobs. */
  rivalStake?: bigint;
};

export type InProcessWorker = Awaited<ReturnType<typeof inProcessWorker>>;

/** Deploys the system, registers the model, and starts a worker for it (not ticking: see `turn`). */
export async function inProcessWorker(connection: Connection, { maxClaimWaitMs, claimMode = "run-first", prefetch, providerStake, rivalStake }: InProcessWorkerParameters = {}) {
  const sys = await deploySystem(connection, { marketParams: { samplingPpm: 0 } });
  const { modelId } = await setUpMarket(sys, providerStake === undefined ? {} : { providerStake });
  if (rivalStake !== undefined) await stake(sys, sys.provider2.account.address, rivalStake, ROLE_PROVIDER);
  const transport = custom({ request: ({ method, params }: { method: string; params?: unknown }) => connection.provider.request({ method, params: params as unknown[] }) });
  const chainId = await sys.publicClient.getChainId();
  const chain = chainFor({ chainId, rpcUrl: "http://in-process.invalid" });
  const publicClient = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: 20 }) as PublicClient;
  const account = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: PROVIDER_INDEX });
  assert.ok(isAddressEqual(account.address, sys.provider.account.address));
  const sender = new TxSender({ publicClient, walletClient: createWalletClient({ chain, transport, account, cacheTime: 0, pollingInterval: 20 }), receiptPollingIntervalMs: 10 });
  const dir = await mkdtemp(path.join(os.tmpdir(), "dinfer-worker-"));
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
    allowPrivateHosts: true,
    withdrawMin: 10n ** 30n,
    claimMode,
    keeper: false,
    maxBatchWaitMs: 0,
    maxClaimWaitMs,
    prefetch,
  });
  await worker.init();
  // The worker's poller, as offchain/provider/start.ts builds it (JobPosted, BatchPosted and ReplicaJobPosted).
  const poller = new LogPoller({
    name: "provider",
    publicClient,
    store: new MemoryCursorStore(),
    address: [deployment.market, deployment.batchMarket, deployment.replicaMarket],
    events: [
      getAbiItem({ abi: jobMarketAbi, name: "JobPosted" }) as AbiEvent,
      getAbiItem({ abi: batchMarketAbi, name: "BatchPosted" }) as AbiEvent,
      getAbiItem({ abi: replicaMarketAbi, name: "ReplicaJobPosted" }) as AbiEvent,
    ],
    startBlock: await publicClient.getBlockNumber(),
    confirmations: 0,
    onReorg: () => worker.onReorg(),
    onLogs: async ({ logs }) => {
      worker.onPosted(
        logs
          .filter((l) => l.eventName === "JobPosted")
          .map((l) => {
            const args = l.args as { jobId: bigint; modelId: bigint; poster: Hex; claimBy: bigint; fee: bigint };
            return { jobId: args.jobId, modelId: Number(args.modelId), postedBlock: l.blockNumber, poster: args.poster, claimBy: args.claimBy, fee: args.fee, log: { data: l.data, topics: l.topics, blockNumber: l.blockNumber } };
          }),
      );
      worker.onBatchPosted(
        logs
          .filter((l) => l.eventName === "BatchPosted")
          .map((l) => ({ batchId: (l.args as { batchId: bigint }).batchId, modelId: Number((l.args as { modelId: bigint }).modelId), postedBlock: l.blockNumber })),
      );
      worker.onReplicaPosted(
        logs
          .filter((l) => l.eventName === "ReplicaJobPosted")
          .map((l) => ({ replicaJobId: (l.args as { replicaJobId: bigint }).replicaJobId, modelId: Number((l.args as { modelId: bigint }).modelId), postedBlock: l.blockNumber })),
      );
    },
  });
  // The dApp's blob server for batch inputs (a batch names its inputs by URI): each blob under its blob id.
  const blobs = new Map<string, Uint8Array>();
  const server = createServer((request, response) => {
    const bytes = blobs.get(request.url?.replace(/^\/blobs\//, "").toLowerCase() ?? "");
    if (bytes === undefined) return void response.writeHead(404).end();
    response.writeHead(200, { "content-length": bytes.byteLength }).end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const blobBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}/blobs`;
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
      try {
        await turn();
      } catch (error) {
        // As the daemon loop does, a poll that failed retryably (a block our own step mined while it read) is tried again next turn.
        if (!(error instanceof RetryableError)) throw error;
      }
      if (await done()) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.fail(`never happened: ${what}`);
  };
  const claimBy = (await publicClient.getBlock()).timestamp + 1_800n;
  /** The same poster (the dApp unless `poster`), fee and claim deadline by default: every post of one id has the same job hash, whatever its input. */
  const post = async (inlineInput: Hex, { fee = FEE, poster = sys.dapp }: { fee?: bigint; poster?: typeof sys.dapp } = {}) => {
    if (poster !== sys.dapp) {
      // Another poster pays its own fee: funded and approved for it here.
      await publicClient.waitForTransactionReceipt({ hash: await sys.token.write.mint([poster.account.address, fee]) });
      await publicClient.waitForTransactionReceipt({ hash: await sys.token.write.approve([deployment.market, fee], { account: poster.account }) });
    }
    const hash = await sys.market.write.postJob([jobRequest(modelId, claimBy, { inputHash: ZERO_HASH, inputURI: "", inlineInput, fee })], { account: poster.account });
    await publicClient.waitForTransactionReceipt({ hash });
    return sys.market.read.jobCount();
  };
  const read = (jobId: bigint) => readJob({ client: publicClient, market: deployment.market, jobId });
  /** The dApp's BatchMarket deposit, for `postBatch` (before any snapshot a test reverts to: a revert takes it back). */
  const fundBatches = async (amount = FEE * 1_000n) => {
    await sys.token.write.mint([sys.dapp.account.address, amount]);
    await sys.token.write.approve([deployment.batchMarket, amount], { account: sys.dapp.account });
    await publicClient.waitForTransactionReceipt({ hash: await sys.batchMarket.write.deposit([amount], { account: sys.dapp.account }) });
  };
  /** Posts a batch of `inputs` (served by the dApp's blob server), the same poster, fee and claim deadline each time; returns its id. */
  const postBatch = async (inputs: Hex[]) => {
    const bytes = inputs.map((input) => Buffer.from(input.slice(2), "hex"));
    for (const blob of bytes) blobs.set(blobId(blob).toLowerCase(), blob);
    const request = { modelId, feePerJob: FEE, claimBy, inputHashes: bytes.map((blob) => blobId(blob)), inputURIs: bytes.map((blob) => `${blobBase}/${blobId(blob)}`) };
    await publicClient.waitForTransactionReceipt({ hash: await sys.batchMarket.write.postBatch([request], { account: sys.dapp.account }) });
    return sys.batchMarket.read.batchCount();
  };
  /** Posts a redundant job of `input` for `replicas` seats (served by the dApp's blob server), the same poster, fee and claim deadline each time; returns its id. */
  const postReplica = async (input: Hex, replicas = 2) => {
    const blob = Buffer.from(input.slice(2), "hex");
    blobs.set(blobId(blob).toLowerCase(), blob);
    await sys.token.write.approve([deployment.replicaMarket, 2n ** 256n - 1n], { account: sys.dapp.account });
    const request = {
      modelId,
      feePerReplica: FEE,
      claimBy,
      replicas,
      inputHash: blobId(blob),
      inputURI: `${blobBase}/${blobId(blob)}`,
      constraints: { allowlist: [] as Hex[], region: "0x0000000000000000" as Hex, executionProviders: 0, minReputationPpm: 0 },
    };
    await publicClient.waitForTransactionReceipt({ hash: await sys.replicaMarket.write.post([request], { account: sys.dapp.account }) });
    return sys.replicaMarket.read.replicaJobCount();
  };
  const readReplica = (replicaJobId: bigint) => readReplicaJob({ client: publicClient, replicaMarket: deployment.replicaMarket, replicaJobId });
  /** Our commitment to the output of `input` for a seat of redundant job `replicaJobId`, as the worker commits it. */
  const replicaCommitmentTo = (replicaJobId: bigint, input: Hex) =>
    commitment({
      chainId: BigInt(chainId),
      jobMarket: deployment.replicaMarket,
      jobId: replicaJobId,
      provider: account.address,
      outputRoot: outputRoot(outputOf(Buffer.from(input.slice(2), "hex"))),
      salt: deriveSalt({ workerSecret: secret, chainId: BigInt(chainId), jobId: REPLICA_KEY + replicaJobId }),
    });
  const readBatchOf = (batchId: bigint) => readBatch({ client: publicClient, batchMarket: deployment.batchMarket, batchId });
  /** Our commitment root for batch `batchId` with the outputs of `inputs`, as the worker commits it. */
  const batchCommitmentTo = async (batchId: bigint, inputs: Hex[]) =>
    batchTrees({
      chainId,
      jobMarket: deployment.market,
      provider: account.address,
      firstJobId: (await readBatchOf(batchId)).batch.firstJobId,
      outputRoots: inputs.map((input) => outputRoot(outputOf(Buffer.from(input.slice(2), "hex")))),
      batchSalt: deriveBatchSalt({ workerSecret: secret, chainId: BigInt(chainId), batchId }),
    }).commitmentRoot;
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
  /** Lets the steps in progress finish, then closes the journal and deletes the stores. */
  const close = async () => {
    await worker.drain();
    await new Promise((resolve) => server.close(resolve));
    journal.close();
    await rm(dir, { recursive: true, force: true });
  };
  return { sys, publicClient, worker, journal, sender, echo, poll, turn, turnsUntil, post, read, commitmentTo, fundBatches, postBatch, readBatch: readBatchOf, batchCommitmentTo, postReplica, readReplica, replicaCommitmentTo, close };
}
