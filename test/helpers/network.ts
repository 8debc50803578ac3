/**
 * A whole local dinfer network for end-to-end tests, on `offchain/devnet` (the same code as the demo
 * and `dinfer devnet`): a real `hardhat node` process, the protocol deployed through the
 * `DinferLocal` Ignition module with the local parameters (shortened windows), the PaddleOCR cls and
 * det models registered from their files, one staked provider (account #1), a funded dApp (account
 * #2) and the dApp's blob server, which accepts uploads (inputs over 4096 bytes go there).
 *
 *   const net = await startLocalNetwork();
 *   try { ... net.url, net.deployment, net.modelIds.cls ... } finally { await net.stop(); }
 *
 * Keys are those of Hardhat's well-known development mnemonic: local use only.
 */
import { parseEther, type Address, type Hex } from "viem";

import type { Deployment } from "../../offchain/chain/deployment.js";
import { devAccount, DEVNET_TOLERANCE, startDevnet, type Devnet } from "../../offchain/devnet/devnet.js";
import type { MarketParams } from "./market.js";

export { DEV_MNEMONIC, MODEL_FILES } from "../../offchain/devnet/devnet.js";
/** allclose(1e-4, 1e-3), in the registry's 1e-12 fixed point. */
export const E2E_TOLERANCE = DEVNET_TOLERANCE;
export const E2E_PROVIDER_STAKE = parseEther("1000");

/** `IJobMarket.MarketParams`, as the Ignition parameters file spells it. */
export type { MarketParams } from "./market.js";

/**
 * Short windows so a job goes from post to final in seconds: a 5 s challenge window, and a seed
 * 5 blocks (about 5 s at one block a second) after the commit, which leaves a test the time to
 * kill a worker between its commit and its reveal. Sampling is off: a test about audits turns it on
 * (and starts verifiers), else every sampled reveal would wait out its audit deadline.
 */
export const E2E_MARKET_PARAMS: Partial<MarketParams> = { challengeWindow: 5, seedDelay: 5, samplingPpm: 0 };

export type StartLocalNetworkParameters = {
  /** Overrides on top of local.json's market parameters and `E2E_MARKET_PARAMS`. */
  marketParams?: Partial<MarketParams>;
  /** The provider's stake (each claimed job locks the model's collateral from it). */
  providerStake?: bigint;
};

export type LocalNetwork = Pick<
  Devnet,
  "url" | "chainId" | "deploymentId" | "modelIds" | "modelFiles" | "publicClient" | "dappSender" | "blobServer" | "uploadToken" | "connection" | "tempDir"
> & {
  deployment: Deployment;
  marketParams: MarketParams;
  keys: { deployer: Hex; provider: Hex; dapp: Hex };
  addresses: { deployer: Address; provider: Address; dapp: Address };
  /** Closes everything it started, kills the node, removes the deployment folder; safe to call twice. */
  stop: () => Promise<void>;
};

/** The private key of account `index` of the development mnemonic. */
export function devKey(index: number): Hex {
  return devAccount(index).key;
}

/** Starts a node, deploys, registers the models, stakes the provider (#1), funds the dApp (#2). */
export async function startLocalNetwork({ marketParams = {}, providerStake = E2E_PROVIDER_STAKE }: StartLocalNetworkParameters = {}): Promise<LocalNetwork> {
  const devnet = await startDevnet({ providers: 1, verifiers: 0, providerStake, marketParams: { ...E2E_MARKET_PARAMS, ...marketParams } });
  const [provider] = devnet.providers;
  return {
    ...devnet,
    marketParams: devnet.params.marketParams as unknown as MarketParams,
    keys: { deployer: devnet.deployer.key, provider: provider!.key, dapp: devnet.dapp.key },
    addresses: { deployer: devnet.deployer.address, provider: provider!.address, dapp: devnet.dapp.address },
    stop: () => devnet.stop(),
  };
}
