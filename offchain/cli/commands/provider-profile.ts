/**
 * `dinfer provider profile set|show|clear`: what a provider declares about itself on chain
 * (contracts/ProviderProfiles.sol): region, execution providers, models served and capacity.
 *
 *   dinfer provider profile set --region eu-west --ep gpu --capacity 4 --models 1,2,7 [--record-uri URI --record-file PATH]
 *   dinfer provider profile show [address] [--json]
 *   dinfer provider profile clear
 *
 * A profile is self-declared: markets match jobs on it, reputation and audits keep it honest.
 */
import { readFileSync } from "node:fs";

import type { Command } from "commander";
import type { Address } from "viem";

import { providerProfilesAbi } from "../../chain/abis.js";
import { formatProfile, parseExecutionProviders, parseProfileModels, profileArgs, readProfile } from "../../chain/profiles.js";
import { DinferError } from "../../errors.js";
import { bigintJson, connect, openChain, parseAddress } from "../context.js";

export function addProviderProfileCommands(provider: Command): void {
  const profile = provider
    .command("profile")
    .description("declare (or show) a provider's region, execution providers, models and capacity, for markets to match jobs on")
    .addHelpText(
      "after",
      `
A profile is self-declared: the chain cannot prove a GPU or a region. Markets use it to match jobs to
providers; reputation (dinfer provider status) and audits are what keep it honest.`,
    );
  profile
    .command("set")
    .description("set the key's profile, replacing the one it had (every field: what is left out is not declared)")
    .option("--region <region>", "where it runs: up to 8 visible ASCII characters, e.g. eu-west (left out: not declared)")
    .requiredOption("--ep <list>", "execution providers it runs models on: cpu, gpu or cpu,gpu")
    .requiredOption("--capacity <n>", "jobs it runs at once")
    .requiredOption("--models <ids>", "model ids it serves, comma separated, e.g. 1,2,7 (at most 64)")
    .option("--record-uri <uri>", "where a fuller record (JSON) is; with --record-file")
    .option("--record-file <path>", "the record's bytes, hashed (keccak256) to pin it; with --record-uri")
    .action(async (flags, cmd: Command) => {
      const args = profileArgs({
        region: flags.region,
        executionProviders: parseExecutionProviders(flags.ep),
        capacity: parseCapacity(flags.capacity),
        models: parseProfileModels(flags.models),
        record: readRecord(flags.recordUri, flags.recordFile),
      });
      const { sender, deployment, publicClient, account } = await connect(cmd);
      const { hash } = await sender.send({ address: deployment.profiles, abi: providerProfilesAbi, functionName: "setProfile", args });
      const stored = await readProfile({ client: publicClient, address: deployment.profiles, provider: account!.address });
      console.log(`${formatProfile(stored)} (tx ${hash})`);
    });
  profile
    .command("show [address]")
    .description("print a provider's profile (default: the key's account; an address needs no key)")
    .option("--json", "print it as JSON")
    .action(async (address: string | undefined, flags, cmd: Command) => {
      const chain = await openChain(cmd, { keyed: address === undefined });
      const provider: Address = address === undefined ? chain.account!.address : parseAddress(address, "address");
      const stored = await readProfile({ client: chain.publicClient, address: chain.deployment.profiles, provider });
      console.log(flags.json ? JSON.stringify(stored ?? null, bigintJson, 2) : `${provider} ${formatProfile(stored)}`);
    });
  profile
    .command("clear")
    .description("remove the key's profile")
    .action(async (_flags, cmd: Command) => {
      const { sender, deployment } = await connect(cmd);
      const { hash } = await sender.send({ address: deployment.profiles, abi: providerProfilesAbi, functionName: "clearProfile", args: [] });
      console.log(`profile cleared (tx ${hash})`);
    });
}

/** `--capacity <n>`: a whole number of jobs. */
function parseCapacity(text: string): number {
  if (!/^[0-9]+$/.test(text)) throw new DinferError(`--capacity must be a whole number of jobs, got "${text}"`, { code: "BAD_CAPACITY" });
  return Number(text);
}

/** `--record-uri` with `--record-file`: the record's URI and bytes; neither: no record. */
function readRecord(uri: string | undefined, file: string | undefined): { uri: string; bytes: Uint8Array } | undefined {
  if (uri === undefined && file === undefined) return undefined;
  if (uri === undefined || file === undefined) {
    throw new DinferError("give --record-uri and --record-file together: the file's keccak256 pins what the URI serves", { code: "BAD_RECORD" });
  }
  try {
    return { uri, bytes: new Uint8Array(readFileSync(file)) };
  } catch (cause) {
    throw new DinferError(`cannot read ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { code: "RECORD_READ", cause });
  }
}
