import { createRequire } from "node:module";

import hardhatIgnitionViem from "@nomicfoundation/hardhat-ignition-viem";
import hardhatKeystore from "@nomicfoundation/hardhat-keystore";
import hardhatMocha from "@nomicfoundation/hardhat-mocha";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatViem from "@nomicfoundation/hardhat-viem";
import hardhatViemAssertions from "@nomicfoundation/hardhat-viem-assertions";
import { configVariable, defineConfig } from "hardhat/config";

const require = createRequire(import.meta.url);

// The compiler comes from the npm `solc` package (WebAssembly), pinned to the same version:
// Hardhat would otherwise download a native solc at build time, which offline machines can't.
const SOLC_VERSION = "0.8.30";

/** The offline solc (solc's soljson.js) with the optimizer at `runs`. */
function compiler(runs: number) {
  return {
    version: SOLC_VERSION,
    path: require.resolve("solc/soljson.js"),
    settings: { optimizer: { enabled: true, runs }, evmVersion: "cancun" },
  };
}

export default defineConfig({
  plugins: [
    hardhatViem,
    hardhatViemAssertions,
    hardhatMocha,
    hardhatNetworkHelpers,
    hardhatIgnitionViem,
    hardhatKeystore,
  ],
  solidity: {
    compilers: [compiler(10_000)],
    // JobMarket and Verification with fewer runs, for EIP-170's 24,576 bytes: JobMarket is 23,546 at 800
    // and 24,871 at 1,000 (the optimizer inlines more from 850 runs on). The Solidity tests that deploy them
    // compile them with the same settings: they test the bytecode that ships.
    overrides: Object.fromEntries(
      [
        "contracts/JobMarket.sol",
        "contracts/Verification.sol",
        "test/fuzz/VerificationSettlement.t.sol",
        "test/fuzz/ReplicaMarket.t.sol",
        "test/utils/ProtocolFixture.sol",
        "test/invariant/BatchMarket.t.sol",
        "test/invariant/Reachability.t.sol",
        "test/invariant/handlers/ProtocolHandler.sol",
        "test/invariant/handlers/HandlerBase.sol",
        "test/invariant/handlers/ReplicaActions.sol",
        "test/invariant/Protocol.t.sol",
      ].map((file) => [file, compiler(800)]),
    ),
  },
  paths: {
    tests: { mocha: "test", solidity: "test" },
  },
  test: {
    mocha: { timeout: 120_000 },
    solidity: {
      fuzz: { runs: 256, seed: "0x64696e666572" },
      invariant: { runs: 256, depth: 32, failOnRevert: false },
    },
  },
  networks: {
    // In-process chain for tests and benchmarks.
    default: { type: "edr-simulated", chainType: "l1" },
    // `npx hardhat node --network node`: a local JSON-RPC chain that mines one block a second,
    // whatever is sent, and never a block per transaction (automine off). Block timestamps then
    // follow the wall clock, so every window in seconds lasts what it says: with automine, a burst
    // of transactions mined a block each, a second apart, and ran chain time 3x ahead of real time.
    // Sampling seeds and deadlines advance with nobody sending anything.
    // Anvil (`dinfer devnet --engine anvil`, offchain/devnet/anvil.ts) is started as the same chain: the
    // hardfork and block gas limit are spelled out here and in offchain/devnet/chain-spec.ts, so that an
    // upgrade of either engine cannot make the two differ unseen.
    node: {
      type: "edr-simulated",
      chainType: "l1",
      hardfork: "osaka",
      blockGasLimit: 60_000_000,
      mining: { auto: false, interval: 1000 },
    },
    // Any node on this machine's port 8545: `npm run chain`, `dinfer devnet` on either engine (Hardhat's
    // node or Anvil). No accounts: the node's own unlocked dev accounts sign (offchain/devnet/devnet.ts
    // points it at another port with `network.create({ network: "localhost", override: { url } })`).
    localhost: { type: "http", chainType: "l1", url: "http://127.0.0.1:8545" },
    // Any other EVM chain, by configuration variables (Hardhat's keystore, or the environment):
    // `npx hardhat ignition deploy ignition/modules/Dinfer.ts --network evm --parameters <file>` with
    // DINFER_RPC_URL (the same variable the dinfer commands read) and DINFER_DEPLOYER_KEY.
    evm: {
      type: "http",
      chainType: "l1",
      url: configVariable("DINFER_RPC_URL"),
      accounts: [configVariable("DINFER_DEPLOYER_KEY")],
    },
    sepolia: {
      type: "http",
      chainType: "l1",
      url: configVariable("SEPOLIA_RPC_URL"),
      accounts: [configVariable("SEPOLIA_PRIVATE_KEY")],
    },
  },
});
