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
 *
 * Noise and random values come from a PRNG seeded by the job id, so a restarted worker produces the
 * same output it committed to.
 */
import { z } from "zod";

import { decodeTensorBlob, DTYPES, encodeTensorBlob, isDType, tensorFromArray, tensorToArray, type Tensor } from "../codec/tensor.js";
import { NonRetryableError } from "../errors.js";
import type { ValueMetadata } from "../inference/validate.js";

export const FAULT_MODES = ["noise", "random", "truncate", "wrong-model", "withhold"] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

export const FaultSchema = z
  .object({
    mode: z.enum(FAULT_MODES),
    /** `noise`: the largest absolute change of an element. */
    amplitude: z.coerce.number().nonnegative().default(0),
    /** `wrong-model`: the .onnx file run instead of the registered model. */
    modelPath: z.string().min(1).optional(),
  })
  .refine((f) => f.mode !== "wrong-model" || f.modelPath !== undefined, { message: "fault mode wrong-model needs modelPath" })
  .refine((f) => f.mode !== "noise" || f.amplitude > 0, { message: "fault mode noise needs an amplitude > 0" });

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
 * `random` here replaces the float values of a real output; the worker itself makes a `random`
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
