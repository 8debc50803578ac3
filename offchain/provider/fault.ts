/**
 * Test-only faults a provider worker can be told to commit, so verification can be tested against
 * real cheaters (and honest noise) end to end. A worker refuses a `fault` option unless the
 * environment says `DINFER_ALLOW_FAULTS=1`: a stray config line must never make a real provider cheat.
 *
 * - `noise`: adds uniform noise in [-amplitude, amplitude] to every float output element (honest GPU
 *   noise when inside the model's tolerance; a wrong result when outside).
 * - `random`: replaces every float output element by a uniform random number in [0, 1).
 * - `truncate`: reveals the first half of the output blob (not a valid tensor blob any more).
 * - `wrong-model`: runs another .onnx file (`modelPath`) instead of the registered one.
 * - `withhold`: reveals only the root and a URI, and never serves the output blob.
 *
 * Noise and random values come from a PRNG seeded by the job id, so a restarted worker produces the
 * same output it committed to.
 */
import { z } from "zod";

import { decodeTensorBlob, encodeTensorBlob, tensorFromArray, tensorToArray, type Tensor } from "../codec/tensor.js";
import { NonRetryableError } from "../errors.js";

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

/** The output a faulty worker reveals in place of `output` (unchanged for wrong-model and withhold). */
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
