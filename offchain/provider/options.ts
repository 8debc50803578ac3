import { z } from "zod";

import { EXECUTION_PROVIDER_CHOICES } from "../inference/session.js";
import { FaultSchema } from "./fault.js";

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte address");
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

/** A model this worker serves: the registry id, the local .onnx file, and the lowest fee it takes. */
export const ServedModelSchema = z.object({
  modelId: z.coerce.number().int().positive(),
  path: z.string().min(1),
  minFee: wei.default(0n),
});

/** Options shared by every command that talks to a chain. */
export const ChainOptionsSchema = z.object({
  rpcUrl: z.string().url().default("http://127.0.0.1:8545"),
  /** Ignition's deployments folder, read when `addresses` is not given. */
  deploymentsDir: z.string().default("ignition/deployments"),
  deploymentId: z.string().optional(),
  addresses: z
    .object({ token: address, staking: address, registry: address, market: address, verification: address })
    .optional(),
  /** Where the signing key is: an environment variable (default DINFER_PRIVATE_KEY) or a keystore key. */
  keyEnv: z.string().default("DINFER_PRIVATE_KEY"),
  keystoreKey: z.string().optional(),
  keystoreDev: z.coerce.boolean().default(false),
});

export const WorkerOptionsSchema = ChainOptionsSchema.extend({
  models: z.array(ServedModelSchema).min(1, "the worker needs at least one model to serve"),
  /** Execution provider for inference. */
  ep: z.enum(EXECUTION_PROVIDER_CHOICES).default("auto"),
  /** Journal, blob store and cache live here. */
  dataDir: z.string().default(".dinfer/worker"),
  /** The blob server that serves this worker's outputs at GET /blobs/<id>. */
  host: z.string().default("127.0.0.1"),
  port: z.coerce.number().int().min(0).max(65535).default(8600),
  /** The URL dApps and verifiers reach the blob server at (defaults to http://host:port). */
  publicUrl: z.string().url().optional(),
  /** Prometheus metrics port on 127.0.0.1; 0 picks a free port, -1 turns metrics off. */
  metricsPort: z.coerce.number().int().min(-1).max(65535).default(9464),
  /** Secret the commitment salts are derived from: the name of the environment variable holding it. */
  secretEnv: z.string().default("DINFER_WORKER_SECRET"),
  confirmations: z.coerce.number().int().min(0).default(0),
  pollIntervalMs: z.coerce.number().int().positive().default(500),
  /** How often an idle worker logs its one-line status (offchain/provider/status.ts). */
  statusIntervalMs: z.coerce.number().int().positive().default(60_000),
  /**
   * How often the chain is read when nothing is due (no job open, or every open one asleep for a
   * while): an idle worker then makes under one RPC request a second. A job posted meanwhile is
   * seen within this long; from then on the worker reads every `pollIntervalMs` again.
   */
  idlePollIntervalMs: z.coerce.number().int().positive().default(4_000),
  /**
   * Keeper duty: expire the posted jobs of the served models that nobody claimed by their claim
   * deadline (the poster is refunded; the expiry costs us its gas), `keeperGraceSeconds` plus a delay
   * of our own per job after the deadline, so that keepers rarely race for one.
   */
  keeper: z.coerce.boolean().default(true),
  keeperGraceSeconds: z.coerce.number().int().min(0).default(10),
  inferenceTimeoutMs: z.coerce.number().int().positive().default(120_000),
  maxInputBytes: z.coerce.number().int().positive().default(16 * 1024 * 1024),
  ipfsGateway: z.string().url().optional(),
  /** Accept `file://` input URIs (only for a dApp on the same machine: a remote poster could probe local files). */
  allowFileUris: z.coerce.boolean().default(false),
  /** Withdraw earnings once credits reach this many wei (0: whenever there are any). */
  withdrawMin: wei.default(0n),
  /** Inference worker threads. */
  threads: z.coerce.number().int().positive().default(1),
  /** Threads that hash blobs (input ids, output ids and roots); default: one per core, at most 4. */
  hashThreads: z.coerce.number().int().positive().optional(),
  /**
   * `run-first`: run the model on a posted job, then claim and commit in one transaction
   * (`claimAndCommit`: one transaction less per job, nothing locked while running; a lost race costs
   * the run). `claim-first`: claim, then run, then commit (for long runs, where a lost race is costly).
   */
  claimMode: z.enum(["run-first", "claim-first"]).default("run-first"),
  /** Test only: a fault to commit on purpose (offchain/provider/fault.ts); needs DINFER_ALLOW_FAULTS=1. */
  fault: FaultSchema.optional(),
});

export type ServedModel = z.output<typeof ServedModelSchema>;
export type ChainOptions = z.output<typeof ChainOptionsSchema>;
export type WorkerOptions = z.output<typeof WorkerOptionsSchema>;
