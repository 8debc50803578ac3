import { spawnSync } from "node:child_process";

import type { Hex } from "viem";

import { NonRetryableError } from "../errors.js";

export type KeySource =
  | { kind: "env"; variable: string }
  | { kind: "keystore"; key: string; dev?: boolean };

export type ResolvePrivateKeyParameters = {
  source: KeySource;
  env?: NodeJS.ProcessEnv;
  /** Runs `npx hardhat keystore get`; replaceable in unit tests. */
  readKeystore?: (key: string, dev: boolean) => string;
};

const PRIVATE_KEY = /^0x[0-9a-fA-F]{64}$/;

/**
 * Resolves a signing key from an environment variable or Hardhat's encrypted keystore. Keys are
 * never read from config files: a config names where the key is, not the key.
 */
export function resolvePrivateKey({ source, env = process.env, readKeystore = hardhatKeystoreGet }: ResolvePrivateKeyParameters): Hex {
  const raw =
    source.kind === "env"
      ? env[source.variable]
      : readKeystore(source.key, source.dev ?? false);
  const where = source.kind === "env" ? `environment variable ${source.variable}` : `keystore key ${source.key}`;
  if (raw === undefined || raw.trim() === "") {
    throw new NonRetryableError(`no private key in ${where}`, { code: "KEY_MISSING", details: { where } });
  }
  const key = raw.trim().startsWith("0x") ? raw.trim() : `0x${raw.trim()}`;
  if (!PRIVATE_KEY.test(key)) {
    throw new NonRetryableError(`${where} does not hold a 32-byte hex private key`, { code: "KEY_MALFORMED", details: { where } });
  }
  return key as Hex;
}

/**
 * `npx hardhat keystore get <key>` (add `--dev` for the unencrypted development keystore). The
 * password prompt goes to the terminal; only the value is captured.
 */
export function hardhatKeystoreGet(key: string, dev: boolean): string {
  const args = ["hardhat", "keystore", "get", ...(dev ? ["--dev"] : []), key];
  const result = spawnSync("npx", args, { stdio: ["inherit", "pipe", "inherit"], encoding: "utf8" });
  if (result.status !== 0) {
    throw new NonRetryableError(`hardhat keystore has no readable key ${key}`, {
      code: "KEYSTORE_FAILED",
      details: { key, status: result.status },
    });
  }
  const lines = result.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? "";
}
