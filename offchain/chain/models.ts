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

/** What an `update` transaction did to a model's collateral, from its own events. */
export type CollateralUpdate = {
  /** The collateral in force right after it (ModelUpdated's): a lower one under notice is not. */
  minCollateral: bigint;
  /**
   * Its CollateralLowering: a decrease scheduled (`effectiveAt` the time, in seconds, posts copy it from) or a
   * pending one cancelled (`effectiveAt` 0n). Undefined when it changed no schedule (a raise with nothing
   * pending, or the same pending decrease sent again, which keeps its time).
   */
  lowering?: { collateral: bigint; effectiveAt: bigint };
};

/** The collateral an `update` transaction left in force and the decrease it scheduled or cancelled (`CollateralUpdate`). */
export function collateralUpdate(logs: readonly Log[], registry: Address): CollateralUpdate {
  let minCollateral: bigint | undefined;
  let lowering: CollateralUpdate["lowering"];
  for (const log of logs) {
    if (log.address.toLowerCase() !== registry.toLowerCase()) continue;
    const event = decodeEvent({ abi: modelRegistryAbi, data: log.data, topics: log.topics });
    if (event.eventName === "ModelUpdated") minCollateral = event.args.spec.minCollateral;
    else if (event.eventName === "CollateralLowering") lowering = { collateral: event.args.collateral, effectiveAt: event.args.effectiveAt };
  }
  if (minCollateral === undefined) throw new Error("no ModelUpdated event in the update receipt");
  return { minCollateral, lowering };
}
