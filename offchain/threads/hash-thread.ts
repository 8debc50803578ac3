/**
 * A hashing thread of a HashPool. It does three things:
 *   - hashes the blobs it is sent and sends them back (transferred) with the hash asked for, their blob
 *     id or their output root, and keeps them in a blob store where asked (`keepIn`);
 *   - reads http(s) blobs and checks them against their blob id (`fetchBlob`), stages them in a blob
 *     store where asked (`stageIn`), and sends back the bytes (transferred) or the error (serialized);
 *   - moves staged files into their store (`adopt`).
 */
import { parentPort } from "node:worker_threads";

import { serializeError } from "../inference/errors.js";
import { addressOf } from "../storage/blob-id.js";
import { fetchBlob } from "../storage/fetch.js";
import { adoptStaged, keepBlob, writeStaged } from "../storage/local.js";
import type { BlobRead, HashReply, HashRequest } from "./hash-pool.js";
import { spansWholeBuffer } from "./module-worker.js";
import { nameOsThread } from "./thread-name.js";

if (parentPort === null) throw new Error("offchain/threads/hash-thread.ts must run in a worker thread");
const port = parentPort;
nameOsThread();

/** The reads in progress, by task: an abort from the main thread aborts its fetch. */
const reading = new Map<number, AbortController>();

port.on("message", (request: HashRequest) => {
  if ("abort" in request) {
    reading.get(request.task)?.abort();
    return;
  }
  if ("read" in request) {
    void read(request.task, request.read);
    return;
  }
  if ("adopt" in request) {
    const { task } = request;
    adoptStaged(request.adopt).then(
      () => port.postMessage({ task, adopted: true } satisfies HashReply),
      (error: unknown) => port.postMessage({ task, error: serializeError(error) } satisfies HashReply),
    );
    return;
  }
  void digest(request);
});

async function digest({ task, bytes, of, keepIn }: Extract<HashRequest, { of: unknown }>): Promise<void> {
  const started = performance.now();
  const hash = addressOf(bytes, of);
  // Hashed bytes only, under their hash; a write that fails leaves the keeping (and its error) to the main thread.
  const kept = keepIn !== undefined && (await keepBlob({ ...keepIn, id: hash, bytes }).then(() => true, () => false));
  const reply: HashReply = { task, bytes, hash, ms: performance.now() - started, ...(kept ? { kept: true as const } : {}) };
  port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
}

async function read(task: number, { url, expectedHash, maxBytes, timeoutMs, stageIn, allowPrivateHosts, viaGateway }: BlobRead): Promise<void> {
  const started = performance.now();
  const controller = new AbortController();
  reading.set(task, controller);
  try {
    const fetched = await fetchBlob({ uri: url, expectedHash, maxBytes, timeoutMs, signal: controller.signal, allowPrivateHosts, viaGateway });
    // A read shorter than it announced is a view into its buffer: only whole buffers are transferred.
    const bytes = spansWholeBuffer(fetched) ? fetched : new Uint8Array(fetched);
    // Checked bytes only; a write that fails (a full disk) leaves the keeping to the main thread.
    const staged = stageIn === undefined ? undefined : await writeStaged({ dir: stageIn, id: expectedHash, bytes }).catch(() => undefined);
    const reply: HashReply = { task, bytes, hash: expectedHash, ms: performance.now() - started, ...(staged === undefined ? {} : { staged }) };
    port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
  } catch (error) {
    port.postMessage({ task, error: serializeError(error) } satisfies HashReply);
  } finally {
    reading.delete(task);
  }
}
