/**
 * A posted job's input as the worker fetches it before it claims: inline bytes from the chain, or the
 * blob its URI names (capped, and hashed here or by the runner's hashing threads). An `ipfs://` input is
 * read through the worker's own IPFS node when it runs one (else through `ipfsGateway`); either way its
 * bytes are checked against the job's inputHash before any commitment, never trusted for their CID.
 */
import type { Hex } from "viem";

import type { JobRecord } from "../chain/jobs.js";
import { DinferError } from "../errors.js";
import { fetchBlob } from "../storage/fetch.js";
import type { IpfsBlobReader } from "../storage/ipfs-uri.js";
import type { LocalBlobStore } from "../storage/local.js";

/**
 * A fetched input. `checked`: hashed against the job's inputHash and scanned for NaN/Inf on the main
 * thread (claim-first, which must not claim a bad input). Run-first leaves both to the runner (its
 * hashing threads check the hash, RunParameters.verifyInput; its inference thread the values):
 * hashing megabytes off the main thread keeps it free for the other jobs' chain work, and a bad
 * input still never reaches a commitment.
 */
export type HeldInput = { bytes: Uint8Array; checked: boolean; source: string };

export type FetchJobInputParameters = {
  record: JobRecord;
  /** Hash the input against the job's inputHash here (else the caller has the runner's hashing threads do it). */
  check: boolean;
  /** Accept `file://` URIs (a dApp on the same machine only). */
  allowFileUris: boolean;
  maxInputBytes: number;
  ipfsGateway?: string;
  /** The worker's IPFS node: reads `ipfs://` inputs (the gateway is then not used). */
  ipfs?: IpfsBlobReader;
  /** Where fetched blobs are cached. */
  store: LocalBlobStore;
};

/** The job's input. Inline input needs no check: the chain holds the bytes themselves. */
export async function fetchJobInput({ record, check, allowFileUris, maxInputBytes, ipfsGateway, ipfs, store }: FetchJobInputParameters): Promise<HeldInput> {
  if (record.inlineInput.length > 2) return { bytes: hexToBytes(record.inlineInput), checked: true, source: "inline input" };
  if (record.inputURI.startsWith("file:") && !allowFileUris) {
    throw new DinferError("file:// inputs are refused (allowFileUris is off)", { code: "INPUT_URI_REFUSED" });
  }
  const bytes = await fetchBlob({
    uri: record.inputURI,
    expectedHash: record.inputHash,
    maxBytes: maxInputBytes,
    ipfsGateway,
    ipfs,
    store,
    deferVerification: !check,
  });
  return { bytes, checked: check, source: record.inputURI.replace(/[?#].*$/, "") };
}

function hexToBytes(hex: Hex): Uint8Array {
  return new Uint8Array(Buffer.from(hex.slice(2), "hex"));
}
