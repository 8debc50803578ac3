import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import type { ContractFuture, IgnitionModuleBuilder } from "@nomicfoundation/ignition-core";

/**
 * Deploys and wires the protocol around an existing ERC20: Staking, ModelRegistry, ProtocolTerms (the
 * first terms version, checked against Staking), JobMarket, Verification, BatchMarket, ProviderProfiles and
 * ReplicaMarket, then authorizes the market and verification contracts in Staking, the verification contract
 * in the market, the market as the receiver of new terms versions, the batch market in the market and in
 * Staking, and the replica market in Staking and in the batch market (its gateway to the JobMarket). Parameters come from `ignition/parameters/<network>.json`.
 */
export function deployProtocol(m: IgnitionModuleBuilder, token: ContractFuture<string>) {
  const owner = m.getParameter("owner", m.getAccount(0));
  const stakingParams = m.getParameter("stakingParams");
  const marketParams = m.getParameter("marketParams");
  const verificationParams = m.getParameter("verificationParams");
  // IRandomness for sampling and committee seeds; the zero address means blockhash.
  const randomness = m.getParameter("randomness", "0x0000000000000000000000000000000000000000");

  const staking = m.contract("Staking", [token, owner, stakingParams]);
  const registry = m.contract("ModelRegistry", []);
  const terms = m.contract("ProtocolTerms", [staking, owner, marketParams, verificationParams]);
  const market = m.contract("JobMarket", [token, staking, registry, randomness, terms, owner]);
  const verification = m.contract("Verification", [token, market, staking, owner]);
  const batchMarket = m.contract("BatchMarket", [token, market, staking, registry, owner]);
  const profiles = m.contract("ProviderProfiles", []);
  const replicaMarket = m.contract("ReplicaMarket", [token, market, staking, registry, profiles, owner]);

  // The deployer must be the owner for the three wiring calls (the default).
  m.call(staking, "setProtocol", [market, verification]);
  m.call(market, "setVerification", [verification]);
  m.call(terms, "setMarket", [market]);
  m.call(market, "setBatchMarket", [batchMarket]);
  m.call(staking, "setBatchMarket", [batchMarket]);
  m.call(staking, "setReplicaMarket", [replicaMarket]);
  m.call(batchMarket, "setReplicaMarket", [replicaMarket]);
  return { staking, registry, terms, market, verification, batchMarket, profiles, replicaMarket };
}

/** Production shape: the protocol token already exists (parameter `token`). */
export default buildModule("Dinfer", (m) => {
  const token = m.contractAt("DinferTestToken", m.getParameter<string>("token"), { id: "Token" });
  return { token, ...deployProtocol(m, token) };
});
