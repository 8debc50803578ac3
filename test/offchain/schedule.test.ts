/**
 * StepSchedule (offchain/daemon/schedule.ts): which of a worker's open jobs are due at a head, without
 * looking at the ones asleep.
 */
import assert from "node:assert/strict";

import { describe, it } from "mocha";

import { StepSchedule } from "../../offchain/daemon/schedule.js";

const at = (number: bigint, timestamp: bigint) => ({ number, timestamp });
const dueIds = (schedule: StepSchedule, head = at(100n, 1_000n), soon = 1_010n) => schedule.due(head, soon).jobs.map(({ jobId }) => jobId);

describe("daemon: StepSchedule", () => {
  it("lists tracked jobs due in the order they became due, with their status; untracked ones never", () => {
    const s = new StepSchedule();
    s.track(3n, "candidate");
    s.track(1n, "active");
    s.track(2n, "candidate");
    s.track(1n, "skipped"); // a status change keeps its place
    assert.deepEqual(s.due(at(100n, 1_000n), 1_010n).jobs, [
      { jobId: 3n, status: "candidate" },
      { jobId: 1n, status: "skipped" },
      { jobId: 2n, status: "candidate" },
    ]);
    s.track(3n, undefined);
    assert.deepEqual(dueIds(s), [1n, 2n]);
    assert.equal(s.size.tracked, 2);
  });

  it("keeps an asleep job out until the head reaches its block, its time, or both when it names both", () => {
    const s = new StepSchedule();
    for (const id of [1n, 2n, 3n]) s.track(id, "active");
    s.sleep(1n, { block: 105n });
    s.sleep(2n, { time: 1_050n });
    s.sleep(3n, { block: 105n, time: 1_050n });
    assert.deepEqual(dueIds(s, at(104n, 1_049n)), []);
    assert.deepEqual(dueIds(s, at(105n, 1_049n)), [1n], "block reached, time not: 3 sleeps on");
    assert.deepEqual(dueIds(s, at(105n, 1_050n)), [1n, 2n, 3n]);
    // Time reached first, block later.
    s.track(4n, "active");
    s.sleep(4n, { block: 200n, time: 900n });
    assert.ok(!dueIds(s, at(199n, 2_000n)).includes(4n));
    assert.ok(dueIds(s, at(200n, 2_000n)).includes(4n));
  });

  it("a job mid-step is not due; when its step ends it is due again unless the step put it to sleep or ended it", () => {
    const s = new StepSchedule();
    for (const id of [1n, 2n, 3n]) s.track(id, "candidate");
    for (const id of [1n, 2n, 3n]) s.started(id);
    assert.deepEqual(dueIds(s), []);
    s.track(1n, "active"); // journaled mid-step
    s.sleep(2n, { time: 5_000n });
    s.track(3n, undefined); // ended mid-step
    for (const id of [1n, 2n, 3n]) s.ended(id);
    assert.deepEqual(dueIds(s), [1n]);
    assert.deepEqual(s.size, { tracked: 2, due: 1, asleep: 1, running: 0 });
  });

  it("a replaced or dropped wake leaves no early wake behind", () => {
    const s = new StepSchedule();
    s.track(1n, "active");
    s.sleep(1n, { block: 101n });
    s.sleep(1n, { block: 110n }); // replaced: the entry at 101 is stale
    assert.deepEqual(dueIds(s, at(101n, 1_000n)), []);
    assert.deepEqual(dueIds(s, at(110n, 1_000n)), [1n]);
    // Started (its wake dropped), asleep again later: the old entry does not wake it.
    s.track(2n, "active");
    s.sleep(2n, { time: 1_100n });
    s.started(2n);
    s.sleep(2n, { time: 1_300n });
    s.ended(2n);
    assert.ok(!dueIds(s, at(120n, 1_200n)).includes(2n));
    assert.ok(dueIds(s, at(120n, 1_300n)).includes(2n));
  });

  it("quiet: nothing due, nothing asleep on a block, nothing waking by `soon`", () => {
    const s = new StepSchedule();
    assert.equal(s.due(at(1n, 1_000n), 1_010n).quiet, true);
    s.track(1n, "active");
    assert.equal(s.due(at(1n, 1_000n), 1_010n).quiet, false, "a job due");
    s.sleep(1n, { time: 1_011n });
    assert.equal(s.due(at(1n, 1_000n), 1_010n).quiet, true, "waking after soon");
    s.sleep(1n, { time: 1_010n });
    assert.equal(s.due(at(1n, 1_000n), 1_010n).quiet, false, "waking by soon");
    s.sleep(1n, { block: 50n });
    assert.equal(s.due(at(1n, 1_000n), 1_010n).quiet, false, "asleep on a block");
    s.track(1n, undefined);
    assert.equal(s.due(at(1n, 1_000n), 1_010n).quiet, true, "an untracked job's wake counts for nothing");
  });

  it("an untracked job cannot be put to sleep or woken into the due list", () => {
    const s = new StepSchedule();
    s.sleep(7n, { time: 1n });
    s.wake(7n);
    s.ended(7n);
    assert.deepEqual(dueIds(s), []);
    assert.deepEqual(s.size, { tracked: 0, due: 0, asleep: 0, running: 0 });
  });

  it('wakeOn "any" (the verifier): a job wakes at the first of its block and its time', () => {
    const s = new StepSchedule({ wakeOn: "any" });
    for (const id of [1n, 2n, 3n]) s.track(id, "auditor");
    s.sleep(1n, { block: 105n, time: 1_050n });
    s.sleep(2n, { block: 105n, time: 1_050n });
    s.sleep(3n, { block: 105n, time: 1_050n });
    assert.deepEqual(dueIds(s, at(104n, 1_049n)), []);
    assert.deepEqual(dueIds(s, at(105n, 1_000n)), [1n, 2n, 3n], "the block came first");
    for (const id of [1n, 2n]) {
      s.started(id);
      s.sleep(id, { block: 200n, time: 1_100n });
      s.ended(id);
    }
    assert.deepEqual(dueIds(s, at(106n, 1_100n)), [3n, 1n, 2n], "the time came first; the stale entries of the first wakes are skipped");
  });

  it("poke: a job due now, or, mid-step, due when its step ends whatever wait the step asked for", () => {
    const s = new StepSchedule({ wakeOn: "any" });
    s.track(1n, "auditor");
    s.track(2n, "auditor");
    s.sleep(1n, { time: 9_999n });
    s.poke(1n);
    s.started(2n);
    s.poke(2n);
    s.sleep(2n, { time: 9_999n }); // the step's wait, asked after the poke: dropped
    assert.deepEqual(dueIds(s), [1n]);
    s.ended(2n);
    assert.deepEqual(dueIds(s), [1n, 2n]);
    // The poke holds for that step only: the next step's wait counts.
    s.started(2n);
    s.sleep(2n, { time: 9_999n });
    s.ended(2n);
    assert.deepEqual(dueIds(s), [1n]);
  });

  it("counts tracked jobs per status as they come, change and go", () => {
    const s = new StepSchedule();
    s.track(1n, "auditor");
    s.track(2n, "auditor");
    s.track(3n, "verifier-batch");
    s.track(2n, "verifier-batch");
    s.track(1n, undefined);
    s.track(9n, undefined);
    assert.deepEqual([s.count("auditor"), s.count("verifier-batch"), s.count("other")], [0, 2, 0]);
  });

  it("apart (the provider's posted jobs): its jobs due are listed by waiting(), not by due; a status change moves a due job across in either direction", () => {
    const s = new StepSchedule({ apart: "candidate" });
    s.track(1n, "candidate");
    s.track(2n, "active");
    s.track(3n, "candidate");
    assert.deepEqual(s.due(at(100n, 1_000n), 1_010n), { jobs: [{ jobId: 2n, status: "active" }], quiet: false });
    assert.deepEqual([...s.waiting()], [1n, 3n], "in the order they became due");
    assert.equal(s.waitingCount, 2);
    assert.deepEqual(s.size, { tracked: 3, due: 3, asleep: 0, running: 0 });
    // Claimed: no longer waiting, due with its new status; and back.
    s.track(1n, "active");
    assert.deepEqual(dueIds(s), [2n, 1n]);
    assert.deepEqual([...s.waiting()], [3n]);
    s.track(2n, "candidate");
    assert.deepEqual(dueIds(s), [1n]);
    assert.deepEqual([...s.waiting()], [3n, 2n]);
    // Mid-step, asleep or untracked: not waiting; woken or ended: waiting again.
    s.started(3n);
    s.sleep(2n, { time: 1_005n });
    assert.deepEqual([...s.waiting()], []);
    assert.deepEqual(s.due(at(100n, 1_005n), 1_010n).jobs, [{ jobId: 1n, status: "active" }]);
    assert.deepEqual([...s.waiting()], [2n], "woken by the head");
    s.ended(3n);
    assert.deepEqual([...s.waiting()], [2n, 3n]);
    s.track(2n, undefined);
    assert.deepEqual([...s.waiting()], [3n]);
    assert.deepEqual(s.size, { tracked: 2, due: 2, asleep: 0, running: 0 });
  });

  it("apart: a job waiting keeps the schedule from being quiet, though due lists nothing", () => {
    const s = new StepSchedule({ apart: "candidate" });
    s.track(1n, "candidate");
    assert.deepEqual(s.due(at(1n, 1_000n), 1_010n), { jobs: [], quiet: false });
    s.started(1n);
    assert.deepEqual(s.due(at(1n, 1_000n), 1_010n), { jobs: [], quiet: true });
  });

  it("a tick with 20,000 jobs asleep looks only at the heap tops: the due list is what woke", () => {
    const s = new StepSchedule();
    for (let id = 1n; id <= 20_000n; id++) {
      s.track(id, "active");
      s.sleep(id, { time: 10_000n + id });
    }
    s.track(20_001n, "candidate");
    assert.deepEqual(dueIds(s, at(1n, 10_002n)), [20_001n, 1n, 2n], "the one never asleep, then the two woken");
    assert.deepEqual(s.size, { tracked: 20_001, due: 3, asleep: 19_998, running: 0 });
  });
});
