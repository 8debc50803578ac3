/**
 * `dinfer verifier` and `dinfer audit`, added to the CLI by offchain/cli/main.ts.
 *
 *   dinfer verifier [--model id=path...] [--stake <tokens>] [--watchdog <share>] ...
 *       the auditor daemon: audits, committee votes, keeper duties, optional watchdog challenges
 *   dinfer audit <jobId> [--model path] [--json]
 *       re-executes one job here and reports the comparison, the verdict, the job's audit and dispute, and
 *       a challenge's cost and pay
 *
 * Options layer like the worker's: flags > DINFER_* environment > JSON config file > defaults.
 */
import { Command, Option } from "commander";

import { readJob } from "../chain/jobs.js";
import { CHAIN_OPTION_NAMES, chainFlags, modelSpecs } from "../cli/flags.js";
import { daemonShutdownSignal } from "../cli/shutdown.js";
import { envOptions, loadOptions } from "../config/options.js";
import { NonRetryableError } from "../errors.js";
import { createLogger } from "../log.js";
import { parseTokens } from "../provider/account.js";
import { connectChain } from "../provider/start.js";
import { auditJob, formatAuditReport } from "./audit.js";
import { AuditOptionsSchema, VerifierOptionsSchema } from "./options.js";
import { runVerifier } from "./start.js";

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
  "outputReserveSeconds",
  "keeper",
  "keeperGraceSeconds",
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
    .action(async (flags, cmd: Command) => {
      const { file, flags: chain } = chainFlags(cmd);
      const models = modelSpecs(flags.model);
      const options = loadOptions({
        schema: VerifierOptionsSchema,
        file,
        env: envOptions(VERIFIER_ENV_NAMES),
        flags: {
          ...chain,
          models,
          ep: flags.ep,
          dataDir: flags.dataDir,
          port: flags.port,
          publicUrl: flags.publicUrl,
          metricsPort: flags.metricsPort,
          stake: flags.stake === undefined ? undefined : parseTokens(flags.stake, "--stake"),
          watchdog: flags.watchdog === undefined ? undefined : { share: flags.watchdog },
          keeper: flags.keeper === false ? false : undefined,
          allowFileUris: flags.allowFileUris,
        },
      });
      const log = createLogger({ name: "verifier" });
      await runVerifier({ options, log, signal: daemonShutdownSignal(log) });
    });

  program
    .command("audit <jobId>")
    .description("re-execute a revealed job here: per-tensor errors, the verdict, its audit and dispute, and what a challenge would cost and pay")
    .option("--model <path>", "the .onnx file of the job's model (checked against the registry hash)")
    .addOption(new Option("--ep <provider>", "execution provider (default cpu)").choices(["cpu", "webgpu", "cuda", "auto"]))
    .option("--allow-file-uris", "accept file:// inputs and outputs")
    .option("--json", "print the report as JSON")
    .action(async (jobIdText: string, flags, cmd: Command) => {
      if (!/^\d+$/.test(jobIdText)) throw new NonRetryableError(`jobId must be a decimal job number, got "${jobIdText}"`, { code: "BAD_JOB_ID" });
      const jobId = BigInt(jobIdText);
      const { file, flags: chain } = chainFlags(cmd);
      const options = loadOptions({
        schema: AuditOptionsSchema,
        file,
        env: envOptions([...CHAIN_OPTION_NAMES, "ep", "allowFileUris"]),
        flags: { ...chain, ep: flags.ep, allowFileUris: flags.allowFileUris },
      });
      const { publicClient, deployment } = await connectChain({ options, keyed: false });
      if (flags.model) {
        // --model names the file for whatever model the job runs.
        const { job } = await readJob({ client: publicClient, market: deployment.market, jobId });
        options.models = [{ modelId: job.modelId, path: flags.model }, ...options.models];
      }
      const report = await auditJob({ options, jobId, publicClient, deployment });
      console.log(flags.json ? JSON.stringify(report, null, 2) : formatAuditReport(report));
    });
}
