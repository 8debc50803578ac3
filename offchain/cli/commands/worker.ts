/**
 * `dinfer worker`: run a provider worker (GPU or CPU).
 *
 * Options layer as every daemon's: flags > DINFER_* environment > JSON config file > defaults.
 */
import { Command, Option } from "commander";

import { CHAIN_OPTION_NAMES } from "../../config/chain-options.js";
import { envOptions, loadOptions } from "../../config/options.js";
import { createLogger } from "../../log.js";
import { parseTokens } from "../../chain/format.js";
import { WorkerOptionsSchema, type WorkerOptions } from "../../provider/options.js";
import { runWorker } from "../../provider/start.js";
import { ALLOW_PRIVATE_HOSTS_FLAG, chainFlags, daemonFlagOptions, GPU_DEVICES_FLAG, IPFS_FLAGS, type DaemonFlags } from "../flags.js";
import { daemonShutdownSignal } from "../../daemon/shutdown.js";

export function addWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("run a provider worker: claim jobs for the configured models, run them, commit, reveal, finalize")
    .option("--model <id=path...>", "serve model <id> from the .onnx file at <path> (repeatable)")
    .addOption(new Option("--ep <provider>", "execution provider").choices(["cpu", "webgpu", "cuda", "auto"]))
    .option("--data-dir <dir>", "journal and blob store (default .dinfer/worker)")
    .option("--port <n>", "blob server port (default 8600)")
    .option("--public-url <url>", "URL the blob server is reached at by others")
    .option("--metrics-port <n>", "Prometheus /metrics port (-1: off)")
    .option("--min-fee <tokens>", "lowest fee taken, for every --model")
    .option("--allow-file-uris", "accept file:// inputs (same-machine dApps only)")
    .option("--allow-private-hosts", ALLOW_PRIVATE_HOSTS_FLAG)
    .option("--ipfs", IPFS_FLAGS.ipfs)
    .option("--ipfs-listen <multiaddr...>", IPFS_FLAGS.listen)
    .option("--ipfs-peer <multiaddr...>", IPFS_FLAGS.peer)
    .option("--gpu-devices <list>", GPU_DEVICES_FLAG)
    .action(async (flags: WorkerFlags, cmd: Command) => {
      const options = loadWorkerOptions(flags, cmd);
      const log = createLogger({ name: "worker" });
      await runWorker({ options, log, signal: daemonShutdownSignal(log) });
    });
}

/** `dinfer worker`'s flags, as commander parses them. */
export type WorkerFlags = DaemonFlags & { minFee?: string };

/** The worker's options from its flags, the DINFER_* environment and the config file (`--config`), validated. */
export function loadWorkerOptions(flags: WorkerFlags, cmd: Command, env: NodeJS.ProcessEnv = process.env): WorkerOptions {
  const { file, flags: chain } = chainFlags(cmd);
  const minFee = flags.minFee ? parseTokens(flags.minFee, "--min-fee") : undefined;
  const shared = daemonFlagOptions(flags);
  const models = shared.models?.map((model) => (minFee !== undefined ? { ...model, minFee } : model));
  return loadOptions({
    schema: WorkerOptionsSchema,
    file,
    env: envOptions([...CHAIN_OPTION_NAMES, "ep", "dataDir", "port", "publicUrl", "metricsPort", "confirmations", "pollIntervalMs", "statusIntervalMs", "allowFileUris", "allowPrivateHosts", "gpuDevices"], env),
    flags: { ...chain, ...shared, models },
  });
}
