/**
 * `dinfer provider stake|unbond|withdraw|status`: a provider's or verifier's stake and credits. The
 * actions are offchain/protocol/actions.ts, as for the provider scripts, the devnet and the verifier's start.
 * `dinfer provider profile set|show|clear`: offchain/cli/commands/provider-profile.ts.
 */
import type { Command } from "commander";
import type { Hex } from "viem";

import { formatTokens } from "../../chain/format.js";
import { formatProfile, readProfile } from "../../chain/profiles.js";
import { parseTokens } from "../../chain/format.js";
import { formatAccountStatus, parseRoles, readAccountStatus } from "../../protocol/account.js";
import { stake, unbond, withdrawAll } from "../../protocol/actions.js";
import { confirmOrRefuse } from "../../ui/confirm.js";
import { providerReputation, formatReputation } from "../../sdk/reputation.js";
import { connect, fromBlockFlag, openChain, print } from "../context.js";
import { addProviderProfileCommands } from "./provider-profile.js";

export function addProviderCommands(program: Command): void {
  const provider = program.command("provider").description("stake, unbond, withdraw and inspect a provider or verifier account");
  provider
    .command("stake <amount>")
    .description("stake <amount> tokens (approves the staking contract first)")
    .option("--roles <roles>", "provider, verifier or both (comma separated)", "provider")
    .action(async (amount: string, flags, cmd: Command) => {
      const value = parseTokens(amount);
      const roles = parseRoles(flags.roles);
      const { hash } = await stake({ ...(await connect(cmd)), say: print, amount: value, roles });
      console.log(`staked ${formatTokens(value)} as ${flags.roles} (tx ${hash})`);
    });
  provider
    .command("unbond <amount>")
    .description("start unbonding <amount> of unlocked stake (a second request restarts the clock for all unbonding stake: asks first)")
    .option("-y, --yes", "go ahead without asking when stake is already unbonding")
    .action(async (amount: string, flags, cmd: Command) => {
      const value = parseTokens(amount);
      const confirm = (question: string) => confirmOrRefuse({ question, yes: flags.yes === true });
      const { hash } = await unbond({ ...(await connect(cmd)), say: print, amount: value, confirm });
      console.log(`unbonding ${formatTokens(value)} (tx ${hash})`);
    });
  provider
    .command("withdraw")
    .description("withdraw finished unbonding stake, market credits (earnings, refunds) and verification credits (bonds back, audit and vote pay)")
    .action(async (_flags, cmd: Command) => {
      await withdrawAll({ ...(await connect(cmd)), say: print });
    });
  provider
    .command("status")
    .description("show stake, locks, unbonding and credits, the provider's profile when it declared one, and its reputation from chain events")
    .option("--address <address>", "another account (no key needed)")
    .option("--history", "list every outcome that moved the reputation")
    .option("--from-block <n>", "read reputation events from this block (default 0)")
    .action(async (flags, cmd: Command) => {
      const chain = await openChain(cmd, { keyed: !flags.address });
      const address = (flags.address ?? chain.account!.address) as Hex;
      const status = await readAccountStatus({ publicClient: chain.publicClient, deployment: chain.deployment, address });
      console.log(formatAccountStatus(status, (await chain.publicClient.getBlock()).timestamp));
      const profile = await readProfile({ client: chain.publicClient, address: chain.deployment.profiles, provider: address });
      if (profile) console.log(formatProfile(profile));
      const rep = await providerReputation({ publicClient: chain.publicClient, deployment: chain.deployment, provider: address, fromBlock: fromBlockFlag(flags.fromBlock) });
      console.log(formatReputation(rep, { history: flags.history === true }));
    });
  addProviderProfileCommands(provider);
}
