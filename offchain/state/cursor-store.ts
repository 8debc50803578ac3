/**
 * The journal as the log poller's cursor store (`CursorStore` in offchain/chain/poller.ts): the
 * poller keeps its own list of recent range ends, oldest first; the journal stores exactly that
 * list. The types are restated here, not imported, so the state module does not depend on chain.
 */
import type { Hex } from "viem";

import type { BlockRef, Journal } from "./journal.js";

/** The poller's cursor: every log in blocks `<= block` was handled. */
export type PollerCursor = {
  block: bigint;
  hash: Hex;
  /** Recent range ends, oldest first, the last one equal to `{ block, hash }`. */
  recent: BlockRef[];
};

export type JournalCursorStore = {
  get(name: string): PollerCursor | undefined;
  set(name: string, cursor: PollerCursor): void;
};

/** A cursor store over `journal`'s cursors table. */
export function journalCursorStore(journal: Journal): JournalCursorStore {
  return {
    get(name) {
      const cursor = journal.getCursor(name);
      if (cursor === undefined) return undefined;
      return { block: cursor.blockNumber, hash: cursor.blockHash, recent: [...cursor.recent].reverse() };
    },
    set(name, { block, hash, recent }) {
      journal.setCursor({ name, blockNumber: block, blockHash: hash, recent });
    },
  };
}
