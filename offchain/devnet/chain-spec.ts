/**
 * The devnet chain both engines serve (`hardhat node --network node` and Anvil): what they must agree
 * on so that deployments, keys and gas behave the same on either. hardhat.config.ts's `node` network
 * spells the same values for Hardhat.
 */

/** The programs that can serve the devnet chain (offchain/devnet/node.ts). */
export const CHAIN_ENGINES = ["hardhat", "anvil"] as const;
export type ChainEngine = (typeof CHAIN_ENGINES)[number];

/** Hardhat's (and Foundry's) default development mnemonic: the node funds its accounts. Never use it elsewhere. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";
/** How many of its accounts are funded: Hardhat's default (Anvil's is 10). */
export const DEV_ACCOUNT_COUNT = 20;
/** Each account's ETH. */
export const DEV_ACCOUNT_ETH = 10_000;
/** Hardhat's chain id for local networks; `dinfer` treats it as the devnet (defined beside the private-host rule it sets). */
export { DEVNET_CHAIN_ID } from "../storage/host-policy.js";
/** Hardhat's default block gas limit for its simulated networks. */
export const DEVNET_BLOCK_GAS_LIMIT = 60_000_000;
/** The hardfork both engines run (Hardhat 3's latest stable L1 fork; pinned on both, so an upgrade of either changes nothing unseen). */
export const DEVNET_HARDFORK = "osaka";
