/**
 * A dApp that stops serving its input after the provider fetched it must not make honest work
 * unverifiable (the input then "cannot be had", every verifier disagrees and the honest provider is
 * slashed, the dApp refunded with the finder's share). The provider keeps the inputs of its jobs in its
 * blob store and serves them beside their outputs; a verifier whose read of the dApp's URI fails reads
 * the input from the provider's blob server (offchain/verifier/judge.ts `providerInputLocations`,
 * `fetchJobInput`'s fallback), checked against the input hash like the dApp's own bytes. Real sockets: the
 * worker's blob server and a dApp's HTTP server.
 *
 * Run alone: `npx hardhat test mocha test/offchain/input-fallback.test.ts`.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import { after, before, describe, it } from "mocha";
import type { Hex } from "viem";

import type { JobRecord } from "../../offchain/chain/jobs.js";
import { blobId, encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { startBlobServer, type BlobServer } from "../../offchain/storage/server.js";
import { fetchJobInput, providerInputLocations } from "../../offchain/verifier/judge.js";
import { revealedJob } from "../helpers/revealed-job.js";

const MAX_BYTES = 1 << 20;
const input = encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values: new Float32Array([1, 2, 3, 4]), dims: [1, 4] })]);
const other = encodeTensorBlob([tensorFromArray({ name: "x", dtype: "float32", values: new Float32Array([9, 9, 9, 9]), dims: [1, 4] })]);
const INPUT_HASH = blobId(input);

const job = ({ inputURI, outputURI }: { inputURI: string; outputURI?: string }): JobRecord => revealedJob({ root: INPUT_HASH, outputURI, inputURI, inputHash: INPUT_HASH });

describe("a job's input when the dApp stops serving it: the provider's blob server", () => {
  let dir: string;
  let providerBlobs: BlobServer;
  let outputRoot: Hex;
  /** The dApp's server: `/input` gone (404), `/equivocate` serves other bytes. */
  let dapp: Server;
  let dappUrl: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "dinfer-input-fallback-"));
    const store = new LocalBlobStore({ dir: path.join(dir, "blobs") });
    const outputs = new LocalBlobStore({ dir: path.join(dir, "outputs"), address: "outputRoot" });
    // What the worker keeps for a job it committed to: the input (under its hash) beside the output (under its root).
    await store.put(input, { knownId: INPUT_HASH });
    outputRoot = await outputs.put(other);
    providerBlobs = await startBlobServer({ store, outputs, port: 0 });
    dapp = createServer((req, res) => {
      if (req.url === "/equivocate") return void res.writeHead(200).end(other);
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => dapp.listen(0, "127.0.0.1", resolve));
    dappUrl = `http://127.0.0.1:${(dapp.address() as AddressInfo).port}`;
  });

  after(async () => {
    await providerBlobs?.close();
    await new Promise<void>((resolve) => dapp?.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it("derives the provider's input location from each of its /outputs/<root> (and older /blobs/<id>) output locations, once each, and from nothing else", () => {
    const base = "http://worker.example:8600/";
    const root = `0x${"ab".repeat(32)}`;
    const outputUris = [`${base}outputs/${root}`, `${base}outputs/${root.replace("ab", "cd")}`, `${base}blobs/${root}`, "ipfs://bafkreiabc", "https://cdn.example/out.dtn", "http://older.example/x/blobs/" + root];
    assert.deepEqual(providerInputLocations({ inputHash: INPUT_HASH, outputUris }), [`${base}blobs/${INPUT_HASH.toLowerCase()}`, `http://older.example/x/blobs/${INPUT_HASH.toLowerCase()}`]);
    assert.deepEqual(providerInputLocations({ inputHash: INPUT_HASH, outputUris: [`${base}outputs/0x12`, `${base}inputs/${root}`] }), [], "not an output location of a blob server");
  });

  it("reads the input from the provider's blob server when the dApp's URI answers 404, and the bytes are the input's", async () => {
    const outputURI = `${providerBlobs.url}/outputs/${outputRoot}`;
    const record = job({ inputURI: `${dappUrl}/input`, outputURI });
    const fallbackUris = providerInputLocations({ inputHash: INPUT_HASH, outputUris: [outputURI] });
    const bytes = await fetchJobInput({ record, fallbackUris, maxBytes: MAX_BYTES, allowFileUris: false, timeoutMs: 5_000 });
    assert.equal(blobId(bytes), INPUT_HASH);
    // Without the fallback the input cannot be had: what made every verifier disagree with honest work.
    await assert.rejects(fetchJobInput({ record, maxBytes: MAX_BYTES, allowFileUris: false, timeoutMs: 5_000 }), /404|not found/i);
  });

  it("takes the provider's copy when the dApp serves other bytes than its input hash names (equivocation), and takes nothing that does not match the hash", async () => {
    const outputURI = `${providerBlobs.url}/outputs/${outputRoot}`;
    const record = job({ inputURI: `${dappUrl}/equivocate`, outputURI });
    const bytes = await fetchJobInput({ record, fallbackUris: async () => providerInputLocations({ inputHash: INPUT_HASH, outputUris: [outputURI] }), maxBytes: MAX_BYTES, allowFileUris: false, timeoutMs: 5_000 });
    assert.equal(blobId(bytes), INPUT_HASH);
    // A "fallback" that serves the wrong bytes is refused by the hash: the dApp's URI's error is reported.
    await assert.rejects(
      fetchJobInput({ record, fallbackUris: [`${dappUrl}/equivocate`], maxBytes: MAX_BYTES, allowFileUris: false, timeoutMs: 5_000 }),
      (error: Error) => /hash|mismatch/i.test(`${error.name} ${error.message}`),
    );
  });
});
