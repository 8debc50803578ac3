/**
 * Test driver for the JobMarket, shared by the behaviour and attack tests of the market and the
 * verification contracts:
 * - `deployMarketOn`: the market, staking and registry on any token, with a wallet in the
 *   Verification slot so a test can call the dispute hooks directly (`hooksSystem` wires it up on the
 *   test token);
 * - `jobsOf`: a job tracker bound to any market (the fold of `offchain/chain/jobs.ts`);
 * - `marketDriver`: one call per lifecycle step (DESIGN section 3), with deterministic outputs and
 *   salts per job, so each test states only what it is about;
 * - `verificationDriver`: the same for audits, challenges and committee votes (IVerification), with
 *   the local verification parameters and the splits they imply.
 */
import { readFileSync } from "node:fs";

import {
  encodeAbiParameters,
  encodePacked,
  keccak256,
  parseAbiParameters,
  parseEther,
  toHex,
  type Address,
  type Hash,
  type Hex,
} from "viem";

import { foldJobLogs, type Job, type JobRecord } from "../../offchain/chain/jobs.js";
import { commitment } from "../../offchain/codec/commitment.js";
import {
  LOCAL_PARAMETERS,
  jobRequest,
  modelSpec,
  ROLE_PROVIDER,
  type Connection,
  type System,
} from "./fixture.js";

export type Market = System["market"];
export type Wallet = System["dapp"];
export type PublicClient = System["publicClient"];

export type MarketParams = {
  maxClaimDelay: number;
  commitTimeout: number;
  revealTimeout: number;
  challengeWindow: number;
  disputeDuration: number;
  callbackGasLimit: number;
  protocolFeeBps: number;
  auditLevyBps: number;
  expiryPenaltyBps: number;
  seedDelay: number;
  samplingPpm: number;
};

const local = JSON.parse(readFileSync(LOCAL_PARAMETERS, "utf8")).DinferLocal;

/** The market parameters of `ignition/parameters/local.json`. */
export const LOCAL_MARKET_PARAMS: MarketParams = local.marketParams;
/**
 * What the contract tests deploy with: the local parameters with sampling off, so that a test not
 * about audits never has a reveal held for one. Sampling tests turn it on themselves.
 */
export const MARKET_PARAMS: MarketParams = { ...LOCAL_MARKET_PARAMS, samplingPpm: 0 };
export const STAKING_PARAMS = {
  unbondingPeriod: BigInt(local.stakingParams.unbondingPeriod),
  minVerifierStake: BigInt(local.stakingParams.minVerifierStake),
};
export const CHALLENGE_BOND = BigInt(local.verificationParams.challengeBond);
export const BPS = 10_000n;
export const ZERO_ADDRESS: Address = "0x0000000000000000000000000000000000000000";
export const ZERO_HASH: Hex = "0x0000000000000000000000000000000000000000000000000000000000000000";
/** ReentrancyGuardReentrantCall(): what OpenZeppelin's guard reverts with. */
export const REENTRANT_CALL = keccak256(toHex("ReentrancyGuardReentrantCall()")).slice(0, 10) as Hex;

/** What finalize pays out of `fee` under the local parameters: [payout, protocolFee, auditLevy]. */
export function feeSplit(fee: bigint, params: MarketParams = MARKET_PARAMS) {
  const protocolFee = (fee * BigInt(params.protocolFeeBps)) / BPS;
  const auditLevy = (fee * BigInt(params.auditLevyBps)) / BPS;
  return { payout: fee - protocolFee - auditLevy, protocolFee, auditLevy };
}

/** The expiry penalty on `collateral`: collateral * expiryPenaltyBps / 10000. */
export function expiryPenalty(collateral: bigint, params: MarketParams = MARKET_PARAMS) {
  return (collateral * BigInt(params.expiryPenaltyBps)) / BPS;
}

/** The root of a one-chunk output, as the market recomputes it: keccak256(uint32(0) || output). */
export function inlineRoot(output: Hex): Hex {
  return keccak256(encodePacked(["uint32", "bytes"], [0, output]));
}

/** A job tracker for any market: `send` folds each receipt's market logs, `job(id)` is the state to pass. */
export function jobsOf(publicClient: PublicClient, marketAddress: Address) {
  const records = new Map<bigint, JobRecord>();
  return {
    records,
    async send(tx: Hash | Promise<Hash>) {
      const receipt = await publicClient.waitForTransactionReceipt({ hash: await tx });
      foldJobLogs(
        receipt.logs.filter((l) => l.address.toLowerCase() === marketAddress.toLowerCase()),
        records,
      );
      return receipt;
    },
    job(jobId: bigint): Job {
      const record = records.get(jobId);
      if (!record) throw new Error(`job ${jobId} not tracked`);
      return record.job;
    },
  };
}

export type Jobs = ReturnType<typeof jobsOf>;

/**
 * Staking, ModelRegistry and JobMarket on `token`, with the wallet `hook` (account 4) as the
 * Verification contract in both Staking and the market: tests call openDispute, settleDispute,
 * payAuditReward and Staking.slash as that wallet.
 */
export async function deployMarketOn(connection: Connection, token: Address) {
  const { viem } = connection;
  const [owner, dapp, provider, provider2, hook, challenger, keeper, stranger] = await viem.getWalletClients();
  const staking = await viem.deployContract("Staking", [token, owner.account.address, STAKING_PARAMS]);
  const registry = await viem.deployContract("ModelRegistry");
  const market = await viem.deployContract("JobMarket", [
    token,
    staking.address,
    registry.address,
    ZERO_ADDRESS,
    owner.account.address,
    MARKET_PARAMS,
  ]);
  await staking.write.setProtocol([market.address, hook.account.address]);
  await market.write.setVerification([hook.account.address]);
  await registry.write.register([modelSpec()]);
  const publicClient = await viem.getPublicClient();
  return { staking, registry, market, owner, dapp, provider, provider2, hook, challenger, keeper, stranger, publicClient };
}

/**
 * The market on the test token with a wallet as Verification (see `deployMarketOn`), a funded dApp
 * with an unlimited allowance and a provider staked with `providerStake`. Model id 1.
 */
export async function hooksSystem(connection: Connection, { providerStake = parseEther("1000") } = {}) {
  const token = await connection.viem.deployContract("DinferTestToken");
  const sys = { token, ...(await deployMarketOn(connection, token.address)) };
  await token.write.mint([sys.dapp.account.address, parseEther("100000")]);
  await token.write.approve([sys.market.address, 2n ** 256n - 1n], { account: sys.dapp.account });
  await stakeOn(sys, sys.provider, providerStake);
  return sys;
}

export type HooksSystem = Awaited<ReturnType<typeof hooksSystem>>;

/** Mints `amount` test tokens to `who` and stakes them with `roles`. */
export async function stakeOn(
  sys: Pick<HooksSystem, "token" | "staking">,
  who: Wallet,
  amount: bigint,
  roles: number = ROLE_PROVIDER,
) {
  await sys.token.write.mint([who.account.address, amount]);
  await sys.token.write.approve([sys.staking.address, amount], { account: who.account });
  await sys.staking.write.stake([amount, roles], { account: who.account });
}

export type DriverParameters = {
  connection: Connection;
  market: Market;
  publicClient: PublicClient;
  dapp: Wallet;
  provider: Wallet;
  keeper: Wallet;
  modelId?: bigint;
};

/**
 * One call per lifecycle step. Each job gets a deterministic output root and salt (`outputOf`);
 * `commit` remembers what it committed and `reveal` reveals it unless told otherwise.
 */
export function marketDriver({ connection, market, publicClient, dapp, provider, keeper, modelId = 1n }: DriverParameters) {
  const { networkHelpers } = connection;
  const jobs = jobsOf(publicClient, market.address);
  const committed = new Map<bigint, { outputRoot: Hex; salt: Hex }>();
  let chainId: bigint | undefined;

  const now = async () => BigInt(await networkHelpers.time.latest());
  const latestBlock = () => publicClient.getBlockNumber();

  /** Mines the next block (and every transaction's block) at `timestamp`; unmined calls keep it pending. */
  const at = (timestamp: bigint | number) => networkHelpers.time.setNextBlockTimestamp(timestamp);

  /** A request for model `modelId` with claimBy ten minutes out. */
  async function request(overrides: Record<string, unknown> = {}) {
    return jobRequest(modelId, (await now()) + 600n, overrides);
  }

  function outputOf(jobId: bigint) {
    return { outputRoot: keccak256(toHex(`output of job ${jobId}`)), salt: keccak256(toHex(`salt of job ${jobId}`)) };
  }

  async function commitmentOf(jobId: bigint, { outputRoot, salt, by = provider }: { outputRoot: Hex; salt: Hex; by?: Wallet }) {
    chainId ??= BigInt(await publicClient.getChainId());
    return commitment({ chainId, jobMarket: market.address, jobId, provider: by.account.address, outputRoot, salt });
  }

  /** Tracks a posting transaction (from any poster, a consumer contract too) and returns the new job's id. */
  async function posted(tx: Promise<Hash>) {
    await jobs.send(tx);
    return market.read.jobCount();
  }

  /** Posts a job from `by` (the dApp) and returns its id. */
  async function post(overrides: Record<string, unknown> = {}, by: Wallet = dapp) {
    return posted(market.write.postJob([await request(overrides)], { account: by.account }));
  }

  const claim = (jobId: bigint, by: Wallet = provider) =>
    jobs.send(market.write.claim([jobId, jobs.job(jobId)], { account: by.account }));

  async function commit(jobId: bigint, { outputRoot, salt, by = provider }: { outputRoot?: Hex; salt?: Hex; by?: Wallet } = {}) {
    const output = { ...outputOf(jobId), ...(outputRoot && { outputRoot }), ...(salt && { salt }) };
    committed.set(jobId, output);
    const c = await commitmentOf(jobId, { ...output, by });
    return jobs.send(market.write.commit([jobId, jobs.job(jobId), c], { account: by.account }));
  }

  /** Claims a posted job and commits to its (deterministic) output in one transaction. */
  async function claimAndCommit(jobId: bigint, { outputRoot, by = provider }: { outputRoot?: Hex; by?: Wallet } = {}) {
    const output = { ...outputOf(jobId), ...(outputRoot && { outputRoot }) };
    committed.set(jobId, output);
    const c = await commitmentOf(jobId, { ...output, by });
    return jobs.send(market.write.claimAndCommit([jobId, jobs.job(jobId), c], { account: by.account }));
  }

  /** Mines blocks until a reveal sent now is past the seed block (block.number > commitBlock + seedDelay). */
  async function waitForSeed(jobId: bigint) {
    const seedBlock = jobs.job(jobId).commitBlock + BigInt(MARKET_PARAMS.seedDelay);
    const missing = seedBlock - (await latestBlock());
    if (missing > 0n) await networkHelpers.mine(missing);
  }

  function revealArgs(
    jobId: bigint,
    { outputRoot, salt, inlineOutput = "0x", outputURI }: { outputRoot?: Hex; salt?: Hex; inlineOutput?: Hex; outputURI?: string } = {},
  ) {
    const output = committed.get(jobId) ?? outputOf(jobId);
    return [
      jobId,
      jobs.job(jobId),
      outputRoot ?? output.outputRoot,
      salt ?? output.salt,
      outputURI ?? (inlineOutput === "0x" ? `http://127.0.0.1:8600/blobs/${output.outputRoot}` : ""),
      inlineOutput,
    ] as const;
  }

  async function reveal(
    jobId: bigint,
    options: { outputRoot?: Hex; salt?: Hex; inlineOutput?: Hex; outputURI?: string; by?: Wallet; waitSeed?: boolean } = {},
  ) {
    if (options.waitSeed ?? true) await waitForSeed(jobId);
    return jobs.send(market.write.reveal(revealArgs(jobId, options), { account: (options.by ?? provider).account }));
  }

  type Source = bigint | Record<string, unknown>;
  /** A job id as given, or a job posted now by the dApp with these request overrides. */
  const jobFrom = (source: Source) => (typeof source === "bigint" ? Promise.resolve(source) : post(source));

  /** Claims a job (posted now unless an id is given); returns its id. */
  async function claimed(source: Source = {}) {
    const jobId = await jobFrom(source);
    await claim(jobId);
    return jobId;
  }

  /** Runs a job to Committed, committing to `inlineRoot(inlineOutput)` when an inline output is given. */
  async function committedJob(source: Source = {}, { inlineOutput }: { inlineOutput?: Hex } = {}) {
    const jobId = await claimed(source);
    await commit(jobId, inlineOutput ? { outputRoot: inlineRoot(inlineOutput) } : {});
    return jobId;
  }

  /** Runs a job to Revealed; with `inlineOutput`, revealed inline. */
  async function revealed(source: Source = {}, { inlineOutput }: { inlineOutput?: Hex } = {}) {
    const jobId = await committedJob(source, { inlineOutput });
    await reveal(jobId, { inlineOutput });
    return jobId;
  }

  /** Sets the next block to one second past the job's current deadline. */
  const pastDeadline = (jobId: bigint) => at(jobs.job(jobId).deadline + 1);

  /** Finalizes as the keeper once the challenge window is over. */
  async function finalize(jobId: bigint, by: Wallet = keeper) {
    await pastDeadline(jobId);
    return jobs.send(market.write.finalize([jobId, jobs.job(jobId)], { account: by.account }));
  }

  return {
    jobs,
    now,
    at,
    latestBlock,
    request,
    outputOf,
    commitmentOf,
    posted,
    post,
    claim,
    commit,
    claimAndCommit,
    waitForSeed,
    revealArgs,
    reveal,
    claimed,
    committed: committedJob,
    revealed,
    pastDeadline,
    finalize,
  };
}

export type MarketDriver = ReturnType<typeof marketDriver>;

/**
 * The market on FeeOnTransferToken (1% of every transfer burnt; contracts/test), with a funded dApp
 * whose allowance is unlimited and a funded provider. Model id 1.
 */
export async function feeOnTransferSystem(connection: Connection) {
  const token = await connection.viem.deployContract("FeeOnTransferToken");
  const sys = { token, ...(await deployMarketOn(connection, token.address)) };
  await token.write.mint([sys.dapp.account.address, parseEther("1000")]);
  await token.write.approve([sys.market.address, 2n ** 256n - 1n], { account: sys.dapp.account });
  await token.write.mint([sys.provider.account.address, parseEther("1000")]);
  await token.write.approve([sys.staking.address, 2n ** 256n - 1n], { account: sys.provider.account });
  return sys;
}

// ---------------------------------------------------------------- verification

const localVerification = local.verificationParams;

/** The verification parameters of `ignition/parameters/local.json`, as `Verification.params()` returns them. */
export const VERIFICATION_PARAMS = {
  challengeBond: BigInt(localVerification.challengeBond),
  auditReward: BigInt(localVerification.auditReward),
  auditorPenalty: BigInt(localVerification.auditorPenalty),
  voterPenalty: BigInt(localVerification.voterPenalty),
  auditCommitTimeout: Number(localVerification.auditCommitTimeout),
  voteCommitTimeout: Number(localVerification.voteCommitTimeout),
  voteRevealTimeout: Number(localVerification.voteRevealTimeout),
  committeeSize: Number(localVerification.committeeSize),
  challengerRewardBps: Number(localVerification.challengerRewardBps),
  voterRewardBps: Number(localVerification.voterRewardBps),
  providerRewardBps: Number(localVerification.providerRewardBps),
};
export type VerificationParams = typeof VERIFICATION_PARAMS;

/** IVerification's enums, by name. */
export const AuditState = { None: 0, Drawn: 1, Committed: 2, Agreed: 3, Disagreed: 4, Missed: 5, Penalized: 6 } as const;
export const Verdict = { Agree: 0, Disagree: 1 } as const;
export const Vote = { None: 0, ProviderCorrect: 1, ProviderWrong: 2 } as const;
export const DisputeState = { None: 0, Open: 1, Voting: 2, Resolved: 3 } as const;

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

/**
 * What Settlement.split gives, restated: a lead share of `leadBps`, `voters` equal shares of a
 * `voterBps` pool, each rounded down, and the rest (the rounding included) for the treasury.
 */
export function settlementSplit(amount: bigint, leadBps: number, voterBps: number, voters: number) {
  const lead = (amount * BigInt(leadBps)) / BPS;
  const perVoter = voters === 0 ? 0n : (amount * BigInt(voterBps)) / BPS / BigInt(voters);
  return { lead, perVoter, rest: amount - lead - perVoter * BigInt(voters) };
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

export type VerificationDriverParameters = {
  connection: Connection;
  sys: Pick<System, "verification" | "market" | "staking" | "publicClient" | "keeper">;
  d: MarketDriver;
  /** Every wallet a drawn auditor or committee member can be (all of the node's accounts). */
  wallets: Wallet[];
};

/**
 * One call per audit and dispute step (IVerification), on top of a market driver whose job tracker
 * folds each receipt. Audit outputs and vote salts are deterministic per job and account.
 */
export function verificationDriver({ connection, sys, d, wallets }: VerificationDriverParameters) {
  const { networkHelpers } = connection;
  const { verification, market, publicClient, keeper } = sys;
  let chainId: bigint | undefined;
  const chain = async () => (chainId ??= BigInt(await publicClient.getChainId()));

  /** The wallet of `address` (a drawn auditor or member). */
  function wallet(address: Address): Wallet {
    const found = wallets.find((w) => w.account.address.toLowerCase() === address.toLowerCase());
    if (!found) throw new Error(`no wallet for ${address}`);
    return found;
  }

  const auditorOf = (jobId: bigint) => verification.read.auditorOf([jobId, d.jobs.job(jobId)]);

  /**
   * The drawn auditor's wallet; throws when nobody is drawn. A call runs in the latest block, where the
   * seed block may be the current one (no seed yet): one more block is mined then.
   */
  async function auditor(jobId: bigint): Promise<Wallet> {
    const recorded = (await verification.read.audit([jobId])).auditor;
    if (recorded !== ZERO_ADDRESS) return wallet(recorded);
    let address = await auditorOf(jobId);
    if (address === ZERO_ADDRESS) {
      await networkHelpers.mine();
      address = await auditorOf(jobId);
    }
    if (address === ZERO_ADDRESS) throw new Error(`job ${jobId} has no auditor`);
    return wallet(address);
  }

  /** An audit output: the provider's root when `agree`, else a root of the auditor's own. */
  function auditOutput(jobId: bigint, { agree = true }: { agree?: boolean } = {}) {
    return {
      outputRoot: agree ? d.outputOf(jobId).outputRoot : keccak256(toHex(`audit output of job ${jobId}`)),
      salt: keccak256(toHex(`audit salt of job ${jobId}`)),
    };
  }

  async function auditCommitment(jobId: bigint, by: Wallet, output: { outputRoot: Hex; salt: Hex }) {
    return commitment({ chainId: await chain(), jobMarket: market.address, jobId, provider: by.account.address, ...output });
  }

  /** The auditor (drawn unless `by`) commits to `output` (the provider's root by default). */
  async function commitAudit(jobId: bigint, { by, output }: { by?: Wallet; output?: { outputRoot: Hex; salt: Hex } } = {}) {
    const who = by ?? (await auditor(jobId));
    const c = await auditCommitment(jobId, who, output ?? auditOutput(jobId));
    return d.jobs.send(verification.write.commitAudit([jobId, d.jobs.job(jobId), c], { account: who.account }));
  }

  function revealAuditArgs(jobId: bigint, output: { outputRoot: Hex; salt: Hex }, verdict: number) {
    return [jobId, d.jobs.job(jobId), output.outputRoot, output.salt, verdict, `http://auditor/blobs/${output.outputRoot}`] as const;
  }

  async function revealAudit(
    jobId: bigint,
    { by, output, verdict = Verdict.Agree }: { by?: Wallet; output?: { outputRoot: Hex; salt: Hex }; verdict?: number } = {},
  ) {
    const who = by ?? (await auditor(jobId));
    const args = revealAuditArgs(jobId, output ?? auditOutput(jobId), verdict);
    return d.jobs.send(verification.write.revealAudit(args, { account: who.account }));
  }

  /** A committed job whose drawn auditor committed blind to `output`, then revealed by the provider. */
  async function auditedReveal(jobId: bigint, { output }: { output?: { outputRoot: Hex; salt: Hex } } = {}) {
    await d.waitForSeed(jobId);
    await commitAudit(jobId, { output });
    return d.reveal(jobId);
  }

  const challenge = (jobId: bigint, by: Wallet) =>
    d.jobs.send(verification.write.challenge([jobId, d.jobs.job(jobId)], { account: by.account }));

  /** Mines up to the dispute's committee seed block, then draws (as the keeper by default). */
  async function drawCommittee(jobId: bigint, by: Wallet = keeper) {
    const { openedBlock } = await verification.read.dispute([jobId]);
    const seedBlock = openedBlock + BigInt(MARKET_PARAMS.seedDelay);
    const missing = seedBlock - (await publicClient.getBlockNumber());
    if (missing >= 0n) await networkHelpers.mine(missing + 1n);
    return d.jobs.send(verification.write.drawCommittee([jobId], { account: by.account }));
  }

  async function committee(jobId: bigint): Promise<Wallet[]> {
    return (await verification.read.dispute([jobId])).committee.map(wallet);
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
   * Members vote `votes[i]` (Vote.None: the member stays silent): commits, waits out the commit phase
   * unless every member committed, then reveals.
   */
  async function vote(jobId: bigint, votes: number[]) {
    const members = await committee(jobId);
    if (votes.length !== members.length) throw new Error(`${members.length} members, ${votes.length} votes`);
    for (const [i, member] of members.entries()) if (votes[i] !== Vote.None) await commitVote(jobId, member, votes[i]);
    if (votes.includes(Vote.None)) await d.at((await verification.read.dispute([jobId])).voteCommitBy + 1n);
    for (const [i, member] of members.entries()) if (votes[i] !== Vote.None) await revealVote(jobId, member, votes[i]);
    return members;
  }

  /** Resolves (as the keeper by default), first waiting out the vote reveal phase or the dispute duration when needed. */
  async function resolve(jobId: bigint, { by = keeper, wait = true, inlineOutput = "0x" as Hex } = {}) {
    if (wait) {
      const dispute = await verification.read.dispute([jobId]);
      const now = await d.now();
      const at =
        dispute.state === DisputeState.Open ? dispute.openedAt + BigInt(MARKET_PARAMS.disputeDuration) + 1n : dispute.voteRevealBy + 1n;
      if (dispute.state !== DisputeState.Voting || !(await allRevealed(jobId))) if (now < at) await d.at(at);
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
    auditorOf,
    auditor,
    auditOutput,
    auditCommitment,
    commitAudit,
    revealAuditArgs,
    revealAudit,
    auditedReveal,
    challenge,
    drawCommittee,
    committee,
    voteSalt,
    voteCommitmentOf,
    commitVote,
    revealVote,
    vote,
    resolve,
  };
}

export type VerificationDriver = ReturnType<typeof verificationDriver>;
