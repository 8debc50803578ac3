/**
 * onnxruntime sessions: execution provider selection, a cache keyed by model hash, and one run.
 *
 * Provider choice (`cpu | webgpu | cuda | auto`):
 * - a provider that cannot create a session (webgpu without a GPU, cuda not installed) falls back
 *   to CPU, and the reason is logged;
 * - a GPU provider is test-run on a probe input before it serves: some operators throw only at
 *   run time on WebGPU (FACTS; seen on an H100: MaxPool with an Indices output), and those fall
 *   back to CPU too;
 * - `auto` creates a session on every provider onnxruntime lists, test-runs each, times the ones
 *   that pass (median of a few warm runs) and keeps the fastest.
 *
 * The probe is the caller's representative input (`probeInputs`: the runner passes the job that
 * caused the load) when it fits the model's metadata, else one built from the metadata with
 * dynamic dims `probeDimSize`. The input's size decides the race: on an H100, PP-OCRv4 det ran
 * faster on CPU than on WebGPU at 64x64 and 224x224, and slower at 640x640.
 * When the probe fails on CPU as well, the probe is at fault, not the provider: a caller's input
 * then fails the load with InferenceRunError (nothing is cached), a built probe leaves the
 * requested provider in place, untested. The result says which provider was chosen and why.
 *
 * A GPU device (`deviceId`, the runner's `devices`: one inference thread per GPU) pins the GPU providers
 * to that device: CUDA takes it (`{ name: "cuda", deviceId }`); WebGPU cannot be pinned with
 * onnxruntime-node 1.30 (see `executionProvidersFor`) and is then unavailable, with that reason.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import * as ort from "onnxruntime-node";
import type { Hex } from "viem";

import { isDType, tensorFromArray, type DType, type Tensor } from "../codec/tensor.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { InferenceRunError, ModelSessionError } from "./errors.js";
import { loadModel, normalizeModelHash, type LoadModelReturnType } from "./model.js";
import { outputsToTensors, tensorsToFeeds, validateInputs, type ValueMetadata } from "./validate.js";

export const EXECUTION_PROVIDERS = ["cpu", "webgpu", "cuda"] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];
export const EXECUTION_PROVIDER_CHOICES = [...EXECUTION_PROVIDERS, "auto"] as const;
export type ExecutionProviderChoice = (typeof EXECUTION_PROVIDER_CHOICES)[number];

/** What a session must offer; `ort.InferenceSession` does, and unit tests pass fakes. */
export type ModelSession = Pick<ort.InferenceSession, "run" | "release" | "inputMetadata" | "outputNames">;

export type SessionFactoryParameters = {
  bytes: Uint8Array;
  ep: ExecutionProvider;
  options: ort.InferenceSession.SessionOptions;
  /** The GPU device a GPU provider runs on (`executionProvidersFor`); left out: onnxruntime's default. cpu ignores it. */
  deviceId?: number;
};

/** Creates a session on one provider from model bytes; throws when the provider is unavailable. */
export type SessionFactory = (parameters: SessionFactoryParameters) => Promise<ModelSession>;

/** Why a provider was not used. */
export type ProviderRejection = { ep: ExecutionProvider; stage: "create" | "run"; problem: string };

export type ProviderSelection = {
  ep: ExecutionProvider;
  /** One line for logs and operators, e.g. "auto: webgpu 12.8 ms vs cpu 34.2 ms, median of 3 runs on the caller's input". */
  reason: string;
  /** Median probe-run milliseconds per provider timed (auto with more than one candidate). */
  timings: Partial<Record<ExecutionProvider, number>>;
  rejected: ProviderRejection[];
};

export type SelectSessionOptions = {
  log?: Logger;
  /** Timed warm runs per provider for `auto` (after one untimed test run). */
  timedRuns?: number;
  /** Size given to a dynamic dim of a probe built from metadata (the first axis, taken as the batch, gets 1). */
  probeDimSize?: number;
  /** A representative input to test and time providers on; used when it fits the model's metadata. */
  probeInputs?: readonly Tensor[];
  /** Extra session options (threads); providers are set here. */
  sessionOptions?: ort.InferenceSession.SessionOptions;
  createSession?: SessionFactory;
  /** Providers `auto` tries; defaults to those onnxruntime lists among webgpu, cuda, cpu. */
  providers?: readonly ExecutionProvider[];
  /** The GPU device the GPU providers are created on (given to `createSession`); left out: onnxruntime's default device. */
  deviceId?: number;
};

export type CreateModelSessionParameters = SelectSessionOptions & {
  model: { bytes: Uint8Array; hash: Hex };
  ep?: ExecutionProviderChoice;
};

export type CreateModelSessionReturnType = ProviderSelection & { session: ModelSession };

// onnxruntime's own log prints past the daemons' JSON logs on stderr: graph optimizer warnings, and
// errors such as "Failed to load library libonnxruntime_providers_shared.so" when `auto` tries CUDA
// on a machine without it. Every error that matters reaches us as a thrown JS error, which we log:
// fatal only, in every thread that imports this module, before its first session.
ort.env.logLevel = "fatal";

/** Default session options: sequential execution, full graph optimization, no runtime log below fatal (see `ort.env.logLevel` above). */
export const DEFAULT_SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  graphOptimizationLevel: "all",
  executionMode: "sequential",
  interOpNumThreads: 1,
  logSeverityLevel: 4,
};

/** Default size of a dynamic dim in a probe built from metadata. */
export const DEFAULT_PROBE_DIM_SIZE = 64;

/** Creates a session for the model on the requested provider, falling back to CPU; see the module doc. */
export async function createModelSession({
  model,
  ep = "auto",
  log = silentLogger(),
  timedRuns = 3,
  probeDimSize = DEFAULT_PROBE_DIM_SIZE,
  probeInputs,
  sessionOptions = {},
  createSession = createOrtSession,
  providers = listProviders(),
  deviceId,
}: CreateModelSessionParameters): Promise<CreateModelSessionReturnType> {
  const context: SelectContext = {
    model,
    log: log.child({ model_hash: model.hash }),
    options: { ...DEFAULT_SESSION_OPTIONS, ...sessionOptions },
    createSession,
    probeDimSize,
    probeInputs,
    deviceId,
    rejected: [],
  };
  if (ep === "cpu") return finish(context, { session: await createCpu(context), ep: "cpu", reason: "cpu requested", timings: {} });
  if (ep === "auto") return selectFastest(context, providers, timedRuns);
  return selectRequested(context, ep);
}

export type RunModelSessionParameters = {
  session: ModelSession;
  inputs: readonly Tensor[];
  /** For error context. */
  modelHash: string;
  ep: ExecutionProvider;
  allowNonFinite?: boolean;
};

export type RunModelSessionReturnType = { outputs: Tensor[]; ms: number };

/**
 * Validates the inputs against the session's metadata (InputValidationError), runs, and returns
 * the outputs as codec tensors sorted by name; a runtime failure is an InferenceRunError.
 */
export async function runModelSession({
  session,
  inputs,
  modelHash,
  ep,
  allowNonFinite = false,
}: RunModelSessionParameters): Promise<RunModelSessionReturnType> {
  validateInputs({ tensors: inputs, inputMetadata: session.inputMetadata, allowNonFinite });
  const feeds = tensorsToFeeds(inputs);
  const started = performance.now();
  let results: ort.InferenceSession.ReturnType;
  try {
    results = await session.run(feeds);
  } catch (cause) {
    throw new InferenceRunError({ modelHash, ep, problem: messageOf(cause), cause });
  }
  const ms = performance.now() - started;
  try {
    return { outputs: outputsToTensors(results), ms };
  } catch (cause) {
    throw new InferenceRunError({ modelHash, ep, problem: messageOf(cause), cause });
  }
}

/**
 * Probe inputs from the model's metadata: fixed dims as given, dynamic dims `probeDimSize`
 * (the first axis 1), floats a fixed ramp in [0, 1), integers and bools zero. Inputs whose dtype
 * tensor blobs cannot carry are left out (the probe run then fails, and is reported as such).
 */
export function buildProbeInputs({
  inputMetadata,
  probeDimSize = DEFAULT_PROBE_DIM_SIZE,
}: {
  inputMetadata: readonly ValueMetadata[];
  probeDimSize?: number;
}): Tensor[] {
  const tensors: Tensor[] = [];
  for (const metadata of inputMetadata) {
    if (!metadata.isTensor || !isDType(metadata.type)) continue;
    const dims = metadata.shape.map((dim, axis) => (typeof dim === "number" && dim >= 0 ? dim : axis === 0 ? 1 : probeDimSize));
    const count = dims.reduce((product, dim) => product * dim, 1);
    const values = probeValues(metadata.type, count) as ArrayLike<never>;
    tensors.push(tensorFromArray({ name: metadata.name, dtype: metadata.type, values, dims }));
  }
  return tensors;
}

export type SessionCacheOptions = SelectSessionOptions & {
  /** Injected for tests; defaults to `loadModel` (hash check and random-operator scan). */
  load?: typeof loadModel;
};

export type CachedSession = CreateModelSessionReturnType & { modelHash: Hex };

export type SessionCacheGetParameters = {
  modelPath: string;
  modelHash: string;
  ep: ExecutionProviderChoice;
  /** On a miss, the input to test and time providers on (the job that caused the load). */
  probeInputs?: readonly Tensor[];
};

/**
 * Sessions by model hash and requested provider. The model file is read and checked only on a
 * miss; concurrent requests for the same key share one load; a failed load is not cached.
 */
export class SessionCache {
  private readonly entries = new Map<string, Promise<CachedSession>>();
  private readonly options: SessionCacheOptions;

  constructor(options: SessionCacheOptions = {}) {
    this.options = options;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether `get` would find the session loaded or loading (a load that fails is forgotten). */
  has({ modelHash, ep }: Pick<SessionCacheGetParameters, "modelHash" | "ep">): boolean {
    return this.entries.has(`${normalizeModelHash(modelHash)}:${ep}`);
  }

  async get({ modelPath, modelHash, ep, probeInputs }: SessionCacheGetParameters): Promise<CachedSession> {
    const hash = normalizeModelHash(modelHash);
    const key = `${hash}:${ep}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = this.load({ modelPath, hash, ep, probeInputs });
      this.entries.set(key, entry);
      entry.catch(() => this.entries.delete(key));
    }
    return entry;
  }

  /** Releases every cached session. */
  async releaseAll(): Promise<void> {
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(entries.map(async (entry) => (await entry).session.release()));
  }

  private async load({
    modelPath,
    hash,
    ep,
    probeInputs,
  }: Omit<SessionCacheGetParameters, "modelHash"> & { hash: Hex }): Promise<CachedSession> {
    const { load = loadModel, ...selectOptions } = this.options;
    const model: LoadModelReturnType = await load({ path: modelPath, expectedHash: hash });
    const created = await createModelSession({ ...selectOptions, ...(probeInputs === undefined ? {} : { probeInputs }), model, ep });
    return { ...created, modelHash: hash };
  }
}

type SelectContext = {
  model: { bytes: Uint8Array; hash: Hex };
  log: Logger;
  options: ort.InferenceSession.SessionOptions;
  createSession: SessionFactory;
  probeDimSize: number;
  probeInputs: readonly Tensor[] | undefined;
  deviceId: number | undefined;
  rejected: ProviderRejection[];
};

type Probe = { inputs: Tensor[]; source: "the caller's input" | "a probe built from metadata" };
type Created = { ep: ExecutionProvider; session: ModelSession };

/** An explicit GPU provider: create, test-run, fall back to CPU when either fails. */
async function selectRequested(context: SelectContext, ep: Exclude<ExecutionProvider, "cpu">): Promise<CreateModelSessionReturnType> {
  const created = await tryCreate(context, ep);
  if (created === undefined) {
    const reason = `${ep} requested; fell back to cpu: ${describeRejections(context.rejected)}`;
    return finish(context, { session: await createCpu(context), ep: "cpu", reason, timings: {} });
  }
  const probe = chooseProbe(context, created.session);
  const failure = await testRun(created.session, probe);
  if (failure === undefined) return finish(context, { ...created, reason: `${ep} requested; test run passed on ${probe.source}`, timings: {} });
  const cpu = await createCpu(context);
  const cpuFailure = await testRun(cpu, probe);
  if (cpuFailure === undefined) {
    await reject(context, { ep, stage: "run", problem: failure }, created.session);
    const reason = `${ep} requested; fell back to cpu: ${describeRejections(context.rejected)}`;
    return finish(context, { session: cpu, ep: "cpu", reason, timings: {} });
  }
  await cpu.release().catch(() => undefined);
  return probeFailedEverywhere(context, { created: [created], probe, problem: cpuFailure, keep: created });
}

/** `auto`: every listed provider that creates and passes its test run; timed when more than one is left. */
async function selectFastest(context: SelectContext, providers: readonly ExecutionProvider[], timedRuns: number): Promise<CreateModelSessionReturnType> {
  const created: Created[] = [];
  for (const ep of providers) {
    const candidate = await tryCreate(context, ep);
    if (candidate !== undefined) created.push(candidate);
  }
  if (created.length === 0) {
    const reason = `auto: no provider listed could create a session (${describeRejections(context.rejected)}); cpu`;
    return finish(context, { session: await createCpu(context), ep: "cpu", reason, timings: {} });
  }
  const probe = chooseProbe(context, created[0]!.session);
  const passed: Created[] = [];
  const failures = new Map<ExecutionProvider, string>();
  for (const candidate of created) {
    const failure = await testRun(candidate.session, probe);
    if (failure === undefined) passed.push(candidate);
    else failures.set(candidate.ep, failure);
  }
  if (passed.length === 0) {
    const keep = created.find((candidate) => candidate.ep === "cpu") ?? created[0]!;
    return probeFailedEverywhere(context, { created, probe, problem: failures.get(keep.ep)!, keep });
  }
  for (const candidate of created) {
    if (failures.has(candidate.ep)) await reject(context, { ep: candidate.ep, stage: "run", problem: failures.get(candidate.ep)! }, candidate.session);
  }
  const others = context.rejected.length > 0 ? ` (${describeRejections(context.rejected)})` : "";
  if (passed.length === 1) {
    const [only] = passed as [Created];
    return finish(context, { ...only, reason: `auto: ${only.ep} is the only available provider${others}`, timings: {} });
  }
  const timings: Partial<Record<ExecutionProvider, number>> = {};
  for (const candidate of passed) {
    timings[candidate.ep] = await timeRuns(candidate.session, probe, timedRuns);
    context.log.info({ msg: "execution provider timed", ep: candidate.ep, median_ms: round(timings[candidate.ep]!), runs: timedRuns, probe: probe.source });
  }
  passed.sort((a, b) => timings[a.ep]! - timings[b.ep]!);
  const [best, ...slower] = passed as [Created, ...Created[]];
  await Promise.allSettled(slower.map((candidate) => candidate.session.release()));
  const figures = passed.map((candidate) => `${candidate.ep} ${round(timings[candidate.ep]!)} ms`).join(" vs ");
  const reason = `auto: ${figures}, median of ${timedRuns} runs on ${probe.source}${others}`;
  return finish(context, { ...best, reason, timings });
}

/**
 * The probe failed on every provider tried, CPU included, so it says nothing about the providers.
 * A caller's input is simply bad: the load fails (InferenceRunError) and nothing is kept. A probe
 * built from metadata may not suit the model: `keep` serves, untested.
 */
async function probeFailedEverywhere(
  context: SelectContext,
  { created, probe, problem, keep }: { created: readonly Created[]; probe: Probe; problem: string; keep: Created },
): Promise<CreateModelSessionReturnType> {
  const fromCaller = probe.source === "the caller's input";
  const discard = fromCaller ? created : created.filter((candidate) => candidate !== keep);
  await Promise.allSettled(discard.map((candidate) => candidate.session.release()));
  if (fromCaller) {
    throw new InferenceRunError({ modelHash: context.model.hash, ep: keep.ep, problem: `the input fails on cpu as well: ${problem}` });
  }
  context.log.warn({ msg: "probe input failed on every provider; provider left untested", ep: keep.ep, reason: problem });
  return finish(context, { ...keep, reason: `${keep.ep}: test run inconclusive, the built probe failed on cpu as well (${summarize(problem)})`, timings: {} });
}

/** Creates a session on `ep`; undefined (with the rejection recorded and logged) when the provider is unavailable. */
async function tryCreate(context: SelectContext, ep: ExecutionProvider): Promise<Created | undefined> {
  try {
    return { ep, session: await context.createSession({ bytes: context.model.bytes, ep, options: context.options, deviceId: context.deviceId }) };
  } catch (cause) {
    await reject(context, { ep, stage: "create", problem: messageOf(cause) });
    return undefined;
  }
}

/** The caller's probe when it fits the session's metadata, else one built from the metadata. */
function chooseProbe(context: SelectContext, session: ModelSession): Probe {
  if (context.probeInputs !== undefined) {
    try {
      validateInputs({ tensors: context.probeInputs, inputMetadata: session.inputMetadata });
      return { inputs: [...context.probeInputs], source: "the caller's input" };
    } catch {
      // An invalid job input will fail its own run with a clear error; the probe falls back.
    }
  }
  return { inputs: buildProbeInputs({ inputMetadata: session.inputMetadata, probeDimSize: context.probeDimSize }), source: "a probe built from metadata" };
}

/** Runs the probe once; the failure message, or undefined when it ran. */
async function testRun(session: ModelSession, probe: Probe): Promise<string | undefined> {
  try {
    await session.run(tensorsToFeeds(probe.inputs));
    return undefined;
  } catch (cause) {
    return messageOf(cause);
  }
}

async function reject(context: SelectContext, rejection: ProviderRejection, session?: ModelSession): Promise<void> {
  context.rejected.push(rejection);
  const msg = rejection.stage === "create" ? "execution provider unavailable" : "execution provider failed its test run";
  context.log.warn({ msg, ep: rejection.ep, ...deviceField(context, rejection.ep), stage: rejection.stage, reason: rejection.problem });
  await session?.release().catch(() => undefined);
}

async function createCpu(context: SelectContext): Promise<ModelSession> {
  try {
    return await context.createSession({ bytes: context.model.bytes, ep: "cpu", options: context.options, deviceId: context.deviceId });
  } catch (cause) {
    throw new ModelSessionError({ modelHash: context.model.hash, problem: messageOf(cause), cause });
  }
}

async function timeRuns(session: ModelSession, probe: Probe, runs: number): Promise<number> {
  const feeds = tensorsToFeeds(probe.inputs);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await session.run(feeds);
    times.push(performance.now() - started);
  }
  return median(times);
}

function finish(context: SelectContext, chosen: Omit<CreateModelSessionReturnType, "rejected">): CreateModelSessionReturnType {
  context.log.info({ msg: "execution provider chosen", ep: chosen.ep, ...deviceField(context, chosen.ep), reason: chosen.reason, timings_ms: chosen.timings });
  return { ...chosen, rejected: [...context.rejected] };
}

/** A log line's `device`: the GPU a GPU provider was pinned to (none for cpu, nor without a device). */
function deviceField(context: SelectContext, ep: ExecutionProvider): { device?: number } {
  return ep === "cpu" || context.deviceId === undefined ? {} : { device: context.deviceId };
}

export type ExecutionProvidersForParameters = { ep: ExecutionProvider; deviceId?: number };

/**
 * The `executionProviders` a session on `ep` is created with: the provider's name, or, for CUDA pinned to
 * a GPU, `{ name: "cuda", deviceId }` (CUDA's device_id). cpu has no device and ignores it.
 *
 * WebGPU cannot be pinned with onnxruntime-node 1.30: its binding refuses a `deviceId` option ("WebGPU EP has
 * an unrecognized option"), and onnxruntime's own WebGPU `deviceId` is a context id that wants a Dawn
 * instance and device of the caller's, not a GPU index: every session lands on Dawn's default adapter.
 * Asked for a pinned WebGPU, this throws, and the provider is unavailable to that thread (with this reason)
 * rather than running on a GPU other than its own.
 */
export function executionProvidersFor({ ep, deviceId }: ExecutionProvidersForParameters): ort.InferenceSession.ExecutionProviderConfig[] {
  if (ep === "cpu" || deviceId === undefined) return [ep];
  if (ep === "webgpu") {
    throw new Error(
      `webgpu cannot be pinned to GPU device ${deviceId}: onnxruntime-node 1.30 takes no device for WebGPU (every session gets Dawn's default adapter); use cuda for several GPUs, or list no GPU devices`,
    );
  }
  return [{ name: ep, deviceId }];
}

async function createOrtSession({ bytes, ep, options, deviceId }: SessionFactoryParameters): Promise<ModelSession> {
  const executionProviders = executionProvidersFor({ ep, deviceId });
  if (ep === "webgpu" && !hasVulkanLoader()) {
    // Dawn (WebGPU's backend) would print its own "Couldn't load Vulkan" warning to stderr, past
    // onnxruntime's log level, into the daemons' JSON log stream: say it here instead.
    throw new Error("no Vulkan loader (libvulkan.so.1) on this machine: WebGPU needs it and a GPU driver (Debian: apt-get install libvulkan1)");
  }
  return ort.InferenceSession.create(bytes, { ...options, executionProviders });
}

let vulkanLoader: boolean | undefined;

/**
 * Whether the dynamic loader can find libvulkan.so.1 (Linux: the loader cache or LD_LIBRARY_PATH);
 * true elsewhere (Dawn uses Metal or Direct3D there).
 */
export function hasVulkanLoader({ platform = process.platform, env = process.env }: { platform?: NodeJS.Platform; env?: NodeJS.ProcessEnv } = {}): boolean {
  if (platform !== "linux") return true;
  if (vulkanLoader !== undefined && env === process.env) return vulkanLoader;
  const dirs = (env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean);
  let found = dirs.some((dir) => existsSync(path.join(dir, "libvulkan.so.1")));
  if (!found) {
    try {
      found = readFileSync("/etc/ld.so.cache").includes("libvulkan.so.1");
    } catch {
      found = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"].some((dir) => existsSync(path.join(dir, "libvulkan.so.1")));
    }
  }
  if (env === process.env) vulkanLoader = found;
  return found;
}

/** Providers onnxruntime lists, GPU ones first (cuda is listed even when its libraries are not installed). */
function listProviders(): ExecutionProvider[] {
  const listed = new Set(ort.listSupportedBackends().map((backend) => backend.name));
  return (["webgpu", "cuda", "cpu"] as const).filter((ep) => ep === "cpu" || listed.has(ep));
}

function describeRejections(rejected: readonly ProviderRejection[]): string {
  return rejected.map(({ ep, stage, problem }) => `${ep} ${stage === "create" ? "unavailable" : "failed its test run"}: ${summarize(problem)}`).join("; ");
}

function probeValues(dtype: DType, count: number): ArrayLike<number> | ArrayLike<bigint> {
  if (dtype === "int64") return new BigInt64Array(count);
  if (dtype === "float32" || dtype === "float64") return Float64Array.from({ length: count }, (_, i) => (i % 251) / 251);
  return new Uint8Array(count); // zeros: valid for every other dtype, float16 bits included
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/**
 * The readable part of an onnxruntime message for a one-line reason: its first line, without the
 * source location and failed-check prefix ("/onnxruntime_src/...cc:136 ... was false. "). Logs keep it whole.
 */
function summarize(text: string): string {
  const line = text.split("\n").find((candidate) => candidate.trim() !== "")?.trim() ?? text;
  const check = line.lastIndexOf(" was false. ");
  return check === -1 ? line : line.slice(check + " was false. ".length);
}

function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
