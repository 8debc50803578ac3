/**
 * The blob store contract: content-addressed, so a blob's id is the SHA-256 of its bytes (in a store of
 * outputs, their output root) and a `get` returns only bytes that hash to the id asked for. Implementations: `LocalBlobStore`
 * (a directory, the default); remote blobs are read with `fetchBlob`.
 */
import type { Hex } from "viem";

export interface BlobStore {
  /**
   * Stores the bytes and returns their blob id; storing the same bytes twice is a no-op. A caller
   * that has just checked the bytes against their id (`fetchBlob` does) passes it as `knownId`, so
   * they are not hashed again; a wrong one only stores bytes that every `get` then refuses.
   */
  put(bytes: Uint8Array, options?: PutOptions): Promise<Hex>;
  /**
   * The bytes of blob `id`, verified against it. Throws `BlobNotFoundError` if absent,
   * `BlobHashMismatchError` if the stored copy is corrupted, `BlobTooLargeError` over the cap.
   */
  get(id: Hex): Promise<Uint8Array>;
  /** Whether a blob with this id is stored (present, not yet verified). */
  has(id: Hex): Promise<boolean>;
  /**
   * The size of blob `id` as stored, without reading or verifying it; undefined when absent. A blob server
   * answers HEAD with it (a store without it: HEAD reads and verifies the blob, as GET does).
   */
  size?(id: Hex): Promise<number | undefined>;
}

export type PutOptions = {
  /** The blob id the caller already verified these bytes against. */
  knownId?: Hex;
};
