// npx tsx scripts/provider/stake.ts <tokens> [--roles provider,verifier]   (DINFER_RPC_URL, DINFER_DEPLOYMENT_ID, DINFER_PRIVATE_KEY)
import "./warnings.js";
import { formatTokens } from "../../offchain/chain/format.js";
import { roleNames } from "../../offchain/protocol/account.js";
import { stake } from "../../offchain/protocol/actions.js";
import { amountArg, providerContext, rolesArg, runScript } from "./lib.js";

await runScript(async () => {
  const [amount, roles] = [amountArg("stake"), rolesArg()];
  const context = await providerContext();
  const { hash } = await stake({ ...context, amount, roles });
  console.log(`${context.sender.address} staked ${formatTokens(amount)} as ${roleNames(roles)} (tx ${hash})`);
});
