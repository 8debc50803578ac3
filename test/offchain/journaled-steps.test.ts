/**
 * JournaledSteps (offchain/daemon/journaled-steps.ts): the steps of a provider's batches and redundant jobs,
 * started when due from a StepSchedule kept in step with a real journal (node:sqlite, in memory).
 */
import assert from "node:assert/strict";

import { describe, it } from "mocha";

import { JournaledSteps } from "../../offchain/daemon/journaled-steps.js";
import { Journal } from "../../offchain/state/journal.js";

type Data = { n: number };
const at = (number: bigint, timestamp: bigint) => ({ number, timestamp });
const settle = () => new Promise((resolve) => setImmediate(resolve));

function harness(journal = new Journal({ path: ":memory:" }), stepped: readonly string[] = ["candidate", "active"], limit?: { max: number; applies: (status: string, data: Data) => boolean }) {
  const calls: { key: bigint; status: string; data: Data }[] = [];
  const failures: { key: bigint; retryIn: bigint }[] = [];
  let step: (key: bigint, status: string, data: Data) => Promise<void> = async () => {};
  const steps = new JournaledSteps<Data>({
    journal,
    role: "provider-batch",
    stepped,
    open: ["candidate", "active"],
    ...(limit === undefined ? {} : { limit }),
    advance: (key, status, data) => {
      calls.push({ key, status, data });
      return step(key, status, data);
    },
    failed: (key, _error, retryIn) => void failures.push({ key, retryIn }),
  });
  return { journal, steps, calls, failures, setStep: (s: typeof step) => (step = s) };
}

describe("daemon: JournaledSteps", () => {
  it("holds at most `limit.max` steps of the jobs it applies to in flight: the rest start as slots come free, the others never wait", async () => {
    // Candidates not run yet are limited (n < 10); a candidate already run (n = 10: its claim is due) is not.
    const { steps, calls, setStep } = harness(undefined, undefined, { max: 2, applies: (status, data) => status === "candidate" && data.n < 10 });
    const release = new Map<bigint, () => void>();
    // Each step ends asleep (as a taker's does once it waits for its claim's wake), so a finished job is not due again.
    setStep((key) => new Promise<void>((resolve) => release.set(key, () => (steps.sleep(key, { time: 1_000n }), resolve()))));
    for (const key of [1n, 2n, 3n, 4n]) steps.save(key, "candidate", { n: Number(key) });
    steps.save(5n, "active", { n: 5 });
    steps.save(6n, "candidate", { n: 10 });
    steps.tick(at(10n, 100n));
    await settle();
    assert.deepEqual(calls.map(({ key }) => key), [1n, 2n, 5n, 6n], "two candidates not run yet, the active job, and the candidate already run");
    steps.tick(at(11n, 101n));
    await settle();
    assert.equal(calls.length, 4, "no slot free: 3 and 4 still wait");
    release.get(1n)!();
    await settle();
    await settle();
    assert.deepEqual(calls.map(({ key }) => key), [1n, 2n, 5n, 6n, 3n], "3 starts as 1 ends, without a tick");
    release.get(2n)!();
    release.get(3n)!();
    await settle();
    await settle();
    assert.deepEqual(calls.map(({ key }) => key).slice(5), [4n]);
    assert.equal(steps.idle, false, "4 and 5 in flight");
  });

  it("steps a saved job at each tick with its journaled status and data, until it sleeps or leaves the stepped statuses", async () => {
    const { journal, steps, calls } = harness();
    steps.save(1n, "candidate", { n: 1 });
    steps.save(2n, "active", { n: 2 });
    assert.equal(journal.getJob<Data>(2n)?.status, "active", "save writes the journal");
    steps.tick(at(10n, 100n));
    await settle();
    assert.deepEqual(calls.map(({ key, status, data }) => [key, status, data.n]), [[1n, "candidate", 1], [2n, "active", 2]]);
    steps.sleep(1n, { block: 12n, time: 105n });
    steps.save(2n, "finalized", { n: 2 });
    calls.length = 0;
    steps.tick(at(12n, 104n));
    await settle();
    assert.deepEqual(calls, [], "1 asleep till block 12 and time 105; 2 is no longer stepped");
    steps.tick(at(12n, 105n));
    await settle();
    assert.deepEqual(calls.map(({ key }) => key), [1n]);
  });

  it("wakeAll starts the step of every job in a status at once, however long each sleeps (a reorg), and leaves the others asleep", async () => {
    const { steps, calls } = harness();
    steps.save(1n, "active", { n: 1 });
    steps.save(2n, "active", { n: 2 });
    steps.save(3n, "candidate", { n: 3 });
    steps.tick(at(10n, 100n));
    await settle();
    for (const key of [1n, 2n, 3n]) steps.sleep(key, { time: 10_000n });
    calls.length = 0;
    steps.wakeAll("active");
    await settle();
    assert.deepEqual(calls.map(({ key }) => key).sort(), [1n, 2n], "both active jobs, with no tick; the candidate sleeps on");
  });

  it("wake starts an asleep job's step at once, at the last tick's head, without waiting for the next tick", async () => {
    const { steps, calls } = harness();
    steps.save(1n, "candidate", { n: 1 });
    steps.wake(1n);
    await settle();
    assert.deepEqual(calls, [], "no tick yet: no head to step at");
    steps.tick(at(10n, 100n));
    await settle();
    steps.sleep(1n, { time: 101n });
    calls.length = 0;
    steps.wake(1n);
    await settle();
    assert.deepEqual(calls.map(({ key }) => key), [1n], "stepped before time 101, with no tick");
  });

  it("wake during the job's own step is not lost: the sleep that step then asks for is dropped, and the job is due when it ends", async () => {
    const { steps, calls, setStep } = harness();
    let release!: () => void;
    setStep(() => new Promise<void>((resolve) => (release = resolve)));
    steps.save(1n, "candidate", { n: 1 });
    steps.tick(at(10n, 100n));
    await settle();
    assert.equal(calls.length, 1, "in flight");
    // A waiting check's wake comes (a claim of ours mined) before the step that checked has gone to sleep.
    steps.wake(1n);
    steps.sleep(1n, { time: 200n });
    setStep(async () => {});
    release();
    await settle();
    steps.tick(at(10n, 100n));
    await settle();
    assert.equal(calls.length, 2, "stepped again at the next tick, not at time 200");
  });

  it("never starts a job's step while its last one is in flight, and is idle only with no open job and none in flight", async () => {
    const { steps, calls, setStep } = harness();
    let release!: () => void;
    setStep(() => new Promise<void>((resolve) => (release = resolve)));
    assert.equal(steps.idle, true);
    steps.save(1n, "candidate", { n: 1 });
    assert.equal(steps.idle, false);
    steps.tick(at(1n, 1n));
    steps.tick(at(2n, 2n));
    assert.equal(calls.length, 1, "one step in flight");
    steps.save(1n, "passed", { n: 1 });
    assert.equal(steps.idle, false, "its step is still in flight");
    release();
    await settle();
    assert.equal(steps.idle, true);
  });

  it("backs a failing step off 2, 4, 8 s (chain time) and resets after a success", async () => {
    const { steps, calls, failures, setStep } = harness();
    let fail = true;
    setStep(async () => {
      if (fail) throw new Error("node down");
    });
    steps.save(7n, "active", { n: 7 });
    let now = 1_000n;
    for (const retryIn of [2n, 4n, 8n]) {
      steps.tick(at(1n, now));
      await settle();
      assert.equal(failures.at(-1)?.retryIn, retryIn);
      calls.length = 0;
      steps.tick(at(1n, now + retryIn - 1n));
      await settle();
      assert.equal(calls.length, 0, `asleep ${retryIn} s`);
      now += retryIn;
    }
    fail = false;
    steps.tick(at(1n, now));
    await settle();
    fail = true;
    steps.tick(at(1n, now));
    await settle();
    assert.equal(failures.at(-1)?.retryIn, 2n, "the backoff starts over after a success");
  });

  it("loads the stepped jobs a restart finds in the journal, and takes the journal's word over a write made past save", async () => {
    const journal = new Journal({ path: ":memory:" });
    journal.upsertJob<Data>({ jobId: 1n, role: "provider-batch", status: "active", data: { n: 1 } });
    journal.upsertJob<Data>({ jobId: 2n, role: "provider-batch", status: "skipped", data: { n: 2 } });
    journal.upsertJob<Data>({ jobId: 3n, role: "provider-replica", status: "active", data: { n: 3 } });
    const plain = harness(journal);
    plain.steps.tick(at(1n, 1n));
    await settle();
    assert.deepEqual(plain.calls.map(({ key }) => key), [1n], "its role's open jobs only");
    const keeper = harness(journal, ["candidate", "active", "skipped"]);
    // Another process ends job 1 behind this one's back: its next tick reads the journal and drops it.
    journal.upsertJob<Data>({ jobId: 1n, role: "provider-batch", status: "finalized", data: { n: 1 } });
    keeper.steps.tick(at(1n, 1n));
    await settle();
    assert.deepEqual(keeper.calls.map(({ key, status }) => [key, status]), [[2n, "skipped"]]);
    keeper.calls.length = 0;
    keeper.steps.tick(at(2n, 2n));
    await settle();
    assert.deepEqual(keeper.calls.map(({ key }) => key), [2n], "job 1 is no longer stepped");
  });

  it("starts nothing after drain, which waits for the steps in flight", async () => {
    const { steps, calls, setStep } = harness();
    let done = false;
    setStep(async () => {
      await settle();
      done = true;
    });
    steps.save(1n, "active", { n: 1 });
    steps.tick(at(1n, 1n));
    await steps.drain();
    assert.equal(done, true);
    steps.save(2n, "active", { n: 2 });
    steps.tick(at(2n, 2n));
    assert.equal(calls.length, 1);
  });
});
