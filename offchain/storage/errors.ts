/**
 * Storage errors. Each names the blob (or URI) it is about; the class says whether trying again
 * may help: a missing, oversized or wrong blob will stay so (non-retryable), while a timeout, a
 * dropped connection or a 5xx may not (retryable).
 */
import { NonRetryableError, RetryableError } from "../errors.js";

type StorageErrorParameters = {
  details?: Record<string, unknown>;
  cause?: unknown;
};

/** The bytes read do not hash to the blob id they were asked for (a corrupted or wrong blob). */
export class BlobHashMismatchError extends NonRetryableError {
  override name = "BlobHashMismatchError";
  readonly expected: string;
  readonly actual: string;
  /** What it was built from: an inference thread sends it to the main thread this way. */
  readonly parameters: { expected: string; actual: string; source: string };

  constructor({ expected, actual, source, cause }: { expected: string; actual: string; source: string; cause?: unknown }) {
    super(`blob hash mismatch: expected ${expected}, got ${actual} from ${source}`, {
      code: "BLOB_HASH_MISMATCH",
      details: { expected, actual, source },
      cause,
    });
    this.expected = expected;
    this.actual = actual;
    this.parameters = { expected, actual, source };
  }
}

/** No blob at this id or URI (a 404, a missing file). */
export class BlobNotFoundError extends NonRetryableError {
  override name = "BlobNotFoundError";

  constructor({ source, details, cause }: StorageErrorParameters & { source: string }) {
    super(`blob not found: ${source}`, { code: "BLOB_NOT_FOUND", details: { source, ...details }, cause });
  }
}

/** A blob over the size cap; nothing past the cap was read. */
export class BlobTooLargeError extends NonRetryableError {
  override name = "BlobTooLargeError";

  constructor({ source, maxBytes, size }: { source: string; maxBytes: number; size?: number }) {
    const got = size === undefined ? "more" : String(size);
    super(`blob too large: ${source} has ${got} bytes, the cap is ${maxBytes}`, {
      code: "BLOB_TOO_LARGE",
      details: { source, maxBytes, ...(size === undefined ? {} : { size }) },
    });
  }
}

/** A string that is not a blob id (0x followed by 64 hex digits). */
export class InvalidBlobIdError extends NonRetryableError {
  override name = "InvalidBlobIdError";

  constructor({ field, value }: { field: string; value: unknown }) {
    const shown = typeof value === "string" ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value) : typeof value;
    super(`${field}: not a blob id (0x and 64 hex digits): ${shown}`, { code: "INVALID_BLOB_ID", details: { field } });
  }
}

/** A URI this module cannot resolve (unknown scheme, malformed CID, no gateway configured...). */
export class InvalidBlobUriError extends NonRetryableError {
  override name = "InvalidBlobUriError";

  constructor({ uri, problem, cause }: { uri: string; problem: string; cause?: unknown }) {
    super(`invalid blob URI ${JSON.stringify(uri)}: ${problem}`, { code: "INVALID_BLOB_URI", details: { uri, problem }, cause });
  }
}

/** The source refused the request for good (a 4xx other than 404/408/429, a permission error). */
export class BlobRejectedError extends NonRetryableError {
  override name = "BlobRejectedError";

  constructor({ source, problem, details, cause }: StorageErrorParameters & { source: string; problem: string }) {
    super(`blob request rejected: ${problem} (${source})`, { code: "BLOB_REJECTED", details: { source, problem, ...details }, cause });
  }
}

export type PrivateHostRefusedErrorParameters = {
  /** The blob read (its URL without the query). */
  source: string;
  /** The host refused: the URL's own, or that of a redirect the read was sent to. */
  host: string;
  /** The non-public address: the host itself when it is an IP literal, else one it resolves to. */
  address: string;
  /** What kind of address it is ("loopback", "private", "link-local", ...: offchain/storage/host-policy.ts). */
  kind: string;
};

/**
 * A read refused before any request was sent: its host is, or resolves to, a non-public address, and the reader
 * was told not to send requests into its own network for whoever chose the URI (`allowPrivateHosts` off). Reading
 * it again is refused again.
 */
export class PrivateHostRefusedError extends NonRetryableError {
  override name = "PrivateHostRefusedError";
  /** What it was built from: a hashing thread sends it to the main thread this way. */
  readonly parameters: PrivateHostRefusedErrorParameters;

  constructor(parameters: PrivateHostRefusedErrorParameters) {
    const { source, host, address, kind } = parameters;
    const what = host === address ? `${host} is a private address (${kind})` : `${host} resolves to ${address}, a private address (${kind})`;
    super(`private host refused: ${what} (${source}); set allowPrivateHosts (a daemon's config, the SDK's option; --allow-private-hosts) to read it`, {
      code: "PRIVATE_HOST_REFUSED",
      details: { ...parameters },
    });
    this.parameters = { ...parameters };
  }
}

/** The blob could not be read now but may be later: network failure, 5xx, 429, timeout. */
export class BlobUnavailableError extends RetryableError {
  override name = "BlobUnavailableError";

  constructor({ source, problem, details, cause }: StorageErrorParameters & { source: string; problem: string }) {
    super(`blob unavailable: ${problem} (${source})`, { code: "BLOB_UNAVAILABLE", details: { source, problem, ...details }, cause });
  }
}
