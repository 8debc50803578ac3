/**
 * Test driver for the JobMarket, shared by the behaviour and attack tests of the market and the
 * verification contracts:
 * - `deployMarketOn`: the market, staking, registry and terms on any token, with a wallet in the
 *   Verification slot so a test can call the dispute hooks directly (`hooksSystem` wires it up on the
 *   test token);
 * - `jobsOf`: a job tracker bound to any market (the fold of `offchain/chain/jobs.ts`);
 * - `marketDriver`: one call per lifecycle step (docs/PROTOCOL.md section 4), with deterministic outputs and
 *   salts per job, so each test states only what it is about.
 * The Verification driver (audits, challenges, votes) is `test/helpers/verification.ts`.
 */
import { readFileSync } from "node:fs";

import {
  encodePacked,
  keccak256,
  sha256,
  parseEther,
  toHex,
  zeroAddress,
  type Address,
  type Hash,
  type Hex,
} from "viem";

import { foldJobLogs, type Job, type JobRecord } from "../../offchain/chain/jobs.js";
import type { MarketTerms } from "../../offchain/chain/terms.js";
import { signedJobArg, signedJobId, signJob, type JobRequestFields, type TypedDataSigner } from "../../offchain/chain/signed-jobs.js";
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

/** The market half of the protocol terms (`IProtocolTerms.MarketParams`). */
export type MarketParams = MarketTerms;

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
/**
 * The verification half of the local terms, as the ProtocolTerms constructor takes it (the market's
 * deployments here need one; `test/helpers/verification.ts` names the same values for the audit tests):
 * every field of the parameters file, amounts (decimal strings) as bigints.
 */
const TERMS_VERIFICATION_PARAMS = Object.fromEntries(
  Object.entries(local.verificationParams as Record<string, string | number>).map(([k, v]) => [k, typeof v === "string" ? BigInt(v) : v]),
) as VerificationTerms;
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

/** The root of a one-chunk output, as the market recomputes it: sha256(uint32(0) || output). */
export function inlineRoot(output: Hex): Hex {
  return sha256(encodePacked(["uint32", "bytes"], [0, output]));
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
 * Staking, ModelRegistry, ProtocolTerms (first version: MARKET_PARAMS and the local verification terms)
 * and JobMarket on `token`, with the wallet `hook` (account 4) as the Verification contract in both
 * Staking and the market: tests call openDispute, settleDispute, payAuditReward and Staking.slash as that
 * wallet. A wallet cannot answer the market's calls to Verification (a sampled reveal, finalize or
 * expiry), so jobs here must not be sampled: sampling is off by default.
 */
export async function deployMarketOn(
  connection: Connection,
  token: Address,
  {
    marketParams = MARKET_PARAMS,
    verificationParams = {},
    randomness = ZERO_ADDRESS,
  }: {
    marketParams?: MarketParams;
    /** Overrides of the local verification terms. */
    verificationParams?: Partial<VerificationTerms>;
    /** An IRandomness source (zero: blockhash). */
    randomness?: Address;
  } = {},
) {
  const { viem } = connection;
  const [owner, dapp, provider, provider2, hook, challenger, keeper, stranger] = await viem.getWalletClients();
  const staking = await viem.deployContract("Staking", [token, owner.account.address, STAKING_PARAMS]);
  const registry = await viem.deployContract("ModelRegistry");
  const terms = await viem.deployContract("ProtocolTerms", [
    staking.address,
    owner.account.address,
    marketParams,
    { ...TERMS_VERIFICATION_PARAMS, ...verificationParams },
  ]);
  const market = await viem.deployContract("JobMarket", [
    token,
    staking.address,
    registry.address,
    randomness,
    terms.address,
    owner.account.address,
  ]);
  await staking.write.setProtocol([market.address, hook.account.address]);
  await market.write.setVerification([hook.account.address]);
  await terms.write.setMarket([market.address]);
  await registry.write.register([modelSpec()]);
  const publicClient = await viem.getPublicClient();
  return { staking, registry, terms, market, owner, dapp, provider, provider2, hook, challenger, keeper, stranger, publicClient };
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
  /** The terms contract: with it, `waitForSeed` uses each job's own terms version (else MARKET_PARAMS). */
  terms?: Terms;
};

export type Terms = System["terms"];
/** IProtocolTerms.VerificationParams, as viem reads and writes it. */
export type VerificationTerms = Awaited<ReturnType<Terms["read"]["verificationParams"]>>;

/**
 * One call per lifecycle step. Each job gets a deterministic output root and salt (`outputOf`);
 * `commit` remembers what it committed and `reveal` reveals it unless told otherwise.
 */
export function marketDriver({ connection, market, publicClient, dapp, provider, keeper, modelId = 1n, terms }: DriverParameters) {
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

  /**
   * A request `poster` signs off-chain, posted and committed by `by` (postSignedAndCommit) in one
   * transaction; returns the job's id with the receipt.
   */
  async function postSignedAndCommit(
    overrides: Record<string, unknown> = {},
    { by = provider, poster = dapp, forProvider = zeroAddress }: { by?: Wallet; poster?: Wallet; forProvider?: Address } = {},
  ) {
    chainId ??= BigInt(await publicClient.getChainId());
    const domain = { chainId: Number(chainId), market: market.address };
    const signer = { address: poster.account.address, signTypedData: (td: Parameters<TypedDataSigner["signTypedData"]>[0]) => poster.signTypedData({ account: poster.account, ...td }) };
    const signed = await signJob(signer, domain, (await request(overrides)) as JobRequestFields, { provider: forProvider, minCollateral: 0n });
    const jobId = signedJobId(domain, signed);
    const output = outputOf(jobId);
    committed.set(jobId, output);
    const c = await commitmentOf(jobId, { ...output, by });
    const receipt = await jobs.send(
      market.write.postSignedAndCommit([signedJobArg(signed), signed.signature, c], {
        account: by.account,
      }),
    );
    return { jobId, receipt, signed, domain };
  }

  /** The seed delay of a job's terms version. */
  async function seedDelayOf(jobId: bigint) {
    if (!terms) return MARKET_PARAMS.seedDelay;
    const [params] = await terms.read.termsOf([BigInt(jobs.job(jobId).terms)]);
    return params.seedDelay;
  }

  /** The block whose seed samples a committed job: its commit block + its terms' seedDelay. */
  async function seedBlockOf(jobId: bigint) {
    return jobs.job(jobId).commitBlock + BigInt(await seedDelayOf(jobId));
  }

  /** Mines blocks until a reveal sent now is past the seed block (block.number > commitBlock + seedDelay). */
  async function waitForSeed(jobId: bigint) {
    const seedBlock = await seedBlockOf(jobId);
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
      outputURI ?? (inlineOutput === "0x" ? `http://127.0.0.1:8600/outputs/${output.outputRoot}` : ""),
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
    postSignedAndCommit,
    seedBlockOf,
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

