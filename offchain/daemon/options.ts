/**
 * Options every command that talks to a chain takes (`ChainOptionsSchema`), and those both daemons
 * share (`daemonOptionsShape`: data dir, blob and metrics servers, secret, polling, inference limits,
 * keeper duty, withdrawals, blob retention). Each daemon extends them with its own
 * (offchain/provider/options.ts, offchain/verifier/options.ts); one typed object, validated at start-up
 * (offchain/config/options.ts).
 */
import { z } from "zod";

import { EXECUTION_PROVIDER_CHOICES, type ExecutionProviderChoice } from "../inference/session.js";
import { DEFAULT_MAX_BLOB_BYTES } from "../codec/tensor.js";
import { DEFAULT_IPFS_LISTEN } from "../storage/ipfs-uri.js";
import { DEFAULT_MAX_BYTES_IN_FLIGHT, DEFAULT_MAX_BYTES_PER_CLIENT, DEFAULT_MAX_READS_PER_CLIENT, DEFAULT_SEND_TIMEOUT_MS } from "../storage/read-limits.js";

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte address");

/**
 * A yes/no option from a flag or config file (a boolean) or an environment variable ("true"/"false", "1"/"0",
 * "yes"/"no", "on"/"off"): `z.coerce.boolean()` would read DINFER_X=false as true.
 */
export const yesNo = z.union([z.boolean(), z.stringbool()], { error: "must be true or false" });

/** A non-negative integer amount in wei, from a string, number or bigint. */
export const wei = z.union([z.string(), z.number(), z.bigint()]).transform((value, ctx) => {
  try {
    const parsed = BigInt(value);
    if (parsed < 0n) throw new Error("negative");
    return parsed;
  } catch {
    ctx.addIssue({ code: "custom", message: `must be a non-negative integer amount in wei, got ${String(value)}` });
    return z.NEVER;
  }
});

const gpuDeviceIndex = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const index = typeof value === "number" ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (Number.isInteger(index) && index >= 0) return index;
  ctx.addIssue({ code: "custom", message: `must be a GPU device index (a non-negative integer), got ${JSON.stringify(value)}` });
  return z.NEVER;
});

/**
 * GPU device indices, from a comma-separated string (`--gpu-devices 0,1`, DINFER_GPU_DEVICES) or a list
 * (config file): non-negative integers, each once, at least one.
 */
export const gpuDeviceList = z
  .preprocess((value) => (typeof value === "string" ? value.split(",") : value), z.array(gpuDeviceIndex).min(1, "must list at least one GPU device index, e.g. 0,1"))
  .superRefine((devices, ctx) => {
    const repeated = devices.find((device, index) => devices.indexOf(device) !== index);
    if (repeated !== undefined) ctx.addIssue({ code: "custom", message: `lists device ${repeated} twice: each device gets one inference thread, list each once` });
  });

const multiaddrString = z.string().regex(/^\/\S+$/, "must be a multiaddr, e.g. /ip4/127.0.0.1/tcp/4001 (a peer: .../p2p/<peer id>)");

/**
 * The daemon's own IPFS node (offchain/storage/ipfs.ts): Helia with its repository under the data dir, a
 * libp2p that listens where told (loopback by default) and dials only `peers`: no bootstrap list, DHT,
 * delegated routing or public gateway. With it the daemon reads `ipfs://` inputs and outputs itself (the
 * `ipfsGateway` is then not used), a worker publishes its outputs there and pins the inputs and outputs of
 * its jobs until they are final, and a verifier pins the inputs it re-runs (docs/PROTOCOL.md, section 5,
 * "Blob storage and availability").
 */
export const IpfsOptionsSchema = z.object({
  /** Multiaddrs the node listens on. */
  listen: z.array(multiaddrString).min(1).default([DEFAULT_IPFS_LISTEN]),
  /** Multiaddrs peers are told to dial (a public address behind NAT); default the listen addresses. */
  announce: z.array(multiaddrString).default([]),
  /** Peers dialled at start and before each read: the posters', providers' and verifiers' nodes this daemon deals with. */
  peers: z.array(multiaddrString).default([]),
  /** The node's repository (blocks, pins, peer id); default `<dataDir>/ipfs`. */
  dir: z.string().optional(),
  /** Unpinned blocks (reads of jobs never taken, jobs ended) are deleted this often; 0: never. */
  gcIntervalSeconds: z.coerce.number().int().min(0).default(3_600),
});

export type IpfsOptions = z.output<typeof IpfsOptionsSchema>;

/** Options shared by every command that talks to a chain. */
export const ChainOptionsSchema = z.object({
  rpcUrl: z.string().url().default("http://127.0.0.1:8545"),
  /** Ignition's deployments folder, read when `addresses` is not given. */
  deploymentsDir: z.string().default("ignition/deployments"),
  deploymentId: z.string().optional(),
  addresses: z
    .object({ token: address, staking: address, registry: address, market: address, verification: address, batchMarket: address, profiles: address, replicaMarket: address })
    .optional(),
  /** Where the signing key is: an environment variable (default DINFER_PRIVATE_KEY) or a keystore key. */
  keyEnv: z.string().default("DINFER_PRIVATE_KEY"),
  keystoreKey: z.string().optional(),
  keystoreDev: yesNo.default(false),
});

export type ChainOptions = z.output<typeof ChainOptionsSchema>;

/** What differs between the daemons' shared options: their defaults. */
export type DaemonOptionDefaults = {
  ep: ExecutionProviderChoice;
  dataDir: string;
  port: number;
  metricsPort: number;
  secretEnv: string;
  /** Credits (wei) below which nothing is withdrawn: a withdraw costs ~56,000 gas, worth paying once for many jobs. */
  withdrawMin: bigint;
};

/**
 * A blob server's cap on bytes held for reads in flight (`blobMaxBytesInFlight`, `blobMaxBytesPerClient`): below the
 * largest blob served, that blob would be refused on every read.
 */
const blobByteCap = z.coerce
  .number()
  .int()
  .min(DEFAULT_MAX_BLOB_BYTES, `must be at least ${DEFAULT_MAX_BLOB_BYTES} (64 MiB, the largest blob served): a blob that large could never be served`);

/** The options both daemons take, with each daemon's defaults (spread into its schema). */
export function daemonOptionsShape(defaults: DaemonOptionDefaults) {
  return {
    /** Execution provider for inference. */
    ep: z.enum(EXECUTION_PROVIDER_CHOICES).default(defaults.ep),
    /** Journal, blob store and cache live here. */
    dataDir: z.string().default(defaults.dataDir),
    /** The blob server that serves the daemon's outputs at GET /outputs/<root> (and its jobs' inputs at GET /blobs/<id>). */
    host: z.string().default("127.0.0.1"),
    port: z.coerce.number().int().min(0).max(65535).default(defaults.port),
    /** The URL others reach the blob server at (defaults to http://host:port). */
    publicUrl: z.string().url().optional(),
    /**
     * The blob server's read limits (offchain/storage/read-limits.ts): GET and HEAD reads one client address (an
     * IPv6 one: its /64) may have in flight (more are answered 429); bytes of blobs held in memory for all reads
     * in flight (a read past it is answered 503), and for one client's (past it: 429); how long an answer may
     * take to be sent before its connection is cut, milliseconds. Behind a reverse proxy every client is the
     * proxy's address: raise the per-client caps, or limit per client at the proxy.
     */
    blobMaxReadsPerClient: z.coerce.number().int().positive().default(DEFAULT_MAX_READS_PER_CLIENT),
    blobMaxBytesInFlight: blobByteCap.default(DEFAULT_MAX_BYTES_IN_FLIGHT),
    blobMaxBytesPerClient: blobByteCap.default(DEFAULT_MAX_BYTES_PER_CLIENT),
    blobSendTimeoutMs: z.coerce.number().int().positive().default(DEFAULT_SEND_TIMEOUT_MS),
    /** Prometheus metrics port on 127.0.0.1; 0 picks a free port, -1 turns metrics off. */
    metricsPort: z.coerce.number().int().min(-1).max(65535).default(defaults.metricsPort),
    /** Name of the environment variable holding the secret the daemon's salts derive from (offchain/daemon/secrets.ts). */
    secretEnv: z.string().default(defaults.secretEnv),
    confirmations: z.coerce.number().int().min(0).default(0),
    pollIntervalMs: z.coerce.number().int().positive().default(500),
    /** How often an idle daemon logs its one-line status. */
    statusIntervalMs: z.coerce.number().int().positive().default(60_000),
    inferenceTimeoutMs: z.coerce.number().int().positive().default(120_000),
    /**
     * The input cap. Never above the tensor blob's 64 MiB (DEFAULT_MAX_BLOB_BYTES): no runner decodes a larger input,
     * so a worker that fetched one would hold it on disk for a job it can never run.
     */
    maxInputBytes: z.coerce
      .number()
      .int()
      .positive()
      .max(DEFAULT_MAX_BLOB_BYTES, `must be at most ${DEFAULT_MAX_BLOB_BYTES} (64 MiB, the largest tensor blob a model runner decodes)`)
      .default(16 * 1024 * 1024),
    /** An IPFS HTTP gateway for `ipfs://` URIs, when the daemon runs no IPFS node of its own (`ipfs`). */
    ipfsGateway: z.string().url().optional(),
    /** Run an IPFS node (see `IpfsOptionsSchema`); `{}` takes every default. */
    ipfs: IpfsOptionsSchema.optional(),
    /** Accept `file://` URIs (only for a dApp on the same machine: a remote poster could probe local files). */
    allowFileUris: yesNo.default(false),
    /**
     * Read the URIs others chose (a job's input, a revealed output, a batch's output list) on loopback, private,
     * link-local and other non-public hosts (offchain/storage/host-policy.ts). Off, such a read is refused before
     * any request is sent: a poster cannot make the daemon send requests into its own network (the cloud's
     * metadata service, an admin port on 127.0.0.1). Left out: on only on a devnet (`allowsPrivateHosts`).
     */
    allowPrivateHosts: yesNo.optional(),
    /** Keeper duties (each daemon's own: expiring unclaimed jobs, drawing committees...). */
    keeper: yesNo.default(true),
    /** Seconds a keeper duty waits past its due time, plus a delay of our own per job, so keepers rarely race. */
    keeperGraceSeconds: z.coerce.number().int().min(0).default(10),
    /** Withdraw credits once they reach this many wei (0: whenever there are any). */
    withdrawMin: wei.default(defaults.withdrawMin),
    /** Inference worker threads (with `gpuDevices`: one per device, and this is not used). */
    threads: z.coerce.number().int().positive().default(1),
    /**
     * GPU device indices, e.g. `[0, 1]` or "0,1": one inference thread per device, each creating its GPU
     * sessions on its own device (CUDA; WebGPU cannot be pinned: offchain/inference/session.ts) and choosing
     * its provider there. Left out: `threads` threads on the default device.
     */
    gpuDevices: gpuDeviceList.optional(),
    /** Threads that hash blobs (input ids, output ids and roots); default: one per core, at most 4. */
    hashThreads: z.coerce.number().int().positive().optional(),
    /**
     * Dynamic batching: up to this many queued jobs of one model run as one stacked batch on an inference
     * thread, where the model's first stacked run matched each job's run alone (offchain/inference/batching.ts).
     * 1: every job runs alone.
     */
    inferenceBatch: z.coerce.number().int().positive().default(1),
    /** How long a stacked batch short of `inferenceBatch` waits for more jobs of its model, milliseconds. */
    inferenceBatchWaitMs: z.coerce.number().int().min(0).default(0),
    /**
     * How long the daemon keeps a blob it stored (a worker: a job's input and output, a batch's output list; a
     * verifier: its own outputs) beyond twice the longest job lifetime the protocol allows since a job last kept
     * it, seconds (offchain/storage/prune.ts): no job can need it after that, and this is for the dApps that fetch
     * their outputs late. -1: never delete.
     */
    blobRetentionSeconds: z.coerce.number().int().min(-1).max(10 * 365 * 86_400).default(86_400),
  };
}

/** `allowPrivateHosts` as a daemon applies it; defined beside the host policy, where the SDK applies it too. */
export { allowsPrivateHosts } from "../storage/host-policy.js";
