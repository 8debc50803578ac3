/**
 * `dinfer demo` and `dinfer devnet`: the local network, with and without the sample workload.
 *
 *   dinfer demo [--jobs N] [--json] [--keep]   the whole network and a sample dApp (npm run demo)
 *   dinfer devnet [--providers N] [--verifiers N]  a chain with the protocol deployed, the models
 *                                                registered and staked dev accounts, until Ctrl-C
 *     [--engine hardhat|anvil]                   the chain's program: Hardhat's node (default) or Anvil
 *     [--explorer-port N]                        the explorer's port (default 8780, a free one when taken)
 *     [--port N] [--blob-port N] [--data-dir D]  fixed ports; D keeps them, the keys' roles, the
 *                                                upload token and the addresses across restarts
 *
 * Both build the contracts first (`hardhat build`: a second when nothing changed), so they run on a
 * fresh clone, and stop everything they started on Ctrl-C (SIGINT) or SIGTERM and exit 0.
 */
import { fstatSync, ftruncateSync, readFileSync, writeSync } from "node:fs";
import path from "node:path";

import { Command, InvalidArgumentError, Option } from "commander";

import { buildContracts } from "../../devnet/build.js";
import { formatSummary, runDemo } from "../../devnet/demo.js";
import { startDevnet } from "../../devnet/devnet.js";
import { startDevnetExplorer } from "../../devnet/explorer.js";
import { DEFAULT_EXPLORER_PORT } from "../../explorer/explorer.js";
import { CHAIN_ENGINES, type ChainEngine } from "../../devnet/chain-spec.js";
import { movedContracts, readSavedDevnet, writeSavedDevnet } from "../../devnet/saved.js";

export function addDevnetCommands(program: Command): void {
  program
    .command("demo")
    .description("run the whole network locally: a chain, 3 providers (one cheats), 4 verifiers, a dApp posting real jobs")
    .option("--jobs <n>", "jobs the sample dApp posts", positiveInt, 20)
    .option("--json", "print the summary as JSON on stdout (progress stays on stderr)")
    .option("--keep", "leave the network running after the summary (Ctrl-C stops it)")
    .option("--data-dir <dir>", "keep the daemons' state and logs in <dir> (default: a temporary directory, removed)")
    .action(async (flags: { jobs: number; json?: boolean; keep?: boolean; dataDir?: string }) => {
      const signal = interruptSignal();
      const print = (text: string) => process.stderr.write(`${text}\n`);
      const live = process.stderr.isTTY === true;
      print("building the contracts...");
      await buildContracts({ signal });
      const summary = await runDemo({ jobs: flags.jobs, keep: flags.keep ?? false, signal, print, live, dataDir: flags.dataDir });
      if (flags.json) writeStdoutAlone(`${JSON.stringify(summary, null, 2)}\n`);
      else print(formatSummary(summary));
    });

  program
    .command("devnet")
    .description("start a local chain with the protocol deployed, the PaddleOCR models registered and staked dev accounts")
    .addOption(
      new Option(
        "--engine <name>",
        "the program that serves the chain: hardhat (Hardhat's node, the default, or the saved one) or anvil (Foundry's Anvil, from its npm package); both mine a block a second with the same dev accounts and chain id",
      ).choices(CHAIN_ENGINES),
    )
    .option("--providers <n>", "staked provider accounts (#1..; default 1, or the saved number)", nonNegativeInt)
    .option("--verifiers <n>", "staked verifier accounts (after the providers; default 4, or the saved number)", nonNegativeInt)
    .option("--port <n>", "JSON-RPC port (default 8545, or the saved one)", nonNegativeInt)
    .option("--blob-port <n>", "the dApp blob server's port (default: a free one, or the saved one)", nonNegativeInt)
    .option("--explorer-port <n>", `the explorer's port (default ${DEFAULT_EXPLORER_PORT}, or a free one when that is taken; 0: a free one)`, nonNegativeInt)
    .option(
      "--data-dir <dir>",
      "keep the devnet's settings in <dir>: a restart with the same dir brings back the same ports, keys, upload token and contract addresses (on a new, empty chain)",
    )
    .action(async (flags: { engine?: ChainEngine; providers?: number; verifiers?: number; port?: number; blobPort?: number; explorerPort?: number; dataDir?: string }) => {
      const signal = interruptSignal();
      const started = Date.now();
      const progress = (stage: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${stage}\n`);
      const dataDir = flags.dataDir === undefined ? undefined : path.resolve(flags.dataDir);
      const saved = dataDir === undefined ? undefined : readSavedDevnet(dataDir);
      const engine = flags.engine ?? saved?.engine ?? "hardhat";
      if (saved) {
        process.stderr.write(
          `restarting the devnet saved in ${dataDir}: ${engineName(engine)} keeps no chain state here, so the chain starts empty and the protocol is ` +
            "deployed again, with the same ports, keys, upload token and contract addresses; jobs, balances and stakes of the last run are gone " +
            "(a daemon's data dir notices the new chain and starts a fresh journal).\n",
        );
      }
      progress("building the contracts");
      await buildContracts({ signal });
      const devnet = await startDevnet({
        engine,
        providers: flags.providers ?? saved?.providers ?? 1,
        verifiers: flags.verifiers ?? saved?.verifiers ?? 4,
        port: flags.port ?? saved?.port ?? 8545,
        blobPort: flags.blobPort ?? saved?.blobPort ?? 0,
        uploadToken: saved?.uploadToken,
        deploymentId: saved?.deploymentId,
        dataDir,
        blobDir: dataDir === undefined ? undefined : path.join(dataDir, "dapp-blobs"),
        onProgress: progress,
      });
      if (dataDir !== undefined) {
        const moved = saved ? movedContracts(saved.deployment, devnet.deployment) : [];
        if (moved.length > 0) process.stderr.write(`note: the contracts came back at other addresses than last time (${moved.join("; ")}): daemons need the new ones\n`);
        writeSavedDevnet(dataDir, {
          port: new URL(devnet.url).port === "" ? 80 : Number(new URL(devnet.url).port),
          blobPort: Number(new URL(devnet.blobServer.url).port),
          uploadToken: devnet.uploadToken,
          deploymentId: devnet.deploymentId,
          engine: devnet.engine,
          providers: devnet.providers.length,
          verifiers: devnet.verifiers.length,
          chainId: devnet.chainId,
          deployment: devnet.deployment,
        });
      }
      progress("starting the explorer");
      const explorer = await startDevnetExplorer(devnet, { port: flags.explorerPort, logFile: path.join(devnet.dataDir, "explorer.log") });
      progress(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const row = (label: string, value: string) => process.stdout.write(`  ${label.padEnd(22)}${value}\n`);
      process.stdout.write("dinfer devnet is up (Ctrl-C stops it). Keys are Hardhat's well-known dev accounts: local use only.\n");
      row("chain engine", engineName(devnet.engine));
      row("JSON-RPC", `${devnet.url} (chain id ${devnet.chainId})`);
      row("deployment id", `${devnet.deploymentId} (export DINFER_DEPLOYMENT_ID=${devnet.deploymentId})`);
      for (const [name, address] of Object.entries(devnet.deployment)) row(name, address);
      row("models", `cls = ${devnet.modelIds.cls}, det = ${devnet.modelIds.det}`);
      for (const p of devnet.providers) row(`provider #${p.index}`, `${p.address} key ${p.key}`);
      for (const v of devnet.verifiers) row(`verifier #${v.index}`, `${v.address} key ${v.key}`);
      row(`dApp #${devnet.dapp.index}`, `${devnet.dapp.address} key ${devnet.dapp.key}`);
      row("dApp blob server", `${devnet.blobServer.url} (upload token ${devnet.uploadToken})`);
      row("explorer", `${explorer.url} (JSON under ${explorer.url}/api/; its log ${path.join(devnet.dataDir, "explorer.log")})`);
      if (dataDir !== undefined) row("saved in", `${dataDir} (restart with the same --data-dir for the same network)`);
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      process.stdout.write("stopping...\n");
      await devnet.stop();
    });
}

/** How the summary and messages name an engine. */
function engineName(engine: ChainEngine): string {
  return engine === "anvil" ? "Anvil" : "Hardhat's node";
}

/**
 * Writes `text` as the whole of stdout. `npm run demo -- --json > summary.json` has npm print its script
 * banner ("> dinfer@0.1.0 demo" ...) into that file before the demo starts, which would make it invalid
 * JSON: when stdout is a regular file that holds nothing but such a banner, `text` replaces it. Anything
 * else already there (or a pipe, a terminal) is left alone and `text` follows it; `npm run -s` prints no
 * banner at all.
 */
export function writeStdoutAlone(text: string, fd = 1): void {
  const bytes = Buffer.from(text, "utf8");
  if (npmBannerOnly(fd)) {
    ftruncateSync(fd, 0);
    writeSync(fd, bytes, 0, bytes.length, 0);
    return;
  }
  writeSync(fd, bytes);
}

/** Whether `fd` is a regular, non-empty file whose every line is blank or an npm script banner line ("> ..."). */
function npmBannerOnly(fd: number): boolean {
  try {
    if (!fstatSync(fd).isFile() || fstatSync(fd).size === 0) return false;
    // Read through the file's path: the descriptor itself is open for writing only.
    const content = readFileSync(`/proc/self/fd/${fd}`, "utf8");
    return content.split("\n").every((line) => line.trim() === "" || line.startsWith("> "));
  } catch {
    return false; // not Linux, or not readable: leave it alone
  }
}

/** Aborted by the first SIGINT or SIGTERM; a second one does not kill the cleanup in progress. */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.on("SIGINT", abort);
  process.on("SIGTERM", abort);
  return controller.signal;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`must be a positive integer, got "${value}"`);
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`must be a non-negative integer, got "${value}"`);
  return n;
}
