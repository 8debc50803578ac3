/**
 * What both daemons' keeper duties share: a keeper acts on a duty (expiring an unclaimed job, drawing
 * a committee, resolving a dispute...) after its due time plus a grace and a delay of its own, so that
 * keepers rarely race for one.
 */
import { encodeAbiParameters, keccak256, type Address } from "viem";

/** This keeper's own extra delay for a duty, 0..grace seconds, from its address and the duty's key (a job id, an account). */
export function keeperJitter({ me, key, graceSeconds }: { me: Address; key: bigint; graceSeconds: number }): bigint {
  if (graceSeconds <= 0) return 0n;
  const digest = keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [me, key]));
  return BigInt(digest) % BigInt(graceSeconds + 1);
}
