/**
 * Options of `dinfer verifier` (the auditor daemon) and `dinfer audit` (one-shot re-execution): one
 * typed object from flags, DINFER_* environment variables and a JSON config file, validated at
 * start-up (offchain/config/options.ts `loadOptions`).
 */
import { z } from "zod";

import { DEFAULT_MAX_BLOB_BYTES } from "../codec/tensor.js";
import { EXECUTION_PROVIDER_CHOICES } from "../inference/session.js";
import { ChainOptionsSchema, daemonOptionsShape, wei, yesNo } from "../daemon/options.js";

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
  challenge: yesNo.default(true),
});

export const VerifierOptionsSchema = ChainOptionsSchema.extend({
  models: z
    .array(VerifiedModelSchema, {
      error: (issue) => (issue.input === undefined ? "the verifier needs at least one model: --model <id>=<path.onnx> or models in the config file" : undefined),
    })
    .min(1, "the verifier needs at least one model it can re-execute"),
  /**
   * The shared daemon options. The CPU is enough for re-execution (outputs are compared under the
   * model's tolerance). Keeper duties (`keeper`) for jobs of the served models: draw committees, resolve
   * disputes, expire withheld reveals, and bring slashed verifiers' weights down to their stake
   * (`Staking.syncVerifier`); each waits `keeperGraceSeconds` past its due time (plus a delay of
   * 0..that, per verifier and job) unless this verifier leads it, so keepers rarely race. Credits
   * withdrawn (`withdrawMin`): audit rewards, voter pay, finder shares, returned bonds.
   */
  ...daemonOptionsShape({ ep: "cpu", dataDir: ".dinfer/verifier", port: 8610, metricsPort: 9465, secretEnv: "DINFER_VERIFIER_SECRET", withdrawMin: 0n }),
  /** Stake this many wei as a verifier on start when the account is not in the verifier set yet. */
  stake: wei.optional(),
  /**
   * The input cap: the protocol's, the tensor blob's (a provider's runner decodes no larger input), so that we judge
   * every input an honest provider can have run. Never lower: an input we could not read would have to be judged
   * against the provider (wrong) or abstained on, and a cheater that keeps the real input to itself and serves
   * oversized junk would then make every such verifier abstain, its committee short of a quorum.
   */
  maxInputBytes: z.coerce
    .number()
    .int()
    .min(DEFAULT_MAX_BLOB_BYTES, `must be at least ${DEFAULT_MAX_BLOB_BYTES} (64 MiB, the largest input a provider can run): a verifier must read every input it judges`)
    .default(DEFAULT_MAX_BLOB_BYTES),
  /**
   * The output cap: never below the protocol's (a provider's runner encodes outputs up to it), or an honest
   * provider's output over ours would count as served nowhere, hence wrong.
   */
  maxOutputBytes: z.coerce
    .number()
    .int()
    .min(DEFAULT_MAX_BLOB_BYTES, `must be at least ${DEFAULT_MAX_BLOB_BYTES} (64 MiB, the largest output a provider can reveal): a larger one would be judged wrong`)
    .default(DEFAULT_MAX_BLOB_BYTES),
  /**
   * An output no known location serves (the reveal's URI, the provider's announcements, an equal-root
   * auditor's copy) is fetched again until this many seconds before the decision's deadline (end of the
   * challenge window, vote commit deadline), and only then counts as wrong; the seconds left are for the
   * transaction (docs/PROTOCOL.md, section 7, "Output availability").
   */
  outputReserveSeconds: z.coerce.number().int().min(1).default(10),
  watchdog: WatchdogSchema.default({ share: 0, challenge: true }),
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
  allowFileUris: yesNo.default(false),
  /** As the daemons' `allowPrivateHosts`: the URIs read are the poster's and the provider's choice. Left out: on only on a devnet. */
  allowPrivateHosts: yesNo.optional(),
});

export type AuditOptions = z.output<typeof AuditOptionsSchema>;
