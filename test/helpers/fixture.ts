import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { NetworkConnection } from "hardhat/types/network";
import { keccak256, parseEther, toHex, type Address, type Hash, type Hex } from "viem";

import type { Deployment } from "../../offchain/chain/deployment.js";
import { foldJobLogs, type Job, type JobRecord } from "../../offchain/chain/jobs.js";

import DinferLocal from "../../ignition/modules/DinferLocal.js";

const here = path.dirname(fileURLToPath(import.meta.url));
export const LOCAL_PARAMETERS = path.resolve(here, "../../ignition/parameters/local.json");

export const MODEL_COLLATERAL = parseEther("100");
export const PRICE_FLOOR = parseEther("1");
export const FEE = parseEther("10");

export type Connection = NetworkConnection;

export type DeploySystemParameters = {
  /** Overrides of the local market terms; by default sampling is off (`samplingPpm: 0`) so that
   * tests not about audits never wait for one. */
  marketParams?: Record<string, number>;
  /** Overrides of the local verification terms (amounts as decimal strings or bigints). */
  verificationParams?: Record<string, number | string | bigint>;
  /** Overrides of the local staking parameters. */
  stakingParams?: Record<string, number | string | bigint>;
};

/**
 * Deploys the whole system through the same Ignition module and parameters as a local network: the
 * token, Staking, ModelRegistry, ProtocolTerms (`terms`, first version from the local parameters with
 * the overrides), JobMarket and Verification.
 */
export async function deploySystem(
  connection: Connection,
  { marketParams = { samplingPpm: 0 }, verificationParams = {}, stakingParams = {} }: DeploySystemParameters = {},
) {
  const { viem } = connection;
  const local = JSON.parse(readFileSync(LOCAL_PARAMETERS, "utf8")).DinferLocal;
  const deployed = await connection.ignition.deploy(DinferLocal, {
    parameters: {
      DinferLocal: {
        ...local,
        marketParams: { ...local.marketParams, ...marketParams },
        verificationParams: { ...local.verificationParams, ...decimal(verificationParams) },
        stakingParams: { ...local.stakingParams, ...decimal(stakingParams) },
      },
    },
    displayUi: false,
  });
  const [owner, dapp, provider, provider2, verifier, challenger, keeper, stranger] = await viem.getWalletClients();
  const publicClient = await viem.getPublicClient();
  return { ...deployed, owner, dapp, provider, provider2, verifier, challenger, keeper, stranger, publicClient };
}

export type System = Awaited<ReturnType<typeof deploySystem>>;

/** The deployed system's addresses, as the off-chain code takes them. */
export function deploymentOf(sys: Pick<System, "token" | "staking" | "registry" | "market" | "verification" | "batchMarket" | "profiles" | "replicaMarket">): Deployment {
  return {
    token: sys.token.address,
    staking: sys.staking.address,
    registry: sys.registry.address,
    market: sys.market.address,
    verification: sys.verification.address,
    batchMarket: sys.batchMarket.address,
    profiles: sys.profiles.address,
    replicaMarket: sys.replicaMarket.address,
  };
}

/** Ignition parameters are JSON: bigints go in as decimal strings, as in the parameter files. */
function decimal(values: Record<string, number | string | bigint>) {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : v]));
}

export const ROLE_PROVIDER = 1;
export const ROLE_VERIFIER = 2;

/** A model spec with sensible defaults. */
export function modelSpec(overrides: Partial<ModelSpecInput> = {}): ModelSpecInput {
  return {
    modelHash: keccak256(toHex("model bytes")),
    uri: "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    runtime: "onnxruntime-node@1.30.0",
    tolerance: { kind: 0, axis: 0, absTolE12: 1_000_000n, relTolE12: 1_000_000_000n },
    minCollateral: MODEL_COLLATERAL,
    priceFloor: PRICE_FLOOR,
    nonFiniteInputs: false,
    ...overrides,
  };
}

export interface ModelSpecInput {
  modelHash: Hex;
  uri: string;
  runtime: string;
  tolerance: { kind: number; axis: number; absTolE12: bigint; relTolE12: bigint };
  minCollateral: bigint;
  priceFloor: bigint;
  nonFiniteInputs: boolean;
}

/**
 * A ready market: one registered model, a funded dApp with an unlimited allowance, and a staked
 * provider. Returns the model id.
 */
export async function setUpMarket(sys: System, { providerStake = parseEther("1000") } = {}) {
  const { token, registry, market, staking, dapp, provider, owner } = sys;
  await registry.write.register([modelSpec()], { account: owner.account });
  const modelId = 1n;
  await token.write.mint([dapp.account.address, parseEther("100000")]);
  await token.write.approve([market.address, 2n ** 256n - 1n], { account: dapp.account });
  await stake(sys, provider.account.address, providerStake, ROLE_PROVIDER);
  return { modelId };
}

export async function stake(sys: System, who: Address, amount: bigint, roles: number) {
  const { token, staking } = sys;
  await token.write.mint([who, amount]);
  await token.write.approve([staking.address, amount], { account: who });
  await staking.write.stake([amount, roles], { account: who });
}

export function jobRequest(modelId: bigint, claimBy: bigint, overrides: Record<string, unknown> = {}) {
  return {
    modelId,
    fee: FEE,
    claimBy,
    inputHash: keccak256(toHex("input blob")),
    inputURI: "http://127.0.0.1:8600/blobs/0x8b5e1c3f6ad7e1c3",
    inlineInput: "0x" as Hex,
    callbackGasLimit: 0,
    inlineOutput: false,
    ...overrides,
  };
}

/**
 * Sends transactions and folds the market's events from each receipt into job states, as an
 * off-chain client does: `jobs.job(id)` is what the next call must pass back.
 */
export function jobTracker(sys: System) {
  const records = new Map<bigint, JobRecord>();
  return {
    records,
    async send(tx: Promise<Hash>) {
      const receipt = await sys.publicClient.waitForTransactionReceipt({ hash: await tx });
      foldJobLogs(
        receipt.logs.filter((l) => l.address.toLowerCase() === sys.market.address.toLowerCase()),
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

/** What `stakeVerifiers` stakes each verifier with: above the local minVerifierStake (100). */
export const VERIFIER_STAKE = parseEther("200");
/** The node's accounts from this index on are verifiers; 0-7 are `deploySystem`'s named wallets. */
export const FIRST_VERIFIER_ACCOUNT = 8;

/**
 * Stakes `count` verifiers (ROLE_VERIFIER, VERIFIER_STAKE each) from the node's accounts 8.. and returns
 * every wallet of the node (the ones a drawn auditor or committee member can be) and the verifiers.
 */
export async function stakeVerifiers(connection: Connection, sys: System, count: number) {
  const wallets = await connection.viem.getWalletClients();
  const verifiers = wallets.slice(FIRST_VERIFIER_ACCOUNT, FIRST_VERIFIER_ACCOUNT + count);
  if (verifiers.length < count) throw new Error(`only ${verifiers.length} accounts for ${count} verifiers`);
  for (const w of verifiers) await stake(sys, w.account.address, VERIFIER_STAKE, ROLE_VERIFIER);
  return { wallets, verifiers };
}
