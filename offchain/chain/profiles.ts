/**
 * Providers' self-declared profiles (contracts/ProviderProfiles.sol): what `setProfile` takes, checked
 * and encoded before it is sent (so that a mistake gets a sentence naming the flag, not a revert), and a
 * stored profile read back with its region as text and its execution providers by name.
 *
 * A profile is what a provider says about itself: the chain cannot prove a GPU or a region. Markets match
 * jobs on it; reputation (offchain/sdk/reputation.ts) and audits are what keep it honest.
 */
import { keccak256, type Address, type Hex, type PublicClient } from "viem";

import { NonRetryableError } from "../errors.js";
import { providerProfilesAbi } from "./abis.js";
import { formatDate } from "./format.js";

/** The execution provider bits of `Profile.executionProviders` (EP_CPU, EP_GPU). */
export const EXECUTION_PROVIDER_BITS = { cpu: 1, gpu: 2 } as const;
export type ExecutionProviderName = keyof typeof EXECUTION_PROVIDER_BITS;
const EXECUTION_PROVIDER_NAMES = Object.keys(EXECUTION_PROVIDER_BITS) as ExecutionProviderName[];

/** ProviderProfiles.MAX_MODELS. */
export const MAX_PROFILE_MODELS = 64;
/** A region is a `bytes8`. */
export const REGION_BYTES = 8;
const MAX_UINT32 = 2 ** 32 - 1;
const ZERO_REGION: Hex = "0x0000000000000000";
const ZERO_HASH: Hex = `0x${"0".repeat(64)}`;

/** A profile input that the contract would refuse, found before sending; the message names the remedy. */
export class ProfileInputError extends NonRetryableError {
  override name = "ProfileInputError";
}

/** A provider's profile as read from the chain. */
export type ProviderProfile = {
  provider: Address;
  /** e.g. "eu-west"; undefined: not declared. */
  region: string | undefined;
  executionProviders: ExecutionProviderName[];
  /** Jobs it runs at once. */
  capacity: number;
  /** Model ids it serves, ascending. */
  models: number[];
  /** Block timestamp of its last set. */
  updatedAt: bigint;
  /** The fuller record (JSON) and the keccak256 of its bytes; undefined: none. */
  record: { uri: string; hash: Hex } | undefined;
};

/**
 * A region name as the `bytes8` a profile stores: up to 8 visible ASCII characters (no spaces), zero-padded
 * on the right. The empty name is the zero region (not declared). Names compare byte for byte, so "EU-West"
 * and "eu-west" are two regions: lower case is the convention.
 */
export function encodeRegion(name: string): Hex {
  const codes = Array.from(name, (char) => char.codePointAt(0)!);
  codes.forEach((code, index) => {
    if (code < 0x21 || code > 0x7e) {
      const shown = code === 0x20 ? "a space" : `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
      throw new ProfileInputError(`region "${name}" holds ${shown} at position ${index + 1}: use visible ASCII letters, digits and dashes, e.g. "eu-west"`, {
        code: "BAD_REGION",
        details: { region: name },
      });
    }
  });
  if (codes.length > REGION_BYTES) {
    throw new ProfileInputError(`region "${name}" is ${codes.length} bytes, over the ${REGION_BYTES} a profile holds: use a shorter name, e.g. "eu-west"`, {
      code: "BAD_REGION",
      details: { region: name },
    });
  }
  const hex = codes.map((code) => code.toString(16).padStart(2, "0")).join("");
  return `0x${hex.padEnd(REGION_BYTES * 2, "0")}`;
}

/** A stored `bytes8` region as its name (the bytes before the zero padding); undefined for the zero region. */
export function decodeRegion(region: Hex): string | undefined {
  const hex = region.slice(2).padEnd(REGION_BYTES * 2, "0");
  let name = "";
  for (let i = 0; i < hex.length; i += 2) {
    const code = Number.parseInt(hex.slice(i, i + 2), 16);
    if (code === 0) break;
    name += String.fromCharCode(code);
  }
  return name === "" ? undefined : name;
}

/** ["cpu", "gpu"] -> 3. */
export function encodeExecutionProviders(names: readonly ExecutionProviderName[]): number {
  return names.reduce((bits, name) => bits | EXECUTION_PROVIDER_BITS[name], 0);
}

/** 3 -> ["cpu", "gpu"]; bits the contract does not know are left out. */
export function decodeExecutionProviders(bits: number): ExecutionProviderName[] {
  return EXECUTION_PROVIDER_NAMES.filter((name) => (bits & EXECUTION_PROVIDER_BITS[name]) !== 0);
}

/** `--ep cpu,gpu` -> ["cpu", "gpu"]: names, comma separated, each once; none is an error. */
export function parseExecutionProviders(text: string): ExecutionProviderName[] {
  const names = new Set<ExecutionProviderName>();
  for (const name of text.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    if (!(name in EXECUTION_PROVIDER_BITS)) {
      throw new ProfileInputError(`unknown execution provider "${name}" (execution providers: ${EXECUTION_PROVIDER_NAMES.join(", ")})`, { code: "BAD_EP" });
    }
    names.add(name as ExecutionProviderName);
  }
  if (names.size === 0) throw new ProfileInputError(`give at least one execution provider: ${EXECUTION_PROVIDER_NAMES.join(", ")}`, { code: "BAD_EP" });
  return EXECUTION_PROVIDER_NAMES.filter((name) => names.has(name));
}

/** Model ids as a profile stores them: each from 1 to 2^32 - 1, sorted, repeats dropped, at most MAX_PROFILE_MODELS. */
export function profileModels(ids: readonly (number | bigint)[]): number[] {
  const models = [...new Set(ids.map(Number))].sort((a, b) => a - b);
  const bad = models.find((id) => !Number.isInteger(id) || id < 1 || id > MAX_UINT32);
  if (bad !== undefined) throw new ProfileInputError(`model id ${bad} is not a registered model's id: ids run from 1`, { code: "BAD_MODELS" });
  if (models.length > MAX_PROFILE_MODELS) {
    throw new ProfileInputError(`${models.length} models are over the ${MAX_PROFILE_MODELS} a profile lists: list the ones you serve most`, { code: "BAD_MODELS" });
  }
  return models;
}

/** `--models 1,2,7` -> [1, 2, 7] (sorted, each once); the empty text is no models. */
export function parseProfileModels(text: string): number[] {
  const parts = text.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = parts.find((part) => !/^[0-9]+$/.test(part));
  if (bad !== undefined) throw new ProfileInputError(`model ids are comma-separated integers (--models 1,2,7), got "${bad}"`, { code: "BAD_MODELS" });
  return profileModels(parts.map(Number));
}

/** The keccak256 a profile pins its record with. */
export function recordHash(bytes: Uint8Array): Hex {
  return keccak256(bytes);
}

export type ProfileArgsParameters = {
  /** Region name; empty or undefined: not declared. */
  region?: string;
  executionProviders: readonly ExecutionProviderName[];
  capacity: number;
  models: readonly (number | bigint)[];
  /** Where the fuller record is, with the bytes it pins; both or neither. */
  record?: { uri: string; bytes: Uint8Array };
};

/** The `setProfile` arguments for a profile, checked as the contract checks them. */
export function profileArgs({ region, executionProviders, capacity, models, record }: ProfileArgsParameters) {
  const ids = profileModels(models);
  if (!Number.isInteger(capacity) || capacity < 0 || capacity > MAX_UINT32) {
    throw new ProfileInputError(`capacity must be a whole number of jobs from 0 to ${MAX_UINT32}, got ${capacity}`, { code: "BAD_CAPACITY" });
  }
  if (ids.length > 0 && capacity === 0) throw new ProfileInputError("a profile that lists models runs at least 1 job at once: give --capacity", { code: "BAD_CAPACITY" });
  if (ids.length > 0 && executionProviders.length === 0) {
    throw new ProfileInputError("a profile that lists models declares what it runs them on: give --ep cpu, gpu or cpu,gpu", { code: "BAD_EP" });
  }
  if (record !== undefined && record.uri === "") throw new ProfileInputError("the record's URI is empty: give --record-uri with --record-file", { code: "BAD_RECORD" });
  return [
    region ? encodeRegion(region) : ZERO_REGION,
    encodeExecutionProviders(executionProviders),
    capacity,
    ids,
    record?.uri ?? "",
    record === undefined ? ZERO_HASH : recordHash(record.bytes),
  ] as const;
}

export type ReadProfileParameters = {
  client: PublicClient;
  /** The ProviderProfiles contract (`deployment.profiles`). */
  address: Address;
  provider: Address;
  blockNumber?: bigint;
};

/** A provider's profile; undefined when it has none (never set, or cleared). */
export async function readProfile({ client, address, provider, blockNumber }: ReadProfileParameters): Promise<ProviderProfile | undefined> {
  const stored = await client.readContract({ address, abi: providerProfilesAbi, functionName: "profileOf", args: [provider], blockNumber });
  if (stored.updatedAt === 0n) return undefined;
  return {
    provider,
    region: decodeRegion(stored.region),
    executionProviders: decodeExecutionProviders(stored.executionProviders),
    capacity: stored.capacity,
    models: [...stored.models],
    updatedAt: stored.updatedAt,
    record: stored.recordURI === "" ? undefined : { uri: stored.recordURI, hash: stored.recordHash },
  };
}

/**
 * One line: "profile: region eu-west, gpu, 4 jobs at once, models 1, 2, 7, record ipfs://... (keccak256 0x...);
 * set 2026-01-02 03:04:05 UTC (self-declared)", or how to declare one when there is none.
 */
export function formatProfile(profile: ProviderProfile | undefined): string {
  if (profile === undefined) return "profile: none (`dinfer provider profile set` declares one)";
  const parts = [
    `region ${profile.region ?? "not declared"}`,
    profile.executionProviders.length ? profile.executionProviders.join("+") : "no execution provider",
    `${profile.capacity} job${profile.capacity === 1 ? "" : "s"} at once`,
    profile.models.length ? `models ${profile.models.join(", ")}` : "no models",
  ];
  if (profile.record) parts.push(`record ${profile.record.uri} (keccak256 ${profile.record.hash})`);
  return `profile: ${parts.join(", ")}; set ${formatDate(profile.updatedAt)} (self-declared)`;
}
