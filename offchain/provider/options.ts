/**
 * Options of `dinfer worker`: the daemon kit's shared ones (offchain/daemon/options.ts) and the
 * worker's own (served models and prices, claim mode, idle polling, the test-only fault).
 */
import { z } from "zod";

import { ChainOptionsSchema, daemonOptionsShape, wei } from "../daemon/options.js";
import { FaultSchema } from "./fault.js";

/**
 * The worker's default `withdrawMin`: 100 tokens. Earnings are withdrawn in one transaction once they
 * reach it, not after every job (a withdraw is ~56,000 gas, a quarter of a job's whole lifecycle).
 */
export const WORKER_WITHDRAW_MIN = 100n * 10n ** 18n;

/** A model this worker serves: the registry id, the local .onnx file, and the lowest fee it takes. */
export const ServedModelSchema = z.object({
  modelId: z.coerce.number().int().positive(),
  path: z.string().min(1),
  minFee: wei.default(0n),
});

export const WorkerOptionsSchema = ChainOptionsSchema.extend({
  models: z.array(ServedModelSchema).min(1, "the worker needs at least one model to serve"),
  /**
   * The shared daemon options. Keeper duty (`keeper`): expire the posted jobs of the served models that
   * nobody claimed by their claim deadline (the poster is refunded; the expiry costs us its gas),
   * `keeperGraceSeconds` plus a delay of our own per job after the deadline, so that keepers rarely race.
   */
  ...daemonOptionsShape({ ep: "auto", dataDir: ".dinfer/worker", port: 8600, metricsPort: 9464, secretEnv: "DINFER_WORKER_SECRET", withdrawMin: WORKER_WITHDRAW_MIN }),
  /**
   * How often the chain is read when nothing is due (no job open, or every open one asleep for a
   * while): an idle worker then makes under one RPC request a second. A job posted meanwhile is
   * seen within this long; from then on the worker reads every `pollIntervalMs` again.
   */
  idlePollIntervalMs: z.coerce.number().int().positive().default(4_000),
  /**
   * `run-first`: run the model on a posted job, then claim and commit in one transaction
   * (`claimAndCommit`: one transaction less per job, nothing locked while running; a lost race costs
   * the run). `claim-first`: claim, then run, then commit (for long runs, where a lost race is costly).
   */
  claimMode: z.enum(["run-first", "claim-first"]).default("run-first"),
  /**
   * The most jobs one transaction carries (1..256): the largest batch (IBatchMarket) taken, run whole
   * before it is claimed and committed, and the most steps of separately posted jobs grouped into one
   * JobMarket `multicall`, or claims into one `tryMulticall` (1: never grouped).
   */
  maxBatch: z.coerce.number().int().min(1).max(256).default(256),
  /**
   * How long (ms) a commit, reveal or finalize of a posted job waits for others of ours to share
   * its transaction (one 21,000-gas base cost for the group); 0 groups only the steps due together.
   */
  maxBatchWaitMs: z.coerce.number().int().min(0).max(60_000).default(1_000),
  /**
   * The longest (ms) a claim of a posted job waits, while another claim transaction of ours is in flight,
   * for others to share its transaction (a `tryMulticall`, where a rival's claim mined first skips only that
   * claim); with none in flight it leaves at once; 0 groups only the claims due together. Short: a claim
   * that waits is one a rival may take meanwhile.
   */
  maxClaimWaitMs: z.coerce.number().int().min(0).max(60_000).default(250),
  /**
   * The most gas a job's consumer callback may ask for (`callbackGasLimit`) for us to take the job. Our finalize
   * runs the callback and pays for all the gas it asks for, which a consumer may burn, while the fee is in
   * tokens and does not grow with it: lower this where gas is dear. Default: the market's own default cap.
   */
  maxCallbackGas: z.coerce.number().int().min(0).max(2 ** 32 - 1).default(500_000),
  /** Test only: a fault to commit on purpose (offchain/provider/fault.ts); needs DINFER_ALLOW_FAULTS=1. */
  fault: FaultSchema.optional(),
});

export type ServedModel = z.output<typeof ServedModelSchema>;
export type WorkerOptions = z.output<typeof WorkerOptionsSchema>;

