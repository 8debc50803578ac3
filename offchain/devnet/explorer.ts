/**
 * The explorer of a local network (`npm run demo`, `dinfer devnet`): started on the devnet's chain and
 * deployment, its SQLite file under the devnet's data dir, its log lines in a file there, stopped with the
 * devnet. It takes the explorer's usual port (8780) when that is free and any free port otherwise (a second
 * devnet, or `dinfer explorer` already running), so a busy port never stops a network from starting.
 */
import { createWriteStream } from "node:fs";
import path from "node:path";

import { DinferError } from "../errors.js";
import { DEFAULT_EXPLORER_PORT, startExplorer, type Explorer } from "../explorer/explorer.js";
import { createLogger } from "../log.js";
import type { Devnet } from "./devnet.js";

export type StartDevnetExplorerParameters = {
  /** The port wanted; when it is taken, any free port. */
  port?: number;
  /** Where its log lines go (JSON, one a line). */
  logFile?: string;
};

export async function startDevnetExplorer(devnet: Devnet, { port = DEFAULT_EXPLORER_PORT, logFile }: StartDevnetExplorerParameters = {}): Promise<Explorer> {
  const destination = logFile === undefined ? undefined : createWriteStream(logFile, { flags: "a" });
  const logger = destination === undefined ? undefined : createLogger({ name: "explorer", format: "json", destination });
  const start = (at: number) =>
    startExplorer({
      rpcUrl: devnet.url,
      deployment: devnet.deployment,
      dataDir: path.join(devnet.dataDir, "explorer"),
      port: at,
      logger,
      confirmations: 0, // a local node does not reorg on its own; the page follows each block
      allowPrivateHosts: true, // the devnet's workers serve their outputs on 127.0.0.1
    });
  let explorer: Explorer;
  try {
    explorer = await start(port);
  } catch (error) {
    if (!(error instanceof DinferError && error.code === "LISTEN_FAILED") || port === 0) throw error;
    explorer = await start(0);
  }
  devnet.onStop(async () => {
    await explorer.stop();
    destination?.end();
  });
  return explorer;
}
