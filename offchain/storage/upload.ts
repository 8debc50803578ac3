/**
 * `uploadBlob`: the client side of `PUT /blobs` on a blob server started with an upload token,
 * for a dApp that needs its input somewhere the workers can fetch it. The server's answer is
 * checked: the id it stored must be the id of the bytes sent.
 */
import type { Hex } from "viem";

import { blobId } from "../codec/tensor.js";
import { BlobHashMismatchError, BlobRejectedError, BlobUnavailableError } from "./errors.js";

export type UploadBlobParameters = {
  /** The server's base URL, e.g. "http://127.0.0.1:41234". */
  serverUrl: string;
  bytes: Uint8Array;
  /** The server's upload token. */
  token: string;
  timeoutMs?: number;
  signal?: AbortSignal;
};

export type UploadBlobReturnType = {
  id: Hex;
  /** Where the blob can now be fetched. */
  url: string;
};

/** Uploads the bytes; retryable errors for timeouts, network failures, 429 and 5xx. */
export async function uploadBlob({ serverUrl, bytes, token, timeoutMs = 60_000, signal }: UploadBlobParameters): Promise<UploadBlobReturnType> {
  const id = blobId(bytes);
  const endpoint = `${serverUrl.replace(/\/+$/, "")}/blobs`;
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: Response;
  let answer: unknown;
  try {
    response = await fetch(endpoint, {
      method: "PUT",
      body: bytes,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
    });
    answer = await response.json().catch(() => undefined);
  } catch (error) {
    const problem = timeout.aborted ? `timed out after ${timeoutMs} ms` : signal?.aborted ? "aborted" : "network error";
    throw new BlobUnavailableError({ source: endpoint, problem, cause: error });
  }
  checkUploadStatus({ status: response.status, endpoint, answer });
  const stored = (answer as { id?: unknown } | undefined)?.id;
  if (stored !== id) throw new BlobHashMismatchError({ expected: id, actual: String(stored), source: endpoint });
  return { id, url: `${endpoint}/${id}` };
}

/** 2xx passes; 408, 429 and 5xx are retryable; any other status (401, 405, 413...) is final. */
function checkUploadStatus({ status, endpoint, answer }: { status: number; endpoint: string; answer: unknown }): void {
  if (status >= 200 && status < 300) return;
  const message = (answer as { message?: unknown } | undefined)?.message;
  const problem = `HTTP ${status}${typeof message === "string" ? `: ${message}` : ""}`;
  if (status === 408 || status === 429 || status >= 500) throw new BlobUnavailableError({ source: endpoint, problem, details: { status } });
  throw new BlobRejectedError({ source: endpoint, problem, details: { status } });
}
