import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { mkdtemp, open as openFile, rm, writeFile } from "node:fs/promises";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import type { Hex } from "viem";

import type { CursorStore } from "../../offchain/chain/poller.js";
import { RetryableError } from "../../offchain/errors.js";
import { journalCursorStore } from "../../offchain/state/cursor-store.js";
import { ActionNotFoundError, ActionStateError, JournalBusyError, JournalInputError, JournalSchemaError } from "../../offchain/state/errors.js";
import { decodeJson, encodeJson } from "../../offchain/state/json.js";
import { Journal } from "../../offchain/state/journal.js";
import { migrate, MIGRATIONS, userVersion, type Migration } from "../../offchain/state/migrations.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const JOURNAL_MODULE = pathToFileURL(path.join(ROOT, "offchain/state/journal.ts")).href;

const hash = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;

type ScriptRun = {
  /** Resolves once the script has printed "ready". */
  ready: Promise<void>;
  /** Sends `line` ("go" by default) on the script's stdin. */
  go: (line?: string) => void;
  /** Resolves with the exit code or signal and stdout; rejects on a non-zero exit. */
  done: Promise<{ code: number | null; signal: string | null; stdout: string }>;
};

/** Starts a TypeScript script in a fresh Node process (tsx); SIGKILLs it once stdout contains `killOn`. */
function startScript(file: string, args: string[], { killOn }: { killOn?: string } = {}): ScriptRun {
  const child = spawn(process.execPath, ["--no-warnings", "--import", "tsx", file, ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes("ready\n")) onReady();
    if (killOn !== undefined && stdout.includes(killOn)) child.kill("SIGKILL");
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.on("error", () => {});
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code !== 0 && signal === null) reject(new Error(`script exited ${code}: ${stderr}`));
      else resolve({ code, signal, stdout });
    });
  });
  return { ready, go: (line = "go") => child.stdin.end(`${line}\n`), done };
}

/** The connection's `PRAGMA synchronous` (0 OFF, 1 NORMAL, 2 FULL), read through its private handle. */
function readSynchronous(journal: Journal): number {
  const db = (journal as unknown as { db: DatabaseSync }).db;
  return Number((db.prepare("PRAGMA synchronous").get() as { synchronous: number }).synchronous);
}

/** Counts the datasyncs of every FileHandle (Node's class, reached through one opened on `file`) until `restore`. */
async function countDatasyncs(file: string): Promise<{ count: number; restore: () => void }> {
  const probe = await openFile(file, "r");
  const handles = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
  await probe.close();
  const datasync = handles.datasync;
  const counter = {
    count: 0,
    restore: () => {
      handles.datasync = datasync;
    },
  };
  handles.datasync = function (this: unknown) {
    counter.count++;
    return datasync.call(this);
  };
  return counter;
}

describe("state journal", () => {
  let dir: string;
  let file: string;
  const open: Journal[] = [];
  const journal = (options: Partial<ConstructorParameters<typeof Journal>[0]> = {}) => {
    const instance = new Journal({ path: file, ...options });
    open.push(instance);
    return instance;
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "dinfer-state-"));
    file = path.join(dir, "nested", "journal.sqlite");
  });

  afterEach(async () => {
    while (open.length > 0) open.pop()!.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe("schema", () => {
    it("creates the schema in a new file, in WAL mode, at the latest version", () => {
      const j = journal();
      assert.equal(j.journalMode, "wal");
      assert.equal(j.schemaVersion, MIGRATIONS.length);
      j.close();
      const db = new DatabaseSync(file);
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      assert.deepEqual(tables, ["actions", "cursor_blocks", "cursors", "jobs"]);
      assert.equal(userVersion(db), MIGRATIONS.length);
      db.close();
    });

    it("migrates an existing empty (zero-byte) file", async () => {
      const empty = path.join(dir, "empty.sqlite");
      await writeFile(empty, new Uint8Array(0));
      const j = new Journal({ path: empty });
      open.push(j);
      assert.equal(j.schemaVersion, MIGRATIONS.length);
      assert.equal(j.beginAction({ jobId: 1n, action: "claim" }).created, true);
    });

    it("applies only the migrations a file lacks, once each", () => {
      const db = new DatabaseSync(path.join(dir, "m.sqlite"));
      const v1: Migration = { version: 1, description: "t", sql: "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);" };
      const v2: Migration = { version: 2, description: "more", sql: "INSERT INTO t VALUES (2);" };
      assert.deepEqual(migrate({ db, migrations: [v1] }), { from: 0, to: 1 });
      assert.deepEqual(migrate({ db, migrations: [v1, v2] }), { from: 1, to: 2 });
      assert.deepEqual(migrate({ db, migrations: [v1, v2] }), { from: 2, to: 2 });
      assert.deepEqual(db.prepare("SELECT x FROM t ORDER BY x").all().map((r) => r.x), [1, 2]);
      db.close();
    });

    it("rolls a failing migration back whole, keeping the previous version", () => {
      const db = new DatabaseSync(path.join(dir, "m.sqlite"));
      const v1: Migration = { version: 1, description: "t", sql: "CREATE TABLE t (x INTEGER);" };
      const bad: Migration = { version: 2, description: "broken", sql: "CREATE TABLE u (y INTEGER); INSERT INTO missing VALUES (1);" };
      assert.throws(() => migrate({ db, migrations: [v1, bad] }), (e: unknown) => e instanceof JournalSchemaError && /migration 2 \(broken\) failed/.test(e.message));
      assert.equal(userVersion(db), 1);
      assert.equal(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'u'").get()!.n, 0);
      assert.throws(() => migrate({ db, migrations: [v1, { ...v1, version: 3 }] }), /numbered 1, 2, 3/);
      db.close();
    });

    it("refuses a file written by a newer schema", () => {
      journal().close();
      const db = new DatabaseSync(file);
      db.exec("PRAGMA user_version = 99");
      db.close();
      assert.throws(() => journal(), (e: unknown) => e instanceof JournalSchemaError && /version 99 is newer/.test(e.message));
    });
  });

  describe("cursors", () => {
    it("stores the block and keeps the last N positions, newest first", () => {
      const j = journal({ keepRecentBlocks: 3 });
      assert.equal(j.getCursor("JobMarket"), undefined);
      for (const n of [10, 20, 30, 40, 50]) j.setCursor({ name: "JobMarket", blockNumber: BigInt(n), blockHash: hash(n) });
      const cursor = j.getCursor("JobMarket")!;
      assert.equal(cursor.blockNumber, 50n);
      assert.equal(cursor.blockHash, hash(50));
      assert.deepEqual(cursor.recent, [
        { number: 50n, hash: hash(50) },
        { number: 40n, hash: hash(40) },
        { number: 30n, hash: hash(30) },
      ]);
      assert.equal(j.getCursor("Verification"), undefined);
    });

    it("on a rewind forgets the positions at and above the new block", () => {
      const j = journal();
      for (const n of [1, 2, 3, 4]) j.setCursor({ name: "c", blockNumber: BigInt(n), blockHash: hash(n) });
      const rewound = j.setCursor({ name: "c", blockNumber: 3n, blockHash: hash(333) });
      assert.deepEqual(
        rewound.recent.map((b) => [b.number, b.hash]),
        [
          [3n, hash(333)],
          [2n, hash(2)],
          [1n, hash(1)],
        ],
      );
    });

    it("replaces the remembered positions with a caller's own list", () => {
      const j = journal({ keepRecentBlocks: 3 });
      j.setCursor({ name: "c", blockNumber: 5n, blockHash: hash(5) });
      const cursor = j.setCursor({ name: "c", blockNumber: 9n, blockHash: hash(9), recent: [1n, 4n, 7n, 8n].map((n) => ({ number: n, hash: hash(Number(n)) })) });
      assert.deepEqual(cursor.recent.map((b) => b.number), [9n, 8n, 7n]);
      assert.throws(
        () => j.setCursor({ name: "c", blockNumber: 9n, blockHash: hash(9), recent: [{ number: 10n, hash: hash(10) }] }),
        (e: unknown) => e instanceof JournalInputError && e.field === "recent[0].number",
      );
      assert.throws(() => j.setCursor({ name: "c", blockNumber: 9n, blockHash: hash(9), recent: [{ number: 1n, hash: "0x1" as Hex }] }), /recent\[0\]\.hash: /);
      assert.equal(j.getCursor("c")!.recent.length, 3);
    });

    it("serves the log poller as its cursor store, oldest position first, across reopen", () => {
      const store: CursorStore = journalCursorStore(journal());
      assert.equal(store.get("market"), undefined);
      const recent = [3n, 6n, 9n].map((n) => ({ number: n, hash: hash(Number(n)) }));
      store.set("market", { block: 9n, hash: hash(9), recent });
      open.pop()!.close();
      const reopened = journalCursorStore(journal());
      assert.deepEqual(reopened.get("market"), { block: 9n, hash: hash(9), recent });
      reopened.set("market", { block: 6n, hash: hash(6), recent: recent.slice(0, 2) }); // a rewind
      assert.deepEqual(reopened.get("market"), { block: 6n, hash: hash(6), recent: recent.slice(0, 2) });
    });

    it("rejects a malformed hash or a negative block with a message naming the field", () => {
      const j = journal();
      assert.throws(() => j.setCursor({ name: "c", blockNumber: 1n, blockHash: "0x12" }), (e: unknown) => e instanceof JournalInputError && e.field === "blockHash");
      assert.throws(() => j.setCursor({ name: "c", blockNumber: -1n, blockHash: hash(1) }), /^JournalInputError: blockNumber: /);
      assert.throws(() => j.setCursor({ name: "", blockNumber: 1n, blockHash: hash(1) }), /name: /);
      assert.equal(j.getCursor("c"), undefined);
    });
  });

  describe("jobs", () => {
    it("upserts a job, keeps its data when omitted, and round-trips bigints", () => {
      const clock = { t: 1000 };
      const j = journal({ now: () => clock.t });
      const jobId = (1n << 255n) + 7n; // beyond an SQLite integer
      const created = j.upsertJob({ jobId, role: "provider", status: "claimed", data: { fee: 10n ** 30n, uri: "ipfs://x", nested: { n: [1n, 2] } } });
      assert.equal(created.createdAt, 1000);
      clock.t = 2000;
      const updated = j.upsertJob({ jobId, role: "provider", status: "committed" });
      assert.equal(updated.status, "committed");
      assert.deepEqual(updated.data, { fee: 10n ** 30n, uri: "ipfs://x", nested: { n: [1n, 2] } });
      assert.equal(updated.createdAt, 1000);
      assert.equal(updated.updatedAt, 2000);
      const replaced = j.upsertJob({ jobId, role: "provider", status: "revealed", data: { outputRoot: hash(5) } });
      assert.deepEqual(replaced.data, { outputRoot: hash(5) });
      assert.equal(j.getJob(jobId)!.jobId, jobId);
      assert.equal(j.getJob(3n), undefined);
    });

    it("puts a job as upsertJob does, without reading it back, and checks its input the same way", () => {
      const clock = { t: 1000 };
      const j = journal({ now: () => clock.t });
      const jobId = (1n << 255n) + 9n;
      j.putJob({ jobId, role: "provider", status: "candidate", data: { fee: 10n ** 30n, postedBlock: 7n } });
      clock.t = 2000;
      j.putJob({ jobId, role: "provider", status: "active" });
      assert.deepEqual(j.getJob(jobId), { jobId, role: "provider", status: "active", data: { fee: 10n ** 30n, postedBlock: 7n }, createdAt: 1000, updatedAt: 2000 });
      j.putJob({ jobId, role: "provider", status: "committed", data: { outputRoot: hash(6) } });
      assert.deepEqual(j.getJob(jobId)!.data, { outputRoot: hash(6) });
      assert.throws(() => j.putJob({ jobId: -1n, role: "provider", status: "x" }), JournalInputError);
      assert.throws(() => j.putJob({ jobId, role: "nobody" as never, status: "x" }), JournalInputError);
      assert.throws(() => j.putJob({ jobId, role: "provider", status: "x", data: [] as never }), JournalInputError);
      assert.equal(j.getJob(jobId)!.status, "committed", "a refused put changes nothing");
    });

    it("lists jobs by status and role, least recently updated first", () => {
      const clock = { t: 0 };
      const j = journal({ now: () => ++clock.t });
      j.upsertJob({ jobId: 3n, role: "provider", status: "claimed" });
      j.upsertJob({ jobId: 1n, role: "provider", status: "committed" });
      j.upsertJob({ jobId: 2n, role: "auditor", status: "claimed" });
      j.upsertJob({ jobId: 10n, role: "provider", status: "claimed" });
      assert.deepEqual(j.listJobs({ status: "claimed" }).map((r) => r.jobId), [3n, 2n, 10n]);
      assert.deepEqual(j.listJobs({ status: "claimed", role: "provider" }).map((r) => r.jobId), [3n, 10n]);
      assert.deepEqual(j.listJobs({ status: ["committed", "claimed"], limit: 2 }).map((r) => r.jobId), [3n, 1n]);
      assert.equal(j.listJobs().length, 4);
      assert.deepEqual(j.listJobs({ status: [] }), []);
      // The same selection and order without the data.
      assert.deepEqual(j.listJobKeys({ status: ["committed", "claimed"], role: "provider" }), [
        { jobId: 3n, status: "claimed" },
        { jobId: 1n, status: "committed" },
        { jobId: 10n, status: "claimed" },
      ]);
      assert.deepEqual(j.listJobKeys({ status: "claimed", limit: 1 }), [{ jobId: 3n, status: "claimed" }]);
      // And counted without reading them.
      assert.equal(j.countJobs({ status: "claimed" }), 3);
      assert.equal(j.countJobs({ status: ["committed", "claimed"], role: "provider" }), 3);
      assert.equal(j.countJobs({ role: "auditor" }), 1);
      assert.equal(j.countJobs(), 4);
      assert.equal(j.countJobs({ status: [] }), 0);
    });

    it("rejects bad input naming the field", () => {
      const j = journal();
      const bad = (run: () => unknown, field: string) => assert.throws(run, (e: unknown) => e instanceof JournalInputError && e.field === field);
      bad(() => j.upsertJob({ jobId: -1n, role: "provider", status: "x" }), "jobId");
      bad(() => j.upsertJob({ jobId: 1n << 256n, role: "provider", status: "x" }), "jobId");
      bad(() => j.upsertJob({ jobId: 1 as unknown as bigint, role: "provider", status: "x" }), "jobId");
      bad(() => j.upsertJob({ jobId: 1n, role: "miner" as "provider", status: "x" }), "role");
      bad(() => j.upsertJob({ jobId: 1n, role: "provider", status: "" }), "status");
      bad(() => j.upsertJob({ jobId: 1n, role: "provider", status: "x", data: { f: () => 1 } }), "data");
      bad(() => j.upsertJob({ jobId: 1n, role: "provider", status: "x", data: { bytes: new Uint8Array(2) } }), "data");
      bad(() => j.upsertJob({ jobId: 1n, role: "provider", status: "x", data: { m: new Map() } }), "data");
      bad(() => j.upsertJob({ jobId: 1n, role: "provider", status: "x", data: [1] as never }), "data");
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      bad(() => j.upsertJob({ jobId: 1n, role: "provider", status: "x", data: cyclic }), "data");
      assert.equal(j.getJob(1n), undefined);
    });

    it("encodes bigints in JSON as tagged objects and decodes them back", () => {
      const text = encodeJson({ a: 5n, b: [-3n], c: "5" });
      assert.equal(text, '{"a":{"$bigint":"5"},"b":[{"$bigint":"-3"}],"c":"5"}');
      assert.deepEqual(decodeJson(text), { a: 5n, b: [-3n], c: "5" });
    });
  });

  describe("actions", () => {
    it("records an action once: a second begin returns the existing row", () => {
      const j = journal();
      const first = j.beginAction({ jobId: 7n, action: "claim" });
      assert.equal(first.created, true);
      assert.equal(first.action.state, "pending");
      j.markActionSent({ jobId: 7n, action: "claim", txHash: hash(1), nonce: 4 });
      const second = j.beginAction({ jobId: 7n, action: "claim" });
      assert.equal(second.created, false);
      assert.equal(second.action.id, first.action.id);
      assert.equal(second.action.state, "sent");
      assert.equal(second.action.txHash, hash(1));
      assert.equal(second.action.nonce, 4);
      assert.equal(j.beginAction({ jobId: 8n, action: "claim" }).created, true);
      assert.equal(j.beginAction({ jobId: 7n, action: "commit" }).created, true);
      assert.deepEqual(j.listActions(7n).map((a) => a.action), ["claim", "commit"]);
    });

    it("forgets every action of one job (a reorg replaced its post), and only that job's: the next begin records it afresh", () => {
      const j = journal();
      j.beginAction({ jobId: 7n, action: "claimAndCommit" });
      j.markActionConfirmed({ jobId: 7n, action: "claimAndCommit", txHash: hash(1) });
      j.beginAction({ jobId: 7n, action: "reveal" });
      j.beginAction({ jobId: 8n, action: "claimAndCommit" });
      j.forgetActions(7n);
      assert.deepEqual(j.listActions(7n), []);
      assert.deepEqual(j.listActions(8n).map((a) => a.action), ["claimAndCommit"]);
      const again = j.beginAction({ jobId: 7n, action: "claimAndCommit" });
      assert.deepEqual([again.created, again.action.state, again.action.attempts], [true, "pending", 1]);
    });

    it("follows pending -> sent -> (replaced) sent -> confirmed, and refuses to leave confirmed", () => {
      const j = journal();
      const key = { jobId: 1n, action: "commit" };
      j.beginAction(key);
      assert.equal(j.markActionSent({ ...key, txHash: hash(1), nonce: 9 }).state, "sent");
      const replaced = j.markActionSent({ ...key, txHash: hash(2) });
      assert.equal(replaced.txHash, hash(2));
      assert.equal(replaced.nonce, 9);
      const confirmed = j.markActionConfirmed(key);
      assert.equal(confirmed.state, "confirmed");
      assert.equal(confirmed.txHash, hash(2));
      assert.deepEqual(j.markActionConfirmed({ ...key, txHash: hash(2) }), confirmed); // idempotent
      assert.throws(() => j.markActionSent({ ...key, txHash: hash(3) }), (e: unknown) => e instanceof ActionStateError && /is confirmed, it cannot become sent/.test(e.message));
      assert.throws(() => j.markActionConfirmed({ ...key, txHash: hash(3) }), ActionStateError);
      assert.throws(() => j.markActionFailed({ ...key, error: "late" }), ActionStateError);
      assert.throws(() => j.retryAction(key), ActionStateError);
      assert.equal(j.getAction(key)!.txHash, hash(2));
    });

    it("fails an action and reopens it for another attempt", () => {
      const j = journal();
      const key = { jobId: 2n, action: "reveal" };
      j.beginAction(key);
      j.markActionSent({ ...key, txHash: hash(5) });
      const failed = j.markActionFailed({ ...key, error: "dropped from the mempool" });
      assert.equal(failed.state, "failed");
      assert.equal(failed.error, "dropped from the mempool");
      assert.equal(failed.txHash, hash(5));
      assert.deepEqual(j.pendingActions(), []);
      const retried = j.retryAction(key);
      assert.equal(retried.state, "pending");
      assert.equal(retried.attempts, 2);
      assert.equal(retried.txHash, undefined);
      assert.equal(retried.error, undefined);
      assert.throws(() => j.retryAction(key), ActionStateError); // pending, not failed
      j.markActionFailed({ ...key, error: "reverted" });
      assert.throws(() => j.markActionConfirmed({ ...key, txHash: hash(6) }), (e: unknown) => e instanceof ActionStateError && /is failed, it cannot become confirmed/.test(e.message));
      j.retryAction(key);
      assert.equal(j.markActionConfirmed({ ...key, txHash: hash(6) }).txHash, hash(6)); // found on chain after a crash
    });

    it("names the unknown action on a mark and validates the hash", () => {
      const j = journal();
      assert.throws(() => j.markActionSent({ jobId: 5n, action: "claim", txHash: hash(1) }), (e: unknown) => e instanceof ActionNotFoundError && /"claim" recorded for job 5/.test(e.message));
      assert.throws(() => j.markActionConfirmed({ jobId: 5n, action: "claim" }), ActionNotFoundError);
      assert.throws(() => j.retryAction({ jobId: 5n, action: "claim" }), ActionNotFoundError);
      j.beginAction({ jobId: 5n, action: "claim" });
      assert.throws(() => j.markActionSent({ jobId: 5n, action: "claim", txHash: "0xzz" as Hex }), (e: unknown) => e instanceof JournalInputError && e.field === "txHash");
      assert.throws(() => j.markActionSent({ jobId: 5n, action: "claim", txHash: hash(1), nonce: -1 }), /nonce: /);
      assert.throws(() => j.beginAction({ jobId: 5n, action: "" }), /action: /);
      assert.equal(j.getAction({ jobId: 5n, action: "claim" })!.state, "pending");
    });

    it("lists pending and sent actions, oldest first, for all jobs or one", () => {
      const j = journal();
      for (const [jobId, action] of [[1n, "claim"], [2n, "claim"], [1n, "commit"], [3n, "claim"]] as const) j.beginAction({ jobId, action });
      j.markActionSent({ jobId: 2n, action: "claim", txHash: hash(2) });
      j.markActionConfirmed({ jobId: 1n, action: "claim", txHash: hash(1) });
      j.markActionFailed({ jobId: 3n, action: "claim", error: "reverted: JobNotClaimable" });
      assert.deepEqual(j.pendingActions().map((a) => [a.jobId, a.action, a.state]), [
        [2n, "claim", "sent"],
        [1n, "commit", "pending"],
      ]);
      assert.deepEqual(j.pendingActions({ jobId: 1n }).map((a) => a.action), ["commit"]);
    });
  });

  describe("durability", () => {
    it("keeps cursors, jobs and actions across close and reopen", () => {
      const a = journal();
      a.setCursor({ name: "JobMarket", blockNumber: 123n, blockHash: hash(123) });
      a.upsertJob({ jobId: 42n, role: "auditor", status: "auditing", data: { seed: hash(9) } });
      a.beginAction({ jobId: 42n, action: "audit-commit" });
      a.markActionSent({ jobId: 42n, action: "audit-commit", txHash: hash(77), nonce: 3 });
      a.close();
      assert.equal(a.isOpen, false);
      a.close(); // idempotent
      const b = journal();
      assert.equal(b.getCursor("JobMarket")!.blockNumber, 123n);
      assert.deepEqual(b.getJob(42n)!.data, { seed: hash(9) });
      assert.equal(b.getJob(42n)!.role, "auditor");
      const action = b.getAction({ jobId: 42n, action: "audit-commit" })!;
      assert.deepEqual([action.state, action.txHash, action.nonce], ["sent", hash(77), 3]);
      assert.equal(b.beginAction({ jobId: 42n, action: "audit-commit" }).created, false);
    });

    it("flushes the WAL only for an intent: synchronous NORMAL otherwise, FULL for beginAction, or an awaited flush()", async () => {
      const a = journal();
      const synchronous = () => readSynchronous(a);
      assert.equal(synchronous(), 1, "NORMAL for ordinary writes");
      a.upsertJob({ jobId: 1n, role: "provider", status: "candidate" });
      a.beginAction({ jobId: 1n, action: "claimAndCommit" });
      assert.equal(synchronous(), 1, "back to NORMAL after the intent's FULL commit");
      const { created } = a.beginAction({ jobId: 1n, action: "reveal", sync: false });
      assert.equal(created, true);
      await a.flush();
      await a.flush(); // again: nothing new, still fine
      a.close();
      await a.flush(); // closed: nothing to do
      assert.deepEqual(
        journal().pendingActions().map((x) => x.action),
        ["claimAndCommit", "reveal"],
      );
      const memory = new Journal({ path: ":memory:" });
      memory.beginAction({ jobId: 2n, action: "finalize", sync: false });
      await memory.flush();
      memory.close();
    });

    it("shares flushes: many asked at once cost the one running and one after it, which covers the commits made meanwhile; the WAL stays open once", async () => {
      const a = journal();
      a.beginAction({ jobId: 1n, action: "claimAndCommit", sync: false });
      const datasyncs = await countDatasyncs(a.path);
      const walDescriptors = () =>
        readdirSync("/proc/self/fd").filter((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`) === `${a.path}-wal`;
          } catch {
            return false; // closed while listed
          }
        }).length;
      try {
        const sqliteOwn = walDescriptors();
        await a.flush();
        assert.equal(datasyncs.count, 1);
        datasyncs.count = 0;
        const first = a.flush();
        // Committed after the running flush started: only a flush that starts later may cover it.
        a.beginAction({ jobId: 1n, action: "reveal", sync: false });
        const order: string[] = [];
        const rest = Array.from({ length: 20 }, () => a.flush().then(() => order.push("later")));
        await Promise.all([first.then(() => order.push("first")), ...rest]);
        assert.equal(datasyncs.count, 2, "twenty-one flushes asked while one ran: that one and one after it");
        assert.equal(order[0], "first", "the later callers wait for the flush that started after their commit");
        if (process.platform === "linux") assert.equal(walDescriptors(), sqliteOwn + 1, "one descriptor of the WAL kept for every flush");
        a.close();
        await new Promise((resolve) => setTimeout(resolve, 50));
        if (process.platform === "linux") assert.equal(walDescriptors(), 0, "closed with the journal");
        await a.flush(); // closed: nothing to do
        assert.equal(datasyncs.count, 2);
      } finally {
        datasyncs.restore();
      }
      assert.deepEqual(journal().pendingActions().map((x) => x.action), ["claimAndCommit", "reveal"]);
    });

    it("commits every intent at synchronous FULL, the first one of a fresh journal too (read inside beginAction's transaction)", () => {
      const j = journal();
      const sql = (j as unknown as { sql: { insertAction: StatementSync } }).sql;
      const insert = sql.insertAction;
      const levels: number[] = [];
      sql.insertAction = {
        run: (...parameters: Parameters<StatementSync["run"]>) => {
          levels.push(readSynchronous(j));
          return insert.run(...parameters);
        },
      } as StatementSync;
      j.beginAction({ jobId: 1n, action: "claimAndCommit" });
      j.beginAction({ jobId: 1n, action: "reveal" });
      j.beginAction({ jobId: 1n, action: "finalize", sync: false });
      assert.deepEqual(levels, [2, 2, 1], "FULL, FULL, then NORMAL for an intent flushed by the caller");
      assert.equal(readSynchronous(j), 1);
    });

    it("a flush asked for while another ran still flushes when the journal closes before it starts", async () => {
      const a = journal();
      // Another connection (the CLI reading the worker's journal): a's close then leaves the WAL, not checkpointed away.
      const other = journal();
      a.beginAction({ jobId: 1n, action: "claimAndCommit", sync: false });
      const datasyncs = await countDatasyncs(a.path);
      try {
        const running = a.flush();
        const queued = a.flush();
        a.close();
        await Promise.all([running, queued]);
        assert.ok(existsSync(`${a.path}-wal`));
        assert.equal(datasyncs.count, 2, "the running flush's datasync and the queued one's, made after the close");
      } finally {
        datasyncs.restore();
        other.close();
      }
    });

    it("after closing without a mark, the begun action is pending on reopen", () => {
      const a = journal();
      a.beginAction({ jobId: 9n, action: "reveal" });
      a.close();
      const b = journal();
      assert.deepEqual(b.pendingActions().map((x) => [x.jobId, x.action, x.state]), [[9n, "reveal", "pending"]]);
    });

    it("after a process is killed (SIGKILL) mid-action, the intent and the sent hash are on disk", async () => {
      const script = path.join(dir, "crash.mts");
      await writeFile(
        script,
        `import { Journal } from ${JSON.stringify(JOURNAL_MODULE)};
const journal = new Journal({ path: process.argv[2] });
journal.beginAction({ jobId: 1n, action: "claim" });
journal.markActionSent({ jobId: 1n, action: "claim", txHash: "0x${"ab".repeat(32)}", nonce: 0 });
journal.beginAction({ jobId: 1n, action: "commit" });
process.stdout.write("about to send\\n");
setInterval(() => {}, 1000); // the "send" never returns: the parent kills us here
`,
      );
      const { signal, stdout } = await startScript(script, [file], { killOn: "about to send" }).done;
      assert.equal(signal, "SIGKILL");
      assert.match(stdout, /about to send/);
      const j = journal();
      assert.deepEqual(
        j.pendingActions().map((x) => [x.action, x.state, x.txHash]),
        [
          ["claim", "sent", `0x${"ab".repeat(32)}`],
          ["commit", "pending", undefined],
        ],
      );
      assert.equal(j.beginAction({ jobId: 1n, action: "commit" }).created, false);
    });
  });

  describe("concurrency", () => {
    it("two instances on one file see each other's writes at once", () => {
      const a = journal();
      const b = journal();
      a.upsertJob({ jobId: 1n, role: "provider", status: "claimed" });
      assert.equal(b.getJob(1n)!.status, "claimed");
      assert.equal(a.beginAction({ jobId: 1n, action: "commit" }).created, true);
      assert.equal(b.beginAction({ jobId: 1n, action: "commit" }).created, false);
      b.markActionSent({ jobId: 1n, action: "commit", txHash: hash(1) });
      assert.equal(a.getAction({ jobId: 1n, action: "commit" })!.state, "sent");
    });

    it("two processes racing on one fresh file record each action exactly once, without corruption", async () => {
      const script = path.join(dir, "race.mts");
      await writeFile(
        script,
        `import { Journal } from ${JSON.stringify(JOURNAL_MODULE)};
const [file, who] = process.argv.slice(2);
// Both processes start together, on a file that does not exist yet: they race on its creation too.
process.stdout.write("ready\\n");
await new Promise((resolve) => process.stdin.once("data", resolve));
const journal = new Journal({ path: file, busyTimeoutMs: 20000 });
let created = 0;
for (let step = 0; step < 80; step++) {
  // One walks the jobs up, the other down: they meet in the middle, contending for the same jobs.
  const i = who === "a" ? step : 79 - step;
  const jobId = BigInt(i);
  if (journal.beginAction({ jobId, action: "claim" }).created) {
    created++;
    journal.markActionSent({ jobId, action: "claim", txHash: ("0x" + (i + 1).toString(16).padStart(64, "0")), nonce: i });
  }
  journal.upsertJob({ jobId: BigInt(1000 + i), role: "provider", status: who });
  journal.setCursor({ name: who, blockNumber: BigInt(step), blockHash: ("0x" + step.toString(16).padStart(64, "0")) });
  // A worker does I/O between writes; yielding lets the other process's waiting writer in.
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
}
journal.close();
process.stdout.write(JSON.stringify({ created }) + "\\n");
`,
      );
      const runs = ["a", "b"].map((who) => startScript(script, [file, who]));
      await Promise.all(runs.map((run) => run.ready));
      for (const run of runs) run.go();
      const results = await Promise.all(runs.map((run) => run.done));
      const created = results.map((r) => (JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { created: number }).created);
      assert.equal(created[0]! + created[1]!, 80, `created ${created}`);
      const db = new DatabaseSync(file);
      assert.equal(db.prepare("PRAGMA integrity_check").get()!.integrity_check, "ok");
      assert.equal(db.prepare("SELECT count(*) AS n FROM actions").get()!.n, 80);
      assert.equal(db.prepare("SELECT count(*) AS n FROM actions WHERE state = 'sent' AND tx_hash IS NOT NULL").get()!.n, 80);
      assert.equal(db.prepare("SELECT count(*) AS n FROM jobs").get()!.n, 80);
      db.close();
      const j = journal();
      assert.equal(j.schemaVersion, MIGRATIONS.length);
      assert.equal(j.getCursor("a")!.blockNumber, 79n);
      assert.deepEqual(j.getCursor("b")!.recent.slice(0, 2).map((b) => b.number), [79n, 78n]);
      assert.equal(j.getCursor("b")!.recent.length, 80);
    });

    it("six processes opening the same fresh files at the same moments all get a journal", async () => {
      // Switching a fresh file to WAL reads then writes in one statement; SQLite answers a connection
      // that would deadlock there SQLITE_BUSY at once, without waiting out the busy timeout.
      const script = path.join(dir, "open-race.mts");
      await writeFile(
        script,
        `import { Journal } from ${JSON.stringify(JOURNAL_MODULE)};
const [dir, rounds] = process.argv.slice(2);
process.stdout.write("ready\\n");
const start = Number(await new Promise((resolve) => process.stdin.once("data", (line) => resolve(String(line)))));
const failures = [];
for (let round = 0; round < Number(rounds); round++) {
  // Every process opens file number \`round\` at the same wall-clock moment.
  const wait = start + round * 60 - Date.now();
  if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
  try {
    new Journal({ path: dir + "/race-" + round + ".sqlite", busyTimeoutMs: 5000 }).close();
  } catch (error) {
    failures.push(round + ": " + error.message);
  }
}
process.stdout.write(JSON.stringify({ failures }) + "\\n");
`,
      );
      const rounds = 25;
      const runs = Array.from({ length: 6 }, () => startScript(script, [dir, String(rounds)]));
      await Promise.all(runs.map((run) => run.ready));
      const start = Date.now() + 300;
      for (const run of runs) run.go(String(start));
      const results = await Promise.all(runs.map((run) => run.done));
      const failures = results.flatMap((r) => (JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { failures: string[] }).failures);
      assert.deepEqual(failures, []);
      for (let round = 0; round < rounds; round++) {
        const j = journal({ path: path.join(dir, `race-${round}.sqlite`) });
        assert.equal(j.schemaVersion, MIGRATIONS.length);
        assert.equal(j.journalMode, "wal");
      }
    });

    it("gives a retryable JournalBusyError when another connection holds the lock too long", () => {
      const j = journal({ busyTimeoutMs: 50 });
      const holder = new DatabaseSync(file);
      holder.exec("BEGIN IMMEDIATE");
      try {
        assert.throws(() => j.beginAction({ jobId: 1n, action: "claim" }), (e: unknown) => e instanceof JournalBusyError && e instanceof RetryableError);
      } finally {
        holder.exec("ROLLBACK");
        holder.close();
      }
      assert.equal(j.beginAction({ jobId: 1n, action: "claim" }).created, true);
    });
  });
});
