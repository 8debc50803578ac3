/**
 * What every dinfer daemon (the provider worker, the verifier) runs on besides the chain: its SQLite
 * journal and blob store under `dataDir`, inference threads, the blob server that serves its outputs,
 * its Prometheus endpoint, and its IPFS node when configured (`ipfs`, offchain/storage/ipfs.ts, loaded only
 * then). One place, so both daemons start and stop alike (their loop: ./loop.ts).
 */
import { mkdirSync } from "node:fs";
import path from "node:path";

import type { Registry } from "prom-client";
import type { Address, PublicClient } from "viem";

import { ConfigError } from "../config/options.js";
import { createInferenceRunner, type InferenceRunner } from "../inference/runner.js";
import type { ExecutionProviderChoice } from "../inference/session.js";
import type { Logger } from "../log.js";
import { claimDataDir, JOURNAL_FILE } from "../state/data-dir.js";
import { Journal } from "../state/journal.js";
import type { IpfsNode } from "../storage/ipfs.js";
import { LocalBlobStore } from "../storage/local.js";
import { startBlobServer, type BlobServer } from "../storage/server.js";
import { startMetricsServer } from "./metrics.js";
import type { IpfsOptions } from "./options.js";

export type OpenDaemonServicesParameters = {
  dataDir: string;
  /**
   * The chain and deployment the daemon runs on: the data dir is claimed for them (offchain/state/data-dir.ts),
   * so a dir from another deployment is refused with the fix and one from a reset chain starts a fresh journal.
   */
  chain: { publicClient: PublicClient; chainId: number; market: Address };
  /** Inference threads (the runner's default when left out). */
  threads?: number;
  /** GPU device indices: one inference thread per device (the runner's `devices`); see `inferenceThreads`. */
  gpuDevices?: readonly number[];
  /** The daemon's execution provider: `gpuDevices` needs one that can be pinned to a device (`inferenceThreads`). */
  ep?: ExecutionProviderChoice;
  /** Hashing threads (the runner's default when left out). */
  hashThreads?: number;
  /** Dynamic batching: the runner's `maxBatch` and `maxBatchWaitMs` (its defaults when left out: no batching). */
  inferenceBatch?: number;
  inferenceBatchWaitMs?: number;
  host: string;
  port: number;
  /** How others reach the blob server (default: its own URL). */
  publicUrl?: string;
  /** The blob server's read limits (its `maxReadsPerClient`, `maxBytesInFlight`, `maxBytesPerClient`, `sendTimeoutMs`; its defaults when left out). */
  blobMaxReadsPerClient?: number;
  blobMaxBytesInFlight?: number;
  blobMaxBytesPerClient?: number;
  blobSendTimeoutMs?: number;
  /** Metrics port on 127.0.0.1; 0 picks one, negative turns metrics off. */
  metricsPort: number;
  registry: Registry;
  log: Logger;
  /** Run an IPFS node (repository under `<dataDir>/ipfs` unless `ipfs.dir` says otherwise). */
  ipfs?: IpfsOptions;
};

export type DaemonServices = {
  journal: Journal;
  /** Inputs (and other blobs) by blob id, served at `/blobs/<id>`. */
  store: LocalBlobStore;
  /** Outputs by their output root, served at `/outputs/<root>`. */
  outputs: LocalBlobStore;
  runner: InferenceRunner;
  blobServer: BlobServer;
  metricsUrl: string | undefined;
  /** The blob server's public base URL, without a trailing slash. */
  publicUrl: string;
  /** The IPFS node, when configured. */
  ipfs: IpfsNode | undefined;
  /** Closes everything opened, last first. */
  close: () => Promise<void>;
};

/** Opens the journal, blob store, inference runner, blob server and metrics server; closes what it opened if one fails. */
export async function openDaemonServices({
  dataDir,
  chain,
  threads,
  gpuDevices,
  ep,
  hashThreads,
  inferenceBatch,
  inferenceBatchWaitMs,
  host,
  port,
  publicUrl,
  blobMaxReadsPerClient,
  blobMaxBytesInFlight,
  blobMaxBytesPerClient,
  blobSendTimeoutMs,
  metricsPort,
  registry,
  log,
  ipfs: ipfsOptions,
}: OpenDaemonServicesParameters): Promise<DaemonServices> {
  const inferenceThreadOptions = inferenceThreads({ threads, gpuDevices, ep }); // before this opens anything: bad options fail alone
  mkdirSync(dataDir, { recursive: true });
  const genesis = await chain.publicClient.getBlock({ blockNumber: 0n });
  claimDataDir({ dir: dataDir, owner: { chainId: chain.chainId, market: chain.market, genesisHash: genesis.hash! }, log });
  const journal = new Journal({ path: path.join(dataDir, JOURNAL_FILE), logger: log });
  const store = new LocalBlobStore({ dir: path.join(dataDir, "blobs") });
  const outputs = new LocalBlobStore({ dir: path.join(dataDir, "outputs"), address: "outputRoot" });
  const closers: (() => Promise<unknown> | unknown)[] = [() => journal.close()];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    const runner = createInferenceRunner({
      ...inferenceThreadOptions,
      hashThreads,
      maxBatch: inferenceBatch,
      maxBatchWaitMs: inferenceBatchWaitMs,
      log: log.child({ component: "inference" }),
    });
    closers.push(() => runner.close());
    const blobServer = await startBlobServer({
      store,
      outputs,
      host,
      port,
      logger: log,
      maxReadsPerClient: blobMaxReadsPerClient,
      maxBytesInFlight: blobMaxBytesInFlight,
      maxBytesPerClient: blobMaxBytesPerClient,
      sendTimeoutMs: blobSendTimeoutMs,
    });
    closers.push(() => blobServer.close());
    const metricsServer = metricsPort >= 0 ? await startMetricsServer({ registry, port: metricsPort }) : undefined;
    if (metricsServer) closers.push(() => metricsServer.close());
    const ipfs = ipfsOptions && (await openIpfsNode({ options: ipfsOptions, dataDir, log }));
    if (ipfs) closers.push(() => ipfs.close());
    return {
      journal,
      store,
      outputs,
      runner,
      blobServer,
      metricsUrl: metricsServer?.url,
      publicUrl: (publicUrl ?? blobServer.url).replace(/\/$/, ""),
      ipfs: ipfs?.node,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The runner's threads from the daemon's options: `threads` of them, or with `gpuDevices` one per device.
 * `threads` defaults to 1, so with devices only a value that is neither 1 nor the device count is refused
 * (it asks for something the devices do not give). Devices with `ep` cpu or webgpu are refused too: the
 * first would leave every GPU idle, the second cannot be pinned to a device (offchain/inference/session.ts);
 * `cuda` and `auto` (CUDA on each device where it is installed, else CPU, logged) take them.
 */
export function inferenceThreads({
  threads,
  gpuDevices,
  ep,
}: {
  threads?: number;
  gpuDevices?: readonly number[];
  ep?: ExecutionProviderChoice;
}): { size?: number; devices?: readonly number[] } {
  if (gpuDevices === undefined) return { size: threads };
  if (ep === "cpu" || ep === "webgpu") {
    const why = ep === "cpu" ? "ep cpu would leave every listed GPU idle" : "onnxruntime-node cannot pin a WebGPU session to a device";
    throw new ConfigError(`gpuDevices (${gpuDevices.join(",")}) with ep ${ep}: ${why}; pass --ep cuda (or auto), or leave gpuDevices out`, {
      code: "CONFIG_INVALID",
      details: { option: "gpuDevices", ep, gpuDevices },
    });
  }
  if (threads !== undefined && threads !== 1 && threads !== gpuDevices.length) {
    throw new ConfigError(`threads (${threads}) and gpuDevices (${gpuDevices.length} devices) disagree: gpuDevices runs one inference thread per device; leave threads out, or list ${threads} devices`, {
      code: "CONFIG_INVALID",
      details: { option: "threads", threads, gpuDevices },
    });
  }
  return { devices: gpuDevices };
}

/** Starts the IPFS node and its garbage collection timer; `close` stops both. */
async function openIpfsNode({ options, dataDir, log }: { options: IpfsOptions; dataDir: string; log: Logger }): Promise<{ node: IpfsNode; close: () => Promise<void> }> {
  const { startIpfsNode } = await import("../storage/ipfs.js");
  const node = await startIpfsNode({ dir: options.dir ?? path.join(dataDir, "ipfs"), listen: options.listen, announce: options.announce, peers: options.peers, logger: log });
  const timer =
    options.gcIntervalSeconds > 0
      ? setInterval(() => {
          node.gc().catch((error: unknown) => log.warn({ msg: "ipfs garbage collection failed", err: error instanceof Error ? error.message : String(error) }));
        }, options.gcIntervalSeconds * 1000)
      : undefined;
  timer?.unref();
  return {
    node,
    close: async () => {
      clearInterval(timer);
      await node.stop();
    },
  };
}
