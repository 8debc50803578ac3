import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { silentLogger } from "../../offchain/log.js";
import { LocalBlobStore } from "../../offchain/storage/local.js";
import { BlobPruner, blobIdsIn, openEntriesProtect, pruneShard } from "../../offchain/storage/prune.js";

const HOUR = 3_600_000;

function bytesOf(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 13 + seed * 101) & 0xff);
}

/** Sets a file's modification time to `ms` since the epoch. */
async function age(file: string, ms: number): Promise<void> {
  await utimes(file, ms / 1000, ms / 1000);
}

describe("storage: BlobPruner deletes the blobs no job can need any more", () => {
  let dir: string;
  let store: LocalBlobStore;
  let outputs: LocalBlobStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "dinfer-prune-"));
    store = new LocalBlobStore({ dir: path.join(dir, "blobs") });
    outputs = new LocalBlobStore({ dir: path.join(dir, "outputs"), address: "outputRoot" });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("deletes, shard by shard, the blobs last kept more than twice the longest job lifetime plus the retention ago, in every store, and nothing younger", async () => {
    const now = Date.UTC(2026, 11, 5, 12);
    const lifetime = 2n * 3600n; // 2 h: a blob is kept 2 x 2 h + 1 h retention = 5 h after a job last kept it
    let lifetimeReads = 0;
    const pruner = new BlobPruner({
      stores: [store, outputs],
      lifetimeSeconds: async () => (lifetimeReads++, lifetime),
      retentionSeconds: 3600,
      protectedIds: () => [],
      log: silentLogger(),
      now: () => now,
    });
    const blobs = Array.from({ length: 40 }, (_, i) => bytesOf(1000 + i, i));
    const ids = await Promise.all(blobs.map((bytes, i) => (i % 2 === 0 ? store : outputs).put(bytes)));
    const storeOf = (i: number) => (i % 2 === 0 ? store : outputs);
    // Every fourth blob last kept 5 h and a minute ago (to go), the others 4 h 59 min ago (to stay).
    for (const [i, id] of ids.entries()) await age(storeOf(i).pathOf(id), now - (i % 4 === 0 ? 5 * HOUR + 60_000 : 5 * HOUR - 60_000));
    let removed = 0;
    for (let shard = 0; shard < 256; shard++) removed += (await pruner.step(now))!.removed;
    assert.equal(removed, 10);
    for (const [i, id] of ids.entries()) assert.equal(await storeOf(i).has(id), i % 4 !== 0, `blob ${i}`);
    assert.equal(lifetimeReads, 1, "the lifetime is read once per sweep of the 256 shards");
    await pruner.step(now);
    assert.equal(lifetimeReads, 2, "and again at the next sweep's start: governance may have made it longer");
  });

  it("ages blobs by the earlier of the wall clock and the chain's head: a stalled chain stretches its jobs' deadlines, and a chain running ahead ages nothing early", async () => {
    const wall = Date.UTC(2026, 11, 5, 12);
    const pruner = new BlobPruner({ stores: [store], lifetimeSeconds: async () => 0n, retentionSeconds: 3600, protectedIds: () => [], log: silentLogger(), now: () => wall, stepIntervalMs: 0 });
    const bytes = bytesOf(500, 1);
    const id = await store.put(bytes);
    const shard = id.slice(2, 4);
    await age(store.pathOf(id), wall - 2 * HOUR);
    // Walk the pruner to the blob's shard, so that the tick's step is that shard's.
    for (let i = 0; i < Number.parseInt(shard, 16); i++) await pruner.step(wall);
    pruner.tick(BigInt(Math.floor((wall - 1.5 * HOUR) / 1000))); // the chain's head 1.5 h behind: the file is 30 min old to it
    await pruner.close();
    assert.equal(await store.has(id), true, "kept: the chain stalled");
    await age(store.pathOf(id), wall - 0.5 * HOUR);
    for (let i = 0; i < 255; i++) await pruner.step(wall);
    pruner.tick(BigInt(Math.floor((wall + 10 * HOUR) / 1000))); // the chain 10 h ahead: the wall clock says 30 min
    await pruner.close();
    assert.equal(await store.has(id), true, "kept: the chain ran ahead of the wall clock");
    await age(store.pathOf(id), wall - 2 * HOUR);
    for (let i = 0; i < 255; i++) await pruner.step(wall);
    pruner.tick(BigInt(Math.floor(wall / 1000)));
    await pruner.close();
    assert.equal(await store.has(id), false, "2 h old by both clocks, past the hour kept");
  });

  it("starts a step at most every stepIntervalMs, one at a time, and logs a failed step without stopping", async () => {
    let wall = 1_000_000;
    let reads = 0;
    let fail = true;
    const warnings: unknown[] = [];
    const log = silentLogger();
    log.warn = ((entry: unknown) => void warnings.push(entry)) as typeof log.warn;
    const pruner = new BlobPruner({
      stores: [store],
      lifetimeSeconds: async () => {
        reads++;
        if (fail) throw new Error("node down");
        return 0n;
      },
      retentionSeconds: 0,
      protectedIds: () => [],
      log,
      now: () => wall,
      stepIntervalMs: 15_000,
    });
    pruner.tick(10n);
    pruner.tick(10n); // a step is under way
    await pruner.close();
    assert.equal(reads, 1);
    assert.equal(warnings.length, 1, "the failed step is logged");
    wall += 14_999;
    pruner.tick(10n);
    await pruner.close();
    assert.equal(reads, 1, "too soon after the last step");
    fail = false;
    wall += 1;
    pruner.tick(10n);
    await pruner.close();
    assert.equal(reads, 2, "the next step goes on");
  });

  it("never deletes a blob an open job names, however old (a redundant job's settle has no deadline), read again at each step", async () => {
    const now = Date.now();
    const blobs = [bytesOf(300, 1), bytesOf(300, 2)];
    const ids = await Promise.all(blobs.map((bytes) => store.put(bytes)));
    for (const id of ids) await age(store.pathOf(id), 0);
    let open: unknown[] = [{ outputRoot: ids[0], reason: "a seat under dispute" }];
    const pruner = new BlobPruner({ stores: [store], lifetimeSeconds: async () => 60n, retentionSeconds: 0, protectedIds: () => blobIdsIn(open), log: silentLogger() });
    for (let i = 0; i < 256; i++) await pruner.step(now);
    assert.equal(await store.has(ids[0]!), true, "named by an open job");
    assert.equal(await store.has(ids[1]!), false);
    open = []; // the job ended
    for (let i = 0; i < 256; i++) await pruner.step(now);
    assert.equal(await store.has(ids[0]!), false, "the next sweep reads the open jobs again");

    // A job that opens in the middle of a sweep protects its blob from the next step on, not the next sweep.
    const late = await store.put(bytesOf(300, 3));
    await age(store.pathOf(late), 0);
    const lateShard = Number.parseInt(late.slice(2, 4), 16);
    const fresh = new BlobPruner({ stores: [store], lifetimeSeconds: async () => 60n, retentionSeconds: 0, protectedIds: () => blobIdsIn(open), log: silentLogger() });
    open = [];
    for (let i = 0; i < lateShard; i++) await fresh.step(now);
    open = [{ inputHash: late }];
    assert.equal((await fresh.step(now))!.shard, late.slice(2, 4));
    assert.equal(await store.has(late), true, "named since the sweep began: kept");
  });

  it("deletes nothing while an open job does not yet name what it kept (an older worker's journal): the same shard waits, then goes on", async () => {
    let wall = Date.now();
    const id = await store.put(bytesOf(300, 4));
    await age(store.pathOf(id), 0);
    const shard = Number.parseInt(id.slice(2, 4), 16);
    let unnamed = 0;
    const warnings: unknown[] = [];
    const log = silentLogger();
    log.warn = ((entry: unknown) => void warnings.push(entry)) as typeof log.warn;
    const pruner = new BlobPruner({ stores: [store], lifetimeSeconds: async () => 60n, retentionSeconds: 0, protectedIds: () => Object.assign([], { unnamed }), log, now: () => wall });
    for (let i = 0; i < shard; i++) await pruner.step(wall);
    unnamed = 1;
    assert.equal(await pruner.step(wall), undefined, "waits");
    wall += 30 * 60_000;
    assert.equal(await pruner.step(wall), undefined, "still waits, half an hour on");
    assert.equal(await store.has(id), true);
    assert.equal(warnings.length, 1, "the wait is logged once, as a warning");
    unnamed = 0;
    const result = await pruner.step(wall);
    assert.deepEqual([result!.shard, result!.removed], [id.slice(2, 4), 1], "the shard it waited on, not the next");
    assert.equal(await store.has(id), false);
  });

  it("waits for unnamed entries an hour at most (maxWaitMs): an entry whose step never comes does not stop pruning for good", async () => {
    let wall = Date.now();
    const id = await store.put(bytesOf(300, 6));
    await age(store.pathOf(id), 0);
    const shard = Number.parseInt(id.slice(2, 4), 16);
    const pruner = new BlobPruner({ stores: [store], lifetimeSeconds: async () => 60n, retentionSeconds: 0, protectedIds: () => Object.assign([], { unnamed: 2 }), log: silentLogger(), now: () => wall });
    assert.equal(await pruner.step(wall), undefined);
    wall += HOUR - 1;
    assert.equal(await pruner.step(wall), undefined, "a millisecond short of the hour");
    wall += 1;
    for (let i = 0; i <= shard; i++) await pruner.step(wall);
    assert.equal(await store.has(id), false, "an hour on, it sweeps, by age alone for what the unnamed entries kept");
  });

  it("never takes a shorter lifetime than one it read before (the protocol's only grows; a faulty node's answer is not taken)", async () => {
    const now = Date.now();
    const id = await store.put(bytesOf(300, 5));
    // 3 h old: past twice a 1 h lifetime, within twice a 2 h one.
    await age(store.pathOf(id), now - 3 * HOUR);
    const shard = Number.parseInt(id.slice(2, 4), 16);
    const answers = [7200n, 3600n];
    const pruner = new BlobPruner({ stores: [store], lifetimeSeconds: async () => answers.shift() ?? 3600n, retentionSeconds: 0, protectedIds: () => [], log: silentLogger() });
    for (let i = 0; i < 256 + shard + 1; i++) await pruner.step(now); // a whole sweep at 2 h, then the next at "1 h"
    assert.equal(answers.length, 0, "read at both sweeps' starts");
    assert.equal(await store.has(id), true, "still aged by the 2 h lifetime");
  });

  it("protects what open entries name only once each that kept an output names its input too (a job, a seat, an older worker's outputId, a batch's inputs)", () => {
    const [input, output, other] = ["0x" + "11".repeat(32), "0x" + "22".repeat(32), "0x" + "33".repeat(32)];
    const named = openEntriesProtect([{ outputRoot: output, inputHash: input }, { postedBlock: 1n, modelId: 1 }]);
    assert.deepEqual([new Set(named), named.unnamed], [new Set([input.slice(2), output.slice(2)]), 0]);
    const partly = openEntriesProtect([{ outputRoot: output, inputHash: input }, { outputRoot: other }]);
    assert.deepEqual([new Set(partly), partly.unnamed], [new Set([input.slice(2), output.slice(2), other.slice(2)]), 1], "a job that kept an output, its input unnamed: what is named is still protected");
    assert.equal(openEntriesProtect([{ outputId: other }]).unnamed, 1, "an older worker's output id");
    assert.equal(openEntriesProtect([{ outputs: [{ root: output, bytes: 1 }], listUri: "x" }]).unnamed, 1, "a batch without its inputs");
    const batch = openEntriesProtect([{ outputs: [{ root: output, bytes: 1 }], inputs: [input] }]);
    assert.deepEqual([new Set(batch), batch.unnamed], [new Set([input.slice(2), output.slice(2)]), 0]);
    assert.equal(openEntriesProtect([]).unnamed, 0);
  });

  it("finds blob ids wherever an open job's journal data names them: fields, URLs, nested lists", () => {
    const a = `0x${"ab".repeat(32)}`;
    const b = `0x${"CD".repeat(32)}`;
    const c = `0x${"01".repeat(32)}`;
    const ids = blobIdsIn([{ outputRoot: a, postedBlock: 12n, listUri: `http://h:1/blobs/${b}` }, { outputs: [{ root: c, bytes: 3 }] }, null, "0x1234"]);
    assert.deepEqual([...ids].sort(), ["ab".repeat(32), "cd".repeat(32), "01".repeat(32)].sort());
  });

  it("puts back, at a sweep's start, a file a step moved aside and did not finish with (a crash between its move and its delete)", async () => {
    const bytes = bytesOf(700, 5);
    const id = await store.put(bytes);
    const other = await store.put(bytesOf(700, 6));
    const aside = path.join(store.dir, ".tmp");
    const { rename } = await import("node:fs/promises");
    await rename(store.pathOf(id), path.join(aside, `pruned.${id.slice(2)}.0a0b`));
    await writeFile(path.join(aside, `pruned.${other.slice(2)}.0c0d`), "a stale copy: the blob is in place");
    const pruner = new BlobPruner({ stores: [store], lifetimeSeconds: async () => 3600n, retentionSeconds: 0, protectedIds: () => [], log: silentLogger() });
    await pruner.step(Date.now());
    assert.deepEqual(await store.get(id), bytes, "back in place");
    assert.deepEqual(await store.get(other), bytesOf(700, 6), "the one in place is left alone");
    assert.deepEqual(await readdir(aside), [], "nothing left aside");
  });

  it("runs one step at a time: a tick while a step is under way starts none, however late", async () => {
    let wall = 0;
    let release!: (seconds: bigint) => void;
    let asked!: () => void;
    const askedOnce = new Promise<void>((resolve) => (asked = resolve));
    let reads = 0;
    const pruner = new BlobPruner({
      stores: [store],
      lifetimeSeconds: () => {
        reads++;
        asked();
        return new Promise<bigint>((resolve) => (release = resolve));
      },
      retentionSeconds: 0,
      protectedIds: () => [],
      log: silentLogger(),
      now: () => wall,
      stepIntervalMs: 1,
    });
    pruner.tick(10n);
    await askedOnce; // the first step waits on the chain
    wall += 60_000;
    pruner.tick(10n);
    assert.equal(reads, 1, "the first step has not ended");
    release(1n);
    await pruner.close();
    wall += 60_000;
    pruner.tick(10n);
    await pruner.close();
    assert.equal(reads, 1, "a step of shard 1 reads no lifetime: one read per sweep");
  });

  it("deletes only blob files of the shard: other names, directories and the store's .tmp (staged inputs) stay", async () => {
    const bytes = bytesOf(100, 3);
    const id = await store.put(bytes);
    const shard = id.slice(2, 4);
    const staging = await store.openStaging();
    const otherShard = `${shard === "00" ? "11" : "00"}${"0".repeat(62)}`;
    const strays = [path.join(store.dir, shard, "notes.txt"), path.join(store.dir, shard, otherShard), path.join(staging, `${id.slice(2)}.abc`)];
    for (const file of strays) await writeFile(file, "x");
    await mkdir(path.join(store.dir, shard, "a".repeat(64)));
    for (const file of [store.pathOf(id), ...strays]) await age(file, 0);
    const { removed } = await pruneShard({ storeDir: store.dir, shard, olderThanMs: Date.now() });
    assert.equal(removed, 1);
    assert.equal(await store.has(id), false);
    assert.deepEqual((await readdir(path.join(store.dir, shard))).sort(), ["a".repeat(64), otherShard, "notes.txt"].sort(), "a name of another shard, or no blob id, is not a blob of this shard");
    assert.deepEqual(await readdir(staging), [`${id.slice(2)}.abc`]);
    assert.deepEqual((await readdir(path.join(store.dir, ".tmp"))).sort(), ["staged"], "nothing left aside");
  });
});
