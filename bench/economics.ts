/**
 * Why cheating does not pay (docs/PROTOCOL.md section 8), in tokens per job, from the contracts' real
 * payouts.
 *
 *   npm run bench:economics   -> prints a table, writes bench/results/economics.json,
 *                                exits 1 if any cheating strategy is not below honest work (at C = P
 *                                and C = P/2), if honest auditing or voting loses money at C = P/2, or
 *                                if the committee draws stray from k(r) (section 2 below)
 *
 * 1. Outcomes, measured. The system is deployed on an in-process EDR chain with the Ignition module and
 *    `ignition/parameters/local.json` as they are (sampling at its local rate). Each outcome a strategy can
 *    meet (an honest job finalized, a made-up result caught by its auditor, the same with a self-challenge,
 *    a withheld sampled reveal, a captured committee, a lazy Agree rechecked or paid, a voter with and
 *    against the quorum, a member holding two of the seats, an audit missed or committed and never revealed,
 *    a griefer's challenge upheld, whose committee the bond pays) is played once, and every party's holdings
 *    are read before and after: token balance + JobMarket credits + Verification credits + stake (active
 *    and unbonding). Those deltas are
 *    the payoffs; the audit pool, protocol fees and treasury are read too. The tokens the parties and the
 *    contracts hold must sum to the same before and after (else a party is missing and the run stops);
 *    each contract's books (credits, pools, treasury, stake) must move with its tokens, and each payoff
 *    must be the one docs/PROTOCOL.md states: a difference is printed and written to the JSON
 *    (`accountingErrors`, `specMismatches`). A branch that depends on a seed (sampled or not, rechecked or
 *    not, the committee's shape) is reached by choosing the commitment's salt (for a committee, the
 *    timestamp of the block after the dispute opened): a snapshot is taken, the step is tried, and
 *    restored with a new salt until the seed falls the way the branch needs. The probability of each
 *    branch is not taken from these runs; it is applied in step 3.
 * 2. Draws, measured. On a second chain, `Staking.drawVerifier` is called over many seeds with an
 *    attacker holding a third of the verifier stake in one account, then the same stake split over four:
 *    the share of draws it wins, and the seats it wins in committees drawn as `Verification.drawCommittee`
 *    draws them (each seat its own draw, with replacement, the provider, the poster and the honest auditor
 *    that opened the dispute excluded). The share of committees with a colluding majority must be the
 *    same in both layouts and match the binomial `k(r)` at the attacker's share of the ELIGIBLE stake
 *    (the honest auditor's excluded): a gap past 4 standard errors fails the run.
 * 3. Strategies, combined. With sampling rate p (the terms' samplingPpm), the attacker's share r of the
 *    verifier stake, the committee capture probability k, the recheck rate q (recheckPpm) and a compute
 *    cost C per run of the job (C = the provider's payout P, the worst case the README's bound uses, and
 *    C = P/2), each strategy's expected profit per job is the measured payoffs weighted by the chance of
 *    each branch. A provider's break-even sampling rate is where its expected profit equals honest work's:
 *    p* = C / (honest sampled payoff - cheater's sampled payoff), since both are paid the same when not
 *    sampled. Auditors and voters do not pull the sampling lever: their break-even is on their own lever.
 *
 * Conservative choices (each favours the cheater): a colluding auditor's audit reward and a colluding
 * voter's pay count in the cheater's profit, and the honest provider earns nothing from its own verifier
 * stake; the committee capture probability is whichever model gives the cheater most: the binomial
 * `k(r)` at r = its share of all verifier stake, the same at its share of the eligible stake (the honest
 * auditor excluded: section 8's `r`), and the shares measured on the contract's own draws (one account,
 * split); the cheater withholds when that beats revealing to an honest auditor; gas is not counted
 * (every party pays it). The audit pool is funded so that rewards are paid in full; what it gains and
 * pays per job at the local terms is reported beside the strategies.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { network } from "hardhat";
import { encodeAbiParameters, formatEther, keccak256, parseAbiParameters, parseEther, toHex, type Address, type Hash, type Hex } from "viem";

import { JobStatus } from "../offchain/chain/jobs.js";
import { commitment } from "../offchain/codec/commitment.js";
import {
  deploySystem,
  jobRequest,
  jobTracker,
  MODEL_COLLATERAL,
  ROLE_PROVIDER,
  ROLE_VERIFIER,
  setUpMarket,
  stake,
  type Connection,
  type System,
} from "../test/helpers/fixture.js";
import { machineInfo } from "./machine.js";

const FEE = parseEther("2");
const AUDIT_POOL_FUNDING = parseEther("1000");
const VERIFIER_STAKE = parseEther("200");
/** Honest verifiers on the outcome chain (accounts 8..): a committee of 3 always finds its members. */
const OUTCOME_VERIFIERS = 6;
const DRAWS = Number(process.env.BENCH_DRAWS ?? 4000);
const COMMITTEES = Number(process.env.BENCH_COMMITTEES ?? 4000);
/** A draw statistic further than this many standard errors from what it should be fails the run. */
const DRAW_Z_LIMIT = 4;
const MAX_TRIES = 200;
/** The Sybil attacker's share of the verifier stake. */
const SYBIL_R = 1 / 3;

const Vote = { ProviderCorrect: 1, ProviderWrong: 2, AuditorWrong: 3 } as const;
const Verdict = { Agree: 0, Disagree: 1 } as const;
type VoteValue = (typeof Vote)[keyof typeof Vote];

const started = Date.now();
const tok = (wei: bigint) => Number(formatEther(wei));
const round = (x: number) => Math.round(x * 1e6) / 1e6;
const local = JSON.parse(await readFile("ignition/parameters/local.json", "utf8")).DinferLocal;

// ---------------------------------------------------------------- 1. outcomes, measured

const connection = await network.create();
const sys = await deploySystem(connection, { marketParams: {} }); // the local terms as they are
const { token, staking, market, verification, terms, dapp, provider, provider2, keeper, publicClient } = sys;
const { modelId } = await setUpMarket(sys);
const version = await market.read.termsVersion();
const [marketTerms, verificationTerms] = await terms.read.termsOf([BigInt(version)]);
const wallets = await connection.viem.getWalletClients();
const verifiers = wallets.slice(8, 8 + OUTCOME_VERIFIERS);
for (const w of verifiers) await stake(sys, w.account.address, VERIFIER_STAKE, ROLE_VERIFIER);
// Audit rewards and voter pay come from the audit pool "as much as it holds": funded here so that every
// payoff below is the full one the terms promise.
await token.write.mint([keeper.account.address, AUDIT_POOL_FUNDING]);
await token.write.approve([market.address, AUDIT_POOL_FUNDING], { account: keeper.account });
await market.write.fundAuditPool([AUDIT_POOL_FUNDING], { account: keeper.account });

const driver = jobDriver(connection, sys);
const outcomes: Record<string, Outcome> = {};

type Outcome = {
  description: string;
  deltas: Record<string, bigint>;
  /** Per contract, what its books gained (credits, pools, treasury, stake) less the tokens it gained: zero when sound. */
  booksMinusTokens: Record<string, bigint>;
};
type Parties = Record<string, Address>;
type Holdings = { balance: bigint; marketCredits: bigint; verificationCredits: bigint; staked: bigint };

/** A party's holdings: token balance, credits in both contracts, active and unbonding stake. */
async function holdings(who: Address): Promise<Holdings> {
  const [balance, marketCredits, verificationCredits, acct] = await Promise.all([
    token.read.balanceOf([who]),
    market.read.credits([who]),
    verification.read.credits([who]),
    staking.read.account([who]),
  ]);
  return { balance, marketCredits, verificationCredits, staked: acct.stake + acct.unbonding };
}
const total = (h: Holdings) => h.balance + h.marketCredits + h.verificationCredits + h.staked;

/** The contracts' own books and token balances. */
async function contracts() {
  const [auditPool, protocolFees, treasury, marketTokens, verificationTokens, stakingTokens] = await Promise.all([
    market.read.auditPool(),
    market.read.protocolFees(),
    verification.read.treasury(),
    token.read.balanceOf([market.address]),
    token.read.balanceOf([verification.address]),
    token.read.balanceOf([staking.address]),
  ]);
  return { auditPool, protocolFees, treasury, marketTokens, verificationTokens, stakingTokens };
}

/**
 * Plays one outcome and records what each party gained or lost. `parties` may be filled while the run
 * goes (an auditor or committee known only once drawn); a party's "before" is read when it is named,
 * which is before it has taken any part. Two checks: the tokens the parties and the contracts hold sum
 * to the same before and after (else a party is missing: the run throws), and each contract's books
 * (credits, pools, treasury, stake) move with its tokens (else it is recorded as an accounting error).
 */
async function measure(
  name: string,
  description: string,
  run: (parties: Parties, name: (role: string, who: Address) => Promise<void>) => Promise<void>,
) {
  const parties: Parties = {};
  const before = new Map<string, Holdings>();
  const c0 = await contracts();
  const nameParty = async (role: string, who: Address) => {
    parties[role] = who;
    before.set(role, await holdings(who));
  };
  await nameParty("provider", provider.account.address);
  await nameParty("poster", dapp.account.address);
  await run(parties, nameParty);
  const c1 = await contracts();
  const deltas: Record<string, bigint> = {};
  const books = { JobMarket: 0n, Verification: 0n, Staking: 0n };
  let tokensMoved = 0n;
  for (const [role, who] of Object.entries(parties)) {
    const [h0, h1] = [before.get(role)!, await holdings(who)];
    deltas[role] = total(h1) - total(h0);
    books.JobMarket += h1.marketCredits - h0.marketCredits;
    books.Verification += h1.verificationCredits - h0.verificationCredits;
    books.Staking += h1.staked - h0.staked;
    tokensMoved += h1.balance - h0.balance;
  }
  for (const pot of ["auditPool", "protocolFees", "treasury"] as const) deltas[pot] = c1[pot] - c0[pot];
  books.JobMarket += deltas.auditPool! + deltas.protocolFees!;
  books.Verification += deltas.treasury!;
  const tokens = {
    JobMarket: c1.marketTokens - c0.marketTokens,
    Verification: c1.verificationTokens - c0.verificationTokens,
    Staking: c1.stakingTokens - c0.stakingTokens,
  };
  tokensMoved += tokens.JobMarket + tokens.Verification + tokens.Staking;
  if (tokensMoved !== 0n) throw new Error(`${name}: ${formatEther(tokensMoved)} tokens appeared or vanished: a party is missing`);
  const booksMinusTokens: Record<string, bigint> = {};
  for (const c of ["JobMarket", "Verification", "Staking"] as const) {
    if (books[c] !== tokens[c]) booksMinusTokens[c] = books[c] - tokens[c];
  }
  outcomes[name] = { description, deltas, booksMinusTokens };
  return deltas;
}

const madeUp = (jobId: bigint) => keccak256(toHex(`made-up output of job ${jobId}`));
const trueOutput = (jobId: bigint) => keccak256(toHex(`true output of job ${jobId}`));

await measure("honestUnsampled", "honest result, not sampled, finalized", async () => {
  const jobId = await driver.post();
  await driver.commit(jobId, trueOutput(jobId), { sampled: false });
  await driver.reveal(jobId);
  await driver.finalize(jobId);
});

await measure("madeUpUnsampled", "made-up result, not sampled, finalized (nobody looks)", async () => {
  const jobId = await driver.post();
  await driver.commit(jobId, madeUp(jobId), { sampled: false });
  await driver.reveal(jobId);
  await driver.finalize(jobId);
});

await measure(
  "honestSampled",
  "honest result, sampled, auditor commits the same root blind, Agree, finalized (auditor paid); on-chain the same as a made-up result with a colluding auditor",
  async (_, name) => {
    const jobId = await driver.post();
    await driver.commit(jobId, trueOutput(jobId), { sampled: true });
    const auditor = await driver.auditor(jobId);
    await name("auditor", auditor.account.address);
    await driver.commitAudit(jobId, auditor, trueOutput(jobId));
    await driver.reveal(jobId);
    await driver.revealAudit(jobId, Verdict.Agree);
    await driver.finalize(jobId);
  },
);

/** A sampled made-up result whose honest auditor disagrees; `before` runs between the reveal and the audit's reveal. */
async function caughtJob(name: (role: string, who: Address) => Promise<void>, before?: (jobId: bigint) => Promise<void>) {
  const jobId = await driver.post();
  await driver.commit(jobId, madeUp(jobId), { sampled: true });
  const auditor = await driver.auditor(jobId);
  await name("auditor", auditor.account.address);
  await driver.commitAudit(jobId, auditor, trueOutput(jobId));
  await driver.reveal(jobId);
  if (before) await before(jobId);
  await driver.revealAudit(jobId, Verdict.Disagree);
  return jobId;
}

/**
 * Draws a committee of the given shape, names its distinct members (`voter0`, ... by seats held, most
 * first), has each vote once (`votes`, one per distinct member), resolves.
 */
async function judge(jobId: bigint, name: (role: string, who: Address) => Promise<void>, votes: VoteValue[], shape: Shape = "distinct") {
  const members = await driver.drawCommittee(jobId, shape);
  if (members.length !== votes.length) throw new Error(`committee of ${members.length} members, expected ${votes.length}`);
  for (const [i, m] of members.entries()) await name(`voter${i}`, m.account.address);
  await driver.vote(jobId, members, votes);
  await driver.resolve(jobId);
}

const n = verificationTerms.committeeSize;
/** The committee an outcome needs: every seat a different member, or one member holding two seats. */
type Shape = "distinct" | "twoSeats";
/** The distinct members of a committee (one entry per seat) with their seats, most seats first. */
function membersOf(seats: readonly Address[]) {
  const count = new Map<Address, number>();
  for (const a of seats) count.set(a, (count.get(a) ?? 0) + 1);
  return [...count.entries()].sort((x, y) => y[1] - x[1]).map(([member, held]) => ({ member, seats: held }));
}
function shapeOf(seats: readonly Address[]): Shape | "other" {
  const members = membersOf(seats);
  if (seats.length === n && members.length === n) return "distinct";
  if (seats.length === 3 && members[0]!.seats === 2) return "twoSeats";
  return "other";
}
const quorumAgainst = (vote: VoteValue, against: VoteValue): VoteValue[] =>
  Array.from({ length: n }, (_, i) => (i === n - 1 ? against : vote));

await measure(
  "caught",
  "made-up result, sampled, honest auditor disagrees, committee faults it (the last member votes against the quorum: ProviderCorrect)",
  async (_, name) => {
    const jobId = await caughtJob(name);
    await judge(jobId, name, quorumAgainst(Vote.ProviderWrong, Vote.ProviderCorrect));
    await expectStatus(jobId, JobStatus.Slashed);
  },
);

// Two seats of three are a quorum: one member's single vote decides, and is paid (or penalized) per seat.
if (n === 3) {
  await measure(
    "caughtTwoSeats",
    "as caught, with a committee where voter0 holds two of the three seats: its one ProviderWrong vote is the quorum and is paid per seat; voter1 (one seat) votes ProviderCorrect",
    async (_, name) => {
      const jobId = await caughtJob(name);
      await judge(jobId, name, [Vote.ProviderWrong, Vote.ProviderCorrect], "twoSeats");
      await expectStatus(jobId, JobStatus.Slashed);
    },
  );
}

await measure(
  "caughtSelfChallenged",
  "as caught, but the cheater's second account challenges its own job (bond) before the auditor's Disagree lands; committee faults it",
  async (_, name) => {
    // Minted before it is named: new tokens are no party's gain.
    await token.write.mint([provider2.account.address, verificationTerms.challengeBond]);
    await name("secondAccount", provider2.account.address);
    const jobId = await caughtJob(name, (id) => driver.challenge(id, provider2));
    await judge(jobId, name, quorumAgainst(Vote.ProviderWrong, Vote.ProviderWrong));
    await expectStatus(jobId, JobStatus.Slashed);
  },
);

await measure(
  "withheld",
  "made-up result, sampled (the provider sees it from the seed), auditor commits blind, provider withholds its reveal, expired",
  async (_, name) => {
    const jobId = await driver.post();
    await driver.commit(jobId, madeUp(jobId), { sampled: true });
    const auditor = await driver.auditor(jobId);
    await name("auditor", auditor.account.address);
    await driver.commitAudit(jobId, auditor, trueOutput(jobId));
    await driver.expire(jobId);
  },
);

await measure(
  "captured",
  "made-up result, sampled, honest auditor disagrees, a colluding committee upholds it (ProviderCorrect quorum): the auditor's Disagree is overturned",
  async (_, name) => {
    const jobId = await caughtJob(name);
    await judge(jobId, name, quorumAgainst(Vote.ProviderCorrect, Vote.ProviderCorrect));
    await expectStatus(jobId, JobStatus.Finalized);
  },
);

await measure(
  "lazyAgreePaid",
  "honest result, sampled, auditor commits a random root and answers Agree, no recheck drawn: paid at finalize",
  async (_, name) => {
    const jobId = await driver.post();
    await driver.commit(jobId, trueOutput(jobId), { sampled: true });
    const auditor = await driver.auditor(jobId);
    await name("auditor", auditor.account.address);
    await driver.commitAudit(jobId, auditor, keccak256(toHex(`random root ${jobId}`)), { rechecked: false });
    await driver.reveal(jobId);
    await driver.revealAudit(jobId, Verdict.Agree);
    await driver.finalize(jobId);
  },
);

await measure(
  "lazyAgreeRechecked",
  "honest result, sampled, auditor commits a random root and answers Agree, recheck drawn, committee votes AuditorWrong",
  async (_, name) => {
    const jobId = await driver.post();
    await driver.commit(jobId, trueOutput(jobId), { sampled: true });
    const auditor = await driver.auditor(jobId);
    await name("auditor", auditor.account.address);
    await driver.commitAudit(jobId, auditor, keccak256(toHex(`random root ${jobId}`)), { rechecked: true });
    await driver.reveal(jobId);
    await driver.revealAudit(jobId, Verdict.Agree);
    await expectStatus(jobId, JobStatus.Disputed);
    await judge(jobId, name, quorumAgainst(Vote.AuditorWrong, Vote.AuditorWrong));
    await expectStatus(jobId, JobStatus.Finalized);
  },
);

await measure(
  "colludingAgreeChallenged",
  "made-up result, sampled, the cheater's own auditor agrees (same root), a watchdog challenges (bond) in the window, committee faults it",
  async (_, name) => {
    const jobId = await driver.post();
    await driver.commit(jobId, madeUp(jobId), { sampled: true });
    const auditor = await driver.auditor(jobId);
    await name("auditor", auditor.account.address);
    await driver.commitAudit(jobId, auditor, madeUp(jobId));
    await driver.reveal(jobId);
    await driver.revealAudit(jobId, Verdict.Agree);
    await token.write.mint([sys.challenger.account.address, verificationTerms.challengeBond]);
    await name("watchdog", sys.challenger.account.address);
    await driver.challenge(jobId, sys.challenger);
    await judge(jobId, name, quorumAgainst(Vote.ProviderWrong, Vote.ProviderWrong));
    await expectStatus(jobId, JobStatus.Slashed);
  },
);

await measure(
  "auditMissed",
  "made-up result, sampled, the drawn auditor misses its blind commit: the provider reveals after auditCommitBy, the auditor is penalized (at least the replacing committee's pay), a committee faults it",
  async (_, name) => {
    const jobId = await driver.post();
    await driver.commit(jobId, madeUp(jobId), { sampled: true });
    const auditor = await driver.auditor(jobId);
    await name("auditor", auditor.account.address);
    await driver.revealAfterMissedAudit(jobId);
    await expectStatus(jobId, JobStatus.Disputed);
    await judge(jobId, name, quorumAgainst(Vote.ProviderWrong, Vote.ProviderWrong));
    await expectStatus(jobId, JobStatus.Slashed);
  },
);

await measure(
  "auditUnrevealed",
  "honest result, sampled, the auditor commits the same root blind and never reveals: finalize sends the job to a committee, the auditor is penalized (challengeBond, at least the committee's pay), the committee upholds it",
  async (_, name) => {
    const jobId = await driver.post();
    await driver.commit(jobId, trueOutput(jobId), { sampled: true });
    const auditor = await driver.auditor(jobId);
    await name("auditor", auditor.account.address);
    await driver.commitAudit(jobId, auditor, trueOutput(jobId));
    await driver.reveal(jobId);
    await driver.finalizeIntoDispute(jobId);
    await judge(jobId, name, quorumAgainst(Vote.ProviderCorrect, Vote.ProviderCorrect));
    await expectStatus(jobId, JobStatus.Finalized);
  },
);

await measure(
  "challengeUpheld",
  "honest result, not sampled, a griefer challenges it (bond), the committee upholds it (the last member votes against the quorum: ProviderWrong)",
  async (_, name) => {
    const jobId = await driver.post();
    await driver.commit(jobId, trueOutput(jobId), { sampled: false });
    await driver.reveal(jobId);
    await token.write.mint([sys.challenger.account.address, verificationTerms.challengeBond]);
    await name("watchdog", sys.challenger.account.address);
    await driver.challenge(jobId, sys.challenger);
    await judge(jobId, name, quorumAgainst(Vote.ProviderCorrect, Vote.ProviderWrong));
    await expectStatus(jobId, JobStatus.Finalized);
  },
);

async function expectStatus(jobId: bigint, status: JobStatus) {
  const actual = driver.jobs.job(jobId).status;
  if (actual !== status) throw new Error(`job ${jobId}: status ${actual}, expected ${status}`);
}

const outcomeSeconds = (Date.now() - started) / 1000;

/**
 * What docs/PROTOCOL.md (sections 4 and 7) says each party of each outcome gets, against what it got.
 * A mismatch is reported (and written to the JSON), not fatal: the bench's guard is the profit property.
 */
function specChecks() {
  const bps = (x: bigint, b: number | bigint) => (x * BigInt(b)) / 10_000n;
  const S = MODEL_COLLATERAL;
  const B = verificationTerms.challengeBond;
  const levy = bps(FEE, marketTerms.auditLevyBps);
  const payout = FEE - bps(FEE, marketTerms.protocolFeeBps) - levy;
  const finder = bps(S, verificationTerms.challengerRewardBps);
  const A = bps(FEE, verificationTerms.auditRewardBps);
  const V = bps(FEE, verificationTerms.voterRewardBps);
  const penalty = verificationTerms.voterPenalty;
  const seats = BigInt(n);
  const upheld = payout + bps(B, verificationTerms.providerRewardBps);
  // A challenge's committee is paid out of the bond, per seat voting the outcome, either way:
  // B (1 - providerRewardBps) / seats. Faulted, the finder gets challengerRewardBps of the whole slash
  // first, then what is left reimburses the challenger what its bond paid, and the treasury the rest
  // (section 7): a challenge never shrinks the finder's share.
  const seatPay = bps(B, 10_000 - verificationTerms.providerRewardBps) / seats;
  const reimbursed = (paidSeats: bigint) => (paidSeats * seatPay < S - finder ? paidSeats * seatPay : S - finder);
  // A missed (auditorPenalty) or unrevealed (challengeBond) audit costs at least the replacing committee's pay.
  const atLeastCommitteePay = (flat: bigint) => (seats * V > flat ? seats * V : flat);
  const missedPenalty = atLeastCommitteePay(verificationTerms.auditorPenalty);
  const unrevealedPenalty = atLeastCommitteePay(B);
  const expected: [string, string, bigint][] = [
    ["honestUnsampled", "provider", payout],
    ["honestUnsampled", "auditPool", levy],
    ["madeUpUnsampled", "provider", payout],
    ["madeUpUnsampled", "auditPool", levy],
    ["honestSampled", "provider", payout],
    ["honestSampled", "auditor", A],
    ["honestSampled", "auditPool", levy - A],
    ["caught", "provider", -S],
    ["caught", "poster", 0n],
    ["caught", "auditor", finder],
    ["caught", "voter0", V],
    ["caught", `voter${n - 1}`, -penalty],
    ["caught", "treasury", S - finder + penalty],
    ["caught", "auditPool", -(seats - 1n) * V],
    ["caughtTwoSeats", "provider", -S],
    ["caughtTwoSeats", "auditor", finder],
    ["caughtTwoSeats", "voter0", 2n * V],
    ["caughtTwoSeats", "voter1", -penalty],
    ["caughtTwoSeats", "treasury", S - finder + penalty],
    ["caughtTwoSeats", "auditPool", -2n * V],
    ["caughtSelfChallenged", "provider", -S],
    ["caughtSelfChallenged", "secondAccount", reimbursed(seats) - seats * seatPay],
    ["caughtSelfChallenged", "auditor", finder],
    ["caughtSelfChallenged", "voter0", seatPay],
    ["caughtSelfChallenged", `voter${n - 1}`, seatPay],
    ["caughtSelfChallenged", "treasury", S - finder - reimbursed(seats)],
    ["caughtSelfChallenged", "auditPool", 0n],
    ["withheld", "provider", -S],
    ["withheld", "poster", bps(S, marketTerms.expiryPenaltyBps)],
    ["withheld", "auditor", finder],
    ["withheld", "auditPool", S - bps(S, marketTerms.expiryPenaltyBps) - finder],
    ["captured", "provider", upheld],
    ["captured", "auditor", -B],
    ["captured", "voter0", V],
    ["captured", "treasury", B - bps(B, verificationTerms.providerRewardBps)],
    ["captured", "auditPool", levy - seats * V],
    ["lazyAgreePaid", "provider", payout],
    ["lazyAgreePaid", "auditor", A],
    ["lazyAgreePaid", "auditPool", levy - A],
    ["lazyAgreeRechecked", "provider", payout],
    ["lazyAgreeRechecked", "auditor", -B],
    ["lazyAgreeRechecked", "treasury", B],
    ["lazyAgreeRechecked", "auditPool", levy - seats * V],
    ["colludingAgreeChallenged", "provider", -S],
    ["colludingAgreeChallenged", "auditor", -B],
    ["colludingAgreeChallenged", "poster", finder],
    ["colludingAgreeChallenged", "watchdog", reimbursed(seats) - seats * seatPay],
    ["colludingAgreeChallenged", "voter0", seatPay],
    ["colludingAgreeChallenged", "treasury", S - finder - reimbursed(seats) + B],
    ["colludingAgreeChallenged", "auditPool", 0n],
    ["auditMissed", "provider", -S],
    ["auditMissed", "poster", finder],
    ["auditMissed", "auditor", -missedPenalty],
    ["auditMissed", "voter0", V],
    ["auditMissed", `voter${n - 1}`, V],
    ["auditMissed", "treasury", S - finder + missedPenalty],
    ["auditMissed", "auditPool", -seats * V],
    ["auditUnrevealed", "provider", payout],
    ["auditUnrevealed", "poster", -FEE],
    ["auditUnrevealed", "auditor", -unrevealedPenalty],
    ["auditUnrevealed", "voter0", V],
    ["auditUnrevealed", "treasury", unrevealedPenalty],
    ["auditUnrevealed", "auditPool", levy - seats * V],
    ["challengeUpheld", "provider", upheld],
    ["challengeUpheld", "poster", -FEE],
    ["challengeUpheld", "watchdog", -B],
    ["challengeUpheld", "voter0", seatPay],
    ["challengeUpheld", `voter${n - 1}`, -penalty],
    ["challengeUpheld", "treasury", B - bps(B, verificationTerms.providerRewardBps) - (seats - 1n) * seatPay + penalty],
    ["challengeUpheld", "auditPool", levy],
  ];
  return expected
    .filter(([outcome]) => outcomes[outcome] !== undefined)
    .flatMap(([outcome, role, want]) => {
      const got = outcomes[outcome]!.deltas[role];
      return got === want ? [] : [{ outcome, role, expected: formatEther(want), measured: got === undefined ? null : formatEther(got) }];
    });
}
const specMismatches = specChecks();

// ---------------------------------------------------------------- 2. draws, measured

const drawStarted = Date.now();
const draws = await measureDraws();
const drawSeconds = (Date.now() - drawStarted) / 1000;

// ---------------------------------------------------------------- 3. strategies, combined

const d = (outcome: string, role: string) => {
  const v = outcomes[outcome]?.deltas[role];
  if (v === undefined) throw new Error(`no ${role} in ${outcome}`);
  return tok(v);
};

const p = Number(marketTerms.samplingPpm) / 1e6;
const q = Number(verificationTerms.recheckPpm) / 1e6;
const P = d("honestUnsampled", "provider");
// Measured payoffs (tokens).
const m = {
  unsampled: P, // an unsampled result is paid, made up or not
  madeUpUnsampled: d("madeUpUnsampled", "provider"),
  sampledHonest: d("honestSampled", "provider"),
  auditorAgreePaid: d("honestSampled", "auditor"),
  caughtProvider: d("caught", "provider"),
  caughtAuditor: d("caught", "auditor"),
  voterWithQuorum: d("caught", "voter0"),
  voterAgainstQuorum: d("caught", `voter${n - 1}`),
  selfChallengeCheater: d("caughtSelfChallenged", "provider") + d("caughtSelfChallenged", "secondAccount"),
  selfChallengeAuditor: d("caughtSelfChallenged", "auditor"),
  withheldProvider: d("withheld", "provider"),
  withheldPoster: d("withheld", "poster"),
  withheldAuditor: d("withheld", "auditor"),
  capturedProvider: d("captured", "provider"),
  capturedAuditor: d("captured", "auditor"),
  lazyPaid: d("lazyAgreePaid", "auditor"),
  lazyRechecked: d("lazyAgreeRechecked", "auditor"),
  griefer: d("challengeUpheld", "watchdog"),
  challengeSeat: d("challengeUpheld", "voter0"),
};

/** P(a colluding majority of n) with each seat the attacker's with probability r, independently. */
function binomialCapture(r: number, size: number) {
  let k = 0;
  let eMaj = 0;
  let eMin = 0;
  for (let j = 0; j <= size; j++) {
    const pj = choose(size, j) * r ** j * (1 - r) ** (size - j);
    if (2 * j > size) {
      k += pj;
      eMaj += j * pj;
    } else eMin += j * pj;
  }
  return { k, seatsIfCaptured: k > 0 ? eMaj / k : 0, seatsIfNot: k < 1 ? eMin / (1 - k) : 0 };
}

/** P(the attacker holds j of n seats), j = 0..n, each seat its own with probability r. */
function seatDistribution(r: number, size: number) {
  return Array.from({ length: size + 1 }, (_, j) => choose(size, j) * r ** j * (1 - r) ** (size - j));
}

function choose(a: number, b: number) {
  let c = 1;
  for (let i = 0; i < b; i++) c = (c * (a - i)) / (i + 1);
  return c;
}

type Capture = { k: number; seatsIfCaptured: number; seatsIfNot: number };

/**
 * A cheating provider's expected payoff when sampled, at verifier stake share r and committee capture
 * `cap`: its own auditor (r) agrees and is paid; an honest auditor (1 - r) disagrees, and the cheater
 * then reveals and hopes for a captured committee or, when that is worse, withholds (it sees its auditor
 * before it must reveal). Its committee seats vote with whichever side wins and are paid.
 */
function cheaterSampled(r: number, cap: Capture, { caught = m.caughtProvider, allowWithhold = true } = {}) {
  const V = m.voterWithQuorum;
  const revealed = (1 - cap.k) * (caught + cap.seatsIfNot * V) + cap.k * (m.capturedProvider + cap.seatsIfCaptured * V);
  const honestAuditor = allowWithhold ? Math.max(revealed, m.withheldProvider) : revealed;
  return r * (m.sampledHonest + m.auditorAgreePaid) + (1 - r) * honestAuditor;
}

type Strategy = {
  name: string;
  role: "provider" | "auditor" | "voter" | "challenger";
  description: string;
  profitPerJob: number;
  honestProfitPerJob: number;
  breakEvenSamplingPpm: number | null;
  [lever: string]: unknown;
};

const NO_CAPTURE: Capture = { k: 0, seatsIfCaptured: 0, seatsIfNot: 0 };

const sybilBinomial = binomialCapture(SYBIL_R, n);
// The committee excludes the honest auditor that opened the dispute: the attacker's share of the stake
// left to draw from is larger than r (one honest verifier of the 8 measured). Section 8's r is this one.
const effectiveShare = draws.eligibleShare;
const sybilBinomialEffective = binomialCapture(effectiveShare, n);
const captureModels = {
  binomial: sybilBinomial,
  binomialAfterAuditorExcluded: sybilBinomialEffective,
  measuredOneAccount: draws.committee.single,
  measuredSplit: draws.committee.split,
};

/**
 * The draw checks, as z-scores (gaps in standard errors): with replacement the committee majority share
 * must not depend on how the attacker's stake is split, and must be the binomial k(r) at its eligible
 * share; single draws must give it its share of the stake.
 */
const drawChecks = (() => {
  const N = COMMITTEES;
  const k = sybilBinomialEffective.k;
  const se = Math.sqrt((k * (1 - k)) / N);
  const { single, split } = draws.committee;
  const pooled = (single.k + split.k) / 2;
  const seDiff = Math.sqrt((2 * pooled * (1 - pooled)) / N);
  const expectedSeats = seatDistribution(effectiveShare, n).map((x) => Math.round(x * N * 10) / 10);
  const z = {
    splitVsOneAccount: seDiff > 0 ? (split.k - single.k) / seDiff : 0,
    oneAccountVsBinomial: (single.k - k) / se,
    splitVsBinomial: (split.k - k) / se,
    drawOneAccountVsShare: (draws.draw.single.share - SYBIL_R) / draws.draw.stderr,
    drawSplitVsShare: (draws.draw.split.share - SYBIL_R) / draws.draw.stderr,
  };
  const failed = Object.entries(z)
    .filter(([, v]) => Math.abs(v) > DRAW_Z_LIMIT)
    .map(([check, v]) => `${check}: z = ${v.toFixed(2)} (beyond ${DRAW_Z_LIMIT} standard errors)`);
  return { committees: N, binomialK: round(k), stderr: round(se), stderrOfDifference: round(seDiff), z: roundAll(z), expectedSeatHistogram: expectedSeats, failed };
})();
const [sybilCaptureSource, sybilCapture] = Object.entries(captureModels).reduce((best, model) =>
  cheaterSampled(SYBIL_R, model[1]) > cheaterSampled(SYBIL_R, best[1]) ? model : best,
);

/** Every strategy at compute cost C per run of the job. */
function strategies(C: number): Strategy[] {
  const honestProvider = (1 - p) * m.unsampled + p * m.sampledHonest - C;
  /** A cheating provider: paid as honest when unsampled, saves C, gets `sampled` when sampled. */
  const provider = (name: string, description: string, sampled: number, extra: Record<string, unknown> = {}): Strategy => {
    const gap = m.sampledHonest - sampled;
    return {
      name,
      role: "provider",
      description,
      profitPerJob: (1 - p) * m.madeUpUnsampled + p * sampled,
      honestProfitPerJob: honestProvider,
      breakEvenSamplingPpm: gap > 0 ? Math.round((C / gap) * 1e6) : null,
      profitWhenSampled: sampled,
      ...extra,
    };
  };
  const honestAuditor = m.auditorAgreePaid - C;
  const lazy = (1 - q) * m.lazyPaid + q * m.lazyRechecked;
  const honestVoter = m.voterWithQuorum - C;
  // A voter that does not run the job lands with the quorum in a share f of disputes: f V + (1 - f) penalty.
  const voterSpread = m.voterWithQuorum - m.voterAgainstQuorum;
  return [
    {
      name: "honest",
      role: "provider",
      description: "runs every job and reveals the true result",
      profitPerJob: honestProvider,
      honestProfitPerJob: honestProvider,
      breakEvenSamplingPpm: null,
      profitWhenSampled: m.sampledHonest - C,
    },
    provider(
      "cheat-and-reveal",
      "reveals a made-up result; r = 0: the auditor is honest and the committee too",
      cheaterSampled(0, NO_CAPTURE, { allowWithhold: false }),
      { verifierStakeShare: 0 },
    ),
    provider(
      "cheat-and-withhold",
      "reveals a made-up result when not sampled, withholds the reveal when sampled (expired, slashed in full); r = 0",
      m.withheldProvider,
      { verifierStakeShare: 0 },
    ),
    provider(
      "cheat-with-self-challenge",
      "reveals a made-up result; when sampled, challenges it from a second account before its auditor's Disagree lands (combined net of both accounts); r = 0",
      m.selfChallengeCheater,
      { verifierStakeShare: 0 },
    ),
    {
      name: "auditor-always-agrees",
      role: "auditor",
      description: "commits a random root without running the job and answers Agree; rechecked with probability q",
      profitPerJob: lazy,
      honestProfitPerJob: honestAuditor,
      breakEvenSamplingPpm: null,
      // lazy(q) = honest  <=>  q = (lazyPaid - honestAuditor) / (lazyPaid - lazyRechecked)
      breakEvenRecheckPpm: Math.round(((m.lazyPaid - honestAuditor) / (m.lazyPaid - m.lazyRechecked)) * 1e6),
      recheckPpm: Number(verificationTerms.recheckPpm),
    },
    {
      name: "voter-always-votes-wrong",
      role: "voter",
      description: "votes against the evidence without running the job: with an honest quorum it is always in the minority",
      profitPerJob: m.voterAgainstQuorum,
      honestProfitPerJob: honestVoter,
      breakEvenSamplingPpm: null,
      // The share of disputes in which a vote cast without running the job must land with the quorum to
      // match honest voting: f V + (1 - f) penalty = V - C.
      quorumMatchShare: 0,
      breakEvenQuorumMatchShare: (honestVoter - m.voterAgainstQuorum) / voterSpread,
    },
    {
      name: "griefing-challenge",
      role: "challenger",
      description: "challenges a correct result (bond) without having run the job; an honest committee upholds it, paid out of the bond",
      profitPerJob: m.griefer,
      honestProfitPerJob: 0,
      breakEvenSamplingPpm: null,
    },
    provider(
      "sybil-auditor",
      "reveals a made-up result while holding a third of the verifier stake over several accounts: its own auditor agrees (r), an honest auditor's Disagree goes to a committee it may capture (k), or it withholds when that is worse",
      cheaterSampled(SYBIL_R, sybilCapture),
      {
        verifierStakeShare: SYBIL_R,
        committeeCapture: sybilCapture.k,
        committeeCaptureSource: sybilCaptureSource,
        profitByCaptureModel: Object.fromEntries(
          Object.entries(captureModels).map(([model, cap]) => [
            model,
            { committeeCapture: round(cap.k), profitPerJob: round((1 - p) * m.madeUpUnsampled + p * cheaterSampled(SYBIL_R, cap)) },
          ]),
        ),
      },
    ),
  ];
}

const C = P;
const atFullCost = strategies(C);
const atHalfCost = strategies(C / 2);
const results = atFullCost.map((s, i) => {
  const half = atHalfCost[i]!;
  const lever = Object.keys(half).find((key) => key.startsWith("breakEven") && key !== "breakEvenSamplingPpm");
  return {
    ...roundAll(s),
    belowHonest: s.name === "honest" ? null : s.profitPerJob < s.honestProfitPerJob,
    atHalfComputeCost: {
      profitPerJob: round(half.profitPerJob),
      honestProfitPerJob: round(half.honestProfitPerJob),
      breakEvenSamplingPpm: half.breakEvenSamplingPpm,
      ...(lever ? { [lever]: roundValue(half[lever]) } : {}),
      belowHonest: half.name === "honest" ? null : half.profitPerJob < half.honestProfitPerJob,
    },
  };
});

/** What honest auditing and voting earn, at both compute costs (the auditor and a member each run the job once). */
const honestWork = {
  auditor: {
    label: "auditor, per audit (an Agree on a paid job)",
    what: "per audit: an Agree on a job that is paid (honestSampled)",
    paid: m.auditorAgreePaid,
    profitAtFullCost: m.auditorAgreePaid - C,
    profitAtHalfCost: m.auditorAgreePaid - C / 2,
  },
  voter: {
    label: "voter, per vote (one seat, with the quorum)",
    what: "per vote on one seat, with the quorum (caught, voter0); a member holding s seats runs the job once and is paid s times",
    paid: m.voterWithQuorum,
    profitAtFullCost: m.voterWithQuorum - C,
    profitAtHalfCost: m.voterWithQuorum - C / 2,
  },
};

/**
 * The audit pool per job at the local terms, from the measured pool deltas: what it takes in (the levy
 * of paid jobs) and pays out (audit rewards, voter pay), when every provider and auditor is honest, when
 * every auditor agrees without running the job (rechecked at q), and the bound `ProtocolTerms` checks
 * (`p (auditReward + q n voterReward)` against the levy). Disputes the protocol opens over real cheats (an
 * auditor's Disagree, a missed or unrevealed audit) are extra: each pays n seats from the pool and brings
 * nothing into it (the slash goes to the finder and the treasury). A challenge's committee is paid out of
 * the bond: challenges leave the pool alone.
 */
const auditPool = (() => {
  const pool = (outcome: string) => d(outcome, "auditPool");
  const levy = pool("honestUnsampled"); // an unsampled paid job moves the pool by its levy alone
  const A = m.auditorAgreePaid;
  const V = m.voterWithQuorum;
  const seats = Number(n);
  const scenario = (net: number, formula: number) => ({ inflow: levy, outflow: levy - net, net, outflowByTerms: formula });
  return {
    levyPerPaidJob: levy,
    auditRewardPerSampledJob: A,
    // A dispute the protocol opened pays its n seats from the pool (a recheck upheld: the levy in, n seats out);
    // a challenge's committee is paid out of the bond and leaves the pool alone (caughtSelfChallenged).
    payPerDispute: levy - pool("lazyAgreeRechecked"),
    payPerChallenge: -pool("caughtSelfChallenged"),
    honest: scenario((1 - p) * levy + p * pool("honestSampled"), p * A),
    lazyAuditors: scenario(
      (1 - p) * levy + p * ((1 - q) * pool("lazyAgreePaid") + q * pool("lazyAgreeRechecked")),
      p * ((1 - q) * A + q * seats * V),
    ),
    termsBound: { inflow: levy, outflow: p * (A + q * seats * V), net: levy - p * (A + q * seats * V) },
    /** The share of jobs that may go to a committee (beyond the honest world's) before the pool pays out more than the levy brings in. */
    breakEvenDisputesPerJob: (levy - p * A) / (seats * V),
  };
})();

function roundValue(v: unknown) {
  return typeof v === "number" ? round(v) : v;
}
function roundAll<T extends Record<string, unknown>>(o: T) {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, roundValue(v)])) as T;
}

// ---------------------------------------------------------------- report

const pct = (ppm: number | null) => (ppm === null ? "-" : `${(ppm / 1e4).toFixed(2)}%`);
function breakEven(s: Record<string, unknown>) {
  if (typeof s.breakEvenSamplingPpm === "number") return `p* = ${pct(s.breakEvenSamplingPpm)}`;
  if (typeof s.breakEvenRecheckPpm === "number") return `q* = ${pct(s.breakEvenRecheckPpm)}`;
  if (typeof s.breakEvenQuorumMatchShare === "number") return `f* = ${(s.breakEvenQuorumMatchShare * 100).toFixed(1)}%`;
  return "-";
}
const f = (x: number) => (x >= 0 ? " " : "") + x.toFixed(3);

console.log(`\nPayoffs measured on-chain (tokens, fee ${tok(FEE)}, collateral ${tok(MODEL_COLLATERAL)})\n`);
const columns = ["provider", "poster", "auditor", "secondAccount", "watchdog", ...Array.from({ length: n }, (_, i) => `voter${i}`), "auditPool", "treasury"];
console.log("| outcome | " + columns.join(" | ") + " |");
console.log("|---|" + "---:|".repeat(columns.length));
for (const [name, o] of Object.entries(outcomes)) {
  const cell = (role: string) => (o.deltas[role] === undefined ? "" : f(tok(o.deltas[role])));
  console.log(`| ${name} | ${columns.map(cell).join(" | ")} |`);
}

if (specMismatches.length > 0) {
  console.log(
    `\nSPEC: measured payoffs that differ from docs/PROTOCOL.md:\n  ` +
      specMismatches.map((x) => `${x.outcome} ${x.role}: expected ${x.expected}, measured ${x.measured}`).join("\n  "),
  );
}
const accountingErrors = Object.entries(outcomes).flatMap(([name, o]) =>
  Object.entries(o.booksMinusTokens).map(([contract, v]) => `${name}: ${contract} credited ${formatEther(v)} more than it received`),
);
if (accountingErrors.length > 0) {
  console.log(`\nACCOUNTING: a contract's books moved by more than its tokens (payoffs above are the parties' own):\n  ${accountingErrors.join("\n  ")}`);
}

const histogram = (h: readonly number[]) => h.join(" / ");
console.log(
  `\nDraws (${DRAWS} seeds): the attacker (r = 1/3 of the verifier stake) wins ${(draws.draw.single.share * 100).toFixed(1)}% of draws as one account, ` +
    `${(draws.draw.split.share * 100).toFixed(1)}% split over ${draws.splitAccounts} (±${(draws.draw.stderr * 200).toFixed(1)}% at 2σ); ` +
    `seeds drawing it in one layout and not the other: ${draws.draw.seedsThatDiffer}`,
);
console.log(
  `Committees (${COMMITTEES} of ${n} seats, drawn with replacement; the attacker's eligible share r = ${effectiveShare.toFixed(4)}):\n` +
    `| layout | colluding majority | attacker seats 0 / 1 / ... / ${n} |\n|---|---:|---|\n` +
    `| one account | ${(draws.committee.single.k * 100).toFixed(2)}% | ${histogram(draws.committee.single.seatHistogram)} |\n` +
    `| split over ${draws.splitAccounts} | ${(draws.committee.split.k * 100).toFixed(2)}% | ${histogram(draws.committee.split.seatHistogram)} |\n` +
    `| binomial k(${effectiveShare.toFixed(4)}) | ${(sybilBinomialEffective.k * 100).toFixed(2)}% | ${histogram(drawChecks.expectedSeatHistogram)} |\n` +
    `| binomial k(1/3) (all stake) | ${(sybilBinomial.k * 100).toFixed(2)}% | |\n` +
    `standard error ${(drawChecks.stderr * 100).toFixed(2)}% (of a difference ${(drawChecks.stderrOfDifference * 100).toFixed(2)}%); z: ` +
    Object.entries(drawChecks.z)
      .map(([check, z]) => `${check} ${z.toFixed(2)}`)
      .join(", "),
);
if (drawChecks.failed.length > 0) console.log(`DRAWS: ${drawChecks.failed.join("; ")}`);

const table = (rows: Record<string, unknown>[], title: string) => {
  console.log(`\n${title}\n`);
  console.log("| strategy | role | profit per job | honest (same role) | break-even |\n|---|---|---:|---:|---|");
  for (const s of rows) {
    console.log(`| ${s.name} | ${s.role} | ${f(s.profitPerJob as number)} | ${f(s.honestProfitPerJob as number)} | ${breakEven(s)} |`);
  }
};
table(results, `Strategies at the local terms, C = P = ${C.toFixed(3)} (p = ${pct(Number(marketTerms.samplingPpm))}, q = ${pct(Number(verificationTerms.recheckPpm))})`);
table(
  results.map((s) => ({ name: s.name, role: s.role, ...s.atHalfComputeCost })),
  `Same at C = P/2 = ${(C / 2).toFixed(3)}`,
);

console.log(`\nHonest verifier work (tokens; C = P = ${C.toFixed(3)}, P/2 = ${(C / 2).toFixed(3)})\n`);
console.log("| role | paid | profit at C = P | profit at C = P/2 |\n|---|---:|---:|---:|");
for (const w of Object.values(honestWork)) {
  console.log(`| ${w.label} | ${f(w.paid)} | ${f(w.profitAtFullCost)} | ${f(w.profitAtHalfCost)} |`);
}

console.log(`\nAudit pool per job (tokens, fee ${tok(FEE)}; measured, and the outflow the terms' formula gives)\n`);
console.log("| scenario | inflow | outflow | net | outflow by the terms |\n|---|---:|---:|---:|---:|");
for (const [label, x] of [
  ["every provider and auditor honest", auditPool.honest],
  ["every auditor agrees without running (rechecked at q)", auditPool.lazyAuditors],
] as const) {
  console.log(`| ${label} | ${f(x.inflow)} | ${f(x.outflow)} | ${f(x.net)} | ${f(x.outflowByTerms)} |`);
}
console.log(`| ProtocolTerms' bound p (A + q n V) | ${f(auditPool.termsBound.inflow)} | ${f(auditPool.termsBound.outflow)} | ${f(auditPool.termsBound.net)} | |`);
console.log(
  `a dispute the protocol opens pays ${auditPool.payPerDispute.toFixed(3)} from the pool (${n} seats), a challenge ${auditPool.payPerChallenge.toFixed(3)} ` +
    `(its committee is paid out of the bond); beyond the honest world, the pool breaks even at ` +
    `${(auditPool.breakEvenDisputesPerJob * 100).toFixed(2)}% of jobs going to a committee the protocol opens`,
);

const failures = [
  ...results.flatMap((s) =>
    [
      s.belowHonest === false ? `${s.name} at C = P: ${s.profitPerJob} >= honest ${s.honestProfitPerJob}` : [],
      s.atHalfComputeCost.belowHonest === false
        ? `${s.name} at C = P/2: ${s.atHalfComputeCost.profitPerJob} >= honest ${s.atHalfComputeCost.honestProfitPerJob}`
        : [],
    ].flat(),
  ),
  ...drawChecks.failed.map((x) => `draws: ${x}`),
  // Nobody audits or votes at a loss: honest verifier work must pay at C = P/2.
  ...Object.entries(honestWork).flatMap(([role, w]) =>
    w.profitAtHalfCost > 0 ? [] : [`honest ${role} at C = P/2: ${round(w.profitAtHalfCost)} <= 0 (honest work loses money)`],
  ),
];

const out = path.resolve("bench/results/economics.json");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(
  out,
  JSON.stringify(
    {
      params: {
        terms: "ignition/parameters/local.json",
        termsVersion: version,
        fee: tok(FEE),
        payout: P,
        collateral: tok(MODEL_COLLATERAL),
        computeCost: C,
        computeCostHalf: C / 2,
        samplingPpm: Number(marketTerms.samplingPpm),
        recheckPpm: Number(verificationTerms.recheckPpm),
        protocolFeeBps: marketTerms.protocolFeeBps,
        auditLevyBps: marketTerms.auditLevyBps,
        expiryPenaltyBps: marketTerms.expiryPenaltyBps,
        challengeBond: tok(verificationTerms.challengeBond),
        auditRewardBps: verificationTerms.auditRewardBps,
        auditReward: m.auditorAgreePaid,
        auditorPenalty: tok(verificationTerms.auditorPenalty),
        voterRewardBps: verificationTerms.voterRewardBps,
        voterReward: m.voterWithQuorum,
        challengeSeatPay: m.challengeSeat,
        voterPenalty: tok(verificationTerms.voterPenalty),
        committeeSize: n,
        challengerRewardBps: verificationTerms.challengerRewardBps,
        providerRewardBps: verificationTerms.providerRewardBps,
        sybilVerifierStakeShare: SYBIL_R,
        committeeCaptureBinomial: round(sybilBinomial.k),
        committeeEligibleShare: round(effectiveShare),
        committeeCaptureBinomialEligible: round(sybilBinomialEffective.k),
        committeeCaptureMeasured: { oneAccount: round(draws.committee.single.k), split: round(draws.committee.split.k) },
        committeeCaptureUsed: round(sybilCapture.k),
        auditPoolFunded: tok(AUDIT_POOL_FUNDING),
        minVerifierStake: tok(BigInt(local.stakingParams.minVerifierStake)),
      },
      strategies: results,
      honestWork: Object.fromEntries(Object.entries(honestWork).map(([role, w]) => [role, roundAll(w)])),
      auditPool: {
        ...roundAll({
          levyPerPaidJob: auditPool.levyPerPaidJob,
          auditRewardPerSampledJob: auditPool.auditRewardPerSampledJob,
          payPerDispute: auditPool.payPerDispute,
          payPerChallenge: auditPool.payPerChallenge,
        }),
        honest: roundAll(auditPool.honest),
        lazyAuditors: roundAll(auditPool.lazyAuditors),
        termsBound: roundAll(auditPool.termsBound),
        breakEvenDisputesPerJob: round(auditPool.breakEvenDisputesPerJob),
      },
      drawChecks,
      specMismatches,
      accountingErrors,
      measured: {
        payoffs: roundAll(m),
        outcomes: Object.fromEntries(
          Object.entries(outcomes).map(([name, o]) => [
            name,
            {
              description: o.description,
              deltas: Object.fromEntries(Object.entries(o.deltas).map(([r, v]) => [r, formatEther(v)])),
              ...(Object.keys(o.booksMinusTokens).length > 0
                ? { booksMinusTokens: Object.fromEntries(Object.entries(o.booksMinusTokens).map(([c, v]) => [c, formatEther(v)])) }
                : {}),
            },
          ]),
        ),
        draws: {
          ...draws,
          binomial: roundAll(sybilBinomial),
          binomialAfterAuditorExcluded: { share: round(effectiveShare), ...roundAll(sybilBinomialEffective) },
        },
      },
      seconds: { outcomes: outcomeSeconds, draws: drawSeconds, total: (Date.now() - started) / 1000 },
      machine: machineInfo(),
    },
    (_, v) => (typeof v === "bigint" ? v.toString() : v),
    2,
  ) + "\n",
);
console.log(`\nwrote ${path.relative(process.cwd(), out)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);

if (failures.length > 0) {
  console.error(`\nCHEATING PAYS (or honest work does not, or the draws are off):\n  ${failures.join("\n  ")}`);
  process.exitCode = 1;
} else {
  console.log(
    "every cheating strategy earns less than honest work, at C = P and at C = P/2; honest auditing and voting pay at C = P/2; " +
      "committee capture matches k(r) whether the stake is split or not",
  );
}

// ---------------------------------------------------------------- the job driver

/**
 * One call per step of a job, on the deployed system, for one provider and one poster. Branches that
 * depend on a seed are reached by trying the step under a snapshot with a new salt each time.
 */
function jobDriver(conn: Connection, s: System) {
  const { networkHelpers } = conn;
  const jobs = jobTracker(s);
  const byAddress = new Map(wallets.map((w) => [w.account.address.toLowerCase(), w]));
  const walletOf = (a: Address) => {
    const w = byAddress.get(a.toLowerCase());
    if (!w) throw new Error(`no wallet for ${a}`);
    return w;
  };
  const committed = new Map<bigint, { root: Hex; salt: Hex }>();
  const audits = new Map<bigint, { auditor: Wallet; root: Hex; salt: Hex }>();
  let chainId: bigint;
  const seedDelay = () => Number(marketTerms.seedDelay);
  const send = (tx: Promise<Hash>) => jobs.send(tx);

  /** Runs `step` (with try number i) until `wanted()` holds, restoring the chain and the job's state between tries. */
  async function until(jobId: bigint, what: string, step: (i: number) => Promise<void>, wanted: () => Promise<boolean>) {
    const snapshot = await networkHelpers.takeSnapshot();
    const record = structuredClone(jobs.records.get(jobId)!);
    for (let i = 0; i < MAX_TRIES; i++) {
      await step(i);
      if (await wanted()) return;
      await snapshot.restore();
      jobs.records.set(jobId, structuredClone(record));
    }
    throw new Error(`job ${jobId}: no ${what} in ${MAX_TRIES} tries`);
  }

  async function reveal(jobId: bigint) {
    const { root, salt } = committed.get(jobId)!;
    await send(market.write.reveal([jobId, jobs.job(jobId), root, salt, `http://127.0.0.1:8600/outputs/${root}`, "0x"], { account: provider.account }));
  }

  return {
    jobs,
    async post() {
      chainId ??= BigInt(await publicClient.getChainId());
      const now = BigInt(await networkHelpers.time.latest());
      await send(market.write.postJob([jobRequest(modelId, now + 600n, { fee: FEE })], { account: dapp.account }));
      return market.read.jobCount();
    },
    /** claimAndCommit to `root`, retried with a new salt until the job's sampling is `sampled`. */
    async commit(jobId: bigint, root: Hex, { sampled }: { sampled: boolean }) {
      await until(
        jobId,
        sampled ? "sampled commit" : "unsampled commit",
        async (i) => {
          const salt = keccak256(toHex(`provider salt ${jobId} ${i}`));
          committed.set(jobId, { root, salt });
          const c = commitment({ chainId, jobMarket: market.address, jobId, provider: provider.account.address, outputRoot: root, salt });
          await send(market.write.claimAndCommit([jobId, jobs.job(jobId), c], { account: provider.account }));
          await networkHelpers.mine(seedDelay() + 1);
        },
        async () => {
          const job = jobs.job(jobId);
          const [, isSampled] = await market.read.samplingOf([jobId, job.commitBlock, BigInt(job.terms)]);
          return isSampled === sampled;
        },
      );
    },
    async auditor(jobId: bigint) {
      const a = await verification.read.auditorOf([jobId, jobs.job(jobId)]);
      return walletOf(a);
    },
    /** The auditor commits `root` blind; with `rechecked`, retried with a new salt until its Agree would (not) be rechecked. */
    async commitAudit(jobId: bigint, auditor: Wallet, root: Hex, { rechecked }: { rechecked?: boolean } = {}) {
      const once = async (i: number) => {
        const salt = keccak256(toHex(`auditor salt ${jobId} ${i}`));
        audits.set(jobId, { auditor, root, salt });
        const c = commitment({ chainId, jobMarket: market.address, jobId, provider: auditor.account.address, outputRoot: root, salt });
        await send(verification.write.commitAudit([jobId, jobs.job(jobId), c], { account: auditor.account }));
        // The recheck seed is the block seedDelay after the commit; the audit reveals after it.
        await networkHelpers.mine(seedDelay());
      };
      if (rechecked === undefined) return once(0);
      await until(jobId, rechecked ? "recheck" : "unrechecked audit", once, async () => {
        const audit = await verification.read.audit([jobId]);
        const block = await publicClient.getBlock({ blockNumber: audit.commitBlock + BigInt(seedDelay()) });
        const draw = BigInt(keccak256(encodeAbiParameters(parseAbiParameters("bytes32, uint256, string"), [block.hash!, jobId, "recheck"])));
        return draw % 1_000_000n < BigInt(verificationTerms.recheckPpm) === rechecked;
      });
    },
    reveal,
    /** The auditor never commits: the provider reveals one second after auditCommitBy (the reveal opens an AuditMissed dispute). */
    async revealAfterMissedAudit(jobId: bigint) {
      await networkHelpers.time.increaseTo((await verification.read.auditCommitBy([jobs.job(jobId)])) + 1n);
      await reveal(jobId);
    },
    async revealAudit(jobId: bigint, verdict: number) {
      const { auditor, root, salt } = audits.get(jobId)!;
      await send(verification.write.revealAudit([jobId, jobs.job(jobId), root, salt, verdict, `http://127.0.0.1:8700/outputs/${root}`], { account: auditor.account }));
    },
    async challenge(jobId: bigint, challenger: Wallet) {
      await token.write.approve([verification.address, verificationTerms.challengeBond], { account: challenger.account });
      await send(verification.write.challenge([jobId, jobs.job(jobId)], { account: challenger.account }));
    },
    /**
     * Draws the committee, retried until it has `shape`: each try gives the block after the dispute's
     * opening another timestamp, which changes the hash of the seed block after it. Returns the distinct
     * members, most seats first.
     */
    async drawCommittee(jobId: bigint, shape: Shape) {
      let seats: readonly Address[] = [];
      await until(
        jobId,
        `committee of shape ${shape}`,
        async (i) => {
          await networkHelpers.time.increase(1 + i);
          await networkHelpers.mine(seedDelay());
          await send(verification.write.drawCommittee([jobId], { account: keeper.account }));
          seats = (await verification.read.dispute([jobId])).committee;
        },
        async () => shapeOf(seats) === shape,
      );
      return membersOf(seats).map(({ member }) => walletOf(member));
    },
    async vote(jobId: bigint, members: Wallet[], votes: VoteValue[]) {
      const salts = members.map((_, i) => keccak256(toHex(`vote salt ${jobId} ${i}`)));
      for (const [i, member] of members.entries()) {
        const hash = keccak256(
          encodeAbiParameters(parseAbiParameters("uint256, address, uint256, address, uint8, bytes32"), [
            chainId,
            verification.address,
            jobId,
            member.account.address,
            votes[i]!,
            salts[i]!,
          ]),
        );
        await send(verification.write.commitVote([jobId, hash], { account: member.account }));
      }
      for (const [i, member] of members.entries()) {
        await send(verification.write.revealVote([jobId, votes[i]!, salts[i]!], { account: member.account }));
      }
    },
    async resolve(jobId: bigint) {
      await send(verification.write.resolve([jobId, jobs.job(jobId), "0x"], { account: keeper.account }));
    },
    async finalize(jobId: bigint) {
      await networkHelpers.time.increaseTo(jobs.job(jobId).deadline + 1);
      await send(market.write.finalize([jobId, jobs.job(jobId)], { account: keeper.account }));
      await expectStatus(jobId, JobStatus.Finalized);
    },
    /** Finalize after the window of a job whose committed audit was never revealed: it opens an AuditUnrevealed dispute instead. */
    async finalizeIntoDispute(jobId: bigint) {
      await networkHelpers.time.increaseTo(jobs.job(jobId).deadline + 1);
      await send(market.write.finalize([jobId, jobs.job(jobId)], { account: keeper.account }));
      await expectStatus(jobId, JobStatus.Disputed);
    },
    async expire(jobId: bigint) {
      await networkHelpers.time.increaseTo(jobs.job(jobId).deadline + 1);
      await send(market.write.expire([jobId, jobs.job(jobId)], { account: keeper.account }));
      await expectStatus(jobId, JobStatus.Expired);
    },
  };
}

type Wallet = System["dapp"];

// ---------------------------------------------------------------- draws

/**
 * On a fresh chain: 8 honest verifiers of 200 and an attacker holding 800 (a third), first in one
 * account staked between the fourth and the fifth honest one, then (one block later, the single account
 * gone) split over four accounts of 100, 150, 250 and 300: the first takes the single account's freed
 * slot, the others come after the honest ones, so the attacker's stake sits elsewhere in the cumulative
 * weights and a seed that draws it in one layout need not in the other. Draws with each block as
 * snapshot, over the same seeds: the attacker's share of single draws, and
 * the seats it wins in committees drawn as `Verification._drawSeats` does (seat i drawn with the seed
 * `keccak256(abi.encode(seed, jobId, "committee", i))`, with replacement, excluding the provider, the
 * poster and the honest auditor that opened the dispute, who is also its challenger).
 */
async function measureDraws() {
  const conn = await network.create();
  const s = await deploySystem(conn, { marketParams: {} });
  const all = await conn.viem.getWalletClients();
  const honest = all.slice(8, 16);
  const single = all[16]!;
  const split = [all[17]!, all[18]!, all[19]!, all[7]!];
  const splitStakes = ["100", "150", "250", "300"].map((x) => parseEther(x));
  for (const w of honest.slice(0, 4)) await stake(s, w.account.address, VERIFIER_STAKE, ROLE_VERIFIER);
  await stake(s, single.account.address, parseEther("800"), ROLE_VERIFIER);
  for (const w of honest.slice(4)) await stake(s, w.account.address, VERIFIER_STAKE, ROLE_VERIFIER);
  const singleBlock = await s.publicClient.getBlockNumber();
  await s.staking.write.setRoles([ROLE_PROVIDER], { account: single.account });
  for (const [i, w] of split.entries()) await stake(s, w.account.address, splitStakes[i]!, ROLE_VERIFIER);
  const splitBlock = await s.publicClient.getBlockNumber();
  await conn.networkHelpers.mine();
  const [totalSingle, totalSplit] = await Promise.all([
    s.staking.read.totalVerifierWeightAt([singleBlock]),
    s.staking.read.totalVerifierWeightAt([splitBlock]),
  ]);
  if (totalSingle !== totalSplit) throw new Error(`total verifier weight ${totalSingle} vs ${totalSplit}`);
  const attacker = {
    single: new Set([single.account.address.toLowerCase()]),
    split: new Set(split.map((w) => w.account.address.toLowerCase())),
  };
  const parties = [s.provider.account.address, s.dapp.account.address];
  const draw = (seed: bigint, block: bigint, excluded: Address[]) => s.staking.read.drawVerifier([seed, block, excluded]);
  const seedOf = (...parts: (string | number)[]) => BigInt(keccak256(toHex(parts.join(" "))));

  /** The attacker's share of DRAWS draws, and which seeds drew it. */
  async function drawShare(block: bigint, mine: Set<string>) {
    const won: boolean[] = [];
    for (let i = 0; i < DRAWS; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, DRAWS - i) }, (_, j) => draw(seedOf("audit", i + j), block, parties)),
      );
      won.push(...batch.map((a) => mine.has(a.toLowerCase())));
    }
    const hits = won.filter(Boolean).length;
    return { hits, share: hits / DRAWS, won };
  }

  const size = Number(verificationTerms.committeeSize);
  const ZERO = "0x0000000000000000000000000000000000000000";
  /** One committee as the contract draws it; returns the attacker's seats and the committee's seats. */
  async function committee(trial: number, block: bigint, mine: Set<string>) {
    const auditor = honest[trial % honest.length]!.account.address;
    const excluded: Address[] = [...parties, auditor, auditor];
    const seed = toHex(seedOf("committee", trial), { size: 32 });
    const drawn = await Promise.all(
      Array.from({ length: size }, (_, i) =>
        draw(
          BigInt(keccak256(encodeAbiParameters(parseAbiParameters("bytes32, uint256, string, uint256"), [seed, BigInt(trial), "committee", BigInt(i)]))),
          block,
          excluded,
        ),
      ),
    );
    const seats = drawn.filter((a) => a !== ZERO);
    if (seats.length % 2 === 0 && seats.length > 0) seats.pop();
    return { seats: seats.filter((a) => mine.has(a.toLowerCase())).length, size: seats.length };
  }

  async function capture(block: bigint, mine: Set<string>): Promise<Capture & { trials: number; seatHistogram: number[] }> {
    let captured = 0;
    let seatsCaptured = 0;
    let seatsNot = 0;
    const seatHistogram = Array.from({ length: size + 1 }, () => 0);
    for (let t = 0; t < COMMITTEES; t += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, COMMITTEES - t) }, (_, j) => committee(t + j, block, mine)));
      for (const c of batch) {
        if (c.size !== size) throw new Error(`a committee of ${c.size} seats, expected ${size}`);
        seatHistogram[c.seats]!++;
        if (2 * c.seats > c.size) {
          captured++;
          seatsCaptured += c.seats;
        } else seatsNot += c.seats;
      }
    }
    return {
      k: captured / COMMITTEES,
      seatsIfCaptured: captured > 0 ? seatsCaptured / captured : 0,
      seatsIfNot: captured < COMMITTEES ? seatsNot / (COMMITTEES - captured) : 0,
      trials: COMMITTEES,
      seatHistogram,
    };
  }

  const [drawSingle, drawSplit] = [await drawShare(singleBlock, attacker.single), await drawShare(splitBlock, attacker.split)];
  const [capSingle, capSplit] = [await capture(singleBlock, attacker.single), await capture(splitBlock, attacker.split)];
  const honestStake = tok(VERIFIER_STAKE) * honest.length;
  const attackerStake = 800;
  return {
    honestVerifiers: honest.length,
    honestStake,
    attackerStake,
    /** The attacker's share of the stake a committee seat is drawn from (the honest auditor's excluded). */
    eligibleShare: attackerStake / (attackerStake + honestStake - tok(VERIFIER_STAKE)),
    splitAccounts: split.length,
    splitStakes: splitStakes.map(tok),
    draw: {
      seeds: DRAWS,
      expectedShare: SYBIL_R,
      single: { hits: drawSingle.hits, share: drawSingle.share },
      split: { hits: drawSplit.hits, share: drawSplit.share },
      /** Seeds that drew the attacker in one configuration and not in the other. */
      seedsThatDiffer: drawSingle.won.filter((w, i) => w !== drawSplit.won[i]).length,
      stderr: Math.sqrt((SYBIL_R * (1 - SYBIL_R)) / DRAWS),
    },
    committee: { seats: size, single: capSingle, split: capSplit },
  };
}
