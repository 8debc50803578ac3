/**
 * The audit comparison a job page shows: the auditor's revealed output against the provider's, under the
 * model's tolerance (offchain/codec/tolerance.ts, `compareOutputs`: max abs and rel error and mismatches per
 * tensor, the verdict the policy gives). The chain holds only the two roots and the auditor's verdict, so the
 * explorer fetches both outputs from the locations their reveals named (each checked against its root,
 * offchain/storage/output.ts) and compares them itself, once: the result is kept in the explorer's file.
 *
 * The locations are the provider's and the auditor's to choose, so only those `screenLocations` allows are
 * fetched (offchain/explorer/locations.ts: http(s) and ipfs, and no private or loopback host unless
 * `allowPrivateHosts`); a refused one is named, with why, in the comparison's problem.
 *
 * Equal roots need no fetch ("identical"). An output no location serves right now is "unavailable" and tried
 * again after `retryAfterMs`; a comparison in progress is "pending", and `onDone` is told when it ends (the
 * page then updates).
 */
import type { Hex } from "viem";

import { compareOutputs, toleranceFromChain } from "../codec/tolerance.js";
import { silentLogger, type Logger } from "../log.js";
import { fetchOutput, type FetchedOutput } from "../storage/output.js";
import type { ExplorerDb } from "./db.js";
import { screenLocations, type ResolveHost } from "./locations.js";
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
  /** Fetch from hosts on loopback, private and link-local addresses too (a devnet, tests); off by default. */
  allowPrivateHosts?: boolean;
  /** Resolves a location's hostname for that check (node:dns by default). */
  resolveHost?: ResolveHost;
  /** Told when a comparison finished (done or unavailable). */
  onDone?: () => void;
  logger?: Logger;
  now?: () => number;
};

export class AuditComparisons {
  readonly #db: ExplorerDb;
  readonly #fetchTimeoutMs: number;
  readonly #retryAfterMs: number;
  readonly #allowPrivateHosts: boolean;
  readonly #resolveHost: ResolveHost | undefined;
  readonly #onDone: () => void;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #inFlight = new Map<string, Promise<void>>();

  constructor({
    db,
    fetchTimeoutMs = 5_000,
    retryAfterMs = 30_000,
    allowPrivateHosts = false,
    resolveHost,
    onDone = () => undefined,
    logger = silentLogger(),
    now = Date.now,
  }: AuditComparisonsParameters) {
    this.#db = db;
    this.#fetchTimeoutMs = fetchTimeoutMs;
    this.#retryAfterMs = retryAfterMs;
    this.#allowPrivateHosts = allowPrivateHosts;
    this.#resolveHost = resolveHost;
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
    const [provider, auditor] = await Promise.all([
      this.#fetch({ root: key.providerRoot, inline: job.inlineOutput, uris: job.outputURIs }),
      this.#fetch({ root: key.auditorRoot, uris: [job.audit?.outputURI] }),
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

  /** One output from its inline bytes or the locations `screenLocations` allows; the problem names each refused one. */
  async #fetch({ root, inline, uris }: { root: Hex; inline?: Hex; uris: readonly (string | undefined)[] }): Promise<FetchedOutput> {
    const { allowed, refused } = await screenLocations(uris, { allowPrivateHosts: this.#allowPrivateHosts, resolve: this.#resolveHost });
    const hasInline = inline !== undefined && inline.length > 2;
    if (allowed.length === 0 && !hasInline && refused.length > 0) return { ok: false, problem: refused.join("; ") };
    // Screened again as it is fetched: a host whose DNS answer changed since the screen, or a redirect to a private host.
    const fetched = await fetchOutput({ allowFileUris: false, allowPrivateHosts: this.#allowPrivateHosts, timeoutMs: this.#fetchTimeoutMs, maxBytes: MAX_OUTPUT_BYTES, root, inline, uris: allowed });
    return fetched.ok || refused.length === 0 ? fetched : { ok: false, problem: [...refused, fetched.problem].join("; ") };
  }
}
