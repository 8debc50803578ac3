import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import type { JobRecord } from "../../offchain/chain/jobs.js";

import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId } from "../../offchain/codec/tensor.js";
import { NonRetryableError, RetryableError } from "../../offchain/errors.js";
import { fetchJobInput } from "../../offchain/provider/input.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { HashPool, type BlobRead, type InputRead } from "../../offchain/threads/hash-pool.js";

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

  it("keeps hashed bytes in a store where asked (keepIn), under their hash, read back and checked by the store; a write that fails keeps nothing and is no failed digest", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "dinfer-keep-"));
    try {
      const outputs = new LocalBlobStore({ dir, address: "outputRoot", maxBytes: 100_000 });
      const bytes = bytesOf(3 * 4096 + 17, 12);
      const copy = new Uint8Array(bytes);
      const digest = await pool.digest(bytes, "outputRoot", outputs.keeping());
      assert.equal(digest.hash, outputRoot(copy));
      assert.equal(digest.kept, true);
      assert.deepEqual(digest.bytes, copy, "the bytes come back as before");
      // A fresh store over the same directory hashes what it reads: the file is the blob, in its place.
      assert.deepEqual(await new LocalBlobStore({ dir, address: "outputRoot" }).get(digest.hash), copy);
      assert.deepEqual(readdirSync(path.join(dir, ".tmp")), [], "no temp file is left");
      // Too large for the store: hashed all the same, not kept; the caller's own put meets the error.
      const big = bytesOf(100_001, 13);
      const refused = await pool.digest(big, "outputRoot", outputs.keeping());
      assert.equal(refused.hash, outputRoot(bytesOf(100_001, 13)));
      assert.equal(refused.kept, undefined);
      assert.equal(await outputs.has(refused.hash), false);
      // Without keepIn, nothing is written.
      const plain = await pool.digest(bytesOf(5000, 14), "outputRoot");
      assert.equal(plain.kept, undefined);
      assert.equal(await outputs.has(plain.hash), false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a size that is not a positive integer, and digests after close, as retryable", async () => {
    assert.throws(() => new HashPool({ size: 0 }), /size must be a positive integer, got 0/);
    const closed = new HashPool({ size: 1 });
    await closed.close();
    await assert.rejects(closed.digest(bytesOf(10, 1), "blobId"), (error: unknown) => error instanceof RetryableError && /closed/.test(String(error)));
  });
});

describe("threads: HashPool reads http(s) blobs", () => {
  let pool: HashPool;
  let server: Server;
  let base: string;
  const blob = bytesOf(300_001, 9);
  const id = blobId(blob);

  const hanging: ServerResponse[] = [];

  before(async () => {
    pool = new HashPool({ size: 2 });
    server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname === "/blob") return void res.writeHead(200, { "content-length": blob.length }).end(blob);
      if (url.pathname === "/busy") return void res.writeHead(503).end("busy");
      if (url.pathname === "/moved") return void res.writeHead(302, { location: "/blob" }).end();
      // Half a blob, then nothing: a server that never finishes.
      if (url.pathname === "/hang") return void (res.writeHead(200, { "content-length": blob.length }).write(blob.subarray(0, 1000)), hanging.push(res));
      res.writeHead(404).end("no such blob");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await pool.close();
    for (const res of hanging) res.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it("reads a blob in a thread and gives its bytes, checked against the blob id, in a buffer of their own", async () => {
    const [direct, redirected] = await Promise.all([pool.read({ url: `${base}/blob`, expectedHash: id, maxBytes: 1 << 20 }), pool.read({ url: `${base}/moved`, expectedHash: id, maxBytes: 1 << 20 })]);
    for (const digest of [direct, redirected]) {
      assert.deepEqual(digest.bytes, blob);
      assert.equal(digest.hash, id);
      assert.equal(digest.bytes.byteOffset, 0);
      assert.equal(digest.bytes.buffer.byteLength, blob.length, "transferable: the buffer is the blob's alone");
    }
  });

  it("fails as fetchBlob does, by class: a mismatch, a 404 and an oversized blob for good, a 503 for now", async () => {
    const other = blobId(bytesOf(10, 1));
    const failure = async (url: string, { expectedHash = id, maxBytes = 1 << 20 } = {}) => {
      try {
        await pool.read({ url, expectedHash, maxBytes });
      } catch (error) {
        return error as Error & { code?: string };
      }
      assert.fail(`${url}: read, expected a failure`);
    };
    const mismatch = await failure(`${base}/blob`, { expectedHash: other });
    assert.ok(mismatch instanceof NonRetryableError, String(mismatch));
    assert.equal(mismatch.name, "BlobHashMismatchError", "rebuilt as its own class: the worker counts a bad input by it");
    const missing = await failure(`${base}/gone`);
    assert.ok(missing instanceof NonRetryableError && missing.code === "BLOB_NOT_FOUND", `${missing.code}: ${missing.message}`);
    const large = await failure(`${base}/blob`, { maxBytes: 1000 });
    assert.ok(large instanceof NonRetryableError && large.code === "BLOB_TOO_LARGE", `${large.code}: ${large.message}`);
    const busy = await failure(`${base}/busy`);
    assert.ok(busy instanceof RetryableError, `${busy.code}: ${busy.message}`);
  });

  it("aborts a read in flight when the worker's stop signal fires (a stop must not wait out the fetch timeout), in its thread and on the main thread, and the thread reads on", async () => {
    const sources = (readInput?: (read: BlobRead, signal?: AbortSignal) => Promise<InputRead>) => {
      const stop = new AbortController();
      const runner = readInput === undefined ? {} : { readInput };
      return { stop, sources: { allowFileUris: false, allowPrivateHosts: true, maxInputBytes: 1 << 20, store: new LocalBlobStore({ dir: tmpdir() }), runner, stopSignal: stop.signal } };
    };
    const record = { inlineInput: "0x", inputURI: `${base}/hang`, inputHash: id } as unknown as JobRecord;
    for (const [where, readInput] of [["a hashing thread", (read: BlobRead, signal?: AbortSignal) => pool.read(read, signal)], ["the main thread", undefined]] as const) {
      const { stop, sources: from } = sources(readInput);
      const before = hanging.length;
      const fetching = fetchJobInput({ record, check: true, sources: from });
      while (hanging.length === before) await new Promise((resolve) => setTimeout(resolve, 10));
      stop.abort();
      // Aborted, not timed out: the fetch timeout (30 s by default) never came into it.
      // Retryable (its class rebuilt from the thread): a stop never skips the job for good.
      await assert.rejects(fetching, (error: Error & { code?: string }) => error instanceof RetryableError && error.code === "BLOB_UNAVAILABLE" && /aborted/.test(error.message), where);
    }
    // An aborted signal before the read: refused at once, and the pool still reads.
    const aborted = AbortSignal.abort();
    await assert.rejects(pool.read({ url: `${base}/hang`, expectedHash: id, maxBytes: 1 << 20 }, aborted), /aborted/);
    const live = new AbortController().signal;
    assert.deepEqual((await pool.read({ url: `${base}/blob`, expectedHash: id, maxBytes: 1 << 20 }, live)).bytes, blob);
    assert.equal(getEventListeners(live, "abort").length, 0, "a settled read leaves no listener on the worker's long-lived signal");
  });

  it("is where the worker reads an http(s) input (fetchJobInput's readInput), checked whatever the claim mode; a file input stays on the main thread", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "dinfer-read-input-"));
    try {
      const reads: BlobRead[] = [];
      const readInput = (read: BlobRead) => {
        reads.push(read);
        return pool.read(read);
      };
      const sources = { allowFileUris: true, allowPrivateHosts: true, maxInputBytes: 1 << 20, store: new LocalBlobStore({ dir }), runner: { readInput } };
      const record = (inputURI: string, inputHash = id) => ({ inlineInput: "0x", inputURI, inputHash }) as unknown as JobRecord;
      const fetched = await fetchJobInput({ record: record(`${base}/blob?token=1`), check: false, sources });
      assert.deepEqual(fetched.bytes, blob);
      assert.equal(fetched.checked, true, "checked in the thread, though the caller left the check to the runner");
      assert.equal(fetched.source, `${base}/blob`);
      assert.deepEqual(reads, [{ url: `${base}/blob?token=1`, expectedHash: id, maxBytes: 1 << 20, allowPrivateHosts: true }]);
      await assert.rejects(
        fetchJobInput({ record: record(`${base}/blob`, blobId(bytesOf(10, 1))), check: false, sources }),
        (error: Error) => error.name === "BlobHashMismatchError",
      );
      const file = path.join(dir, "input.bin");
      await writeFile(file, blob);
      const local = await fetchJobInput({ record: record(pathToFileURL(file).href), check: false, sources });
      assert.deepEqual(local.bytes, blob);
      assert.equal(local.checked, false, "unchecked: the runner's hashing threads check it");
      assert.equal(reads.length, 2, "the file was not read through the thread");
      assert.equal(fetched.staged, undefined, "staged only when asked");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("stages the checked bytes where asked (stageIn), in a file of their own, for the store to adopt as the blob or discard; a bad read stages nothing", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "dinfer-stage-input-"));
    try {
      const store = new LocalBlobStore({ dir });
      const stageIn = await store.openStaging();
      const sources = { allowFileUris: false, allowPrivateHosts: true, maxInputBytes: 1 << 20, store, runner: { readInput: (read: BlobRead) => pool.read(read) } };
      const record = (inputHash = id) => ({ inlineInput: "0x", inputURI: `${base}/blob`, inputHash }) as unknown as JobRecord;
      const [kept, dropped] = await Promise.all([fetchJobInput({ record: record(), check: false, sources, stageIn }), fetchJobInput({ record: record(), check: false, sources, stageIn })]);
      assert.deepEqual(kept.bytes, blob, "the bytes still come back");
      assert.ok(kept.staged !== undefined && dropped.staged !== undefined && kept.staged !== dropped.staged, "one file per read");
      assert.equal(path.dirname(kept.staged), stageIn);
      assert.deepEqual(new Uint8Array(readFileSync(kept.staged)), blob);
      assert.equal(await store.has(id), false, "staged is not stored: nothing serves it");

      await store.adopt(kept.staged, id, (adoption) => pool.adopt(adoption));
      assert.deepEqual(await new LocalBlobStore({ dir }).get(id), blob, "adopted by a hashing thread: the blob, read back and checked");
      assert.equal(existsSync(kept.staged), false, "moved, not copied");
      await store.discard(dropped.staged);
      await store.discard(dropped.staged); // gone already: no error
      assert.deepEqual(readdirSync(stageIn), [], "nothing left staged");

      await assert.rejects(fetchJobInput({ record: record(blobId(bytesOf(10, 1))), check: false, sources, stageIn }), (error: Error) => error.name === "BlobHashMismatchError");
      await assert.rejects(fetchJobInput({ record: record(), check: false, sources: { ...sources, maxInputBytes: 1000 }, stageIn }), (error: Error & { code?: string }) => error.code === "BLOB_TOO_LARGE");
      assert.deepEqual(readdirSync(stageIn), [], "bytes that fail their check, or their cap, are never written");

      // A staging directory that cannot be written to: the read still succeeds, unstaged (the worker writes the input itself).
      const unstaged = await fetchJobInput({ record: record(), check: false, sources, stageIn: path.join(dir, "no-such-dir") });
      assert.deepEqual(unstaged.bytes, blob);
      assert.equal(unstaged.staged, undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("adopts in a thread by the store's rules: a file over the store's cap is refused by class and stays staged, a file outside its staging directory never reaches the thread", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "dinfer-adopt-"));
    try {
      const small = new LocalBlobStore({ dir, maxBytes: 100 });
      const stageIn = await small.openStaging();
      const staged = (await pool.read({ url: `${base}/blob`, expectedHash: id, maxBytes: 1 << 20, stageIn })).staged!;
      const via = (adoption: Parameters<HashPool["adopt"]>[0]) => pool.adopt(adoption);
      await assert.rejects(small.adopt(staged, id, via), (error: Error & { code?: string }) => error instanceof NonRetryableError && error.code === "BLOB_TOO_LARGE" && /300001 bytes, the cap is 100/.test(error.message));
      assert.equal(existsSync(staged), true, "refused: still staged, for discard");
      assert.equal(await small.has(id), false);
      const outside = path.join(dir, "elsewhere");
      await writeFile(outside, blob);
      let asked = false;
      await assert.rejects(
        small.adopt(outside, id, async () => {
          asked = true;
        }),
        /not in the staging directory/,
      );
      assert.equal(asked, false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("writes from a hashing thread into directories deleted since it last wrote there, making them again; a write that fails leaves no file", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "dinfer-thread-writes-"));
    try {
      const outputs = new LocalBlobStore({ dir: path.join(dir, "outputs"), address: "outputRoot" });
      const inputs = new LocalBlobStore({ dir: path.join(dir, "inputs") });
      // One thread, so that the second write of each kind goes where the first made (and remembers) the directories.
      const single = new HashPool({ size: 1 });
      try {
        const kept = await single.digest(bytesOf(5_000, 21), "outputRoot", outputs.keeping());
        assert.equal(kept.kept, true);
        await rm(outputs.dir, { recursive: true, force: true }); // an operator wiping the store under a running worker
        const again = await single.digest(bytesOf(6_000, 22), "outputRoot", outputs.keeping());
        assert.equal(again.kept, true, "kept after all: the directories made again");
        assert.deepEqual(await new LocalBlobStore({ dir: outputs.dir, address: "outputRoot" }).get(again.hash), bytesOf(6_000, 22));
        assert.deepEqual(readdirSync(path.join(outputs.dir, ".tmp")), [], "no temp file is left");

        const stageIn = await inputs.openStaging();
        const staged = (await single.read({ url: `${base}/blob`, expectedHash: id, maxBytes: 1 << 20, stageIn })).staged!;
        assert.deepEqual(new Uint8Array(readFileSync(staged)), blob, "staged whole");
        await rm(path.dirname(inputs.pathOf(id)), { recursive: true, force: true });
        await inputs.adopt(staged, id, (adoption) => single.adopt(adoption));
        assert.deepEqual(await new LocalBlobStore({ dir: inputs.dir }).get(id), blob, "adopted into its directory, made again");
        await rm(path.dirname(inputs.pathOf(id)), { recursive: true, force: true });
        const second = (await single.read({ url: `${base}/blob`, expectedHash: id, maxBytes: 1 << 20, stageIn })).staged!;
        await inputs.adopt(second, id, (adoption) => single.adopt(adoption));
        assert.deepEqual(await new LocalBlobStore({ dir: inputs.dir }).get(id), blob, "and again, after the thread had made it once");
        assert.deepEqual(readdirSync(stageIn), [], "nothing left staged");

        // A store whose temp directory is a file: the thread's write fails, keeps nothing, and the digest still answers.
        const blocked = new LocalBlobStore({ dir: path.join(dir, "blocked"), address: "outputRoot" });
        await mkdir(blocked.dir, { recursive: true });
        await writeFile(path.join(blocked.dir, ".tmp"), "not a directory");
        const refused = await single.digest(bytesOf(7_000, 23), "outputRoot", blocked.keeping());
        assert.equal(refused.kept, undefined);
        assert.equal(refused.hash, outputRoot(bytesOf(7_000, 23)));
        assert.deepEqual(readdirSync(blocked.dir), [".tmp"], "nothing written beside it");
      } finally {
        await single.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
