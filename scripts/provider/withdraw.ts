// [ACCOUNT_INDEX=1] npx hardhat run scripts/provider/withdraw.ts --network localhost
// Withdraws finished unbonding stake and the account's market credits (earnings, refunds).
import { formatTokens, readAccountStatus } from "../../offchain/provider/account.js";
import { providerContext } from "./lib.js";

const { publicClient, deployment, staking, market, account } = await providerContext();
const status = await readAccountStatus({ publicClient, deployment, address: account.address });
const now = (await publicClient.getBlock()).timestamp;
if (status.unbonding > 0n && status.unbondingEnd <= now) {
  await publicClient.waitForTransactionReceipt({ hash: await staking.write.withdraw({ account }) });
  console.log(`withdrew ${formatTokens(status.unbonding)} of stake`);
} else if (status.unbonding > 0n) {
  console.log(`${formatTokens(status.unbonding)} still unbonding for ${status.unbondingEnd - now} s`);
}
if (status.credits > 0n) {
  await publicClient.waitForTransactionReceipt({ hash: await market.write.withdraw({ account }) });
  console.log(`withdrew ${formatTokens(status.credits)} of market credits`);
}
