/**
 * The daemons' reads of URIs others chose (offchain/storage/host-policy.ts; offchain/storage/fetch.ts
 * `allowPrivateHosts`): a job's input is the poster's choice and an output location the provider's, so with
 * `allowPrivateHosts` off a read of a loopback, private or link-local host is refused before any request
 * reaches it, whether the URI names the address or a hostname that resolves to one. Real sockets throughout:
 * each refusal is checked against a server on 127.0.0.1 that counts the requests it gets.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import path from "node:path";

import { after, before, describe, it } from "mocha";

import type { JobRecord } from "../../offchain/chain/jobs.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import { blobId } from "../../offchain/codec/tensor.js";
import { fetchJobInput, type InputSources } from "../../offchain/provider/input.js";
import { fetchBlob, readBlob } from "../../offchain/storage/fetch.js";
import { ipLiteral, privateAddressKind } from "../../offchain/storage/host-policy.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { fetchOutput } from "../../offchain/storage/output.js";
import { HashPool } from "../../offchain/threads/hash-pool.js";
import { fetchJobInput as fetchVerifierInput } from "../../offchain/verifier/judge.js";
import { countingServer, refused, type CountingServer } from "../helpers/private-hosts.js";

const CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
const blob = new Uint8Array(Array.from({ length: 5_000 }, (_, i) => (i * 31) & 0xff));
const id = blobId(blob);

describe("host policy: which addresses are not the public internet", function () {
  it("knows the non-public IPv4 ranges and lets public addresses through", function () {
    for (const [ip, kind] of [
      ["127.0.0.1", "loopback"],
      ["127.255.0.9", "loopback"],
      ["10.0.0.5", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.168.1.1", "private"],
      ["169.254.169.254", "link-local"],
      ["0.0.0.0", "this network"],
      ["100.64.0.1", "carrier-grade NAT"],
      ["224.0.0.1", "multicast"],
      ["255.255.255.255", "reserved"],
      ["192.0.2.7", "documentation"],
      ["198.51.100.1", "documentation"],
      ["203.0.113.200", "documentation"],
      ["198.19.255.1", "benchmarking"],
      ["192.88.99.1", "6to4 relay"],
    ]) {
      assert.equal(privateAddressKind(ip!), kind, ip);
    }
    for (const ip of ["8.8.8.8", "172.15.255.255", "172.32.0.0", "169.253.0.1", "11.0.0.1", "1.1.1.1", "192.0.3.1", "203.0.114.1", "198.20.0.1"]) assert.equal(privateAddressKind(ip), undefined, ip);
  });

  it("knows the non-public IPv6 ranges, and judges an IPv6 address that carries an IPv4 one by the IPv4 one", function () {
    for (const [ip, kind] of [
      ["::1", "loopback"],
      ["0:0:0:0:0:0:0:1", "loopback"],
      ["::", "unspecified"],
      ["::ffff:127.0.0.1", "loopback"],
      ["::ffff:7f00:1", "loopback"],
      ["::FFFF:10.1.2.3", "private"],
      ["::127.0.0.1", "loopback"],
      ["64:ff9b::a9fe:a9fe", "link-local"],
      ["2002:c0a8:0101::1", "private"],
      ["fc00::1", "unique local"],
      ["fd12:3456::1", "unique local"],
      ["fe80::1", "link-local"],
      ["fe80::1%eth0", "link-local"],
      ["febf::1", "link-local"],
      ["ff02::1", "multicast"],
      ["::ffff:0:127.0.0.1", "loopback"],
      ["::ffff:0:a00:1", "private"],
      ["64:ff9b:1::a9fe:a9fe", "NAT64 local use"],
      ["64:ff9b:1:ffff::8.8.8.8", "NAT64 local use"],
      // Teredo: the server's IPv4 address in bits 32-63, the client's inverted in the last 32 bits.
      ["2001:0:c0a8:101::1", "private"],
      ["2001:0:808:808::80ff:fffe", "loopback"],
      ["2001:db8::1", "documentation"],
      ["3fff:fff::1", "documentation"],
      ["2001:2::1", "benchmarking"],
      ["2001:10::1", "ORCHID"],
      ["2001:2f::1", "ORCHID"],
      ["5f00::1", "SRv6 segment"],
      ["100::1", "discard-only"],
    ]) {
      assert.equal(privateAddressKind(ip!), kind, ip);
    }
    for (const ip of ["2606:4700:4700::1111", "::ffff:8.8.8.8", "2001:4860:4860::8888", "::ffff:0:8.8.8.8", "2001:0:808:808::f7f7:f7f7", "64:ff9b::8.8.8.8", "100:0:0:1::1", "2001:1::1", "2001:2:1::1", "2001:30::1", "3fff:1000::1", "5f01::1"]) assert.equal(privateAddressKind(ip), undefined, ip);
    assert.equal(privateAddressKind("not-an-ip"), undefined);
  });

  it("knows an IP literal in a URL, in the URL parser's normal form, and a hostname from one", function () {
    assert.equal(ipLiteral(new URL("http://127.0.0.1:8080/x")), "127.0.0.1");
    assert.equal(ipLiteral(new URL("http://2130706433/x")), "127.0.0.1", "the shorthand forms are dotted quads once parsed");
    assert.equal(ipLiteral(new URL("http://[::1]/x")), "::1");
    assert.equal(ipLiteral(new URL("http://[::ffff:127.0.0.1]/x")), "::ffff:7f00:1");
    assert.equal(ipLiteral(new URL("http://localhost/x")), undefined);
    assert.equal(ipLiteral(new URL("https://example.com/x")), undefined);
  });
});

describe("fetchBlob with allowPrivateHosts off: no request reaches a non-public host", function () {
  let local: CountingServer;

  before(async () => {
    local = await countingServer(blob);
  });
  after(async () => {
    await local.close();
  });

  it("refuses a blob on 127.0.0.1 before any request, naming the host, its kind and the remedy", async function () {
    const before = local.requests();
    await assert.rejects(fetchBlob({ uri: `${local.base}/blob`, expectedHash: id, allowPrivateHosts: false }), refused(/^private host refused: 127\.0\.0\.1 is a private address \(loopback\) \(http:\/\/127\.0\.0\.1:\d+\/blob\)/));
    await assert.rejects(readBlob({ uri: `${local.base}/blob?token=secret`, allowPrivateHosts: false }), refused(/127\.0\.0\.1 is a private address \(loopback\)/));
    assert.equal(local.requests(), before, "the server got no request");
  });

  it("refuses a hostname that resolves to a private address when its socket connects (localhost), with no request sent", async function () {
    const before = local.requests();
    await assert.rejects(
      fetchBlob({ uri: `http://localhost:${local.port}/blob`, expectedHash: id, allowPrivateHosts: false }),
      refused(/^private host refused: localhost resolves to (127\.0\.0\.1|::1), a private address \(loopback\)/),
    );
    assert.equal(local.requests(), before, "the server got no request");
  });

  it("refuses IPv6 literals: loopback [::1] and IPv4-mapped [::ffff:127.0.0.1]", async function () {
    const before = local.requests();
    await assert.rejects(fetchBlob({ uri: `http://[::1]:${local.port}/blob`, expectedHash: id, allowPrivateHosts: false }), refused(/::1 is a private address \(loopback\)/));
    // On a dual-stack host the mapped address reaches the server on 127.0.0.1.
    await assert.rejects(fetchBlob({ uri: `http://[::ffff:127.0.0.1]:${local.port}/blob`, expectedHash: id, allowPrivateHosts: false }), refused(/::ffff:7f00:1 is a private address \(loopback\)/));
    assert.equal(local.requests(), before, "the server got no request");
  });

  it("refuses the cloud's metadata service and the private ranges at once, without a connection attempt", async function () {
    // Without the guard these would wait out their time limit (no such hosts here) and fail as retryable.
    for (const [host, kind] of [
      ["169.254.169.254", "link-local"],
      ["10.0.0.1", "private"],
      ["192.168.1.1", "private"],
      ["[fd00::1]", "unique local"],
    ] as const) {
      await assert.rejects(fetchBlob({ uri: `http://${host}/latest/meta-data/`, expectedHash: id, timeoutMs: 2_000, allowPrivateHosts: false }), refused(new RegExp(`a private address \\(${kind}\\)`)));
    }
  });

  it("reads the same blobs with allowPrivateHosts on, and by default (fetchBlob's caller chose the URI; the SDK's reads of others' URIs pass it: test/offchain/sdk-private-hosts.test.ts)", async function () {
    const before = local.requests();
    assert.deepEqual(await fetchBlob({ uri: `${local.base}/blob`, expectedHash: id, allowPrivateHosts: true }), blob);
    assert.deepEqual(await fetchBlob({ uri: `http://localhost:${local.port}/blob`, expectedHash: id, allowPrivateHosts: true }), blob);
    assert.deepEqual(await fetchBlob({ uri: `${local.base}/blob`, expectedHash: id }), blob, "the default reads private hosts");
    assert.deepEqual(await readBlob({ uri: `${local.base}/blob` }), blob);
    assert.equal(local.requests(), before + 4);
  });

  it("never sends a screened read over a connection an unscreened one kept alive (which would skip the lookup)", async function () {
    const before = local.requests();
    // An unscreened read (the SDK in the same process, a gateway on localhost) leaves a keep-alive socket to localhost.
    assert.deepEqual(await fetchBlob({ uri: `http://localhost:${local.port}/blob`, expectedHash: id }), blob);
    await assert.rejects(fetchBlob({ uri: `http://localhost:${local.port}/blob`, expectedHash: id, allowPrivateHosts: false }), refused(/localhost resolves to/));
    assert.equal(local.requests(), before + 1, "only the unscreened read reached the server");
  });

  it("does not screen an ipfs:// URI read through the configured gateway: the gateway is the operator's choice", async function () {
    const before = local.requests();
    assert.deepEqual(await fetchBlob({ uri: `ipfs://${CID}/input.bin`, ipfsGateway: local.base, expectedHash: id, allowPrivateHosts: false }), blob);
    assert.equal(local.requests(), before + 1);
  });

  it("screens every redirect: a public host that redirects to a private one is refused at the redirect (needs a public address on this machine)", async function () {
    // A server on an address of this machine outside every non-public range stands in for a public host.
    const publicAddress = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === "IPv4" && !a.internal && privateAddressKind(a.address) === undefined)?.address;
    if (publicAddress === undefined) return this.skip();
    const hop = await countingServer(blob, { host: publicAddress });
    try {
      const before = local.requests();
      const uri = `${hop.base}/to?url=${encodeURIComponent(`${local.base}/blob`)}`;
      await assert.rejects(fetchBlob({ uri, expectedHash: id, allowPrivateHosts: false, timeoutMs: 5_000 }), refused(/127\.0\.0\.1 is a private address \(loopback\)/));
      assert.equal(hop.requests(), 1, "the public host was read");
      assert.equal(local.requests(), before, "the private host it redirected to got no request");
      assert.deepEqual(await fetchBlob({ uri, expectedHash: id, allowPrivateHosts: true }), blob, "followed with allowPrivateHosts on");
    } finally {
      await hop.close();
    }
  });
});

describe("the daemons' reads with allowPrivateHosts off: a 127.0.0.1 input or output is refused unread", function () {
  let local: CountingServer;
  let pool: HashPool;
  let dir: string;

  before(async () => {
    local = await countingServer(blob);
    pool = new HashPool({ size: 1 });
    dir = await mkdtemp(path.join(tmpdir(), "dinfer-private-hosts-"));
  });
  after(async () => {
    await pool.close();
    await local.close();
    await rm(dir, { recursive: true, force: true });
  });

  const record = (inputURI: string) => ({ inlineInput: "0x", inputURI, inputHash: id }) as unknown as JobRecord;

  it("the worker's input read, in a hashing thread and on the main thread, fails non-retryable (the worker skips the job, as for any unreadable input)", async function () {
    const before = local.requests();
    const store = new LocalBlobStore({ dir });
    const threads: InputSources["runner"] = { readInput: (read, signal) => pool.read(read, signal) };
    for (const [where, runner] of [["a hashing thread", threads], ["the main thread", {}]] as const) {
      const sources: InputSources = { allowFileUris: false, allowPrivateHosts: false, maxInputBytes: 1 << 20, store, runner };
      // The worker gives a job up for any error but a RetryableError (ProviderWorker.claimWithStake): this one is not.
      await assert.rejects(fetchJobInput({ record: record(`${local.base}/blob`), check: true, sources }), refused(/127\.0\.0\.1 is a private address \(loopback\)/), where);
      await assert.rejects(fetchJobInput({ record: record(`http://localhost:${local.port}/blob`), check: true, sources }), refused(/localhost resolves to/), where);
    }
    assert.equal(local.requests(), before, "the server got no request");
    // The same sources with allowPrivateHosts on (a devnet) read it, in the thread and on the main thread.
    for (const runner of [threads, {}]) {
      const read = await fetchJobInput({ record: record(`${local.base}/blob`), check: true, sources: { allowFileUris: false, allowPrivateHosts: true, maxInputBytes: 1 << 20, store, runner } });
      assert.deepEqual(read.bytes, blob);
    }
  });

  it("the worker reads an ipfs:// input through its gateway on 127.0.0.1 all the same: the poster chose the CID, not the host", async function () {
    const store = new LocalBlobStore({ dir });
    for (const runner of [{ readInput: (read: Parameters<HashPool["read"]>[0]) => pool.read(read) }, {}]) {
      const sources: InputSources = { allowFileUris: false, allowPrivateHosts: false, maxInputBytes: 1 << 20, ipfsGateway: local.base, store, runner };
      assert.deepEqual((await fetchJobInput({ record: record(`ipfs://${CID}`), check: true, sources })).bytes, blob);
    }
  });

  it("screens a redirect off the gateway (a poster's _redirects file, a gateway gone bad): refused at the hop, in a hashing thread and on the main thread, the private host unread", async function () {
    const gateway = await countingServer(blob, { ipfsRedirect: `${local.base}/blob` });
    try {
      const before = local.requests();
      await assert.rejects(fetchBlob({ uri: `ipfs://${CID}/x`, ipfsGateway: gateway.base, expectedHash: id, allowPrivateHosts: false }), refused(/127\.0\.0\.1 is a private address \(loopback\)/));
      const store = new LocalBlobStore({ dir });
      for (const runner of [{ readInput: (read: Parameters<HashPool["read"]>[0]) => pool.read(read) }, {}]) {
        const sources: InputSources = { allowFileUris: false, allowPrivateHosts: false, maxInputBytes: 1 << 20, ipfsGateway: gateway.base, store, runner };
        await assert.rejects(fetchJobInput({ record: record(`ipfs://${CID}`), check: true, sources }), refused(/127\.0\.0\.1 is a private address \(loopback\)/));
      }
      assert.equal(gateway.requests(), 3, "the gateway was read, each time");
      assert.equal(local.requests(), before, "the host it redirected to got no request");
    } finally {
      await gateway.close();
    }
  });

  it("the verifier's input read and output read refuse it: the input with the job URI's error, the output as one location that failed", async function () {
    const before = local.requests();
    await assert.rejects(
      fetchVerifierInput({ record: record(`${local.base}/blob`), fallbackUris: [`http://localhost:${local.port}/blobs/${id}`], maxBytes: 1 << 20, allowFileUris: false, allowPrivateHosts: false }),
      refused(/127\.0\.0\.1 is a private address \(loopback\)/),
    );
    const output = await fetchOutput({ root: outputRoot(blob), uris: [`${local.base}/outputs/${outputRoot(blob)}`, `${local.base}/blobs/${id}`], allowFileUris: false, allowPrivateHosts: false });
    assert.equal(output.ok, false);
    assert.match((output as { problem: string }).problem, /PrivateHostRefusedError: private host refused: 127\.0\.0\.1 is a private address \(loopback\)/);
    assert.equal(local.requests(), before, "the server got no request");
    // With allowPrivateHosts on (a devnet) both are read.
    assert.deepEqual(await fetchVerifierInput({ record: record(`${local.base}/blob`), maxBytes: 1 << 20, allowFileUris: false, allowPrivateHosts: true }), blob);
    assert.equal((await fetchOutput({ root: outputRoot(blob), uris: [`${local.base}/blob`], allowFileUris: false, allowPrivateHosts: true })).ok, true);
  });
});
