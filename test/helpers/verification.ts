/**
 * Test driver for the Verification contract (IVerification, docs/PROTOCOL.md section 7), shared by its
 * behaviour tests and the attack suite:
 * - the local verification terms of `ignition/parameters/local.json` and IVerification's enums;
 * - the hashes the contracts draw and sample with (audit, committee and recheck seeds, vote
 *   commitments) and the splits of Settlement.sol, restated;
 * - `verificationDriver`: one call per audit and dispute step, on top of a `marketDriver`, with
 *   deterministic audit outputs and vote salts per job and account.
 */
import { readFileSync } from "node:fs";

import { encodeAbiParameters, getAddress, keccak256, parseAbiParameters, toHex, type Address, type Hex } from "viem";

import { commitment } from "../../offchain/codec/commitment.js";
import { LOCAL_PARAMETERS, type Connection, type System } from "./fixture.js";
import { BPS, LOCAL_MARKET_PARAMS, ZERO_ADDRESS, type MarketDriver, type Wallet } from "./market.js";

const localVerification = JSON.parse(readFileSync(LOCAL_PARAMETERS, "utf8")).DinferLocal.verificationParams;

/** The verification half of the local terms, as `ProtocolTerms.verificationParamsOf` returns it. */
export const VERIFICATION_PARAMS = {
  challengeBond: BigInt(localVerification.challengeBond),
  auditorPenalty: BigInt(localVerification.auditorPenalty),
  voterPenalty: BigInt(localVerification.voterPenalty),
  auditCommitTimeout: Number(localVerification.auditCommitTimeout),
  voteCommitTimeout: Number(localVerification.voteCommitTimeout),
  voteRevealTimeout: Number(localVerification.voteRevealTimeout),
  committeeSize: Number(localVerification.committeeSize),
  challengerRewardBps: Number(localVerification.challengerRewardBps),
  providerRewardBps: Number(localVerification.providerRewardBps),
  auditRewardBps: Number(localVerification.auditRewardBps),
  voterRewardBps: Number(localVerification.voterRewardBps),
  recheckPpm: Number(localVerification.recheckPpm),
};
export type VerificationParams = typeof VERIFICATION_PARAMS;

export const PPM = 1_000_000n;

/** IVerification's enums, by name. */
export const AuditState = { None: 0, Committed: 1, Agreed: 2, Disagreed: 3, Missed: 4, Unrevealed: 5 } as const;
export const Verdict = { Agree: 0, Disagree: 1 } as const;
export const Vote = { None: 0, ProviderCorrect: 1, ProviderWrong: 2, AuditorWrong: 3 } as const;
export const DisputeState = { None: 0, Open: 1, Voting: 2, Resolved: 3 } as const;
export const DisputeReason = { Challenge: 0, AuditDisagreed: 1, AuditMissed: 2, AuditUnrevealed: 3, Recheck: 4, Replicas: 5 } as const;

/** A committee vote's commitment: keccak256(abi.encode(chainId, verification, jobId, voter, uint8(vote), salt)). */
export function voteCommitment({
  chainId,
  verification,
  jobId,
  voter,
  vote,
  salt,
}: {
  chainId: bigint;
  verification: Address;
  jobId: bigint;
  voter: Address;
  vote: number;
  salt: Hex;
}): Hex {
  return keccak256(
    encodeAbiParameters(parseAbiParameters("uint256, address, uint256, address, uint8, bytes32"), [
      chainId,
      verification,
      jobId,
      voter,
      vote,
      salt,
    ]),
  );
}

/** What an Agree that stands is paid for a job of `fee`: `auditRewardBps` of it, from the audit pool. */
export function auditRewardOf(fee: bigint, params: VerificationParams = VERIFICATION_PARAMS) {
  return (fee * BigInt(params.auditRewardBps)) / BPS;
}

/**
 * What each seat that voted the outcome of a dispute the protocol opened (an audit's Disagree, a missed or
 * unrevealed audit, a recheck) is paid for a job of `fee`: `voterRewardBps` of it, from the audit pool (a
 * challenge's committee is paid out of the bond instead: `challengeSeatPay`).
 */
export function voterRewardOf(fee: bigint, params: VerificationParams = VERIFICATION_PARAMS) {
  return (fee * BigInt(params.voterRewardBps)) / BPS;
}

/**
 * What each seat of a CHALLENGE's committee is paid for voting the outcome, out of the challenger's bond
 * (docs/PROTOCOL.md section 7): `challengeBond x (10000 - providerRewardBps) / 10000 / seats`, rounded down
 * as Verification does, the same for either verdict.
 */
export function challengeSeatPay(seats: number, params: VerificationParams = VERIFICATION_PARAMS) {
  return (params.challengeBond * (BPS - BigInt(params.providerRewardBps))) / BPS / BigInt(seats);
}

/**
 * A faulted dispute's split of the slash (docs/PROTOCOL.md section 7): the finder gets `challengerRewardBps`
 * of the whole slash first (so a second account of the cheater that challenges cannot shrink it), then what
 * is left reimburses a challenger what its bond paid the committee (`bondPaid`, at most that rest), and the
 * treasury gets the remainder. (A dispute without a bond: `bondPaid` 0.)
 */
export function faultedSplit(slashed: bigint, bondPaid: bigint, params: VerificationParams = VERIFICATION_PARAMS) {
  const { lead: finder, rest } = split(slashed, params.challengerRewardBps);
  const reimbursed = bondPaid < rest ? bondPaid : rest;
  return { finder, reimbursed, treasury: rest - reimbursed };
}

/**
 * What a missed (`auditorPenalty`) or unrevealed (`challengeBond`) audit costs its auditor on a job of `fee`
 * (docs/PROTOCOL.md section 7): the flat penalty, but at least the pay of the committee that replaces it,
 * `committeeSize x (fee x voterRewardBps / 10000)` (the seat pay rounded down first, as Verification does).
 */
export function absentAuditPenalty(flat: bigint, fee: bigint, params: VerificationParams = VERIFICATION_PARAMS) {
  const committeePay = voterRewardOf(fee, params) * BigInt(params.committeeSize);
  return committeePay > flat ? committeePay : flat;
}

/** One member of the verifier set at a snapshot, in slot order (a free slot weighs zero). */
export type WeightEntry = { account: Address; weight: bigint };

/**
 * Staking.drawVerifier restated (docs/PROTOCOL.md section 6) over the set at the snapshot in slot order:
 * the excluded members' ranges are cut out of the cumulative weights, the point `seed % remainingWeight`
 * is taken in what is left, and the member whose range holds it wins; zero when nobody is left.
 */
export function drawFrom(table: WeightEntry[], seed: bigint, excluded: Address[]): Address {
  const out = new Set(excluded.map((a) => getAddress(a)));
  const left = table.filter((e) => e.weight !== 0n && !out.has(getAddress(e.account)));
  const total = left.reduce((sum, e) => sum + e.weight, 0n);
  if (total === 0n) return ZERO_ADDRESS;
  let point = seed % total;
  for (const e of left) {
    if (point < e.weight) return getAddress(e.account);
    point -= e.weight;
  }
  throw new Error("unreachable: the point lies inside the remaining weight");
}

/** Settlement.split restated: a lead share of `leadBps` (rounded down) and the rest. */
export function split(amount: bigint, leadBps: number) {
  const lead = (amount * BigInt(leadBps)) / BPS;
  return { lead, rest: amount - lead };
}

/** Whether `seed` samples `jobId`: uint256(keccak256(abi.encode(seed, jobId))) % 1e6 < samplingPpm. */
export function isSampled(seed: Hex, jobId: bigint, samplingPpm: number): boolean {
  return BigInt(keccak256(encodeAbiParameters(parseAbiParameters("bytes32, uint256"), [seed, jobId]))) % PPM < BigInt(samplingPpm);
}

/** The seed an auditor is drawn with: uint256(keccak256(abi.encode(seed, jobId, "audit"))). */
export function auditDrawSeed(seed: Hex, jobId: bigint): bigint {
  return BigInt(keccak256(encodeAbiParameters(parseAbiParameters("bytes32, uint256, string"), [seed, jobId, "audit"])));
}

/** Committee member i's draw seed: uint256(keccak256(abi.encode(seed, jobId, "committee", i))). */
export function committeeDrawSeed(seed: Hex, jobId: bigint, i: number): bigint {
  return BigInt(
    keccak256(encodeAbiParameters(parseAbiParameters("bytes32, uint256, string, uint256"), [seed, jobId, "committee", BigInt(i)])),
  );
}

/** Whether an Agree with another root is rechecked: uint256(keccak256(abi.encode(seed, jobId, "recheck"))) % 1e6 < recheckPpm. */
export function isRechecked(seed: Hex, jobId: bigint, recheckPpm: number): boolean {
  const draw = BigInt(keccak256(encodeAbiParameters(parseAbiParameters("bytes32, uint256, string"), [seed, jobId, "recheck"])));
  return draw % PPM < BigInt(recheckPpm);
}

export type VerificationDriverParameters = {
  connection: Connection;
  sys: Pick<System, "verification" | "market" | "publicClient" | "keeper">;
  d: MarketDriver;
  /** Every wallet a drawn auditor or committee member can be (all of the node's accounts). */
  wallets: Wallet[];
  /** The jobs' seed delay (the local terms' by default). */
  seedDelay?: number;
};

export type AuditOutput = { outputRoot: Hex; salt: Hex };

/**
 * One call per audit and dispute step (IVerification), on top of a market driver whose job tracker
 * folds each receipt. Audit outputs and vote salts are deterministic per job and account.
 */
export function verificationDriver({ connection, sys, d, wallets, seedDelay = LOCAL_MARKET_PARAMS.seedDelay }: VerificationDriverParameters) {
  const { networkHelpers } = connection;
  const { verification, market, publicClient, keeper } = sys;
  let chainId: bigint | undefined;
  const chain = async () => (chainId ??= BigInt(await publicClient.getChainId()));

  /** Mines until a transaction or a call sent now runs in a block after `block`. */
  async function mineBeyond(block: bigint) {
    const missing = block - (await publicClient.getBlockNumber());
    if (missing >= 0n) await networkHelpers.mine(missing + 1n);
  }

  /** The wallet of `address` (a drawn auditor or member). */
  function wallet(address: Address): Wallet {
    const found = wallets.find((w) => w.account.address.toLowerCase() === address.toLowerCase());
    if (!found) throw new Error(`no wallet for ${address}`);
    return found;
  }

  const auditorOf = (jobId: bigint) => verification.read.auditorOf([jobId, d.jobs.job(jobId)]);

  /**
   * The job's auditor (recorded, else drawn); throws when nobody is drawn. A call runs in the latest
   * block, where the seed block may be the current one (no seed yet): one more block is mined then.
   */
  async function auditor(jobId: bigint): Promise<Wallet> {
    const recorded = (await verification.read.audit([jobId])).auditor;
    if (recorded !== ZERO_ADDRESS) return wallet(recorded);
    await mineBeyond(d.jobs.job(jobId).commitBlock + BigInt(seedDelay));
    const address = await auditorOf(jobId);
    if (address === ZERO_ADDRESS) throw new Error(`job ${jobId} has no auditor`);
    return wallet(address);
  }

  /** An audit output: the provider's root when `agree`, else a root of the auditor's own. */
  function auditOutput(jobId: bigint, { agree = true }: { agree?: boolean } = {}): AuditOutput {
    return {
      outputRoot: agree ? d.outputOf(jobId).outputRoot : keccak256(toHex(`audit output of job ${jobId}`)),
      salt: keccak256(toHex(`audit salt of job ${jobId}`)),
    };
  }

  async function auditCommitment(jobId: bigint, by: Wallet, output: AuditOutput) {
    return commitment({ chainId: await chain(), jobMarket: market.address, jobId, provider: by.account.address, ...output });
  }

  /** The auditor (drawn unless `by`) commits to `output` (the provider's root by default). */
  async function commitAudit(jobId: bigint, { by, output }: { by?: Wallet; output?: AuditOutput } = {}) {
    const who = by ?? (await auditor(jobId));
    const c = await auditCommitment(jobId, who, output ?? auditOutput(jobId));
    return d.jobs.send(verification.write.commitAudit([jobId, d.jobs.job(jobId), c], { account: who.account }));
  }

  function revealAuditArgs(jobId: bigint, output: AuditOutput, verdict: number) {
    return [jobId, d.jobs.job(jobId), output.outputRoot, output.salt, verdict, `http://auditor/outputs/${output.outputRoot}`] as const;
  }

  /** Mines until the audit's recheck seed block (`seedDelay` after the auditor's commit) is mined. */
  async function waitForRecheckSeed(jobId: bigint) {
    await mineBeyond((await verification.read.audit([jobId])).commitBlock + BigInt(seedDelay));
  }

  /** The auditor reveals `output` (the provider's root by default) with `verdict`, once its recheck seed exists. */
  async function revealAudit(
    jobId: bigint,
    { by, output, verdict = Verdict.Agree, waitSeed = true }: { by?: Wallet; output?: AuditOutput; verdict?: number; waitSeed?: boolean } = {},
  ) {
    const who = by ?? (await auditor(jobId));
    if (waitSeed) await waitForRecheckSeed(jobId);
    const args = revealAuditArgs(jobId, output ?? auditOutput(jobId), verdict);
    return d.jobs.send(verification.write.revealAudit(args, { account: who.account }));
  }

  /** A committed job whose drawn auditor committed blind to `output`, then revealed by the provider. */
  async function auditedReveal(jobId: bigint, { output, reveal = {} }: { output?: AuditOutput; reveal?: Parameters<MarketDriver["reveal"]>[1] } = {}) {
    await d.waitForSeed(jobId);
    await commitAudit(jobId, { output });
    return d.reveal(jobId, reveal);
  }

  const challenge = (jobId: bigint, by: Wallet) =>
    d.jobs.send(verification.write.challenge([jobId, d.jobs.job(jobId)], { account: by.account }));

  /** Mines past the dispute's committee seed block, then draws (as the keeper by default). */
  async function drawCommittee(jobId: bigint, by: Wallet = keeper) {
    await mineBeyond((await verification.read.dispute([jobId])).seedBlock);
    return d.jobs.send(verification.write.drawCommittee([jobId], { account: by.account }));
  }

  /** The committee's seats, in draw order (a member drawn twice holds two seats). */
  async function committee(jobId: bigint): Promise<Wallet[]> {
    return (await verification.read.dispute([jobId])).committee.map(wallet);
  }

  /** The committee's distinct members in order of their first seat, with how many seats each holds. */
  async function members(jobId: bigint): Promise<{ wallet: Wallet; seats: number }[]> {
    const out: { wallet: Wallet; seats: number }[] = [];
    for (const seat of await committee(jobId)) {
      const found = out.find((m) => m.wallet.account.address === seat.account.address);
      if (found) found.seats += 1;
      else out.push({ wallet: seat, seats: 1 });
    }
    return out;
  }

  const voteSalt = (jobId: bigint, voter: Wallet) => keccak256(toHex(`vote salt of job ${jobId} by ${voter.account.address}`));

  async function voteCommitmentOf(jobId: bigint, voter: Wallet, vote: number, salt: Hex = voteSalt(jobId, voter)) {
    return voteCommitment({ chainId: await chain(), verification: verification.address, jobId, voter: voter.account.address, vote, salt });
  }

  async function commitVote(jobId: bigint, voter: Wallet, vote: number, salt?: Hex) {
    const c = await voteCommitmentOf(jobId, voter, vote, salt);
    return d.jobs.send(verification.write.commitVote([jobId, c], { account: voter.account }));
  }

  const revealVote = (jobId: bigint, voter: Wallet, vote: number, salt: Hex = voteSalt(jobId, voter)) =>
    d.jobs.send(verification.write.revealVote([jobId, vote, salt], { account: voter.account }));

  /**
   * The distinct members vote `votes[i]` (Vote.None: the member stays silent), or `votes(member, seats)`:
   * commits, waits out the commit phase unless every member committed, then reveals. Returns the members.
   */
  async function vote(jobId: bigint, votes: number[] | ((member: Wallet, seats: number) => number)) {
    const drawn = await members(jobId);
    const chosen = typeof votes === "function" ? drawn.map((m) => votes(m.wallet, m.seats)) : votes;
    if (chosen.length !== drawn.length) throw new Error(`${drawn.length} members, ${chosen.length} votes`);
    for (const [i, m] of drawn.entries()) if (chosen[i] !== Vote.None) await commitVote(jobId, m.wallet, chosen[i]);
    if (chosen.includes(Vote.None)) await d.at((await verification.read.dispute([jobId])).voteCommitBy + 1n);
    for (const [i, m] of drawn.entries()) if (chosen[i] !== Vote.None) await revealVote(jobId, m.wallet, chosen[i]);
    return drawn;
  }

  /** Resolves (as the keeper by default), first waiting out the vote or the dispute duration when needed. */
  async function resolve(jobId: bigint, { by = keeper, wait = true, inlineOutput = "0x" as Hex, disputeDuration = LOCAL_MARKET_PARAMS.disputeDuration } = {}) {
    if (wait) {
      const dispute = await verification.read.dispute([jobId]);
      const at = dispute.state === DisputeState.Open ? dispute.openedAt + BigInt(disputeDuration) + 1n : dispute.voteRevealBy + 1n;
      const waiting = dispute.state !== DisputeState.Voting || !(await allRevealed(jobId));
      if (waiting && (await d.now()) < at) await d.at(at);
    }
    return d.jobs.send(verification.write.resolve([jobId, d.jobs.job(jobId), inlineOutput], { account: by.account }));
  }

  async function allRevealed(jobId: bigint) {
    const { committee: members } = await verification.read.dispute([jobId]);
    for (const m of members) if ((await verification.read.voteOf([jobId, m]))[1] === Vote.None) return false;
    return true;
  }

  return {
    wallet,
    mineBeyond,
    auditorOf,
    auditor,
    auditOutput,
    auditCommitment,
    commitAudit,
    revealAuditArgs,
    waitForRecheckSeed,
    revealAudit,
    auditedReveal,
    challenge,
    drawCommittee,
    committee,
    members,
    voteSalt,
    voteCommitmentOf,
    commitVote,
    revealVote,
    vote,
    resolve,
  };
}

export type VerificationDriver = ReturnType<typeof verificationDriver>;
