/**
 * A hashing thread of a HashPool: hashes the blobs it is sent and sends them back (transferred)
 * with the hash asked for: their blob id or their output root.
 */
import { parentPort } from "node:worker_threads";

import { addressOf } from "../storage/blob-id.js";
import type { HashReply, HashRequest } from "./hash-pool.js";
import { nameOsThread } from "./thread-name.js";

if (parentPort === null) throw new Error("offchain/threads/hash-thread.ts must run in a worker thread");
const port = parentPort;
nameOsThread();

port.on("message", ({ task, bytes, of }: HashRequest) => {
  const started = performance.now();
  const hash = addressOf(bytes, of);
  const reply: HashReply = { task, bytes, hash, ms: performance.now() - started };
  port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
});
