/**
 * `dinfer verifier`, `dinfer audit` and `dinfer challenge`: the verifier's commands.
 *
 *   dinfer verifier [--model id=path...] [--stake <tokens>] [--watchdog <share>] ...
 *       the auditor daemon: audits, committee votes, keeper duties, optional watchdog challenges
 *   dinfer audit <jobId> [--model id=path...] [--json]
 *       re-executes one job here and reports the comparison, the verdict, the job's audit and dispute, and
 *       a challenge's cost and pay
 *   dinfer challenge <jobId> [--yes]
 *       challenges a revealed result: says the bond, the window's time left and what is won or lost, asks,
 *       then approves the bond and sends `Verification.challenge`
 *
 * Options layer like the worker's: flags > DINFER_* environment > JSON config file > defaults.
 */
import { Command, Option } from "commander";

import { formatTokens, parseTokens } from "../../chain/format.js";
import { readJob } from "../../chain/jobs.js";
import { TxSender } from "../../chain/sender.js";
import { CHAIN_OPTION_NAMES } from "../../config/chain-options.js";
import { envOptions, loadOptions } from "../../config/options.js";
import { connectChain } from "../../daemon/chain.js";
import { ChainOptionsSchema } from "../../daemon/options.js";
import { daemonShutdownSignal } from "../../daemon/shutdown.js";
import { NonRetryableError } from "../../errors.js";
import { createLogger } from "../../log.js";
import { challenge } from "../../protocol/challenge.js";
import { confirmOrRefuse } from "../../ui/confirm.js";
import { auditJob, formatAuditReport } from "../../verifier/audit.js";
import { AuditOptionsSchema, VerifierOptionsSchema, type VerifierOptions } from "../../verifier/options.js";
import { runVerifier } from "../../verifier/start.js";
import { ALLOW_PRIVATE_HOSTS_FLAG, chainFlags, daemonFlagOptions, GPU_DEVICES_FLAG, IPFS_FLAGS, modelSpecs, type DaemonFlags } from "../flags.js";

const VERIFIER_ENV_NAMES = [
  ...CHAIN_OPTION_NAMES,
  "ep",
  "dataDir",
  "port",
  "publicUrl",
  "metricsPort",
  "confirmations",
  "pollIntervalMs",
  "statusIntervalMs",
  "allowFileUris",
  "allowPrivateHosts",
  "outputReserveSeconds",
  "keeper",
  "keeperGraceSeconds",
  "gpuDevices",
] as const;

export function addVerifierCommands(program: Command): void {
  program
    .command("verifier")
    .description("run a verifier: audit the jobs you are drawn for, vote in dispute committees, keep disputes moving")
    .option("--model <id=path...>", "re-execute model <id> with the .onnx file at <path> (repeatable)")
    .addOption(new Option("--ep <provider>", "execution provider (default cpu)").choices(["cpu", "webgpu", "cuda", "auto"]))
    .option("--data-dir <dir>", "journal and blob store (default .dinfer/verifier)")
    .option("--port <n>", "blob server port for our own outputs (default 8610)")
    .option("--public-url <url>", "URL the blob server is reached at by others")
    .option("--metrics-port <n>", "Prometheus /metrics port (-1: off)")
    .option("--stake <tokens>", "stake this much as a verifier on start if the account is not in the verifier set")
    .option("--watchdog <share>", "re-run this share (0..1) of unsampled results and challenge wrong ones (posting the bond; the finder's share goes to the dApp)")
    .option("--no-keeper", "leave drawing committees, resolving disputes, expiring withheld reveals and syncing slashed verifiers to others")
    .option("--allow-file-uris", "accept file:// inputs and outputs (same-machine tests only)")
    .option("--allow-private-hosts", ALLOW_PRIVATE_HOSTS_FLAG)
    .option("--ipfs", IPFS_FLAGS.ipfs)
    .option("--ipfs-listen <multiaddr...>", IPFS_FLAGS.listen)
    .option("--ipfs-peer <multiaddr...>", IPFS_FLAGS.peer)
    .option("--gpu-devices <list>", GPU_DEVICES_FLAG)
    .action(async (flags: VerifierFlags, cmd: Command) => {
      const options = loadVerifierOptions(flags, cmd);
      const log = createLogger({ name: "verifier" });
      await runVerifier({ options, log, signal: daemonShutdownSignal(log) });
    });

  program
    .command("audit <jobId>")
    .description("re-execute a revealed job here: per-tensor errors, the verdict, its audit and dispute, and what a challenge would cost and pay")
    .option("--model <id=path...>", "the .onnx file of model <id> (repeatable, as the daemons take it; a bare <path> is the job's model), checked against the registry hash")
    .addOption(new Option("--ep <provider>", "execution provider (default cpu)").choices(["cpu", "webgpu", "cuda", "auto"]))
    .option("--allow-file-uris", "accept file:// inputs and outputs")
    .option("--allow-private-hosts", ALLOW_PRIVATE_HOSTS_FLAG)
    .option("--json", "print the report as JSON")
    .action(async (jobIdText: string, flags, cmd: Command) => {
      const jobId = parseJobId(jobIdText);
      const { file, flags: chain } = chainFlags(cmd);
      const { specs, bare } = auditModelSpecs(flags.model);
      const options = loadOptions({
        schema: AuditOptionsSchema,
        file,
        env: envOptions([...CHAIN_OPTION_NAMES, "ep", "allowFileUris", "allowPrivateHosts"]),
        flags: { ...chain, ep: flags.ep, allowFileUris: flags.allowFileUris, allowPrivateHosts: flags.allowPrivateHosts, ...(specs.length > 0 ? { models: specs } : {}) },
      });
      const { publicClient, deployment } = await connectChain({ options, keyed: false });
      if (bare !== undefined) {
        // A bare path names the file for whatever model the job runs.
        const { job } = await readJob({ client: publicClient, market: deployment.market, jobId });
        options.models = [{ modelId: job.modelId, path: bare }, ...options.models];
      }
      const report = await auditJob({ options, jobId, publicClient, deployment });
      console.log(flags.json ? JSON.stringify(report, null, 2) : formatAuditReport(report));
    });

  program
    .command("challenge <jobId>")
    .description("challenge a revealed result inside its window: posts the bond (shown first, with what is won or lost) and opens a dispute a committee judges")
    .option("-y, --yes", "go ahead without asking (needed when stdin is not a terminal)")
    .action(async (jobIdText: string, flags, cmd: Command) => {
      const jobId = parseJobId(jobIdText);
      const { file, flags: chain } = chainFlags(cmd);
      const options = loadOptions({ schema: ChainOptionsSchema, file, env: envOptions(CHAIN_OPTION_NAMES), flags: chain });
      const { publicClient, walletClient, deployment } = await connectChain({ options, keyed: true });
      const sender = new TxSender({ publicClient, walletClient: walletClient! });
      const result = await challenge({
        publicClient,
        sender,
        deployment,
        jobId,
        say: (line) => console.log(line),
        confirm: (question) => confirmOrRefuse({ question, yes: flags.yes === true }),
      });
      console.log(
        [
          `challenged job ${jobId}: dispute ${jobId} opened with a bond of ${formatTokens(result.bond)} (tx ${result.hash})`,
          `next: a committee of verifiers is drawn once block ${result.seedBlock} is mined, then votes; running verifiers draw and resolve it (anyone may)`,
          `follow it with \`dinfer audit ${jobId} --model ${result.modelId}=<path>\`; once resolved, \`dinfer provider withdraw\` takes back what comes to you`,
        ].join("\n"),
      );
    });
}

/** `dinfer verifier`'s flags, as commander parses them. */
export type VerifierFlags = DaemonFlags & { stake?: string; watchdog?: string; keeper?: boolean };

/** The verifier's options from its flags, the DINFER_* environment and the config file (`--config`), validated. */
export function loadVerifierOptions(flags: VerifierFlags, cmd: Command, env: NodeJS.ProcessEnv = process.env): VerifierOptions {
  const { file, flags: chain } = chainFlags(cmd);
  return loadOptions({
    schema: VerifierOptionsSchema,
    file,
    env: envOptions(VERIFIER_ENV_NAMES, env),
    flags: {
      ...chain,
      ...daemonFlagOptions(flags),
      stake: flags.stake === undefined ? undefined : parseTokens(flags.stake, "--stake"),
      watchdog: flags.watchdog === undefined ? undefined : { share: flags.watchdog },
      keeper: flags.keeper === false ? false : undefined,
    },
  });
}

function parseJobId(text: string): bigint {
  if (!/^\d+$/.test(text)) throw new NonRetryableError(`jobId must be a decimal job number, got "${text}"`, { code: "BAD_ID" });
  return BigInt(text);
}

/** `--model` for audit: `<id>=<path>` specs as the daemons take them, or one bare path for the job's own model. */
export function auditModelSpecs(values: string[] | undefined): { specs: { modelId: string; path: string }[]; bare?: string } {
  const specs: { modelId: string; path: string }[] = [];
  let bare: string | undefined;
  for (const value of values ?? []) {
    const [spec] = modelSpecs([value])!;
    if (value.includes("=") && /^\d+$/.test(spec!.modelId ?? "")) specs.push({ modelId: spec!.modelId!, path: spec!.path });
    else if (bare === undefined) bare = value;
    else throw new NonRetryableError(`--model ${value}: give each model as <id>=<path> (only one bare <path> is taken, for the job's own model)`, { code: "BAD_FLAG" });
  }
  return { specs, bare };
}
