/**
 * Anvil (Foundry's local node), the devnet's second chain engine beside `hardhat node`. Its binary
 * comes from npm: `@foundry-rs/anvil` is a wrapper whose optional dependency for this platform
 * (`@foundry-rs/anvil-linux-amd64`...) holds the executable. It is resolved through the wrapper
 * package, as the wrapper's own `bin.mjs` does, and started directly (no wrapper process in between:
 * `stop()` signals the binary's own process group).
 *
 * The chain it is started as is the one `hardhat node --network node` serves (hardhat.config.ts), so
 * that everything built for one runs on the other: the same dev mnemonic and 20 funded accounts, chain
 * id 31337, a 60M block gas limit, the same hardfork, and one block a second whatever is sent
 * (interval mining, never a block per transaction: chain time keeps with wall time). EIP-170's code
 * size limit stays on: JobMarket and Verification are compiled to fit under it.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { NonRetryableError } from "../errors.js";
import { DEV_ACCOUNT_COUNT, DEV_ACCOUNT_ETH, DEV_MNEMONIC, DEVNET_BLOCK_GAS_LIMIT, DEVNET_CHAIN_ID, DEVNET_HARDFORK } from "./chain-spec.js";

const require = createRequire(import.meta.url);
const WRAPPER = "@foundry-rs/anvil";

/** The platform package `@foundry-rs/anvil` 1.x ships its binary in, by Node's platform and arch. */
const PLATFORM_PACKAGES: Record<string, string> = {
  "linux-x64": "@foundry-rs/anvil-linux-amd64",
  "linux-arm64": "@foundry-rs/anvil-linux-arm64",
  "darwin-x64": "@foundry-rs/anvil-darwin-amd64",
  "darwin-arm64": "@foundry-rs/anvil-darwin-arm64",
  "win32-x64": "@foundry-rs/anvil-win32-amd64",
};

export type AnvilBinaryParameters = { platform?: NodeJS.Platform; arch?: string };

/**
 * The path of the Anvil executable for this platform, from the npm packages. Throws a
 * `NonRetryableError` (code ANVIL_MISSING) that names the package to install when it is not there.
 */
export function anvilBinary({ platform = process.platform, arch = process.arch }: AnvilBinaryParameters = {}): string {
  const platformPackage = PLATFORM_PACKAGES[`${platform}-${arch}`];
  if (platformPackage === undefined) {
    throw new NonRetryableError(`Anvil's npm package has no binary for ${platform}-${arch}: use --engine hardhat on this machine`, {
      code: "ANVIL_MISSING",
      details: { platform, arch, supported: Object.keys(PLATFORM_PACKAGES) },
    });
  }
  let wrapper: string;
  try {
    wrapper = require.resolve(`${WRAPPER}/package.json`);
  } catch (cause) {
    throw new NonRetryableError(`${WRAPPER} is not installed: run \`npm install\` in the repository (it is a dependency), or use --engine hardhat`, {
      code: "ANVIL_MISSING",
      details: { package: WRAPPER },
      cause,
    });
  }
  const binaryName = platform === "win32" ? "anvil.exe" : "anvil";
  let binary: string | undefined;
  try {
    // The platform package is the wrapper's (optional) dependency: resolve it from there.
    binary = createRequire(wrapper).resolve(`${platformPackage}/bin/${binaryName}`);
  } catch {
    binary = undefined;
  }
  if (binary === undefined || !existsSync(binary)) {
    throw new NonRetryableError(
      `Anvil's binary for ${platform}-${arch} is missing: its package ${platformPackage} (an optional dependency of ${WRAPPER}) was not installed; ` +
        `run \`npm install ${platformPackage}@${wrapperVersion(wrapper)}\`, or use --engine hardhat`,
      { code: "ANVIL_MISSING", details: { package: platformPackage, wrapper: path.dirname(wrapper) } },
    );
  }
  return binary;
}

function wrapperVersion(packageJson: string): string {
  try {
    return String((require(packageJson) as { version?: unknown }).version ?? "latest");
  } catch {
    return "latest";
  }
}

/** How many older blocks' states Anvil keeps on disk, beyond those it keeps in memory. */
export const ANVIL_PERSISTED_STATES = 1_000;

export type AnvilArgsParameters = {
  port: number;
  /** Where Anvil writes the states of older blocks (a directory its owner removes: Anvil never does). */
  cachePath: string;
};

/** Anvil's command line for the devnet chain on 127.0.0.1:`port`. Pure. */
export function anvilArgs({ port, cachePath }: AnvilArgsParameters): string[] {
  return [
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--mnemonic",
    DEV_MNEMONIC,
    // Anvil funds 10 accounts by default, Hardhat 20: the demo and the tests use more than 10.
    "--accounts",
    String(DEV_ACCOUNT_COUNT),
    "--balance",
    String(DEV_ACCOUNT_ETH),
    "--chain-id",
    String(DEVNET_CHAIN_ID),
    // Interval mining: a block a second, empty or not, stamped with the wall clock; transactions wait
    // in the pool for the next one (as Hardhat's `node` network with automine off).
    "--block-time",
    "1",
    // Anvil's default block gas limit is 30M, Hardhat's 60M: a gas estimate is capped by it.
    "--gas-limit",
    String(DEVNET_BLOCK_GAS_LIMIT),
    "--hardfork",
    DEVNET_HARDFORK,
    // Osaka's per-transaction gas cap (EIP-7825, 2^24), which Hardhat's node enforces from Osaka on;
    // Anvil checks it only when asked.
    "--enable-tx-gas-limit",
    // Hardhat's node keeps every block's state in memory. Anvil keeps the last few hundred there (it
    // adapts), writes older ones to disk and forgets the oldest: a read at a block older than that fails
    // with "BlockOutOfRangeError" (-32602), as on a full, non-archive node. Its defaults keep 3,600 on disk,
    // up to ~1 MB each once EIP-2935's block hash history fills (3.5 GB after an hour at a block a second),
    // in ~/.foundry/anvil/tmp, never removed. Here: at most 1,000 on disk (measured: reads reach about
    // 1,000 blocks back, 17 minutes at a block a second; about 1 GB at most), in a directory of the
    // devnet's that is removed when the node stops.
    "--max-persisted-states",
    String(ANVIL_PERSISTED_STATES),
    "--cache-path",
    cachePath,
    "--color",
    "never",
  ];
}
