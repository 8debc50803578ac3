/**
 * `dinfer deposit add|withdraw|show`: a dApp's prepaid deposit in the BatchMarket, which batches of jobs
 * (`dinfer job post --batch`) are paid from: one token transfer in, then no transfer per job.
 */
import type { Command } from "commander";
import type { Address } from "viem";

import { formatTokens, parseTokens } from "../../chain/format.js";
import { deposit, depositBalance, withdrawDeposit } from "../../sdk/batches.js";
import { connect, openChain } from "../context.js";

export function addDepositCommands(program: Command): void {
  const group = program.command("deposit").description("dApps: the prepaid deposit batches of jobs are paid from");
  group
    .command("add <tokens>")
    .description("move tokens from your wallet into your deposit (approves the BatchMarket once)")
    .action(async (tokens: string, _flags, cmd: Command) => {
      const amount = parseTokens(tokens, "tokens");
      const { sender, deployment, publicClient } = await connect(cmd);
      const { txHash, balance } = await deposit({ sender, publicClient, deployment, amount });
      console.log(`deposited ${formatTokens(amount)}; the deposit holds ${formatTokens(balance)} (tx ${txHash})`);
    });
  group
    .command("withdraw <tokens>")
    .description("take unspent deposit back to your wallet (fees of posted batches left it at post)")
    .action(async (tokens: string, _flags, cmd: Command) => {
      const amount = parseTokens(tokens, "tokens");
      const { sender, deployment, publicClient } = await connect(cmd);
      const { txHash, balance } = await withdrawDeposit({ sender, publicClient, deployment, amount });
      console.log(`withdrew ${formatTokens(amount)}; the deposit holds ${formatTokens(balance)} (tx ${txHash})`);
    });
  group
    .command("show")
    .description("your unspent deposit (--account for another's)")
    .option("--account <address>", "another account's deposit (no key needed)")
    .action(async (flags, cmd: Command) => {
      const chain = await openChain(cmd, { keyed: !flags.account });
      const account = (flags.account ?? chain.account!.address) as Address;
      const balance = await depositBalance({ publicClient: chain.publicClient, deployment: chain.deployment, account });
      console.log(`deposit of ${account}: ${formatTokens(balance)}`);
    });
}
