/**
 * What every dinfer daemon (the provider worker, the verifier) runs on besides the chain: its SQLite
 * journal and blob store under `dataDir`, inference threads, the blob server that serves its outputs,
 * its Prometheus endpoint. One place, so both daemons start and stop alike (their loop: ./loop.ts).
 */
import { mkdirSync } from "node:fs";
import path from "node:path";

import type { Registry } from "prom-client";
import type { Address, PublicClient } from "viem";

import { createInferenceRunner, type InferenceRunner } from "../inference/runner.js";
import type { Logger } from "../log.js";
import { claimDataDir, JOURNAL_FILE } from "../state/data-dir.js";
import { Journal } from "../state/journal.js";
import { LocalBlobStore } from "../storage/local.js";
import { startBlobServer, type BlobServer } from "../storage/server.js";
import { startMetricsServer } from "./metrics.js";

export type OpenDaemonServicesParameters = {
  dataDir: string;
  /**
   * The chain and deployment the daemon runs on: the data dir is claimed for them (offchain/state/data-dir.ts),
   * so a dir from another deployment is refused with the fix and one from a reset chain starts a fresh journal.
   */
  chain: { publicClient: PublicClient; chainId: number; market: Address };
  /** Inference threads (the runner's default when left out). */
  threads?: number;
  /** Hashing threads (the runner's default when left out). */
  hashThreads?: number;
  host: string;
  port: number;
  /** How others reach the blob server (default: its own URL). */
  publicUrl?: string;
  /** Metrics port on 127.0.0.1; 0 picks one, negative turns metrics off. */
  metricsPort: number;
  registry: Registry;
  log: Logger;
};

export type DaemonServices = {
  journal: Journal;
  store: LocalBlobStore;
  runner: InferenceRunner;
  blobServer: BlobServer;
  metricsUrl: string | undefined;
  /** The blob server's public base URL, without a trailing slash. */
  publicUrl: string;
  /** Closes everything opened, last first. */
  close: () => Promise<void>;
};

/** Opens the journal, blob store, inference runner, blob server and metrics server; closes what it opened if one fails. */
export async function openDaemonServices({
  dataDir,
  chain,
  threads,
  hashThreads,
  host,
  port,
  publicUrl,
  metricsPort,
  registry,
  log,
}: OpenDaemonServicesParameters): Promise<DaemonServices> {
  mkdirSync(dataDir, { recursive: true });
  const genesis = await chain.publicClient.getBlock({ blockNumber: 0n });
  claimDataDir({ dir: dataDir, owner: { chainId: chain.chainId, market: chain.market, genesisHash: genesis.hash! }, log });
  const journal = new Journal({ path: path.join(dataDir, JOURNAL_FILE), logger: log });
  const store = new LocalBlobStore({ dir: path.join(dataDir, "blobs") });
  const closers: (() => Promise<unknown> | unknown)[] = [() => journal.close()];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    const runner = createInferenceRunner({ size: threads, hashThreads, log: log.child({ component: "inference" }) });
    closers.push(() => runner.close());
    const blobServer = await startBlobServer({ store, host, port, logger: log });
    closers.push(() => blobServer.close());
    const metricsServer = metricsPort >= 0 ? await startMetricsServer({ registry, port: metricsPort }) : undefined;
    if (metricsServer) closers.push(() => metricsServer.close());
    return {
      journal,
      store,
      runner,
      blobServer,
      metricsUrl: metricsServer?.url,
      publicUrl: (publicUrl ?? blobServer.url).replace(/\/$/, ""),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
