/**
 * Re-execution, the part every verifier duty shares (audit, committee vote, watchdog, `dinfer audit`):
 * the model checked against the registry, the job's input checked against its inputHash, the
 * provider's output checked against its revealed root, and the two outputs compared under the
 * model's tolerance policy (offchain/codec/tolerance.ts).
 *
 * An output is fetched from every location known for it (docs/PROTOCOL.md, section 7, "Output
 * availability"); one no location serves is reported as a problem (and counts as wrong once the daemon
 * sees no time left before its deadline); it never throws. What throws is the verifier's own trouble:
 * its model file, the input of the dApp, the RPC.
 */
import type { Hex, PublicClient } from "viem";

import { modelRegistryAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import type { JobRecord } from "../chain/jobs.js";
import { hexToBytes } from "../codec/hex.js";
import { blobId, encodeTensorBlob } from "../codec/tensor.js";
import { compareOutputs, toleranceFromChain, type CompareOutputsReturnType, type TolerancePolicy } from "../codec/tolerance.js";
import { DinferError, NonRetryableError, RetryableError } from "../errors.js";
import { InferenceRunError, InputValidationError, ModelFormatError, ModelHashMismatchError, ModelSessionError, UnverifiableModelError } from "../inference/errors.js";
import { loadModel } from "../inference/model.js";
import type { InferenceRunner, RunParameters, RunReturnType } from "../inference/runner.js";
import type { Logger } from "../log.js";
import type { ExecutionProviderChoice } from "../inference/session.js";
import { BlobHashMismatchError, BlobTooLargeError } from "../storage/errors.js";
import { fetchBlob } from "../storage/fetch.js";
import { firstServed } from "../storage/first-served.js";
import type { IpfsBlobReader } from "../storage/ipfs-uri.js";
import { fetchOutput, type FetchedOutput } from "../storage/output.js";
import type { BlobStore } from "../storage/store.js";
import type { OutputLocations } from "./views.js";

/** A model ready to re-execute: its file checked against the registry hash, its tolerance policy read. */
export type VerifierModel = {
  modelId: number;
  path: string;
  modelHash: Hex;
  policy: TolerancePolicy;
  /** The owner's opt-in to NaN/Inf inputs: a job's non-finite input is judged, not refused. */
  nonFiniteInputs: boolean;
  /** The registry's tolerance struct as read (for reports). */
  tolerance: { kind: number; axis: number; absTolE12: bigint; relTolE12: bigint };
};

export type PrepareVerifierModelParameters = {
  modelId: number;
  path: string;
  publicClient: PublicClient;
  deployment: Deployment;
};

/** Reads the model's registry entry, checks the local file's sha256 against it, and converts its tolerance. */
export async function prepareVerifierModel({ modelId, path, publicClient, deployment }: PrepareVerifierModelParameters): Promise<VerifierModel> {
  const registered = (await publicClient.readContract({
    address: deployment.registry,
    abi: modelRegistryAbi,
    functionName: "model",
    args: [BigInt(modelId)],
  })) as { modelHash: Hex; nonFiniteInputs: boolean; tolerance: { kind: number; axis: number; absTolE12: bigint; relTolE12: bigint } };
  const { hash } = await loadModel({ path, expectedHash: registered.modelHash });
  const tolerance = {
    kind: Number(registered.tolerance.kind),
    axis: Number(registered.tolerance.axis),
    absTolE12: BigInt(registered.tolerance.absTolE12),
    relTolE12: BigInt(registered.tolerance.relTolE12),
  };
  return { modelId, path, modelHash: hash, policy: toleranceFromChain(tolerance), nonFiniteInputs: registered.nonFiniteInputs === true, tolerance };
}

export type WarmVerifierModelsParameters = {
  runner: InferenceRunner;
  models: readonly VerifierModel[];
  ep: ExecutionProviderChoice;
  /** Limit of each warm-up run (after the load). */
  timeoutMs: number;
};

export type WarmVerifierModelsReturnType = { ms: number; models: { modelId: number; ms: number }[] };

/**
 * Creates every served model's session in every inference thread before the daemon's first tick: on a
 * loaded machine a session created at the first audit came 29-41 s late and missed its blind commit
 * (issue 10). Each thread is handed an input that fits no model (a tensor blob with no tensors): the
 * thread reads and checks the model file, creates its session on the execution provider (a GPU one is
 * test-run on a probe built from the model's metadata, offchain/inference/session.ts), caches it, then
 * refuses the input itself (InputValidationError), the sign that the session is ready. Any other error
 * (the model does not load on this machine) is thrown: a verifier that cannot run its models must not start.
 */
export async function warmVerifierModels({ runner, models, ep, timeoutMs }: WarmVerifierModelsParameters): Promise<WarmVerifierModelsReturnType> {
  const started = performance.now();
  // Every thread the runner has (`threads`, or one per GPU device) keeps sessions of its own: each is warmed.
  const threads = runner.stats().workers;
  const warmed: { modelId: number; ms: number }[] = [];
  const empty = encodeTensorBlob([]);
  for (const model of models) {
    const t0 = performance.now();
    // One run per thread, all at once, each alone (never stacked into one thread's batch): a busy thread
    // never takes a second one, so each thread gets one.
    await Promise.all(
      Array.from({ length: threads }, async () => {
        try {
          await runner.run({ modelPath: model.path, modelHash: model.modelHash, ep, input: empty, timeoutMs, alone: true });
        } catch (error) {
          if (!(error instanceof InputValidationError)) throw error;
        }
      }),
    );
    warmed.push({ modelId: model.modelId, ms: Math.round(performance.now() - t0) });
  }
  return { ms: Math.round(performance.now() - started), models: warmed };
}

export type ReExecuteParameters = Pick<RunParameters, "modelPath" | "modelHash" | "input" | "timeoutMs" | "allowNonFinite"> & {
  runner: Pick<InferenceRunner, "run">;
  /** The provider asked for (the runner's default: "auto"). */
  ep?: ExecutionProviderChoice;
  log: Logger;
  /** Called once per run tried again on CPU after its GPU provider failed: whether the CPU run gave an output. */
  onCpuRerun?: (outcome: "ran" | "failed") => void;
};

/** Our own output, or why the job's input gives none (the caller judges that input invalid). */
export type ReExecuteReturnType = { ok: true; result: RunReturnType } | { ok: false; problem: string };

/**
 * Our own run of a job's input, whose failure counts against the provider (`ok: false`: the caller judges
 * the input invalid), so only a failure that is the input's: one on CPU, or the input refused before any run
 * (InputValidationError: it does not fit the model's own metadata). A GPU provider's failure (out of memory,
 * an operator it lacks, a device lost) is ours, not the input's: the run is tried again on CPU (a session of
 * its own beside the GPU one, offchain/inference/session.ts) and only that run's failure judges the input.
 * What is ours whatever the provider is thrown, never judged: a retryable failure (a timeout, a dead thread)
 * and a model this machine cannot load.
 */
export async function reExecute({ runner, ep = "auto", log, onCpuRerun, ...run }: ReExecuteParameters): Promise<ReExecuteReturnType> {
  let failure: unknown;
  try {
    return { ok: true, result: await runner.run({ ...run, ep }) };
  } catch (error) {
    if (isOwnFailure(error)) throw error;
    // "auto" may have chosen CPU for this model: its failure there is already a CPU run's.
    const ranOnCpu = ep === "cpu" || (error instanceof InferenceRunError && error.parameters.ep === "cpu");
    if (ranOnCpu || error instanceof InputValidationError) return { ok: false, problem: describe(error) };
    failure = error;
  }
  try {
    const result = await runner.run({ ...run, ep: "cpu" });
    onCpuRerun?.("ran");
    log.warn({ msg: "re-execution failed on the GPU provider, ran on CPU", model_hash: run.modelHash, ep, err: describe(failure) });
    return { ok: true, result };
  } catch (error) {
    if (isOwnFailure(error)) throw error;
    onCpuRerun?.("failed");
    log.warn({ msg: "re-execution failed on the GPU provider and on CPU", model_hash: run.modelHash, ep, err: describe(failure), cpu_err: describe(error) });
    return { ok: false, problem: `${describe(error)} (on ${ep}: ${describe(failure)})` };
  }
}

/** A run failure that says nothing of the input: tried again later (retryable) or the model is unusable here. */
function isOwnFailure(error: unknown): boolean {
  return (
    error instanceof RetryableError ||
    error instanceof ModelSessionError ||
    error instanceof ModelHashMismatchError ||
    error instanceof ModelFormatError ||
    error instanceof UnverifiableModelError
  );
}

export type FetchOptions = {
  maxBytes: number;
  ipfsGateway?: string;
  /** An IPFS node reads `ipfs://` inputs and outputs (the gateway is then not used). */
  ipfs?: IpfsBlobReader;
  allowFileUris: boolean;
  /** Read hosts on non-public addresses (`fetchBlob`'s `allowPrivateHosts`, and its default: yes); the daemon turns it on only on a devnet. */
  allowPrivateHosts?: boolean;
  timeoutMs?: number;
  store?: BlobStore;
};

/**
 * Where else a job's input may be had: the provider's own blob server, which serves the inputs of the jobs
 * it committed to beside their outputs (`<base>/blobs/<inputHash>` for every `<base>/outputs/<root>` output
 * location, and every `<base>/blobs/<id>` of older workers). A dApp that stops serving its input after the provider fetched it cannot so make honest work
 * unverifiable. Whatever comes from there is checked against the input hash like the dApp's own bytes.
 */
export function providerInputLocations({ inputHash, outputUris }: { inputHash: Hex; outputUris: readonly string[] }): string[] {
  const found = new Set<string>();
  for (const uri of outputUris) {
    const match = /^(https?:\/\/.+\/)(?:blobs|outputs)\/0x[0-9a-fA-F]{64}$/.exec(uri);
    if (match) found.add(`${match[1]}blobs/${inputHash.toLowerCase()}`);
  }
  return [...found];
}

/**
 * The input the job names, inline or fetched, checked against its inputHash: its own URI and each of
 * `fallbackUris` (see providerInputLocations) are read at once, within `budgetMs` for them all (offchain/
 * storage/first-served.ts), and the first to serve bytes of the input hash wins. Throws the job URI's error
 * when no location serves it (a BlobTooLargeError first: a location served more than `maxBytes`): an error about where the input is, never one about the provider's result
 * (the daemon decides what an input served nowhere means, docs/PROTOCOL.md section 5).
 */
export async function fetchJobInput({
  record,
  fallbackUris = [],
  budgetMs,
  ...options
}: { record: JobRecord; fallbackUris?: readonly string[] | (() => Promise<readonly string[]>); budgetMs?: number } & FetchOptions): Promise<Uint8Array> {
  if (record.inlineInput.length > 2) {
    const bytes = hexToBytes(record.inlineInput);
    if (!isZero(record.inputHash) && blobId(bytes) !== record.inputHash.toLowerCase()) {
      throw new BlobHashMismatchError({ expected: record.inputHash, actual: blobId(bytes), source: "inline input" });
    }
    return bytes;
  }
  const fallbacks = typeof fallbackUris === "function" ? await fallbackUris().catch(() => []) : fallbackUris;
  const served = await firstServed({
    uris: [record.inputURI, ...fallbacks],
    budgetMs,
    read: async (uri, signal) => {
      refuseFileUri(uri, options.allowFileUris);
      const { maxBytes, ipfsGateway, ipfs, timeoutMs, store, allowPrivateHosts } = options;
      return fetchBlob({ uri, expectedHash: record.inputHash, maxBytes, ipfsGateway, ipfs, timeoutMs, store, signal, allowPrivateHosts });
    },
  });
  if (served.ok) return served.value;
  // A location that served more than the cap (the protocol's: no input an honest provider ran is larger) is named
  // first, whatever the job's URI said: the log then says which location sent junk.
  const tooLarge = served.failures.find(({ error }) => error instanceof BlobTooLargeError);
  throw (tooLarge ?? served.failures[0]!).error;
}

/**
 * The locations of a job's revealed output: inline bytes, the reveal's URI, every URI the provider
 * announced, and the auditor's own output when its root equals the provider's (the same bytes).
 */
export function providerOutputLocations({ record, locations }: { record: JobRecord; locations: OutputLocations }): { root: Hex; inline?: Hex; uris: string[] } {
  const root = record.job.result;
  // The reveal's URI and an equal-root auditor's copy first, then the provider's announcements newest first:
  // only the first MAX_LOCATIONS are read (offchain/storage/first-served.ts).
  const uris = [record.outputURI ?? ""];
  if (locations.audit && locations.audit.outputRoot.toLowerCase() === root.toLowerCase()) uris.push(locations.audit.outputURI);
  uris.push(...[...locations.announced].reverse());
  return { root, inline: record.inlineOutput, uris: uris.filter((u) => u !== "") };
}

/** The provider's revealed output from any of its known locations, checked against the revealed root. */
export async function fetchProviderOutput({ record, locations = { announced: [] }, ...options }: { record: JobRecord; locations?: OutputLocations } & FetchOptions): Promise<FetchedOutput> {
  return fetchOutput({ ...providerOutputLocations({ record, locations }), ...options });
}

/** The verifier's conclusion about an output under judgement (the provider's, or an agreeing auditor's). */
export type Judgement = CompareOutputsReturnType & {
  /** The output's root equals the verifier's own: an instant agreement (once the output is served). */
  rootsEqual: boolean;
  /** No location served the output (the caller decided that now counts as wrong). */
  unavailable?: string;
  /** The tolerance comparison threw and byte equality judged instead: why. */
  fallback?: string;
};

export type JudgeParameters = {
  /** The verifier's own output blob. */
  own: Uint8Array;
  /** Its output root (the runner computed it with the output). */
  ownRoot: Hex;
  /** The output under judgement, as fetched: the provider's, or an agreeing auditor's. */
  provider: FetchedOutput;
  /** Its root (the provider's revealed root, or the auditor's). */
  providerRoot: Hex;
  policy: TolerancePolicy;
  maxBytes?: number;
};

/**
 * Judges an output against the verifier's own: one that no location served (when the caller decided
 * that counts as wrong) disagrees, even with a root equal to ours; equal roots agree at once; otherwise
 * the tolerance policy decides.
 *
 * A comparison that throws (the policy does not fit the outputs, our own output does not decode) must
 * never leave a job unjudged, or a cheater on such a model could never be caught: the judgement falls
 * back to byte equality, the strictest policy. Equal roots agree; different roots disagree, and the
 * caller acts as for any disagreement (docs/PROTOCOL.md section 7, "Model admission": registration
 * refuses a policy that does not fit, so only a model admitted before the checks, or a broken verifier,
 * gets here). `fallback` says why.
 */
export function judge({ own, ownRoot, provider, providerRoot, policy, maxBytes }: JudgeParameters): Judgement {
  const rootsEqual = ownRoot.toLowerCase() === providerRoot.toLowerCase();
  // A result nobody can fetch is worth nothing to the dApp, whatever its root (docs/PROTOCOL.md, section 7).
  if (!provider.ok) {
    return { verdict: "disagree", reason: `output served nowhere: ${provider.problem}`, tensors: [], rootsEqual, unavailable: provider.problem };
  }
  let compared: CompareOutputsReturnType;
  try {
    compared = compareOutputs({ expected: own, actual: provider.bytes, policy, maxBytes });
  } catch (error) {
    const fallback = `the tolerance comparison failed (${describe(error)}); judged by byte equality of the output roots`;
    if (rootsEqual) return { verdict: "agree", tensors: [], rootsEqual, fallback };
    return { verdict: "disagree", reason: `output root ${providerRoot} differs from ours ${ownRoot}: ${fallback}`, tensors: [], rootsEqual, fallback };
  }
  return rootsEqual ? { ...compared, verdict: "agree", rootsEqual } : { ...compared, rootsEqual };
}

function refuseFileUri(uri: string, allowFileUris: boolean): void {
  if (uri.startsWith("file:") && !allowFileUris) {
    throw new NonRetryableError("file:// URIs are refused (allowFileUris is off)", { code: "OUTPUT_URI_REFUSED", details: { uri } });
  }
}

export function describe(error: unknown): string {
  if (error instanceof DinferError) return `${error.name}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export function bytesToHexString(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}`;
}

function isZero(hash: Hex): boolean {
  return /^0x0*$/.test(hash);
}
