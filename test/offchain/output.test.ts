/**
 * One way to read a revealed output (offchain/storage/output.ts): the SDK (a dApp's `fetchOutput`) and
 * the verifier (`fetchProviderOutput`) read the same bytes from the same locations, a worker's
 * `/blobs/<id>` URI, an `ipfs://<cid>` URI through an IPFS HTTP gateway (a real local server standing in
 * for one, as the verifier's `ipfsGateway` option names it), another URL, inline bytes, and fail on the
 * same locations with the same errors. Real sockets, no mocks.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import { after, before, describe, it } from "mocha";
import { keccak256, toHex, type Hex } from "viem";

import type { JobRecord } from "../../offchain/chain/jobs.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { encodeTensorBlob, tensorFromArray } from "../../offchain/codec/tensor.js";
import { NonRetryableError, RetryableError } from "../../offchain/errors.js";
import { fetchOutput as sdkFetchOutput } from "../../offchain/sdk/jobs.js";
import { BlobNotFoundError, BlobUnavailableError, InvalidBlobUriError } from "../../offchain/storage/errors.js";
import { readBlob } from "../../offchain/storage/fetch.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { OutputNotServedError, OutputRootMismatchError, OutputUnavailableError, readOutput } from "../../offchain/storage/output.js";
import { startBlobServer, type BlobServer } from "../../offchain/storage/server.js";
import { fetchProviderOutput } from "../../offchain/verifier/judge.js";
import { revealedJob } from "../helpers/revealed-job.js";

const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
const MAX_BYTES = 1 << 20;

function output(values: number[]): Uint8Array {
  return encodeTensorBlob([tensorFromArray({ name: "y", dtype: "float32", values: new Float32Array(values), dims: [values.length] })]);
}

type Reading = { ok: true; bytes: Uint8Array } | { ok: false; error: unknown; problem: string };

/**
 * What the SDK and the verifier each make of one revealed job, with the same gateway. Both read private hosts, as on
 * a devnet: the servers here are on 127.0.0.1 (refusing them is test/offchain/sdk-private-hosts.test.ts's).
 */
async function readBoth(record: JobRecord, ipfsGateway?: string): Promise<{ sdk: Reading; verifier: Reading }> {
  let sdk: Reading;
  try {
    sdk = { ok: true, bytes: await sdkFetchOutput({ record, ipfsGateway, maxBytes: MAX_BYTES, allowPrivateHosts: true }) };
  } catch (error) {
    sdk = { ok: false, error, problem: error instanceof Error ? error.message : String(error) };
  }
  const fetched = await fetchProviderOutput({ record, ipfsGateway, maxBytes: MAX_BYTES, allowFileUris: true });
  const verifier: Reading = fetched.ok ? { ok: true, bytes: fetched.bytes } : { ok: false, error: undefined, problem: fetched.problem };
  return { sdk, verifier };
}

/** Asserts the SDK read exactly the verifier's bytes. */
function sameBytes({ sdk, verifier }: { sdk: Reading; verifier: Reading }, expected: Uint8Array): void {
  assert.ok(sdk.ok, `the SDK failed: ${!sdk.ok ? sdk.problem : ""}`);
  assert.ok(verifier.ok, `the verifier failed: ${!verifier.ok ? verifier.problem : ""}`);
  assert.deepEqual(sdk.bytes, expected);
  assert.deepEqual(verifier.bytes, expected);
}

/** Asserts both refused, the SDK with an error of `type` whose message the verifier's problem carries. */
function sameFailure<E extends Error>({ sdk, verifier }: { sdk: Reading; verifier: Reading }, type: abstract new (...args: never[]) => E): E {
  assert.ok(!sdk.ok, "the SDK read an output it should have refused");
  assert.ok(!verifier.ok, "the verifier read an output it should have refused");
  assert.ok(sdk.error instanceof type, `expected ${type.name}, got ${String(sdk.error)}`);
  assert.ok(verifier.problem.includes(sdk.problem), `the verifier's problem "${verifier.problem}" does not carry the SDK's "${sdk.problem}"`);
  return sdk.error;
}

describe("reading a revealed output (offchain/storage/output.ts)", () => {
  const served = output([0.1, 0.9, 0.2, 0.8]);
  const other = output([0.3, 0.7, 0.4, 0.6]);
  let dir: string;
  let store: LocalBlobStore;
  let blobs: BlobServer;
  /** An IPFS HTTP gateway's read path (`/ipfs/<cid>`), another URL, and failing routes. */
  let gateway: Server;
  let gatewayUrl: string;
  let servedId: Hex;
  let otherId: Hex;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "dinfer-output-"));
    store = new LocalBlobStore({ dir });
    blobs = await startBlobServer({ store, port: 0 });
    servedId = await store.put(served);
    otherId = await store.put(other);
    gateway = createServer((req, res) => {
      const routes: Record<string, () => void> = {
        [`/ipfs/${CID}`]: () => res.writeHead(200, { "content-type": "application/octet-stream" }).end(served),
        [`/ipfs/${CID}/other`]: () => res.writeHead(200).end(other),
        "/results/out.dtn": () => res.writeHead(200).end(served),
        "/busy": () => res.writeHead(503).end(),
      };
      (routes[req.url ?? ""] ?? (() => res.writeHead(404).end()))();
    });
    await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve));
    gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
  });

  after(async () => {
    await blobs.close();
    await new Promise<void>((resolve) => gateway.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it("reads a worker's /blobs/<id> URI the same in the SDK and the verifier", async () => {
    const both = await readBoth(revealedJob({ root: outputRoot(served), outputURI: `${blobs.url}/blobs/${servedId}` }));
    sameBytes(both, served);
  });

  it("reads an ipfs://<cid> output through the IPFS gateway the same in the SDK and the verifier (the SDK threw on it before)", async () => {
    const both = await readBoth(revealedJob({ root: outputRoot(served), outputURI: `ipfs://${CID}` }), gatewayUrl);
    sameBytes(both, served);
  });

  it("reads any other URL and inline bytes the same, bound to the chain by the root", async () => {
    sameBytes(await readBoth(revealedJob({ root: outputRoot(served), outputURI: `${gatewayUrl}/results/out.dtn` })), served);
    sameBytes(await readBoth(revealedJob({ root: outputRoot(served), inlineOutput: toHex(served) })), served);
  });

  it("refuses bytes whose root is not the revealed one in both, with OUTPUT_ROOT_MISMATCH", async () => {
    const viaIpfs = sameFailure(await readBoth(revealedJob({ root: outputRoot(served), outputURI: `ipfs://${CID}/other` }), gatewayUrl), OutputRootMismatchError);
    assert.equal((viaIpfs as OutputRootMismatchError).code, "OUTPUT_ROOT_MISMATCH");
    assert.match(viaIpfs.message, new RegExp(`its bytes have root ${outputRoot(other)}, not ${outputRoot(served)}`));
    // A /blobs/<id> URI serving the blob of that id, but not the revealed output.
    sameFailure(await readBoth(revealedJob({ root: outputRoot(served), outputURI: `${blobs.url}/blobs/${otherId}` })), OutputRootMismatchError);
  });

  it("fails on the same locations with the same error classes: not found (final), unavailable (retryable), no gateway", async () => {
    const missing = sameFailure(await readBoth(revealedJob({ root: outputRoot(served), outputURI: `${blobs.url}/blobs/${keccak256("0x01")}` })), BlobNotFoundError);
    assert.ok(missing instanceof NonRetryableError);
    const busy = sameFailure(await readBoth(revealedJob({ root: outputRoot(served), outputURI: `${gatewayUrl}/busy` })), BlobUnavailableError);
    assert.ok(busy instanceof RetryableError, "a 503 may pass: retryable");
    const noGateway = sameFailure(await readBoth(revealedJob({ root: outputRoot(served), outputURI: `ipfs://${CID}` })), InvalidBlobUriError);
    assert.match(noGateway.message, /no IPFS gateway configured/);
  });

  it("says NO_OUTPUT_URI for a job revealed nowhere, and the verifier that no location is known", async () => {
    const { sdk, verifier } = await readBoth(revealedJob({ root: outputRoot(served) }));
    assert.ok(!sdk.ok && sdk.error instanceof NonRetryableError && sdk.error.code === "NO_OUTPUT_URI");
    assert.deepEqual(verifier, { ok: false, error: undefined, problem: "no location is known" });
  });

  it("with several locations, takes the first that serves the output, else says whether one may serve it later", async () => {
    const root = outputRoot(served);
    const missing = `${blobs.url}/blobs/${keccak256("0x01")}`;
    const options = { root, maxBytes: MAX_BYTES, allowFileUris: false, ipfsGateway: gatewayUrl };
    const found = await readOutput({ ...options, uris: [missing, `${gatewayUrl}/busy`, `ipfs://${CID}`] });
    assert.deepEqual([found.source, found.bytes], [`ipfs://${CID}`, served]);
    const later = await readOutput({ ...options, uris: [missing, `${gatewayUrl}/busy`] }).catch((error: unknown) => error);
    assert.ok(later instanceof OutputUnavailableError && later instanceof RetryableError, String(later));
    assert.match(later.message, /blob not found.*HTTP 503/);
    const never = await readOutput({ ...options, uris: [missing, `${gatewayUrl}/nothing`] }).catch((error: unknown) => error);
    assert.ok(never instanceof OutputNotServedError && never instanceof NonRetryableError, String(never));
    const file = await readOutput({ ...options, uris: [`file://${store.pathOf(servedId)}`] }).catch((error: unknown) => error);
    assert.ok(file instanceof NonRetryableError && (file as NonRetryableError).code === "OUTPUT_URI_REFUSED", "file:// needs allowFileUris");
  });

  it("readBlob reads with fetchBlob's rules but binds nothing: the caller checks the bytes", async () => {
    assert.deepEqual(await readBlob({ uri: `ipfs://${CID}`, ipfsGateway: gatewayUrl }), served);
    await assert.rejects(readBlob({ uri: `${gatewayUrl}/results/out.dtn`, maxBytes: served.length - 1 }), /blob too large/);
    await assert.rejects(readBlob({ uri: `${gatewayUrl}/busy` }), (error: unknown) => error instanceof BlobUnavailableError);
  });
});
