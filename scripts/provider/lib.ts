/**
 * Shared by the provider scripts (`npx hardhat run scripts/provider/<action>.ts --network <name>`):
 * the connection, the deployment's addresses and the acting account. Hardhat scripts take no
 * arguments, so amounts and roles come from the environment (AMOUNT, ROLES, ACCOUNT_INDEX).
 */
import { network } from "hardhat";

import { loadDeployment } from "../../offchain/chain/deployment.js";
import { parseRoles, parseTokens } from "../../offchain/provider/account.js";

export async function providerContext() {
  const connection = await network.create();
  const { viem } = connection;
  const publicClient = await viem.getPublicClient();
  const chainId = await publicClient.getChainId();
  const deployment = loadDeployment({ chainId, deploymentId: process.env.DEPLOYMENT_ID });
  const wallets = await viem.getWalletClients();
  const index = Number(process.env.ACCOUNT_INDEX ?? 0);
  const wallet = wallets[index];
  if (!wallet) throw new Error(`ACCOUNT_INDEX=${index}: the network has ${wallets.length} accounts`);
  const staking = await viem.getContractAt("Staking", deployment.staking);
  const market = await viem.getContractAt("JobMarket", deployment.market);
  const token = await viem.getContractAt("DinferTestToken", deployment.token);
  return { connection, publicClient, deployment, wallet, account: wallet.account, staking, market, token };
}

export function amountFromEnv(): bigint {
  const amount = process.env.AMOUNT;
  if (!amount) throw new Error("set AMOUNT (tokens), e.g. AMOUNT=500");
  return parseTokens(amount, "AMOUNT");
}

export const rolesFromEnv = () => parseRoles(process.env.ROLES ?? "provider");
