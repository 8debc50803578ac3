/**
 * A job's input checked against the model before the fee is escrowed. Workers skip a job whose input
 * does not fit the model's declared inputs (offchain/inference/input-rules.ts, the same rules): posted
 * anyway, it waits unclaimed until it can be expired and its fee withdrawn. So the SDK and
 * `dinfer job post` check first: the input must be a tensor blob (DTN1, docs/PROTOCOL.md section 5)
 * whose tensors match the model's inputs by name, dtype and shape, with finite floats unless the model
 * opted in to NaN and Inf.
 *
 * The model's file comes from the caller (`modelBytes`, `modelFile`) or from the URI it is registered
 * with (http(s), ipfs with a gateway, file://); either way its sha256 must be the registered modelHash. The
 * registered URI is the model owner's choice: off a devnet it is not read on a private host (`allowPrivateHosts`).
 */
import { readFile } from "node:fs/promises";

import type { Address, PublicClient } from "viem";

import { modelRegistryAbi } from "../chain/abis.js";
import { decodeTensorBlob, type Tensor } from "../codec/tensor.js";
import { CodecError, DinferError, NonRetryableError } from "../errors.js";
import { InputValidationError } from "../inference/errors.js";
import { declaredInputs, validateInputs, type InputMetadata } from "../inference/input-rules.js";
import { hashModel } from "../inference/model.js";
import { readBlob } from "../storage/fetch.js";
import { privateHostsAllowed } from "../storage/host-policy.js";

/** Largest model file fetched for a check. */
export const MAX_MODEL_BYTES = 2 ** 31 - 1;

/** Where the model file comes from: bytes or a path the caller has; else the registered URI. */
export type ModelSource = { modelBytes: Uint8Array } | { modelFile: string } | { uri?: undefined };

export type ModelInputs = {
  modelId: bigint;
  inputs: InputMetadata[];
  /** The owner's opt-in to NaN and Inf inputs, frozen in the registry. */
  nonFiniteInputs: boolean;
};

export type ReadModelInputsParameters = {
  publicClient: PublicClient;
  registry: Address;
  modelId: bigint;
  source?: ModelSource;
  ipfsGateway?: string;
  /**
   * Read the model's registered URI on a loopback, private or link-local host. Its owner chose it, and a dApp's
   * server must not send requests into its own network for a stranger (offchain/storage/host-policy.ts). Left
   * out: on only on a devnet (chain id 31337, asked of `publicClient`), as the daemons decide it; refused, the
   * check fails with `MODEL_UNAVAILABLE` (give the file instead, `modelBytes` or `modelFile`).
   */
  allowPrivateHosts?: boolean;
};

/** The input is no tensor blob, or does not fit the model's declared inputs. */
export class JobInputError extends NonRetryableError {
  override name = "JobInputError";
}

/** The model file cannot be had or is not the registered one: the input could not be checked. */
export class ModelUnavailableError extends NonRetryableError {
  override name = "ModelUnavailableError";
}

const NO_CHECK_HINT = "give the model's .onnx file (--model-file, or modelBytes) or skip the check (--no-check, or check: false)";

/** A registered model's declared inputs, from its file (checked against the registry's modelHash). */
export async function readModelInputs({ publicClient, registry, modelId, source = {}, ipfsGateway, allowPrivateHosts }: ReadModelInputsParameters): Promise<ModelInputs> {
  const spec = await publicClient.readContract({ address: registry, abi: modelRegistryAbi, functionName: "model", args: [modelId] });
  if (/^0x0*$/.test(spec.modelHash)) {
    throw new NonRetryableError(`model ${modelId} is not registered: check the id (dinfer model show <id>)`, { code: "MODEL_NOT_FOUND", details: { modelId: modelId.toString() } });
  }
  const privateHosts = () => privateHostsAllowed(allowPrivateHosts, publicClient);
  const bytes = await modelBytesFrom({ source, uri: spec.uri, modelId, ipfsGateway, privateHosts });
  const actual = hashModel(bytes);
  if (actual !== spec.modelHash.toLowerCase()) {
    throw new ModelUnavailableError(`the model file given has sha256 ${actual}, not model ${modelId}'s registered ${spec.modelHash}: give the file registered as model ${modelId}`, {
      code: "MODEL_FILE_MISMATCH",
      details: { modelId: modelId.toString(), expected: spec.modelHash, actual },
    });
  }
  let inputs: InputMetadata[];
  try {
    inputs = declaredInputs(bytes);
  } catch (cause) {
    throw new ModelUnavailableError(`model ${modelId}'s file cannot be read as ONNX (${messageOf(cause)}): ${NO_CHECK_HINT}`, { code: "MODEL_UNREADABLE", cause });
  }
  return { modelId, inputs, nonFiniteInputs: spec.nonFiniteInputs };
}

export type CheckInputFitsParameters = { input: Uint8Array; model: ModelInputs };

/**
 * Throws `JobInputError` unless `input` is a tensor blob the model takes: the message names the
 * tensor and field at fault and what to do about it.
 */
export function checkInputFits({ input, model }: CheckInputFitsParameters): Tensor[] {
  let tensors: Tensor[];
  try {
    tensors = decodeTensorBlob(input);
  } catch (cause) {
    const field = cause instanceof CodecError ? cause.message : messageOf(cause);
    throw new JobInputError(
      `the input is not a DTN1 tensor blob (${field}): build one with \`dinfer tensor encode\` from JSON, .npy or an image (README: "Tensor blobs")`,
      { code: "INPUT_NOT_A_BLOB", cause },
    );
  }
  try {
    validateInputs({ tensors, inputMetadata: model.inputs, allowNonFinite: model.nonFiniteInputs });
  } catch (cause) {
    if (!(cause instanceof InputValidationError)) throw cause;
    const remedy =
      cause.field.startsWith("data[")
        ? `model ${model.modelId} did not opt in to NaN or Inf inputs: replace them`
        : `make the input match (\`dinfer tensor show\` prints what it holds)`;
    throw new JobInputError(`model ${model.modelId} cannot take this input: ${cause.message}; the model's inputs: ${describeInputs(model.inputs)}. ${capitalize(remedy)}`, {
      code: "INPUT_DOES_NOT_FIT",
      details: { modelId: model.modelId.toString(), tensor: cause.tensor, field: cause.field },
      cause,
    });
  }
  return tensors;
}

/** "x float32[1, 3, 48, 192]": the inputs as a person reads them (symbolic dims by name, unknown as ?). */
export function describeInputs(inputs: readonly InputMetadata[]): string {
  return inputs
    .map((input) => (input.isTensor ? `${input.name} ${input.type}[${input.shape.map((dim) => (dim === "" || (typeof dim === "number" && dim < 0) ? "?" : dim)).join(", ")}]` : `${input.name} (not a tensor)`))
    .join(", ");
}

async function modelBytesFrom({
  source,
  uri,
  modelId,
  ipfsGateway,
  privateHosts,
}: {
  source: ModelSource;
  uri: string;
  modelId: bigint;
  ipfsGateway?: string;
  /** Whether the registered URI may be on a private host: asked only when it is read. */
  privateHosts: () => Promise<boolean>;
}): Promise<Uint8Array> {
  if ("modelBytes" in source) return source.modelBytes;
  if ("modelFile" in source && source.modelFile !== undefined) {
    try {
      return new Uint8Array(await readFile(source.modelFile));
    } catch (cause) {
      throw new ModelUnavailableError(`cannot read the model file ${source.modelFile}: ${messageOf(cause)}`, { code: "MODEL_READ", cause });
    }
  }
  const allowPrivateHosts = await privateHosts();
  try {
    // The model is named by its sha256 (checked by the caller), not by a blob id: hash after the read.
    return await readBlob({ uri, maxBytes: MAX_MODEL_BYTES, ipfsGateway, timeoutMs: 120_000, allowPrivateHosts });
  } catch (cause) {
    const why = cause instanceof DinferError ? cause.message : messageOf(cause);
    throw new ModelUnavailableError(`cannot fetch model ${modelId} from its registered uri ${JSON.stringify(uri)} to check the input (${why}): ${NO_CHECK_HINT}`, {
      code: "MODEL_UNAVAILABLE",
      details: { modelId: modelId.toString(), uri },
      cause,
    });
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
