/**
 * The explorer's SQLite file (`node:sqlite`): what the indexer (offchain/explorer/indexer.ts) read from the
 * chain, and nothing derived from it. The views (offchain/explorer/views.ts) fold these rows on read.
 *
 * - **events**: every decoded event of the protocol's contracts, keyed by its place `(block_number, log_index)`,
 *   with its block hash and transaction; arguments as JSON (bigints tagged, offchain/state/json.ts).
 * - **blocks**: number, hash and timestamp of each block that holds an event.
 * - **txs**: each transaction that emitted an event: sender, `gasUsed`, effective gas price (its receipt).
 * - **account_states**: Staking's `account(address)` read at the end of each indexed range that touched the
 *   account (stake, locked, unbonding): a history, keyed by `(address, block_number)`.
 * - **network_states**: `totalStaked`, `totalUnbonding` and the current terms version (its sampling rate) at
 *   each block with an event.
 * - **comparisons**: the audit comparisons worked out for the job page (offchain/explorer/comparison.ts).
 * - **cursors**: the log poller's cursor (offchain/chain/poller.ts, `encodeCursor`).
 *
 * Every chain row carries its block number, so a reorg is one delete above the common ancestor
 * (`rewind`), and an indexed range is written as a whole in one transaction that first deletes what the
 * range held (`writeRange`): a range delivered twice (a crash before the cursor was saved) is written twice
 * to the same result, never counted twice.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";

import type { Address, Hex } from "viem";

import { decodeJson, encodeJson } from "../state/json.js";
import { migrate, type Migration } from "../state/migrations.js";

export const EXPLORER_FILE = "explorer.sqlite";

export const EXPLORER_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "events, blocks, transactions, account and network states, comparisons, cursors",
    sql: `
      CREATE TABLE cursors (
        name   TEXT PRIMARY KEY,
        cursor TEXT NOT NULL
      ) STRICT;

      CREATE TABLE blocks (
        number    INTEGER PRIMARY KEY,
        hash      TEXT NOT NULL,
        timestamp INTEGER NOT NULL
      ) STRICT;

      -- job_id and the other ids are uint256 in decimal: they do not fit an SQLite integer.
      CREATE TABLE events (
        block_number INTEGER NOT NULL,
        log_index    INTEGER NOT NULL,
        block_hash   TEXT NOT NULL,
        tx_hash      TEXT NOT NULL,
        contract     TEXT NOT NULL,
        name         TEXT NOT NULL,
        args         TEXT NOT NULL CHECK (json_valid(args)),
        job_id       TEXT,
        account      TEXT,
        PRIMARY KEY (block_number, log_index)
      ) STRICT;
      CREATE INDEX events_by_job ON events (job_id) WHERE job_id IS NOT NULL;
      CREATE INDEX events_by_account ON events (account) WHERE account IS NOT NULL;

      CREATE TABLE txs (
        hash         TEXT PRIMARY KEY,
        block_number INTEGER NOT NULL,
        sender       TEXT NOT NULL,
        gas_used     INTEGER NOT NULL,
        gas_price    TEXT NOT NULL
      ) STRICT;
      CREATE INDEX txs_by_block ON txs (block_number);

      CREATE TABLE account_states (
        address      TEXT NOT NULL,
        block_number INTEGER NOT NULL,
        stake        TEXT NOT NULL,
        locked       TEXT NOT NULL,
        unbonding    TEXT NOT NULL,
        roles        INTEGER NOT NULL,
        PRIMARY KEY (address, block_number)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX account_states_by_block ON account_states (block_number);

      CREATE TABLE network_states (
        block_number    INTEGER PRIMARY KEY,
        total_staked    TEXT NOT NULL,
        total_unbonding TEXT NOT NULL,
        terms_version   INTEGER NOT NULL,
        sampling_ppm    INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE comparisons (
        job_id        TEXT NOT NULL,
        provider_root TEXT NOT NULL,
        auditor_root  TEXT NOT NULL,
        result        TEXT NOT NULL CHECK (json_valid(result)),
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (job_id, provider_root, auditor_root)
      ) STRICT;
    `,
  },
];

/** Which contract of the deployment an event came from (the `Deployment` field names). */
export type ContractKey = "market" | "batchMarket" | "verification" | "staking" | "replicaMarket" | "registry" | "profiles";

export type BlockRow = { number: bigint; hash: Hex; timestamp: number };

export type EventRow = {
  blockNumber: bigint;
  logIndex: number;
  blockHash: Hex;
  txHash: Hex;
  contract: ContractKey;
  name: string;
  args: Record<string, unknown>;
};

export type TxRow = { hash: Hex; blockNumber: bigint; sender: Address; gasUsed: bigint; gasPrice: bigint };

export type AccountStateRow = { address: Address; blockNumber: bigint; stake: bigint; locked: bigint; unbonding: bigint; roles: number };

export type NetworkStateRow = { blockNumber: bigint; totalStaked: bigint; totalUnbonding: bigint; termsVersion: number; samplingPpm: number };

/** Everything one indexed range `[fromBlock, toBlock]` holds. */
export type RangeRows = {
  fromBlock: bigint;
  toBlock: bigint;
  blocks: BlockRow[];
  events: EventRow[];
  txs: TxRow[];
  accounts: AccountStateRow[];
  network: NetworkStateRow[];
};

/** The rows the views read, in chain order. */
export type ExplorerRows = {
  blocks: BlockRow[];
  events: EventRow[];
  txs: TxRow[];
  accounts: AccountStateRow[];
  network: NetworkStateRow[];
};

export type OpenExplorerDbParameters = {
  /** The SQLite file (its directory is created); ":memory:" for a throwaway one. */
  path: string;
  busyTimeoutMs?: number;
};

/** The ids an event is about, for the indexes: its job, and the account it names first. */
function keysOf(args: Record<string, unknown>): { jobId: string | null; account: string | null } {
  const jobId = typeof args.jobId === "bigint" ? args.jobId.toString() : null;
  const who = args.provider ?? args.account ?? args.auditor ?? args.voter ?? args.challenger;
  return { jobId, account: typeof who === "string" ? who.toLowerCase() : null };
}

const TABLES_BY_BLOCK = [
  ["events", "block_number"],
  ["blocks", "number"],
  ["txs", "block_number"],
  ["account_states", "block_number"],
  ["network_states", "block_number"],
] as const;

export class ExplorerDb {
  readonly path: string;
  readonly #db: DatabaseSync;

  constructor({ path: file, busyTimeoutMs = 5_000 }: OpenExplorerDbParameters) {
    this.path = file === ":memory:" ? file : path.resolve(file);
    if (this.path !== ":memory:") mkdirSync(path.dirname(this.path), { recursive: true });
    this.#db = new DatabaseSync(this.path, { timeout: busyTimeoutMs });
    try {
      this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
      migrate({ db: this.#db, migrations: EXPLORER_MIGRATIONS });
    } catch (error) {
      this.#db.close();
      throw error;
    }
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  // ------------------------------------------------------------------ writes

  /** Replaces whatever `[fromBlock, toBlock]` held with `rows`, in one transaction. */
  writeRange(rows: RangeRows): void {
    this.#transaction(() => {
      for (const [table, column] of TABLES_BY_BLOCK) {
        this.#db.prepare(`DELETE FROM ${table} WHERE ${column} BETWEEN ? AND ?`).run(rows.fromBlock, rows.toBlock);
      }
      const block = this.#db.prepare("INSERT INTO blocks (number, hash, timestamp) VALUES (?, ?, ?)");
      for (const b of rows.blocks) block.run(b.number, b.hash, b.timestamp);
      const event = this.#db.prepare(
        "INSERT INTO events (block_number, log_index, block_hash, tx_hash, contract, name, args, job_id, account) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      );
      for (const e of rows.events) {
        const { jobId, account } = keysOf(e.args);
        event.run(e.blockNumber, e.logIndex, e.blockHash, e.txHash, e.contract, e.name, encodeJson(e.args, "args"), jobId, account);
      }
      const tx = this.#db.prepare("INSERT INTO txs (hash, block_number, sender, gas_used, gas_price) VALUES (?, ?, ?, ?, ?)");
      for (const t of rows.txs) tx.run(t.hash, t.blockNumber, t.sender, t.gasUsed, t.gasPrice.toString());
      const account = this.#db.prepare(
        "INSERT INTO account_states (address, block_number, stake, locked, unbonding, roles) VALUES (?, ?, ?, ?, ?, ?)",
      );
      for (const a of rows.accounts) account.run(a.address, a.blockNumber, a.stake.toString(), a.locked.toString(), a.unbonding.toString(), a.roles);
      const network = this.#db.prepare("INSERT INTO network_states (block_number, total_staked, total_unbonding, terms_version, sampling_ppm) VALUES (?, ?, ?, ?, ?)");
      for (const n of rows.network) network.run(n.blockNumber, n.totalStaked.toString(), n.totalUnbonding.toString(), n.termsVersion, n.samplingPpm);
    });
  }

  /** Deletes every row above `block` (a reorg's common ancestor). */
  rewind(block: bigint): void {
    this.#transaction(() => {
      for (const [table, column] of TABLES_BY_BLOCK) this.#db.prepare(`DELETE FROM ${table} WHERE ${column} > ?`).run(block);
    });
  }

  getCursor(name: string): string | undefined {
    const row = this.#db.prepare("SELECT cursor FROM cursors WHERE name = ?").get(name) as { cursor: string } | undefined;
    return row?.cursor;
  }

  setCursor(name: string, cursor: string): void {
    this.#db.prepare("INSERT INTO cursors (name, cursor) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor").run(name, cursor);
  }

  /** Forgets the cursor: the next start reads the chain again from the first block (and rewrites every range). */
  deleteCursor(name: string): void {
    this.#db.prepare("DELETE FROM cursors WHERE name = ?").run(name);
  }

  getComparison(key: { jobId: string; providerRoot: Hex; auditorRoot: Hex }): { result: unknown; updatedAt: number } | undefined {
    const row = this.#db
      .prepare("SELECT result, updated_at FROM comparisons WHERE job_id = ? AND provider_root = ? AND auditor_root = ?")
      .get(key.jobId, key.providerRoot.toLowerCase(), key.auditorRoot.toLowerCase()) as { result: string; updated_at: number | bigint } | undefined;
    return row && { result: decodeJson(row.result), updatedAt: Number(row.updated_at) };
  }

  putComparison(key: { jobId: string; providerRoot: Hex; auditorRoot: Hex }, result: unknown, now = Date.now()): void {
    this.#db
      .prepare(
        `INSERT INTO comparisons (job_id, provider_root, auditor_root, result, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (job_id, provider_root, auditor_root) DO UPDATE SET result = excluded.result, updated_at = excluded.updated_at`,
      )
      .run(key.jobId, key.providerRoot.toLowerCase(), key.auditorRoot.toLowerCase(), encodeJson(result, "result"), now);
  }

  // ------------------------------------------------------------------ reads

  /** Every row the views read, in chain order. */
  rows(): ExplorerRows {
    const blocks = (this.#db.prepare("SELECT number, hash, timestamp FROM blocks ORDER BY number").all() as { number: number | bigint; hash: string; timestamp: number | bigint }[]).map(
      (r) => ({ number: BigInt(r.number), hash: r.hash as Hex, timestamp: Number(r.timestamp) }),
    );
    const events = (
      this.#db.prepare("SELECT block_number, log_index, block_hash, tx_hash, contract, name, args FROM events ORDER BY block_number, log_index").all() as {
        block_number: number | bigint;
        log_index: number | bigint;
        block_hash: string;
        tx_hash: string;
        contract: string;
        name: string;
        args: string;
      }[]
    ).map((r) => ({
      blockNumber: BigInt(r.block_number),
      logIndex: Number(r.log_index),
      blockHash: r.block_hash as Hex,
      txHash: r.tx_hash as Hex,
      contract: r.contract as ContractKey,
      name: r.name,
      args: decodeJson<Record<string, unknown>>(r.args),
    }));
    const txs = (this.#db.prepare("SELECT hash, block_number, sender, gas_used, gas_price FROM txs ORDER BY block_number").all() as {
      hash: string;
      block_number: number | bigint;
      sender: string;
      gas_used: number | bigint;
      gas_price: string;
    }[]).map((r) => ({ hash: r.hash as Hex, blockNumber: BigInt(r.block_number), sender: r.sender as Address, gasUsed: BigInt(r.gas_used), gasPrice: BigInt(r.gas_price) }));
    const accounts = (this.#db.prepare("SELECT address, block_number, stake, locked, unbonding, roles FROM account_states ORDER BY block_number").all() as {
      address: string;
      block_number: number | bigint;
      stake: string;
      locked: string;
      unbonding: string;
      roles: number | bigint;
    }[]).map((r) => ({
      address: r.address as Address,
      blockNumber: BigInt(r.block_number),
      stake: BigInt(r.stake),
      locked: BigInt(r.locked),
      unbonding: BigInt(r.unbonding),
      roles: Number(r.roles),
    }));
    const network = (this.#db.prepare("SELECT block_number, total_staked, total_unbonding, terms_version, sampling_ppm FROM network_states ORDER BY block_number").all() as {
      block_number: number | bigint;
      total_staked: string;
      total_unbonding: string;
      terms_version: number | bigint;
      sampling_ppm: number | bigint;
    }[]).map((r) => ({
      blockNumber: BigInt(r.block_number),
      totalStaked: BigInt(r.total_staked),
      totalUnbonding: BigInt(r.total_unbonding),
      termsVersion: Number(r.terms_version),
      samplingPpm: Number(r.sampling_ppm),
    }));
    return { blocks, events, txs, accounts, network };
  }

  /** Rows per table (tests, and the status line). */
  counts(): Record<"events" | "blocks" | "txs" | "account_states" | "network_states", number> {
    const count = (table: string) => Number((this.#db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number | bigint }).n);
    return { events: count("events"), blocks: count("blocks"), txs: count("txs"), account_states: count("account_states"), network_states: count("network_states") };
  }

  #transaction(run: () => void): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      run();
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }
}
