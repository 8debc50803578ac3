/**
 * A provider's (or verifier's) account, as the CLI and the Hardhat scripts show and change it:
 * roles, stake, unbonding, market credits. Pure helpers plus two readers; sending is the caller's
 * (offchain/protocol/actions.ts).
 */
import type { Address, PublicClient } from "viem";

import { dinferTestTokenAbi, jobMarketAbi, stakingAbi } from "../chain/abis.js";
import type { Deployment } from "../chain/deployment.js";
import { formatTokens, formatWhen } from "../chain/format.js";
import { NonRetryableError } from "../errors.js";
import type { StakingState } from "./staking-plan.js";

export const ROLE_BITS = { provider: 1, verifier: 2 } as const;
export type RoleName = keyof typeof ROLE_BITS;

/** "provider,verifier" -> 3. */
export function parseRoles(text: string): number {
  let bits = 0;
  for (const name of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (!(name in ROLE_BITS)) {
      throw new NonRetryableError(`unknown role "${name}" (roles: provider, verifier)`, { code: "BAD_ROLE" });
    }
    bits |= ROLE_BITS[name as RoleName];
  }
  if (bits === 0) throw new NonRetryableError("give at least one role: provider, verifier", { code: "BAD_ROLE" });
  return bits;
}

export function roleNames(bits: number): string {
  const names = (Object.keys(ROLE_BITS) as RoleName[]).filter((n) => (bits & ROLE_BITS[n]) !== 0);
  return names.length ? names.join(",") : "none";
}


export type AccountStatus = {
  address: Address;
  roles: string;
  stake: bigint;
  locked: bigint;
  available: bigint;
  unbonding: bigint;
  unbondingEnd: bigint;
  inVerifierSet: boolean;
  /** Its weight in the verifier set (the stake auditor and committee draws count), zero outside it. */
  verifierWeight: bigint;
  /** Verifier penalties owed on its locked collateral, taken as that collateral comes back. */
  penaltyDebt: bigint;
  credits: bigint;
  wallet: bigint;
};

/** Reads everything the `status` command and script print. */
export async function readAccountStatus({
  publicClient,
  deployment,
  address,
}: {
  publicClient: PublicClient;
  deployment: Deployment;
  address: Address;
}): Promise<AccountStatus> {
  const [account, penaltyDebt, credits, wallet] = await Promise.all([
    publicClient.readContract({ address: deployment.staking, abi: stakingAbi, functionName: "account", args: [address] }),
    publicClient.readContract({ address: deployment.staking, abi: stakingAbi, functionName: "penaltyDebt", args: [address] }),
    publicClient.readContract({ address: deployment.market, abi: jobMarketAbi, functionName: "credits", args: [address] }),
    publicClient.readContract({ address: deployment.token, abi: dinferTestTokenAbi, functionName: "balanceOf", args: [address] }),
  ]);
  return {
    address,
    roles: roleNames(account.roles),
    stake: account.stake,
    locked: account.locked,
    available: account.stake - account.locked,
    unbonding: account.unbonding,
    unbondingEnd: account.unbondingEnd,
    inVerifierSet: account.inVerifierSet,
    verifierWeight: account.verifierWeight,
    penaltyDebt,
    credits,
    wallet,
  };
}

export function formatAccountStatus(s: AccountStatus, now = BigInt(Math.floor(Date.now() / 1000))): string {
  const ready = s.unbonding === 0n ? "" : s.unbondingEnd <= now ? " (withdrawable now)" : ` (withdrawable at ${formatWhen(s.unbondingEnd, now)})`;
  return [
    `account        ${s.address}`,
    `roles          ${s.roles}${s.inVerifierSet ? ` (in the verifier set, weight ${formatTokens(s.verifierWeight)})` : ""}`,
    `stake          ${formatTokens(s.stake)}  (locked ${formatTokens(s.locked)}, available ${formatTokens(s.available)})`,
    `unbonding      ${formatTokens(s.unbonding)}${ready}`,
    ...(s.penaltyDebt === 0n ? [] : [`penalty debt   ${formatTokens(s.penaltyDebt)}  (verifier penalties owed on the locked collateral: taken as it comes back)`]),
    `market credits ${formatTokens(s.credits)}`,
    `wallet         ${formatTokens(s.wallet)}`,
  ].join("\n");
}

/** The account's staking state and the staking parameters the plans in staking-plan.ts read. */
export async function readStakingState({
  publicClient,
  deployment,
  address,
}: {
  publicClient: PublicClient;
  deployment: Deployment;
  address: Address;
}): Promise<StakingState> {
  const [account, params] = await Promise.all([
    publicClient.readContract({ address: deployment.staking, abi: stakingAbi, functionName: "account", args: [address] }),
    publicClient.readContract({ address: deployment.staking, abi: stakingAbi, functionName: "params" }),
  ]);
  return {
    stake: account.stake,
    locked: account.locked,
    unbonding: account.unbonding,
    unbondingEnd: account.unbondingEnd,
    roles: Number(account.roles),
    inVerifierSet: account.inVerifierSet,
    minVerifierStake: params.minVerifierStake,
    unbondingPeriod: BigInt(params.unbondingPeriod),
  };
}
