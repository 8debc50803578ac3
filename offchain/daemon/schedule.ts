/**
 * A daemon's open jobs by when their next step is due, so that starting the steps due costs what is due,
 * not what is open. A provider keeps each job it committed to open through its challenge window (a day on
 * a public chain: 86,400 jobs at one a second), asleep until then; listing them all from the journal at
 * every tick and after every run took 1.7 ms per pass with 2,000 open jobs, 24 ms with 20,000 and 128 ms
 * with 86,400 (`npm run bench:schedule`, node:sqlite on a 2-core VM), on the main thread that feeds the
 * inference threads. A verifier follows every job of its models the same way.
 *
 * A job is tracked while its status is one the daemon steps (`track`), and is at any time either due (in
 * the order it became due), asleep until its wake (a block, a time, or both: it wakes when every one it
 * names is reached, or, with `wakeOn: "any"`, the first), or mid-step (`started` till `ended`). Wakes are
 * kept in two heaps, by block and by time; a wake replaced or dropped leaves its heap entry behind, skipped
 * when it comes up. The verifier daemon uses it too (`wakeOn: "any"`, and `poke`).
 *
 * A status may be kept `apart`: its jobs due are not in `due`'s list but in `waiting()`. The provider worker
 * keeps posted jobs so: a backlog of them waits, all due, for a free prefetch slot, and a tick while every
 * slot is taken should not pass over them (`npm run bench:schedule`).
 */
import { Heap } from "heap-js";

/** When an asleep job's next step is due: at this block, at this time (chain seconds), or both. */
export type Wake = { block?: bigint; time?: bigint };

type Entry = { at: bigint; jobId: bigint; wake: Wake };

/** By wake, then by job id: jobs waking together come out lowest id first. */
const byAt = (a: Entry, b: Entry) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0);

export type StepScheduleParameters = {
  /** A wake naming a block and a time is reached when both are ("all", the default) or when either is ("any"). */
  wakeOn?: "all" | "any";
  /** A status whose jobs due are listed by `waiting()`, not by `due` (none by default). */
  apart?: string;
};

export class StepSchedule {
  readonly #wakeOn: "all" | "any";
  readonly #apart: string | undefined;
  /** Tracked jobs and their status. */
  readonly #status = new Map<bigint, string>();
  /** Tracked jobs per status. */
  readonly #counts = new Map<string, number>();
  /** Tracked jobs neither asleep nor mid-step, in the order they became due: those of the `apart` status in `#waiting`. */
  readonly #due = new Set<bigint>();
  readonly #waiting = new Set<bigint>();
  readonly #running = new Set<bigint>();
  /** Jobs mid-step that something touched meanwhile: due when the step ends, whatever wait it asks for. */
  readonly #poked = new Set<bigint>();
  readonly #wakes = new Map<bigint, Wake>();
  readonly #byBlock = new Heap<Entry>(byAt);
  readonly #byTime = new Heap<Entry>(byAt);

  constructor({ wakeOn = "all", apart }: StepScheduleParameters = {}) {
    this.#wakeOn = wakeOn;
    this.#apart = apart;
  }

  /** The set a job due with `status` is kept in. */
  #dueSet(status: string | undefined): Set<bigint> {
    return status !== undefined && status === this.#apart ? this.#waiting : this.#due;
  }

  /** Tracks `jobId` with `status` (due unless asleep or mid-step), or, with `undefined`, no longer. */
  track(jobId: bigint, status: string | undefined): void {
    const was = this.#status.get(jobId);
    if (was !== undefined) this.#counts.set(was, this.#counts.get(was)! - 1);
    if (status === undefined) {
      this.#status.delete(jobId);
      this.#due.delete(jobId);
      this.#waiting.delete(jobId);
      this.#wakes.delete(jobId);
      return;
    }
    // A job due whose status moves into or out of `apart` moves with it (to the end of its new set).
    if (this.#dueSet(was) !== this.#dueSet(status)) this.#dueSet(was).delete(jobId);
    this.#status.set(jobId, status);
    this.#counts.set(status, (this.#counts.get(status) ?? 0) + 1);
    if (!this.#wakes.has(jobId) && !this.#running.has(jobId)) this.#dueSet(status).add(jobId);
  }

  /** How many jobs are tracked with `status`. */
  count(status: string): number {
    return this.#counts.get(status) ?? 0;
  }

  /** Puts a tracked job to sleep until `wake` (replacing any earlier wake); not one poked mid-step. */
  sleep(jobId: bigint, wake: Wake): void {
    if (!this.#status.has(jobId) || this.#poked.has(jobId)) return;
    if (wake.block === undefined && wake.time === undefined) return this.wake(jobId);
    this.#wakes.set(jobId, wake);
    this.#dueSet(this.#status.get(jobId)).delete(jobId);
    // "all" waits on the block first (then on the time, if any); "any" on whichever comes first.
    if (wake.block !== undefined) this.#byBlock.push({ at: wake.block, jobId, wake });
    if (wake.time !== undefined && (wake.block === undefined || this.#wakeOn === "any")) this.#byTime.push({ at: wake.time, jobId, wake });
  }

  /** Makes an asleep job due now. */
  wake(jobId: bigint): void {
    this.#wakes.delete(jobId);
    const status = this.#status.get(jobId);
    if (status !== undefined && !this.#running.has(jobId)) this.#dueSet(status).add(jobId);
  }

  /** Something touched the job: due now, or, mid-step, as soon as the step ends (any wait it asks for dropped). */
  poke(jobId: bigint): void {
    if (this.#running.has(jobId)) {
      this.#poked.add(jobId);
      this.#wakes.delete(jobId);
    } else this.wake(jobId);
  }

  /** A step of the job started: it is neither due nor asleep till it ends. */
  started(jobId: bigint): void {
    this.#running.add(jobId);
    this.#poked.delete(jobId);
    this.#dueSet(this.#status.get(jobId)).delete(jobId);
    this.#wakes.delete(jobId);
  }

  /** The job's step ended: due again unless the step put it to sleep or it is no longer tracked. */
  ended(jobId: bigint): void {
    this.#running.delete(jobId);
    this.#poked.delete(jobId);
    const status = this.#status.get(jobId);
    if (status !== undefined && !this.#wakes.has(jobId)) this.#dueSet(status).add(jobId);
  }

  /**
   * Wakes the jobs whose wake `head` reached, and returns the jobs due (oldest first, with their status) but
   * those of the `apart` status, and whether nothing is due soon: no job due (apart or not), none asleep on a
   * block, none waking by `soon`.
   */
  due(head: { number: bigint; timestamp: bigint }, soon: bigint): { jobs: { jobId: bigint; status: string }[]; quiet: boolean } {
    for (let top = this.#current(this.#byBlock); top !== undefined && top.at <= head.number; top = this.#current(this.#byBlock)) {
      this.#byBlock.pop();
      // Woken by its block, asleep on its time still ("all"): moves to the time heap.
      if (this.#wakeOn === "all" && top.wake.time !== undefined && head.timestamp < top.wake.time) this.#byTime.push({ at: top.wake.time, jobId: top.jobId, wake: top.wake });
      else this.wake(top.jobId);
    }
    for (let top = this.#current(this.#byTime); top !== undefined && top.at <= head.timestamp; top = this.#current(this.#byTime)) {
      this.#byTime.pop();
      this.wake(top.jobId);
    }
    const jobs = [...this.#due].map((jobId) => ({ jobId, status: this.#status.get(jobId)! }));
    const nextTime = this.#current(this.#byTime)?.at;
    const quiet = jobs.length === 0 && this.#waiting.size === 0 && this.#current(this.#byBlock) === undefined && (nextTime === undefined || nextTime > soon);
    return { jobs, quiet };
  }

  /** The jobs of the `apart` status due, in the order they became due (as of the last `due`: it wakes them). */
  waiting(): IterableIterator<bigint> {
    return this.#waiting.values();
  }

  /** How many jobs of the `apart` status are due. */
  get waitingCount(): number {
    return this.#waiting.size;
  }

  /** How many jobs are tracked, due (apart or not), asleep and mid-step (what the tests check). */
  get size(): { tracked: number; due: number; asleep: number; running: number } {
    return { tracked: this.#status.size, due: this.#due.size + this.#waiting.size, asleep: this.#wakes.size, running: this.#running.size };
  }

  /** The heap's first entry that is still its job's wake (stale ones dropped on the way). */
  #current(heap: Heap<Entry>): Entry | undefined {
    for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
      if (this.#wakes.get(top.jobId) === top.wake) return top;
      heap.pop();
    }
    return undefined;
  }
}
