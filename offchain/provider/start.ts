/**
 * Builds a provider worker from its options and runs it until the signal aborts: chain clients,
 * journal, blob store and server, models checked against the registry, inference threads, metrics,
 * the log poller and the tick loop. Shutdown finishes the steps in progress, then closes everything.
 */
import { decodeSignedJob } from "../chain/signed-jobs.js";
import * as ort from "onnxruntime-node";
import { getAbiItem, isAddressEqual, type AbiEvent, type Hex, type PublicClient } from "viem";

import { batchMarketAbi, jobMarketAbi, modelRegistryAbi, replicaMarketAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import { toleranceFromChain } from "../codec/tolerance.js";
import { createWasmKeccak256 } from "../codec/keccak-wasm.js";
import { LogPoller } from "../chain/poller.js";
import { TxSender } from "../chain/sender.js";
import { TermsReader } from "../chain/terms.js";
import { connectChain } from "../daemon/chain.js";
import { allowsPrivateHosts } from "../daemon/options.js";
import { runDaemonLoop } from "../daemon/loop.js";
import { readDaemonSecret } from "../daemon/secrets.js";
import { inferenceThreads, openDaemonServices } from "../daemon/services.js";
import { assertPolicyFits } from "../inference/admission.js";
import { ModelSessionError } from "../inference/errors.js";
import { loadModel } from "../inference/model.js";
import { DEFAULT_SESSION_OPTIONS } from "../inference/session.js";
import { assertFaultsAllowed, withFault } from "./fault.js";
import type { Logger } from "../log.js";
import { journalCursorStore } from "../state/cursor-store.js";
import { BlobPruner, openEntriesProtect } from "../storage/prune.js";
import { createWorkerMetrics } from "./metrics.js";
import { catchUpModels } from "./catch-up.js";
import { startWorkerStatus } from "./status.js";
import type { ServedModel, WorkerOptions } from "./options.js";
import type { LoadedModel } from "./job-runner.js";
import { ProviderWorker } from "./worker.js";

export type RunWorkerParameters = {
  options: WorkerOptions;
  log: Logger;
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Called once everything is up (for tests and the CLI's "ready" line). */
  onReady?: (info: { blobUrl: string; metricsUrl?: string; account: Hex; ipfsAddresses?: string[] }) => void;
};

export async function runWorker({ options, log, signal, env = process.env, onReady }: RunWorkerParameters): Promise<void> {
  const secret = readDaemonSecret({ env, variable: options.secretEnv, owner: "worker", derives: "commitment salts" });
  assertFaultsAllowed(options.fault, env);
  if (options.fault) log.warn({ msg: "TEST FAULT ON: this worker cheats on purpose", fault: options.fault });
  // Inference options that are wrong without any chain fail first: nothing is staked or opened for them.
  inferenceThreads(options);
  const metrics = createWorkerMetrics();
  const chain = await connectChain({ options, env, keyed: true, onRequest: (method) => metrics.rpc.inc({ method }) });
  const { publicClient, walletClient, account, chainId, deployment } = chain;
  const keccak = await createWasmKeccak256();
  const sender = new TxSender({ publicClient, walletClient: walletClient!, logger: log.child({ component: "sender" }), keccak });

  const services = await openDaemonServices({ ...options, chain: { publicClient, chainId, market: deployment.market }, registry: metrics.registry, log });
  const { journal, store, outputs, runner, blobServer, metricsUrl, publicUrl, ipfs } = services;
  try {
    const models = await prepareModels({ served: options.models, publicClient, deployment, log });
    // A test fault wraps the runner: the worker runs its jobs through it and never knows it cheats.
    const jobRunner = options.fault ? withFault({ runner, fault: options.fault, models, maxInputBytes: options.maxInputBytes, log }) : runner;
    const worker = new ProviderWorker({
      log,
      publicClient,
      keccak,
      sender,
      account: account!.address,
      chainId,
      deployment,
      journal,
      runner: jobRunner,
      store,
      outputs,
      models,
      secret,
      publicUrl,
      metrics,
      ep: options.ep,
      inferenceTimeoutMs: options.inferenceTimeoutMs,
      maxInputBytes: options.maxInputBytes,
      ipfsGateway: options.ipfsGateway,
      ipfs,
      allowFileUris: options.allowFileUris,
      allowPrivateHosts: allowsPrivateHosts({ allowPrivateHosts: options.allowPrivateHosts, chainId }),
      stopSignal: signal,
      withdrawMin: options.withdrawMin,
      claimMode: options.claimMode,
      keeper: options.keeper,
      keeperGraceSeconds: options.keeperGraceSeconds,
      maxBatch: options.maxBatch,
      maxBatchWaitMs: options.maxBatchWaitMs,
      maxClaimWaitMs: options.maxClaimWaitMs,
      maxCallbackGas: options.maxCallbackGas,
      ...(options.blobRetentionSeconds < 0
        ? {}
        : {
            pruner: new BlobPruner({
              stores: [store, outputs],
              lifetimeSeconds: () => new TermsReader({ client: publicClient, market: deployment.market }).longestJobLifetime(),
              retentionSeconds: options.blobRetentionSeconds,
              // Every open entry's (a job's, a batch's, a redundant job's): what it names stays, however old. A
              // skipped job (a keeper's, till its deadline) holds no blob of ours. Until every open entry that
              // kept an output names its input too (an older worker's, till its next step), nothing is deleted
              // (for an hour at most, BlobPruner's maxWaitMs).
              protectedIds: () => openEntriesProtect(journal.listJobs({ status: ["candidate", "active"] }).map(({ data }) => data)),
              log: log.child({ component: "prune" }),
            }),
          }),
    });
    const { market } = await worker.init();

    const posted = getAbiItem({ abi: jobMarketAbi, name: "JobPosted" }) as AbiEvent;
    const cursorName = `provider-${deployment.market.toLowerCase()}`;
    const cursors = journalCursorStore(journal);
    await catchUpModels({
      publicClient,
      market: deployment.market,
      store: cursors,
      cursorName,
      modelIds: models.map((m) => m.modelId),
      maxClaimDelay: market.maxClaimDelay,
      onPosted: (jobs) => worker.onPosted(jobs),
      log,
    });
    // Jobs (JobPosted), batches (BatchPosted) and redundant jobs (ReplicaJobPosted) of the served models, in one
    // eth_getLogs a head over the three contracts: a second poller would double the idle worker's reads (one block and one log read each).
    const batchPosted = getAbiItem({ abi: batchMarketAbi, name: "BatchPosted" }) as AbiEvent;
    const replicaPosted = getAbiItem({ abi: replicaMarketAbi, name: "ReplicaJobPosted" }) as AbiEvent;
    const poller = new LogPoller({
      name: cursorName,
      publicClient,
      store: cursors,
      address: [deployment.market, deployment.batchMarket, deployment.replicaMarket],
      events: [posted, batchPosted, replicaPosted],
      confirmations: options.confirmations,
      pollingIntervalMs: options.pollIntervalMs,
      logger: log.child({ component: "poller" }),
      onReorg: () => worker.onReorg(),
      onLogs: async ({ logs }) => {
        const jobs = logs.filter((l) => l.eventName === "JobPosted" && isAddressEqual(l.address, deployment.market));
        const batches = logs.filter((l) => l.eventName === "BatchPosted" && isAddressEqual(l.address, deployment.batchMarket));
        const replicas = logs.filter((l) => l.eventName === "ReplicaJobPosted" && isAddressEqual(l.address, deployment.replicaMarket));
        worker.onPosted(
          jobs.map((l) => {
            const args = l.args as { jobId: bigint; modelId: bigint; poster: Hex; claimBy: bigint; fee: bigint };
            const log = { data: l.data, topics: l.topics, blockNumber: l.blockNumber };
            return { jobId: args.jobId, modelId: Number(args.modelId), postedBlock: l.blockNumber, poster: args.poster, claimBy: args.claimBy, fee: args.fee, log };
          }),
        );
        worker.onBatchPosted(
          batches.map((l) => {
            const args = l.args as { batchId: bigint; modelId: bigint };
            return { batchId: args.batchId, modelId: Number(args.modelId), postedBlock: l.blockNumber };
          }),
        );
        worker.onReplicaPosted(
          replicas.map((l) => {
            const args = l.args as { replicaJobId: bigint; modelId: bigint };
            return { replicaJobId: args.replicaJobId, modelId: Number(args.modelId), postedBlock: l.blockNumber };
          }),
        );
      },
    });

    // dApps hand signed job requests to our blob server (POST /jobs): we run them and post them with our commitment.
    blobServer.takeSignedJobs((body) => worker.acceptSignedJob(decodeSignedJob(body)), { provider: account!.address, chainId, market: deployment.market });

    log.info({
      msg: "worker ready",
      account: account!.address,
      market: deployment.market,
      models: models.map((m) => m.modelId),
      blob_url: blobServer.url,
      metrics_url: metricsUrl,
      allow_private_hosts: allowsPrivateHosts({ allowPrivateHosts: options.allowPrivateHosts, chainId }),
      // Where dApps and verifiers dial our IPFS node (outputs are revealed as ipfs://<cid> then).
      ...(ipfs ? { ipfs_peer_id: ipfs.peerId, ipfs_addresses: ipfs.addresses() } : {}),
    });
    onReady?.({ blobUrl: blobServer.url, metricsUrl, account: account!.address, ...(ipfs ? { ipfsAddresses: ipfs.addresses() } : {}) });
    const stopStatus = startWorkerStatus({ daemon: worker, publicClient, staking: deployment.staking, account: account!.address, intervalMs: options.statusIntervalMs, log });
    try {
      await runDaemonLoop({
        publicClient,
        poller,
        daemon: worker,
        intervalMs: options.pollIntervalMs,
        idleIntervalMs: Math.max(options.idlePollIntervalMs, options.pollIntervalMs),
        signal,
        log,
      });
    } finally {
      stopStatus();
      // Every step has ended: nothing staged is adopted any more (the next start deletes what this leaves).
      await store.closeStaging().catch((error: unknown) => log.warn({ msg: "staged inputs not deleted", err: error instanceof Error ? error.message : String(error) }));
    }
  } finally {
    await services.close();
    log.info({ msg: "worker stopped" });
  }
}

/**
 * Prepares every served model. One that cannot be served (its file does not match the registry, is
 * not a verifiable model, onnxruntime cannot load it, or its registered tolerance does not fit its
 * outputs, ToleranceMisfitError) is left out with an error log, and the worker
 * serves the others: one bad model must not stop a worker for all its models. With none left, the
 * first failure is thrown.
 */
export async function prepareModels({
  served,
  publicClient,
  deployment,
  log,
}: {
  served: readonly ServedModel[];
  publicClient: PublicClient;
  deployment: Deployment;
  log: Logger;
}): Promise<LoadedModel[]> {
  const settled = await Promise.allSettled(served.map((model) => prepareModel({ served: model, publicClient, deployment, log })));
  const models: LoadedModel[] = [];
  settled.forEach((result, i) => {
    if (result.status === "fulfilled") return void models.push(result.value);
    const { modelId, path: file } = served[i]!;
    log.error({ msg: "model not served: it cannot be loaded", model_id: modelId, path: file, err: describeError(result.reason) });
  });
  if (models.length === 0 && served.length > 0) {
    const first = settled.find((result): result is PromiseRejectedResult => result.status === "rejected")!;
    throw first.reason;
  }
  return models;
}

/** Checks a served model against the registry (hash, active) and reads its input and output metadata. */
async function prepareModel({
  served,
  publicClient,
  deployment,
  log,
}: {
  served: ServedModel;
  publicClient: PublicClient;
  deployment: Deployment;
  log: Logger;
}): Promise<LoadedModel> {
  const registered = (await publicClient.readContract({
    address: deployment.registry,
    abi: modelRegistryAbi,
    functionName: "model",
    args: [BigInt(served.modelId)],
  })) as { modelHash: Hex; active: boolean; nonFiniteInputs: boolean; tolerance: { kind: number; axis: number; absTolE12: bigint; relTolE12: bigint } };
  const { bytes, hash } = await loadModel({ path: served.path, expectedHash: registered.modelHash });
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { logSeverityLevel: DEFAULT_SESSION_OPTIONS.logSeverityLevel });
  } catch (cause) {
    throw new ModelSessionError({ modelHash: hash, problem: describeError(cause), cause });
  }
  const { inputMetadata, outputMetadata } = session;
  await session.release();
  const tolerance = toleranceFromChain({
    kind: Number(registered.tolerance.kind),
    axis: Number(registered.tolerance.axis),
    absTolE12: BigInt(registered.tolerance.absTolE12),
    relTolE12: BigInt(registered.tolerance.relTolE12),
  });
  // A policy that does not fit could judge an honest run wrong (a trap an owner sets through the registry directly).
  assertPolicyFits({ bytes, modelHash: hash, policy: tolerance, outputMetadata });
  if (!registered.active) log.warn({ msg: "model is inactive in the registry: no new jobs will come", model_id: served.modelId });
  return {
    modelId: served.modelId,
    path: served.path,
    modelHash: hash,
    minFee: served.minFee,
    nonFiniteInputs: registered.nonFiniteInputs === true,
    tolerance,
    inputMetadata,
    outputMetadata,
  };
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
