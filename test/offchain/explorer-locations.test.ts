/**
 * Which output locations the explorer fetches (offchain/explorer/locations.ts), and the audit comparison
 * (offchain/explorer/comparison.ts) that reads through it: a location a provider revealed must not make a
 * public explorer request its own network, and a visitor must not make it fetch again on every page load.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { after, before, describe, it } from "mocha";
import { getAddress, type Hex } from "viem";

import { AuditComparisons } from "../../offchain/explorer/comparison.js";
import { ExplorerDb } from "../../offchain/explorer/db.js";
import { refusalOf, screenLocations } from "../../offchain/explorer/locations.js";
import type { JobTrack, ModelTrack } from "../../offchain/explorer/state.js";
import type { ComparisonJson } from "../../offchain/explorer/views.js";

describe("explorer locations: which output locations a public explorer fetches", function () {
  it("refuses http(s) hosts that are or resolve to a private address, and every scheme but http, https and ipfs", async function () {
    const resolve = async (host: string) => ({ "internal.example": ["93.184.216.34", "10.0.0.5"], "public.example": ["93.184.216.34"] })[host] ?? [];
    const refused = async (uri: string) => refusalOf(uri, { allowPrivateHosts: false, resolve });
    assert.equal(await refused("http://10.0.0.5/out"), "10.0.0.5 is a private address (private); start the explorer with --allow-private-hosts to read it");
    assert.match((await refused("http://[::1]:8080/out"))!, /^::1 is a private address \(loopback\)/);
    assert.match((await refused("http://[::ffff:127.0.0.1]/out"))!, /is a private address \(loopback\)/);
    // The URL parser's shorthand forms of 127.0.0.1.
    assert.match((await refused("http://2130706433/out"))!, /^127\.0\.0\.1 is a private address \(loopback\)/);
    assert.match((await refused("http://0x7f.1/out"))!, /^127\.0\.0\.1 is a private address/);
    assert.match((await refused("https://user@169.254.169.254/latest/meta-data"))!, /link-local/);
    // One private answer among public ones is enough to refuse.
    assert.equal(await refused("https://internal.example/out"), "internal.example resolves to 10.0.0.5, a private address (private); start the explorer with --allow-private-hosts to read it");
    assert.match((await refused("https://nowhere.example/out"))!, /resolves to no address/);
    assert.match((await refused("file:///etc/passwd"))!, /only http, https and ipfs locations, not file/);
    assert.match((await refused("gopher://127.0.0.1/"))!, /not gopher/);
    assert.equal(await refused("not a uri"), "not a URL");
    assert.equal(await refused("https://public.example/out"), undefined);
    assert.equal(await refused("https://8.8.8.8/out"), undefined);
    assert.equal(await refused("ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/out"), undefined);
    // With allowPrivateHosts (a devnet, tests) only the scheme is checked.
    assert.equal(await refusalOf("http://127.0.0.1:9/out", { allowPrivateHosts: true, resolve }), undefined);
    assert.match((await refusalOf("file:///etc/passwd", { allowPrivateHosts: true, resolve }))!, /not file/);
  });

  it("resolves hostnames with the system's resolver: localhost is loopback", async function () {
    assert.match((await refusalOf("http://localhost:8080/out", { allowPrivateHosts: false }))!, /^localhost resolves to (127\.0\.0\.1|::1), a private address \(loopback\)/);
  });

  it("screens a list: the allowed ones in order, one line per refused one naming the location", async function () {
    const { allowed, refused } = await screenLocations(["https://8.8.8.8/a", undefined, "", "http://127.0.0.1/b", "https://8.8.8.8/a", "ipfs://cid"], {
      allowPrivateHosts: false,
      resolve: async () => [],
    });
    assert.deepEqual(allowed, ["https://8.8.8.8/a", "ipfs://cid"]);
    assert.deepEqual(refused, ["http://127.0.0.1/b: not fetched: 127.0.0.1 is a private address (loopback); start the explorer with --allow-private-hosts to read it"]);
  });
});

describe("explorer audit comparison: locations and caching", function () {
  let server: Server;
  let requests = 0;
  let port = 0;
  const db = new ExplorerDb({ path: ":memory:" });
  before(async function () {
    server = createServer((_, res) => {
      requests++;
      res.writeHead(404).end("not here");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async function () {
    db.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const at = { block: 1n, timestamp: 0, txHash: `0x${"ab".repeat(32)}` as Hex, logIndex: 0 };
  const model: ModelTrack = {
    modelId: 1,
    owner: getAddress(`0x${"11".repeat(20)}`),
    modelHash: `0x${"22".repeat(32)}`,
    uri: "ipfs://model",
    runtime: "onnx",
    tolerance: { kind: 0, axis: 0, absTolE12: 0n, relTolE12: 0n },
    minCollateral: 0n,
    priceFloor: 0n,
    nonFiniteInputs: false,
    active: true,
    registered: at,
  };
  const jobAt = (jobId: bigint): JobTrack => ({
    jobId,
    kind: "job",
    modelId: 1,
    status: "revealed",
    revealed: at,
    resultRoot: `0x${"33".repeat(32)}`,
    outputURIs: [`http://127.0.0.1:${port}/provider/${jobId}`],
    audit: { auditor: getAddress(`0x${"44".repeat(20)}`), outputRoot: `0x${"55".repeat(32)}`, outputURI: `http://127.0.0.1:${port}/auditor/${jobId}`, verdict: "Disagree" },
    steps: [],
  });

  it("does not fetch a loopback location without allowPrivateHosts, and says why in the result", async function () {
    const comparisons = new AuditComparisons({ db });
    const job = jobAt(1n);
    const before = requests;
    assert.deepEqual(comparisons.of(job, model), { state: "pending" });
    await comparisons.settled();
    const result = comparisons.of(job, model) as Extract<ComparisonJson, { state: "unavailable" }>;
    assert.equal(result.state, "unavailable");
    assert.equal(
      result.problem,
      `the provider's output: http://127.0.0.1:${port}/provider/1: not fetched: 127.0.0.1 is a private address (loopback); start the explorer with --allow-private-hosts to read it`,
    );
    assert.equal(requests, before, "the server was asked nothing");
  });

  it("with allowPrivateHosts fetches the locations once: page loads within the retry window read the stored answer", async function () {
    let now = 1_000_000;
    const comparisons = new AuditComparisons({ db, allowPrivateHosts: true, retryAfterMs: 30_000, now: () => now });
    const job = jobAt(2n);
    const before = requests;
    comparisons.of(job, model);
    for (let i = 0; i < 5; i++) comparisons.of(job, model); // in flight: not started again
    await comparisons.settled();
    const fetched = requests - before;
    assert.equal(fetched, 2, "one request for each output");
    const result = comparisons.of(job, model) as Extract<ComparisonJson, { state: "unavailable" }>;
    assert.equal(result.state, "unavailable");
    assert.match(result.problem, /the provider's output: .*provider\/2/);
    for (let i = 0; i < 5; i++) comparisons.of(job, model);
    await comparisons.settled();
    assert.equal(requests - before, fetched, "no fetch within the retry window");
    now += 30_001;
    comparisons.of(job, model);
    await comparisons.settled();
    assert.equal(requests - before, 2 * fetched, "fetched again after it");
  });
});
