/**
 * A posted job's input as the worker fetches it before it claims: inline bytes from the chain, or the
 * blob its URI names (capped; an http(s) one read and hashed in one of the runner's hashing threads, any
 * other hashed here or by those threads). An `ipfs://` input is read through the worker's own IPFS node when
 * it runs one (else through `ipfsGateway`); either way its bytes are checked against the job's inputHash
 * before any commitment, never trusted for their CID.
 *
 * The poster chooses the URI: without `allowPrivateHosts` an http(s) input whose host is, or resolves to, a
 * non-public address is refused before any request is sent (`PrivateHostRefusedError`, non-retryable: the worker
 * skips the job as it does any unreadable input), so a poster cannot make every provider send requests into its own
 * network (offchain/storage/host-policy.ts).
 */
import type { JobRecord } from "../chain/jobs.js";
import { hexToBytes } from "../codec/hex.js";
import { DinferError } from "../errors.js";
import { fetchBlob, resolveBlobUri } from "../storage/fetch.js";
import type { IpfsBlobReader } from "../storage/ipfs-uri.js";
import type { LocalBlobStore } from "../storage/local.js";
import type { JobRunner } from "./job-runner.js";

/**
 * A fetched input. `checked`: hashed against the job's inputHash, by the hashing thread that read it
 * (`readInput`), or on the main thread where none did and the caller asked (`check`: claim-first, which must
 * not claim a bad input); an unchecked one is checked by the runner's hashing threads (RunParameters.verifyInput).
 * `scanned`: its values scanned for NaN/Inf on the main thread (the worker sets it for claim-first); an
 * unscanned one is scanned by the inference thread. `staged`: the file the hashing thread that read it wrote
 * it to (the caller's `stageIn`): the worker keeps the input by moving that file into its store
 * (LocalBlobStore.adopt), or deletes it (`discard`) when it does not keep it. Megabytes kept off the main
 * thread keep it free for the other jobs' chain work, and a bad input still never reaches a commitment.
 */
export type HeldInput = { bytes: Uint8Array; checked: boolean; scanned?: boolean; staged?: string; source: string };

/** Where a worker reads its inputs from, and how: its options, its blob store, its IPFS node, its runner. */
export type InputSources = {
  /** Accept `file://` URIs (a dApp on the same machine only). */
  allowFileUris: boolean;
  /** Read http(s) inputs on loopback, private and link-local hosts (a devnet); off, they are refused unread. */
  allowPrivateHosts: boolean;
  maxInputBytes: number;
  ipfsGateway?: string;
  /** The worker's IPFS node: reads `ipfs://` inputs (the gateway is then not used). */
  ipfs?: IpfsBlobReader;
  /** Where fetched blobs are cached. */
  store: LocalBlobStore;
  /** Its `readInput` reads an http(s) input and checks it off the main thread: the input is then checked whatever `check` says. */
  runner: Pick<JobRunner, "readInput">;
  /**
   * Aborts the reads in flight (the daemon's stop): a worker waits for its steps before it exits, and an input
   * server that never answers would otherwise hold it for the whole fetch timeout, past the shutdown's grace.
   */
  stopSignal?: AbortSignal;
};

export type FetchJobInputParameters = {
  record: JobRecord;
  /** Hash the input against the job's inputHash here (else the caller has the runner's hashing threads do it). */
  check: boolean;
  sources: InputSources;
  /** The store's staging directory (LocalBlobStore.openStaging): an input read by a hashing thread is staged there (`staged`). */
  stageIn?: string;
};

/** The job's input. Inline input needs no check: the chain holds the bytes themselves. */
export async function fetchJobInput({ record, check, sources, stageIn }: FetchJobInputParameters): Promise<HeldInput> {
  const { allowFileUris, allowPrivateHosts, maxInputBytes, ipfsGateway, ipfs, store, stopSignal } = sources;
  if (record.inlineInput.length > 2) return { bytes: hexToBytes(record.inlineInput), checked: true, source: "inline input" };
  if (/^file:/i.test(record.inputURI) && !allowFileUris) {
    throw new DinferError("file:// inputs are refused (allowFileUris is off)", { code: "INPUT_URI_REFUSED" });
  }
  const source = record.inputURI.replace(/[?#].*$/, "");
  if (sources.runner.readInput !== undefined) {
    const resolved = resolveBlobUri({ uri: record.inputURI, ipfsGateway, ipfsNode: ipfs !== undefined });
    if (resolved.kind === "http") {
      // The gateway's URL is the operator's choice, not the poster's: as in `fetchBlob`, a hop on it is not screened
      // (a redirect off it is).
      const gateway = resolved.viaIpfsGateway === true ? { viaGateway: ipfsGateway } : {};
      const read = await sources.runner.readInput(
        { url: resolved.url, expectedHash: record.inputHash, maxBytes: maxInputBytes, allowPrivateHosts, ...gateway, ...(stageIn === undefined ? {} : { stageIn }) },
        stopSignal,
      );
      return { ...read, checked: true, source };
    }
  }
  const bytes = await fetchBlob({
    uri: record.inputURI,
    expectedHash: record.inputHash,
    maxBytes: maxInputBytes,
    ipfsGateway,
    ipfs,
    store,
    deferVerification: !check,
    signal: stopSignal,
    allowPrivateHosts,
  });
  return { bytes, checked: check, source };
}
