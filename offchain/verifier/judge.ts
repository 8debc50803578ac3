/**
 * Re-execution, the part every verifier duty shares (audit, committee vote, watchdog, `dinfer audit`):
 * the model checked against the registry, the job's input checked against its inputHash, the
 * provider's output checked against its revealed root, and the two outputs compared under the
 * model's tolerance policy (offchain/codec/tolerance.ts).
 *
 * A provider output that does not come, or that does not match its root, is reported as a problem
 * (and counts as wrong once the daemon's grace is over); it never throws. What throws is the
 * verifier's own trouble: its model file, the input of the dApp, the RPC.
 */
import { readFile } from "node:fs/promises";

import type { Hex, PublicClient } from "viem";

import { abiOf } from "../chain/artifacts.js";
import type { Deployment } from "../chain/deployment.js";
import type { JobRecord } from "../chain/jobs.js";
import { outputRoot } from "../codec/merkle.js";
import { blobId } from "../codec/tensor.js";
import { compareOutputs, toleranceFromChain, type CompareOutputsReturnType, type TolerancePolicy } from "../codec/tolerance.js";
import { DinferError, NonRetryableError } from "../errors.js";
import { loadModel } from "../inference/model.js";
import { isBlobId } from "../storage/blob-id.js";
import {
  BlobHashMismatchError,
  BlobNotFoundError,
  BlobRejectedError,
  BlobTooLargeError,
  BlobUnavailableError,
  InvalidBlobUriError,
} from "../storage/errors.js";
import { fetchBlob, resolveBlobUri, DEFAULT_FETCH_TIMEOUT_MS } from "../storage/fetch.js";
import { readCapped } from "../storage/read-capped.js";
import type { BlobStore } from "../storage/store.js";

/** A model ready to re-execute: its file checked against the registry hash, its tolerance policy read. */
export type VerifierModel = {
  modelId: number;
  path: string;
  modelHash: Hex;
  policy: TolerancePolicy;
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
    abi: abiOf("ModelRegistry"),
    functionName: "model",
    args: [BigInt(modelId)],
  })) as { modelHash: Hex; tolerance: { kind: number; axis: number; absTolE12: bigint; relTolE12: bigint } };
  const { hash } = await loadModel({ path, expectedHash: registered.modelHash });
  const tolerance = {
    kind: Number(registered.tolerance.kind),
    axis: Number(registered.tolerance.axis),
    absTolE12: BigInt(registered.tolerance.absTolE12),
    relTolE12: BigInt(registered.tolerance.relTolE12),
  };
  return { modelId, path, modelHash: hash, policy: toleranceFromChain(tolerance), tolerance };
}

export type FetchOptions = {
  maxBytes: number;
  ipfsGateway?: string;
  allowFileUris: boolean;
  timeoutMs?: number;
  store?: BlobStore;
};

/** The input the job names, inline or fetched, checked against its inputHash. Throws when it cannot be had. */
export async function fetchJobInput({ record, ...options }: { record: JobRecord } & FetchOptions): Promise<Uint8Array> {
  if (record.inlineInput.length > 2) {
    const bytes = hexToBytes(record.inlineInput);
    if (!isZero(record.inputHash) && blobId(bytes) !== record.inputHash.toLowerCase()) {
      throw new BlobHashMismatchError({ expected: record.inputHash, actual: blobId(bytes), source: "inline input" });
    }
    return bytes;
  }
  refuseFileUri(record.inputURI, options.allowFileUris);
  return fetchBlob({
    uri: record.inputURI,
    expectedHash: record.inputHash,
    maxBytes: options.maxBytes,
    ipfsGateway: options.ipfsGateway,
    timeoutMs: options.timeoutMs,
    store: options.store,
  });
}

/** The provider's output, or why it could not be had. `definitive`: the bytes came and are wrong (no retry helps). */
export type ProviderOutput =
  | { ok: true; bytes: Uint8Array; source: "inline" | "uri" }
  | { ok: false; problem: string; definitive: boolean };

/**
 * The provider's revealed output: the inline bytes from its ResultRevealed event, or the blob at its
 * output URI, checked against the revealed output root. Never throws for the provider's faults.
 */
export async function fetchProviderOutput({ record, ...options }: { record: JobRecord } & FetchOptions): Promise<ProviderOutput> {
  const root = record.job.result;
  let bytes: Uint8Array;
  let source: "inline" | "uri";
  if (record.inlineOutput && record.inlineOutput.length > 2) {
    bytes = hexToBytes(record.inlineOutput);
    source = "inline";
  } else {
    const uri = record.outputURI ?? "";
    if (uri === "") return { ok: false, problem: "the provider revealed no output URI and no inline output", definitive: true };
    try {
      bytes = await readOutputUri({ uri, ...options });
    } catch (error) {
      return { ok: false, problem: `provider output at ${uri}: ${describe(error)}`, definitive: isDefinitive(error) };
    }
    source = "uri";
  }
  const actual = outputRoot(bytes);
  if (actual !== root.toLowerCase()) {
    return { ok: false, problem: `the provider's output has root ${actual}, it revealed ${root}`, definitive: true };
  }
  return { ok: true, bytes, source };
}

/**
 * Reads an output URI. A `.../blobs/<id>` URI (what workers reveal) is read and checked by its id;
 * any other (ipfs://<cid>) is read capped and bound to the chain by the root check alone.
 */
async function readOutputUri({ uri, maxBytes, ipfsGateway, allowFileUris, timeoutMs = DEFAULT_FETCH_TIMEOUT_MS }: { uri: string } & FetchOptions): Promise<Uint8Array> {
  refuseFileUri(uri, allowFileUris);
  const last = uri.split(/[/?#]/).filter(Boolean).pop();
  if (last !== undefined && isBlobId(last)) return fetchBlob({ uri, expectedHash: last as Hex, maxBytes, ipfsGateway, timeoutMs });
  const source = resolveBlobUri({ uri, ipfsGateway });
  if (source.kind === "file") {
    const bytes = new Uint8Array(await readFile(source.path));
    if (bytes.length > maxBytes) throw new BlobTooLargeError({ source: uri, maxBytes, size: bytes.length });
    return bytes;
  }
  if (source.kind !== "http") throw new InvalidBlobUriError({ uri, problem: "a bare blob id is not a public output URI" });
  let response: Response;
  try {
    response = await fetch(source.url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  } catch (cause) {
    throw new BlobUnavailableError({ source: uri, problem: describe(cause), cause });
  }
  if (response.status === 404 || response.status === 410) throw new BlobNotFoundError({ source: uri });
  if (response.status >= 500 || response.status === 429 || response.status === 408) {
    throw new BlobUnavailableError({ source: uri, problem: `HTTP ${response.status}` });
  }
  if (response.status < 200 || response.status >= 300) throw new BlobRejectedError({ source: uri, problem: `HTTP ${response.status}` });
  if (response.body === null) return new Uint8Array(0);
  return readCapped({ source: response.body, maxBytes, label: uri });
}

/** The verifier's conclusion about a provider's output. */
export type Judgement = CompareOutputsReturnType & {
  /** The provider's revealed root equals the verifier's own: an instant agreement. */
  rootsEqual: boolean;
  /** The provider's output could not be had (or did not match its root); it then counts as wrong. */
  unavailable?: string;
};

export type JudgeParameters = {
  /** The verifier's own output blob. */
  own: Uint8Array;
  /** Its output root (the runner computed it with the output). */
  ownRoot: Hex;
  provider: ProviderOutput;
  /** The root the provider revealed. */
  providerRoot: Hex;
  policy: TolerancePolicy;
  maxBytes?: number;
};

/**
 * Judges the provider's output against the verifier's own: an output that cannot be had (when the
 * caller decided it counts as wrong) disagrees, even with a root equal to ours; equal roots agree at
 * once; otherwise the tolerance policy decides.
 */
export function judge({ own, ownRoot, provider, providerRoot, policy, maxBytes }: JudgeParameters): Judgement {
  const rootsEqual = ownRoot.toLowerCase() === providerRoot.toLowerCase();
  // A result nobody can fetch is worth nothing to the dApp, whatever its root (DESIGN section 5).
  if (!provider.ok) {
    return { verdict: "disagree", reason: `provider output unavailable: ${provider.problem}`, tensors: [], rootsEqual, unavailable: provider.problem };
  }
  const compared = compareOutputs({ expected: own, actual: provider.bytes, policy, maxBytes });
  return rootsEqual ? { ...compared, verdict: "agree", rootsEqual } : { ...compared, rootsEqual };
}

function isDefinitive(error: unknown): boolean {
  return (
    error instanceof BlobHashMismatchError ||
    error instanceof BlobTooLargeError ||
    error instanceof InvalidBlobUriError ||
    (error instanceof NonRetryableError && error.code === "OUTPUT_URI_REFUSED")
  );
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

export function hexToBytes(hex: Hex): Uint8Array {
  return new Uint8Array(Buffer.from(hex.slice(2), "hex"));
}

export function bytesToHexString(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}`;
}

function isZero(hash: Hex): boolean {
  return /^0x0*$/.test(hash);
}
