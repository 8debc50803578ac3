/**
 * A model's owner may lower its collateral, but only after `ModelRegistry.COLLATERAL_NOTICE` (docs/PROTOCOL.md
 * section 3): an ordinary post copies the collateral in force when it lands, so a post that may land after a
 * pending decrease's time could carry the lower one. Every posting path of the SDK (and so of the CLI) checks
 * this first: a post can land no later than its own `claimBy` (the market refuses it after), so a decrease due
 * after the job's `claimBy` can never reach it.
 */
import type { Address, PublicClient } from "viem";

import { modelRegistryAbi } from "../chain/abis.js";
import { formatTokens, formatWhen } from "../chain/format.js";
import { NonRetryableError } from "../errors.js";

/**
 * Throws `COLLATERAL_DROPS` when model `modelId` has a lower collateral announced for a time at or before
 * `claimBy`, naming both collaterals, the time and the remedies; resolves otherwise.
 */
export async function refuseCollateralDropBefore({
  publicClient,
  registry,
  modelId,
  claimBy,
}: {
  publicClient: PublicClient;
  registry: Address;
  modelId: bigint | number;
  claimBy: bigint;
}): Promise<void> {
  const id = BigInt(modelId);
  const [[lower, effectiveAt], [, , current]] = await Promise.all([
    publicClient.readContract({ address: registry, abi: modelRegistryAbi, functionName: "pendingCollateral", args: [id] }),
    publicClient.readContract({ address: registry, abi: modelRegistryAbi, functionName: "terms", args: [id] }),
  ]);
  if (effectiveAt === 0n || effectiveAt > claimBy) return;
  throw new NonRetryableError(
    `model ${id}'s collateral drops from ${formatTokens(current)} to ${formatTokens(lower)} at ${formatWhen(effectiveAt)}, ` +
      `before this job's claim deadline (${formatWhen(claimBy)}): a post landing after the drop would carry the lower collateral. ` +
      "Post with a claim window that ends before the drop, or wait for it and post at the new collateral knowingly",
    { code: "COLLATERAL_DROPS", details: { modelId: id.toString(), collateral: current.toString(), lowerCollateral: lower.toString(), effectiveAt: effectiveAt.toString(), claimBy: claimBy.toString() } },
  );
}
