/**
 * The protocol terms a job is judged by (docs/PROTOCOL.md, "Terms").
 *
 * Every job records the terms version current when it was posted (`Job.terms`), and every rule it
 * is judged by (timeouts, seed delay, sampling rate, fee split, penalties, bonds, rewards) comes from
 * `ProtocolTerms.termsOf(version)`, whatever governance set later. A version never changes once
 * set, so a reader caches each one for good: one chain read per version, not per job.
 *
 * ```ts
 * const terms = new TermsReader({ client, market: deployment.market });
 * const { market: { seedDelay } } = await terms.of(job.terms);
 * ```
 */
import type { Address, PublicClient } from "viem";

import { jobMarketAbi, protocolTermsAbi } from "./abis.js";

/** Mirrors `IProtocolTerms.MarketParams` (seconds, basis points, parts per million). */
export type MarketTerms = {
  maxClaimDelay: number;
  commitTimeout: number;
  revealTimeout: number;
  challengeWindow: number;
  disputeDuration: number;
  callbackGasLimit: number;
  protocolFeeBps: number;
  auditLevyBps: number;
  expiryPenaltyBps: number;
  seedDelay: number;
  samplingPpm: number;
};

/**
 * Mirrors `IProtocolTerms.VerificationParams`: token amounts (uint96) in wei as bigints, the rest (seconds,
 * basis points, ppm) as numbers, as viem decodes them.
 */
export type VerificationTerms = {
  challengeBond: bigint;
  auditorPenalty: bigint;
  voterPenalty: bigint;
  auditCommitTimeout: number;
  voteCommitTimeout: number;
  voteRevealTimeout: number;
  committeeSize: number;
  challengerRewardBps: number;
  providerRewardBps: number;
  /** An auditor whose Agree stands is paid this share of the job's fee (from the audit pool). */
  auditRewardBps: number;
  /**
   * Each committee seat that revealed the outcome's vote, in a dispute the protocol opened, is paid this
   * share of the job's fee from the audit pool (a challenge's seats are paid out of its bond instead).
   */
  voterRewardBps: number;
  recheckPpm: number;
};

/** One terms version: the market's half and the verification half. */
export type Terms = { version: number; market: MarketTerms; verification: VerificationTerms };

/**
 * How many blocks after the seed block its seed stays readable (`blockhash`'s reach): a reveal, an
 * audit draw and a committee draw must land by then (JobMarket refuses a later reveal: `SeedOutOfReach`).
 */
export const BLOCKHASH_REACH = 256n;

export type TermsReaderParameters = {
  client: PublicClient;
  /** The JobMarket: it names the ProtocolTerms contract (`JobMarket.terms()`). */
  market: Address;
};

/** Reads terms versions from the chain, each once. */
export class TermsReader {
  readonly #client: PublicClient;
  readonly #market: Address;
  #address?: Promise<Address>;
  readonly #versions = new Map<number, Promise<Terms>>();

  constructor({ client, market }: TermsReaderParameters) {
    this.#client = client;
    this.#market = market;
  }

  /** The ProtocolTerms contract's address (read once). */
  address(): Promise<Address> {
    this.#address ??= this.#client.readContract({ address: this.#market, abi: jobMarketAbi, functionName: "terms" });
    this.#address.catch(() => (this.#address = undefined)); // a failed read is tried again next time
    return this.#address;
  }

  /** Version `version`: a job's `terms` field. Reverts `UnknownTerms` for a version never set. */
  of(version: number | bigint): Promise<Terms> {
    const key = Number(version);
    let read = this.#versions.get(key);
    if (!read) {
      read = this.address().then((address) => readTermsVersion({ client: this.#client, terms: address, version: key }));
      read.catch(() => this.#versions.delete(key));
      this.#versions.set(key, read);
    }
    return read;
  }

  /**
   * The longest a job can live under any terms version ever set, seconds (`ProtocolTerms.requiredUnbondingPeriod`),
   * read fresh: it only grows.
   */
  async longestJobLifetime(): Promise<bigint> {
    return this.#client.readContract({ address: await this.address(), abi: protocolTermsAbi, functionName: "requiredUnbondingPeriod" });
  }

  /** The version jobs posted now get, read fresh (governance may have set a new one since). */
  async current(): Promise<Terms> {
    const version = await this.#client.readContract({ address: this.#market, abi: jobMarketAbi, functionName: "termsVersion" });
    return this.of(version);
  }
}

/**
 * `ProtocolTerms.termsOf(version)`, both halves, as viem decodes them from the ABI: integers of up to
 * 48 bits as numbers, wider ones (the uint96 amounts) as bigints.
 */
export async function readTermsVersion({ client, terms, version }: { client: PublicClient; terms: Address; version: number }): Promise<Terms> {
  const [market, verification] = await client.readContract({
    address: terms,
    abi: protocolTermsAbi,
    functionName: "termsOf",
    args: [BigInt(version)],
  });
  return { version, market: { ...market }, verification: { ...verification } };
}

/** The seed block of a job committed in `commitBlock` and the last block its reveal can land in. */
export function revealWindowBlocks({ commitBlock, seedDelay }: { commitBlock: bigint; seedDelay: number }): { seedBlock: bigint; lastRevealBlock: bigint } {
  const seedBlock = commitBlock + BigInt(seedDelay);
  return { seedBlock, lastRevealBlock: seedBlock + BLOCKHASH_REACH };
}
