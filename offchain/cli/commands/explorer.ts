/**
 * `dinfer explorer`: indexes the protocol's events into a local SQLite file and serves the explorer's page
 * and JSON API (offchain/explorer/explorer.ts) until Ctrl-C. The chain and deployment come as for every
 * command (--rpc-url, --deployments-dir, --deployment-id or DINFER_* variables, or --config).
 *
 * The audit comparison fetches outputs from the locations providers and auditors reveal; on a chain other
 * than a devnet's it refuses hosts on loopback, private and link-local addresses (offchain/explorer/
 * locations.ts) unless --allow-private-hosts is given.
 */
import type { Command } from "commander";

import { CHAIN_OPTION_NAMES } from "../../config/chain-options.js";
import { envOptions, loadOptions } from "../../config/options.js";
import { connectChain } from "../../daemon/chain.js";
import { ChainOptionsSchema } from "../../daemon/options.js";
import { daemonShutdownSignal } from "../../daemon/shutdown.js";
import { DEVNET_CHAIN_ID } from "../../devnet/chain-spec.js";
import { DinferError } from "../../errors.js";
import { DEFAULT_EXPLORER_PORT, startExplorer } from "../../explorer/explorer.js";
import { createLogger } from "../../log.js";
import { fromBlockFlag } from "../context.js";
import { chainFlags } from "../flags.js";

export function addExplorerCommand(program: Command): void {
  program
    .command("explorer")
    .description("index the chain's protocol events and serve the explorer: a web page and a JSON API (jobs, providers, models, disputes)")
    .option("--port <n>", "port (0: a free one)", String(DEFAULT_EXPLORER_PORT))
    .option("--host <host>", "bind address", "127.0.0.1")
    .option("--data-dir <dir>", "where the explorer's SQLite file lives (one per chain and deployment)", ".dinfer/explorer")
    .option("--deployment-id <id>", "Ignition deployment id (default chain-<chainId>; or DINFER_DEPLOYMENT_ID)")
    .option("--from-block <n>", "first block to index on a fresh data dir (default 0)")
    .option("--confirmations <n>", "blocks on top of a block before it is indexed", "1")
    .option(
      "--allow-private-hosts",
      `let the audit comparison fetch outputs from loopback, private and link-local addresses (127.0.0.1, 10.x, 192.168.x, ::1...); on by default on a devnet (chain id ${DEVNET_CHAIN_ID}), off otherwise: the locations are whatever providers reveal, and a public explorer must not request its own network`,
    )
    .action(async (flags, cmd: Command) => {
      const log = createLogger({ name: "explorer" });
      const { file, flags: chain } = chainFlags(cmd);
      const options = loadOptions({ schema: ChainOptionsSchema, file, env: envOptions(CHAIN_OPTION_NAMES), flags: { ...chain, deploymentId: flags.deploymentId } });
      const { deployment, chainId } = await connectChain({ options, keyed: false });
      const port = Number(flags.port);
      const confirmations = Number(flags.confirmations);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new DinferError(`--port must be a port number (0 to 65535), got "${flags.port}"`, { code: "BAD_PORT" });
      if (!Number.isInteger(confirmations) || confirmations < 0) throw new DinferError(`--confirmations must be a whole number of blocks, got "${flags.confirmations}"`, { code: "BAD_CONFIRMATIONS" });
      const signal = daemonShutdownSignal(log);
      const explorer = await startExplorer({
        rpcUrl: options.rpcUrl,
        deployment,
        dataDir: flags.dataDir,
        port,
        host: flags.host,
        confirmations,
        startBlock: fromBlockFlag(flags.fromBlock),
        logger: log,
        allowPrivateHosts: flags.allowPrivateHosts === true || chainId === DEVNET_CHAIN_ID,
      });
      console.log(`explorer at ${explorer.url} (JSON API under ${explorer.url}/api/, data in ${flags.dataDir})`);
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      await explorer.stop();
    });
}
