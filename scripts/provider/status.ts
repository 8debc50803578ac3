// [ACCOUNT_INDEX=1] npx hardhat run scripts/provider/status.ts --network localhost
import { formatAccountStatus, readAccountStatus } from "../../offchain/provider/account.js";
import { providerContext } from "./lib.js";

const { publicClient, deployment, account } = await providerContext();
const status = await readAccountStatus({ publicClient, deployment, address: account.address });
console.log(formatAccountStatus(status, (await publicClient.getBlock()).timestamp));
