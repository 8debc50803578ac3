/**
 * The worker's journal: what it has seen and done, in one SQLite file (`node:sqlite`), so that a
 * restart at any point resumes without doing anything twice.
 *
 * - **cursors**: per log poller, the last processed block and the hashes of its last few
 *   positions, to detect a reorg and find where it forked.
 * - **jobs**: per job this worker handles, its role, its local status and free-form data.
 * - **actions**: each on-chain action (claim, commit, reveal, finalize...) of a job, recorded
 *   once. The protocol: `beginAction` *before* sending (a second call returns the existing row,
 *   `created: false`), `markActionSent` with the tx hash right after sending, then
 *   `markActionConfirmed` / `markActionFailed`. After a crash, `pendingActions()` lists what was
 *   begun or sent but never settled: check the chain (the tx hash, the nonce, the job's state)
 *   before sending again.
 *
 * All methods are synchronous (DatabaseSync) with prepared statements; multi-statement writes
 * run in `BEGIN IMMEDIATE` transactions. The file is in WAL mode, and several processes may open it
 * at once (writers wait up to `busyTimeoutMs`, then get a retryable `JournalBusyError`).
 *
 * Durability: `beginAction` commits with `synchronous = FULL` (the WAL is flushed to disk), so a
 * recorded intent survives a power cut, and so does everything recorded before it (the WAL is one
 * file, appended in order: a flush covers every earlier commit). Other writes commit with
 * `synchronous = NORMAL`: a process crash loses none of them, a power cut may lose the last few since
 * the last intent (a poller's cursor, which then redelivers; a job's status or a confirmation, which
 * the chain shows again). On the worker's path that is one disk flush per transaction it sends
 * instead of about ten per job. A caller on an event loop can take the flush off it:
 * `beginAction({ ..., sync: false })`, then `await flush()` (the WAL flushed on libuv's thread pool)
 * before acting; the intent is on disk before the action all the same.
 */
import { mkdirSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";

import type { Hex } from "viem";

import { silentLogger, type Logger } from "../log.js";
import { ActionNotFoundError, ActionStateError, JournalBusyError, JournalInputError } from "./errors.js";
import { decodeJson, encodeJson } from "./json.js";
import { migrate, userVersion } from "./migrations.js";

/**
 * `provider-batch`: a batch the provider worker follows (offchain/provider/batch-worker.ts); `verifier-batch`: a
 * batch the verifier's watchdog follows (offchain/verifier/verifier.ts); `provider-replica`: a redundant job
 * the provider worker follows (offchain/provider/replica-worker.ts); all keyed apart from jobs.
 */
export const JOB_ROLES = ["provider", "provider-batch", "auditor", "voter", "challenger", "verifier-batch", "provider-replica"] as const;
export type JobRole = (typeof JOB_ROLES)[number];

export const ACTION_STATES = ["pending", "sent", "confirmed", "failed"] as const;
export type ActionState = (typeof ACTION_STATES)[number];

/** Which state each state may move to. `sent -> sent` is a replacement transaction (new hash). */
export const ACTION_TRANSITIONS: Readonly<Record<ActionState, readonly ActionState[]>> = {
  pending: ["sent", "confirmed", "failed"],
  sent: ["sent", "confirmed", "failed"],
  confirmed: [],
  failed: ["pending"],
};

export type JobData = Record<string, unknown>;

export type BlockRef = { number: bigint; hash: Hex };

export type Cursor = {
  name: string;
  blockNumber: bigint;
  blockHash: Hex;
  /** The cursor's last positions, newest first; the first is the current one. */
  recent: BlockRef[];
  updatedAt: number;
};

export type JobRecord<T extends JobData = JobData> = {
  jobId: bigint;
  role: JobRole;
  status: string;
  data: T;
  createdAt: number;
  updatedAt: number;
};

export type ActionRecord = {
  id: number;
  jobId: bigint;
  action: string;
  state: ActionState;
  txHash?: Hex;
  nonce?: number;
  error?: string;
  /** 1, plus one per `retryAction`. */
  attempts: number;
  createdAt: number;
  updatedAt: number;
};

export type JournalParameters = {
  /** The SQLite file (its directory is created); ":memory:" for a throwaway journal. */
  path: string;
  /** How long a write waits for another connection's lock. */
  busyTimeoutMs?: number;
  /** Positions kept per cursor for reorg detection. */
  keepRecentBlocks?: number;
  /** Clock for `updatedAt` (ms since the epoch); tests pass a fake. */
  now?: () => number;
  logger?: Logger;
};

export type SetCursorParameters = {
  name: string;
  blockNumber: bigint;
  blockHash: Hex;
  /**
   * For a caller that keeps its own list of positions (the log poller): replaces the remembered
   * ones with these (none above `blockNumber`). Omitted, the new position is added to the list.
   */
  recent?: readonly BlockRef[];
};

export type UpsertJobParameters<T extends JobData = JobData> = {
  jobId: bigint;
  role: JobRole;
  status: string;
  /** Replaces the stored data; omitted keeps it (`{}` for a new job). JSON plus bigints. */
  data?: T;
};

export type ListJobsParameters = {
  /** One status or any of several; all when omitted. */
  status?: string | readonly string[];
  role?: JobRole;
  limit?: number;
};

export type ActionKey = { jobId: bigint; action: string };

export type BeginActionParameters = ActionKey & {
  /**
   * Flush the intent to disk before returning (default). false: commit without the flush; the
   * caller must `await flush()` before the action takes effect.
   */
  sync?: boolean;
};

export type BeginActionReturnType = {
  action: ActionRecord;
  /** False when the action was already recorded: look at its state before doing anything. */
  created: boolean;
};

export type MarkActionSentParameters = ActionKey & { txHash: Hex; nonce?: number };
export type MarkActionConfirmedParameters = ActionKey & { txHash?: Hex };
export type MarkActionFailedParameters = ActionKey & { error: string; txHash?: Hex };

const MAX_UINT256 = (1n << 256n) - 1n;
const MAX_INT64 = (1n << 63n) - 1n;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

export class Journal {
  readonly path: string;
  private readonly db: DatabaseSync;
  private readonly keepRecentBlocks: number;
  private readonly now: () => number;
  private readonly sql: ReturnType<typeof prepareStatements>;
  /** Whether the file is in WAL mode (a file system that cannot share memory keeps a rollback journal). */
  private readonly walMode: boolean;

  constructor({ path: file, busyTimeoutMs = 5_000, keepRecentBlocks = 128, now = Date.now, logger = silentLogger() }: JournalParameters) {
    if (!Number.isSafeInteger(keepRecentBlocks) || keepRecentBlocks < 1) {
      throw new JournalInputError({ field: "keepRecentBlocks", problem: `expected a positive integer, got ${keepRecentBlocks}` });
    }
    this.path = file === ":memory:" ? file : path.resolve(file);
    this.keepRecentBlocks = keepRecentBlocks;
    this.now = now;
    if (this.path !== ":memory:") mkdirSync(path.dirname(this.path), { recursive: true });
    this.db = new DatabaseSync(this.path, { timeout: busyTimeoutMs });
    try {
      this.setUp({ busyTimeoutMs, logger });
      this.sql = prepareStatements(this.db);
      this.walMode = this.journalMode === "wal";
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /**
   * Puts the file in WAL mode and migrates it. Switching a fresh file to WAL reads and then writes in
   * one statement; when two connections do that at once, SQLite answers one of them SQLITE_BUSY at
   * once rather than wait (waiting could deadlock), so the busy timeout alone does not cover it. The
   * setup is retried, with a short random pause, until `busyTimeoutMs` has passed.
   */
  private setUp({ busyTimeoutMs, logger }: { busyTimeoutMs: number; logger: Logger }): void {
    const deadline = Date.now() + busyTimeoutMs;
    for (;;) {
      try {
        this.guard(() => {
          this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
          const { from, to } = migrate({ db: this.db });
          if (from !== to) logger.info({ msg: "journal schema migrated", path: this.path, from, to });
        });
        return;
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw error;
        sleepSync(5 + Math.random() * 20);
      }
    }
  }

  /** The file's schema version (`PRAGMA user_version`). */
  get schemaVersion(): number {
    return userVersion(this.db);
  }

  /** The SQLite journal mode in effect ("wal" for a file). */
  get journalMode(): string {
    return String((this.db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode);
  }

  /** False after `close()`. */
  get isOpen(): boolean {
    return this.db.isOpen;
  }

  /** Closes the file (idempotent); the last connection's close checkpoints, so all is then on disk. */
  close(): void {
    if (this.db.isOpen) this.db.close();
    // The WAL's descriptor closes once no flush uses it (its number is not handed out again meanwhile).
    const wal = this.wal;
    this.wal = undefined;
    if (wal !== undefined) void (this.syncing ?? Promise.resolve()).catch(() => {}).then(() => wal.then((handle) => handle.close()).catch(() => {}));
  }

  /**
   * Makes every commit so far durable, as `synchronous = FULL` would have at its commit: flushes
   * the WAL file (fdatasync) on libuv's thread pool, so the event loop is not blocked meanwhile.
   *
   * Flushes are shared: one asked for while another runs waits for the next, which starts when that one ends
   * and serves every caller that asked meanwhile (a tick that starts twenty reveals flushes twice, not twenty
   * times). The WAL stays open between flushes: SQLite keeps the one file while the database is open.
   */
  flush(): Promise<void> {
    // Not in WAL mode (or in memory): beginAction then flushes every intent at its commit anyway.
    if (!this.walMode || !this.db.isOpen) return Promise.resolve();
    // A flush not started yet covers every commit made before it starts, this caller's too.
    if (this.nextSync !== undefined) return this.nextSync;
    if (this.syncing === undefined) return this.startSync();
    const next = this.syncing
      .catch(() => {})
      .then(() => {
        this.nextSync = undefined;
        return this.startSync();
      });
    this.nextSync = next;
    return next;
  }

  /** The WAL file, opened on the first flush and kept open until `close`. */
  private wal: Promise<FileHandle> | undefined;
  /** The flush running now, and the one queued behind it (see `flush`). */
  private syncing: Promise<void> | undefined;
  private nextSync: Promise<void> | undefined;

  private startSync(): Promise<void> {
    // Closed since this flush was asked for: the WAL is flushed as the old way did, once (gone: the last
    // connection's close checkpointed it into the database, flushed).
    if (!this.db.isOpen) return syncOnce(`${this.path}-wal`);
    const wal = (this.wal ??= open(`${this.path}-wal`, "r+"));
    // A failed open is tried again by the next flush.
    wal.catch(() => {
      if (this.wal === wal) this.wal = undefined;
    });
    const sync: Promise<void> = wal
      .then((handle) => handle.datasync())
      .finally(() => {
        if (this.syncing === sync) this.syncing = undefined;
      });
    this.syncing = sync;
    return sync;
  }

  // ---- cursors ----

  getCursor(name: string): Cursor | undefined {
    checkName(name, "name");
    const row = this.sql.getCursor.get(name) as CursorRow | undefined;
    if (row === undefined) return undefined;
    const recent = (this.sql.recentBlocks.all(name) as BlockRow[]).map((block) => ({ number: block.block_number, hash: block.block_hash }));
    return { name, blockNumber: row.block_number, blockHash: row.block_hash, recent, updatedAt: Number(row.updated_at) };
  }

  /**
   * Moves the cursor to this block and remembers its hash among the last `keepRecentBlocks`
   * positions. Moving back (after a reorg) forgets the positions at and above the new one.
   */
  setCursor({ name, blockNumber, blockHash, recent }: SetCursorParameters): Cursor {
    checkName(name, "name");
    const number = checkBlockNumber(blockNumber, "blockNumber");
    const hash = checkBytes32(blockHash, "blockHash");
    const positions = recent === undefined ? undefined : checkRecent(recent, number);
    return this.transaction(() => {
      this.sql.upsertCursor.run(name, number, hash, this.now());
      // Forget what the new position supersedes: the positions at and above it, or all of them
      // when the caller gives its own list.
      this.sql.forgetBlocksFrom.run(name, positions === undefined ? number : 0n);
      for (const block of positions ?? []) this.sql.insertBlock.run(name, block.number, block.hash);
      this.sql.insertBlock.run(name, number, hash);
      this.sql.pruneBlocks.run(name, name, this.keepRecentBlocks);
      return this.getCursor(name)!;
    });
  }

  // ---- jobs ----

  /** `putJob`, and the row as stored, read back in the same transaction. */
  upsertJob<T extends JobData = JobData>(parameters: UpsertJobParameters<T>): JobRecord<T> {
    return this.transaction(() => {
      this.putJob(parameters);
      return this.getJob<T>(parameters.jobId)!;
    });
  }

  /** `upsertJob` without reading the row back: one statement, its own commit (a daemon that journals every step of every job). */
  putJob<T extends JobData = JobData>({ jobId, role, status, data }: UpsertJobParameters<T>): void {
    const id = checkJobId(jobId);
    checkRole(role);
    checkName(status, "status");
    const json = data === undefined ? null : encodeJobData(data);
    const now = this.now();
    this.guard(() => this.sql.upsertJob.run({ job_id: id, role, status, data: json, now }));
  }

  getJob<T extends JobData = JobData>(jobId: bigint): JobRecord<T> | undefined {
    const row = this.sql.getJob.get(checkJobId(jobId)) as JobRow | undefined;
    return row === undefined ? undefined : toJobRecord<T>(row);
  }

  /** The job's status alone, without decoding its data (a step that only asks where the job stands). */
  getJobStatus(jobId: bigint): string | undefined {
    return (this.sql.getJobStatus.get(checkJobId(jobId)) as Pick<JobRow, "status"> | undefined)?.status;
  }

  /** Jobs by status and/or role, least recently updated first. */
  listJobs<T extends JobData = JobData>({ status, role, limit = -1 }: ListJobsParameters = {}): JobRecord<T>[] {
    const statuses = status === undefined ? null : JSON.stringify(typeof status === "string" ? [status] : [...status]);
    if (role !== undefined) checkRole(role);
    if (!Number.isSafeInteger(limit)) throw new JournalInputError({ field: "limit", problem: `expected an integer, got ${limit}` });
    const rows = this.sql.listJobs.all({ statuses, role: role ?? null, limit }) as JobRow[];
    return rows.map((row) => toJobRecord<T>(row));
  }

  /**
   * Like `listJobs`, without the jobs' data: for a caller that looks at many jobs and reads the
   * data of few (a worker's tick skips the jobs that are mid-step or asleep), it saves decoding them.
   */
  listJobKeys({ status, role, limit = -1 }: ListJobsParameters = {}): { jobId: bigint; status: string }[] {
    const statuses = status === undefined ? null : JSON.stringify(typeof status === "string" ? [status] : [...status]);
    if (role !== undefined) checkRole(role);
    if (!Number.isSafeInteger(limit)) throw new JournalInputError({ field: "limit", problem: `expected an integer, got ${limit}` });
    const rows = this.sql.listJobKeys.all({ statuses, role: role ?? null, limit }) as Pick<JobRow, "job_id" | "status">[];
    return rows.map((row) => ({ jobId: BigInt(row.job_id), status: row.status }));
  }

  /** How many jobs `listJobs` would list (no limit), counted in SQLite: a status line counts open jobs without reading them. */
  countJobs({ status, role }: Omit<ListJobsParameters, "limit"> = {}): number {
    const statuses = status === undefined ? null : JSON.stringify(typeof status === "string" ? [status] : [...status]);
    if (role !== undefined) checkRole(role);
    return Number((this.sql.countJobs.get({ statuses, role: role ?? null }) as { n: number }).n);
  }

  // ---- actions ----

  /**
   * Records the intent to do `action` for `jobId`, before sending anything. If it was already
   * recorded (by this process before a crash, or by another), returns that row with
   * `created: false` and changes nothing.
   */
  beginAction({ jobId, action, sync = true }: BeginActionParameters): BeginActionReturnType {
    const id = checkJobId(jobId);
    checkName(action, "action");
    const now = this.now();
    return this.transaction(
      () => {
        const { changes } = this.sql.insertAction.run(id, action, now, now);
        return { action: this.requireAction({ jobId, action }), created: Number(changes) === 1 };
      },
      { durable: sync || !this.walMode },
    );
  }

  getAction({ jobId, action }: ActionKey): ActionRecord | undefined {
    const row = this.sql.getAction.get(checkJobId(jobId), action) as ActionRow | undefined;
    return row === undefined ? undefined : toActionRecord(row);
  }

  /** A job's actions, in the order they were begun. */
  listActions(jobId: bigint): ActionRecord[] {
    return (this.sql.listActions.all(checkJobId(jobId)) as ActionRow[]).map(toActionRecord);
  }

  /** The transaction went out: pending (or sent, for a replacement) -> sent, with its hash. */
  markActionSent({ jobId, action, txHash, nonce }: MarkActionSentParameters): ActionRecord {
    const hash = checkBytes32(txHash, "txHash");
    if (nonce !== undefined && (!Number.isSafeInteger(nonce) || nonce < 0)) {
      throw new JournalInputError({ field: "nonce", problem: `expected a non-negative integer, got ${nonce}` });
    }
    return this.transition({ jobId, action }, "sent", { tx_hash: hash, nonce: nonce ?? null, error: null });
  }

  /**
   * The action took effect on chain. From `pending` too: after a crash the worker may find the
   * effect on chain without a recorded hash. Confirming again with the same hash is a no-op.
   */
  markActionConfirmed({ jobId, action, txHash }: MarkActionConfirmedParameters): ActionRecord {
    const hash = txHash === undefined ? null : checkBytes32(txHash, "txHash");
    const { moved, current } = this.move({ jobId, action }, "confirmed", { tx_hash: hash, nonce: null, error: null });
    if (moved !== undefined) return moved;
    if (current.state === "confirmed" && (hash === null || hash === current.txHash)) return current;
    throw new ActionStateError({ jobId, action, from: current.state, to: "confirmed" });
  }

  /** The action will not take effect (a revert, a dropped transaction); `error` says why. */
  markActionFailed({ jobId, action, error, txHash }: MarkActionFailedParameters): ActionRecord {
    if (typeof error !== "string") throw new JournalInputError({ field: "error", problem: "expected a string" });
    const hash = txHash === undefined ? null : checkBytes32(txHash, "txHash");
    return this.transition({ jobId, action }, "failed", { tx_hash: hash, nonce: null, error });
  }

  /** Reopens a failed action for another attempt: failed -> pending, `attempts` + 1. */
  retryAction({ jobId, action }: ActionKey): ActionRecord {
    return this.transition({ jobId, action }, "pending", { tx_hash: null, nonce: null, error: null });
  }

  /**
   * Reopens a confirmed action whose transaction a reorg took away (the chain asks for the action again and the node
   * knows the recorded transaction neither mined nor pooled): confirmed -> pending, `attempts` + 1, its hash cleared.
   * Outside the lifecycle of ACTION_TRANSITIONS on purpose: a confirmed action is final unless its caller checked
   * the chain lost it (offchain/daemon/action.ts).
   */
  reopenAction({ jobId, action }: ActionKey): ActionRecord {
    const id = checkJobId(jobId);
    checkName(action, "action");
    const rows = this.guard(() => this.sql.reopenAction.all({ job_id: id, action, now: this.now() })) as ActionRow[];
    if (rows[0] !== undefined) return toActionRecord(rows[0]);
    throw new ActionStateError({ jobId, action, from: this.guard(() => this.requireAction({ jobId, action })).state, to: "pending (reopened)" });
  }

  /**
   * Forgets every action of `jobId`: a reorg replaced the job's post, so the transactions they record were for a job
   * the chain no longer holds (each reverts or is void there; one mined again is seen by reading the job).
   */
  forgetActions(jobId: bigint): void {
    this.guard(() => this.sql.forgetActions.run(checkJobId(jobId)));
  }

  /** Actions begun or sent but not settled, oldest first (all jobs, or one). */
  pendingActions({ jobId }: { jobId?: bigint } = {}): ActionRecord[] {
    const id = jobId === undefined ? null : checkJobId(jobId);
    return (this.sql.pendingActions.all({ job_id: id }) as ActionRow[]).map(toActionRecord);
  }

  // ---- internals ----

  /**
   * Moves an action to `to` if its lifecycle allows it. Columns given as null keep their value
   * (tx_hash, nonce), except on retry, where the attempt starts clean.
   */
  private transition(key: ActionKey, to: ActionState, fields: ActionFields): ActionRecord {
    const { moved, current } = this.move(key, to, fields);
    if (moved !== undefined) return moved;
    throw new ActionStateError({ jobId: key.jobId, action: key.action, from: current.state, to });
  }

  /**
   * Moves the action to `to` in one statement, its own commit, and returns it as stored (`moved`); where it did not
   * move, the action as it is (`current`), whose state may not move there. An action in a state that may move, when
   * read after a move that found none (another process moved it in between), is moved again.
   */
  private move(key: ActionKey, to: ActionState, fields: ActionFields): { moved: ActionRecord; current?: never } | { moved?: never; current: ActionRecord } {
    const id = checkJobId(key.jobId);
    checkName(key.action, "action");
    for (;;) {
      // `all`, not `get`: SQLite commits the statement's change when it runs to its end, and `get` leaves that to a
      // reset whose error (a commit refused: disk full, a lock) node:sqlite does not report.
      const rows = this.guard(() => this.sql.moveAction[to].all({ job_id: id, action: key.action, state: to, ...fields, now: this.now() })) as ActionRow[];
      if (rows[0] !== undefined) return { moved: toActionRecord(rows[0]) };
      const current = this.guard(() => this.requireAction(key));
      if (!ACTION_TRANSITIONS[current.state].includes(to)) return { current };
    }
  }

  private requireAction(key: ActionKey): ActionRecord {
    const record = this.getAction(key);
    if (record === undefined) throw new ActionNotFoundError(key);
    return record;
  }

  /**
   * Runs `fn` in a write transaction (BEGIN IMMEDIATE: the lock is taken up front, no upgrade
   * deadlock). `durable`: the commit flushes the WAL to disk before returning (see the module doc).
   */
  private transaction<T>(fn: () => T, { durable = false }: { durable?: boolean } = {}): T {
    return this.guard(() => {
      // BEGIN, COMMIT and ROLLBACK are prepared once (a parse per call was a few percent of the worker's main
      // thread). The PRAGMAs are not: SQLite applies a PRAGMA's setting when it prepares it, not when it runs.
      const { sql } = this;
      if (durable) this.db.exec("PRAGMA synchronous = FULL");
      try {
        sql.begin.run();
        try {
          const result = fn();
          sql.commit.run();
          return result;
        } catch (error) {
          if (this.db.isTransaction) sql.rollback.run();
          throw error;
        }
      } finally {
        if (durable) this.db.exec("PRAGMA synchronous = NORMAL");
      }
    });
  }

  /** Turns SQLITE_BUSY / SQLITE_LOCKED (another process kept the lock too long) into a retryable error. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if (isSqliteBusy(error)) throw new JournalBusyError({ path: this.path, cause: error });
      throw error;
    }
  }
}

/**
 * Whether `error` is SQLite's "database is locked" (SQLITE_BUSY) or "table is locked" (SQLITE_LOCKED), an extended
 * code of either included (SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_RECOVERY...: the primary code is the low byte).
 */
function isSqliteBusy(error: unknown): boolean {
  const { code, errcode } = error as { code?: string; errcode?: number };
  const primary = typeof errcode === "number" ? errcode & 0xff : undefined;
  return code === "ERR_SQLITE_ERROR" && (primary === 5 || primary === 6);
}

/** Whether `error`, or an error it wraps (a failed migration wraps its cause), is a lock conflict. */
function isBusy(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof JournalBusyError || isSqliteBusy(e)) return true;
  }
  return false;
}

/** Blocks the thread for `ms` (the constructor is synchronous, like the rest of the journal). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// ---- rows ----

type CursorRow = { block_number: bigint; block_hash: Hex; updated_at: bigint };
type BlockRow = { block_number: bigint; block_hash: Hex };
type JobRow = { job_id: string; role: JobRole; status: string; data: string; created_at: number; updated_at: number };
/** The columns a move of an action sets; tx_hash and nonce given null keep theirs, except on a retry. */
type ActionFields = { tx_hash: string | null; nonce: number | null; error: string | null };
type ActionRow = {
  id: number;
  job_id: string;
  action: string;
  state: ActionState;
  tx_hash: Hex | null;
  nonce: number | null;
  error: string | null;
  attempts: number;
  created_at: number;
  updated_at: number;
};

function prepareStatements(db: DatabaseSync) {
  const bigints = (statement: StatementSync) => {
    statement.setReadBigInts(true);
    return statement;
  };
  return {
    getCursor: bigints(db.prepare("SELECT block_number, block_hash, updated_at FROM cursors WHERE name = ?")),
    recentBlocks: bigints(db.prepare("SELECT block_number, block_hash FROM cursor_blocks WHERE cursor = ? ORDER BY block_number DESC")),
    upsertCursor: db.prepare(
      `INSERT INTO cursors (name, block_number, block_hash, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET block_number = excluded.block_number, block_hash = excluded.block_hash, updated_at = excluded.updated_at`,
    ),
    forgetBlocksFrom: db.prepare("DELETE FROM cursor_blocks WHERE cursor = ? AND block_number >= ?"),
    insertBlock: db.prepare("INSERT OR REPLACE INTO cursor_blocks (cursor, block_number, block_hash) VALUES (?, ?, ?)"),
    pruneBlocks: db.prepare(
      `DELETE FROM cursor_blocks WHERE cursor = ? AND block_number NOT IN
         (SELECT block_number FROM cursor_blocks WHERE cursor = ? ORDER BY block_number DESC LIMIT ?)`,
    ),
    begin: db.prepare("BEGIN IMMEDIATE"),
    commit: db.prepare("COMMIT"),
    rollback: db.prepare("ROLLBACK"),
    upsertJob: db.prepare(
      `INSERT INTO jobs (job_id, role, status, data, created_at, updated_at)
       VALUES (:job_id, :role, :status, coalesce(:data, '{}'), :now, :now)
       ON CONFLICT (job_id) DO UPDATE SET role = excluded.role, status = excluded.status,
         data = coalesce(:data, jobs.data), updated_at = excluded.updated_at`,
    ),
    getJob: db.prepare("SELECT * FROM jobs WHERE job_id = ?"),
    getJobStatus: db.prepare("SELECT status FROM jobs WHERE job_id = ?"),
    listJobs: db.prepare(
      `SELECT * FROM jobs
       WHERE (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
         AND (:role IS NULL OR role = :role)
       ORDER BY updated_at, length(job_id), job_id
       LIMIT :limit`,
    ),
    listJobKeys: db.prepare(
      `SELECT job_id, status FROM jobs
       WHERE (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
         AND (:role IS NULL OR role = :role)
       ORDER BY updated_at, length(job_id), job_id
       LIMIT :limit`,
    ),
    countJobs: db.prepare(
      `SELECT count(*) AS n FROM jobs
       WHERE (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
         AND (:role IS NULL OR role = :role)`,
    ),
    insertAction: db.prepare(
      `INSERT INTO actions (job_id, action, state, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?)
       ON CONFLICT (job_id, action) DO NOTHING`,
    ),
    getAction: db.prepare("SELECT * FROM actions WHERE job_id = ? AND action = ?"),
    listActions: db.prepare("SELECT * FROM actions WHERE job_id = ? ORDER BY id"),
    forgetActions: db.prepare("DELETE FROM actions WHERE job_id = ?"),
    reopenAction: db.prepare(
      `UPDATE actions SET state = 'pending', tx_hash = NULL, nonce = NULL, error = NULL, attempts = attempts + 1, updated_at = :now
       WHERE job_id = :job_id AND action = :action AND state = 'confirmed' RETURNING *`,
    ),
    // Per target state, the move there from the states ACTION_TRANSITIONS allows, returning the row as stored. A
    // retry (to pending) starts the attempt clean; the other moves keep tx_hash and nonce where given null.
    moveAction: Object.fromEntries(
      ACTION_STATES.map((to) => {
        const from = ACTION_STATES.filter((state) => ACTION_TRANSITIONS[state].includes(to));
        const set =
          to === "pending"
            ? "state = :state, tx_hash = :tx_hash, nonce = :nonce, error = :error, attempts = attempts + 1, updated_at = :now"
            : "state = :state, tx_hash = coalesce(:tx_hash, tx_hash), nonce = coalesce(:nonce, nonce), error = :error, updated_at = :now";
        const allowed = from.map((state) => `'${state}'`).join(", ");
        return [to, db.prepare(`UPDATE actions SET ${set} WHERE job_id = :job_id AND action = :action AND state IN (${allowed}) RETURNING *`)];
      }),
    ) as Record<ActionState, StatementSync>,
    pendingActions: db.prepare(
      `SELECT * FROM actions WHERE state IN ('pending', 'sent') AND (:job_id IS NULL OR job_id = :job_id) ORDER BY id`,
    ),
  } satisfies Record<string, StatementSync | Record<ActionState, StatementSync>>;
}

/** Opens a file, datasyncs it and closes it; a file that is not there is nothing to flush. */
async function syncOnce(file: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, "r+");
    await handle.datasync();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  } finally {
    await handle?.close();
  }
}

function toJobRecord<T extends JobData>(row: JobRow): JobRecord<T> {
  return {
    jobId: BigInt(row.job_id),
    role: row.role,
    status: row.status,
    data: decodeJson<T>(row.data),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toActionRecord(row: ActionRow): ActionRecord {
  return {
    id: row.id,
    jobId: BigInt(row.job_id),
    action: row.action,
    state: row.state,
    ...(row.tx_hash === null ? {} : { txHash: row.tx_hash }),
    ...(row.nonce === null ? {} : { nonce: row.nonce }),
    ...(row.error === null ? {} : { error: row.error }),
    attempts: row.attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

// ---- input checks ----

function checkJobId(jobId: bigint): string {
  if (typeof jobId !== "bigint" || jobId < 0n || jobId > MAX_UINT256) {
    throw new JournalInputError({ field: "jobId", problem: `expected a uint256 bigint, got ${describe(jobId)}` });
  }
  return jobId.toString();
}

function checkBlockNumber(blockNumber: bigint, field: string): bigint {
  if (typeof blockNumber !== "bigint" || blockNumber < 0n || blockNumber > MAX_INT64) {
    throw new JournalInputError({ field, problem: `expected a non-negative int64 bigint, got ${describe(blockNumber)}` });
  }
  return blockNumber;
}

function checkRecent(recent: readonly BlockRef[], blockNumber: bigint): BlockRef[] {
  if (!Array.isArray(recent)) throw new JournalInputError({ field: "recent", problem: "expected an array of { number, hash }" });
  return recent.map((block, i) => {
    const number = checkBlockNumber(block?.number, `recent[${i}].number`);
    if (number > blockNumber) {
      throw new JournalInputError({ field: `recent[${i}].number`, problem: `${number} is above the cursor's block ${blockNumber}` });
    }
    return { number, hash: checkBytes32(block.hash, `recent[${i}].hash`) };
  });
}

function checkBytes32(value: Hex, field: string): Hex {
  if (typeof value !== "string" || !BYTES32.test(value)) {
    throw new JournalInputError({ field, problem: `expected 0x and 64 hex digits, got ${describe(value)}` });
  }
  return value.toLowerCase() as Hex;
}

function checkName(value: string, field: string): void {
  if (typeof value !== "string" || value.length === 0 || value.length > 200) {
    throw new JournalInputError({ field, problem: `expected a non-empty string of at most 200 characters, got ${describe(value)}` });
  }
}

function checkRole(role: JobRole): void {
  if (!JOB_ROLES.includes(role)) {
    throw new JournalInputError({ field: "role", problem: `expected one of ${JOB_ROLES.join(", ")}, got ${describe(role)}` });
  }
}

function encodeJobData(data: JobData): string {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new JournalInputError({ field: "data", problem: "expected a plain object" });
  }
  return encodeJson(data, "data");
}

function describe(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  return String(value);
}
