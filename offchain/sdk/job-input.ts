/**
 * What every post builds and checks before it sends anything, whichever market it goes to: the input's
 * tensor blob from the form the dApp has it in (`JobInput`), and the fee checked against the model's record
 * in the registry (its price floor when none is given). `offchain/sdk/client.ts` (single jobs, batches) and
 * `offchain/sdk/replicas.ts` (redundant jobs) share them.
 */
import type { Address, PublicClient } from "viem";

import { modelRegistryAbi } from "../chain/abis.js";
import { encodeTensorBlob, type Tensor } from "../codec/tensor.js";
import { NonRetryableError } from "../errors.js";
import {
  imageToClsInput,
  imageToDetInput,
  type DetInputDtype,
  type ImageSource,
  type ImageToClsInputParameters,
  type ImageToDetInputParameters,
} from "./image.js";

/**
 * A job's input, in whichever form the dApp has it:
 * - `{ blob }`: a tensor blob already encoded (`encodeTensorBlob`);
 * - `{ tensors }`: named tensors, encoded here;
 * - `{ image, preprocess: "cls" }`: one or more text-line images, turned into the PaddleOCR angle
 *   classifier's `[N, 3, 48, 192]` input (`imageToClsInput`);
 * - `{ image, preprocess: "det" }`: an image turned into the PaddleOCR text detector's input
 *   (`imageToDetInput`, 640 x 640 padded by default; `options: { dtype: "uint8" }`: the image's bytes, for det
 *   made by `withImageInput`).
 */
export type JobInput =
  | { blob: Uint8Array }
  | { tensors: readonly Tensor[] }
  | { image: ImageSource | readonly ImageSource[]; preprocess: "cls"; options?: ImageToClsInputParameters }
  | { image: ImageSource; preprocess: "det"; options?: ImageToDetInputParameters & DetInputDtype };

/** The tensor blob for a job input (see `JobInput`). */
export async function jobInputBlob(input: JobInput): Promise<Uint8Array> {
  if ("blob" in input) return input.blob;
  if ("tensors" in input) return encodeTensorBlob(input.tensors);
  if ("image" in input) {
    if (input.preprocess === "cls") return encodeTensorBlob([await imageToClsInput(input.image, input.options)]);
    if (input.preprocess === "det") return encodeTensorBlob([(await imageToDetInput(input.image, input.options)).tensor]);
  }
  throw new NonRetryableError('a job input is { blob }, { tensors }, or { image, preprocess: "cls" | "det" }', {
    code: "BAD_JOB_INPUT",
    details: { keys: Object.keys(input as object) },
  });
}

export type CheckedFeeParameters = {
  publicClient: PublicClient;
  registry: Address;
  modelId: bigint;
  /** The fee wanted; the model's price floor when left out. */
  fee?: bigint;
};

/**
 * The fee to post with, checked against the registry before anything is sent: the model must be
 * active (`MODEL_INACTIVE`) and the fee at least its price floor (`FEE_BELOW_FLOOR`). The market checks
 * both again; asking first gives a clear error and spends no approval.
 */
export async function checkedFee({ publicClient, registry, modelId, fee }: CheckedFeeParameters): Promise<bigint> {
  const [active, priceFloor] = await publicClient.readContract({ address: registry, abi: modelRegistryAbi, functionName: "terms", args: [modelId] });
  if (!active) {
    throw new NonRetryableError(`model ${modelId} is not registered or not active`, { code: "MODEL_INACTIVE", details: { modelId: modelId.toString() } });
  }
  const paid = fee ?? priceFloor;
  if (paid < priceFloor) {
    throw new NonRetryableError(`fee ${paid} is below model ${modelId}'s price floor ${priceFloor}`, {
      code: "FEE_BELOW_FLOOR",
      details: { modelId: modelId.toString(), fee: paid.toString(), priceFloor: priceFloor.toString() },
    });
  }
  return paid;
}
