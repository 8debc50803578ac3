import { readFileSync } from "node:fs";

import { z } from "zod";

import { NonRetryableError } from "../errors.js";

/** A bad option, named by its path (`models[0].path`) and where it came from. */
export class ConfigError extends NonRetryableError {
  override name = "ConfigError";
}

export type LoadOptionsParameters<S extends z.ZodType> = {
  schema: S;
  /** A JSON config file; optional. */
  file?: string;
  /** Values from the environment, already mapped to option names. */
  env?: Record<string, unknown>;
  /** Values from command-line flags (undefined entries are ignored). */
  flags?: Record<string, unknown>;
};

/**
 * Builds one typed options object: defaults (in the schema) < config file < environment < flags,
 * validated at start-up. Fails fast with a message that names every bad option.
 */
export function loadOptions<S extends z.ZodType>({ schema, file, env = {}, flags = {} }: LoadOptionsParameters<S>): z.output<S> {
  const fromFile = file ? readConfigFile(file) : {};
  if ("privateKey" in fromFile || "mnemonic" in fromFile) {
    throw new ConfigError("keys are never read from config files: use an environment variable or the Hardhat keystore", {
      code: "CONFIG_SECRET",
      details: { file },
    });
  }
  const merged = { ...fromFile, ...defined(env), ...defined(flags) };
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ConfigError(`invalid options: ${problems.join("; ")}`, { code: "CONFIG_INVALID", details: { file, problems } });
  }
  return parsed.data;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new ConfigError(`cannot read config file ${file}`, { code: "CONFIG_UNREADABLE", details: { file }, cause });
  }
  try {
    const value = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Record<string, unknown>;
  } catch (cause) {
    throw new ConfigError(`config file ${file} is not a JSON object`, { code: "CONFIG_MALFORMED", details: { file }, cause });
  }
}

function defined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

/** Reads `DINFER_<NAME>` variables for the given option names (camelCase -> UPPER_SNAKE). */
export function envOptions(names: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  return Object.fromEntries(names.map((name) => [name, env[`DINFER_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`]]));
}
