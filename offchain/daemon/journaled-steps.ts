/**
 * The steps of one role's journaled jobs (a provider's batches, its redundant jobs), started at each tick
 * when due. Every write of such a job goes through `save`, which keeps a StepSchedule in step with the
 * journal: a tick costs what is due, not what is open (listing the role's open jobs from the journal at
 * every tick cost the worker's main thread ~0.5 ms per job served in `npm run bench:worker`, with none
 * open). A step that fails sleeps for a backoff (2 s, doubling per failure in a row, up to 300 s).
 */
import type { Journal, JobData, JobRole } from "../state/journal.js";
import { StepSchedule, type Wake } from "./schedule.js";

/** Backoff of a failing step: 2^failures seconds, at most this. */
const RETRY_MAX_SECONDS = 300;

export type JournaledStepsParameters<T extends JobData> = {
  journal: Journal;
  role: JobRole;
  /** Statuses whose jobs are stepped. */
  stepped: readonly string[];
  /** Statuses of unfinished jobs: the steps are idle when none is tracked and none is in flight. */
  open: readonly string[];
  /**
   * At most `max` steps of the jobs `applies` picks in flight at once (the others stay due, started at a later tick
   * or as a slot frees): a taker's steps fetch, store and run every input of a job before its claim, and a poster
   * that posts many at once must not have them all fetched and held together. Only such steps may be limited: a
   * job already run (its claim, or a commit whose receipt a restart lost) must never wait behind the runs of
   * others past its deadlines. Default: no limit.
   */
  limit?: { max: number; applies: (status: string, data: T) => boolean };
  /** One step of a job, from its journaled status and data. */
  advance: (key: bigint, status: string, data: T) => Promise<void>;
  /** A step failed; it is tried again in `retryIn` seconds (chain time). */
  failed: (key: bigint, error: unknown, retryIn: bigint) => void;
};

export class JournaledSteps<T extends JobData> {
  readonly #p: JournaledStepsParameters<T>;
  readonly #schedule = new StepSchedule();
  readonly #inFlight = new Map<bigint, Promise<void>>();
  /** Steps in flight that `limit` applies to. */
  #limitedInFlight = 0;
  readonly #failures = new Map<bigint, number>();
  #head: { number: bigint; timestamp: bigint } | undefined;
  #stopped = false;

  /** Loads the role's stepped jobs from the journal (once: later writes go through `save`). */
  constructor(parameters: JournaledStepsParameters<T>) {
    this.#p = parameters;
    for (const { jobId, status } of parameters.journal.listJobKeys({ status: [...parameters.stepped], role: parameters.role })) this.#schedule.track(jobId, status);
  }

  /** Journals the job with `status` and `data`; it is stepped while its status is one of `stepped`. */
  save(key: bigint, status: string, data: T): void {
    this.#p.journal.upsertJob<T>({ jobId: key, role: this.#p.role, status, data });
    this.#schedule.track(key, this.#p.stepped.includes(status) ? status : undefined);
  }

  /** The job's next step waits for `wake` (its block and its time, both reached). */
  sleep(key: bigint, wake: Wake): void {
    this.#schedule.sleep(key, wake);
  }

  /**
   * The job's next step is due now: started at once, at the last tick's head; or, while a step of the job is in
   * flight, due as soon as it ends (any sleep that step asks for dropped), started at the next tick.
   */
  wake(key: bigint): void {
    this.#schedule.poke(key);
    if (this.#head !== undefined) this.tick(this.#head);
  }

  /**
   * Every job in `status` is due at the next tick (`wake` for each, started at once with the last tick's head): a
   * reorg may have taken a mined step of theirs away while they sleep to a wake that step set.
   */
  wakeAll(status: string): void {
    for (const { jobId } of this.#p.journal.listJobKeys({ status, role: this.#p.role })) this.#schedule.poke(jobId);
    if (this.#head !== undefined) this.tick(this.#head);
  }

  get idle(): boolean {
    return this.#inFlight.size === 0 && this.#p.open.every((status) => this.#schedule.count(status) === 0);
  }

  /** Starts the step of every job due at `head` and not in flight. */
  tick(head: { number: bigint; timestamp: bigint }): void {
    if (this.#stopped) return;
    this.#head = head;
    const { limit } = this.#p;
    for (const { jobId: key, status } of this.#schedule.due(head, head.timestamp).jobs) {
      if (this.#inFlight.has(key)) continue;
      const record = this.#p.journal.getJob<T>(key);
      if (record === undefined || record.status !== status) {
        // Written past `save` (another process on this data dir, a hand edit): the schedule takes the journal's word.
        this.#schedule.track(key, record !== undefined && this.#p.stepped.includes(record.status) ? record.status : undefined);
        continue;
      }
      const limited = limit !== undefined && limit.applies(status, record.data);
      if (limited && this.#limitedInFlight >= limit.max) continue;
      this.#schedule.started(key);
      if (limited) this.#limitedInFlight++;
      const step = this.#p
        .advance(key, status, record.data)
        .then(() => void this.#failures.delete(key))
        .catch((error) => {
          const failures = (this.#failures.get(key) ?? 0) + 1;
          this.#failures.set(key, failures);
          const retryIn = BigInt(Math.min(RETRY_MAX_SECONDS, 2 ** failures));
          this.#schedule.sleep(key, { time: (this.#head?.timestamp ?? 0n) + retryIn });
          this.#p.failed(key, error, retryIn);
        })
        .finally(() => {
          this.#inFlight.delete(key);
          this.#schedule.ended(key);
          if (!limited) return;
          this.#limitedInFlight--;
          // A slot came free: the next due job the limit holds starts now, not at the next tick.
          if (this.#head !== undefined) this.tick(this.#head);
        });
      this.#inFlight.set(key, step);
    }
  }

  /** No step starts any more; resolves when the steps in flight are done. */
  async drain(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled([...this.#inFlight.values()]);
  }
}
