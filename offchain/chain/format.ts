/**
 * How amounts, times and statuses read to a person: tokens with their 18 decimals and the symbol,
 * ETH for gas, durations ("2 h 5 min"), chain timestamps as UTC dates with the time left, and the
 * protocol's enums by name. Pure functions; every message the CLI prints about the chain uses them.
 */
import { formatUnits, parseUnits } from "viem";

import { NonRetryableError } from "../errors.js";

/** The protocol token's symbol and decimals (DinferTestToken, and any token the market is deployed with: 18). */
export const TOKEN_SYMBOL = "DINF";
export const TOKEN_DECIMALS = 18;

/** 12500000000000000000n -> "12.5 DINF". */
export function formatTokens(value: bigint): string {
  return `${formatUnits(value, TOKEN_DECIMALS)} ${TOKEN_SYMBOL}`;
}

/** A token amount typed by a person ("12.5") in base units; TOKEN_DECIMALS decimals. */
export function parseTokens(text: string, field = "amount"): bigint {
  if (!/^\d+(\.\d+)?$/.test(text.trim())) {
    throw new NonRetryableError(`${field} must be a positive decimal number of tokens, got "${text}"`, { code: "BAD_AMOUNT" });
  }
  const value = parseUnits(text.trim(), TOKEN_DECIMALS);
  if (value === 0n) throw new NonRetryableError(`${field} must be more than zero`, { code: "BAD_AMOUNT" });
  return value;
}

/** An amount of tokens as a person types it back into a flag: 12500000000000000000n -> "12.5". */
export function plainTokens(value: bigint): string {
  return formatUnits(value, TOKEN_DECIMALS);
}

/** Wei as ETH, for gas: 55862400000000n -> "0.0000558624 ETH". */
export function formatEth(value: bigint): string {
  return `${formatUnits(value, 18)} ETH`;
}

/** Seconds as the two largest units: 0 -> "0 s", 90 -> "1 min 30 s", 7200 -> "2 h", 93784 -> "1 d 2 h". */
export function formatDuration(seconds: bigint | number): string {
  let left = BigInt(seconds);
  if (left < 0n) left = -left;
  const units: [string, bigint][] = [
    ["d", 86_400n],
    ["h", 3_600n],
    ["min", 60n],
    ["s", 1n],
  ];
  const parts: string[] = [];
  for (const [name, size] of units) {
    const count = left / size;
    left -= count * size;
    if (count > 0n) parts.push(`${count} ${name}`);
  }
  return parts.length === 0 ? "0 s" : parts.slice(0, 2).join(" ");
}

/** A unix timestamp as "2026-12-02 14:05:09 UTC". */
export function formatDate(timestamp: bigint | number): string {
  return `${new Date(Number(timestamp) * 1000).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/**
 * A chain timestamp against the chain's now: "2026-12-02 14:05:09 UTC (in 2 h)", "... (5 min ago)",
 * "... (now)". Without `now`, the date alone.
 */
export function formatWhen(timestamp: bigint | number, now?: bigint | number): string {
  if (now === undefined) return formatDate(timestamp);
  const delta = BigInt(timestamp) - BigInt(now);
  const relative = delta === 0n ? "now" : delta > 0n ? `in ${formatDuration(delta)}` : `${formatDuration(delta)} ago`;
  return `${formatDate(timestamp)} (${relative})`;
}

/** IJobMarket.JobStatus, in declaration order. */
export const JOB_STATUS_NAMES = ["None", "Posted", "Claimed", "Committed", "Revealed", "Disputed", "Finalized", "Expired", "Slashed"] as const;
/** IVerification.AuditState. */
export const AUDIT_STATE_NAMES = ["None", "Committed", "Agreed", "Disagreed", "Missed", "Unrevealed"] as const;
/** IVerification.DisputeState. */
export const DISPUTE_STATE_NAMES = ["None", "Open", "Voting", "Resolved"] as const;
/** IModelRegistry.ToleranceKind. */
export const TOLERANCE_KIND_NAMES = ["Allclose", "Argmax", "Exact"] as const;

/** An enum value by name ("Finalized"); an unknown value as "unknown (9)". */
export function enumName(names: readonly string[], value: unknown): string {
  const index = Number(value);
  return Number.isInteger(index) && index >= 0 && index < names.length ? names[index]! : `unknown (${String(value)})`;
}

/** Up time for a status line: "45s", "5m", "2h05m". */
export function formatUptime(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
