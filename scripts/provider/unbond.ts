// npx tsx scripts/provider/unbond.ts <tokens> [--yes]   (DINFER_RPC_URL, DINFER_DEPLOYMENT_ID, DINFER_PRIVATE_KEY)
import "./warnings.js";
import { formatTokens } from "../../offchain/chain/format.js";
import { unbond } from "../../offchain/protocol/actions.js";
import { confirmOrRefuse } from "../../offchain/ui/confirm.js";
import { amountArg, providerContext, runScript, yesArg } from "./lib.js";

await runScript(async () => {
  const amount = amountArg("unbond");
  const context = await providerContext();
  const { hash } = await unbond({ ...context, amount, confirm: (question) => confirmOrRefuse({ question, yes: yesArg() }) });
  console.log(`${context.sender.address} unbonding ${formatTokens(amount)} (tx ${hash})`);
});
