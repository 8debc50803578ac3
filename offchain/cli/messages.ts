/**
 * What the CLI prints when something goes wrong: one line a person can act on. A revert reads as a
 * sentence with tokens, status names and dates (offchain/chain/revert-messages.ts); the node's own
 * refusals name the account and the remedy; a usage error prints one line and a hint to the
 * command's --help, not the whole help. No viem dumps and no stacks, except with --verbose or
 * DINFER_DEBUG=1, which add the details, the causes and the stack.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { Command } from "commander";
import { BaseError } from "viem";

import { ChainTransportError, classifyChainError, ContractRevertError, errorChain, NodeRejectedError } from "../chain/errors.js";
import { describeRevert } from "../chain/revert-messages.js";
import { DinferError } from "../errors.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The package's version, from package.json (`dinfer --version`). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;
}

/** Whether the user asked for details and stacks: --verbose anywhere on the command line, or DINFER_DEBUG=1. */
export function verboseRequested(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  return argv.includes("--verbose") || (env.DINFER_DEBUG !== undefined && env.DINFER_DEBUG !== "" && env.DINFER_DEBUG !== "0");
}

/**
 * Gives every command of the program the hint a usage error ends with ("see dinfer job post --help")
 * instead of the whole help, and remembers which command runs, so that a bad value found inside an
 * action (a malformed amount) gets the same hint. Call once the program is complete.
 */
export function installUsageHints(program: Command): { current: () => Command | undefined } {
  let running: Command | undefined;
  const walk = (cmd: Command) => {
    cmd.showHelpAfterError(`see \`${commandPath(cmd)} --help\``);
    cmd.commands.forEach(walk);
  };
  walk(program);
  program.hook("preAction", (_root, action) => {
    running = action;
  });
  return { current: () => running };
}

/** "dinfer job post" for the `post` subcommand of `job`. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Error codes that mean the command line itself was wrong: they get the command's --help hint. */
const USAGE_CODES = new Set(["BAD_AMOUNT", "BAD_ID", "BAD_ROLE", "NOTHING_TO_UPDATE", "BAD_FLAG", "CONFIRMATION_NEEDED"]);

export type FormatCliErrorParameters = {
  error: unknown;
  /** The command that was running, for a usage hint. */
  command?: Command;
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

export type ConfirmParameters = {
  /** What will happen, already printed; the question follows it. */
  question: string;
  /** --yes was given. */
  yes: boolean;
  input?: NodeJS.ReadStream;
  output?: NodeJS.WriteStream;
};

/**
 * Goes ahead when --yes was given; asks on a terminal; refuses otherwise (a script must say --yes),
 * so that nothing irreversible happens unconfirmed.
 */
export async function confirmOrRefuse({ question, yes, input = process.stdin, output = process.stdout }: ConfirmParameters): Promise<void> {
  if (yes) return;
  if (!input.isTTY) {
    throw new DinferError(`not confirmed: run again with --yes to go ahead`, { code: "CONFIRMATION_NEEDED" });
  }
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input, output });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== "y" && answer !== "yes") throw new DinferError("cancelled: nothing was sent", { code: "CANCELLED" });
  } finally {
    rl.close();
  }
}
