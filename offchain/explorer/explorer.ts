/**
 * `startExplorer`: the indexer following the chain into the data dir's SQLite file, and the page and JSON API
 * over it (`dinfer explorer`, the demo and `dinfer devnet` start it here).
 *
 *   const explorer = await startExplorer({ rpcUrl, deployment, dataDir, port: 8780 });
 *   console.log(`explorer at ${explorer.url}`);
 *   ...
 *   await explorer.stop();
 *
 * The data dir belongs to one chain and deployment (offchain/state/data-dir.ts, `chain.json`): another
 * deployment's dir is refused; a reset chain (a restarted devnet: new genesis, same addresses) starts a fresh
 * file, as nothing the old one holds exists any more.
 */
import { rmSync } from "node:fs";
import path from "node:path";

import type { Hex } from "viem";

import { createChainClients } from "../chain/clients.js";
import type { Deployment } from "../chain/deployment.js";
import { decodeCursor } from "../chain/poller.js";
import { silentLogger, type Logger } from "../log.js";
import { claimDataDir } from "../state/data-dir.js";
import { AuditComparisons } from "./comparison.js";
import { EXPLORER_FILE, ExplorerDb } from "./db.js";
import { ExplorerIndexer, INDEXER_CURSOR, type IndexerChange } from "./indexer.js";
import { startExplorerServer, type ExplorerSource } from "./server.js";
import { foldExplorer, type ExplorerState } from "./state.js";
import { disputesView, jobsView, jobView, modelsView, networkView, providersView, providerView } from "./views.js";

export const DEFAULT_EXPLORER_PORT = 8780;

export type StartExplorerParameters = {
  rpcUrl: string;
  deployment: Deployment;
  /** Where the explorer's SQLite file lives (one per chain and deployment). */
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  logger?: Logger;
  /** Blocks on top of a block before it is indexed. */
  confirmations?: number;
  /** First block indexed on a fresh data dir (the deployment's block on a long chain). */
  startBlock?: bigint;
  pollingIntervalMs?: number;
  /**
   * Let the audit comparison fetch outputs from hosts on loopback, private and link-local addresses
   * (offchain/explorer/locations.ts). Off by default: the locations are whatever providers reveal, and a
   * public explorer must not be made to request its own network. On for a devnet, whose workers serve on
   * 127.0.0.1.
   */
  allowPrivateHosts?: boolean;
};

export type Explorer = {
  /** The page, e.g. "http://127.0.0.1:8780"; the API is under `${url}/api/`. */
  url: string;
  port: number;
  /** The indexer (tests drive it). */
  indexer: ExplorerIndexer;
  db: ExplorerDb;
  /** The current state (folded again when the indexed rows changed). */
  state(): ExplorerState;
  /** Stops the indexer after its current step, closes the server and the file; safe to call twice. */
  stop(): Promise<void>;
};

export async function startExplorer({
  rpcUrl,
  deployment,
  dataDir,
  port = DEFAULT_EXPLORER_PORT,
  host = "127.0.0.1",
  logger = silentLogger(),
  confirmations = 1,
  startBlock = 0n,
  pollingIntervalMs = 1_000,
  allowPrivateHosts = false,
}: StartExplorerParameters): Promise<Explorer> {
  const { publicClient, chain } = await createChainClients({ rpcUrl });
  const genesis = await publicClient.getBlock({ blockNumber: 0n });
  const claim = claimDataDir({ dir: dataDir, owner: { chainId: chain.id, market: deployment.market, genesisHash: genesis.hash as Hex }, log: logger });
  const file = path.join(dataDir, EXPLORER_FILE);
  if (claim.outcome === "reset") for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
  const db = new ExplorerDb({ path: file });

  const stored = db.getCursor(INDEXER_CURSOR);
  const source = explorerSource({ db, chainId: chain.id, logger, allowPrivateHosts, block: stored === undefined ? undefined : decodeCursor(stored).block });
  const indexer = new ExplorerIndexer({ publicClient, deployment, db, startBlock, confirmations, pollingIntervalMs, logger, onChange: source.changed });

  let server: Awaited<ReturnType<typeof startExplorerServer>>;
  try {
    server = await startExplorerServer({ source, host, port, logger });
  } catch (error) {
    db.close();
    throw error;
  }
  const controller = new AbortController();
  const running = indexer.run({ signal: controller.signal }).catch((error: unknown) => {
    logger.error({ msg: "explorer indexer stopped", err: error });
    source.failed(error);
  });
  logger.info({ msg: "explorer started", url: server.url, data_dir: dataDir, chain_id: chain.id, from_block: source.position().block ?? startBlock, allow_private_hosts: allowPrivateHosts });

  let stopping: Promise<void> | undefined;
  return {
    url: server.url,
    port: server.port,
    indexer,
    db,
    state: source.state,
    stop() {
      stopping ??= (async () => {
        controller.abort();
        await running;
        await server.close();
        await source.comparisons.settled();
        db.close();
      })();
      return stopping;
    },
  };
}

export type ExplorerSourceParameters = {
  db: ExplorerDb;
  chainId: number;
  /** The indexed block at start (the stored cursor's). */
  block?: bigint;
  logger?: Logger;
  /** See `StartExplorerParameters.allowPrivateHosts`; off by default. */
  allowPrivateHosts?: boolean;
};

export type ExplorerSourceReturnType = ExplorerSource & {
  /** The indexer's `onChange`. */
  changed(change: IndexerChange): void;
  /** The indexer stopped for good: the network view says why. */
  failed(error: unknown): void;
  state(): ExplorerState;
  comparisons: AuditComparisons;
};

/**
 * The views over an explorer file, as the server asks for them: the state is folded again only when the
 * indexed rows changed (`changed` with kind "data", or a finished audit comparison), and every change is
 * told to the subscribers (the page's event streams).
 */
export function explorerSource({ db, chainId, block: startBlock, logger = silentLogger(), allowPrivateHosts = false }: ExplorerSourceParameters): ExplorerSourceReturnType {
  let version = 0;
  let block = startBlock;
  let indexerError: string | undefined;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  let folded: { version: number; state: ExplorerState } | undefined;
  const state = () => {
    if (folded?.version !== version) folded = { version, state: foldExplorer(db.rows()) };
    return folded.state;
  };
  const comparisons = new AuditComparisons({
    db,
    logger,
    allowPrivateHosts,
    onDone: () => {
      version++;
      notify();
    },
  });
  return {
    state,
    comparisons,
    changed(change) {
      if (change.kind === "data") version++;
      block = change.block;
      notify();
    },
    failed(error) {
      indexerError = error instanceof Error ? error.message : String(error);
      notify();
    },
    network: () => networkView(state(), { chainId, indexedBlock: block, indexerError }),
    providers: () => providersView(state()),
    provider: (address) => providerView(state(), address),
    jobs: (query) => jobsView(state(), query),
    job: (jobId) => {
      const s = state();
      const job = s.jobs.get(jobId);
      if (!job) return undefined;
      const comparison = comparisons.of(job, job.modelId === undefined ? undefined : s.models.get(job.modelId));
      return jobView(s, jobId, { comparison });
    },
    models: () => modelsView(state()),
    disputes: () => disputesView(state()),
    position: () => ({ version, block: block?.toString() ?? null }),
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
