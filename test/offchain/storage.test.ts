import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import type { Hex } from "viem";

import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId } from "../../offchain/codec/tensor.js";
import { NonRetryableError, RetryableError } from "../../offchain/errors.js";
import { parseBlobId, verifyBlob } from "../../offchain/storage/blob-id.js";
import {
  BlobHashMismatchError,
  BlobNotFoundError,
  BlobRejectedError,
  BlobTooLargeError,
  BlobUnavailableError,
  InvalidBlobIdError,
  InvalidBlobUriError,
} from "../../offchain/storage/errors.js";
import { fetchBlob, resolveBlobUri } from "../../offchain/storage/fetch.js";
import { LocalBlobStore, writeStaged } from "../../offchain/storage/local.js";
import { readOutput } from "../../offchain/storage/output.js";
import { readCapped } from "../../offchain/storage/read-capped.js";
import { startBlobServer, type BlobServer } from "../../offchain/storage/server.js";
import { getOutput, hasOutput, outputUrl } from "../../offchain/storage/stored-output.js";
import { uploadBlob } from "../../offchain/storage/upload.js";

const TOKEN = "correct-horse-battery-staple";

/** Bytes where byte i is (i * 131 + seed) % 256. */
function filler(length: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 131 + seed) % 256);
}

/** Awaits `run` and asserts it rejects with an instance of `type`; returns the error. */
async function rejectsWith<E extends Error>(run: () => Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof type, `expected ${type.name}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  return caught;
}

/** The `error` field of a blob server's JSON error answer. */
async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: string }).error;
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** An ad-hoc HTTP server on 127.0.0.1 with a free port; `stop` cuts every connection. */
async function serve(handler: Handler): Promise<{ url: string; server: Server; stop: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url: `http://127.0.0.1:${port}`, server, stop };
}

/** A raw TCP server on 127.0.0.1 that answers every connection with `onSocket`. */
async function serveRaw(onSocket: (socket: Socket) => void): Promise<{ url: string; sockets: Socket[]; stop: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server: TcpServer = createTcpServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return { url: `http://127.0.0.1:${port}`, sockets, stop };
}

const waitFor = (socket: Socket, event: string) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once(event, () => resolve())));

describe("storage", () => {
  let dir: string;
  let store: LocalBlobStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "dinfer-storage-"));
    store = new LocalBlobStore({ dir: path.join(dir, "blobs"), maxBytes: 1 << 20 });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe("blob ids", () => {
    it("parseBlobId lowercases a valid id and names the field of an invalid one", () => {
      const id = blobId(filler(10));
      assert.equal(parseBlobId(id.toUpperCase().replace("0X", "0x")), id);
      assert.throws(() => parseBlobId("0x1234", "inputHash"), (e: unknown) => e instanceof InvalidBlobIdError && /^inputHash: /.test(e.message));
      assert.throws(() => parseBlobId(`${id}00`), InvalidBlobIdError);
    });

    it("verifyBlob names the expected and actual hashes on a mismatch", () => {
      const bytes = filler(100);
      const other = blobId(filler(100, 1));
      assert.throws(
        () => verifyBlob({ bytes, expected: other, source: "test" }),
        (e: unknown) => e instanceof BlobHashMismatchError && e.expected === other && e.actual === blobId(bytes) && e.message.includes(other),
      );
    });
  });

  describe("LocalBlobStore", () => {
    it("puts and gets a blob by its SHA-256 id, leaving no temp file", async () => {
      const bytes = filler(10_000);
      const id = await store.put(bytes);
      assert.equal(id, blobId(bytes));
      assert.deepEqual(await store.get(id), bytes);
      assert.equal(await store.has(id), true);
      assert.equal(await store.has(blobId(filler(1))), false);
      assert.deepEqual(new Uint8Array(await readFile(store.pathOf(id))), bytes);
      assert.equal(path.basename(path.dirname(store.pathOf(id))), id.slice(2, 4));
      assert.deepEqual(await readdir(path.join(store.dir, ".tmp")), []);
    });

    it("writes a blob of several MB whole, byte for byte, a view into a larger buffer included", async () => {
      // Over the 512 KiB pieces FileHandle.writeFile would use, and not a multiple of them.
      const whole = filler(4_915_229 + 7);
      const bytes = whole.subarray(7);
      const large = new LocalBlobStore({ dir: path.join(dir, "large") });
      const id = await large.put(bytes);
      assert.equal(id, blobId(bytes));
      const stored = new Uint8Array(await readFile(large.pathOf(id)));
      assert.equal(stored.byteLength, bytes.byteLength);
      assert.deepEqual(stored, bytes);
    });

    it("accepts an uppercase id and stores the empty blob", async () => {
      const id = await store.put(new Uint8Array(0));
      assert.deepEqual(await store.get(`0x${id.slice(2).toUpperCase()}` as Hex), new Uint8Array(0));
    });

    it("refuses a corrupted file with an error naming the id, and a new put repairs it", async () => {
      const bytes = filler(5000);
      const id = await store.put(bytes);
      const corrupted = new Uint8Array(bytes);
      corrupted[4000] ^= 1;
      await writeFile(store.pathOf(id), corrupted);
      const error = await rejectsWith(() => store.get(id), BlobHashMismatchError);
      assert.ok(error.message.includes(id), error.message);
      assert.ok(error instanceof NonRetryableError);
      assert.equal(await store.put(bytes), id);
      assert.deepEqual(await store.get(id), bytes);
    });

    it("caps writes and reads at maxBytes", async () => {
      const small = new LocalBlobStore({ dir: store.dir, maxBytes: 100 });
      await rejectsWith(() => small.put(filler(101)), BlobTooLargeError);
      assert.equal(await small.has(blobId(filler(101))), false);
      const id = await store.put(filler(101));
      const error = await rejectsWith(() => small.get(id), BlobTooLargeError);
      assert.match(error.message, /101 bytes, the cap is 100/);
      assert.equal((await small.get(await small.put(filler(100)))).length, 100);
    });

    it("reports unknown and malformed ids", async () => {
      const missing = blobId(filler(3));
      const notFound = await rejectsWith(() => store.get(missing), BlobNotFoundError);
      assert.ok(notFound.message.includes(missing));
      await rejectsWith(() => store.get("0xnothex" as Hex), InvalidBlobIdError);
      await rejectsWith(() => store.has("../../etc/passwd" as Hex), InvalidBlobIdError);
    });

    it("a store of outputs names and checks its blobs by output root: a corrupted file is refused, never served as the output", async () => {
      const outputs = new LocalBlobStore({ dir: path.join(dir, "outputs"), address: "outputRoot" });
      const bytes = filler(3 * 4096 + 17); // four chunks: a root that is not the blob id
      const root = await outputs.put(bytes);
      assert.equal(root, outputRoot(bytes));
      assert.notEqual(root, blobId(bytes));
      assert.deepEqual(await outputs.get(root), bytes);
      assert.equal(await outputs.has(blobId(bytes)), false, "not under its blob id");
      // A fresh store (a restarted daemon) hashes what it reads, by root.
      const reopened = new LocalBlobStore({ dir: outputs.dir, address: "outputRoot" });
      assert.deepEqual(await reopened.get(root), bytes);
      const corrupted = new Uint8Array(bytes);
      corrupted[5000] ^= 1;
      await writeFile(outputs.pathOf(root), corrupted);
      const error = await rejectsWith(() => new LocalBlobStore({ dir: outputs.dir, address: "outputRoot" }).get(root), BlobHashMismatchError);
      assert.equal(error.actual, outputRoot(corrupted));
      // A blob-id store over the same files refuses them: the address is part of what a store checks.
      await outputs.put(bytes);
      await rejectsWith(() => new LocalBlobStore({ dir: outputs.dir }).get(root), BlobHashMismatchError);
    });

    it("survives concurrent puts of the same and of different blobs", async () => {
      const blobs = Array.from({ length: 8 }, (_, i) => filler(3000 + i, i % 2));
      const ids = await Promise.all([...blobs, ...blobs].map((bytes) => store.put(bytes)));
      for (const [i, bytes] of blobs.entries()) assert.deepEqual(await store.get(ids[i]!), bytes);
      assert.deepEqual(await readdir(path.join(store.dir, ".tmp")), []);
    });

    it("writes and adopts into directories deleted since the last write (each is made once, then again where it is gone)", async () => {
      const first = filler(2_000);
      await store.put(first);
      await rm(store.dir, { recursive: true, force: true }); // an operator wiping the store under a running worker
      const second = filler(2_000, 1);
      const id = await store.put(second);
      assert.deepEqual(await store.get(id), second);
      assert.deepEqual(await readdir(path.join(store.dir, ".tmp")), []);

      const staging = await store.openStaging();
      const bytes = filler(3_000, 2);
      const staged = await writeStaged({ dir: staging, id: blobId(bytes), bytes });
      await rm(path.dirname(store.pathOf(blobId(bytes))), { recursive: true, force: true });
      await store.adopt(staged, blobId(bytes));
      assert.deepEqual(await store.get(blobId(bytes)), bytes);
      await rm(path.dirname(store.pathOf(blobId(bytes))), { recursive: true, force: true });
      await store.put(bytes);
      assert.deepEqual(await store.get(blobId(bytes)), bytes);
    });

    it("stages a blob, unflushed, and adopts it as the blob by a rename once flushed (capped as put is); a new staging deletes what an earlier process left staged", async () => {
      const tmp = path.join(store.dir, ".tmp");
      const left = await store.openStaging();
      await writeFile(path.join(left, "left-by-a-crash"), "x");
      await writeFile(path.join(tmp, "other.tmp"), "x");
      const staging = await store.openStaging();
      assert.equal(staging, path.join(tmp, "staged"));
      assert.deepEqual(await readdir(staging), [], "what a crash left staged is gone");
      assert.deepEqual((await readdir(tmp)).sort(), ["other.tmp", "staged"], "nothing else in .tmp is touched");

      const bytes = filler(50_000);
      const id = blobId(bytes);
      const file = await writeStaged({ dir: staging, id, bytes });
      assert.equal(await store.has(id), false, "a staged blob is not stored: nothing serves it");
      await store.adopt(file, id);
      assert.deepEqual(await store.get(id), bytes);
      assert.deepEqual(await readdir(staging), [], "moved, not copied");

      const elsewhere = path.join(dir, id.slice(2));
      await writeFile(elsewhere, bytes);
      await assert.rejects(store.adopt(elsewhere, id), /is not in the staging directory of the store/);
      await assert.rejects(store.adopt(path.join(tmp, "other.tmp"), id), /is not in the staging directory of the store/);
      const large = filler((1 << 20) + 1);
      const tooLarge = await writeStaged({ dir: staging, id: blobId(large), bytes: large });
      await assert.rejects(store.adopt(tooLarge, blobId(large)), BlobTooLargeError);
      assert.equal(await store.has(blobId(large)), false);

      await writeStaged({ dir: staging, id, bytes });
      await store.closeStaging();
      assert.deepEqual(await readdir(tmp), ["other.tmp"], "closed: the staging directory and what it held are gone");
    });
  });

  describe("a daemon's stored outputs (stored-output.ts)", () => {
    it("finds an output by its root in the outputs store, and one journaled by an older daemon by its blob id in the blob store", async () => {
      const outputs = new LocalBlobStore({ dir: path.join(dir, "outputs"), address: "outputRoot" });
      const stores = { store, outputs };
      const now = filler(5000, 1);
      const root = await outputs.put(now);
      assert.equal(await hasOutput(stores, { outputRoot: root }), true);
      assert.deepEqual(await getOutput(stores, { outputRoot: root }), now);
      assert.equal(outputUrl("http://w:8600", { outputRoot: root }), `http://w:8600/outputs/${root}`);
      // An older daemon stored its output by blob id and revealed /blobs/<id>: found and served there still.
      const older = filler(5000, 2);
      const id = await store.put(older);
      const legacy = { outputId: id, outputRoot: outputRoot(older) };
      assert.equal(await hasOutput(stores, legacy), true);
      assert.deepEqual(await getOutput(stores, legacy), older);
      assert.equal(outputUrl("http://w:8600", legacy), `http://w:8600/blobs/${id}`);
      // Absent either way: not stored (the worker runs the job again before it commits).
      assert.equal(await hasOutput(stores, { outputRoot: outputRoot(filler(7)) }), false);
      assert.equal(await hasOutput(stores, { outputId: blobId(filler(7)), outputRoot: root }), false);
      assert.equal(await hasOutput(stores, {}), false);
      await rejectsWith(() => getOutput(stores, { outputRoot: outputRoot(filler(7)) }), BlobNotFoundError);
    });
  });

  describe("blob server", () => {
    let server: BlobServer | undefined;

    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    it("serves GET and HEAD with the bytes, length, type and an etag", async () => {
      server = await startBlobServer({ store });
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const bytes = filler(70_000);
      const id = await store.put(bytes);
      const get = await fetch(`${server.url}/blobs/${id}`);
      assert.equal(get.status, 200);
      assert.equal(get.headers.get("content-type"), "application/octet-stream");
      assert.equal(get.headers.get("content-length"), "70000");
      assert.equal(get.headers.get("etag"), `"${id}"`);
      assert.deepEqual(new Uint8Array(await get.arrayBuffer()), bytes);
      const head = await fetch(`${server.url}/blobs/${id}`, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("content-length"), "70000");
      assert.equal((await head.arrayBuffer()).byteLength, 0);
    });

    it("answers 404 for an unknown blob, 400 for a malformed id, 405 for other methods", async () => {
      server = await startBlobServer({ store });
      const unknown = await fetch(`${server.url}/blobs/${blobId(filler(9))}`);
      assert.equal(unknown.status, 404);
      assert.equal(await errorCode(unknown), "BLOB_NOT_FOUND");
      assert.equal((await fetch(`${server.url}/blobs/${blobId(filler(9))}`, { method: "HEAD" })).status, 404);
      const malformed = await fetch(`${server.url}/blobs/0x1234`);
      assert.equal(malformed.status, 400);
      assert.equal(await errorCode(malformed), "INVALID_BLOB_ID");
      const post = await fetch(`${server.url}/blobs/${blobId(filler(9))}`, { method: "POST", body: "x" });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get("allow"), "GET, HEAD");
      await post.body?.cancel();
      assert.equal((await fetch(`${server.url}/other`)).status, 404);
    });

    it("serves outputs by their root at /outputs/<root>, from its outputs store only, and has no such route without one", async () => {
      const outputs = new LocalBlobStore({ dir: path.join(dir, "outputs"), address: "outputRoot" });
      const output = filler(9000, 3);
      const root = await outputs.put(output);
      const input = filler(100, 4);
      const inputId = await store.put(input);
      server = await startBlobServer({ store, outputs });
      const get = await fetch(`${server.url}/outputs/${root}`);
      assert.equal(get.status, 200);
      assert.equal(get.headers.get("etag"), `"${root}"`);
      assert.deepEqual(new Uint8Array(await get.arrayBuffer()), output);
      assert.equal((await fetch(`${server.url}/outputs/${root}`, { method: "HEAD" })).status, 200);
      assert.deepEqual(new Uint8Array(await (await fetch(`${server.url}/blobs/${inputId}`)).arrayBuffer()), input, "inputs stay at /blobs/<id>");
      const crossed = await fetch(`${server.url}/outputs/${inputId}`);
      assert.equal(crossed.status, 404, "an input is not served as an output");
      assert.equal(await errorCode(crossed), "BLOB_NOT_FOUND");
      assert.equal((await fetch(`${server.url}/blobs/${root}`)).status, 404, "nor an output as a blob");
      const malformed = await fetch(`${server.url}/outputs/0x12`);
      assert.equal(malformed.status, 400);
      assert.match(await malformed.text(), /an output root is 0x and 64 hex digits/);
      // Read as a reader of the chain's outputURI reads it: checked against the root.
      assert.deepEqual((await readOutput({ root, uris: [`${server.url}/outputs/${root}`], allowFileUris: false })).bytes, output);
      await server.close();
      server = await startBlobServer({ store });
      assert.equal((await fetch(`${server.url}/outputs/${root}`)).status, 404);
    });

    it("never serves a corrupted blob", async () => {
      server = await startBlobServer({ store });
      const bytes = filler(2000);
      const id = await store.put(bytes);
      await writeFile(store.pathOf(id), filler(2000, 7));
      const response = await fetch(`${server.url}/blobs/${id}`);
      assert.equal(response.status, 500);
      assert.equal(await errorCode(response), "BLOB_HASH_MISMATCH");
    });

    it("answers HEAD from the file's size, never reading or hashing it (anyone may ask, for any id the chain names)", async () => {
      let reads = 0;
      const counted = { put: store.put.bind(store), has: store.has.bind(store), size: store.size.bind(store), get: (id: Hex) => (reads++, store.get(id)) };
      server = await startBlobServer({ store: counted, maxBytes: 3_000 });
      const id = await store.put(filler(2000));
      // Corrupted on disk: a GET refuses it, a HEAD says only that it is there and how big.
      await writeFile(store.pathOf(id), filler(2000, 7));
      const head = await fetch(`${server.url}/blobs/${id}`, { method: "HEAD" });
      assert.deepEqual([head.status, head.headers.get("content-length"), head.headers.get("etag")], [200, "2000", `"${id}"`]);
      assert.equal(reads, 0, "HEAD read no blob");
      assert.equal((await fetch(`${server.url}/blobs/${blobId(filler(9))}`, { method: "HEAD" })).status, 404);
      const large = await store.put(filler(4000));
      assert.equal((await fetch(`${server.url}/blobs/${large}`, { method: "HEAD" })).status, 500, "over the serving cap");
      assert.equal(reads, 0);
      assert.equal((await fetch(`${server.url}/blobs/${id}`)).status, 500, "the GET checks");
      assert.equal(reads, 1);
    });

    it("refuses uploads unless started with a token", async () => {
      server = await startBlobServer({ store });
      const response = await fetch(`${server.url}/blobs`, { method: "PUT", body: filler(10), headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(response.status, 405);
      assert.equal(await errorCode(response), "UPLOADS_DISABLED");
      assert.equal(await store.has(blobId(filler(10))), false);
    });

    it("accepts an upload with the right token only, and serves it afterwards", async () => {
      server = await startBlobServer({ store, uploadToken: TOKEN });
      const bytes = filler(12_345);
      const put = (authorization?: string) =>
        fetch(`${server!.url}/blobs`, { method: "PUT", body: bytes, headers: authorization === undefined ? {} : { authorization } });
      assert.equal((await put()).status, 401);
      assert.equal((await put(`Bearer ${TOKEN}x`)).status, 401);
      assert.equal((await put(TOKEN)).status, 401);
      assert.equal(await store.has(blobId(bytes)), false);
      const ok = await put(`Bearer ${TOKEN}`);
      assert.equal(ok.status, 201);
      assert.deepEqual(await ok.json(), { id: blobId(bytes), size: bytes.length });
      assert.equal(ok.headers.get("location"), `/blobs/${blobId(bytes)}`);
      assert.deepEqual(await fetchBlob({ uri: `${server.url}/blobs/${blobId(bytes)}`, expectedHash: blobId(bytes) }), bytes);
    });

    it("answers 413 to an upload over maxBytes and stores nothing", async () => {
      server = await startBlobServer({ store, uploadToken: TOKEN, maxBytes: 1000 });
      const response = await fetch(`${server.url}/blobs`, { method: "PUT", body: filler(1001), headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(response.status, 413);
      assert.equal(await store.has(blobId(filler(1001))), false);
      // Without a content-length (chunked), the cap is enforced while reading.
      const chunked = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${server!.url}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on("error", reject);
        req.write(filler(600));
        req.write(filler(600, 1));
      });
      assert.equal(chunked, 413);
      const { id } = await uploadBlob({ serverUrl: server.url, bytes: filler(1000), token: TOKEN });
      assert.equal(id, blobId(filler(1000)));
    });

    it("uploadBlob returns the id and a URL, and fails clearly on a wrong token", async () => {
      server = await startBlobServer({ store, uploadToken: TOKEN });
      const bytes = filler(4000, 3);
      const { id, url } = await uploadBlob({ serverUrl: `${server.url}/`, bytes, token: TOKEN });
      assert.equal(id, blobId(bytes));
      assert.deepEqual(new Uint8Array(await (await fetch(url)).arrayBuffer()), bytes);
      const error = await rejectsWith(() => uploadBlob({ serverUrl: server!.url, bytes, token: "wrong-token-wrong-token" }), BlobRejectedError);
      assert.match(error.message, /HTTP 401/);
    });

    it("refuses a short upload token at start-up", async () => {
      await rejectsWith(() => startBlobServer({ store, uploadToken: "short" }), NonRetryableError);
    });

    it("closes gracefully: refuses new connections, finishes a request in flight", async () => {
      server = await startBlobServer({ store, uploadToken: TOKEN });
      const bytes = filler(3000);
      const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          `${server!.url}/blobs`,
          { method: "PUT", headers: { authorization: `Bearer ${TOKEN}`, "content-length": String(bytes.length) } },
          (res) => {
            let body = "";
            res.on("data", (chunk: Buffer) => (body += chunk.toString()));
            res.on("end", () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on("error", reject);
        req.write(bytes.subarray(0, 1000));
        setTimeout(() => req.end(bytes.subarray(1000)), 300);
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      let closed = false;
      const closing = server.close().then(() => (closed = true));
      await rejectsWith(() => fetch(`${server!.url}/blobs/${blobId(bytes)}`), TypeError);
      assert.equal(closed, false);
      const { status, body } = await answer;
      assert.equal(status, 201);
      assert.equal(JSON.parse(body).id, blobId(bytes));
      await closing;
      assert.equal(closed, true);
      assert.deepEqual(await store.get(blobId(bytes)), bytes);
      await server.close(); // idempotent
    });
  });

  describe("blob server shutdown", () => {
    it("cuts a request still in flight once closeGraceMs has passed", async () => {
      const server = await startBlobServer({ store, uploadToken: TOKEN, closeGraceMs: 200 });
      const outcome = new Promise<string>((resolve) => {
        const req = httpRequest(`${server.url}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${TOKEN}`, "content-length": "5000" } }, () =>
          resolve("answered"),
        );
        req.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        req.write(filler(100)); // and never the rest
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      await server.close();
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 150 && elapsed < 2000, `close took ${elapsed} ms`);
      assert.equal(await outcome, "ECONNRESET");
    });
  });

  describe("fetchBlob", () => {
    let blobServer: BlobServer;
    const stops: (() => Promise<void>)[] = [];

    beforeEach(async () => {
      blobServer = await startBlobServer({ store });
    });

    afterEach(async () => {
      await blobServer.close();
      while (stops.length > 0) await stops.pop()!();
    });

    it("reads an http URL and checks the hash", async () => {
      const bytes = filler(200_000);
      const id = await store.put(bytes);
      assert.deepEqual(await fetchBlob({ uri: `${blobServer.url}/blobs/${id}`, expectedHash: id }), bytes);
    });

    it("reports a hash mismatch naming expected and actual, as non-retryable", async () => {
      const bytes = filler(100);
      const id = await store.put(bytes);
      const expected = blobId(filler(100, 1));
      const error = await rejectsWith(() => fetchBlob({ uri: `${blobServer.url}/blobs/${id}`, expectedHash: expected }), BlobHashMismatchError);
      assert.equal(error.expected, expected);
      assert.equal(error.actual, id);
      assert.ok(error.message.includes(expected) && error.message.includes(id));
      assert.ok(!(error instanceof RetryableError));
    });

    it("with deferVerification returns the bytes unhashed, for the caller to check, and keeps the size cap", async () => {
      const bytes = filler(5000);
      const id = await store.put(bytes);
      const other = blobId(filler(5000, 1));
      const uri = `${blobServer.url}/blobs/${id}`;
      assert.deepEqual(await fetchBlob({ uri, expectedHash: other, deferVerification: true }), bytes);
      await rejectsWith(() => fetchBlob({ uri, expectedHash: other }), BlobHashMismatchError);
      await rejectsWith(() => fetchBlob({ uri, expectedHash: id, maxBytes: 4999, deferVerification: true }), BlobTooLargeError);
    });

    it("maps 404 to BlobNotFound, 5xx and 429 to retryable, other 4xx to non-retryable", async () => {
      const statuses = [404, 410, 500, 503, 429, 403, 400];
      const { url, stop } = await serve((request, response) => {
        response.writeHead(Number(request.url!.slice(1)));
        response.end("nope");
      });
      stops.push(stop);
      const expectedHash = blobId(filler(1));
      const errors = await Promise.all(statuses.map((status) => fetchBlob({ uri: `${url}/${status}`, expectedHash }).catch((e: unknown) => e)));
      assert.ok(errors[0] instanceof BlobNotFoundError && errors[1] instanceof BlobNotFoundError);
      for (const error of errors.slice(2, 5)) assert.ok(error instanceof BlobUnavailableError && error instanceof RetryableError, String(error));
      for (const error of errors.slice(5)) assert.ok(error instanceof BlobRejectedError && error instanceof NonRetryableError, String(error));
      assert.match((errors[3] as Error).message, /HTTP 503/);
    });

    it("treats a refused connection as retryable", async () => {
      const { url, stop } = await serve(() => {});
      await stop();
      const error = await rejectsWith(() => fetchBlob({ uri: `${url}/x`, expectedHash: blobId(filler(1)) }), BlobUnavailableError);
      assert.ok(error instanceof RetryableError);
      assert.match(error.message, /ECONNREFUSED/);
    });

    it("follows redirects", async () => {
      const bytes = filler(500);
      const id = await store.put(bytes);
      const { url, stop } = await serve((_request, response) => {
        response.writeHead(302, { location: `${blobServer.url}/blobs/${id}` });
        response.end();
      });
      stops.push(stop);
      assert.deepEqual(await fetchBlob({ uri: `${url}/moved`, expectedHash: id }), bytes);
    });

    it("refuses a redirect to a location that is not a URL, to a scheme other than http(s), or past 5 hops", async () => {
      const { url, stop } = await serve((request, response) => {
        const to = request.url === "/bad" ? "http://[not-a-host" : request.url === "/file" ? "file:///etc/passwd" : `${request.url}x`;
        response.writeHead(302, { location: to });
        response.end();
      });
      stops.push(stop);
      const expectedHash = blobId(filler(1));
      assert.match((await rejectsWith(() => fetchBlob({ uri: `${url}/bad`, expectedHash }), BlobRejectedError)).message, /not a URL/);
      assert.match((await rejectsWith(() => fetchBlob({ uri: `${url}/file`, expectedHash }), BlobRejectedError)).message, /redirected to a file: URL/);
      assert.match((await rejectsWith(() => fetchBlob({ uri: `${url}/loop`, expectedHash }), BlobUnavailableError)).message, /more than 5 redirects/);
    });

    it("refuses a declared content-length over maxBytes without reading the body", async () => {
      let written = 0;
      const { url, stop } = await serve((_request, response) => {
        response.writeHead(200, { "content-length": String(10 << 20) });
        const timer = setInterval(() => {
          response.write(Buffer.alloc(1024));
          written += 1024;
        }, 20);
        response.on("close", () => clearInterval(timer));
      });
      stops.push(stop);
      const started = Date.now();
      const error = await rejectsWith(() => fetchBlob({ uri: `${url}/big`, expectedHash: blobId(filler(1)), maxBytes: 1 << 20 }), BlobTooLargeError);
      assert.match(error.message, /10485760 bytes, the cap is 1048576/);
      assert.ok(Date.now() - started < 2000);
      assert.ok(written < 1 << 20);
    });

    it("cuts off a server that streams forever without a length, at maxBytes", async () => {
      let written = 0;
      let closed!: () => void;
      const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
      const { url, stop } = await serve((_request, response) => {
        response.writeHead(200, { "content-type": "application/octet-stream" });
        const pump = () => {
          while (!response.destroyed && response.write(Buffer.alloc(16 * 1024))) written += 16 * 1024;
        };
        response.on("drain", pump);
        response.on("close", () => closed());
        pump();
      });
      stops.push(stop);
      const maxBytes = 256 * 1024;
      await rejectsWith(() => fetchBlob({ uri: `${url}/forever`, expectedHash: blobId(filler(1)), maxBytes, timeoutMs: 10_000 }), BlobTooLargeError);
      await connectionClosed; // the client hung up: the server stops streaming
      assert.ok(written < 16 * maxBytes, `server wrote ${written} bytes`);
    });

    it("reads an announced length into one buffer, and cuts off a source that sends more than it announced", async () => {
      const blob = filler(100_000);
      const chunksOf = async function* (bytes: Uint8Array, size: number) {
        for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
      };
      const read = await readCapped({ source: chunksOf(blob, 7_000), maxBytes: 1 << 20, label: "test", expectedBytes: blob.length });
      assert.deepEqual(read, blob);
      assert.equal(read.buffer.byteLength, blob.length, "one buffer of the announced size");
      // Fewer bytes than announced: what came, for the hash check to judge.
      assert.deepEqual(await readCapped({ source: chunksOf(blob, 7_000), maxBytes: 1 << 20, label: "test", expectedBytes: blob.length + 5 }), blob);
      const error = await rejectsWith(() => readCapped({ source: chunksOf(blob, 7_000), maxBytes: 1 << 20, label: "test", expectedBytes: 50_000 }), BlobUnavailableError);
      assert.match(error.message, /sent more than the 50000 bytes it announced/);
      // A source that announces a length and sends nothing gives nothing.
      assert.equal((await readCapped({ source: chunksOf(new Uint8Array(), 1), maxBytes: 1 << 20, label: "test", expectedBytes: 1000 })).length, 0);
      // An announced length over the cap is not trusted: the cap still holds while reading.
      await rejectsWith(() => readCapped({ source: chunksOf(blob, 7_000), maxBytes: 60_000, label: "test", expectedBytes: 1 << 30 }), BlobTooLargeError);
    });

    it("reads no further than a lying content-length and hangs up", async () => {
      const blob = filler(1 << 20);
      const { url, sockets, stop } = await serveRaw((socket) => {
        socket.once("data", () => {
          socket.write("HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 10\r\n\r\n");
          socket.write(blob); // far more than declared
        });
      });
      stops.push(stop);
      const error = await rejectsWith(() => fetchBlob({ uri: `${url}/liar`, expectedHash: blobId(blob) }), BlobHashMismatchError);
      assert.equal(error.actual, blobId(blob.subarray(0, 10)));
      await waitFor(sockets[0]!, "close");
      assert.equal(sockets[0]!.destroyed, true);
    });

    it("treats a body shorter than its content-length as retryable", async () => {
      const { url, stop } = await serveRaw((socket) => {
        socket.once("data", () => socket.end("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b"));
      });
      stops.push(stop);
      await rejectsWith(() => fetchBlob({ uri: `${url}/short`, expectedHash: blobId(filler(100)) }), BlobUnavailableError);
    });

    it("times out on a server that trickles its body, as retryable", async () => {
      const { url, stop } = await serve((_request, response) => {
        response.writeHead(200, { "content-length": "1000" });
        const timer = setInterval(() => response.write("x"), 50);
        response.on("close", () => clearInterval(timer));
      });
      stops.push(stop);
      const started = Date.now();
      const error = await rejectsWith(() => fetchBlob({ uri: `${url}/slow`, expectedHash: blobId(filler(1)), timeoutMs: 400 }), BlobUnavailableError);
      const elapsed = Date.now() - started;
      assert.match(error.message, /timed out after 400 ms/);
      assert.ok(elapsed >= 350 && elapsed < 3000, `took ${elapsed} ms`);
    });

    it("times out on a server that never answers", async () => {
      const { url, stop } = await serveRaw(() => {});
      stops.push(stop);
      const error = await rejectsWith(() => fetchBlob({ uri: `${url}/silent`, expectedHash: blobId(filler(1)), timeoutMs: 300 }), BlobUnavailableError);
      assert.match(error.message, /timed out/);
    });

    it("stops when the caller aborts", async () => {
      const { url, stop } = await serveRaw(() => {});
      stops.push(stop);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const error = await rejectsWith(
        () => fetchBlob({ uri: `${url}/silent`, expectedHash: blobId(filler(1)), timeoutMs: 10_000, signal: controller.signal }),
        BlobUnavailableError,
      );
      assert.match(error.message, /aborted/);
    });

    it("resolves ipfs:// through the configured gateway", async () => {
      const bytes = filler(3000, 5);
      const requested: string[] = [];
      const { url, stop } = await serve((request, response) => {
        requested.push(request.url!);
        if (request.url === "/gw/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/dir/out%20put.bin") {
          response.writeHead(200, { "content-type": "application/octet-stream" });
          response.end(bytes);
        } else {
          response.writeHead(404);
          response.end();
        }
      });
      stops.push(stop);
      const uri = "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/dir/out%20put.bin";
      assert.deepEqual(await fetchBlob({ uri, expectedHash: blobId(bytes), ipfsGateway: `${url}/gw/` }), bytes);
      assert.deepEqual(requested, ["/gw/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/dir/out%20put.bin"]);
      await rejectsWith(() => fetchBlob({ uri: "ipfs://QmUnknown/x", expectedHash: blobId(bytes), ipfsGateway: url }), BlobNotFoundError);
      await rejectsWith(() => fetchBlob({ uri, expectedHash: blobId(filler(3000)), ipfsGateway: `${url}/gw` }), BlobHashMismatchError);
    });

    it("refuses ipfs:// without a gateway, with a malformed CID or a dot-dot path", () => {
      assert.throws(() => resolveBlobUri({ uri: "ipfs://bafyabc/file" }), (e: unknown) => e instanceof InvalidBlobUriError && /no IPFS gateway/.test(e.message));
      assert.throws(() => resolveBlobUri({ uri: "ipfs://baf$y/file", ipfsGateway: "http://127.0.0.1:1" }), /malformed CID/);
      assert.throws(() => resolveBlobUri({ uri: "ipfs://bafyabc/../x", ipfsGateway: "http://127.0.0.1:1" }), /not allowed/);
      assert.throws(() => resolveBlobUri({ uri: "ipfs://bafyabc/%2E%2E/x", ipfsGateway: "http://127.0.0.1:1" }), /not allowed/);
      assert.throws(() => resolveBlobUri({ uri: "ipfs://bafyabc", ipfsGateway: "ftp://gw" }), /not http/);
      // A base58 CIDv0 keeps its case.
      assert.deepEqual(resolveBlobUri({ uri: "ipfs://QmYwAPJzv5CZsnA", ipfsGateway: "http://gw:8080" }), {
        kind: "http",
        url: "http://gw:8080/ipfs/QmYwAPJzv5CZsnA",
        viaIpfsGateway: true,
      });
    });

    it("reads file:// URIs with the same checks", async () => {
      const bytes = filler(4096);
      const file = path.join(dir, "input.bin");
      await writeFile(file, bytes);
      const uri = pathToFileURL(file).href;
      assert.deepEqual(await fetchBlob({ uri, expectedHash: blobId(bytes) }), bytes);
      await rejectsWith(() => fetchBlob({ uri, expectedHash: blobId(filler(4096, 1)) }), BlobHashMismatchError);
      await rejectsWith(() => fetchBlob({ uri, expectedHash: blobId(bytes), maxBytes: 4095 }), BlobTooLargeError);
      await rejectsWith(() => fetchBlob({ uri: pathToFileURL(path.join(dir, "missing.bin")).href, expectedHash: blobId(bytes) }), BlobNotFoundError);
      await rejectsWith(() => fetchBlob({ uri: pathToFileURL(dir).href, expectedHash: blobId(bytes) }), BlobRejectedError);
    });

    it("resolves a bare blob id in the local store", async () => {
      const bytes = filler(777);
      const id = await store.put(bytes);
      assert.deepEqual(await fetchBlob({ uri: id, expectedHash: id, store }), bytes);
      await rejectsWith(() => fetchBlob({ uri: id, expectedHash: id }), InvalidBlobUriError);
      await rejectsWith(() => fetchBlob({ uri: id, expectedHash: blobId(filler(1)), store }), BlobHashMismatchError);
      await rejectsWith(() => fetchBlob({ uri: blobId(filler(1)), expectedHash: blobId(filler(1)), store }), BlobNotFoundError);
      await rejectsWith(() => fetchBlob({ uri: id, expectedHash: id, store, maxBytes: 100 }), BlobTooLargeError);
    });

    it("rejects unsupported schemes and malformed hashes before any I/O", async () => {
      const id = blobId(filler(1));
      const ftp = await rejectsWith(() => fetchBlob({ uri: "ftp://127.0.0.1/x", expectedHash: id }), InvalidBlobUriError);
      assert.match(ftp.message, /unsupported scheme "ftp:"/);
      await rejectsWith(() => fetchBlob({ uri: "just-a-name", expectedHash: id }), InvalidBlobUriError);
      const bad = await rejectsWith(() => fetchBlob({ uri: `${blobServer.url}/blobs/${id}`, expectedHash: "0xabc" as Hex }), InvalidBlobIdError);
      assert.match(bad.message, /^expectedHash: /);
      await rejectsWith(() => fetchBlob({ uri: `${blobServer.url}/blobs/${id}`, expectedHash: id, timeoutMs: 0 }), NonRetryableError);
    });
  });
});
