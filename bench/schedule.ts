/**
 * What finding the steps due costs a worker's main thread as its open jobs grow. A provider keeps every job
 * it committed to open, asleep, until its challenge window ends (86,400 s in the Sepolia example terms): at
 * one job a second that is 86,400 open jobs. The worker looks for the steps due at every tick and every
 * time a run ends.
 *
 *   npm run bench:schedule     -> prints a table, writes bench/results/schedule.json
 *
 * journal scan: what the worker did before StepSchedule: list the open jobs' keys from the journal
 *         (node:sqlite, a real file) and skip the ones asleep (a wake per job, in a Map).
 * StepSchedule: offchain/daemon/schedule.ts: the jobs asleep in heaps by wake, the due ones in a set.
 *
 * Each size holds that many jobs asleep (their challenge windows) and one due. Each figure is the median of
 * BENCH_RUNS (default 15) passes after two warm-up passes, in this process; `ratio` is the scan's time over
 * the schedule's, in the same run.
 *
 * A backlog (`backlog` in the JSON): that many posted jobs, every one due, waiting for a prefetch slot (fees of
 * 1 to 1,000 gwei). The worker passes over the steps due at each tick and each time a slot frees (once per job):
 * sort all: what it did before: find them due among the rest (StepSchedule.due), rank and value every one at
 *         every pass, sort them all, take the first;
 * one pass: what it does when a slot is free: its schedule keeps them apart (`apart: "candidate"`, `waiting()`),
 *         it values every one and takes the best (`takeBest`, offchain/provider/backlog.ts);
 * no slot free: what it does at a tick while every slot is taken: find the other steps due, none here.
 * `ratio`: sort all over one pass.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { StepSchedule, type Wake } from "../offchain/daemon/schedule.js";
import { takeBest, type Offer } from "../offchain/provider/backlog.js";
import { Journal } from "../offchain/state/journal.js";
import { machineInfo } from "./machine.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const OUT = path.resolve(process.env.BENCH_OUT ?? "bench/results/schedule.json");
const SIZES = (process.env.BENCH_SIZES ?? "200,2000,20000,86400").split(",").map(Number);
const OPEN = ["candidate", "active"];
const head = { number: 1_000n, timestamp: 1_000_000n };
const soon = head.timestamp + 10n;

const dir = mkdtempSync(path.join(tmpdir(), "dinfer-bench-schedule-"));
const rows = [];
try {
  for (const size of SIZES) {
    const journal = new Journal({ path: path.join(dir, `journal-${size}.db`) });
    const schedule = new StepSchedule();
    const wakes = new Map<bigint, Wake>();
    for (let id = 1n; id <= BigInt(size); id++) {
      journal.upsertJob({ jobId: id, role: "provider", status: "active", data: { postedBlock: 1n, modelId: 1 } });
      const wake = { time: head.timestamp + 3_600n + id };
      wakes.set(id, wake);
      schedule.track(id, "active");
      schedule.sleep(id, wake);
    }
    const fresh = BigInt(size) + 1n;
    journal.upsertJob({ jobId: fresh, role: "provider", status: "candidate", data: { postedBlock: 1n, modelId: 1 } });
    schedule.track(fresh, "candidate");

    const scan = () => {
      const due: bigint[] = [];
      for (const { jobId } of journal.listJobKeys({ status: OPEN, role: "provider" })) {
        const wake = wakes.get(jobId);
        if (wake && ((wake.block !== undefined && head.number < wake.block) || (wake.time !== undefined && head.timestamp < wake.time))) continue;
        due.push(jobId);
      }
      return due;
    };
    const scheduled = () => schedule.due(head, soon).jobs.map(({ jobId }) => jobId);
    const [a, b] = [scan(), scheduled()];
    if (a.length !== 1 || b.length !== 1 || a[0] !== fresh || b[0] !== fresh) throw new Error(`size ${size}: the two found ${a} and ${b} due, expected ${fresh}`);

    const [scanMs, scheduleMs] = [timed(scan), timed(scheduled)];
    rows.push({ openJobs: size + 1, msPerPass: { "journal scan": round(scanMs, 3), StepSchedule: round(scheduleMs, 4) }, ratio: Math.round(scanMs / scheduleMs) });
    journal.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const backlog = [];
for (const size of SIZES) {
  const [before, apart] = [new StepSchedule(), new StepSchedule({ apart: "candidate" })];
  const fees = new Map<bigint, bigint>();
  for (let id = 1n; id <= BigInt(size); id++) {
    fees.set(id, ((id * 7_919n) % 1_000n + 1n) * 10n ** 9n);
    before.track(id, "candidate");
    apart.track(id, "candidate");
  }
  // As the worker values a job: gwei per ms of the model's mean run (worker.ts, valueOf), no job failing (rank 0).
  const runMs = 40;
  const valueOf = (jobId: bigint) => Number(fees.get(jobId)! / 1_000_000_000n) / runMs;
  const failures = new Map<bigint, number>();
  const sortAll = () => {
    const fresh: { jobId: bigint; status: string; value: number }[] = [];
    for (const { jobId, status } of before.due(head, soon).jobs) {
      if ((failures.get(jobId) ?? 0) === 0) fresh.push({ jobId, status, value: valueOf(jobId) });
    }
    return fresh.sort((a, b) => b.value - a.value || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0))[0]?.jobId;
  };
  const onePass = () => {
    if (apart.due(head, soon).jobs.length !== 0) throw new Error("only posted jobs are due");
    const fresh: Offer[] = [];
    for (const jobId of apart.waiting()) if ((failures.get(jobId) ?? 0) === 0) fresh.push({ jobId, value: valueOf(jobId) });
    return takeBest(fresh)?.jobId;
  };
  const noSlot = () => apart.due(head, soon).jobs.length + apart.waitingCount;
  const [sorted, passed] = [sortAll(), onePass()];
  if (sorted === undefined || sorted !== passed) throw new Error(`backlog ${size}: sort all took job ${sorted}, one pass job ${passed}`);
  const [sortMs, passMs, idleMs] = [timed(sortAll), timed(onePass), timed(noSlot)];
  backlog.push({ postedJobs: size, msPerPass: { "sort all": round(sortMs, 4), "one pass": round(passMs, 4), "no slot free": round(idleMs, 4) }, ratio: round(sortMs / passMs, 2) });
}

console.log(`\nFinding the steps due among a worker's open jobs (all asleep but one), ms per pass on one thread (median of ${RUNS})\n`);
console.log("| open jobs | journal scan | StepSchedule | ratio |");
console.log("|---:|---:|---:|---:|");
for (const row of rows) console.log(`| ${row.openJobs} | ${row.msPerPass["journal scan"]} | ${row.msPerPass.StepSchedule} | ${row.ratio}x |`);
console.log(`\nTaking a job from a backlog of posted jobs, every one due, ms per pass on one thread (median of ${RUNS})\n`);
console.log("| posted jobs | sort all (before) | one pass (a slot free) | no slot free | ratio |");
console.log("|---:|---:|---:|---:|---:|");
for (const row of backlog) {
  console.log(`| ${row.postedJobs} | ${row.msPerPass["sort all"]} | ${row.msPerPass["one pass"]} | ${row.msPerPass["no slot free"]} | ${row.ratio}x |`);
}
mkdirSync(path.dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify({ runs: RUNS, rows, backlog, machine: machineInfo() }, null, 2)}\n`);
console.log(`\nwrote ${path.relative(process.cwd(), OUT)}`);

/** Median milliseconds of one call, over RUNS timed calls after two warm-up ones. */
function timed(pass: () => unknown): number {
  const times: number[] = [];
  for (let run = 0; run < RUNS + 2; run++) {
    const start = performance.now();
    pass();
    if (run >= 2) times.push(performance.now() - start);
  }
  return times.sort((x, y) => x - y)[Math.floor(times.length / 2)]!;
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}
