/**
 * What a command line (`dinfer`, the provider scripts) prints when something goes wrong: one line a
 * person can act on. A revert reads as a sentence with tokens, status names and dates
 * (offchain/chain/revert-messages.ts); the node's own refusals name the account and the remedy; a
 * usage error prints one line and a hint to the command's --help, not the whole help. No viem dumps and no stacks, except with --verbose or
 * DINFER_DEBUG=1, which add the details, the causes and the stack.
 */
import { BaseError } from "viem";

import { ChainTransportError, classifyChainError, ContractRevertError, errorChain, NodeRejectedError } from "../chain/errors.js";
import { describeRevert } from "../chain/revert-messages.js";
import { DinferError } from "../errors.js";

/** Whether the user asked for details and stacks: --verbose anywhere on the command line, or DINFER_DEBUG=1. */
export function verboseRequested(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  return argv.includes("--verbose") || (env.DINFER_DEBUG !== undefined && env.DINFER_DEBUG !== "" && env.DINFER_DEBUG !== "0");
}

/** A command of a command tree (commander's `Command` is one): its name and its parent. */
export type NamedCommand = { name(): string; readonly parent: NamedCommand | null };

/** "dinfer job post" for the `post` subcommand of `job`. */
export function commandPath(cmd: NamedCommand): string {
  const names: string[] = [];
  for (let c: NamedCommand | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Error codes that mean the command line itself was wrong: they get the command's --help hint. */
const USAGE_CODES = new Set(["BAD_AMOUNT", "BAD_ID", "BAD_ROLE", "NOTHING_TO_UPDATE", "BAD_FLAG", "CONFIRMATION_NEEDED"]);

export type FormatCliErrorParameters = {
  error: unknown;
  /** The command that was running, for a usage hint. */
  command?: NamedCommand;
  verbose?: boolean;
};

/** The lines `dinfer` prints on stderr for an error that ended a command: one, or more with `verbose`. */
export function formatCliError({ error, command, verbose = false }: FormatCliErrorParameters): string {
  const project = error instanceof BaseError ? classifyChainError({ error }) : error;
  const lines = [`dinfer: ${headline(project)}`];
  if (project instanceof DinferError && USAGE_CODES.has(project.code) && command) lines.push(`see \`${commandPath(command)} --help\``);
  if (verbose) lines.push(...debugLines(error));
  return lines.join("\n");
}

function headline(error: unknown): string {
  if (error instanceof ContractRevertError) {
    const tx = typeof error.details?.txHash === "string" ? ` (transaction ${error.details.txHash} reverted)` : "";
    return `${describeRevert(error)}${tx}`;
  }
  if (error instanceof NodeRejectedError) return error.message;
  if (error instanceof ChainTransportError) {
    const url = typeof error.details?.rpcUrl === "string" ? ` at ${error.details.rpcUrl}` : "";
    return `cannot reach the chain${url}: is the node running? (a local one: \`dinfer devnet\`; another: --rpc-url or DINFER_RPC_URL)`;
  }
  if (error instanceof DinferError) return `${error.message}${compactDetails(error.details)}`;
  const code = (error as { code?: unknown } | undefined)?.code;
  const file = (error as { path?: unknown } | undefined)?.path;
  if (code === "ENOENT" && typeof file === "string") return `no such file: ${file}`;
  if (code === "EACCES" && typeof file === "string") return `permission denied: ${file}`;
  if (code === "EISDIR" && typeof file === "string") return `${file} is a directory, not a file`;
  if (error instanceof Error) return error.message.split("\n")[0]!;
  return String(error);
}

/** A few short, scalar details as "(jobId 5, path x)"; nothing when there are none or they are long. */
function compactDetails(details: Record<string, unknown> | undefined): string {
  if (!details) return "";
  const shown = Object.entries(details)
    .filter(([, v]) => (typeof v === "string" || typeof v === "number" || typeof v === "bigint") && String(v).length <= 80)
    .slice(0, 3)
    .map(([k, v]) => `${k} ${String(v)}`);
  return shown.length ? ` (${shown.join(", ")})` : "";
}

function debugLines(error: unknown): string[] {
  const lines: string[] = [];
  for (const e of errorChain(error)) {
    const o = e as { name?: unknown; details?: unknown; stack?: unknown; message?: unknown };
    if (o.details !== undefined && typeof o.details === "object") lines.push(`details: ${JSON.stringify(o.details, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}`);
    lines.push(typeof o.stack === "string" ? o.stack : `${String(o.name ?? "error")}: ${String(o.message ?? e)}`);
  }
  return lines;
}
