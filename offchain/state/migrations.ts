/**
 * The journal's schema, as numbered migrations. The file's `PRAGMA user_version` is the number
 * of the last migration applied; opening a file runs the ones after it, each in its own
 * transaction with the version bump, so a crash mid-migration leaves the previous version.
 * Append new migrations; never edit one that has shipped.
 */
import type { DatabaseSync } from "node:sqlite";

import { JournalSchemaError } from "./errors.js";

export type Migration = {
  /** 1, 2, 3...: the `user_version` after this migration. */
  version: number;
  description: string;
  sql: string;
};

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "cursors with recent block hashes, jobs, actions",
    sql: `
      CREATE TABLE cursors (
        name         TEXT PRIMARY KEY,
        block_number INTEGER NOT NULL CHECK (block_number >= 0),
        block_hash   TEXT NOT NULL,
        updated_at   INTEGER NOT NULL
      ) STRICT;

      -- The last few positions of each cursor, so a poller can find where a reorg forked.
      CREATE TABLE cursor_blocks (
        cursor       TEXT NOT NULL REFERENCES cursors (name) ON DELETE CASCADE,
        block_number INTEGER NOT NULL,
        block_hash   TEXT NOT NULL,
        PRIMARY KEY (cursor, block_number)
      ) STRICT, WITHOUT ROWID;

      -- job_id is the uint256 in decimal: it does not fit an SQLite integer.
      CREATE TABLE jobs (
        job_id     TEXT PRIMARY KEY,
        role       TEXT NOT NULL,
        status     TEXT NOT NULL,
        data       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX jobs_by_status ON jobs (status, updated_at);

      -- One row per (job, action), ever: the row is written before the transaction is sent.
      CREATE TABLE actions (
        id         INTEGER PRIMARY KEY,
        job_id     TEXT NOT NULL,
        action     TEXT NOT NULL,
        state      TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'confirmed', 'failed')),
        tx_hash    TEXT,
        nonce      INTEGER,
        error      TEXT,
        attempts   INTEGER NOT NULL DEFAULT 1,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (job_id, action)
      ) STRICT;
      CREATE INDEX actions_open ON actions (state) WHERE state IN ('pending', 'sent');
    `,
  },
];

export type MigrateParameters = {
  db: DatabaseSync;
  migrations?: readonly Migration[];
};

export type MigrateReturnType = { from: number; to: number };

/** Brings the database to the last migration's version; throws `JournalSchemaError` if it is newer. */
export function migrate({ db, migrations = MIGRATIONS }: MigrateParameters): MigrateReturnType {
  validateMigrations(migrations);
  const latest = migrations.at(-1)?.version ?? 0;
  const from = userVersion(db);
  if (from > latest) {
    throw new JournalSchemaError(`journal schema version ${from} is newer than this code supports (${latest})`, {
      details: { found: from, supported: latest },
    });
  }
  for (const migration of migrations) applyMigration(db, migration);
  return { from, to: userVersion(db) };
}

/** Applies one migration unless the file already has it (checked under the write lock, as another process may be migrating too). */
function applyMigration(db: DatabaseSync, migration: Migration): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    if (userVersion(db) < migration.version) {
      db.exec(migration.sql);
      db.exec(`PRAGMA user_version = ${migration.version}`);
    }
    db.exec("COMMIT");
  } catch (cause) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw new JournalSchemaError(`journal migration ${migration.version} (${migration.description}) failed`, {
      details: { version: migration.version },
      cause,
    });
  }
}

export function userVersion(db: DatabaseSync): number {
  return Number((db.prepare("PRAGMA user_version").get() as { user_version: number | bigint }).user_version);
}

function validateMigrations(migrations: readonly Migration[]): void {
  migrations.forEach((migration, i) => {
    if (migration.version !== i + 1) {
      throw new JournalSchemaError(`migrations must be numbered 1, 2, 3...: entry ${i} has version ${migration.version}`);
    }
  });
}
