/**
 * The config `hardhat node` runs under when a devnet starts it (offchain/devnet/node.ts): hardhat.config.ts, its
 * `node` network included, with an artifacts directory that holds no build info.
 *
 * Hardhat's node reads every build info under its artifacts directory before it answers its first request, to
 * decode Solidity stack traces in its own log: the protocol's and the Solidity tests' solc inputs and outputs,
 * hundreds of MB. That cost 15-20 s and 800 MB of memory for each node on a 2-core machine, against 6 s and
 * 190 MB without. Nothing reads those traces: the devnet's clients decode reverts from the contracts' ABIs
 * (offchain/chain/errors.ts), as they must on Anvil and on real chains.
 */
import { defineConfig } from "hardhat/config";

import config from "./hardhat.config.js";

export default defineConfig({ ...config, paths: { ...config.paths, artifacts: "cache/chain-node-artifacts" } });
