/**
 * The arena of the attack suite (one file per escape route of issue 10, docs/PROTOCOL.md section 8): the
 * protocol deployed through Ignition with the local terms of `ignition/parameters/local.json` unchanged
 * (5% sampling, 10% rechecks, audit and voter pay of 100% of the fee, fee 2 and collateral 100 as in the
 * README), honest verifiers, a funded audit pool, and the tools every attack test needs:
 * - `worth`: what a set of accounts owns in tokens, credits and stake, so a net is measured from balances,
 *   never from events;
 * - `until`: plays a step and, while the chain's randomness went the other way, rewinds the chain and
 *   plays it again under another coinbase (other block hashes), at the same time. It picks the world a
 *   branch of the game happens in (a sampled job, an honest auditor, a captured committee); each branch
 *   is then played by the attacker on the real contracts, and the expectation over branches uses the
 *   rates of the local terms;
 * - what honest work earns at these terms (PAYOUT, AUDIT_REWARD, VOTER_REWARD, CHALLENGE_SEAT_PAY), to compare
 *   every attack with, and what an absent auditor loses (MISSED_AUDIT_PENALTY, UNREVEALED_AUDIT_PENALTY);
 * - `expectLoss`: the assertion, with the figures in its message.
 */
import assert from "node:assert/strict";

import { formatEther, getAddress, parseEther, type Address, type Hex } from "viem";

import type { JobRecord } from "../../offchain/chain/jobs.js";
import {
  deploySystem,
  MODEL_COLLATERAL,
  ROLE_VERIFIER,
  setUpMarket,
  stake,
  VERIFIER_STAKE,
  type Connection,
} from "../helpers/fixture.js";
import { BPS, feeSplit, LOCAL_MARKET_PARAMS, marketDriver, type Wallet } from "../helpers/market.js";
import { absentAuditPenalty, auditRewardOf, challengeSeatPay, VERIFICATION_PARAMS, verificationDriver, voterRewardOf } from "../helpers/verification.js";

/** The README's job: fee 2 against the model's collateral of 100. */
export const JOB_FEE = parseEther("2");
export const COLLATERAL = MODEL_COLLATERAL;
export const M = LOCAL_MARKET_PARAMS;
export const V = VERIFICATION_PARAMS;
/** What finalize pays the provider of a JOB_FEE job at the local terms. */
export const PAYOUT = feeSplit(JOB_FEE, M).payout;
export const AUDIT_REWARD = auditRewardOf(JOB_FEE);
/** A seat's pay in a dispute the protocol opened (an audit's Disagree, a missed or unrevealed audit, a recheck), from the pool. */
export const VOTER_REWARD = voterRewardOf(JOB_FEE);
/** A seat's pay in a challenge's full committee, out of the bond: challengeBond x (1 - providerRewardBps) / seats. */
export const CHALLENGE_SEAT_PAY = challengeSeatPay(V.committeeSize);
/**
 * What an auditor that missed its blind commit on a JOB_FEE job loses: auditorPenalty, but at least the pay
 * of the committee that replaces it (3 seats x 100% of 2 = 6 > 5 at the local terms).
 */
export const MISSED_AUDIT_PENALTY = absentAuditPenalty(V.auditorPenalty, JOB_FEE);
/** What an audit committed and never revealed on a JOB_FEE job costs: challengeBond, but at least the replacing committee's pay (50 > 6). */
export const UNREVEALED_AUDIT_PENALTY = absentAuditPenalty(V.challengeBond, JOB_FEE);
export const SAMPLING = M.samplingPpm / 1e6;
export const RECHECK = V.recheckPpm / 1e6;
/** blockhash reaches 256 blocks back. */
export const BLOCKHASH_REACH = 256n;
/** What the protocol (anyone) puts in the audit pool before the game starts. */
const POOL = parseEther("1000");

export type ArenaParameters = {
  /** Honest verifiers, each staked with `verifierStake`. */
  honest?: number;
  verifierStake?: bigint;
  /** Verifier accounts the attacker controls, each staked with `sybilStake`, after the honest ones. */
  sybils?: number;
  sybilStake?: bigint;
};

/**
 * The local deployment: the provider (account 2) staked 1000, the dApp (1) funded, the challenger (5)
 * and the second key (provider2, 3) funded for bonds, `honest` verifiers and `sybils` from account 8 on,
 * and the audit pool holding POOL.
 */
export async function deployArena(conn: Connection, { honest = 6, verifierStake = VERIFIER_STAKE, sybils = 0, sybilStake = VERIFIER_STAKE }: ArenaParameters = {}) {
  // The local terms as they are: deploySystem turns sampling off unless told otherwise.
  const sys = await deploySystem(conn, { marketParams: {} });
  await setUpMarket(sys);
  for (const who of [sys.challenger, sys.provider2, sys.stranger]) {
    await sys.token.write.mint([who.account.address, parseEther("1000")]);
    await sys.token.write.approve([sys.verification.address, 2n ** 256n - 1n], { account: who.account });
  }
  await sys.market.write.fundAuditPool([POOL], { account: sys.dapp.account });
  const wallets = await conn.viem.getWalletClients();
  const verifiers = wallets.slice(8, 8 + honest);
  const sybilWallets = wallets.slice(8 + honest, 8 + honest + sybils);
  if (sybilWallets.length < sybils) throw new Error(`only ${wallets.length} accounts`);
  for (const w of verifiers) await stake(sys, w.account.address, verifierStake, ROLE_VERIFIER);
  for (const w of sybilWallets) await stake(sys, w.account.address, sybilStake, ROLE_VERIFIER);
  return { ...sys, wallets, verifiers, sybils: sybilWallets };
}

export type Arena = Awaited<ReturnType<typeof deployArena>>;

/** The drivers and measuring tools on an arena. */
export function play(conn: Connection, sys: Arena) {
  const { networkHelpers } = conn;
  const d = marketDriver({ connection: conn, ...sys });
  const v = verificationDriver({ connection: conn, sys, d, wallets: sys.wallets });
  const { token, market, verification, staking } = sys;

  /** Everything `who` owns: tokens held, market and Verification credits, active and unbonding stake. */
  async function worth(...who: (Wallet | Address)[]) {
    let total = 0n;
    for (const w of who) {
      const a = typeof w === "string" ? w : w.account.address;
      const account = await staking.read.account([a]);
      total += (await token.read.balanceOf([a])) + (await market.read.credits([a])) + (await verification.read.credits([a]));
      total += account.stake + account.unbonding;
    }
    return total;
  }

  /** Measures what `who` gain (or lose) over `run`. */
  async function net(who: (Wallet | Address)[], run: () => Promise<unknown>) {
    const before = await worth(...who);
    await run();
    return (await worth(...who)) - before;
  }

  function saveJobs() {
    return new Map<bigint, JobRecord>([...d.jobs.records].map(([id, r]) => [id, structuredClone(r)]));
  }
  function restoreJobs(saved: Map<bigint, JobRecord>) {
    d.jobs.records.clear();
    for (const [id, r] of saved) d.jobs.records.set(id, structuredClone(r));
  }

  /**
   * A saved point of the chain (and of the job tracker) to play several branches from.
   */
  async function fork() {
    const snapshot = await networkHelpers.takeSnapshot();
    const saved = saveJobs();
    return {
      async restore() {
        await snapshot.restore();
        restoreJobs(saved);
      },
    };
  }

  /**
   * Plays `step`; while `wanted()` says the chain's randomness went the other way, rewinds and plays it
   * with another block producer (another coinbase: other block hashes, another seed). Returns how many
   * worlds were tried. Only the test chooses worlds: the attacker acts after the seed exists and cannot.
   * Every world plays from the same point at the first world's time: a search, however many worlds or
   * however slow the machine, moves no deadline.
   */
  async function until(step: () => Promise<unknown>, wanted: () => Promise<boolean>, { tries = 2000 } = {}) {
    const point = await fork();
    const stepBlock = (await d.latestBlock()) + 1n;
    let stepTime: bigint | undefined; // when the first world's step ran (a time the test may have set)
    for (let attempt = 1; attempt <= tries; attempt++) {
      if (stepTime !== undefined) {
        await point.restore();
        await networkHelpers.setCoinbase(`0x${attempt.toString(16).padStart(40, "c")}`);
        // The first world's time, or the second after the fork point's block if that is later (the node may
        // date the blocks that `mine` reserved later than their first use).
        const next = BigInt(await networkHelpers.time.latest()) + 1n;
        await networkHelpers.time.setNextBlockTimestamp(stepTime > next ? stepTime : next);
      }
      await step();
      stepTime ??= (await sys.publicClient.getBlock({ blockNumber: stepBlock })).timestamp;
      if (await wanted()) return attempt;
    }
    throw new Error(`no wanted world in ${tries} tries`);
  }

  /** Mines, a second a block (the node dates no two blocks alike), until a call sent now runs in a block after `block`. */
  async function mineBeyond(block: bigint) {
    const missing = block - (await d.latestBlock());
    if (missing >= 0n) await networkHelpers.mine(missing + 1n, { interval: 0 });
  }

  /** Whether a committed job's seed samples it (mines its seed block). */
  async function sampled(jobId: bigint) {
    await mineBeyond(d.jobs.job(jobId).commitBlock + BigInt(M.seedDelay));
    const job = d.jobs.job(jobId);
    return (await market.read.samplingOf([jobId, job.commitBlock, BigInt(job.terms)]))[1];
  }

  /** Posts a JOB_FEE job (from `poster`) and has `provider` claim and commit to its (made-up or honest) root. */
  async function post({ poster = sys.dapp, overrides = {} }: { poster?: Wallet; overrides?: Record<string, unknown> } = {}) {
    return d.post({ fee: JOB_FEE, ...overrides }, poster);
  }

  /**
   * Claims and commits `jobId` as `by` (to `outputRoot`, else the driver's root for the job) in a world
   * where its seed samples it (`want`) or not, and `also()` holds.
   */
  async function commitWhere(
    jobId: bigint,
    want: boolean,
    { by = sys.provider, outputRoot, also = async () => true }: { by?: Wallet; outputRoot?: Hex; also?: () => Promise<boolean> } = {},
  ) {
    return until(
      () => d.claimAndCommit(jobId, { by, outputRoot }),
      async () => (await sampled(jobId)) === want && (await also()),
    );
  }

  /** The drawn auditor's address for a committed job whose seed is mined. */
  async function auditorAddress(jobId: bigint) {
    await mineBeyond(d.jobs.job(jobId).commitBlock + BigInt(M.seedDelay));
    return getAddress(await v.auditorOf(jobId));
  }

  /** The dispute's committee seats once drawn, as addresses. */
  async function seats(jobId: bigint) {
    return (await verification.read.dispute([jobId])).committee.map((a) => getAddress(a));
  }

  /** Votes on a drawn committee: members in `attackers` vote `attackerVote`, the others on the evidence. */
  async function voteAs(jobId: bigint, { truth, attackers = [], attackerVote }: { truth: number; attackers?: Wallet[]; attackerVote?: number }) {
    const theirs = new Set(attackers.map((w) => getAddress(w.account.address)));
    return v.vote(jobId, (member) => (theirs.has(getAddress(member.account.address)) ? (attackerVote ?? truth) : truth));
  }

  /** Ends a dispute: draws the committee, votes (see voteAs) and resolves. */
  async function judge(jobId: bigint, votes: Parameters<typeof voteAs>[1]) {
    if ((await verification.read.dispute([jobId])).committee.length === 0) await v.drawCommittee(jobId);
    await voteAs(jobId, votes);
    return v.resolve(jobId);
  }

  return { d, v, worth, net, fork, until, sampled, post, commitWhere, auditorAddress, seats, voteAs, judge };
}

export type Play = ReturnType<typeof play>;

/**
 * Asserts an attack's outcome with its figures in the message; with DINFER_ATTACK_FIGURES set, also
 * prints them (a report of every attack's net against honest work).
 */
export function expectLoss(holds: boolean, figures: string) {
  if (process.env.DINFER_ATTACK_FIGURES) console.log(`      ${holds ? "holds" : "FAILS"}: ${figures}`);
  assert.ok(holds, figures);
}

/** A signed amount of tokens with two decimals: "+1.82", "-100.00". */
export function fmt(amount: bigint | number): string {
  const n = typeof amount === "bigint" ? Number(formatEther(amount)) : amount;
  return `${n >= 0 ? "+" : ""}${n.toFixed(2)}`;
}

/** Tokens as a number, for expectations over branches. */
export function tokens(amount: bigint): number {
  return Number(formatEther(amount));
}

/** The chance that colluders holding `r` of the eligible stake win more than half of `n` seats drawn with replacement. */
export function captureChance(r: number, n = V.committeeSize): number {
  let k = 0;
  for (let j = Math.floor(n / 2) + 1; j <= n; j++) k += binomial(n, j) * r ** j * (1 - r) ** (n - j);
  return k;
}

function binomial(n: number, j: number): number {
  let c = 1;
  for (let i = 1; i <= j; i++) c = (c * (n - j + i)) / i;
  return c;
}

/** A share of an amount in basis points, rounded down as Settlement.split does. */
export function bps(amount: bigint, share: number): bigint {
  return (amount * BigInt(share)) / BPS;
}

