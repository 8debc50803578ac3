/**
 * `dinfer history [--address ADDR] [--json]`: an account's money from chain events: fees paid, refunds,
 * payouts, rewards, slashes, stake and withdrawals (offchain/sdk/activity.ts).
 */
import type { Command } from "commander";
import type { Address } from "viem";

import { formatTokens } from "../../chain/format.js";
import { accountHistory, type HistoryEntry } from "../../sdk/activity.js";
import { bigintJson, fromBlockFlag, openChain } from "../context.js";

/** Adds `dinfer history`: an account's fees, refunds, payouts, rewards and slashes. */
export function addHistoryCommand(program: Command): void {
  program
    .command("history")
    .description("money history of an account (the key's, or --address): fees paid, refunds, payouts, rewards, slashes, withdrawals")
    .option("--address <address>", "another account (no key needed)")
    .option("--from-block <n>", "read events from this block (default 0)")
    .option("--json", "print JSON")
    .action(async (flags, cmd: Command) => {
      const chain = await openChain(cmd, { keyed: !flags.address });
      const account = (flags.address ?? chain.account!.address) as Address;
      const history = await accountHistory({ publicClient: chain.publicClient, deployment: chain.deployment, account, fromBlock: fromBlockFlag(flags.fromBlock) });
      if (flags.json) return console.log(JSON.stringify({ account, ...history }, bigintJson, 2));
      if (history.entries.length === 0) return console.log(`no fees, credits, payouts or slashes for ${account}`);
      for (const entry of history.entries) console.log(formatEntry(entry));
      const t = history.totals;
      console.log(
        `totals for ${account}: fees paid ${formatTokens(-t.feesPaid)}, refunds and credits ${formatTokens(t.refunds)}, payouts ${formatTokens(t.payouts)}, rewards ${formatTokens(t.rewards)}, slashed ${formatTokens(-t.slashed)}; net ${t.net < 0n ? "-" : "+"}${formatTokens(t.net < 0n ? -t.net : t.net)}`,
      );
    });
}

function formatEntry(entry: HistoryEntry): string {
  const sign = ["staked", "stake withdrawn", "withdrawn"].includes(entry.kind) ? " " : entry.amount < 0n ? "-" : "+";
  const amount = entry.amount < 0n ? -entry.amount : entry.amount;
  const time = new Date(Number(entry.timestamp) * 1000).toISOString().replace(".000Z", "Z");
  return `${time}  ${entry.kind.padEnd(16)} ${sign}${formatTokens(amount).padEnd(24)}${entry.jobId === undefined ? "" : `job ${entry.jobId}  `}tx ${entry.txHash}`;
}
