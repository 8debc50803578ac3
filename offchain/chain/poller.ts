/**
 * A reorg-safe log poller over `eth_getLogs` block ranges (no `eth_newFilter`: filters vanish when a
 * node restarts or a load balancer switches nodes).
 *
 * Delivery is at least once: a batch's logs go to the handler in chain order, and the cursor (the
 * last block fully handled, its hash, and the hashes of recent range ends) is persisted only after
 * the handler succeeded. A crash between the two redelivers that batch, so handlers must be
 * idempotent. Only blocks with `confirmations` blocks on top are read. Before each step the cursor's
 * hash is compared with the chain; when it changed, the poller walks back through the recent hashes
 * to the newest block still on the chain, reports the reorg, and reads again from there.
 *
 * A head below the cursor is most often a node behind the one read before (a load balancer's other node, one
 * still syncing), not a reorg. While the chain at the head still holds the newest block the history remembers at
 * or below it, the step delivers nothing and rewinds nothing (a daemon ignores a tick at a head below its last):
 * rewinding there would redeliver what was handled. A real reorg to a shorter chain is seen when the chain grows
 * back to the cursor's height (its block there is another), or at once when that remembered block is gone. A head
 * below the whole history is checked as before (`ReorgTooDeepError`): a chain reset shows so at once.
 *
 * Known window: a reorg deeper than `confirmations` that happens between this step's RPC calls is
 * caught only for the boundary the step checks (the parent of the range's first block); such a
 * reorg inside a multi-block catch-up range is not seen until the next range end changes.
 */
import { z } from "zod";
import { BlockNotFoundError, type AbiEvent, type Address, type Hex, type Log, type PublicClient } from "viem";

import { DinferError, NonRetryableError, RetryableError } from "../errors.js";
import { silentLogger, type Logger } from "../log.js";
import { backoffDelay, ChainTransportError, classifyChainError, errorChain, sleep } from "./errors.js";
import { OutageLog } from "./outage.js";

/** A block by number and hash. */
export type BlockRef = { number: bigint; hash: Hex };

/** Where a poller stands: every log in blocks `<= block` was handled. */
export type Cursor = {
  block: bigint;
  hash: Hex;
  /** Recent range ends, oldest first, the last one equal to `{ block, hash }`: the reorg search list. */
  recent: BlockRef[];
};

type MaybePromise<T> = T | Promise<T>;

/** Persists cursors by poller name. The state module implements it on SQLite; tests use `MemoryCursorStore`. */
export interface CursorStore {
  get(name: string): MaybePromise<Cursor | undefined>;
  set(name: string, cursor: Cursor): MaybePromise<void>;
}

function copyCursor(cursor: Cursor): Cursor {
  return { block: cursor.block, hash: cursor.hash, recent: cursor.recent.map((r) => ({ ...r })) };
}

/** Cursors in a Map, copied in and out so callers can't alias the stored state. */
export class MemoryCursorStore implements CursorStore {
  readonly #cursors = new Map<string, Cursor>();
  get(name: string): Cursor | undefined {
    const cursor = this.#cursors.get(name);
    return cursor && copyCursor(cursor);
  }
  set(name: string, cursor: Cursor): void {
    this.#cursors.set(name, copyCursor(cursor));
  }
}

const hexSchema = z.string().regex(/^0x[0-9a-fA-F]{64}$/) as unknown as z.ZodType<Hex>;
const cursorJsonSchema = z.object({
  block: z.string().regex(/^\d+$/),
  hash: hexSchema,
  recent: z.array(z.tuple([z.string().regex(/^\d+$/), hexSchema])),
});

/** A cursor as JSON text (block numbers as decimal strings), for stores that keep one text column. */
export function encodeCursor(cursor: Cursor): string {
  return JSON.stringify({
    block: cursor.block.toString(),
    hash: cursor.hash,
    recent: cursor.recent.map((r) => [r.number.toString(), r.hash]),
  });
}

/** Parses `encodeCursor`'s output; throws a NonRetryableError naming the bad field. */
export function decodeCursor(text: string): Cursor {
  let parsed: z.infer<typeof cursorJsonSchema>;
  try {
    parsed = cursorJsonSchema.parse(JSON.parse(text));
  } catch (cause) {
    throw new NonRetryableError("stored cursor is malformed", { code: "CURSOR_MALFORMED", cause });
  }
  return {
    block: BigInt(parsed.block),
    hash: parsed.hash,
    recent: parsed.recent.map(([number, hash]) => ({ number: BigInt(number), hash })),
  };
}

/** A log as delivered: always mined (numbers and hashes set); decoded `eventName`/`args` when `events` was given. */
export type PolledLog = Log<bigint, number, false> & { eventName?: string; args?: unknown };

export type LogBatch = {
  /** In chain order: by block, then log index. */
  logs: PolledLog[];
  fromBlock: bigint;
  toBlock: bigint;
};

export type ReorgEvent = {
  /** Blocks un-handled: `from.number - to.number`. An upper bound on the real depth (ranges are the unit). */
  depth: bigint;
  /** The cursor before the rewind (no longer on the chain). */
  from: BlockRef;
  /** The newest handled block still on the chain; delivery resumes after it. */
  to: BlockRef;
};

/** The chain replaced more blocks than the poller remembers: it cannot tell what to redeliver. */
export class ReorgTooDeepError extends NonRetryableError {
  override name = "ReorgTooDeepError";
}

export type LogPollerParameters = {
  /** The cursor's key in the store, e.g. "market". One poller per name. */
  name: string;
  publicClient: PublicClient;
  store: CursorStore;
  /** Contract address(es) to read logs from. */
  address?: Address | Address[];
  /** Only these events (and decode them); all events when left out. */
  events?: readonly AbiEvent[];
  /** First block to read when no cursor is stored (the deployment block). */
  startBlock?: bigint;
  /** Blocks that must be on top of a block before it is read. */
  confirmations?: number;
  /** Largest `eth_getLogs` range, in blocks; halved while the node says a range is too big. */
  maxBlocksPerQuery?: number;
  /** Range ends remembered for the reorg search. */
  historyLength?: number;
  /** Wait between polls once caught up. */
  pollingIntervalMs?: number;
  /** Wait cap between retries after a failure (backoff doubles up to it). */
  maxRetryDelayMs?: number;
  /** Receives each non-empty batch; the cursor moves past it only when this resolves. Must be idempotent. */
  onLogs: (batch: LogBatch) => Promise<void>;
  /** Told before the cursor rewinds; a throw keeps the old cursor and the reorg is reported again. */
  onReorg?: (event: ReorgEvent) => MaybePromise<void>;
  logger?: Logger;
};

export type PollReturnType = {
  /** Nothing left to read up to `head - confirmations`. */
  caughtUp: boolean;
  /** Logs handed to `onLogs` in this step. */
  delivered: number;
  reorg?: ReorgEvent;
  cursor: Cursor | undefined;
  head: bigint;
};

export type RunParameters = { signal: AbortSignal };

/** The chain head as a caller read it (`eth_getBlockByNumber("latest")`): a poll at this head needs no head read of its own. */
export type HeadBlock = BlockRef & { parentHash: Hex };

export type PollParameters = {
  /**
   * The head to read up to, read by the caller (a daemon reading one head per tick for all its
   * work); the poll then asks for no head, and for no block it already has (the head's own hash and
   * parent). Read with `eth_blockNumber` when left out.
   */
  head?: HeadBlock;
};

/** The next range to read, or undefined when caught up. Pure. */
export function nextRange({
  cursorBlock,
  startBlock,
  safeBlock,
  span,
}: {
  cursorBlock: bigint | undefined;
  startBlock: bigint;
  safeBlock: bigint;
  span: number;
}): { fromBlock: bigint; toBlock: bigint } | undefined {
  const fromBlock = cursorBlock === undefined ? startBlock : cursorBlock + 1n;
  if (fromBlock > safeBlock) return undefined;
  const last = fromBlock + BigInt(Math.max(1, span)) - 1n;
  return { fromBlock, toBlock: last < safeBlock ? last : safeBlock };
}

/** Chain order: block number, then log index. Pure. */
export function compareLogs(a: PolledLog, b: PolledLog): number {
  if (a.blockNumber !== b.blockNumber) return a.blockNumber < b.blockNumber ? -1 : 1;
  return a.logIndex - b.logIndex;
}

/** The cursor after handling a range ending at `end`, with the history trimmed. Pure. */
export function advanceCursor({ cursor, end, historyLength }: { cursor: Cursor | undefined; end: BlockRef & { parentHash?: Hex }; historyLength: number }): Cursor {
  const previous = cursor?.recent ?? [];
  // The range end's parent too, when the history does not hold it: a block replaced at the end's height (a
  // one-block fork) then rewinds to it, even on a fresh start whose first range reached the head.
  const last = previous.at(-1)?.number;
  const parent = end.parentHash !== undefined && end.number > 0n && (last === undefined || last < end.number - 1n) ? [{ number: end.number - 1n, hash: end.parentHash }] : [];
  const recent = [...previous, ...parent, { number: end.number, hash: end.hash }].slice(-Math.max(1, historyLength));
  return { block: end.number, hash: end.hash, recent };
}

function isRangeTooLarge(error: unknown): boolean {
  const text = errorChain(error)
    .map((e) => String((e as { details?: unknown }).details ?? "") + " " + String((e as { message?: unknown }).message ?? ""))
    .join(" ")
    .toLowerCase();
  const code = errorChain(error).some((e) => (e as { code?: unknown }).code === -32005);
  return code || /query returned more than|block range|range too (large|wide)|too many (results|logs|blocks)|response size|limit exceeded/.test(text);
}

/** Polls one filter's logs into a handler; see the module comment for the guarantees. */
export class LogPoller {
  readonly name: string;
  readonly #client: PublicClient;
  readonly #store: CursorStore;
  readonly #address: Address | Address[] | undefined;
  readonly #events: readonly AbiEvent[] | undefined;
  readonly #startBlock: bigint;
  readonly #confirmations: bigint;
  readonly #maxSpan: number;
  readonly #historyLength: number;
  readonly #pollingIntervalMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #onLogs: LogPollerParameters["onLogs"];
  readonly #onReorg: LogPollerParameters["onReorg"];
  readonly #log: Logger;
  #span: number;
  #cursor: Cursor | undefined;
  #loaded = false;
  /** The head given to the poll in progress: its block is not read again. */
  #head: HeadBlock | undefined;

  constructor({
    name,
    publicClient,
    store,
    address,
    events,
    startBlock = 0n,
    confirmations = 2,
    maxBlocksPerQuery = 1_000,
    historyLength = 128,
    pollingIntervalMs = 1_000,
    maxRetryDelayMs = 10_000,
    onLogs,
    onReorg,
    logger = silentLogger(),
  }: LogPollerParameters) {
    if (confirmations < 0 || !Number.isInteger(confirmations)) {
      throw new NonRetryableError("confirmations must be a non-negative integer", { code: "CONFIG", details: { confirmations } });
    }
    if (maxBlocksPerQuery < 1) {
      throw new NonRetryableError("maxBlocksPerQuery must be at least 1", { code: "CONFIG", details: { maxBlocksPerQuery } });
    }
    this.name = name;
    this.#client = publicClient;
    this.#store = store;
    this.#address = address;
    this.#events = events;
    this.#startBlock = startBlock;
    this.#confirmations = BigInt(confirmations);
    this.#maxSpan = maxBlocksPerQuery;
    this.#span = maxBlocksPerQuery;
    this.#historyLength = historyLength;
    this.#pollingIntervalMs = pollingIntervalMs;
    this.#maxRetryDelayMs = maxRetryDelayMs;
    this.#onLogs = onLogs;
    this.#onReorg = onReorg;
    this.#log = logger;
  }

  /** The cursor as last persisted (loaded from the store on first use). */
  async cursor(): Promise<Cursor | undefined> {
    if (!this.#loaded) {
      const stored = await this.#guard("CURSOR_STORE", {}, () => this.#store.get(this.name));
      this.#cursor = stored && copyCursor(stored);
      this.#loaded = true;
    }
    return this.#cursor && copyCursor(this.#cursor);
  }

  /**
   * One step: checks the cursor against the chain (rewinding on a reorg), then reads and delivers
   * at most one range. Throws project errors: retryable ones (RPC down, handler failed, chain moved
   * mid-step) leave the cursor where it was.
   */
  async poll({ head: given }: PollParameters = {}): Promise<PollReturnType> {
    this.#head = given;
    try {
      return await this.#poll();
    } finally {
      this.#head = undefined;
    }
  }

  async #poll(): Promise<PollReturnType> {
    let cursor = await this.cursor();
    const head = this.#head?.number ?? (await this.#rpc("eth_blockNumber", () => this.#client.getBlockNumber({ cacheTime: 0 })));
    const safeBlock = head - this.#confirmations;
    let reorg: ReorgEvent | undefined;
    // The block after the cursor, when it is to be read now and its parent is the cursor's block:
    // then the cursor's block is still on the chain, and the reorg lookup (a request) is not needed.
    let following: { number: bigint; hash: Hex; parentHash: Hex } | undefined;
    if (cursor && head < cursor.block && (await this.#nodeBehind(cursor, head))) {
      this.#log.debug({ msg: "node behind the handled blocks, waiting", poller: this.name, head, cursor: cursor.block });
      return { caughtUp: true, delivered: 0, cursor, head };
    }
    if (cursor) {
      if (cursor.block + 1n <= safeBlock) {
        const candidate = await this.#blockRef(cursor.block + 1n);
        if (candidate.parentHash === cursor.hash) following = candidate;
      }
      if (following === undefined) {
        reorg = await this.#checkReorg(cursor, head);
        if (reorg) cursor = await this.cursor();
      }
    }
    const range = nextRange({ cursorBlock: cursor?.block, startBlock: this.#startBlock, safeBlock, span: this.#span });
    if (!range) return { caughtUp: true, delivered: 0, reorg, cursor, head };

    const { fromBlock, toBlock } = range;
    const end = following?.number === toBlock ? following : await this.#blockRef(toBlock);
    if (cursor && toBlock !== fromBlock) {
      // The range must start on the cursor's chain; for one-block ranges `end` itself is checked below.
      const first = following?.number === fromBlock ? following : await this.#blockRef(fromBlock);
      if (first.parentHash !== cursor.hash) throw this.#chainMoved({ fromBlock, cursor });
    }
    if (cursor && toBlock === fromBlock && end.parentHash !== cursor.hash) throw this.#chainMoved({ fromBlock, cursor });

    const logs = await this.#getLogs(fromBlock, toBlock);
    for (const log of logs) {
      if (log.blockNumber === toBlock && log.blockHash !== end.hash) throw this.#chainMoved({ fromBlock, cursor });
    }
    const where = { fromBlock: fromBlock.toString(), toBlock: toBlock.toString() };
    if (logs.length > 0) await this.#guard("LOG_HANDLER", where, () => this.#onLogs({ logs, fromBlock, toBlock }));
    const next = advanceCursor({ cursor, end, historyLength: this.#historyLength });
    await this.#guard("CURSOR_STORE", where, () => this.#store.set(this.name, next));
    this.#cursor = next;
    this.#span = Math.min(this.#maxSpan, this.#span * 2);
    this.#log.debug({ msg: "logs delivered", poller: this.name, from_block: fromBlock, to_block: toBlock, logs: logs.length });
    return { caughtUp: toBlock === safeBlock, delivered: logs.length, reorg, cursor: copyCursor(next), head };
  }

  /**
   * Polls until `signal` aborts, then resolves (after the step in progress, so the cursor is
   * consistent). Retryable failures back off and try again; a non-retryable one rejects.
   */
  async run({ signal }: RunParameters): Promise<void> {
    let failures = 0;
    // The first failure is a WARN line, later ones exponentially spaced, and the recovery one INFO line.
    const outage = new OutageLog({ log: this.#log, what: "poll", fields: { poller: this.name } });
    this.#log.info({ msg: "poller started", poller: this.name, cursor: this.#cursor?.block });
    while (!signal.aborted) {
      try {
        const { caughtUp } = await this.poll();
        failures = 0;
        outage.ok();
        if (caughtUp) await sleep(this.#pollingIntervalMs, signal);
      } catch (error) {
        if (signal.aborted) break;
        if (!(error instanceof RetryableError)) {
          this.#log.error({ msg: "poller failed", poller: this.name, err: error });
          throw error;
        }
        const delayMs = backoffDelay({ attempt: failures++, baseDelayMs: 250, maxDelayMs: this.#maxRetryDelayMs });
        outage.failed(error, { delay_ms: delayMs });
        try {
          await sleep(delayMs, signal);
        } catch {
          break;
        }
      }
    }
    this.#log.info({ msg: "poller stopped", poller: this.name, cursor: this.#cursor?.block });
  }

  /**
   * With the head below the cursor: whether the chain at the head still holds the newest block the history
   * remembers at or below it, so the node may just be behind (see the module comment).
   */
  async #nodeBehind(cursor: Cursor, head: bigint): Promise<boolean> {
    const known = cursor.recent.filter((r) => r.number <= head).at(-1);
    return known !== undefined && (await this.#blockRef(known.number)).hash === known.hash;
  }

  async #checkReorg(cursor: Cursor, head: bigint): Promise<ReorgEvent | undefined> {
    if (cursor.block <= head && (await this.#blockRef(cursor.block)).hash === cursor.hash) return undefined;
    // Newest first: shallow reorgs (the usual kind) stop after one or two lookups.
    const candidates = cursor.recent.filter((r) => r.number < cursor.block).reverse();
    for (const candidate of candidates) {
      if (candidate.number > head) continue;
      if ((await this.#blockRef(candidate.number)).hash !== candidate.hash) continue;
      const event: ReorgEvent = {
        depth: cursor.block - candidate.number,
        from: { number: cursor.block, hash: cursor.hash },
        to: { ...candidate },
      };
      this.#log.warn({
        msg: "reorg detected, rewinding",
        poller: this.name,
        depth: event.depth,
        from_block: event.from.number,
        to_block: event.to.number,
      });
      const details = { fromBlock: event.from.number.toString(), toBlock: event.to.number.toString() };
      await this.#guard("REORG_HANDLER", details, async () => this.#onReorg?.(event));
      const rewound: Cursor = {
        block: candidate.number,
        hash: candidate.hash,
        recent: cursor.recent.filter((r) => r.number <= candidate.number),
      };
      await this.#guard("CURSOR_STORE", details, () => this.#store.set(this.name, rewound));
      this.#cursor = rewound;
      return event;
    }
    throw new ReorgTooDeepError(
      "the chain no longer has the blocks this data dir's journal handled (a reorg deeper than the remembered history, a reset chain, or an RPC node far behind): check that the node is synced, then use a new --data-dir or remove this one",
      {
        code: "REORG_TOO_DEEP",
        details: { poller: this.name, cursor: cursor.block.toString(), oldest: cursor.recent[0]?.number.toString() },
      },
    );
  }

  async #block(number: bigint): Promise<{ hash: Hex; parentHash: Hex }> {
    if (this.#head !== undefined && this.#head.number === number) return this.#head;
    try {
      return await this.#client.getBlock({ blockNumber: number });
    } catch (error) {
      // A block that was there a moment ago (below the head we read) vanished: the chain moved.
      if (errorChain(error).some((e) => e instanceof BlockNotFoundError)) {
        throw new ChainTransportError("block not found", { code: "CHAIN_MOVED", details: { poller: this.name, block: number.toString() }, cause: error });
      }
      throw classifyChainError({ error, details: { poller: this.name, method: "eth_getBlockByNumber" } });
    }
  }

  async #blockRef(number: bigint): Promise<BlockRef & { parentHash: Hex }> {
    const block = await this.#block(number);
    return { number, hash: block.hash, parentHash: block.parentHash };
  }

  async #getLogs(fromBlock: bigint, toBlock: bigint): Promise<PolledLog[]> {
    try {
      const logs = (await this.#client.getLogs({
        address: this.#address,
        events: this.#events,
        fromBlock,
        toBlock,
        strict: false,
      } as Parameters<PublicClient["getLogs"]>[0])) as unknown as PolledLog[];
      return logs.filter((l) => !l.removed).sort(compareLogs);
    } catch (error) {
      if (this.#span > 1 && isRangeTooLarge(error)) {
        this.#span = Math.max(1, Math.floor(this.#span / 2));
        this.#log.warn({ msg: "log range too large, halving", poller: this.name, span: this.#span });
        throw new RetryableError("log range too large", {
          code: "LOG_RANGE",
          details: { poller: this.name, fromBlock: fromBlock.toString(), toBlock: toBlock.toString(), span: this.#span },
          cause: error,
        });
      }
      throw classifyChainError({ error, details: { poller: this.name, method: "eth_getLogs" } });
    }
  }

  #chainMoved({ fromBlock, cursor }: { fromBlock: bigint; cursor: Cursor | undefined }): ChainTransportError {
    return new ChainTransportError("chain changed during the poll", {
      code: "CHAIN_MOVED",
      details: { poller: this.name, fromBlock: fromBlock.toString(), cursor: cursor?.block.toString() },
    });
  }

  /**
   * Runs a callback of the application (handler, store): its project errors pass through as they
   * are; anything else (a busy database, a bug) becomes retryable, so the poller tries again.
   */
  async #guard<T>(code: string, details: Record<string, unknown>, run: () => MaybePromise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof DinferError) throw error;
      const what = { LOG_HANDLER: "log handler failed", REORG_HANDLER: "reorg handler failed" }[code] ?? "cursor store failed";
      throw new RetryableError(what, { code, details: { poller: this.name, ...details }, cause: error });
    }
  }

  async #rpc<T>(method: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw classifyChainError({ error, details: { poller: this.name, method } });
    }
  }
}
