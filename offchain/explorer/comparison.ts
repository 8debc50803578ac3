/**
 * The audit comparison a job page shows: the auditor's revealed output against the provider's, under the
 * model's tolerance (offchain/codec/tolerance.ts, `compareOutputs`: max abs and rel error and mismatches per
 * tensor, the verdict the policy gives). The chain holds only the two roots and the auditor's verdict, so the
 * explorer fetches both outputs from the locations their reveals named (each checked against its root,
 * offchain/storage/output.ts) and compares them itself, once: the result is kept in the explorer's file.
 *
 * Equal roots need no fetch ("identical"). An output no location serves right now is "unavailable" and tried
 * again after `retryAfterMs`; a comparison in progress is "pending", and `onDone` is told when it ends (the
 * page then updates).
 */
import type { Hex } from "viem";

import { compareOutputs, toleranceFromChain } from "../codec/tolerance.js";
import { silentLogger, type Logger } from "../log.js";
import { fetchOutput } from "../storage/output.js";
import type { ExplorerDb } from "./db.js";
import type { JobTrack, ModelTrack } from "./state.js";
import type { ComparisonJson } from "./views.js";

/** Outputs larger than this are not fetched for a comparison. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export type AuditComparisonsParameters = {
  db: ExplorerDb;
  /** Per location. */
  fetchTimeoutMs?: number;
  /** How long an "unavailable" answer stands before the outputs are fetched again. */
  retryAfterMs?: number;
  /** Told when a comparison finished (done or unavailable). */
  onDone?: () => void;
  logger?: Logger;
  now?: () => number;
};

export class AuditComparisons {
  readonly #db: ExplorerDb;
  readonly #fetchTimeoutMs: number;
  readonly #retryAfterMs: number;
  readonly #onDone: () => void;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #inFlight = new Map<string, Promise<void>>();

  constructor({ db, fetchTimeoutMs = 5_000, retryAfterMs = 30_000, onDone = () => undefined, logger = silentLogger(), now = Date.now }: AuditComparisonsParameters) {
    this.#db = db;
    this.#fetchTimeoutMs = fetchTimeoutMs;
    this.#retryAfterMs = retryAfterMs;
    this.#onDone = onDone;
    this.#log = logger;
    this.#now = now;
  }

  /** The comparison of the job's audit, as far as it is known now; starts working it out when it is not. */
  of(job: JobTrack, model: ModelTrack | undefined): ComparisonJson {
    const auditorRoot = job.audit?.outputRoot;
    const providerRoot = job.resultRoot;
    if (auditorRoot === undefined || providerRoot === undefined || job.revealed === undefined) return { state: "none" };
    if (auditorRoot.toLowerCase() === providerRoot.toLowerCase()) return { state: "identical" };
    const key = { jobId: job.jobId.toString(), providerRoot, auditorRoot };
    const cached = this.#db.getComparison(key);
    const result = cached?.result as ComparisonJson | undefined;
    if (result && (result.state === "done" || this.#now() - cached!.updatedAt < this.#retryAfterMs)) return result;
    const id = `${key.jobId}:${providerRoot}:${auditorRoot}`;
    if (!this.#inFlight.has(id)) {
      const work = this.#compare(job, model, key)
        .catch((error) => this.#log.warn({ msg: "audit comparison failed", job_id: key.jobId, err: error }))
        .finally(() => {
          this.#inFlight.delete(id);
          this.#onDone();
        });
      this.#inFlight.set(id, work);
    }
    return result ?? { state: "pending" };
  }

  /** Resolves once every comparison in progress ended (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all(this.#inFlight.values());
  }

  async #compare(job: JobTrack, model: ModelTrack | undefined, key: { jobId: string; providerRoot: Hex; auditorRoot: Hex }): Promise<void> {
    const put = (result: ComparisonJson) => this.#db.putComparison(key, result, this.#now());
    if (model === undefined) return put({ state: "unavailable", problem: `model ${job.modelId} is not registered in this deployment's events` });
    const options = { allowFileUris: false, timeoutMs: this.#fetchTimeoutMs, maxBytes: MAX_OUTPUT_BYTES };
    const [provider, auditor] = await Promise.all([
      fetchOutput({ ...options, root: key.providerRoot, inline: job.inlineOutput, uris: job.outputURIs }),
      fetchOutput({ ...options, root: key.auditorRoot, uris: [job.audit?.outputURI] }),
    ]);
    if (!provider.ok) return put({ state: "unavailable", problem: `the provider's output: ${provider.problem}` });
    if (!auditor.ok) return put({ state: "unavailable", problem: `the auditor's output: ${auditor.problem}` });
    try {
      const compared = compareOutputs({ expected: auditor.bytes, actual: provider.bytes, policy: toleranceFromChain(model.tolerance), maxBytes: MAX_OUTPUT_BYTES });
      const finite = (x: number) => (Number.isFinite(x) ? x : null);
      put({
        state: "done",
        verdict: compared.verdict,
        reason: compared.reason ?? null,
        tensors: compared.tensors.map((t) => ({
          name: t.name,
          dtype: t.dtype,
          dims: t.dims,
          elements: t.elements,
          maxAbsError: finite(t.maxAbsError),
          maxRelError: finite(t.maxRelError),
          mismatches: t.mismatches,
        })),
      });
    } catch (error) {
      // The auditor's own output does not decode, or the policy does not fit it: nothing to compare against.
      put({ state: "unavailable", problem: `cannot compare: ${(error as Error).message}` });
    }
  }
}
