/**
 * Loading a model file the way the protocol requires: the bytes must hash to the `modelHash`
 * registered on-chain (sha256 of the .onnx file), and the graph must be neither random nor in
 * training mode at inference time (docs/PROTOCOL.md section 7: such a model's output cannot be verified). The checked bytes are the ones
 * handed to onnxruntime, so the file cannot change between check and use.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";

import type { Hex } from "viem";

import { NonRetryableError } from "../errors.js";
import { ModelHashMismatchError, ModelReadError, UnverifiableModelError } from "./errors.js";
import { findUnjudgeableNodes, RANDOM_OPERATORS, type UnjudgeableNode } from "./graph-rules.js";
import { listOnnxNodes, readOnnxModel, type OnnxNode } from "./onnx-graph.js";

export { RANDOM_OPERATORS } from "./graph-rules.js";

const HASH_HEX = /^0x[0-9a-fA-F]{64}$/;

/**
 * sha256 of the model bytes as 0x-prefixed lowercase hex: the on-chain `modelHash` (bytes32).
 * node:crypto rather than @noble/hashes: models are megabytes, and the native hash is ~100x faster.
 */
export function hashModel(bytes: Uint8Array): Hex {
  return `0x${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The nodes (main graph, subgraphs, local functions) whose operator is random by design. */
export function findRandomNodes(bytes: Uint8Array): OnnxNode[] {
  return listOnnxNodes(bytes).filter((node) => RANDOM_OPERATORS.includes(node.opType));
}

export type CheckModelVerifiableParameters = { bytes: Uint8Array; path?: string };

/**
 * The nodes that make a model unjudgeable: random operators, and training-mode computation
 * (offchain/inference/graph-rules.ts), in the main graph, subgraphs and local functions.
 */
export function findUnverifiableNodes(bytes: Uint8Array): UnjudgeableNode[] {
  return findUnjudgeableNodes(readOnnxModel(bytes));
}

/**
 * Throws UnverifiableModelError naming the operators and why each makes the model unjudgeable,
 * or ModelFormatError for bad bytes.
 */
export function checkModelVerifiable({ bytes, path = "<bytes>" }: CheckModelVerifiableParameters): void {
  const found = findUnverifiableNodes(bytes);
  if (found.length > 0) {
    throw new UnverifiableModelError({
      path,
      operators: [...new Set(found.map((node) => node.opType))].sort(),
      reasons: [...new Set(found.map((node) => `${node.reason} (${node.path})`))],
    });
  }
}

/** Lowercases a 0x-prefixed bytes32 hash; anything else is refused. */
export function normalizeModelHash(modelHash: string): Hex {
  if (typeof modelHash !== "string" || !HASH_HEX.test(modelHash)) {
    throw new NonRetryableError(`modelHash must be 0x and 64 hex digits, got ${JSON.stringify(modelHash)}`, {
      code: "INVALID_ARGUMENT",
      details: { modelHash },
    });
  }
  return modelHash.toLowerCase() as Hex;
}

export type LoadModelParameters = {
  path: string;
  /** The registered `modelHash`; the file must hash to it. */
  expectedHash: string;
  /** Injected for tests; defaults to fs.readFile. */
  read?: (path: string) => Promise<Uint8Array>;
};

export type LoadModelReturnType = {
  path: string;
  bytes: Uint8Array;
  hash: Hex;
};

/**
 * Reads a model file, checks its sha256 against `expectedHash` (ModelHashMismatchError) and its
 * graph for random or training-mode operators (UnverifiableModelError).
 */
export async function loadModel({ path, expectedHash, read = readBytes }: LoadModelParameters): Promise<LoadModelReturnType> {
  const expected = normalizeModelHash(expectedHash);
  let bytes: Uint8Array;
  try {
    bytes = await read(path);
  } catch (cause) {
    throw new ModelReadError({ path, problem: cause instanceof Error ? cause.message : String(cause), cause });
  }
  const hash = hashModel(bytes);
  if (hash !== expected) throw new ModelHashMismatchError({ path, expected, actual: hash });
  checkModelVerifiable({ bytes, path });
  return { path, bytes, hash };
}

async function readBytes(path: string): Promise<Uint8Array> {
  const buffer = await readFile(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
