/**
 * Test-only faults a provider worker can be told to commit, so verification can be tested against
 * real cheaters (and honest noise) end to end. A worker refuses a `fault` option unless the
 * environment says `DINFER_ALLOW_FAULTS=1`: a stray config line must never make a real provider cheat.
 *
 * - `noise`: adds uniform noise in [-amplitude, amplitude] to every float output element (honest GPU
 *   noise when inside the model's tolerance; a wrong result when outside).
 * - `random`: never runs the model: makes every output up (`makeUpOutput`), uniform random numbers in
 *   [0, 1) in the shape the model's output metadata gives, its dynamic dims guessed from the input's.
 *   The cheater that saves all the compute: it answers at once, so it wins claim races. Not one of its
 *   results is an honest one.
 * - `truncate`: reveals the first half of the output blob (not a valid tensor blob any more).
 * - `wrong-model`: runs another .onnx file (`modelPath`) instead of the registered one.
 * - `withhold`: reveals only the root and a URI, and never serves the output blob.
 * - `slow`: honest, but every run takes `delayMs` longer (a slow machine: the worker's measured run time
 *   includes it, so it should leave jobs it would finish after their claim deadline to faster providers).
 *
 * Noise and random values come from a PRNG seeded by the job id, so a restarted worker produces the
 * same output it committed to.
 *
 * A fault is a wrapper around the worker's runner (`withFault`): the worker runs its jobs through it
 * and never knows what it commits; only a withholding runner says its outputs are not to be served.
 */
import { z } from "zod";

import { readFile } from "node:fs/promises";

import { outputRoot } from "../codec/merkle.js";
import { blobId, decodeTensorBlob, DTYPES, encodeTensorBlob, isDType, tensorFromArray, tensorToArray, type Tensor } from "../codec/tensor.js";
import { NonRetryableError } from "../errors.js";
import { hashModel } from "../inference/model.js";
import type { ValueMetadata } from "../inference/validate.js";
import type { Logger } from "../log.js";
import { BlobHashMismatchError } from "../storage/errors.js";
import type { JobRunner, JobRunResult, LoadedModel } from "./job-runner.js";

export const FAULT_MODES = ["noise", "random", "truncate", "wrong-model", "withhold", "slow"] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

export const FaultSchema = z
  .object({
    mode: z.enum(FAULT_MODES),
    /** `noise`: the largest absolute change of an element. */
    amplitude: z.coerce.number().nonnegative().default(0),
    /** `wrong-model`: the .onnx file run instead of the registered model. */
    modelPath: z.string().min(1).optional(),
    /** `slow`: how much longer every run takes (ms). */
    delayMs: z.coerce.number().int().nonnegative().default(0),
  })
  .refine((f) => f.mode !== "wrong-model" || f.modelPath !== undefined, { message: "fault mode wrong-model needs modelPath" })
  .refine((f) => f.mode !== "noise" || f.amplitude > 0, { message: "fault mode noise needs an amplitude > 0" })
  .refine((f) => f.mode !== "slow" || f.delayMs > 0, { message: "fault mode slow needs a delayMs > 0" });

export type Fault = z.output<typeof FaultSchema>;

export const ALLOW_FAULTS_ENV = "DINFER_ALLOW_FAULTS";

/** Throws unless faults are allowed by the environment. */
export function assertFaultsAllowed(fault: Fault | undefined, env: NodeJS.ProcessEnv = process.env): void {
  if (fault && env[ALLOW_FAULTS_ENV] !== "1") {
    throw new NonRetryableError(`the worker option "fault" (${fault.mode}) is for tests only: set ${ALLOW_FAULTS_ENV}=1 to allow it`, {
      code: "FAULTS_NOT_ALLOWED",
    });
  }
}

export type ApplyFaultParameters = { fault: Fault; output: Uint8Array; jobId: bigint };

/**
 * The output a faulty worker reveals in place of `output` (unchanged for wrong-model and withhold).
 * `random` here replaces the float values of a real output; the faulty runner makes a `random`
 * output up without running the model (`makeUpOutput`).
 */
export function applyFault({ fault, output, jobId }: ApplyFaultParameters): Uint8Array {
  switch (fault.mode) {
    case "truncate":
      return output.slice(0, Math.floor(output.length / 2));
    case "noise":
    case "random": {
      const next = prng(jobId);
      const change = (value: number) => (fault.mode === "random" ? next() : value + (next() * 2 - 1) * fault.amplitude);
      const tensors = decodeTensorBlob(output).map((tensor): Tensor => {
        if (tensor.dtype === "float32") {
          const values = tensorToArray(tensor as Tensor<"float32">).map(change);
          return tensorFromArray({ name: tensor.name, dtype: "float32", dims: tensor.dims, values });
        }
        if (tensor.dtype === "float64") {
          const values = tensorToArray(tensor as Tensor<"float64">).map(change);
          return tensorFromArray({ name: tensor.name, dtype: "float64", dims: tensor.dims, values });
        }
        return tensor;
      });
      return encodeTensorBlob(tensors);
    }
    default:
      return output;
  }
}

export type WithFaultParameters = {
  /** The honest runner. */
  runner: JobRunner;
  fault: Fault;
  /** The served models (`random` makes outputs of their output shapes up). */
  models: readonly LoadedModel[];
  /** The largest input blob decoded (`random` reads the input's dims). */
  maxInputBytes: number;
  log: Logger;
};

/**
 * The runner a cheating worker runs its jobs with: `runner` with the fault applied to what it
 * returns. `random` never runs the model: a lazy cheater saves all the compute, which is what makes
 * cheating tempting, and answers at once, which wins it the claim races; even it commits only to the
 * input the job names. `wrong-model` runs `modelPath` instead; `noise` and `truncate` change the
 * real output (hashed again here); `withhold` changes nothing but says its outputs are not to be served.
 */
export function withFault({ runner, fault, models, maxInputBytes, log }: WithFaultParameters): JobRunner {
  const byHash = new Map(models.map((model) => [model.modelHash.toLowerCase(), model]));
  let wrongModelHash: Promise<string> | undefined;
  return {
    stats: () => runner.stats(),
    withholdsOutputs: fault.mode === "withhold",
    // Inputs are read honestly in every mode: even a cheater commits only to the input the job names.
    readInput: runner.readInput?.bind(runner),
    adoptStaged: runner.adoptStaged?.bind(runner),
    async run(parameters): Promise<JobRunResult> {
      const { jobId } = parameters;
      switch (fault.mode) {
        case "random": {
          const { input, verifyInput } = parameters;
          const actual = verifyInput ? blobId(input) : undefined;
          if (verifyInput && actual !== verifyInput.expected) {
            throw new BlobHashMismatchError({ expected: verifyInput.expected, actual: actual!, source: verifyInput.source });
          }
          const model = byHash.get(parameters.modelHash.toLowerCase());
          if (model === undefined) throw new NonRetryableError("fault random: the model is not one the worker serves", { code: "FAULT_MODEL_UNKNOWN" });
          const output = makeUpOutput({
            outputMetadata: model.outputMetadata,
            inputMetadata: model.inputMetadata,
            inputs: decodeTensorBlob(input, { maxBytes: maxInputBytes }),
            jobId,
          });
          const made = { output, outputRoot: outputRoot(output) };
          log.info({ msg: "output made up (fault random: the model was not run)", job_id: jobId.toString(), output_root: made.outputRoot });
          return { ...made, ep: "none", ms: 0, timings: { queuedMs: 0, prepMs: 0, encodeMs: 0, hashMs: 0 } };
        }
        case "wrong-model": {
          wrongModelHash ??= readFile(fault.modelPath!).then((bytes) => hashModel(new Uint8Array(bytes)));
          return runner.run({ ...parameters, modelPath: fault.modelPath!, modelHash: await wrongModelHash });
        }
        case "withhold":
          return runner.run(parameters);
        case "slow": {
          await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
          const result = await runner.run(parameters);
          return { ...result, ms: result.ms + fault.delayMs };
        }
        default: {
          // The run's own output is not stored (no keepOutput): the worker stores the changed one, which it commits.
          const { outputKept: _kept, ...result } = await runner.run({ ...parameters, keepOutput: undefined });
          const output = applyFault({ fault, output: result.output, jobId });
          return { ...result, output, outputRoot: outputRoot(output) };
        }
      }
    },
  };
}

export type MakeUpOutputParameters = {
  /** The model's outputs (`session.outputMetadata`). */
  outputMetadata: readonly ValueMetadata[];
  /** The model's inputs (`session.inputMetadata`) and the job's input tensors. */
  inputMetadata: readonly ValueMetadata[];
  inputs: readonly Tensor[];
  jobId: bigint;
};

/**
 * A made-up output blob, without running the model: every output the metadata names, float values
 * uniform in [0, 1) (other dtypes zero), seeded by the job id (a restart commits the same bytes). A
 * dynamic output dim takes the next dynamic dim of the inputs, in order (batch to batch, height to
 * height for the PaddleOCR models); with none left, 1. The guess may be wrong for other models: the
 * output is wrong either way, which is the point.
 */
export function makeUpOutput({ outputMetadata, inputMetadata, inputs, jobId }: MakeUpOutputParameters): Uint8Array {
  const given = new Map(inputs.map((tensor) => [tensor.name, tensor]));
  const dynamic: number[] = [];
  for (const metadata of inputMetadata) {
    const tensor = given.get(metadata.name);
    const shape = metadata.isTensor ? metadata.shape : [];
    shape.forEach((dim, i) => {
      if (typeof dim !== "number" || dim < 0) dynamic.push(tensor?.dims[i] ?? 1);
    });
  }
  const next = prng(jobId);
  let used = 0;
  const tensors = outputMetadata.map((metadata): Tensor => {
    const shape = metadata.isTensor ? metadata.shape : [];
    const dims = shape.map((dim) => (typeof dim === "number" && dim >= 0 ? dim : (dynamic[used++] ?? 1)));
    const count = dims.reduce((n, d) => n * d, 1);
    const dtype = metadata.isTensor && isDType(metadata.type) ? metadata.type : "float32";
    if (dtype === "float32" || dtype === "float64") {
      return tensorFromArray({ name: metadata.name, dtype, dims, values: Array.from({ length: count }, () => next()) });
    }
    return { name: metadata.name, dtype, dims, data: new Uint8Array(count * DTYPES[dtype].size) };
  });
  return encodeTensorBlob(tensors);
}

/** mulberry32 seeded from the job id: uniform in [0, 1), deterministic. */
function prng(jobId: bigint): () => number {
  let state = Number(BigInt.asUintN(32, jobId * 0x9e3779b1n + 0x6d2b79f5n));
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
