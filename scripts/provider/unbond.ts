// AMOUNT=100 [ACCOUNT_INDEX=1] npx hardhat run scripts/provider/unbond.ts --network localhost
import { formatTokens } from "../../offchain/provider/account.js";
import { amountFromEnv, providerContext } from "./lib.js";

const amount = amountFromEnv();
const { publicClient, staking, account } = await providerContext();
const hash = await staking.write.requestUnbond([amount], { account });
await publicClient.waitForTransactionReceipt({ hash });
const { unbondingEnd } = await staking.read.account([account.address]);
console.log(`${account.address} unbonding ${formatTokens(amount)}, withdrawable from ${new Date(Number(unbondingEnd) * 1000).toISOString()}`);
