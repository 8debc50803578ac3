/**
 * Which protocol version a deployment speaks (docs/PROTOCOL.md, "Protocol version"): the hashed formats
 * its jobs are judged by, as its JobMarket's `PROTOCOL_VERSION` says. A worker or verifier pointed at a
 * deployment of another version would judge honest work wrong, so every command checks it once when it
 * connects (offchain/daemon/chain.ts), before it reads or sends anything else.
 */
import { BaseError, type Address, type PublicClient } from "viem";

import { NonRetryableError } from "../errors.js";
import { jobMarketAbi } from "./abis.js";
import { classifyChainError, ContractRevertError, errorChain } from "./errors.js";

/**
 * The protocol version this code speaks. 2: blob ids and output roots on SHA-256 (docs/PROTOCOL.md
 * section 5). 1 was keccak-256 for both, from deployments whose JobMarket has no `PROTOCOL_VERSION`.
 */
export const PROTOCOL_VERSION = 2n;

/** The deployment speaks another protocol version than this code, or none it reports. */
export class ProtocolVersionError extends NonRetryableError {
  override name = "ProtocolVersionError";
}

/** What to do about a version this code does not speak. */
const REMEDY = "deploy this version's contracts, or run the dinfer release that matches the deployment";

// viem's errors for a call that answered without a uint256: no data at all (no code there, or a fallback
// that returns nothing), or too little to decode.
const NO_ANSWER = new Set(["ContractFunctionZeroDataError", "AbiDecodingZeroDataError", "AbiDecodingDataSizeTooSmallError"]);

export type ReadProtocolVersionParameters = {
  publicClient: PublicClient;
  /** The deployment's JobMarket. */
  market: Address;
};

/**
 * The version the deployment's JobMarket reports; undefined when it reports none (the call reverts or
 * returns nothing: a deployment from before the getter, or not a JobMarket). No code at `market` is a
 * `ProtocolVersionError` of its own (the addresses are not this chain's); a failed request is classified
 * (offchain/chain/errors.ts), never read as "no version".
 */
export async function readProtocolVersion({ publicClient, market }: ReadProtocolVersionParameters): Promise<bigint | undefined> {
  const details = { market, functionName: "PROTOCOL_VERSION" };
  try {
    return await publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "PROTOCOL_VERSION" });
  } catch (error) {
    const noAnswer = errorChain(error).some((e) => e instanceof BaseError && NO_ANSWER.has(e.name));
    if (!noAnswer) {
      const classified = classifyChainError({ error, abi: jobMarketAbi, details });
      if (!(classified instanceof ContractRevertError)) throw classified;
    }
  }
  let code;
  try {
    code = await publicClient.getCode({ address: market });
  } catch (error) {
    throw classifyChainError({ error, details: { market } });
  }
  if (code === undefined || code === "0x") {
    throw new ProtocolVersionError(
      `no contract at the deployment's JobMarket address ${market} on this chain: check --rpc-url and the deployment (a restarted devnet deploys again with \`dinfer devnet\`)`,
      { code: "DEPLOYMENT_NO_CODE", details: { deployment: { market } } },
    );
  }
  return undefined;
}

export type AssertProtocolVersionParameters = ReadProtocolVersionParameters & {
  /** The version this code speaks (a test may pass another). */
  speaks?: bigint;
};

/**
 * Reads the deployment's protocol version once and throws a `ProtocolVersionError` unless it is the one
 * this code speaks: the message names both versions (or that the deployment reports none) and the
 * remedy. Returns the version.
 */
export async function assertProtocolVersion({ publicClient, market, speaks = PROTOCOL_VERSION }: AssertProtocolVersionParameters): Promise<bigint> {
  const version = await readProtocolVersion({ publicClient, market });
  if (version === speaks) return version;
  // Nested details, so the CLI's one line stays the sentence (its --verbose shows them).
  const details = { deployment: { market, version: version?.toString() ?? null }, speaks: { version: speaks.toString() } };
  if (version === undefined) {
    throw new ProtocolVersionError(
      `the deployment (JobMarket ${market}) reports no protocol version (it predates version 2, or is no JobMarket) and this dinfer speaks version ${speaks}: ${REMEDY}`,
      { code: "DEPLOYMENT_UNVERSIONED", details },
    );
  }
  throw new ProtocolVersionError(
    `the deployment (JobMarket ${market}) speaks protocol version ${version} and this dinfer speaks version ${speaks}: ${REMEDY}`,
    { code: "DEPLOYMENT_VERSION", details },
  );
}
