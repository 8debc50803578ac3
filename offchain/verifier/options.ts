/**
 * Options of `dinfer verifier` (the auditor daemon) and `dinfer audit` (one-shot re-execution): one
 * typed object from flags, DINFER_* environment variables and a JSON config file, validated at
 * start-up (offchain/config/options.ts `loadOptions`).
 */
import { z } from "zod";

import { EXECUTION_PROVIDER_CHOICES } from "../inference/session.js";
import { ChainOptionsSchema, wei } from "../provider/options.js";

/** A model this verifier can re-execute: the registry id and the local .onnx file (checked against the registry hash). */
export const VerifiedModelSchema = z.object({
  modelId: z.coerce.number().int().positive(),
  path: z.string().min(1),
});

/** Watchdog mode: re-run a share of the unsampled revealed jobs and challenge out-of-tolerance results. */
export const WatchdogSchema = z.object({
  /** Share of unsampled revealed jobs re-run, 0..1 (0: off). The pick is derived from the secret: providers can't predict it. */
  share: z.coerce.number().min(0).max(1).default(0),
  /**
   * Post a challenge (and its bond) for a result found out of tolerance or served nowhere; false only
   * reports it. A challenge found right returns the bond; the finder's share goes to the dApp.
   */
  challenge: z.coerce.boolean().default(true),
});

export const VerifierOptionsSchema = ChainOptionsSchema.extend({
  models: z
    .array(VerifiedModelSchema, {
      error: (issue) => (issue.input === undefined ? "the verifier needs at least one model: --model <id>=<path.onnx> or models in the config file" : undefined),
    })
    .min(1, "the verifier needs at least one model it can re-execute"),
  /** Execution provider for re-execution (the CPU is enough: outputs are compared under the model's tolerance). */
  ep: z.enum(EXECUTION_PROVIDER_CHOICES).default("cpu"),
  /** Journal, blob store (its own outputs) and cache live here. */
  dataDir: z.string().default(".dinfer/verifier"),
  /** The blob server that serves this verifier's own outputs at GET /blobs/<id>. */
  host: z.string().default("127.0.0.1"),
  port: z.coerce.number().int().min(0).max(65535).default(8610),
  /** The URL others reach the blob server at (defaults to http://host:port). */
  publicUrl: z.string().url().optional(),
  /** Prometheus metrics port on 127.0.0.1; 0 picks a free port, -1 turns metrics off. */
  metricsPort: z.coerce.number().int().min(-1).max(65535).default(9465),
  /** Name of the environment variable holding the secret audit and vote salts are derived from. */
  secretEnv: z.string().default("DINFER_VERIFIER_SECRET"),
  /** Stake this many wei as a verifier on start when the account is not in the verifier set yet. */
  stake: wei.optional(),
  confirmations: z.coerce.number().int().min(0).default(0),
  pollIntervalMs: z.coerce.number().int().positive().default(500),
  /** How often an idle verifier logs its one-line status (offchain/verifier/status.ts). */
  statusIntervalMs: z.coerce.number().int().positive().default(60_000),
  inferenceTimeoutMs: z.coerce.number().int().positive().default(120_000),
  maxInputBytes: z.coerce.number().int().positive().default(16 * 1024 * 1024),
  maxOutputBytes: z.coerce.number().int().positive().default(64 * 1024 * 1024),
  ipfsGateway: z.string().url().optional(),
  /** Accept `file://` input and output URIs (same-machine tests only: a remote poster could probe local files). */
  allowFileUris: z.coerce.boolean().default(false),
  /**
   * An output no known location serves (the reveal's URI, the provider's announcements, an equal-root
   * auditor's copy) is fetched again until this many seconds before the decision's deadline (end of the
   * challenge window, vote commit deadline), and only then counts as wrong; the seconds left are for the
   * transaction (docs/PROTOCOL.md, section 7, "Output availability").
   */
  outputReserveSeconds: z.coerce.number().int().min(1).default(10),
  /**
   * Keeper duties for jobs of the served models: draw committees, resolve disputes, expire withheld
   * reveals, and bring slashed verifiers' weights down to their stake (`Staking.syncVerifier`).
   */
  keeper: z.coerce.boolean().default(true),
  /**
   * Seconds a keeper duty waits past its due time (plus a delay of 0..this, per verifier and job) unless
   * this verifier leads it (the challenger draws its committee, one member resolves, the blind auditor
   * expires a withheld reveal), so keepers rarely race.
   */
  keeperGraceSeconds: z.coerce.number().int().min(0).default(10),
  watchdog: WatchdogSchema.default({ share: 0, challenge: true }),
  /** Withdraw credits (audit rewards, voter pay, finder shares, returned bonds) once they reach this many wei. */
  withdrawMin: wei.default(0n),
  /** Inference worker threads. */
  threads: z.coerce.number().int().positive().default(1),
  /** Threads that hash blobs (input ids, output ids and roots); default: one per core, at most 4. */
  hashThreads: z.coerce.number().int().positive().optional(),
  /** First block the log poller reads on a fresh journal (the deployment block); later starts resume from the journal. */
  startBlock: z.coerce.bigint().nonnegative().default(0n),
});

export type VerifiedModel = z.output<typeof VerifiedModelSchema>;
export type VerifierOptions = z.output<typeof VerifierOptionsSchema>;

/** `dinfer audit <jobId>`: models are optional (`--model <id>=<path>`, as the daemons take it; a bare `--model <path>` names the file for the job's own model). */
export const AuditOptionsSchema = ChainOptionsSchema.extend({
  models: z.array(VerifiedModelSchema).default([]),
  ep: z.enum(EXECUTION_PROVIDER_CHOICES).default("cpu"),
  inferenceTimeoutMs: z.coerce.number().int().positive().default(120_000),
  maxInputBytes: z.coerce.number().int().positive().default(16 * 1024 * 1024),
  maxOutputBytes: z.coerce.number().int().positive().default(64 * 1024 * 1024),
  ipfsGateway: z.string().url().optional(),
  allowFileUris: z.coerce.boolean().default(false),
});

export type AuditOptions = z.output<typeof AuditOptionsSchema>;
