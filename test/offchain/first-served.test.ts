/**
 * A blob's locations read at once within one time budget (offchain/storage/first-served.ts), as the verifier
 * reads a job's input (`fetchJobInput`) and a revealed output (`fetchOutput`). The attack this answers: a
 * provider reveals a made-up result at a location that never answers and announces a dozen more; read one
 * after the other, each with its own time limit, they carried the verifier past its deadline, and an audit
 * never sent is a cheat paid. Real sockets: servers that accept a connection and never answer, servers that
 * serve the bytes.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

import { after, before, describe, it } from "mocha";
import { zeroAddress } from "viem";

import { JobStatus, type JobRecord } from "../../offchain/chain/jobs.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId, encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { BlobNotFoundError, BlobUnavailableError } from "../../offchain/storage/errors.js";
import { firstServed, MAX_LOCATIONS } from "../../offchain/storage/first-served.js";
import { fetchOutput } from "../../offchain/storage/output.js";
import { fetchJobInput, providerOutputLocations } from "../../offchain/verifier/judge.js";

const MAX_BYTES = 1 << 20;
const BLOB = encodeTensorBlob([tensorFromArray({ name: "y", dtype: "float32", values: new Float32Array([1, 2, 3]), dims: [3] })]);

/** `pending`: requests received whose response is still open (a read the client has not given up on). */
type Listening = { server: Server; url: string; sockets: Set<Socket>; requests: number; pending: number };

async function listen(handler: (serve: (bytes: Uint8Array) => void) => void): Promise<Listening> {
  const state = { requests: 0, pending: 0, sockets: new Set<Socket>() } as Listening;
  state.server = createServer((_request, response) => {
    state.requests++;
    state.pending++;
    response.on("close", () => state.pending--);
    handler((bytes) => {
      response.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) });
      response.end(bytes);
    });
  });
  state.server.on("connection", (socket) => {
    state.sockets.add(socket);
    socket.on("close", () => state.sockets.delete(socket));
  });
  await new Promise<void>((resolve) => state.server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

/** Waits up to a second for `done` (a client's abort reaches the server a moment later). */
async function settle(done: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function close(listening: Listening): Promise<void> {
  for (const socket of listening.sockets) socket.destroy();
  await new Promise<void>((resolve) => listening.server.close(() => resolve()));
}

describe("a blob's locations read at once within one budget", function () {
  this.timeout(30_000);
  /** Accepts every request and never answers (a slow-loris location). */
  let silent: Listening;
  /** Serves BLOB to every request. */
  let serving: Listening;

  before(async () => {
    silent = await listen(() => {});
    serving = await listen((serve) => serve(BLOB));
  });

  after(async () => {
    await Promise.all([close(silent), close(serving)]);
  });

  const silentUris = (count: number, route = "out") => Array.from({ length: count }, (_, i) => `${silent.url}/${route}/${i}`);

  it("ends within its budget when no location answers, however many there are, and names each location's failure", async () => {
    const requestsBefore = silent.requests;
    const started = performance.now();
    // A per-location limit of 20 s: one after the other, 13 of them took over four minutes.
    const fetched = await fetchOutput({ root: outputRoot(BLOB), uris: silentUris(13), maxBytes: MAX_BYTES, allowFileUris: false, timeoutMs: 20_000, budgetMs: 400 });
    const elapsed = performance.now() - started;
    assert.equal(fetched.ok, false);
    assert.ok(elapsed < 2_000, `took ${Math.round(elapsed)} ms for a 400 ms budget`);
    assert.equal(silent.requests - requestsBefore, MAX_LOCATIONS, "the first MAX_LOCATIONS locations were read, all at once");
    const problem = fetched.ok ? "" : fetched.problem;
    assert.match(problem, new RegExp(`${silent.url}/out/0: BlobUnavailableError: blob unavailable: no answer within the 400 ms given to all of the blob's locations`));
    assert.match(problem, /5 more locations: NonRetryableError: not read: at most 8 locations are read for one blob, the first listed/);
    // The reads cut off by the budget are cancelled: no request is left open on the silent server.
    await settle(() => silent.pending === 0);
    assert.equal(silent.pending, 0, "no read left hanging on the silent server");
  });

  it("takes a serving location listed after silent ones at once, and cancels the others", async () => {
    const started = performance.now();
    const uris = [...silentUris(7), `${serving.url}/out/served`];
    const fetched = await fetchOutput({ root: outputRoot(BLOB), uris, maxBytes: MAX_BYTES, allowFileUris: false, timeoutMs: 20_000, budgetMs: 10_000 });
    const elapsed = performance.now() - started;
    assert.ok(fetched.ok, fetched.ok ? "" : fetched.problem);
    assert.deepEqual([fetched.source, Buffer.from(fetched.bytes).equals(Buffer.from(BLOB))], [`${serving.url}/out/served`, true]);
    assert.ok(elapsed < 2_000, `took ${Math.round(elapsed)} ms: the silent locations were not waited for`);
    await settle(() => silent.pending === 0);
    assert.equal(silent.pending, 0, "the losing reads were cancelled");
  });

  it("keeps the bytes' binding: a fast location serving other bytes loses to a slower one serving the root", async () => {
    const other = encodeTensorBlob([tensorFromArray({ name: "y", dtype: "float32", values: new Float32Array([9]), dims: [1] })]);
    const wrong = await listen((serve) => serve(other));
    const slow = await listen((serve) => setTimeout(() => serve(BLOB), 300));
    try {
      const fetched = await fetchOutput({ root: outputRoot(BLOB), uris: [`${wrong.url}/o`, `${slow.url}/o`], maxBytes: MAX_BYTES, allowFileUris: false, budgetMs: 5_000 });
      assert.ok(fetched.ok && fetched.source === `${slow.url}/o`, JSON.stringify(fetched.ok ? fetched.source : fetched.problem));
      const onlyWrong = await fetchOutput({ root: outputRoot(BLOB), uris: [`${wrong.url}/o`], maxBytes: MAX_BYTES, allowFileUris: false, budgetMs: 5_000 });
      assert.match(onlyWrong.ok ? "" : onlyWrong.problem, /OutputRootMismatchError/);
    } finally {
      await Promise.all([close(wrong), close(slow)]);
    }
  });

  it("reads the chain's own locations first: the reveal's URI and an equal-root audit copy before the provider's announcements, newest first", () => {
    const root = outputRoot(BLOB);
    const record = { jobId: 1n, job: { result: root }, outputURI: "https://reveal/o", inlineOutput: undefined } as unknown as JobRecord;
    const announced = Array.from({ length: 12 }, (_, i) => `https://announced/${i}`);
    const { uris } = providerOutputLocations({ record, locations: { announced, audit: { outputRoot: root, outputURI: "https://auditor/o" } } as never });
    assert.deepEqual(uris.slice(0, 4), ["https://reveal/o", "https://auditor/o", "https://announced/11", "https://announced/10"]);
  });

  it("reads a job's input from the dApp's URI and the provider's copy at once: a dApp's server that never answers does not cost the provider its verdict", async () => {
    const input = BLOB;
    const record = {
      jobId: 3n,
      job: { poster: zeroAddress, modelId: 1, terms: 1, fee: 0n, collateral: 0n, callbackGasLimit: 0, status: JobStatus.Revealed, deadline: 0, provider: zeroAddress, commitBlock: 0n, result: outputRoot(input), inlineOutput: false, sampled: false },
      inputHash: blobId(input),
      inputURI: `${silent.url}/input`,
      inlineInput: "0x",
    } as unknown as JobRecord;
    const started = performance.now();
    const bytes = await fetchJobInput({ record, fallbackUris: [`${serving.url}/blobs/${blobId(input)}`], maxBytes: MAX_BYTES, allowFileUris: false, timeoutMs: 20_000, budgetMs: 5_000 });
    assert.ok(Buffer.from(bytes).equals(Buffer.from(input)));
    assert.ok(performance.now() - started < 2_000, "the silent dApp URI was not waited for");
    // Served nowhere: the job URI's own error, within the budget.
    const t0 = performance.now();
    await assert.rejects(fetchJobInput({ record, fallbackUris: silentUris(3, "blobs"), maxBytes: MAX_BYTES, allowFileUris: false, timeoutMs: 20_000, budgetMs: 300 }), (error: unknown) => {
      assert.ok(error instanceof BlobUnavailableError, String(error));
      assert.match((error as Error).message, new RegExp(`no answer within the 300 ms given to all of the blob's locations \\(${silent.url}/input\\)`));
      return true;
    });
    assert.ok(performance.now() - t0 < 2_000);
  });

  it("reads a location that failed again within the attempt while another is still read: a crawling location cannot hold a busy one's second answer till the budget ends", async () => {
    // The provider's blob server answers 503 once (busy: an attacker filled its per-client slots for a moment), then
    // serves; the dApp's URI, which the attacker controls, crawls. One read each per attempt waited out the crawl.
    let answered = 0;
    const busyOnce = await listen(() => {});
    busyOnce.server.removeAllListeners("request");
    busyOnce.server.on("request", (_request, response) => {
      if (answered++ === 0) return void response.writeHead(503).end();
      response.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(BLOB.byteLength) });
      response.end(BLOB);
    });
    try {
      const started = performance.now();
      const fetched = await fetchOutput({ root: outputRoot(BLOB), uris: [`${silent.url}/crawl`, `${busyOnce.url}/o`], maxBytes: MAX_BYTES, allowFileUris: false, budgetMs: 20_000 });
      const elapsed = performance.now() - started;
      assert.ok(fetched.ok && fetched.source === `${busyOnce.url}/o`, JSON.stringify(fetched.ok ? fetched.source : fetched.problem));
      assert.equal(answered, 2, "read twice: a 503, then the bytes");
      assert.ok(elapsed < 5_000, `took ${Math.round(elapsed)} ms: the busy location was read again about a second later`);
      await settle(() => silent.pending === 0);
    } finally {
      await close(busyOnce);
    }
  });

  it("reports every location's own failure when none serves and the budget is not the cause", async () => {
    const missing = await listen(() => {});
    missing.server.removeAllListeners("request");
    missing.server.on("request", (_request, response) => response.writeHead(404).end());
    try {
      const read = await firstServed({
        uris: [`${missing.url}/a`, "", `${missing.url}/a`, undefined, `${missing.url}/b`],
        read: async (uri, signal) => {
          const response = await fetch(uri, { signal });
          if (response.status === 404) throw new BlobNotFoundError({ source: uri });
          return new Uint8Array(await response.arrayBuffer());
        },
        budgetMs: 5_000,
      });
      assert.equal(read.ok, false);
      assert.deepEqual(
        read.ok ? [] : read.failures.map((f) => [f.source, (f.error as Error).name]),
        [
          [`${missing.url}/a`, "BlobNotFoundError"],
          [`${missing.url}/b`, "BlobNotFoundError"],
        ],
        "empty and repeated locations dropped, each failure its own",
      );
    } finally {
      await close(missing);
    }
  });

  it("says so when a blob has no location at all", async () => {
    const read = await firstServed({ uris: ["", undefined], read: async () => new Uint8Array(), budgetMs: 100 });
    assert.deepEqual(read, { ok: false, failures: [] });
  });
});
