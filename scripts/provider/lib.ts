/**
 * Shared by the provider scripts (`npx tsx scripts/provider/<action>.ts`): the same connection the CLI
 * makes, from the same DINFER_* variables `dinfer devnet` prints (DINFER_RPC_URL, DINFER_DEPLOYMENT_ID,
 * DINFER_PRIVATE_KEY, or DINFER_CONFIG, DINFER_KEYSTORE_KEY ...), so they work against any node; the
 * actions are offchain/protocol/actions.ts, as for `dinfer provider`. Amounts and roles come from the
 * arguments or AMOUNT and ROLES. A failure prints one line (DINFER_DEBUG=1 adds the details and stack).
 */
import { TxSender } from "../../offchain/chain/sender.js";
import { CHAIN_OPTION_NAMES } from "../../offchain/config/chain-options.js";
import { envOptions, loadOptions } from "../../offchain/config/options.js";
import { NonRetryableError } from "../../offchain/errors.js";
import { parseTokens } from "../../offchain/chain/format.js";
import { connectChain } from "../../offchain/daemon/chain.js";
import { ChainOptionsSchema } from "../../offchain/daemon/options.js";
import { parseRoles } from "../../offchain/protocol/account.js";
import { formatCliError, verboseRequested } from "../../offchain/ui/messages.js";

/** The chain, the addresses and the acting account's sender, as the CLI connects. */
export async function providerContext({ keyed = true }: { keyed?: boolean } = {}) {
  const options = loadOptions({ schema: ChainOptionsSchema, file: process.env.DINFER_CONFIG, env: envOptions(CHAIN_OPTION_NAMES) });
  const chain = await connectChain({ options, keyed });
  const sender = keyed ? new TxSender({ publicClient: chain.publicClient, walletClient: chain.walletClient! }) : undefined;
  return { ...chain, sender: sender!, say: (line: string) => console.log(line) };
}

/** The first argument, else AMOUNT, in tokens. */
export function amountArg(script: string): bigint {
  const amount = process.argv.slice(2).find((a) => !a.startsWith("-")) ?? process.env.AMOUNT;
  if (!amount) throw new NonRetryableError(`give the amount in tokens: \`npx tsx scripts/provider/${script}.ts 500\` (or AMOUNT=500)`, { code: "BAD_AMOUNT" });
  return parseTokens(amount, "the amount");
}

/** --roles <roles> or ROLES, default provider. */
export function rolesArg(): number {
  const i = process.argv.indexOf("--roles");
  return parseRoles((i >= 0 ? process.argv[i + 1] : undefined) ?? process.env.ROLES ?? "provider");
}

export const yesArg = () => process.argv.includes("--yes") || process.argv.includes("-y");

/** Runs a script's body; an error ends it with one line on stderr and exit code 1. */
export async function runScript(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    console.error(formatCliError({ error, verbose: verboseRequested(process.argv) }));
    process.exitCode = 1;
  }
}
