/**
 * What the provider worker serves and runs jobs with: a model loaded for serving, and the runner a
 * job runs through (the inference runner, or a test fault wrapping it, ./fault.ts `withFault`).
 */
import type { Hex } from "viem";

import type { TolerancePolicy } from "../codec/tolerance.js";
import type { InferenceRunnerStats, RunParameters, RunReturnType } from "../inference/runner.js";
import type { ValueMetadata } from "../inference/validate.js";
import type { StagedAdoption } from "../storage/local.js";
import type { BlobRead, InputRead } from "../threads/hash-pool.js";

/** What the worker runs a job with (the inference runner is one): `jobId` seeds a test fault's changes. */
export type JobRunner = {
  run(parameters: RunParameters & { jobId: bigint }): Promise<JobRunResult>;
  stats(): InferenceRunnerStats;
  /** Its outputs are never stored or served, only committed and revealed by root and URI (fault `withhold`). */
  readonly withholdsOutputs?: boolean;
  /**
   * Reads an http(s) input and checks it against its blob id off the main thread, staging it there too when
   * asked (InferenceRunner.readInput), until `signal` aborts it; absent: read on the main thread.
   */
  readInput?(read: BlobRead, signal?: AbortSignal): Promise<InputRead>;
  /** Moves a staged input into its store off the main thread (InferenceRunner.adoptStaged); absent: on the main thread. */
  adoptStaged?(adopt: StagedAdoption): Promise<void>;
};

/** A run's output, its root, and where the time went (the inference runner's result, or a fault's). */
export type JobRunResult = Pick<RunReturnType, "output" | "outputRoot" | "ms" | "timings" | "input" | "outputKept"> & {
  ep: string;
  /** Jobs in the stacked run that gave this output (dynamic batching); `ms` is that run's. Absent: 1. */
  batchSize?: number;
};

/** A model ready to serve: its file checked against the registry, its input metadata read. */
export type LoadedModel = {
  modelId: number;
  path: string;
  modelHash: Hex;
  minFee: bigint;
  /** The model owner's opt-in to NaN/Inf inputs (IModelRegistry.Model.nonFiniteInputs). */
  nonFiniteInputs: boolean;
  /**
   * The model's registered tolerance: a stacked run (dynamic batching) may differ from a job's run alone this
   * much; undefined: byte equality.
   */
  tolerance?: TolerancePolicy;
  inputMetadata: readonly ValueMetadata[];
  /** The model's outputs (fault `random` makes outputs of this shape up). */
  outputMetadata: readonly ValueMetadata[];
};
