// npx tsx scripts/provider/status.ts [<address>]   (DINFER_RPC_URL, DINFER_DEPLOYMENT_ID, DINFER_PRIVATE_KEY unless an address is given)
import "./warnings.js";
import type { Address } from "viem";

import { formatAccountStatus, readAccountStatus } from "../../offchain/protocol/account.js";
import { providerContext, runScript } from "./lib.js";

await runScript(async () => {
  const given = process.argv[2] as Address | undefined;
  const { publicClient, deployment, account } = await providerContext({ keyed: given === undefined });
  const status = await readAccountStatus({ publicClient, deployment, address: given ?? account!.address });
  console.log(formatAccountStatus(status, (await publicClient.getBlock()).timestamp));
});
