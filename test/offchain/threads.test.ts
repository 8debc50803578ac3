import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";

import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId } from "../../offchain/codec/tensor.js";
import { RetryableError } from "../../offchain/errors.js";
import { HashPool } from "../../offchain/threads/hash-pool.js";

/** Deterministic bytes, distinct per seed. */
function bytesOf(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return bytes;
}

describe("threads: HashPool", () => {
  let pool: HashPool;

  before(() => {
    pool = new HashPool({ size: 3 });
  });
  after(async () => {
    await pool.close();
  });

  it("gives each blob's id or its output root, as asked, as the codec computes them, with the bytes back intact", async () => {
    const blobs = [0, 1, 4096, 4097, 3 * 4096 + 5, 1_000_003].map((length, seed) => bytesOf(length, seed));
    const expected = blobs.map((bytes) => ({ id: blobId(bytes), root: outputRoot(bytes), copy: new Uint8Array(bytes) }));
    // Many at once, spread over the threads; whole buffers are transferred and come back.
    const digests = await Promise.all(blobs.map((bytes, i) => pool.digest(bytes, i % 2 === 0 ? "outputRoot" : "blobId")));
    digests.forEach((digest, i) => {
      assert.equal(digest.hash, i % 2 === 0 ? expected[i]!.root : expected[i]!.id);
      assert.deepEqual(digest.bytes, expected[i]!.copy);
      assert.ok(digest.ms >= 0);
    });
  });

  it("names its threads for the operating system (hash-0, hash-1, ...), so top -H and bench:worker tell them apart", async function () {
    if (process.platform !== "linux") this.skip();
    // Six at once go two to each of the three threads: each has answered, so each ran its module (which names it first).
    await Promise.all(Array.from({ length: 6 }, (_, i) => pool.digest(bytesOf(1000, i), "blobId")));
    const names = readdirSync("/proc/self/task").map((tid) => readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim());
    for (const name of ["hash-0", "hash-1", "hash-2"]) assert.ok(names.includes(name), `${name} among ${names.join(", ")}`);
    assert.equal(readFileSync(`/proc/self/task/${process.pid}/comm`, "utf8").trim(), readFileSync("/proc/self/comm", "utf8").trim(), "the main thread keeps the process's name");
  });

  it("copies a view into a larger buffer rather than detaching it: the caller keeps its bytes", async () => {
    const whole = bytesOf(10_000, 9);
    const view = whole.subarray(100, 5_100);
    const digest = await pool.digest(view, "blobId");
    assert.equal(digest.hash, blobId(whole.subarray(100, 5_100)));
    assert.equal(whole.byteLength, 10_000, "the caller's buffer is not detached");
    assert.deepEqual(digest.bytes, view);
  });

  it("refuses a size that is not a positive integer, and digests after close, as retryable", async () => {
    assert.throws(() => new HashPool({ size: 0 }), /size must be a positive integer, got 0/);
    const closed = new HashPool({ size: 1 });
    await closed.close();
    await assert.rejects(closed.digest(bytesOf(10, 1), "blobId"), (error: unknown) => error instanceof RetryableError && /closed/.test(String(error)));
  });
});
