/**
 * What the command groups (offchain/cli/commands/) share: the chain options and connection a command
 * runs with, and how ids, block numbers and bigints are read and printed.
 */
import type { Command } from "commander";
import { getAddress, isAddress, type Address } from "viem";
import { z } from "zod";

import { TxSender } from "../chain/sender.js";
import { CHAIN_OPTION_NAMES } from "../config/chain-options.js";
import { envOptions, loadOptions } from "../config/options.js";
import { DinferError } from "../errors.js";
import { connectChain } from "../daemon/chain.js";
import { ChainOptionsSchema, yesNo } from "../daemon/options.js";
import { chainFlags } from "./flags.js";

/** The chain options of a command: its flags, then DINFER_* variables, then the config file. */
export function chainOptions(cmd: Command) {
  const { file, flags } = chainFlags(cmd);
  return loadOptions({ schema: ChainOptionsSchema, file, env: envOptions(CHAIN_OPTION_NAMES), flags });
}

/** The chain with the command's key, and a sender for its transactions. */
export async function connect(cmd: Command) {
  const chain = await connectChain({ options: chainOptions(cmd), keyed: true });
  const sender = new TxSender({ publicClient: chain.publicClient, walletClient: chain.walletClient! });
  return { ...chain, sender };
}

/** The chain, with the command's key when `keyed` (a command given another account's address reads only). */
export function openChain(cmd: Command, { keyed }: { keyed: boolean }) {
  return connectChain({ options: chainOptions(cmd), keyed });
}

/** The chain without a key: reads only. */
export function connectReadOnly(cmd: Command) {
  return openChain(cmd, { keyed: false });
}

const PrivateHostsOptionSchema = z.object({ allowPrivateHosts: yesNo.optional() });

/**
 * The `allowPrivateHosts` a command that reads what others chose through the SDK (a job's output, a batch's output
 * list, a model's registered file) was given: `--allow-private-hosts`, else DINFER_ALLOW_PRIVATE_HOSTS (true or
 * false; anything else is refused), else the config file's; undefined without any. The caller applies the daemons'
 * rule to it (`allowsPrivateHosts`: undefined is on only on a devnet). Read it before connecting: a bad value is
 * refused before anything is sent.
 */
export function allowPrivateHostsOption(cmd: Command, env: NodeJS.ProcessEnv = process.env): boolean | undefined {
  const { file } = chainFlags(cmd);
  const { allowPrivateHosts } = cmd.opts<{ allowPrivateHosts?: boolean }>();
  return loadOptions({ schema: PrivateHostsOptionSchema, file, env: envOptions(["allowPrivateHosts"], env), flags: { allowPrivateHosts } }).allowPrivateHosts;
}

export const print = (line: string) => console.log(line);

/** A job, model or terms id from the command line: a non-negative integer. */
export function parseId(text: string, what: string): bigint {
  if (!/^[0-9]+$/.test(text)) throw new DinferError(`${what} must be a non-negative integer, got "${text}"`, { code: "BAD_ID" });
  return BigInt(text);
}

/** An address flag, checksummed; a clear error when it is none. */
export function parseAddress(text: string, what: string): Address {
  if (!isAddress(text, { strict: false })) throw new DinferError(`${what} must be an address (0x and 40 hex digits), got "${text}"`, { code: "BAD_ADDRESS" });
  return getAddress(text);
}

/** `--from-block <n>`: where event reads start (default 0). */
export function fromBlockFlag(text: string | undefined): bigint {
  if (text === undefined) return 0n;
  if (!/^[0-9]+$/.test(text)) throw new DinferError(`--from-block must be a block number, got "${text}"`, { code: "BAD_BLOCK" });
  return BigInt(text);
}

/** A `JSON.stringify` replacer that prints bigints as decimal strings. */
export function bigintJson(_key: string, value: unknown) {
  return typeof value === "bigint" ? value.toString() : value;
}
