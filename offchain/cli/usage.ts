/** What `dinfer` says about itself: its version, and the --help hint a usage error ends with. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { Command } from "commander";

import { commandPath } from "../ui/messages.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The package's version, from package.json (`dinfer --version`). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;
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
