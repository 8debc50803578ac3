/**
 * dinfer's IPFS node (offchain/storage/ipfs.ts) and how blobs are read through it (offchain/storage/fetch.ts,
 * offchain/storage/output.ts): real Helia nodes in this process, libp2p on loopback only, no bootstrap peers,
 * no DHT, no delegated routing, no gateways. One node publishes, another configured with it as a peer reads;
 * every read is checked against what the chain would hold (a SHA-256 blob id, an output root).
 *
 * Run alone: `npx hardhat test mocha test/offchain/ipfs.test.ts`.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { unixfs } from "@helia/unixfs";
import { identify } from "@libp2p/identify";
import { tcp } from "@libp2p/tcp";
import { createHelia } from "helia";
import { after, before, describe, it } from "mocha";
import { keccak256, toHex } from "viem";

import { JobStatus, type JobRecord } from "../../offchain/chain/jobs.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId } from "../../offchain/codec/tensor.js";
import { NonRetryableError, RetryableError } from "../../offchain/errors.js";
import { BlobHashMismatchError, BlobTooLargeError, BlobUnavailableError, InvalidBlobUriError } from "../../offchain/storage/errors.js";
import { fetchBlob } from "../../offchain/storage/fetch.js";
import { IpfsConfigError, startIpfsNode, type IpfsNode } from "../../offchain/storage/ipfs.js";
import { parseIpfsUri } from "../../offchain/storage/ipfs-uri.js";
import { OutputRootMismatchError, readOutput } from "../../offchain/storage/output.js";
import { FETCH_BUDGET_MS, fetchBudgetMs } from "../../offchain/verifier/decide.js";
import { fetchJobInput as verifierFetchJobInput } from "../../offchain/verifier/judge.js";

/** 1.5 MiB of varied bytes: two UnixFS chunks (1 MiB each), so a dag-pb root over raw leaves. */
function bytesOf(seed: number, length = 1536 * 1024): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * The limit of every read whose outcome these tests judge by what it returns, not by when: a bitswap transfer of a few
 * MiB takes ~0.2 s on a quiet machine, but a CI machine busy with the rest of the suite has taken over 10 s. Only the
 * test about giving up on time ("times out on a CID no peer has") sets its own limit and measures it.
 */
const READ_MS = 60_000;

async function rejectsWith<E extends Error>(promise: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
  return error;
}

describe("IPFS blobs through Helia on loopback (offchain/storage/ipfs.ts)", function () {
  this.timeout(5 * READ_MS);
  let dir: string;
  /** The publisher (a dApp's node, a worker's). */
  let a: IpfsNode;
  /** A reader that has `a` as its configured peer (a worker's node, a verifier's). */
  let b: IpfsNode;
  const input = bytesOf(1);

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "dinfer-ipfs-"));
    a = await startIpfsNode({ dir: path.join(dir, "a") });
    b = await startIpfsNode({ dir: path.join(dir, "b"), peers: a.addresses() });
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("listens on loopback only, on a free port, and dials exactly the peers it is given", () => {
    for (const node of [a, b]) {
      assert.ok(node.addresses().length > 0);
      for (const address of node.addresses()) assert.match(address, /^\/ip4\/127\.0\.0\.1\/tcp\/[1-9]\d*\/p2p\/12D3Koo\w+$/);
    }
    assert.deepEqual(b.connectedPeers(), [a.peerId], "b dialled a, its only configured peer, and nobody else");
    assert.deepEqual(a.connectedPeers(), [b.peerId], "a, with no peers configured and no bootstrap list, only has b, which dialled it");
  });

  it("adds bytes as a CIDv1 with raw leaves and another node reads them back, checked against their blob id", async () => {
    const { cid, uri } = await a.add(input, { holder: "job:1:input" });
    assert.match(cid, /^bafy/, "more than one chunk: a dag-pb root in base32, CIDv1");
    assert.equal(uri, `ipfs://${cid}`);
    const small = await a.add(new Uint8Array([1, 2, 3]), { holder: "test" });
    assert.match(small.cid, /^bafkrei/, "one chunk: the raw leaf itself (raw codec, sha2-256)");
    assert.deepEqual(await b.cat({ cid, maxBytes: input.length, timeoutMs: READ_MS }), input);
    assert.deepEqual(await fetchBlob({ uri, expectedHash: blobId(input), ipfs: b, timeoutMs: READ_MS }), input);
  });

  it("refuses bytes that are not the blob the chain names (the CID alone binds nothing)", async () => {
    const { uri } = await a.add(bytesOf(2), { holder: "test" });
    const error = await rejectsWith(fetchBlob({ uri, expectedHash: blobId(input), ipfs: b, timeoutMs: READ_MS }), BlobHashMismatchError);
    assert.ok(error instanceof NonRetryableError);
    assert.equal(error.expected, blobId(input));
    assert.equal(error.actual, blobId(bytesOf(2)));
    assert.ok(error.message.includes(uri), `the message names the URI: ${error.message}`);
  });

  it("holds no more than the byte cap, however large the file", async () => {
    const big = bytesOf(3, 3 * 1024 * 1024);
    const { cid, uri } = await a.add(big, { holder: "test" });
    const error = await rejectsWith(b.cat({ cid, maxBytes: 200 * 1024, timeoutMs: READ_MS }), BlobTooLargeError);
    assert.match(error.message, /cap is 204800/);
    await rejectsWith(fetchBlob({ uri, expectedHash: blobId(big), ipfs: b, maxBytes: big.length - 1, timeoutMs: READ_MS }), BlobTooLargeError);
    // At the cap exactly it is read.
    assert.deepEqual(await fetchBlob({ uri, expectedHash: blobId(big), ipfs: b, maxBytes: big.length, timeoutMs: READ_MS }), big);
  });

  it("refuses to pin a blob it holds in part (a read cut off), with an error, and pins it once read whole", async () => {
    // A verifier reads a job's input from every location at once and cancels the IPFS read when another location
    // serves first: its node then holds part of the DAG. Pinning that walked the DAG in concurrent jobs whose
    // failures nobody awaited, and the daemon died of an unhandled rejection.
    const big = bytesOf(6, 16 * 1024 * 1024);
    const { cid } = await a.add(big, { holder: "test" });
    const partial = await startIpfsNode({ dir: path.join(dir, "partial"), peers: a.addresses() });
    try {
      await rejectsWith(partial.cat({ cid, maxBytes: 300 * 1024, timeoutMs: READ_MS }), BlobTooLargeError);
      // A capped read asks only for the blocks under the cap: nothing goes on fetching the other 15 MiB meanwhile
      // (it did until the read's time limit, and on loopback the whole DAG came in well within it).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await assert.rejects(partial.pin(cid, { holder: "job:1:input" }), /offline/);
      assert.equal(await partial.isPinned(cid), false);
      assert.deepEqual(await partial.cat({ cid, maxBytes: big.length, timeoutMs: READ_MS }), big);
      await partial.pin(cid, { holder: "job:1:input" });
      assert.deepEqual(await partial.holders(cid), ["job:1:input"]);
    } finally {
      await partial.stop();
    }
  });

  it("times out on a CID no peer has, with a retryable error that says what to do", async () => {
    // A real CID of bytes nobody added.
    const lonely = await startIpfsNode({ dir: path.join(dir, "lonely") });
    const { cid } = await lonely.add(bytesOf(4, 1000), { holder: "test" });
    await lonely.stop();
    const started = Date.now();
    const error = await rejectsWith(b.cat({ cid, maxBytes: 1 << 20, timeoutMs: 1_500 }), BlobUnavailableError);
    const took = Date.now() - started;
    assert.ok(error instanceof RetryableError, "a peer may come back: retryable");
    assert.ok(took >= 1_400 && took < 8_000, `gave up at its time limit, not before and not long after (${took} ms)`);
    assert.match(error.message, /no IPFS peer served it within 1500 ms \(1 peer connected, 1 configured\)/);
    assert.match(error.message, /add the node that holds it .* to ipfs\.peers/);
  });

  it("names malformed URIs, CIDs and multiaddrs", async () => {
    assert.throws(() => parseIpfsUri("ipfs://bafy$bad"), /malformed CID/);
    assert.throws(() => parseIpfsUri("ipfs://bafyabc/%2E%2E/x"), /not allowed/);
    assert.deepEqual(parseIpfsUri("ipfs://bafyabc/dir/out%20put.bin"), { cid: "bafyabc", path: ["dir", "out put.bin"] });
    await rejectsWith(fetchBlob({ uri: "ipfs://bafynotacid", expectedHash: blobId(input), ipfs: b }), InvalidBlobUriError);
    const bad = await rejectsWith(startIpfsNode({ dir: path.join(dir, "bad"), peers: ["127.0.0.1:4001"] }), IpfsConfigError);
    assert.match(bad.message, /^ipfs\.peers: "127\.0\.0\.1:4001" is not a multiaddr/);
  });

  it("keeps a pin per holder: the blocks go only when the last holder lets go (then garbage collection removes them)", async () => {
    const solo = await startIpfsNode({ dir: path.join(dir, "solo") });
    try {
      const bytes = bytesOf(5);
      const { cid } = await solo.add(bytes, { holder: "job:7:input" });
      await solo.pin(cid, { holder: "job:9:input" });
      await solo.pin(cid, { holder: "job:9:input" });
      assert.deepEqual((await solo.holders(cid)).sort(), ["job:7:input", "job:9:input"]);
      await solo.unpin(cid, { holder: "job:7:input" });
      await solo.gc();
      assert.deepEqual(await solo.holders(cid), ["job:9:input"]);
      assert.deepEqual(await solo.cat({ cid, maxBytes: bytes.length, timeoutMs: 2_000 }), bytes, "still held by job 9: kept through gc");
      await solo.unpin(cid, { holder: "job:9:input" });
      assert.equal(await solo.isPinned(cid), false);
      await solo.gc();
      await rejectsWith(solo.cat({ cid, maxBytes: bytes.length, timeoutMs: 1_000 }), BlobUnavailableError);
    } finally {
      await solo.stop();
    }
  });

  it("keeps its blocks, pins and peer id on disk across a restart", async () => {
    const repo = path.join(dir, "restart");
    const first = await startIpfsNode({ dir: repo });
    const bytes = bytesOf(6);
    const { cid } = await first.add(bytes, { holder: "job:3:output" });
    const peerId = first.peerId;
    await first.stop();
    assert.ok((await readdir(path.join(repo, "blocks"))).length > 0, "blocks are files under <dir>/blocks");
    const second = await startIpfsNode({ dir: repo });
    try {
      assert.equal(second.peerId, peerId);
      assert.deepEqual(await second.holders(cid), ["job:3:output"]);
      assert.deepEqual(await second.cat({ cid, maxBytes: bytes.length, timeoutMs: 2_000 }), bytes);
    } finally {
      await second.stop();
    }
  });

  describe("a job's ipfs:// input through its windows (docs/PROTOCOL.md, section 5)", () => {
    function jobWithInput(inputURI: string, bytes: Uint8Array): JobRecord {
      const zero = `0x${"00".repeat(20)}` as const;
      return {
        jobId: 11n,
        job: { poster: zero, modelId: 1, terms: 1, fee: 0n, collateral: 0n, callbackGasLimit: 0, status: JobStatus.Committed, deadline: 0, provider: zero, commitBlock: 0n, result: blobId(bytes), inlineOutput: false, sampled: true },
        inputHash: blobId(bytes),
        inputURI,
        inlineInput: "0x",
        postedBlock: 0n,
      };
    }

    it("is read from the provider's pinned copy once the poster's node is gone, and from nobody once that is gone too", async () => {
      const poster = await startIpfsNode({ dir: path.join(dir, "poster") });
      const provider = await startIpfsNode({ dir: path.join(dir, "provider"), peers: poster.addresses() });
      // The verifier knows the provider's node only (the poster's is out of its reach, as it will be gone).
      const verifier = await startIpfsNode({ dir: path.join(dir, "verifier"), peers: provider.addresses() });
      try {
        const bytes = bytesOf(9, 200_000);
        const { cid, uri } = await poster.add(bytes, { holder: "poster:input" });
        // The provider reads it whole (its claim) and pins it for the job.
        assert.deepEqual(await fetchBlob({ uri, expectedHash: blobId(bytes), ipfs: provider, timeoutMs: READ_MS }), bytes);
        await provider.pin(cid, { holder: "job:11:input" });
        await poster.stop();
        const record = jobWithInput(uri, bytes);
        const options = { maxBytes: 1 << 20, allowFileUris: false, ipfs: verifier, timeoutMs: READ_MS };
        assert.deepEqual(await verifierFetchJobInput({ record, ...options }), bytes, "the provider keeps the input the job names");
        // The job is final: the provider lets go and collects; a verifier's read now finds nobody (a retryable
        // error; the daemon judges it against the provider only if the job still needs judging by its deadline).
        await provider.unpin(cid, { holder: "job:11:input" });
        await provider.gc();
        const fresh = await startIpfsNode({ dir: path.join(dir, "verifier-2"), peers: provider.addresses() });
        try {
          await rejectsWith(verifierFetchJobInput({ record, ...options, ipfs: fresh, timeoutMs: 1_500 }), BlobUnavailableError);
        } finally {
          await fresh.stop();
        }
      } finally {
        await Promise.all([poster.stop(), provider.stop(), verifier.stop()]);
      }
    });

    it("bounds one verifier read of an input or an output by the time left before its step's deadline", () => {
      assert.equal(fetchBudgetMs({ now: 100n, deadline: 400n, reserveSeconds: 10, blob: "input" }), FETCH_BUDGET_MS.input.max);
      assert.equal(fetchBudgetMs({ now: 100n, deadline: 120n, reserveSeconds: 5, blob: "input" }), 15_000);
      assert.equal(fetchBudgetMs({ now: 100n, deadline: 104n, reserveSeconds: 5, blob: "input" }), FETCH_BUDGET_MS.input.min, "past the deadline: still a short try");
      assert.equal(fetchBudgetMs({ now: 100n, deadline: 400n, reserveSeconds: 10, blob: "output" }), FETCH_BUDGET_MS.output.max);
      assert.equal(fetchBudgetMs({ now: 100n, deadline: 200n, reserveSeconds: 10, blob: "output" }), 90_000, "the time left, below the longest");
      assert.equal(fetchBudgetMs({ now: 100n, deadline: 113n, reserveSeconds: 10, blob: "output" }), 3_000);
      assert.equal(fetchBudgetMs({ now: 100n, deadline: 105n, reserveSeconds: 10, blob: "output" }), FETCH_BUDGET_MS.output.min);
    });
  });

  describe("outputs on IPFS, bound by the output root", () => {
    /** A Helia node of the test's own (the same loopback-only libp2p) that publishes a directory: `<dir>/<name>`. */
    async function publishInDirectory(name: string, bytes: Uint8Array): Promise<{ dirCid: string; stop: () => Promise<void>; address: string }> {
      const helia = await createHelia({
        libp2p: {
          addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
          transports: [tcp()],
          connectionEncrypters: [noise()],
          streamMuxers: [yamux()],
          peerDiscovery: [],
          contentRouters: [() => ({ provide: async () => {}, cancelReprovide: async () => {}, findProviders: async function* () {}, put: async () => {}, get: async () => new Uint8Array() })],
          services: { identify: identify() },
        } as never,
        http: { delegatedRouters: [], recursiveGateways: [] },
      });
      await helia.start();
      const fs = unixfs(helia);
      const file = await fs.addBytes(bytes, { rawLeaves: true, cidVersion: 1 });
      const dirCid = await fs.cp(file, await fs.addDirectory(), name);
      return { dirCid: dirCid.toString(), stop: async () => {
          await helia.stop();
        }, address: String(helia.libp2p.getMultiaddrs()[0]) };
    }

    it("reads an ipfs:// output through the node and checks it against the root", async () => {
      const output = bytesOf(7, 20_000);
      const { uri } = await a.add(output, { holder: "job:5:output" });
      const read = await readOutput({ root: outputRoot(output), uris: [uri], ipfs: b, allowFileUris: false, timeoutMs: READ_MS });
      assert.deepEqual([read.source, read.bytes], [uri, output]);
      const wrong = await rejectsWith(readOutput({ root: outputRoot(input), uris: [uri], ipfs: b, allowFileUris: false, timeoutMs: READ_MS }), OutputRootMismatchError);
      assert.match(wrong.message, new RegExp(`its bytes have root ${outputRoot(output)}, not ${outputRoot(input)}`));
    });

    it("does not take an ipfs:// path's last segment for the blob's id (the root binds it; was: a hash mismatch)", async () => {
      const output = bytesOf(8, 20_000);
      // A file named like a blob id that is not this output's: only the root is what the chain holds.
      const name = keccak256(toHex("some other blob"));
      const published = await publishInDirectory(name, output);
      try {
        await b.dial(published.address);
        const uri = `ipfs://${published.dirCid}/${name}`;
        const read = await readOutput({ root: outputRoot(output), uris: [uri], ipfs: b, allowFileUris: false, timeoutMs: READ_MS });
        assert.deepEqual(read.bytes, output);
        // The directory itself is not a file: refused, naming the remedy.
        const dirOnly = await readOutput({ root: outputRoot(output), uris: [`ipfs://${published.dirCid}`], ipfs: b, allowFileUris: false, timeoutMs: READ_MS }).catch((e: unknown) => e);
        assert.ok(dirOnly instanceof NonRetryableError && /not a file/.test(dirOnly.message), String(dirOnly));
      } finally {
        await published.stop();
      }
    });
  });
});
