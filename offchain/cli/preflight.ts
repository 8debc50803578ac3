/**
 * What `dinfer job post` checks on chain before it approves or escrows anything: that the model
 * exists, accepts jobs, and that the fee reaches its price floor. The market would revert on each
 * (`ModelInactive` for a model that does not exist, `FeeBelowFloor`), but after the approval, and
 * without telling a missing model from a deactivated one.
 */
import type { Address, PublicClient } from "viem";

import { modelRegistryAbi } from "../chain/abis.js";
import { describeRevert } from "../chain/revert-messages.js";
import { NonRetryableError } from "../errors.js";

export type CheckModelForJobParameters = {
  publicClient: PublicClient;
  registry: Address;
  modelId: bigint;
  fee: bigint;
};

/** Throws a `NonRetryableError` naming the problem and the remedy; returns the model's price floor otherwise. */
export async function checkModelForJob({ publicClient, registry, modelId, fee }: CheckModelForJobParameters): Promise<bigint> {
  const [count, terms] = (await Promise.all([
    publicClient.readContract({ address: registry, abi: modelRegistryAbi, functionName: "modelCount" }),
    publicClient.readContract({ address: registry, abi: modelRegistryAbi, functionName: "terms", args: [modelId] }),
  ])) as [bigint, readonly [boolean, bigint, bigint]];
  const [active, priceFloor] = terms;
  if (modelId === 0n || modelId > count) {
    const known = count === 0n ? "the registry holds no models yet" : `the registry holds models 1 to ${count}`;
    throw new NonRetryableError(`model ${modelId} does not exist: ${known} (\`dinfer model show <id>\`)`, { code: "MODEL_NOT_FOUND" });
  }
  if (!active) {
    throw new NonRetryableError(`model ${modelId} is deactivated by its owner and takes no new jobs (\`dinfer model show ${modelId}\`)`, {
      code: "MODEL_INACTIVE",
    });
  }
  if (fee < priceFloor) {
    throw new NonRetryableError(`model ${modelId}: ${describeRevert({ errorName: "FeeBelowFloor", args: [fee, priceFloor] })}`, {
      code: "FEE_BELOW_FLOOR",
    });
  }
  return priceFloor;
}
