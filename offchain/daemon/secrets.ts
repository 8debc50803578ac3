/**
 * What a daemon keeps secret, loaded at its start: the signing key (an environment variable or
 * Hardhat's encrypted keystore, never a config file) and the secret its commitment salts derive from.
 */
import { spawnSync } from "node:child_process";

import type { Hex } from "viem";

import { ConfigError } from "../config/options.js";
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

export type ReadDaemonSecretParameters = {
  env: NodeJS.ProcessEnv;
  /** The environment variable holding it (the daemon's `secretEnv` option). */
  variable: string;
  /** Whose secret, for the message: "worker", "verifier". */
  owner: string;
  /** What derives from it, for the message: "commitment salts". */
  derives: string;
};

/**
 * The secret a daemon's salts derive from (at least 16 characters): a 0x-hex value as given, any other
 * text as its UTF-8 bytes. A restarted daemon derives the same salts, so it can always reveal what it committed.
 */
export function readDaemonSecret({ env, variable, owner, derives }: ReadDaemonSecretParameters): Hex {
  const raw = env[variable];
  if (!raw || raw.length < 16) {
    throw new ConfigError(`${variable} must hold the ${owner} secret (at least 16 characters); ${derives} derive from it`, {
      code: "SECRET_MISSING",
      details: { variable },
    });
  }
  return (raw.startsWith("0x") ? raw : `0x${Buffer.from(raw, "utf8").toString("hex")}`) as Hex;
}
