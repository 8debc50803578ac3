import { readFileSync } from "node:fs";
import path from "node:path";

import { getAddress, type Address } from "viem";

import { NonRetryableError } from "../errors.js";

/** Where the protocol lives on one chain. */
export type Deployment = {
  token: Address;
  staking: Address;
  registry: Address;
  market: Address;
  verification: Address;
  /** Batches of jobs paid from a prepaid deposit (contracts/BatchMarket.sol). */
  batchMarket: Address;
  /** Providers' self-declared profiles: region, execution providers, models, capacity (contracts/ProviderProfiles.sol). */
  profiles: Address;
  /** Redundant jobs: k providers per job (contracts/ReplicaMarket.sol). */
  replicaMarket: Address;
};

const CONTRACT_KEYS: Record<keyof Deployment, string> = {
  token: "Token",
  staking: "Staking",
  registry: "ModelRegistry",
  market: "JobMarket",
  verification: "Verification",
  batchMarket: "BatchMarket",
  profiles: "ProviderProfiles",
  replicaMarket: "ReplicaMarket",
};

export type LoadDeploymentParameters = {
  chainId: number;
  /** Ignition's deployments folder; defaults to ./ignition/deployments. */
  deploymentsDir?: string;
  /** Ignition deployment id; defaults to `chain-<chainId>`. */
  deploymentId?: string;
};

/**
 * Reads the addresses Ignition recorded for a deployment (`deployed_addresses.json`), from either
 * module (`Dinfer#...` with an existing token, or `DinferLocal#...` with the test token).
 */
export function loadDeployment({
  chainId,
  deploymentsDir = path.resolve("ignition/deployments"),
  deploymentId = `chain-${chainId}`,
}: LoadDeploymentParameters): Deployment {
  const file = path.join(deploymentsDir, deploymentId, "deployed_addresses.json");
  let recorded: Record<string, string>;
  try {
    recorded = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new NonRetryableError("no Ignition deployment found: deploy first or pass the addresses", {
      code: "DEPLOYMENT_MISSING",
      details: { file },
      cause,
    });
  }
  return parseDeployment(recorded, file);
}

/** Picks the protocol's addresses out of Ignition's `Module#Contract -> address` map. */
export function parseDeployment(recorded: Record<string, string>, source = "deployment"): Deployment {
  const find = (contract: string): Address => {
    const hit = Object.entries(recorded).find(([key]) => {
      const name = key.split("#")[1];
      return name === contract || (contract === "Token" && name === "DinferTestToken");
    });
    if (!hit) {
      throw new NonRetryableError(`deployment lacks ${contract}`, { code: "DEPLOYMENT_INCOMPLETE", details: { source } });
    }
    return getAddress(hit[1]);
  };
  return Object.fromEntries(
    Object.entries(CONTRACT_KEYS).map(([field, contract]) => [field, find(contract)]),
  ) as Deployment;
}
