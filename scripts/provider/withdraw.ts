// npx tsx scripts/provider/withdraw.ts   (DINFER_RPC_URL, DINFER_DEPLOYMENT_ID, DINFER_PRIVATE_KEY)
// Withdraws finished unbonding stake, market credits (earnings, refunds) and verification credits.
import "./warnings.js";
import { withdrawAll } from "../../offchain/protocol/actions.js";
import { providerContext, runScript } from "./lib.js";

await runScript(async () => {
  await withdrawAll(await providerContext());
});
