/**
 * Reads a byte stream to its end, refusing to hold more than a cap: the first chunk past the cap
 * throws, and leaving the `for await` loop cancels the source (a fetch body is aborted, a file or
 * socket stream destroyed), so a peer that streams forever costs at most `maxBytes`.
 */
import { NonRetryableError } from "../errors.js";
import { BlobTooLargeError } from "./errors.js";

export type ReadCappedParameters = {
  /** A web ReadableStream (fetch body), a Node Readable (request, file stream)... */
  source: AsyncIterable<Uint8Array>;
  maxBytes: number;
  /** Names the source in the error. */
  label: string;
};

/** All bytes of `source`, or `BlobTooLargeError` as soon as they would exceed `maxBytes`. */
export async function readCapped({ source, maxBytes, label }: ReadCappedParameters): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of source) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new BlobTooLargeError({ source: label, maxBytes });
    chunks.push(chunk);
  }
  return concatChunks(chunks, total);
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
