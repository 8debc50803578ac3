// AMOUNT=500 [ROLES=provider,verifier] [ACCOUNT_INDEX=1] npx hardhat run scripts/provider/stake.ts --network localhost
import { formatTokens } from "../../offchain/provider/account.js";
import { amountFromEnv, providerContext, rolesFromEnv } from "./lib.js";

const amount = amountFromEnv();
const roles = rolesFromEnv();
const { publicClient, staking, token, account } = await providerContext();
await publicClient.waitForTransactionReceipt({ hash: await token.write.approve([staking.address, amount], { account }) });
const hash = await staking.write.stake([amount, roles], { account });
await publicClient.waitForTransactionReceipt({ hash });
console.log(`${account.address} staked ${formatTokens(amount)} (roles ${roles}), tx ${hash}`);
