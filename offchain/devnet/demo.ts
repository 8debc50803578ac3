/**
 * `npm run demo` (`dinfer demo`): the whole network on this machine. A local chain, the protocol
 * deployed with Ignition, three staked providers (one of them cheats: it never runs the models and
 * reveals made-up outputs) and four staked verifiers (an auditor and a full committee of three), each
 * daemon its own process; a sample dApp posts real PaddleOCR jobs on the bundled images in batches
 * through the SDK (a prepaid deposit, then every job in one `postBatches` transaction: the cls lines in
 * one batch, the det pages in another), then a few redundant jobs (`DEMO_REDUNDANT`: the same cls lines, each
 * run by all three workers on a copy of the cls model registered for them, so that the cheater sits beside
 * the honest two), a live view follows every job, and a summary says what happened, from receipts and events
 * only: jobs finalized, batches and their sizes, latencies, gas per job, audits, disputes, slashes, earnings
 * and reputation per provider, the execution provider each worker used, the redundant jobs (how many
 * disagreed, how many seats their committees slashed), and the truth about the cheats (`cheats`): how many
 * of the cheater's results were faked, counted against a reference CPU run the demo makes itself, and how
 * many of those were slashed or paid.
 *
 * The chain mines one block a second and none per transaction, so its clock keeps with the wall
 * clock and each window lasts what the terms say (180 s reveal, 90 s blind audit, 60 s challenge).
 */
import path from "node:path";
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

import cliProgress from "cli-progress";
import { decodeEventLog, erc20Abi, getAddress, maxUint256, parseEther, type Address, type Hex } from "viem";

import { dinferTestTokenAbi, jobMarketAbi, replicaMarketAbi } from "../chain/abis.js";
import { blobId, encodeTensorBlob, type Tensor } from "../codec/tensor.js";
import { hashModel } from "../inference/model.js";
import { createInferenceRunner } from "../inference/runner.js";
import { registerModel } from "../protocol/actions.js";
import { deposit, postJobs } from "../sdk/batches.js";
import { imageToClsInput, imageToDetInput } from "../sdk/image.js";
import { formatScore, readReputation, REPUTATION_RULE } from "../sdk/reputation.js";
import { uploadBlob } from "../storage/upload.js";
import { startDaemon, type Daemon } from "./daemon.js";
import {
  countCheats,
  countRedundant,
  decodeEvent,
  followEvent,
  gasShares,
  lifecycleTransactions,
  newFollowState,
  watchedAddresses,
  type CheatCount,
  type FollowState,
  type JobTrack,
  type RedundantCount,
  type ReplicaTrack,
  type TxEvent,
} from "./demo-events.js";
import {
  DEVNET_COLLATERAL,
  DEVNET_PRICE_FLOOR,
  DEVNET_TOLERANCE,
  LOCAL_PARAMETERS,
  startDevnet,
  type Devnet,
  type ModelKind,
} from "./devnet.js";
import { startDevnetExplorer } from "./explorer.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DEMO_IMAGES_DIR = path.join(ROOT, "test/fixtures/images");

const PPM = 1_000_000;
/**
 * The local terms (ignition/parameters/local.json: 180 s reveal, 90 s blind audit, 60 s challenge
 * window) with half the jobs audited (audit and voter pay scaled down so that the levy covers them at
 * that rate: `auditPayWithinLevy`), and committee votes short enough for a dispute to settle in about a
 * minute, yet long enough for eight processes sharing a laptop's cores to re-run det jobs.
 */
export const DEMO_MARKET_PARAMS = { samplingPpm: 500_000 };
export const DEMO_VERIFICATION_PARAMS = { voteCommitTimeout: 40, voteRevealTimeout: 20, ...auditPayWithinLevy(DEMO_MARKET_PARAMS.samplingPpm) };
/**
 * What the demo's owner puts in the audit pool. The levy of each paid job refills it, but audits and
 * committees are paid as they happen, from the first job on: at half the jobs sampled and a cheater
 * disputed at every turn, the pool would run dry before the levies came in.
 */
export const DEMO_AUDIT_POOL = parseEther("500");
export const DEMO_FEE = 2n * 10n ** 18n;
/**
 * The redundant jobs the dApp posts after its batches: this many, each for `DEMO_REPLICAS` providers (all
 * three workers), on the first cls lines of DEMO_INPUTS.
 */
export const DEMO_REDUNDANT = 3;
export const DEMO_REPLICAS = 3;
/** How long a redundant job's seats stay open: reveals open as soon as all three are taken, long before. */
const DEMO_REDUNDANT_CLAIM_S = 240n;

/** The jobs the sample dApp posts, in turn: text-line orientation (cls) and text detection (det). */
const DEMO_INPUTS: readonly { kind: ModelKind; image: string }[] = [
  { kind: "cls", image: "line-1.png" },
  { kind: "det", image: "doc.png" },
  { kind: "cls", image: "line-2-rot180.png" },
  { kind: "det", image: "blank.png" },
  { kind: "cls", image: "line-3.png" },
  { kind: "det", image: "doc.png" },
  { kind: "cls", image: "line-1-rot180.png" },
  { kind: "det", image: "blank.png" },
];

export type DemoParameters = {
  jobs: number;
  /** Leave the network running after the summary (until `signal` aborts). */
  keep: boolean;
  /** Aborted on Ctrl-C: the demo stops everything it started and returns. */
  signal: AbortSignal;
  /** Progress and messages (stderr); the summary table goes here too unless the caller prints JSON. */
  print: (text: string) => void;
  /** Whether to draw a live progress bar (a terminal). */
  live: boolean;
  /** Give up waiting for jobs after this long. */
  timeoutMs?: number;
  /** Keep the daemons' state and logs here (default: a temporary directory, removed at the end). */
  dataDir?: string;
};

export type LatencyStats = { mean: number; p95: number };

export type { CheatCount, RedundantCount } from "./demo-events.js";

/** Mean gas of a group of jobs: each job's share of its lifecycle transactions, averaged. */
export type GasGroup = { jobs: number; mean: number };

export type DemoSummary = {
  /**
   * `jobs` and everything per job below it (finalized, slashed, expired, disputes, sampled, audits, gas,
   * latencies, `providers[].jobs`, cheats) count the jobs of the dApp's batches only: a redundant seat sent to a
   * committee becomes a JobMarket job too (with its own dispute and verdict), but it is counted in `redundant`,
   * so that `finalized + slashed + expired` is still `jobs`.
   */
  jobs: number;
  finalized: number;
  slashed: number;
  expired: number;
  disputes: number;
  sampled: number;
  audits: { agreed: number; disagreed: number };
  /** The batches the dApp posted: how many, in how many transactions, and each one's jobs. */
  batches: { posted: number; transactions: number; sizes: number[] };
  /** `gas.perJob`: the mean over every job posted. */
  gasPerJob: number;
  /**
   * From receipts: the transactions of the jobs' lifecycle (the dApp's deposit, the post, each batch's claim
   * and commit, reveal, finalize or expiry, a sampled job's split, reveal and finalize in the JobMarket), each
   * one's gas divided over the jobs it served (`lifecycleTransactions`). Audits and disputes are apart, as are
   * the dApp's token approval and the providers' withdrawals. `inBatch`: the jobs paid with their batch;
   * `splitForAudit`: the jobs split out of their batch because they were sampled.
   */
  gas: { total: number; transactions: number; perJob: number; inBatch: GasGroup; splitForAudit: GasGroup };
  latencyMs: { postToReveal: LatencyStats; postToFinal: LatencyStats };
  /**
   * `reputation`: the provider's score from chain events (offchain/sdk/reputation.ts), 0.000 to 1.000; 0.500 is a
   * new provider's. `earned`: its pay for batch jobs and redundant seats alike. `seats`: the redundant seats it
   * took (`taken`) and those its committee slashed (`slashed`).
   */
  providers: {
    address: Address;
    role: "honest" | "cheater";
    ep: string;
    jobs: number;
    earned: string;
    slashed: string;
    reputation: string;
    seats: { taken: number; slashed: number };
  }[];
  /** `rewards`: what it was paid (audits, votes, finder's shares) net of the challenge bonds it posted. */
  verifiers: { address: Address; rewards: string; penalties: string }[];
  /** The cheater's results in the batches (its redundant seats are in `redundant`). */
  cheats: CheatCount;
  /**
   * The redundant jobs: posted; settled Disputed because their revealed roots differed; seats their committees
   * slashed. From ReplicaMarket events and the JobMarket's DisputeSettled of the seats' jobs.
   */
  redundant: RedundantCount;
  /** Wall-clock time: the whole run (start-up included), and from the first post to the last job's end. */
  wallTimeMs: { total: number; jobs: number };
  interrupted: boolean;
};

/**
 * The local audit and voter pay (shares of the fee), scaled down just enough that the local audit levy
 * covers their expected cost at `samplingPpm`: ProtocolTerms refuses a version where
 * `samplingPpm x (auditRewardBps + recheckPpm x committeeSize x voterRewardBps) > auditLevyBps` (ppm).
 * At the local 5% sampling the local pay fits; at the demo's 50% it is about a tenth of it.
 */
export function auditPayWithinLevy(samplingPpm: number): { auditRewardBps?: number; voterRewardBps?: number } {
  const local = JSON.parse(readFileSync(LOCAL_PARAMETERS, "utf8")).DinferLocal as Record<string, Record<string, number | string>>;
  const { auditRewardBps, voterRewardBps, recheckPpm, committeeSize } = local.verificationParams!;
  const { auditLevyBps } = local.marketParams!;
  if (auditRewardBps === undefined || voterRewardBps === undefined) return {};
  const pay = (audit: number, voter: number) => audit + Math.floor((Number(recheckPpm) * Number(committeeSize) * voter) / PPM);
  const cost = samplingPpm * pay(Number(auditRewardBps), Number(voterRewardBps));
  const scale = Math.min(1, (Number(auditLevyBps) * PPM) / cost);
  return { auditRewardBps: Math.floor(Number(auditRewardBps) * scale), voterRewardBps: Math.floor(Number(voterRewardBps) * scale) };
}

/** Runs the demo; resolves with its summary (also when interrupted: what happened until then). */
export async function runDemo({ jobs, keep, signal, print, live, timeoutMs = 900_000, dataDir }: DemoParameters): Promise<DemoSummary> {
  const startedAt = Date.now();
  print(`starting a local chain, deploying, staking 3 providers and 4 verifiers...`);
  const devnet = await startDevnet({
    providers: 3,
    verifiers: 4,
    providerStake: 5_000n * 10n ** 18n,
    marketParams: DEMO_MARKET_PARAMS,
    verificationParams: DEMO_VERIFICATION_PARAMS,
    dataDir,
  });
  try {
    // The owner's sends get consecutive nonces: both in one block.
    const [, replicaModelId] = await Promise.all([fundAuditPool(devnet, DEMO_AUDIT_POOL), registerReplicaModel(devnet)]);
    // The reference runs (one per distinct input) go on while the daemons start and warm up.
    const references = referenceRoots(devnet, jobs);
    references.catch(() => undefined); // awaited below; an early failure must not go unhandled meanwhile
    const daemons = await startDaemons(devnet, replicaModelId, print);
    const explorer = await startDevnetExplorer(devnet, { logFile: path.join(daemons.logDir, "explorer.log") });
    const referenceRootOf = await references;
    print(`network up: chain ${devnet.url}, ${daemons.workers.length} workers, ${daemons.verifiers.length} verifiers (models warmed)`);
    print(`explorer: ${explorer.url}   (open it to watch the jobs, providers and disputes live)`);
    const summary = await postAndFollow({ devnet, daemons, jobs, signal, print, live, timeoutMs, referenceRootOf, startedAt });
    if (keep && !signal.aborted) {
      print(keepBanner(devnet, daemons, explorer.url));
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    }
    return summary;
  } finally {
    print("stopping the daemons and the chain...");
    await devnet.stop();
  }
}

/** The owner tops the audit pool up (see DEMO_AUDIT_POOL). */
async function fundAuditPool(devnet: Devnet, amount: bigint): Promise<void> {
  const owner = devnet.deployerSender;
  const token = { address: devnet.deployment.token, abi: dinferTestTokenAbi };
  await Promise.all([
    owner.send({ ...token, functionName: "mint", args: [owner.address, amount] }),
    owner.send({ ...token, functionName: "approve", args: [devnet.deployment.market, maxUint256] }),
  ]);
  await owner.send({ address: devnet.deployment.market, abi: jobMarketAbi, functionName: "fundAuditPool", args: [amount] });
}

/**
 * Registers a copy of the cls model (the same file, hash and terms as the devnet's) for the redundant jobs. The
 * workers serve different models (see `startDaemons`): all three serve this copy too, so that every redundant
 * job seats the cheater beside the two honest workers, while the cls batch still goes to the cheater alone.
 */
async function registerReplicaModel(devnet: Devnet): Promise<number> {
  const { id } = await registerModel({
    sender: devnet.deployerSender,
    deployment: devnet.deployment,
    spec: {
      modelHash: hashModel(new Uint8Array(readFileSync(devnet.modelFiles.cls))),
      uri: pathToFileURL(devnet.modelFiles.cls).href,
      runtime: "onnxruntime-node@1.30.0",
      tolerance: DEVNET_TOLERANCE,
      minCollateral: DEVNET_COLLATERAL,
      priceFloor: DEVNET_PRICE_FLOOR,
      nonFiniteInputs: false,
    },
  });
  return id;
}

/** The input blob the dApp posts for one of DEMO_INPUTS (the same bytes for the same image). */
async function demoInput(kind: ModelKind, image: string): Promise<Uint8Array> {
  const file = path.join(DEMO_IMAGES_DIR, image);
  const tensor: Tensor = kind === "cls" ? await imageToClsInput(file) : (await imageToDetInput(file, { size: 320 })).tensor;
  return encodeTensorBlob([tensor]);
}

/**
 * The output root of a reference run of each input the demo will post, on the CPU, in this process:
 * what an honest result is compared with (`cheats`). Any honest worker may differ from it in the last
 * bits; the cheater's made-up outputs differ from it entirely.
 */
async function referenceRoots(devnet: Devnet, jobs: number): Promise<Map<string, Hex>> {
  const runner = createInferenceRunner({ size: 1 });
  const roots = new Map<string, Hex>();
  try {
    for (const { kind, image } of DEMO_INPUTS.slice(0, jobs)) {
      const key = `${kind}:${image}`;
      if (roots.has(key)) continue;
      const modelPath = devnet.modelFiles[kind];
      const { outputRoot } = await runner.run({
        modelPath,
        modelHash: hashModel(new Uint8Array(readFileSync(modelPath))),
        ep: "cpu",
        input: await demoInput(kind, image),
        timeoutMs: 120_000,
      });
      roots.set(key, outputRoot);
    }
    return roots;
  } finally {
    await runner.close();
  }
}

/** The demo's daemons; `logDir` holds their log files (and the explorer's). */
type Daemons = { workers: Daemon[]; cheater: Address; verifiers: Daemon[]; replicaModelId: number; logDir: string };

async function startDaemons(devnet: Devnet, replicaModelId: number, print: DemoParameters["print"]): Promise<Daemons> {
  // Every daemon also serves the copy of the cls model that the redundant jobs are posted for.
  const replicaModel = { modelId: replicaModelId, path: devnet.modelFiles.cls, minFee: "0" };
  const modelsOf = (kinds: readonly ModelKind[]) => [...kinds.map((kind) => ({ modelId: devnet.modelIds[kind], path: devnet.modelFiles[kind], minFee: "0" })), replicaModel];
  const models = modelsOf(["cls", "det"]);
  const common = { rpcUrl: devnet.url, addresses: devnet.deployment, host: "127.0.0.1", port: 0, metricsPort: 0, pollIntervalMs: 250 };
  const logDir = devnet.tempDir("logs");
  print(`daemon logs: ${logDir}`);
  const cheaterIndex = devnet.providers.length - 1;
  const workers = await Promise.all(
    devnet.providers.map(async (account, i) => {
      const dataDir = devnet.tempDir(`worker-${i + 1}`);
      const cheat = i === cheaterIndex;
      const daemon = await startDaemon({
        command: "worker",
        configFile: path.join(dataDir, "worker.config.json"),
        // A batch goes whole to the first provider to commit to it, and the dApp posts one batch per model:
        // were the cheater to race the honest workers for both, one run would give it every job and the next
        // none. So the cheater alone serves cls (it never runs the model: it makes every output up) and the
        // two honest workers race each other for the det pages: every run has cheats to catch and honest
        // work to pay. All three serve the copy of cls that the redundant jobs are for (`modelsOf` adds it).
        config: cheat
          ? { ...common, dataDir, models: modelsOf(["cls"]), ep: "auto", threads: 1, fault: { mode: "random" } }
          : { ...common, dataDir, models: modelsOf(["det"]), ep: "auto", threads: 1 },
        env: {
          DINFER_PRIVATE_KEY: account.key,
          DINFER_WORKER_SECRET: `demo-worker-secret-${i}-0123456789abcdef`,
          ...(cheat ? { DINFER_ALLOW_FAULTS: "1" } : {}),
        },
        readyMsg: "worker ready",
        readyTimeoutMs: 180_000,
        logFile: path.join(logDir, `worker-${i + 1}.log`),
      });
      devnet.onStop(() => daemon.stop().catch(() => daemon.kill()));
      return daemon;
    }),
  );
  // One verifier also watches unsampled jobs and challenges wrong ones: a cheat is caught either way.
  // A verifier says it is ready once its models are warmed (sessions created and test-run): no job
  // is posted before every one of them can audit at once.
  const verifiers = await Promise.all(
    devnet.verifiers.map(async (account, i) => {
      const dataDir = devnet.tempDir(`verifier-${i + 1}`);
      const daemon = await startDaemon({
        command: "verifier",
        configFile: path.join(dataDir, "verifier.config.json"),
        config: { ...common, dataDir, models, ep: "cpu", ...(i === 0 ? { watchdog: { share: 1 } } : {}) },
        env: { DINFER_PRIVATE_KEY: account.key, DINFER_VERIFIER_SECRET: `demo-verifier-secret-${i}-0123456789abcdef` },
        readyMsg: "verifier ready",
        readyTimeoutMs: 300_000,
        logFile: path.join(logDir, `verifier-${i + 1}.log`),
      });
      devnet.onStop(() => daemon.stop().catch(() => daemon.kill()));
      return daemon;
    }),
  );
  return { workers, cheater: devnet.providers[cheaterIndex]!.address, verifiers, replicaModelId, logDir };
}

async function postAndFollow({
  devnet,
  daemons,
  jobs,
  signal,
  print,
  live,
  timeoutMs,
  referenceRootOf,
  startedAt,
}: { devnet: Devnet; daemons: Daemons; jobs: number; timeoutMs: number; referenceRootOf: Map<string, Hex>; startedAt: number } & Pick<
  DemoParameters,
  "signal" | "print" | "live"
>): Promise<DemoSummary> {
  const { publicClient } = devnet;
  const state = newFollowState(new Map());
  // From the block before the deposit: every event of the dApp's jobs, the deposit's included.
  const fromBlock = await publicClient.getBlockNumber({ cacheTime: 0 });
  const firstPostAt = Date.now();
  let postError: unknown;
  if (!signal.aborted) {
    try {
      await postInBatches({ devnet, jobs, tracks: state.jobs, print });
      await postRedundant({ devnet, modelId: daemons.replicaModelId, tracks: state.replicas, print });
    } catch (error) {
      postError = error;
      print(`posting stopped: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const bar = live
    ? new cliProgress.SingleBar(
        {
          format:
            " jobs {bar} {value}/{total} final | batches {batches} committed {committed} revealed {revealed} sampled {sampled} disputes {disputes} slashed {slashed} | redundant {redundant} final",
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(state.jobs.size, 0, state.counts);

  // Follow the chain: every event of the five contracts, folded into per-job tracks, until every job of the
  // batches ended and every redundant job is final (settled, and each of its disputed seats judged).
  const events: TxEvent[] = [];
  let next = fromBlock + 1n;
  const deadline = Date.now() + timeoutMs;
  const done = () => [...state.jobs.values()].filter((t) => t.outcome).length;
  const allFinal = () => done() === state.jobs.size && state.counts.redundant === state.replicas.size;
  while (postError === undefined && state.jobs.size > 0 && !signal.aborted && Date.now() < deadline) {
    const head = await publicClient.getBlockNumber({ cacheTime: 0 });
    if (head >= next) {
      const logs = await publicClient.getLogs({ address: watchedAddresses(devnet.deployment), fromBlock: next, toBlock: head });
      next = head + 1n;
      const now = Date.now();
      for (const log of logs) {
        const event = decodeEvent(log, devnet.deployment);
        if (!event) continue;
        events.push(event);
        followEvent(state, event, now);
      }
    }
    bar?.update(done(), state.counts);
    if (allFinal()) break;
    await sleep(250, signal);
  }
  bar?.update(done(), state.counts);
  bar?.stop();
  const lastEnd = Math.max(firstPostAt, ...[...state.jobs.values(), ...state.replicas.values()].map((t) => t.finalAt ?? 0));
  return summarize({
    devnet,
    daemons,
    state,
    events,
    referenceRootOf,
    wallTimeMs: { total: Date.now() - startedAt, jobs: lastEnd - firstPostAt },
    interrupted: signal.aborted || postError !== undefined || state.jobs.size < jobs || !allFinal() || state.replicas.size < DEMO_REDUNDANT,
  });
}

/**
 * The sample dApp, through the SDK: inputs from the bundled images (uploaded to its blob server: a batch's
 * inputs are never inline), a prepaid deposit covering every fee (one token transfer for all the jobs), then
 * every job in one `postBatches` transaction (`postJobs` makes one batch per model: the cls lines, the det
 * pages). Each job gets a track, keyed by its JobMarket id.
 */
async function postInBatches({ devnet, jobs, tracks, print }: { devnet: Devnet; jobs: number; tracks: Map<bigint, JobTrack>; print: DemoParameters["print"] }): Promise<void> {
  const { publicClient, deployment } = devnet;
  const inputs = new Map<string, Uint8Array>();
  const wanted = Array.from({ length: jobs }, (_, i) => DEMO_INPUTS[i % DEMO_INPUTS.length]!);
  for (const { kind, image } of wanted) {
    const key = `${kind}:${image}`;
    if (!inputs.has(key)) inputs.set(key, await demoInput(kind, image));
  }
  await deposit({ sender: devnet.dappSender, publicClient, deployment, amount: DEMO_FEE * BigInt(jobs) });
  const postedAt = Date.now();
  const posted = await postJobs({
    sender: devnet.dappSender,
    publicClient,
    deployment,
    jobs: wanted.map(({ kind, image }) => ({ modelId: BigInt(devnet.modelIds[kind]), input: inputs.get(`${kind}:${image}`)!, fee: DEMO_FEE })),
    upload: { serverUrl: devnet.blobServer.url, token: devnet.uploadToken },
    topUp: false,
  });
  posted.jobs.forEach((job, i) => {
    const { kind, image } = wanted[i]!;
    tracks.set(job.jobId, { kind, inputKey: `${kind}:${image}`, batchId: job.batchId, postedAt });
  });
  const sizes = posted.batchIds.map((batchId) => posted.jobs.filter((j) => j.batchId === batchId).length);
  print(`posted ${jobs} jobs in ${posted.batchIds.length} batches (${sizes.join(" + ")} jobs) in one transaction, paid from a deposit`);
}

/**
 * The sample dApp's redundant jobs, after its batches: DEMO_REDUNDANT jobs on the first cls lines of DEMO_INPUTS,
 * each for DEMO_REPLICAS providers on the copy of the cls model (`registerReplicaModel`), posted to the
 * ReplicaMarket with no constraints. Each one costs `quote(fee, replicas).total` (the fees and a committee
 * reserve per seat), approved once for all. Each gets a track, keyed by its ReplicaMarket id.
 */
async function postRedundant({
  devnet,
  modelId,
  tracks,
  print,
}: {
  devnet: Devnet;
  modelId: number;
  tracks: Map<bigint, ReplicaTrack>;
  print: DemoParameters["print"];
}): Promise<void> {
  const { publicClient, deployment, dappSender } = devnet;
  const lines = DEMO_INPUTS.filter((input) => input.kind === "cls").slice(0, DEMO_REDUNDANT);
  const blobs = await Promise.all(
    lines.map(async ({ kind, image }) => {
      const bytes = await demoInput(kind, image);
      const { url } = await uploadBlob({ serverUrl: devnet.blobServer.url, token: devnet.uploadToken, bytes });
      return { inputHash: blobId(bytes), inputURI: url };
    }),
  );
  const [total] = await publicClient.readContract({
    address: deployment.replicaMarket,
    abi: replicaMarketAbi,
    functionName: "quote",
    args: [DEMO_FEE, BigInt(DEMO_REPLICAS)],
  });
  await dappSender.send({ address: deployment.token, abi: erc20Abi, functionName: "approve", args: [deployment.replicaMarket, total * BigInt(lines.length)] });
  const claimBy = (await publicClient.getBlock()).timestamp + DEMO_REDUNDANT_CLAIM_S;
  const postedAt = Date.now();
  // Sent together (consecutive nonces): one block for all of them.
  const receipts = await Promise.all(
    blobs.map(({ inputHash, inputURI }) =>
      dappSender.send({
        address: deployment.replicaMarket,
        abi: replicaMarketAbi,
        functionName: "post",
        args: [
          {
            modelId: BigInt(modelId),
            feePerReplica: DEMO_FEE,
            claimBy,
            replicas: DEMO_REPLICAS,
            inputHash,
            inputURI,
            constraints: { allowlist: [], region: "0x0000000000000000", executionProviders: 0, minReputationPpm: 0 },
          },
        ],
      }),
    ),
  );
  for (const { receipt } of receipts) {
    for (const log of receipt.logs) {
      if (getAddress(log.address) !== getAddress(deployment.replicaMarket)) continue;
      const event = decodeEventLog({ abi: replicaMarketAbi, data: log.data, topics: log.topics });
      if (event.eventName === "ReplicaJobPosted") tracks.set(event.args.replicaJobId, { postedAt, seats: new Map() });
    }
  }
  print(`posted ${tracks.size} redundant jobs (${DEMO_REPLICAS} providers each, cls model ${modelId}: the cheater sits with the honest workers)`);
}

async function summarize({
  devnet,
  daemons,
  state,
  events,
  referenceRootOf,
  wallTimeMs,
  interrupted,
}: {
  devnet: Devnet;
  daemons: Daemons;
  state: FollowState;
  events: TxEvent[];
  referenceRootOf: Map<string, Hex>;
  wallTimeMs: DemoSummary["wallTimeMs"];
  interrupted: boolean;
}): Promise<DemoSummary> {
  const tracks = state.jobs;
  const all = [...tracks.values()];
  const finalized = all.filter((t) => t.outcome === "finalized");

  // Gas per job, from receipts: each lifecycle transaction's gas divided over the jobs it served.
  const served = lifecycleTransactions({ events, jobs: new Set(tracks.keys()), dapp: devnet.dapp.address });
  const gasUsed = new Map<Hex, bigint>();
  for (const hash of served.keys()) gasUsed.set(hash, (await devnet.publicClient.getTransactionReceipt({ hash })).gasUsed);
  const shares = gasShares(served, gasUsed);
  const total = [...gasUsed.values()].reduce((a, b) => a + b, 0n);
  const group = (ids: bigint[]) => ({
    jobs: ids.length,
    mean: ids.length === 0 ? 0 : Math.round(ids.reduce((sum, id) => sum + (shares.get(id) ?? 0), 0) / ids.length),
  });
  const ids = [...tracks.keys()];
  const gas: DemoSummary["gas"] = {
    total: Number(total),
    transactions: served.size,
    perJob: tracks.size === 0 ? 0 : Math.round(Number(total) / tracks.size),
    inBatch: group(ids.filter((id) => tracks.get(id)!.split === undefined && tracks.get(id)!.outcome === "finalized")),
    splitForAudit: group(ids.filter((id) => tracks.get(id)!.split === "sampled")),
  };
  const batches = [...state.batches.values()];

  type Named = { contract: TxEvent["contract"]; name: string; args: Record<string, unknown> };
  const sum = (items: readonly Named[], field: string) => items.reduce((total, e) => total + ((e.args[field] as bigint | undefined) ?? 0n), 0n);
  const byAccount = (name: string, contract: TxEvent["contract"], field: string, account: Address) =>
    events.filter((e) => e.contract === contract && e.name === name && String(e.args[field]).toLowerCase() === account.toLowerCase());

  const reputations = await readReputation({ publicClient: devnet.publicClient, deployment: devnet.deployment });
  const redundant = countRedundant({ events });
  const providers = devnet.providers.map((account, i) => ({
    address: account.address,
    role: account.address === daemons.cheater ? ("cheater" as const) : ("honest" as const),
    ep: epOf(daemons.workers[i]!),
    jobs: all.filter((t) => t.provider?.toLowerCase() === account.address.toLowerCase()).length,
    // Paid per job in the JobMarket (a job split out of its batch, or a redundant seat upheld by its committee),
    // per batch in the BatchMarket, and per agreeing redundant seat in the ReplicaMarket.
    earned: tokens(
      sum(byAccount("JobFinalized", "market", "provider", account.address), "payout") +
        sum(byAccount("BatchFinalized", "batchMarket", "provider", account.address), "payout") +
        sum(byAccount("ReplicaPaid", "replicaMarket", "provider", account.address), "payout"),
    ),
    slashed: tokens(sum(byAccount("Slashed", "staking", "account", account.address), "slashed")),
    reputation: formatScore(reputations.get(account.address.toLowerCase())?.score ?? REPUTATION_RULE.start),
    seats: {
      taken: redundant.byProvider.get(account.address.toLowerCase())?.seats ?? 0,
      slashed: redundant.byProvider.get(account.address.toLowerCase())?.slashed ?? 0,
    },
  }));
  // A verifier's rewards: audit rewards and the voter pay of disputes the protocol opened (paid from the
  // market's audit pool) and what Verification credited it (a challenge committee's pay, out of the bond;
  // finder's shares; returned bonds), less the challenge bonds it posted: a bond that comes back is no reward.
  const verifiers = devnet.verifiers.map((account) => ({
    address: account.address,
    rewards: tokens(
      sum(byAccount("AuditRewardPaid", "market", "to", account.address), "amount") +
        sum(byAccount("Credited", "verification", "account", account.address), "amount") -
        sum(byAccount("ChallengeOpened", "verification", "challenger", account.address), "bond"),
    ),
    penalties: tokens(sum(byAccount("Slashed", "staking", "account", account.address), "slashed")),
  }));
  const audits = events.filter((e) => e.contract === "verification" && e.name === "AuditRevealed");
  return {
    jobs: tracks.size,
    finalized: finalized.length,
    slashed: all.filter((t) => t.outcome === "slashed").length,
    expired: all.filter((t) => t.outcome === "expired").length,
    // The batches' jobs only: a redundant seat's dispute (its JobMarket job has no track) is in `redundant`.
    disputes: events.filter((e) => e.contract === "market" && e.name === "JobDisputed" && tracks.has(e.args.jobId as bigint)).length,
    sampled: all.filter((t) => t.sampled).length,
    audits: { agreed: audits.filter((e) => Number(e.args.verdict) === 0).length, disagreed: audits.filter((e) => Number(e.args.verdict) === 1).length },
    batches: { posted: batches.length, transactions: new Set(batches.map((b) => b.postTx)).size, sizes: batches.map((b) => b.count) },
    gasPerJob: gas.perJob,
    gas,
    latencyMs: {
      postToReveal: stats(all.flatMap((t) => (t.revealedAt ? [t.revealedAt - t.postedAt] : []))),
      postToFinal: stats(all.flatMap((t) => (t.finalAt ? [t.finalAt - t.postedAt] : []))),
    },
    providers,
    verifiers,
    cheats: countCheats({
      cheater: daemons.cheater,
      events,
      jobs: new Set(tracks.keys()),
      referenceRootOf: (jobId) => {
        const track = tracks.get(jobId);
        return track && referenceRootOf.get(track.inputKey);
      },
    }),
    redundant: { jobs: redundant.jobs, disagreements: redundant.disagreements, slashed: redundant.slashed },
    wallTimeMs,
    interrupted,
  };
}

/**
 * The execution provider a worker ran its jobs on, from its log lines: "inference done" (a job on its own)
 * or, for batches (whose runs log no line per job), "batch committed" after the providers its models'
 * sessions chose ("execution provider chosen"); "none": it made outputs up.
 */
function epOf(worker: Daemon): string {
  const lines = worker.lines();
  const ranBatch = lines.some((l) => l.msg === "batch committed");
  const eps = new Set(
    lines.flatMap((l) =>
      l.msg === "inference done" || (ranBatch && l.msg === "execution provider chosen") ? [String(l.ep)] : String(l.msg).startsWith("output made up") ? ["none"] : [],
    ),
  );
  return eps.size === 0 ? "-" : [...eps].join("+");
}

export function stats(values: readonly number[]): LatencyStats {
  if (values.length === 0) return { mean: 0, p95: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  // Nearest rank: the smallest value with at least 95% of the values at or below it.
  const p95 = sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)]!;
  return { mean: Math.round(mean), p95: Math.round(p95) };
}

function tokens(wei: bigint): string {
  const sign = wei < 0n ? "-" : "";
  const abs = wei < 0n ? -wei : wei;
  const frac = (abs % 10n ** 18n).toString().padStart(18, "0").slice(0, 3);
  return `${sign}${abs / 10n ** 18n}.${frac}`;
}

/** The summary as a table (for the terminal). */
export function formatSummary(s: DemoSummary): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const gas = (n: number) => n.toLocaleString("en-US");
  const lines = [
    "",
    `dinfer demo summary${s.interrupted ? " (interrupted: not every job finished)" : ""}`,
    "",
    `  jobs posted            ${s.jobs}`,
    `  finalized              ${s.finalized}`,
    `  slashed (caught)       ${s.slashed}`,
    `  expired                ${s.expired}`,
    `  sampled for audit      ${s.sampled}   (audits agreed ${s.audits.agreed}, disagreed ${s.audits.disagreed})`,
    `  disputes               ${s.disputes}`,
    `  cheats                 ${s.cheats.faked} faked, ${s.cheats.slashed} slashed, ${s.cheats.finalized} finalized   (the cheater's results in the batches against a reference CPU run)`,
    `  redundant jobs         ${s.redundant.jobs} posted, ${s.redundant.disagreements} disagreed, ${s.redundant.slashed} seat${s.redundant.slashed === 1 ? "" : "s"} slashed by their committees   (${DEMO_REPLICAS} providers each)`,
    `  batches                ${s.batches.posted} in ${s.batches.transactions} transaction${s.batches.transactions === 1 ? "" : "s"}   (${s.batches.sizes.join(" + ") || 0} jobs, paid from a deposit)`,
    `  gas per job            ${gas(s.gas.perJob)}   (${gas(s.gas.total)} gas in ${s.gas.transactions} transactions over the ${s.jobs} jobs)`,
    `    paid with its batch  ${gas(s.gas.inBatch.mean)}   (${s.gas.inBatch.jobs} jobs)`,
    `    split out for audit  ${gas(s.gas.splitForAudit.mean)}   (${s.gas.splitForAudit.jobs} jobs)`,
    `                         (each transaction divided over the jobs it served: the dApp's deposit, the post, a batch's`,
    `                         commit, reveal and finalize, a sampled job's split, reveal and finalize; audits and disputes apart)`,
    `  post -> reveal         mean ${seconds(s.latencyMs.postToReveal.mean)}, p95 ${seconds(s.latencyMs.postToReveal.p95)}`,
    `  post -> final          mean ${seconds(s.latencyMs.postToFinal.mean)}, p95 ${seconds(s.latencyMs.postToFinal.p95)}`,
    `  wall time              ${seconds(s.wallTimeMs.total)}   (first post to last job's end ${seconds(s.wallTimeMs.jobs)})`,
    "",
    "  provider                                     role     ep      jobs  earned    slashed   reputation  seats (slashed)",
    ...s.providers.map(
      (p) =>
        `  ${p.address}   ${p.role.padEnd(7)}  ${p.ep.padEnd(6)}  ${String(p.jobs).padStart(4)}  ${p.earned.padStart(8)}  ${p.slashed.padStart(8)}  ${p.reputation.padStart(10)}  ${`${p.seats.taken} (${p.seats.slashed})`.padStart(15)}`,
    ),
    "",
    "  verifier                                     rewards   penalties",
    ...s.verifiers.map((v) => `  ${v.address}   ${v.rewards.padStart(8)}  ${v.penalties.padStart(8)}`),
    "",
  ];
  return lines.join("\n");
}

function keepBanner(devnet: Devnet, daemons: Daemons, explorerUrl: string): string {
  return [
    "",
    "The network keeps running (Ctrl-C stops it). To reach it:",
    `  explorer            ${explorerUrl}   (JSON under ${explorerUrl}/api/)`,
    `  JSON-RPC            ${devnet.url}   (chain id ${devnet.chainId})`,
    `  deployment id       ${devnet.deploymentId}   (ignition/deployments/${devnet.deploymentId})`,
    `  contracts           ${JSON.stringify(devnet.deployment)}`,
    `  models              cls = ${devnet.modelIds.cls}, det = ${devnet.modelIds.det}, cls for redundant jobs = ${daemons.replicaModelId}`,
    `  dApp blob server    ${devnet.blobServer.url}`,
    `  worker blob servers ${daemons.workers.map((w) => String(w.ready.blob_url)).join(", ")}`,
    `  state and logs      ${devnet.dataDir}`,
    `  Try it as the dApp (Hardhat's well-known dev account #${devnet.dapp.index}, local only):`,
    `    export DINFER_PRIVATE_KEY=${devnet.dapp.key} DINFER_RPC_URL=${devnet.url} DINFER_DEPLOYMENT_ID=${devnet.deploymentId} DINFER_UPLOAD_TOKEN=${devnet.uploadToken}`,
    `    npm run dinfer -- job post --model ${devnet.modelIds.det} --input test/fixtures/images/doc.png --image det --fee 2 --upload ${devnet.blobServer.url} --wait`,
    `  (the honest workers serve det; a cls job goes to the cheater, alone serving cls, and ends slashed)`,
    "",
  ].join("\n");
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
