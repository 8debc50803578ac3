/**
 * The explorer's indexer: the project's reorg-safe log poller (offchain/chain/poller.ts) over every protocol
 * contract of a deployment, writing each delivered range into the explorer's SQLite file
 * (offchain/explorer/db.ts) with what the views need beside the events: each block's timestamp, each
 * transaction's receipt (`gasUsed`, for gas per job), Staking's `account()` of every account an event names
 * (read at that event's block: stake, locked collateral, unbonding) and the network's totals and current
 * sampling rate at each block with an event.
 *
 * Guarantees, from the poller's: a range is handed over in chain order and the cursor is saved after it
 * was written; a crash in between re-delivers it, and `ExplorerDb.writeRange` replaces the range as a
 * whole, so nothing is counted twice. On a reorg the poller names the newest block still on the chain and
 * every row above it is deleted before the new blocks are read. A restart resumes from the saved cursor.
 */
import { BaseError, ContractFunctionZeroDataError, type Abi, type Address, type Hex, type PublicClient } from "viem";

import { batchMarketAbi, jobMarketAbi, modelRegistryAbi, providerProfilesAbi, replicaMarketAbi, stakingAbi, verificationAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import { decodeCursor, encodeCursor, LogPoller, type Cursor, type CursorStore, type LogBatch, type PolledLog, type ReorgEvent } from "../chain/poller.js";
import { TermsReader } from "../chain/terms.js";
import { RetryableError } from "../errors.js";
import { silentLogger, type Logger } from "../log.js";
import type { AccountStateRow, BlockRow, ContractKey, EventRow, ExplorerDb, NetworkStateRow, TxRow } from "./db.js";
import { decodeEvent } from "../chain/events.js";

/** The poller's name in the cursors table. */
export const INDEXER_CURSOR = "explorer";

const ABIS: Record<ContractKey, Abi> = {
  market: jobMarketAbi,
  batchMarket: batchMarketAbi,
  verification: verificationAbi,
  staking: stakingAbi,
  replicaMarket: replicaMarketAbi,
  registry: modelRegistryAbi,
  profiles: providerProfilesAbi,
};

/** The argument names whose address is an account with stake worth a snapshot. */
const ACCOUNT_ARGS = ["provider", "account", "auditor", "voter", "challenger"] as const;

/** Parallel RPC reads per range (receipts, blocks, accounts). */
const READ_CONCURRENCY = 8;

export type IndexerChange = {
  /** `data`: rows the views read changed (a range written, a reorg undone); `cursor`: only the indexed block moved. */
  kind: "data" | "cursor";
  /** The indexed block after the change. */
  block: bigint;
};

export type ExplorerIndexerParameters = {
  publicClient: PublicClient;
  deployment: Deployment;
  db: ExplorerDb;
  /** First block read on a fresh file (the deployment's block on a long chain). */
  startBlock?: bigint;
  /** Blocks on top of a block before it is read (0: the head itself; a reorg is undone either way). */
  confirmations?: number;
  pollingIntervalMs?: number;
  maxBlocksPerQuery?: number;
  logger?: Logger;
  /** Told after each change (see `IndexerChange`). */
  onChange?: (change: IndexerChange) => void;
};

/** Decodes a log of one of `contracts` (lower-case address -> key); undefined for an event its ABI does not know. */
export function decodeProtocolLog(log: PolledLog, contracts: ReadonlyMap<string, ContractKey>): EventRow | undefined {
  const contract = contracts.get(log.address.toLowerCase());
  if (contract === undefined) return undefined;
  try {
    const decoded = decodeEvent({ abi: ABIS[contract], data: log.data, topics: log.topics });
    if (decoded.eventName === undefined) return undefined;
    return {
      blockNumber: log.blockNumber,
      logIndex: log.logIndex,
      blockHash: log.blockHash,
      txHash: log.transactionHash,
      contract,
      name: decoded.eventName,
      args: plain(decoded.args ?? {}) as Record<string, unknown>,
    };
  } catch {
    return undefined;
  }
}

/** viem's decoded arguments as plain JSON-able values (readonly arrays and tuples become arrays and objects). */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** The contracts of a deployment by lower-case address. */
export function protocolContracts(deployment: Deployment): Map<string, ContractKey> {
  const keys: ContractKey[] = ["market", "batchMarket", "verification", "staking", "replicaMarket", "registry", "profiles"];
  return new Map(keys.map((key) => [deployment[key].toLowerCase(), key]));
}

export class ExplorerIndexer {
  readonly poller: LogPoller;
  readonly #client: PublicClient;
  readonly #deployment: Deployment;
  readonly #db: ExplorerDb;
  readonly #contracts: Map<string, ContractKey>;
  readonly #terms: TermsReader;
  readonly #log: Logger;
  readonly #onChange: (change: IndexerChange) => void;

  constructor({
    publicClient,
    deployment,
    db,
    startBlock = 0n,
    confirmations = 1,
    pollingIntervalMs = 1_000,
    maxBlocksPerQuery = 1_000,
    logger = silentLogger(),
    onChange = () => undefined,
  }: ExplorerIndexerParameters) {
    this.#client = publicClient;
    this.#deployment = deployment;
    this.#db = db;
    this.#contracts = protocolContracts(deployment);
    this.#terms = new TermsReader({ client: publicClient, market: deployment.market });
    this.#log = logger;
    this.#onChange = onChange;
    const store: CursorStore = {
      get: (name) => {
        const text = db.getCursor(name);
        return text === undefined ? undefined : decodeCursor(text);
      },
      set: (name, cursor: Cursor) => {
        db.setCursor(name, encodeCursor(cursor));
        this.#onChange({ kind: "cursor", block: cursor.block });
      },
    };
    this.poller = new LogPoller({
      name: INDEXER_CURSOR,
      publicClient,
      store,
      address: [...this.#contracts.keys()] as Address[],
      startBlock,
      confirmations,
      maxBlocksPerQuery,
      pollingIntervalMs,
      logger,
      onLogs: (batch) => this.#write(batch),
      onReorg: (event) => this.#rewind(event),
    });
  }

  /** Polls until `signal` aborts (the poller's retries and backoff); rejects on a failure no retry mends. */
  run({ signal }: { signal: AbortSignal }): Promise<void> {
    return this.poller.run({ signal });
  }

  /** Polls until nothing is left to read up to the head (tests, and a one-shot catch-up). */
  async catchUp({ maxSteps = 10_000 }: { maxSteps?: number } = {}): Promise<{ block: bigint | undefined; reorgs: ReorgEvent[] }> {
    const reorgs: ReorgEvent[] = [];
    for (let step = 0; step < maxSteps; step++) {
      const result = await this.poller.poll();
      if (result.reorg) reorgs.push(result.reorg);
      if (result.caughtUp) return { block: result.cursor?.block, reorgs };
    }
    throw new RetryableError("indexer did not catch up", { code: "INDEXER_BEHIND", details: { maxSteps } });
  }

  /** The last block indexed (every event at or below it is in the file). */
  async indexedBlock(): Promise<bigint | undefined> {
    return (await this.poller.cursor())?.block;
  }

  async #rewind(event: ReorgEvent): Promise<void> {
    this.#db.rewind(event.to.number);
    this.#log.warn({ msg: "reorg: rows above the common ancestor deleted", from_block: event.from.number, to_block: event.to.number });
    this.#onChange({ kind: "data", block: event.to.number });
  }

  async #write({ logs, fromBlock, toBlock }: LogBatch): Promise<void> {
    const events = logs.map((log) => decodeProtocolLog(log, this.#contracts)).filter((e): e is EventRow => e !== undefined);
    const blockHashes = new Map<bigint, Hex>();
    for (const log of logs) blockHashes.set(log.blockNumber, log.blockHash);
    const blocks = await mapLimit([...blockHashes], READ_CONCURRENCY, ([number, hash]) => this.#block(number, hash, logs));
    const txHashes = [...new Set(events.map((e) => e.txHash))];
    const txs = await mapLimit(txHashes, READ_CONCURRENCY, (hash) => this.#receipt(hash, blockHashes));
    const touched = new Map<string, { address: Address; blockNumber: bigint }>();
    for (const e of events) {
      for (const name of ACCOUNT_ARGS) {
        const value = e.args[name];
        if (typeof value === "string" && /^0x[0-9a-fA-F]{40}$/.test(value)) touched.set(`${value.toLowerCase()}@${e.blockNumber}`, { address: value as Address, blockNumber: e.blockNumber });
      }
    }
    const accounts = await mapLimit([...touched.values()], READ_CONCURRENCY, (at) => this.#account(at));
    // At every block with an event (not once per range): the rows are then the same whatever ranges delivered them.
    const eventBlocks = [...new Set(events.map((e) => e.blockNumber))];
    const network = await mapLimit(eventBlocks, READ_CONCURRENCY, (block) => this.#network(block));
    this.#db.writeRange({ fromBlock, toBlock, blocks, events, txs, accounts, network });
    this.#log.debug({ msg: "range indexed", from_block: fromBlock, to_block: toBlock, events: events.length, txs: txs.length });
    this.#onChange({ kind: "data", block: toBlock });
  }

  async #block(number: bigint, hash: Hex, logs: readonly PolledLog[]): Promise<BlockRow> {
    // Nodes that follow the newer spec put the block's timestamp on each log: no block read then.
    const stamped = logs.find((l) => l.blockNumber === number && (l as { blockTimestamp?: unknown }).blockTimestamp !== undefined) as { blockTimestamp?: Hex | bigint } | undefined;
    if (stamped?.blockTimestamp !== undefined) return { number, hash, timestamp: Number(BigInt(stamped.blockTimestamp)) };
    const block = await this.#client.getBlock({ blockNumber: number });
    if (block.hash !== hash) throw chainMoved(number);
    return { number, hash, timestamp: Number(block.timestamp) };
  }

  async #receipt(hash: Hex, blockHashes: ReadonlyMap<bigint, Hex>): Promise<TxRow> {
    const receipt = await this.#client.getTransactionReceipt({ hash });
    if (blockHashes.get(receipt.blockNumber) !== receipt.blockHash) throw chainMoved(receipt.blockNumber);
    return { hash, blockNumber: receipt.blockNumber, sender: receipt.from, gasUsed: receipt.gasUsed, gasPrice: receipt.effectiveGasPrice ?? 0n };
  }

  async #account({ address, blockNumber }: { address: Address; blockNumber: bigint }): Promise<AccountStateRow> {
    const a = await this.#client.readContract({ address: this.#deployment.staking, abi: stakingAbi, functionName: "account", args: [address], blockNumber });
    return { address, blockNumber, stake: a.stake, locked: a.locked, unbonding: a.unbonding, roles: a.roles };
  }

  async #network(blockNumber: bigint): Promise<NetworkStateRow> {
    const read = <T>(address: Address, abi: Abi, functionName: string) =>
      this.#client.readContract({ address, abi, functionName, blockNumber } as Parameters<PublicClient["readContract"]>[0]) as Promise<T>;
    const [totalStaked, totalUnbonding, termsVersion] = await Promise.all([
      read<bigint>(this.#deployment.staking, stakingAbi, "totalStaked"),
      read<bigint>(this.#deployment.staking, stakingAbi, "totalUnbonding"),
      // Staking's first events come before the market exists (deployment order): no terms yet, version 0.
      read<number>(this.#deployment.market, jobMarketAbi, "termsVersion").catch((error: unknown) => {
        if (error instanceof BaseError && error.walk((e) => e instanceof ContractFunctionZeroDataError)) return 0;
        throw error;
      }),
    ]);
    const samplingPpm = Number(termsVersion) === 0 ? 0 : (await this.#terms.of(termsVersion)).market.samplingPpm;
    return { blockNumber, totalStaked, totalUnbonding, termsVersion: Number(termsVersion), samplingPpm };
  }
}

function chainMoved(block: bigint): RetryableError {
  return new RetryableError("chain changed while the range was read", { code: "CHAIN_MOVED", details: { block: block.toString() } });
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
