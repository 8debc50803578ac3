import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import type { Hex } from "viem";

import { NonRetryableError } from "../../offchain/errors.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { clientKey, ReadLimits } from "../../offchain/storage/read-limits.js";
import { startBlobServer, type BlobServer, type StartBlobServerParameters } from "../../offchain/storage/server.js";

/** A second client address: Linux routes all of 127.0.0.0/8 to the loopback interface. */
const OTHER_CLIENT = "127.0.0.2";
const MiB = 1024 * 1024;
/** Larger than what the loopback socket buffers of both ends take, so a reader that stops reading leaves most of it unsent. */
const LARGE_BYTES = 32 * MiB;

type Answer = { status: number; headers: IncomingMessage["headers"]; body: Buffer };

/** A read taken whole, from `localAddress`. */
function read(url: string, { localAddress = "127.0.0.1", method = "GET" }: { localAddress?: string; method?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, localAddress, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end();
  });
}

type StalledRead = { status: number; request: ClientRequest; response: IncomingMessage; ended: Promise<"complete" | "cut"> };

/**
 * A GET whose body is not read: resolves once its headers arrive, the response left paused, so the socket
 * buffers fill and the server cannot finish sending. `ended` says how it ended.
 */
function stalledRead(url: string, localAddress = "127.0.0.1"): Promise<StalledRead> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { localAddress, agent: false }, (response) => {
      const ended = new Promise<"complete" | "cut">((settle) => response.once("close", () => settle(response.complete ? "complete" : "cut")));
      response.on("error", () => {});
      resolve({ status: response.statusCode!, request, response, ended });
    });
    request.on("error", reject);
    request.end();
  });
}

/** `promise`, or a failure naming `what` once `ms` have passed. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Retries `check` every 20 ms until it holds; fails after `ms`. */
async function eventually(ms: number, check: () => Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function json(answer: Answer): { error: string; message: string } {
  return JSON.parse(answer.body.toString("utf8")) as { error: string; message: string };
}

describe("blob server read limits", function () {
  let dir: string;
  let store: LocalBlobStore;
  let large: Hex;
  let largeBytes: Buffer;
  let small: Hex;
  let server: BlobServer | undefined;
  const stalled: StalledRead[] = [];
  const sockets: Socket[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "dinfer-blob-limits-"));
    store = new LocalBlobStore({ dir });
    largeBytes = randomBytes(LARGE_BYTES);
    large = await store.put(largeBytes);
    small = await store.put(randomBytes(1_000));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const read of stalled.splice(0)) read.request.destroy();
    for (const socket of sockets.splice(0)) socket.destroy();
    await server?.close();
    server = undefined;
  });

  async function start(limits: Partial<StartBlobServerParameters>): Promise<{ largeUrl: string; smallUrl: string }> {
    server = await startBlobServer({ store, closeGraceMs: 200, ...limits });
    return { largeUrl: `${server.url}/blobs/${large}`, smallUrl: `${server.url}/blobs/${small}` };
  }

  async function stall(url: string, localAddress?: string): Promise<StalledRead> {
    const read = await stalledRead(url, localAddress);
    stalled.push(read);
    assert.equal(read.status, 200);
    return read;
  }

  it("answers 429 with retry-after to a client over maxReadsPerClient, while another client address is served", async () => {
    const { largeUrl, smallUrl } = await start({ maxReadsPerClient: 2 });
    await stall(largeUrl);
    await stall(largeUrl);
    const refused = await read(smallUrl);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers["retry-after"], "5");
    assert.equal(refused.headers["content-type"], "application/json");
    const { error, message } = json(refused);
    assert.equal(error, "TOO_MANY_REQUESTS");
    assert.match(message, /already has 2 blob reads in flight/);
    assert.match(message, /retry in 5 s, and read fewer blobs in parallel/);
    assert.equal((await read(smallUrl, { method: "HEAD" })).status, 429, "HEAD counts as a read");
    const other = await read(largeUrl, { localAddress: OTHER_CLIENT });
    assert.equal(other.status, 200);
    assert.ok(other.body.equals(largeBytes), "the other client gets the whole blob");
  });

  it("releases a read once its answer is sent", async () => {
    const { largeUrl, smallUrl } = await start({ maxReadsPerClient: 1 });
    for (let i = 0; i < 3; i++) assert.equal((await read(smallUrl)).status, 200, `read ${i} after the one before it was sent`);
    assert.equal((await read(smallUrl, { method: "HEAD" })).status, 200);
    await stall(largeUrl);
    assert.equal((await read(smallUrl)).status, 429, "the stalled read still counts");
  });

  it("releases a read when its client aborts mid-body", async () => {
    const { largeUrl, smallUrl } = await start({ maxReadsPerClient: 1 });
    const aborted = await stall(largeUrl);
    assert.equal((await read(smallUrl)).status, 429);
    await new Promise<void>((resolve) =>
      aborted.response.once("data", () => {
        aborted.response.pause(); // part of the body, not all
        resolve();
      }),
    );
    aborted.request.destroy();
    assert.equal(await aborted.ended, "cut");
    await eventually(2_000, async () => (await read(smallUrl)).status === 200, "a read after the abort");
    // Released once: the next stalled read is the client's one and only again.
    await stall(largeUrl);
    assert.equal((await read(smallUrl)).status, 429);
  });

  it("cuts a reader that stopped reading at sendTimeoutMs, freeing its read and its bytes", async () => {
    const { largeUrl, smallUrl } = await start({ maxReadsPerClient: 1, maxBytes: 40 * MiB, maxBytesInFlight: 40 * MiB, sendTimeoutMs: 1_000 });
    const started = Date.now();
    const slow = await stall(largeUrl);
    assert.equal((await read(smallUrl)).status, 429, "the slow reader holds its client's read");
    assert.equal((await read(largeUrl, { localAddress: OTHER_CLIENT })).status, 503, "and its bytes");
    await eventually(5_000, async () => (await read(smallUrl)).status === 200, "a read of the cut client");
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 950, `released after ${elapsed} ms, before the send timeout`);
    // The connection was cut, not just uncounted: reading on, the client gets the part sent before, then the end.
    slow.response.resume();
    assert.equal(await within(5_000, slow.ended, "the slow reader's end"), "cut");
    await stall(largeUrl, OTHER_CLIENT); // 200: the cut read's bytes are free (not read whole: on a busy machine the 1 s deadline could cut it)
  });

  it("releases every read pipelined on a connection the send deadline cuts, queued ones too", async () => {
    const { largeUrl, smallUrl } = await start({ maxReadsPerClient: 3, sendTimeoutMs: 1_500 });
    const socket = connect(server!.port, "127.0.0.1");
    sockets.push(socket);
    socket.on("error", () => {});
    // Never read: the first answer stalls, the others wait behind it, unsent. (Node's server closes only the
    // first response queued behind a destroyed socket: the third is the one that shows the socket must be heard.)
    socket.pause();
    const get = `GET /blobs/${large} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`;
    socket.write(get + get + get);
    await eventually(2_000, async () => (await read(smallUrl)).status === 429, "the three pipelined reads counted");
    await eventually(5_000, async () => (await read(smallUrl)).status === 200, "a read after the cut");
    // All released: the client has its three reads again, and only three.
    for (let i = 0; i < 3; i++) await stall(largeUrl);
    assert.equal((await read(smallUrl)).status, 429);
  });

  it("answers 503 with retry-after to a read that would pass maxBytesInFlight, and serves reads that fit", async () => {
    const { largeUrl, smallUrl } = await start({ maxBytes: 40 * MiB, maxBytesInFlight: 40 * MiB });
    await stall(largeUrl);
    const refused = await read(largeUrl, { localAddress: OTHER_CLIENT });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers["retry-after"], "5");
    const { error, message } = json(refused);
    assert.equal(error, "SERVER_BUSY");
    assert.match(message, new RegExp(`at its cap of ${40 * MiB} bytes of blobs held for reads in flight: retry in 5 s`));
    assert.equal((await read(smallUrl, { localAddress: OTHER_CLIENT })).status, 200, "1,000 bytes more fit");
    assert.equal((await read(largeUrl, { localAddress: OTHER_CLIENT, method: "HEAD" })).status, 200, "a HEAD holds no bytes");
  });

  it("answers 429 to a client whose reads would hold more than maxBytesPerClient, while another client is served", async () => {
    const { largeUrl, smallUrl } = await start({ maxBytes: 40 * MiB, maxBytesPerClient: 40 * MiB, maxBytesInFlight: 200 * MiB });
    await stall(largeUrl);
    const refused = await read(largeUrl);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers["retry-after"], "5");
    const { error, message } = json(refused);
    assert.equal(error, "TOO_MANY_REQUESTS");
    assert.match(message, new RegExp(`already hold up to ${40 * MiB} bytes of blobs, the most one may: retry in 5 s`));
    assert.equal((await read(smallUrl)).status, 200, "1,000 bytes more fit within its cap");
    const other = await read(largeUrl, { localAddress: OTHER_CLIENT });
    assert.equal(other.status, 200, "another client address has a cap of its own");
    assert.equal(other.body.equals(largeBytes), true);
  });

  it("refuses limits that are not positive, or that could never serve a blob of maxBytes", async () => {
    for (const limits of [
      { maxReadsPerClient: 0 },
      { sendTimeoutMs: 0 },
      { maxBytes: 1_000, maxBytesInFlight: 999 },
      { maxBytes: 1_000, maxBytesPerClient: 999 },
    ]) {
      await assert.rejects(
        () => startBlobServer({ store, ...limits }),
        (error: unknown) => error instanceof NonRetryableError && error.message.startsWith(Object.keys(limits).at(-1)!),
      );
    }
  });
});

describe("ReadLimits", () => {
  it("counts reads per client and bytes across clients, each released once", () => {
    const limits = new ReadLimits({ maxReadsPerClient: 1, maxBytesInFlight: 100 });
    const a = limits.open("a")!;
    assert.equal(limits.open("a"), undefined);
    const b = limits.open("b")!;
    assert.equal(a.hold(60), "held");
    assert.equal(b.hold(50), "server-cap", "past the bytes cap");
    assert.equal(b.hold(40), "held");
    assert.equal(a.hold(10), "held", "shrinking");
    assert.equal(b.hold(90), "held");
    a.release();
    a.release();
    assert.equal(a.hold(1_000), "held", "a released read counts nothing");
    const again = limits.open("a")!;
    assert.equal(limits.open("a"), undefined, "a second release freed nothing more");
    assert.equal(again.hold(11), "server-cap", "b's 90 bytes are still held");
    b.release();
    assert.equal(again.hold(100), "held");
  });

  it("caps the bytes one client's reads hold together, whatever the server's budget has left", () => {
    const limits = new ReadLimits({ maxReadsPerClient: 4, maxBytesInFlight: 1_000, maxBytesPerClient: 100 });
    const [a1, a2, a3] = [limits.open("a")!, limits.open("a")!, limits.open("a")!];
    assert.equal(a1.hold(60), "held");
    assert.equal(a2.hold(50), "client-cap", "60 + 50 past the client's 100");
    assert.equal(a2.hold(40), "held");
    assert.equal(a3.hold(1), "client-cap");
    const b = limits.open("b")!;
    assert.equal(b.hold(100), "held", "another client has its own 100");
    a1.release();
    assert.equal(a3.hold(60), "held", "a released read gives its client's bytes back");
    assert.equal(a2.hold(10), "held", "shrinking");
    assert.equal(a3.hold(90), "held");
    assert.equal(a3.hold(91), "client-cap");
  });
});

describe("clientKey", () => {
  it("keeps an IPv4 address, and reads an IPv4-mapped IPv6 address as it", () => {
    assert.equal(clientKey("203.0.113.7"), "203.0.113.7");
    assert.equal(clientKey("::ffff:203.0.113.7"), "203.0.113.7");
    assert.equal(clientKey("::FFFF:cb00:7107"), "203.0.113.7");
    assert.equal(clientKey("0:0:0:0:0:ffff:127.0.0.1"), "127.0.0.1");
  });

  it("groups an IPv6 address by its /64", () => {
    const key = "2001:db8:a:b::/64";
    assert.equal(clientKey("2001:db8:a:b::1"), key);
    assert.equal(clientKey("2001:0DB8:000a:000b:1234:5678:9abc:def0"), key);
    assert.equal(clientKey("2001:db8:a:b:ffff:ffff:ffff:ffff"), key);
    assert.notEqual(clientKey("2001:db8:a:c::1"), key);
    assert.equal(clientKey("::1"), "0:0:0:0::/64");
    assert.equal(clientKey("fe80::1%eth0"), "fe80:0:0:0::/64");
    assert.equal(clientKey("64:ff9b::198.51.100.1"), "64:ff9b:0:0::/64", "a NAT64 address is IPv6");
    assert.equal(clientKey("2001:db8:a:b::"), key);
  });

  it("keeps anything else as given", () => {
    assert.equal(clientKey(undefined), "unknown");
    assert.equal(clientKey("not-an-address"), "not-an-address");
  });
});
