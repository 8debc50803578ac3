/**
 * A hashing thread of a HashPool: hashes the blobs it is sent and sends them back (transferred)
 * with their blob id and, when asked, their output root.
 */
import { parentPort } from "node:worker_threads";

import { outputRoot } from "../codec/merkle.js";
import { blobId } from "../codec/tensor.js";
import type { HashReply, HashRequest } from "./hash-pool.js";

if (parentPort === null) throw new Error("offchain/threads/hash-thread.ts must run in a worker thread");
const port = parentPort;

port.on("message", ({ task, bytes, root }: HashRequest) => {
  const started = performance.now();
  const reply: HashReply = { task, bytes, id: blobId(bytes), ms: 0 };
  if (root) reply.root = outputRoot(bytes);
  reply.ms = performance.now() - started;
  port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
});
