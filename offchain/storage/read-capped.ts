/**
 * Reads a byte stream to its end, refusing to hold more than a cap: the first chunk past the cap
 * throws, and leaving the `for await` loop cancels the source (a fetch body is aborted, a file or
 * socket stream destroyed), so a peer that streams forever costs at most `maxBytes`.
 */
import { NonRetryableError } from "../errors.js";
import { BlobTooLargeError, BlobUnavailableError } from "./errors.js";

export type ReadCappedParameters = {
  /** A web ReadableStream (fetch body), a Node Readable (request, file stream)... */
  source: AsyncIterable<Uint8Array>;
  maxBytes: number;
  /** Names the source in the error. */
  label: string;
  /**
   * The length the source announced (an HTTP Content-Length), at most `maxBytes`: the bytes are then copied
   * into one buffer of that size as they arrive, rather than held as chunks and joined at the end (a det
   * input is 76 chunks: holding them and joining them cost 6 ms more CPU per read). A source that sends more
   * than it announced is cut off there; one that sends less is joined as it is (its hash check decides).
   * Announcements over 16 MiB are read as chunks, and the buffer is set aside only when the first bytes come:
   * a peer that announces a length and stalls makes a read hold nothing.
   */
  expectedBytes?: number;
};

/** Bytes a read sets aside for its announced length: a larger announcement is read as chunks (see `expectedBytes`). */
const ANNOUNCED_BYTES_HELD_AHEAD = 16 * 1024 * 1024;

/** All bytes of `source`, or `BlobTooLargeError` as soon as they would exceed `maxBytes`. */
export async function readCapped({ source, maxBytes, label, expectedBytes }: ReadCappedParameters): Promise<Uint8Array> {
  if (expectedBytes !== undefined && Number.isSafeInteger(expectedBytes) && expectedBytes > 0 && expectedBytes <= Math.min(maxBytes, ANNOUNCED_BYTES_HELD_AHEAD)) {
    return readAnnounced({ source, label, expectedBytes });
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of source) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new BlobTooLargeError({ source: label, maxBytes });
    chunks.push(chunk);
  }
  return concatChunks(chunks, total);
}

/** The buffer is set aside when the first bytes come: a peer that announces a length and sends nothing costs nothing. */
async function readAnnounced({ source, label, expectedBytes }: { source: AsyncIterable<Uint8Array>; label: string; expectedBytes: number }): Promise<Uint8Array> {
  let out: Uint8Array | undefined;
  let total = 0;
  for await (const chunk of source) {
    if (total + chunk.byteLength > expectedBytes) {
      throw new BlobUnavailableError({ source: label, problem: `sent more than the ${expectedBytes} bytes it announced` });
    }
    out ??= new Uint8Array(expectedBytes);
    out.set(chunk, total);
    total += chunk.byteLength;
  }
  if (out === undefined) return new Uint8Array(0);
  return total === expectedBytes ? out : out.subarray(0, total);
}

function concatChunks(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return new Uint8Array(chunks[0]!.buffer, chunks[0]!.byteOffset, total);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Throws unless `maxBytes` is a usable cap (a non-negative safe integer). */
export function validateMaxBytes(maxBytes: number, field = "maxBytes"): void {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new NonRetryableError(`${field}: expected a non-negative integer, got ${maxBytes}`, {
      code: "INVALID_OPTION",
      details: { field, value: String(maxBytes) },
    });
  }
}
