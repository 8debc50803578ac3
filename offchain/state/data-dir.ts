/**
 * Which chain and deployment a daemon's data dir belongs to. The journal's cursors and actions only
 * mean something on the chain that wrote them: opened against another chain or another deployment,
 * the poller would find its cursor's block missing and stop with "reorg deeper than the remembered
 * history". So the dir records its owner in `chain.json` (chain id, the market's address, the
 * genesis block's hash) the first time a daemon opens it, and each later start compares:
 *
 * - same chain, same market, same genesis: the dir is used as it is;
 * - another chain id or another market: refused with one line naming both and the fix (a new
 *   --data-dir, or remove this one): that is a dir meant for something else, and its pending
 *   actions must not be forgotten silently;
 * - same chain id and market, another genesis: the chain was reset (a restarted devnet redeploys
 *   at the same addresses on a fresh chain). Nothing in the old journal exists any more: it is moved
 *   aside (`journal.sqlite` -> `journal.<old genesis>.sqlite`) and a fresh one starts, with a warning.
 *
 * A dir from before `chain.json` existed is adopted as it is.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";

import { getAddress, type Address, type Hex } from "viem";

import { NonRetryableError } from "../errors.js";
import { silentLogger, type Logger } from "../log.js";

/** The chain and deployment a data dir belongs to. */
export type DataDirOwner = {
  chainId: number;
  /** The JobMarket's address: it names the deployment. */
  market: Address;
  /** Block 0's hash: it tells a reset chain (a restarted devnet) from the one the dir saw. */
  genesisHash: Hex;
};

/** The data dir was written against another chain or deployment. */
export class DataDirMismatchError extends NonRetryableError {
  override name = "DataDirMismatchError";
}

export const OWNER_FILE = "chain.json";
export const JOURNAL_FILE = "journal.sqlite";

export type ClaimDataDirParameters = {
  dir: string;
  owner: DataDirOwner;
  log?: Logger;
};

export type ClaimDataDirReturnType = {
  /** "new": first use; "same": as recorded; "reset": the chain was reset and the old journal moved aside to `movedTo`. */
  outcome: "new" | "same" | "reset";
  movedTo?: string;
};

/** Checks (or records) that `dir` belongs to `owner`; throws `DataDirMismatchError` when it belongs to another chain or deployment. */
export function claimDataDir({ dir, owner, log = silentLogger() }: ClaimDataDirParameters): ClaimDataDirReturnType {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, OWNER_FILE);
  const recorded = readOwner(file);
  const write = () => writeFileSync(file, `${JSON.stringify({ chainId: owner.chainId, market: getAddress(owner.market), genesisHash: owner.genesisHash }, null, 2)}\n`);
  if (!recorded) {
    write();
    return { outcome: "new" };
  }
  if (recorded.chainId !== owner.chainId || getAddress(recorded.market) !== getAddress(owner.market)) {
    throw new DataDirMismatchError(describeMismatch({ dir, recorded, owner }), {
      code: "DATA_DIR_MISMATCH",
      // Nested, so the CLI's one line stays the sentence (its --verbose shows them).
      details: { recorded: { dir, chainId: recorded.chainId, market: recorded.market }, found: { chainId: owner.chainId, market: owner.market } },
    });
  }
  if (recorded.genesisHash.toLowerCase() === owner.genesisHash.toLowerCase()) return { outcome: "same" };

  const movedTo = path.join(dir, `journal.${recorded.genesisHash.slice(2, 14)}.sqlite`);
  for (const suffix of ["", "-wal", "-shm"]) {
    const from = path.join(dir, JOURNAL_FILE + suffix);
    if (existsSync(from)) renameSync(from, movedTo + suffix);
  }
  write();
  log.warn({
    msg: "the chain was reset since this data dir was last used (a new genesis block at the same chain id and addresses): its journal describes blocks that no longer exist, so a fresh one starts",
    data_dir: dir,
    old_journal: movedTo,
    chain_id: owner.chainId,
    market: owner.market,
  });
  return { outcome: "reset", movedTo };
}

/** "this data dir (x) belongs to chain 1 deployment 0x..; this is chain 2 deployment 0x..: use a new --data-dir or remove it". */
export function describeMismatch({ dir, recorded, owner }: { dir: string; recorded: DataDirOwner; owner: DataDirOwner }): string {
  return (
    `this data dir (${dir}) belongs to chain ${recorded.chainId} deployment ${getAddress(recorded.market)}, ` +
    `not chain ${owner.chainId} deployment ${getAddress(owner.market)}: use a new --data-dir or remove it`
  );
}

function readOwner(file: string): DataDirOwner | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<DataDirOwner>;
    if (typeof parsed.chainId !== "number" || typeof parsed.market !== "string" || typeof parsed.genesisHash !== "string") throw new Error("missing field");
    return { chainId: parsed.chainId, market: getAddress(parsed.market), genesisHash: parsed.genesisHash as Hex };
  } catch (cause) {
    throw new DataDirMismatchError(`${file} is malformed: remove it (the data dir is then adopted by the chain the daemon runs on)`, {
      code: "DATA_DIR_OWNER_MALFORMED",
      details: { file },
      cause,
    });
  }
}
