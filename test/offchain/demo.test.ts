/**
 * The demo's truth-telling parts on their own (offchain/devnet/demo-events.ts): `countCheats` (how many
 * of the cheater's results were faked, slashed and paid, from the chain's events against reference roots,
 * for ordinary jobs and batches), `followEvent` (the per-job tracks of the dApp's batches and its redundant
 * jobs), `countRedundant` (the redundant jobs' disagreements and slashed seats),
 * `lifecycleTransactions` and `gasShares` (the gas per job), and the JSON summary written as the whole of
 * stdout under `npm run demo -- --json > file` (`writeStdoutAlone`, on real files).
 * `test/e2e/demo.e2e.test.ts` runs the whole demo.
 */
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { after, describe, it } from "mocha";
import type { Address, Hex } from "viem";

import { writeStdoutAlone } from "../../offchain/cli/commands/devnet.js";
import {
  countCheats,
  countRedundant,
  followEvent,
  gasShares,
  lifecycleTransactions,
  newFollowState,
  SPLIT_REVEALED,
  SPLIT_SAMPLED,
  type ChainEvent,
  type JobTrack,
  type ReplicaTrack,
  type TxEvent,
} from "../../offchain/devnet/demo-events.js";

const CHEATER: Address = "0x00000000000000000000000000000000000000c1";
const HONEST: Address = "0x00000000000000000000000000000000000000a1";
const root = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;
const REFERENCE = root(1);

const market = (name: string, args: Record<string, unknown>): ChainEvent => ({ contract: "market", name, args });
const batchMarket = (name: string, args: Record<string, unknown>): ChainEvent => ({ contract: "batchMarket", name, args });
const replicaMarket = (name: string, args: Record<string, unknown>): ChainEvent => ({ contract: "replicaMarket", name, args });
const ZERO_ROOT = root(0);
/** ReplicaStatus (IReplicaMarket). */
const AGREED = 2;
const DISPUTED = 3;
const posted = (batchId: bigint, firstJobId: bigint, count: number) => batchMarket("BatchPosted", { batchId, firstJobId, count: BigInt(count) });
const split = (batchId: bigint, jobId: bigint, index: number, status: number) => batchMarket("JobSplit", { batchId, jobId, index: BigInt(index), status });
const committed = (jobId: bigint, provider: Address = CHEATER) => market("ResultCommitted", { jobId, provider });
const revealed = (jobId: bigint, outputRoot: Hex) => market("ResultRevealed", { jobId, outputRoot });

describe("demo: countCheats", () => {
  const count = (events: ChainEvent[]) => countCheats({ cheater: CHEATER, events, referenceRootOf: () => REFERENCE });

  it("counts a made-up result as faked, and as slashed when its dispute faulted the provider", () => {
    assert.deepEqual(count([committed(1n), revealed(1n, root(9)), market("JobDisputed", { jobId: 1n }), market("DisputeSettled", { jobId: 1n, providerFaulted: true })]), {
      faked: 1,
      slashed: 1,
      finalized: 0,
    });
  });

  it("counts a faked result that was paid as finalized, directly or upheld by a dispute", () => {
    const events = [
      committed(1n),
      revealed(1n, root(9)),
      market("JobFinalized", { jobId: 1n }),
      committed(2n),
      revealed(2n, root(8)),
      market("DisputeSettled", { jobId: 2n, providerFaulted: false }),
      market("JobFinalized", { jobId: 2n }),
    ];
    assert.deepEqual(count(events), { faked: 2, slashed: 0, finalized: 2 });
  });

  it("does not count the cheater's result whose root is the reference root, nor any other provider's", () => {
    const events = [committed(1n), revealed(1n, REFERENCE), market("JobFinalized", { jobId: 1n }), committed(2n, HONEST), revealed(2n, root(9))];
    assert.deepEqual(count(events), { faked: 0, slashed: 0, finalized: 0 });
  });

  it("counts a committed result never revealed as faked, slashed when it expired as sampled (the whole collateral), not when it expired unsampled", () => {
    const events = [
      committed(1n),
      market("JobExpired", { jobId: 1n, sampled: true }),
      committed(2n),
      market("JobExpired", { jobId: 2n, sampled: false }),
      committed(3n), // still open
    ];
    assert.deepEqual(count(events), { faked: 3, slashed: 1, finalized: 0 });
  });

  it("compares roots whatever their case, and refuses a revealed result it has no reference for", () => {
    const upper = REFERENCE.toUpperCase().replace("0X", "0x") as Hex;
    assert.deepEqual(count([committed(1n), revealed(1n, upper)]).faked, 0);
    assert.throws(
      () => countCheats({ cheater: CHEATER, events: [committed(1n), revealed(1n, root(9))], referenceRootOf: () => undefined }),
      /no reference run for job 1/,
    );
  });

  it("reads only the markets' events", () => {
    const other: ChainEvent = { contract: "verification", name: "ResultCommitted", args: { jobId: 5n, provider: CHEATER } };
    assert.deepEqual(count([other]), { faked: 0, slashed: 0, finalized: 0 });
  });

  it("counts every result of the cheater's batch: split and slashed (sampled, challenged), paid with the batch, or honest by chance", () => {
    // Batch 1 holds jobs 10..13. Job 10 is sampled (split before the reveal, revealed and slashed in the
    // JobMarket), job 11 is challenged (split after it) and slashed, 12 and 13 are paid with the batch.
    const events = [
      posted(1n, 10n, 4),
      batchMarket("BatchCommitted", { batchId: 1n, provider: CHEATER }),
      split(1n, 10n, 0, SPLIT_SAMPLED),
      market("JobImported", { jobId: 10n, job: { provider: CHEATER } }),
      batchMarket("BatchRevealed", { batchId: 1n, outputRoots: [root(5), root(9), REFERENCE, root(8)] }),
      market("ResultRevealed", { jobId: 10n, outputRoot: root(7) }),
      market("DisputeSettled", { jobId: 10n, providerFaulted: true }),
      split(1n, 11n, 1, SPLIT_REVEALED),
      market("DisputeSettled", { jobId: 11n, providerFaulted: true }),
      batchMarket("BatchFinalized", { batchId: 1n, provider: CHEATER }),
    ];
    // Faked: 10, 11, 13 (12's root is the reference's); slashed: 10, 11; paid: 13 (and 12, which was right).
    assert.deepEqual(count(events), { faked: 3, slashed: 2, finalized: 1 });
  });

  it("reads a sampled split job's root from its JobMarket reveal, not the commitment its batch's reveal carries for it", () => {
    const events = [
      posted(1n, 10n, 2),
      batchMarket("BatchCommitted", { batchId: 1n, provider: CHEATER }),
      split(1n, 10n, 0, SPLIT_SAMPLED),
      batchMarket("BatchRevealed", { batchId: 1n, outputRoots: [root(5), REFERENCE] }),
      market("ResultRevealed", { jobId: 10n, outputRoot: REFERENCE }),
    ];
    assert.deepEqual(count(events), { faked: 0, slashed: 0, finalized: 0 });
    // Without its JobMarket reveal yet, it is committed and not revealed: counted as withheld so far.
    assert.deepEqual(count(events.slice(0, 4)), { faked: 1, slashed: 0, finalized: 0 });
  });

  it("counts a withheld batch's jobs as faked and its sampled ones as slashed (BatchExpired), and no honest provider's batch", () => {
    const events = [
      posted(1n, 10n, 4),
      batchMarket("BatchCommitted", { batchId: 1n, provider: CHEATER }),
      batchMarket("BatchExpired", { batchId: 1n, jobs: 4n, sampled: 2n }),
      posted(2n, 14n, 3),
      batchMarket("BatchCommitted", { batchId: 2n, provider: HONEST }),
      batchMarket("BatchRevealed", { batchId: 2n, outputRoots: [root(9), root(9), root(9)] }),
      batchMarket("BatchFinalized", { batchId: 2n, provider: HONEST }),
    ];
    assert.deepEqual(count(events), { faked: 4, slashed: 2, finalized: 0 });
  });
});

const tx = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;
const at = (event: ChainEvent, n: number): TxEvent => ({ ...event, tx: tx(n) });
const DAPP: Address = "0x00000000000000000000000000000000000000d1";

describe("demo: the jobs of the dApp's batches, from events", () => {
  it("moves every job still in the batch with a batch event, and a split job with its JobMarket events", () => {
    const jobs = new Map<bigint, JobTrack>([10n, 11n, 12n].map((id) => [id, { inputKey: "cls:a", kind: "cls", batchId: 1n, postedAt: 0 }]));
    const state = newFollowState(jobs);
    const events = [
      at(posted(1n, 10n, 3), 1),
      at(posted(2n, 20n, 2), 1), // another dApp's batch: not followed
      at(batchMarket("BatchCommitted", { batchId: 1n, provider: CHEATER }), 2),
      at(split(1n, 11n, 1, SPLIT_SAMPLED), 3),
      at(batchMarket("BatchRevealed", { batchId: 1n, outputRoots: [] }), 4),
      at(market("ResultRevealed", { jobId: 11n }), 5),
      at(market("JobDisputed", { jobId: 11n }), 6),
      at(market("DisputeSettled", { jobId: 11n, providerFaulted: true }), 7),
      at(batchMarket("BatchFinalized", { batchId: 1n }), 8),
    ];
    events.forEach((event, i) => followEvent(state, event, 1000 * (i + 1)));
    assert.deepEqual(state.counts, { batches: 1, committed: 3, revealed: 3, sampled: 1, disputes: 1, slashed: 1, redundant: 0 });
    const [a, b, c] = [jobs.get(10n)!, jobs.get(11n)!, jobs.get(12n)!];
    assert.deepEqual([a.provider, b.provider, c.provider], [CHEATER, CHEATER, CHEATER]);
    assert.deepEqual([a.outcome, b.outcome, c.outcome], ["finalized", "slashed", "finalized"]);
    assert.deepEqual([a.revealedAt, b.revealedAt, a.finalAt, b.finalAt], [5000, 6000, 9000, 8000], "the split job ends on its own, not with its batch");
    assert.deepEqual([a.sampled, b.sampled, b.split, a.split], [false, true, "sampled", undefined]);
  });
});

describe("demo: the dApp's redundant jobs, from events", () => {
  // Redundant job 1: three seats, roots differ, every seat to a committee (JobMarket jobs 30..32), the cheater's
  // seat faulted. Redundant job 2: two agreeing seats, paid at settle. Redundant job 9: someone else's.
  const seatsOf1 = [HONEST, "0x00000000000000000000000000000000000000a2", CHEATER] as Address[];
  const events: ChainEvent[] = [
    replicaMarket("ReplicaJobPosted", { replicaJobId: 1n }),
    replicaMarket("ReplicaJobPosted", { replicaJobId: 2n }),
    ...seatsOf1.map((provider, seat) => replicaMarket("ReplicaCommitted", { replicaJobId: 1n, provider, seat: BigInt(seat) })),
    replicaMarket("ReplicaCommitted", { replicaJobId: 2n, provider: HONEST, seat: 0n }),
    replicaMarket("ReplicaCommitted", { replicaJobId: 2n, provider: seatsOf1[1], seat: 1n }),
    // The settlement: each seat imported and disputed in the JobMarket, then named by ReplicaDisputed.
    ...seatsOf1.flatMap((provider, seat) => [
      market("JobImported", { jobId: 30n + BigInt(seat), job: { provider } }),
      market("JobDisputed", { jobId: 30n + BigInt(seat) }),
      replicaMarket("ReplicaDisputed", { replicaJobId: 1n, provider, seat: BigInt(seat), jobId: 30n + BigInt(seat) }),
    ]),
    replicaMarket("ReplicaJobSettled", { replicaJobId: 1n, status: DISPUTED, outputRoot: ZERO_ROOT, sampled: false }),
    replicaMarket("ReplicaJobSettled", { replicaJobId: 2n, status: AGREED, outputRoot: root(4), sampled: false }),
    replicaMarket("ReplicaPaid", { replicaJobId: 2n, provider: HONEST, seat: 0n, payout: 1n }),
    market("DisputeSettled", { jobId: 30n, providerFaulted: false }),
    market("JobFinalized", { jobId: 30n }),
    market("DisputeSettled", { jobId: 32n, providerFaulted: true }),
    market("DisputeSettled", { jobId: 7n, providerFaulted: true }), // a job of the batches
    market("DisputeSettled", { jobId: 31n, providerFaulted: false }),
    replicaMarket("ReplicaJobSettled", { replicaJobId: 9n, status: DISPUTED, outputRoot: root(5), sampled: true }), // an agreement sampled: no disagreement
  ];

  it("counts the posted jobs, the disagreements (Disputed with a zero root) and the seats their committees slashed, per provider", () => {
    const { byProvider, ...count } = countRedundant({ events });
    assert.deepEqual(count, { jobs: 2, disagreements: 1, slashed: 1 });
    assert.deepEqual(byProvider.get(CHEATER), { seats: 1, slashed: 1 });
    assert.deepEqual(byProvider.get(HONEST), { seats: 2, slashed: 0 });
  });

  it("follows each redundant job until it is settled and every disputed seat judged, apart from the batches' jobs", () => {
    const replicas = new Map<bigint, ReplicaTrack>([1n, 2n].map((id) => [id, { postedAt: 0, seats: new Map() }]));
    const state = newFollowState(new Map(), replicas);
    const finals: (number | undefined)[][] = [];
    events.forEach((event, i) => {
      followEvent(state, at(event, i), 1000 * (i + 1));
      finals.push([replicas.get(1n)!.finalAt, replicas.get(2n)!.finalAt]);
    });
    const [one, two] = [replicas.get(1n)!, replicas.get(2n)!];
    assert.equal(two.status, "agreed");
    assert.equal(one.status, "disputed");
    // Job 1 is final only with its last seat's verdict (job 31's DisputeSettled, the 24th event); job 2 at its settlement.
    assert.equal(finals.findIndex(([a]) => a !== undefined), 23);
    assert.equal(one.finalAt, 24_000);
    assert.equal(two.finalAt, 18_000);
    assert.deepEqual([...one.seats.values()].map((s) => [s.provider, s.jobId, s.faulted]), [
      [HONEST, 30n, false],
      [seatsOf1[1], 31n, false],
      [CHEATER, 32n, true],
    ]);
    assert.deepEqual(state.counts, { batches: 0, committed: 0, revealed: 0, sampled: 0, disputes: 0, slashed: 0, redundant: 2 }, "no batch job moved");
  });

  it("leaves the cheater's redundant seats out of the cheats of the batches' jobs", () => {
    const cheats = countCheats({ cheater: CHEATER, events, referenceRootOf: () => REFERENCE, jobs: new Set([7n]) });
    assert.deepEqual(cheats, { faked: 0, slashed: 0, finalized: 0 });
    assert.equal(countCheats({ cheater: CHEATER, events, referenceRootOf: () => REFERENCE }).faked, 1, "without `jobs`, its imported seat counts");
  });
});

describe("demo: gas per job", () => {
  // Jobs 1..4 in batch 1, 5..6 in batch 2, posted in one transaction after the dApp's deposit. Job 2 is
  // sampled (split, revealed and finalized in the JobMarket), job 3 split to be challenged and upheld.
  const events: TxEvent[] = [
    at(batchMarket("Deposited", { account: DAPP, amount: 1n }), 1),
    at(batchMarket("Deposited", { account: HONEST, amount: 1n }), 99), // someone else's
    at(posted(1n, 1n, 4), 2),
    at(posted(2n, 5n, 2), 2),
    at(batchMarket("BatchCommitted", { batchId: 1n, provider: HONEST }), 3),
    at(split(1n, 2n, 1, SPLIT_SAMPLED), 4),
    at(market("JobImported", { jobId: 2n }), 4),
    at(batchMarket("BatchRevealed", { batchId: 1n }), 5),
    at(market("ResultRevealed", { jobId: 2n }), 6),
    at(split(1n, 3n, 2, SPLIT_REVEALED), 7),
    at(market("JobDisputed", { jobId: 3n }), 8),
    at(batchMarket("BatchFinalized", { batchId: 1n }), 9),
    at(market("DisputeSettled", { jobId: 3n, providerFaulted: false }), 10),
    at(market("JobFinalized", { jobId: 3n }), 10),
    at(market("JobFinalized", { jobId: 2n }), 11),
  ];
  const jobs = new Set([1n, 2n, 3n, 4n, 5n, 6n]);

  it("divides each lifecycle transaction over the jobs it served, leaving out challenges and settlements", () => {
    const served = lifecycleTransactions({ events, jobs, dapp: DAPP });
    const asLists = Object.fromEntries([...served].map(([hash, ids]) => [Number(hash), [...ids].sort()]));
    assert.deepEqual(asLists, {
      1: [1n, 2n, 3n, 4n, 5n, 6n], // the deposit
      2: [1n, 2n, 3n, 4n, 5n, 6n], // the post
      3: [1n, 2n, 3n, 4n], // batch 1's commit
      4: [2n], // the sampled job's split
      5: [1n, 3n, 4n], // the reveal: job 2 had left
      6: [2n], // the sampled job's reveal
      9: [1n, 4n], // the finalize: jobs 2 and 3 had left
      11: [2n], // the sampled job's finalize
    });
  });

  it("sums each job's shares of its transactions' gas, and the shares add up to the gas of them all", () => {
    const served = lifecycleTransactions({ events, jobs, dapp: DAPP });
    const gas = new Map<Hex, bigint>([
      [tx(1), 60_000n],
      [tx(2), 600_000n],
      [tx(3), 120_000n],
      [tx(4), 90_000n],
      [tx(5), 150_000n],
      [tx(6), 70_000n],
      [tx(9), 80_000n],
      [tx(11), 100_000n],
    ]);
    const shares = gasShares(served, gas);
    assert.equal(shares.get(1n), 10_000 + 100_000 + 30_000 + 50_000 + 40_000);
    assert.equal(shares.get(2n), 10_000 + 100_000 + 30_000 + 90_000 + 70_000 + 100_000);
    assert.equal(shares.get(5n), 110_000, "batch 2 was only posted");
    const total = [...shares.values()].reduce((a, b) => a + b, 0);
    assert.equal(Math.round(total), 1_270_000);
    assert.throws(() => gasShares(served, new Map()), /no receipt read for transaction/);
  });
});

describe("demo: the JSON summary as the whole of stdout", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "dinfer-demo-stdout-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const json = `${JSON.stringify({ jobs: 20 }, null, 2)}\n`;

  /** A file opened as `> file` opens it, with `before` already written through the same descriptor. */
  function writeAfter(name: string, before: string): string {
    const file = path.join(dir, name);
    const fd = openSync(file, "w");
    try {
      if (before) writeSync(fd, before);
      writeStdoutAlone(json, fd);
    } finally {
      closeSync(fd);
    }
    return readFileSync(file, "utf8");
  }

  it("replaces npm's script banner in the file: the file is valid JSON and nothing else", () => {
    const content = writeAfter("npm.json", "\n> dinfer@0.1.0 demo\n> node bin/dinfer.js demo --json\n\n");
    assert.equal(content, json);
    assert.deepEqual(JSON.parse(content), { jobs: 20 });
  });

  it("writes to an empty file as it is, and after anything that is not a banner", () => {
    assert.equal(writeAfter("empty.json", ""), json);
    assert.equal(writeAfter("other.txt", "header line\n"), `header line\n${json}`, "someone else's content is kept");
  });
});
