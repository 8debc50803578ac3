/**
 * `dinfer deposit add|withdraw|show`: a dApp's prepaid deposits: the BatchMarket's, which batches of jobs
 * (`dinfer job post --batch`) are paid from, and with `--jobs` the JobMarket's, which signed requests
 * (`dinfer job post --to`) are paid from: one token transfer in, then no transfer per job.
 */
import { Option, type Command } from "commander";
import type { Address } from "viem";

import { formatTokens, parseTokens } from "../../chain/format.js";
import { deposit, depositBalance, withdrawDeposit, type DepositMarket } from "../../sdk/batches.js";
import { connect, openChain } from "../context.js";

export function addDepositCommands(program: Command): void {
  const group = program.command("deposit").description("dApps: the prepaid deposits batches (default) and, with --jobs, signed requests are paid from");
  const jobsFlag = () => new Option("--jobs", "the JobMarket's deposit (signed requests, postJobFromDeposit) instead of the BatchMarket's (batches)");
  const marketOf = (flags: { jobs?: boolean }): DepositMarket => (flags.jobs ? "jobs" : "batches");
  group
    .command("add <tokens>")
    .description("move tokens from your wallet into your deposit (approves the market once)")
    .addOption(jobsFlag())
    .action(async (tokens: string, flags, cmd: Command) => {
      const amount = parseTokens(tokens, "tokens");
      const { sender, deployment, publicClient } = await connect(cmd);
      const { txHash, balance } = await deposit({ sender, publicClient, deployment, amount, market: marketOf(flags) });
      console.log(`deposited ${formatTokens(amount)}; the ${marketOf(flags)} deposit holds ${formatTokens(balance)} (tx ${txHash})`);
    });
  group
    .command("withdraw <tokens>")
    .description("take unspent deposit back to your wallet (fees of posted batches or jobs left it at post)")
    .addOption(jobsFlag())
    .action(async (tokens: string, flags, cmd: Command) => {
      const amount = parseTokens(tokens, "tokens");
      const { sender, deployment, publicClient } = await connect(cmd);
      const { txHash, balance } = await withdrawDeposit({ sender, publicClient, deployment, amount, market: marketOf(flags) });
      console.log(`withdrew ${formatTokens(amount)}; the ${marketOf(flags)} deposit holds ${formatTokens(balance)} (tx ${txHash})`);
    });
  group
    .command("show")
    .description("your unspent deposit (--account for another's)")
    .option("--account <address>", "another account's deposit (no key needed)")
    .action(async (flags, cmd: Command) => {
      const chain = await openChain(cmd, { keyed: !flags.account });
      const account = (flags.account ?? chain.account!.address) as Address;
      const [batches, jobs] = await Promise.all(
        (["batches", "jobs"] as const).map((market) => depositBalance({ publicClient: chain.publicClient, deployment: chain.deployment, account, market })),
      );
      console.log(`deposit of ${account}: ${formatTokens(batches!)}`);
      console.log(`  for signed requests and jobs from a deposit (JobMarket, --jobs): ${formatTokens(jobs!)}`);
    });
}
