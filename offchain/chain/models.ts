/** Reading the ModelRegistry's answers from transaction receipts. */
import type { Address, Log } from "viem";

import { modelRegistryAbi } from "./abis.js";
import { decodeEvent } from "./events.js";

/**
 * The id of the model a `register` transaction created, from its own ModelRegistered event (not
 * `modelCount`, which another owner's registration in the same block may have moved on).
 */
export function registeredModelId(logs: readonly Log[], registry: Address): number {
  for (const log of logs) {
    if (log.address.toLowerCase() !== registry.toLowerCase()) continue;
    const event = decodeEvent({ abi: modelRegistryAbi, data: log.data, topics: log.topics });
    if (event.eventName === "ModelRegistered") return Number(event.args.modelId);
  }
  throw new Error("no ModelRegistered event in the register receipt");
}
