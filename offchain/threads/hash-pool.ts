/**
 * A pool of threads that hash blobs: an input's blob id (SHA-256), an output's output root (outputs are
 * addressed by their root, so they are hashed once).
 *
 * Blobs are megabytes (a 640x640 float32 image is 4.9 MB) and a provider hashes two per job: the input
 * against its id and the output for its root. On the
 * main thread that held up every other job's chain work; in the inference thread it held up the
 * next run, which on a GPU is the scarce resource (an H100 runs PaddleOCR det in 11 ms and hashes its
 * blobs in about 50). Here it spreads over the cores.
 *
 * The bytes travel to a thread and back, transferred (not copied) when they span their ArrayBuffer,
 * copied otherwise: use the `bytes` a digest returns, the buffer given may be detached.
 *
 * A thread also reads an input over http(s) and checks it against its blob id (`read`): on the main thread,
 * reading a det input (the socket's 76 chunks, the HTTP parser, the copies) took about 3 ms of CPU per job,
 * and its hash was then a second trip to a thread and back.
 */
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";

import type { Hex } from "viem";

import { NonRetryableError, RetryableError } from "../errors.js";
import { deserializeError, type SerializedError } from "../inference/errors.js";
import type { ContentAddress } from "../storage/blob-id.js";
import type { BlobKeep, StagedAdoption } from "../storage/local.js";
import { moduleWorker, spansWholeBuffer } from "./module-worker.js";

/** An http(s) blob a thread reads and checks against its blob id, by `fetchBlob`'s rules (offchain/storage/fetch.ts). */
export type BlobRead = {
  /** An http(s) URL (an `ipfs://` URI through a gateway is one). */
  url: string;
  /** The blob id (SHA-256) the bytes must have. */
  expectedHash: Hex;
  maxBytes: number;
  /** Limit for the whole read; `fetchBlob`'s default when left out. */
  timeoutMs?: number;
  /**
   * Read a host that is, or resolves to, a non-public address (`fetchBlob`'s `allowPrivateHosts`, and its default
   * when left out); false: such a read fails with a `PrivateHostRefusedError` before any request is sent. A worker
   * sets it false for the URIs posters chose, unless it runs on a devnet (InputSources.allowPrivateHosts).
   */
  allowPrivateHosts?: boolean;
  /** The IPFS gateway `url` was resolved to from an `ipfs://` URI (`fetchBlob`'s `viaGateway`): its hops are not screened. */
  viaGateway?: string;
  /**
   * A blob store's staging directory (LocalBlobStore.openStaging): the checked bytes are written there too, from
   * the thread (`staged` names the file), so a worker that keeps them moves the file into place (`adopt`, which
   * flushes it) rather than writing megabytes itself. A failed write is no failed read: `staged` is then left out.
   */
  stageIn?: string;
};

/** A read input's bytes, and where they were staged (the read's `stageIn`). */
export type InputRead = { bytes: Uint8Array; staged?: string };

/** Main thread -> hashing thread: bytes to hash (and keep in a store), a blob to read and check, a staged file to adopt, or a read to abort. */
export type HashRequest =
  | { task: number; bytes: Uint8Array; of: ContentAddress; keepIn?: BlobKeep }
  | { task: number; read: BlobRead }
  | { task: number; adopt: StagedAdoption }
  | { task: number; abort: true };
/** Hashing thread -> main thread: the digest, an adoption done, or why a read or an adoption failed (its class rebuilt on this side). */
export type HashReply = (Digest & { task: number }) | { task: number; adopted: true } | { task: number; error: SerializedError };
type Answer = Exclude<HashReply, { error: SerializedError }>;


export type Digest = {
  /** The bytes hashed, back from the thread. */
  bytes: Uint8Array;
  /** The hash asked for. */
  hash: Hex;
  /** Time spent hashing in the thread (and keeping the bytes, `keepIn`), milliseconds. */
  ms: number;
  /** A read's staged file (its `stageIn`), for the store's `adopt` or `discard`. */
  staged?: string;
  /** The bytes were written into the store `keepIn` named, under the hash (`keepBlob`); absent: they were not. */
  kept?: true;
};

type Thread = { worker: Worker; tasks: Map<number, { resolve: (answer: Answer) => void; reject: (error: Error) => void }> };

export class HashPool {
  readonly size: number;
  readonly #threads: Thread[];
  #nextTask = 1;
  #closed = false;

  constructor({ size = availableParallelism() }: { size?: number } = {}) {
    if (!Number.isInteger(size) || size < 1) {
      throw new NonRetryableError(`size must be a positive integer, got ${size}`, { code: "INVALID_ARGUMENT", details: { option: "size" } });
    }
    this.size = size;
    this.#threads = Array.from({ length: size }, (_, index) => this.#spawn(index));
  }

  /**
   * The blob id of `bytes` or their output root (`of`), hashed in the least busy thread. With `keepIn` (a
   * LocalBlobStore's `keeping()`) the thread also writes them into that store under the hash, as its `put`
   * does (`kept`): the store's writes, flush and rename leave the main thread. A write that fails (a full disk,
   * too large) is no failed digest: `kept` is then left out, and the caller puts them itself, meeting the error.
   */
  digest(bytes: Uint8Array, of: ContentAddress, keepIn?: BlobKeep): Promise<Digest> {
    const owned = spansWholeBuffer(bytes) ? bytes : new Uint8Array(bytes);
    return this.#send((task) => ({ task, bytes: owned, of, ...(keepIn === undefined ? {} : { keepIn }) }), [owned.buffer as ArrayBuffer]).then(digestOf);
  }

  /**
   * The bytes of an http(s) blob, read and checked against `expectedHash` in the least busy thread (`hash`
   * is that blob id; `ms` the whole read; `staged` where it was staged, as `stageIn` asked). It fails as
   * `fetchBlob` does, by class: a mismatch, a 404 or an oversized blob is non-retryable, a timeout or a 5xx
   * retryable. `signal` aborts the read in its thread (a worker's stop must not wait out a server that never
   * answers): it then fails as an aborted `fetchBlob` does.
   */
  read(read: BlobRead, signal?: AbortSignal): Promise<Digest> {
    return this.#send((task) => ({ task, read }), [], signal).then(digestOf);
  }

  /**
   * A staged file moved into its store, in the least busy thread (`adoptStaged`: LocalBlobStore.adopt's `via`):
   * its open, flush, close and rename leave the main thread. Fails as `adoptStaged` does (too large, by class).
   */
  async adopt(adopt: StagedAdoption): Promise<void> {
    await this.#send((task) => ({ task, adopt }), []);
  }

  #send(request: (task: number) => HashRequest, transfer: ArrayBuffer[], signal?: AbortSignal): Promise<Answer> {
    if (this.#closed) return Promise.reject(new RetryableError("the hash pool is closed", { code: "HASH_POOL_CLOSED" }));
    const thread = this.#threads.reduce((a, b) => (b.tasks.size < a.tasks.size ? b : a));
    const task = this.#nextTask++;
    const digest = new Promise<Answer>((resolve, reject) => {
      thread.tasks.set(task, { resolve, reject });
      thread.worker.postMessage(request(task), transfer);
    });
    if (signal === undefined) return digest;
    // The thread answers the abort with the read's failure (or its result, when the bytes were in already).
    const abort = () => thread.worker.postMessage({ task, abort: true } satisfies HashRequest);
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
    return digest.finally(() => signal.removeEventListener("abort", abort));
  }

  /** Ends the threads; digests still pending reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const error = new RetryableError("the hash pool was closed", { code: "HASH_POOL_CLOSED" });
    for (const thread of this.#threads) {
      for (const { reject } of thread.tasks.values()) reject(error);
      thread.tasks.clear();
      thread.worker.removeAllListeners();
    }
    await Promise.all(this.#threads.map(({ worker }) => worker.terminate()));
  }

  #spawn(index: number): Thread {
    const worker = moduleWorker(import.meta.url, "hash-thread", { name: `hash-${index}` });
    const thread: Thread = { worker, tasks: new Map() };
    worker.on("message", (reply: HashReply) => {
      const pending = thread.tasks.get(reply.task);
      thread.tasks.delete(reply.task);
      if ("error" in reply) pending?.reject(deserializeError(reply.error));
      else pending?.resolve(reply);
    });
    const die = (problem: string) => {
      if (this.#closed) return;
      const error = new RetryableError(`hashing thread ${index} ${problem}`, { code: "HASH_THREAD_DIED" });
      for (const { reject } of thread.tasks.values()) reject(error);
      worker.removeAllListeners();
      this.#threads[index] = this.#spawn(index);
    };
    worker.on("error", (error) => die(`failed: ${error.message}`));
    worker.on("exit", (code) => die(`exited with code ${code}`));
    return thread;
  }
}

/** A digest's or a read's answer as its caller gets it (no task number). */
function digestOf(answer: Answer): Digest {
  if (!("hash" in answer)) throw new Error(`hashing thread answered task ${answer.task} with no digest`);
  return { bytes: answer.bytes, hash: answer.hash, ms: answer.ms, ...(answer.staged === undefined ? {} : { staged: answer.staged }), ...(answer.kept ? { kept: true } : {}) };
}
