/**
 * `dinfer`: the command line for every role.
 *
 *   dinfer worker               run a provider worker (GPU or CPU)
 *   dinfer verifier             run a verifier: audits, committee votes, keeper duties, watchdog
 *   dinfer audit <jobId>        re-execute one job and report the comparison and a challenge's odds
 *   dinfer challenge <jobId>    challenge a revealed result: the bond, the time left, what is won or lost; asks
 *   dinfer provider stake|unbond|withdraw|status
 *   dinfer model check|register|update|show|activate|deactivate   model owners
 *   dinfer job post|get         post a job, wait for and verify its result
 *   dinfer job finalize|expire  keepers: move a job whose window or deadline passed
 *   dinfer terms [version]      the protocol terms a job is judged by (default: the current version)
 *   dinfer blobs serve          a blob server for inputs and outputs
 *   dinfer token mint           the local test token's faucet
 *   dinfer devnet | demo        a local network; the whole network with a sample workload
 *
 * Options come from flags, then DINFER_* environment variables, then a JSON config file
 * (--config or DINFER_CONFIG), then defaults. Keys come from an environment variable
 * (DINFER_PRIVATE_KEY by default, --key-env to rename) or Hardhat's keystore (--keystore-key).
 */
import { readFileSync, writeFileSync } from "node:fs";

import { Command, Option } from "commander";
import type { Hex } from "viem";

import { abiOf } from "../chain/artifacts.js";
import { readJob } from "../chain/jobs.js";
import { TxSender } from "../chain/sender.js";
import { TermsReader } from "../chain/terms.js";
import { decodeTensorBlob, encodeTensorBlob } from "../codec/tensor.js";
import { envOptions, loadOptions } from "../config/options.js";
import { DinferError } from "../errors.js";
import { registeredModelId } from "../chain/models.js";
import { checkModelAdmission, formatFindings, ModelNotAdmittedError, parseToleranceFlag, parseTolerancePolicy } from "../inference/admission.js";
import { createLogger } from "../log.js";
import { formatAccountStatus, formatTokens, parseRoles, parseTokens, readAccountStatus } from "../provider/account.js";
import { stake, unbond, withdrawAll } from "../protocol/actions.js";
import { ChainOptionsSchema, WorkerOptionsSchema } from "../provider/options.js";
import { addDevnetCommands } from "./devnet.js";
import { addHistoryCommand, addJobViewCommands, checkPostInput } from "./jobs.js";
import { addTensorCommands } from "./tensor.js";
import { CHAIN_OPTION_NAMES, chainFlags, modelSpecs } from "./flags.js";
import { confirmOrRefuse, formatCliError, installUsageHints, packageVersion, verboseRequested } from "./messages.js";
import { checkModelForJob } from "./preflight.js";
import { daemonShutdownSignal } from "./shutdown.js";
import { connectChain, runWorker } from "../provider/start.js";
import { imageToClsInput, imageToDetInput } from "../sdk/image.js";
import { postJob, waitForResult } from "../sdk/jobs.js";
import { reportProgress } from "../sdk/progress.js";
import { LocalBlobStore } from "../storage/local.js";
import { startBlobServer } from "../storage/server.js";
import { addVerifierCommands } from "../verifier/commands.js";


export function buildProgram(): Command {
  const program = new Command("dinfer")
    .description("dinfer: a decentralized GPU network for AI inference")
    .option("-c, --config <file>", "JSON config file (or DINFER_CONFIG)")
    .option("--rpc-url <url>", "JSON-RPC endpoint (default http://127.0.0.1:8545)")
    .option("--deployments-dir <dir>", "Ignition deployments folder with the contract addresses")
    .option("--key-env <name>", "environment variable holding the private key (default DINFER_PRIVATE_KEY)")
    .option("--keystore-key <name>", "take the key from Hardhat's keystore instead")
    .option("--keystore-dev", "use Hardhat's development keystore")
    .option("--verbose", "on an error, print its details and stack too (or DINFER_DEBUG=1)")
    .version(packageVersion(), "-V, --version", "print the version");

  const chainOptions = (cmd: Command) => {
    const { file, flags } = chainFlags(cmd);
    return loadOptions({ schema: ChainOptionsSchema, file, env: envOptions(CHAIN_OPTION_NAMES), flags });
  };
  const connect = async (cmd: Command) => {
    const chain = await connectChain({ options: chainOptions(cmd), keyed: true });
    const sender = new TxSender({ publicClient: chain.publicClient, walletClient: chain.walletClient! });
    return { ...chain, sender };
  };

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
    .action(async (flags, cmd: Command) => {
      const { file, flags: chain } = chainFlags(cmd);
      const minFee = flags.minFee ? parseTokens(flags.minFee, "--min-fee") : undefined;
      const models = modelSpecs(flags.model)?.map((model) => (minFee !== undefined ? { ...model, minFee } : model));
      const options = loadOptions({
        schema: WorkerOptionsSchema,
        file,
        env: envOptions([...CHAIN_OPTION_NAMES, "ep", "dataDir", "port", "publicUrl", "metricsPort", "confirmations", "pollIntervalMs", "statusIntervalMs", "allowFileUris"]),
        flags: {
          ...chain,
          models,
          ep: flags.ep,
          dataDir: flags.dataDir,
          port: flags.port,
          publicUrl: flags.publicUrl,
          metricsPort: flags.metricsPort,
          allowFileUris: flags.allowFileUris,
        },
      });
      const log = createLogger({ name: "worker" });
      await runWorker({ options, log, signal: daemonShutdownSignal(log) });
    });

  const provider = program.command("provider").description("stake, unbond, withdraw and inspect a provider or verifier account");
  provider
    .command("stake <amount>")
    .description("stake <amount> tokens (approves the staking contract first)")
    .option("--roles <roles>", "provider, verifier or both (comma separated)", "provider")
    .action(async (amount: string, flags, cmd: Command) => {
      const value = parseTokens(amount);
      const roles = parseRoles(flags.roles);
      const { hash } = await stake({ ...(await connect(cmd)), say: print, amount: value, roles });
      console.log(`staked ${formatTokens(value)} as ${flags.roles} (tx ${hash})`);
    });
  provider
    .command("unbond <amount>")
    .description("start unbonding <amount> of unlocked stake (a second request restarts the clock for all unbonding stake: asks first)")
    .option("-y, --yes", "go ahead without asking when stake is already unbonding")
    .action(async (amount: string, flags, cmd: Command) => {
      const value = parseTokens(amount);
      const confirm = (question: string) => confirmOrRefuse({ question, yes: flags.yes === true });
      const { hash } = await unbond({ ...(await connect(cmd)), say: print, amount: value, confirm });
      console.log(`unbonding ${formatTokens(value)} (tx ${hash})`);
    });
  provider
    .command("withdraw")
    .description("withdraw finished unbonding stake, market credits (earnings, refunds) and verification credits (bonds back, audit and vote pay)")
    .action(async (_flags, cmd: Command) => {
      await withdrawAll({ ...(await connect(cmd)), say: print });
    });
  provider
    .command("status")
    .description("show stake, locks, unbonding and credits")
    .option("--address <address>", "another account (no key needed)")
    .action(async (flags, cmd: Command) => {
      const chain = await connectChain({ options: chainOptions(cmd), keyed: !flags.address });
      const address = (flags.address ?? chain.account!.address) as Hex;
      const status = await readAccountStatus({ publicClient: chain.publicClient, deployment: chain.deployment, address });
      console.log(formatAccountStatus(status, (await chain.publicClient.getBlock()).timestamp));
    });

  const model = program
    .command("model")
    .description("model owners: check, register and update models")
    .addHelpText(
      "after",
      `
What is frozen, and what is not:
  per model   the file (modelHash), tolerance, runtime and the non-finite inputs opt-in: a model's results
              are judged by them, so they never change (change them by registering a new model)
  per job     the collateral and the protocol terms in force when the job was posted
  changeable  uri, collateral and price floor (model update), active (model activate|deactivate), owner`,
    );
  model
    .command("check <file>")
    .description("run every admission check on an .onnx file, offline (no chain, no key); exit code 0 only when it can be registered")
    .option("--tolerance <policy>", "the policy it would be registered with: allclose:<absTol>:<relTol> | argmax:<axis> | exact")
    .option("--non-finite-inputs", "opt in to NaN and Inf in float inputs (frozen per model)")
    .action(async (file: string, flags) => {
      const report = await admitFile({ file, tolerance: flags.tolerance, nonFiniteInputs: flags.nonFiniteInputs === true });
      console.log(formatFindings(report.findings));
      console.log(report.admitted ? `${file}: can be registered (sha256 ${report.modelHash})` : `${file}: cannot be registered`);
      if (!report.admitted) process.exitCode = 1;
    });
  model
    .command("register")
    .description("check an .onnx model (as model check does, refusing it on a failure), then register it; its sha256 is computed from the file")
    .requiredOption("--file <path>", "the .onnx file")
    .requiredOption("--uri <uri>", "where providers can fetch the file")
    .requiredOption("--tolerance <policy>", "allclose:<absTol>:<relTol> | argmax:<axis> | exact (frozen)")
    .requiredOption("--collateral <tokens>", "stake a provider locks per job")
    .requiredOption("--price <tokens>", "lowest fee per job")
    .option("--runtime <pin>", "runtime the outputs are pinned to (frozen)", "onnxruntime-node@1.30.0")
    .option("--non-finite-inputs", "opt in to NaN and Inf in float inputs (frozen)")
    .action(async (flags, cmd: Command) => {
      const nonFiniteInputs = flags.nonFiniteInputs === true;
      const report = await admitFile({ file: flags.file, tolerance: flags.tolerance, nonFiniteInputs });
      console.log(formatFindings(report.findings));
      if (!report.admitted) throw new ModelNotAdmittedError({ path: flags.file, failures: report.findings.filter((f) => f.status === "fail") });
      const spec = {
        modelHash: report.modelHash,
        uri: flags.uri,
        runtime: flags.runtime,
        tolerance: parseToleranceFlag(flags.tolerance),
        minCollateral: parseTokens(flags.collateral, "--collateral"),
        priceFloor: parseTokens(flags.price, "--price"),
        nonFiniteInputs,
      };
      const { sender, deployment } = await connect(cmd);
      const { hash, receipt } = await sender.send({ address: deployment.registry, abi: abiOf("ModelRegistry"), functionName: "register", args: [spec] });
      const id = registeredModelId(receipt.logs, deployment.registry);
      console.log(`registered model ${id} (sha256 ${spec.modelHash}, tx ${hash})`);
    });
  model
    .command("update <modelId>")
    .description("model owners: change a model's uri, collateral or price floor (what is left out stays); the file, tolerance, runtime and non-finite opt-in are frozen")
    .option("--uri <uri>", "where providers can fetch the file")
    .option("--collateral <tokens>", "stake a provider locks per job, for jobs posted from now on")
    .option("--price <tokens>", "lowest fee per job")
    .action(async (modelId: string, flags, cmd: Command) => {
      const id = parseId(modelId, "modelId");
      if (flags.uri === undefined && flags.collateral === undefined && flags.price === undefined) {
        throw new DinferError("model update: give at least one of --uri, --collateral, --price", { code: "NOTHING_TO_UPDATE" });
      }
      const { sender, deployment, publicClient } = await connect(cmd);
      const current = (await publicClient.readContract({ address: deployment.registry, abi: abiOf("ModelRegistry"), functionName: "model", args: [id] })) as RegisteredModel;
      const spec = {
        modelHash: current.modelHash,
        uri: flags.uri ?? current.uri,
        runtime: current.runtime,
        tolerance: current.tolerance,
        minCollateral: flags.collateral === undefined ? current.minCollateral : parseTokens(flags.collateral, "--collateral"),
        priceFloor: flags.price === undefined ? current.priceFloor : parseTokens(flags.price, "--price"),
        nonFiniteInputs: current.nonFiniteInputs,
      };
      const { hash } = await sender.send({ address: deployment.registry, abi: abiOf("ModelRegistry"), functionName: "update", args: [id, spec] });
      console.log(`updated model ${id}: uri ${spec.uri}, collateral ${formatTokens(spec.minCollateral)}, price floor ${formatTokens(spec.priceFloor)} (tx ${hash})`);
    });
  model
    .command("show <modelId>")
    .description("print a registered model's spec")
    .action(async (modelId: string, _flags, cmd: Command) => {
      const id = parseId(modelId, "modelId");
      const chain = await connectChain({ options: chainOptions(cmd), keyed: false });
      const spec = await chain.publicClient.readContract({ address: chain.deployment.registry, abi: abiOf("ModelRegistry"), functionName: "model", args: [id] });
      console.log(JSON.stringify(spec, bigintJson, 2));
    });
  for (const [name, active] of [["activate", true], ["deactivate", false]] as const) {
    model
      .command(`${name} <modelId>`)
      .description(`model owners: ${active ? "accept" : "refuse"} new jobs for the model (posted jobs are not affected)`)
      .action(async (modelId: string, _flags, cmd: Command) => {
        const id = parseId(modelId, "modelId");
        const { sender, deployment } = await connect(cmd);
        const { hash } = await sender.send({ address: deployment.registry, abi: abiOf("ModelRegistry"), functionName: "setActive", args: [id, active] });
        console.log(`model ${modelId} ${active ? "activated" : "deactivated"} (tx ${hash})`);
      });
  }

  const job = program.command("job").description("dApps: post jobs and fetch verified results");
  job
    .command("post")
    .description("post a job; --input is a tensor blob file, or an image (.png/.jpg) turned into the model's input")
    .requiredOption("--model <id>", "registered model id")
    .requiredOption("--input <file>", "tensor blob, or an image with --image det|cls")
    .requiredOption("--fee <tokens>", "fee, escrowed")
    .addOption(new Option("--image <kind>", "treat --input as an image for the PaddleOCR det or cls model").choices(["det", "cls"]))
    .option("--upload <url>", "blob server for inputs over 4096 bytes (token in DINFER_UPLOAD_TOKEN)")
    .option("--inline-output", "require the result inline (at most 4096 bytes, in the reveal's event)")
    .option("--model-file <path>", "the model's .onnx file to check the input against (default: fetched from its registered uri)")
    .option("--no-check", "post without checking the input against the model's declared inputs")
    .option("--wait", "wait for the final result and print it")
    .action(async (flags, cmd: Command) => {
      const [modelId, fee] = [parseId(flags.model, "--model"), parseTokens(flags.fee, "--fee")];
      const input = flags.image ? await imageBlob(flags.input, flags.image) : new Uint8Array(readFileSync(flags.input));
      const token = process.env.DINFER_UPLOAD_TOKEN;
      const { sender, deployment, publicClient } = await connect(cmd);
      await checkModelForJob({ publicClient, registry: deployment.registry, modelId, fee });
      if (flags.check) await checkPostInput({ publicClient, deployment, modelId, input, modelFile: flags.modelFile });
      const posted = await postJob({
        sender,
        publicClient,
        deployment,
        modelId,
        input,
        fee,
        upload: flags.upload ? { serverUrl: flags.upload, token: token ?? "" } : undefined,
        inlineOutput: flags.inlineOutput === true,
      });
      console.log(`posted job ${posted.jobId} (input ${posted.inputHash}${flags.inlineOutput ? ", inline output required" : ""}, tx ${posted.txHash})`);
      if (flags.wait) {
        // Each stage on stderr as the chain shows it (stdout keeps the result).
        const print = (line: string) => process.stderr.write(`job ${posted.jobId}: ${line}\n`);
        const onRecord = reportProgress({ publicClient, verification: deployment.verification, print });
        await printResult({ publicClient, market: deployment.market, jobId: posted.jobId, fromBlock: posted.blockNumber, onRecord });
      }
    });
  job
    .command("get <jobId>")
    .description("fetch a job's output and verify it against the root on-chain")
    .option("--wait", "wait until the job is final")
    .option("--out <file>", "write the output tensor blob here")
    .action(async (jobId: string, flags, cmd: Command) => {
      const chain = await connectChain({ options: chainOptions(cmd), keyed: false });
      await printResult({
        publicClient: chain.publicClient,
        market: chain.deployment.market,
        jobId: BigInt(jobId),
        until: flags.wait ? "final" : "revealed",
        timeoutMs: flags.wait ? 600_000 : 1,
        out: flags.out,
      });
    });

  // Keepers: anyone may finalize a job after its window and expire one whose deadline passed.
  for (const [name, verb] of [["finalize", "finalize a revealed job after its challenge window"], ["expire", "expire a job whose deadline passed (refund, penalty)"]] as const) {
    job
      .command(`${name} <jobId>`)
      .description(`keepers: ${verb}`)
      .action(async (jobId: string, _flags, cmd: Command) => {
        const id = parseId(jobId, "jobId");
        const { sender, deployment, publicClient } = await connect(cmd);
        const record = await readJob({ client: publicClient, market: deployment.market, jobId: id });
        const { hash } = await sender.send({ address: deployment.market, abi: abiOf("JobMarket"), functionName: name, args: [id, record.job] });
        console.log(`job ${id} ${name === "finalize" ? "finalized" : "expired"} (tx ${hash})`);
      });
  }

  program
    .command("terms [version]")
    .description("print a protocol terms version: the rules a job posted under it is judged by (default: the current one)")
    .action(async (version: string | undefined, _flags, cmd: Command) => {
      const chain = await connectChain({ options: chainOptions(cmd), keyed: false });
      const reader = new TermsReader({ client: chain.publicClient, market: chain.deployment.market });
      const terms = version === undefined ? await reader.current() : await reader.of(parseId(version, "version"));
      console.log(JSON.stringify(terms, bigintJson, 2));
    });

  program
    .command("blobs")
    .description("blob storage")
    .command("serve")
    .description("serve a local blob store over HTTP (GET /blobs/<id>; PUT /blobs with DINFER_UPLOAD_TOKEN)")
    .option("--dir <dir>", "store directory", ".dinfer/blobs")
    .option("--host <host>", "bind address", "127.0.0.1")
    .option("--port <n>", "port", "8700")
    .action(async (flags) => {
      const log = createLogger({ name: "blobs" });
      const server = await startBlobServer({
        store: new LocalBlobStore({ dir: flags.dir }),
        host: flags.host,
        port: Number(flags.port),
        uploadToken: process.env.DINFER_UPLOAD_TOKEN,
        logger: log,
      });
      console.log(`serving ${flags.dir} at ${server.url}`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await server.close();
    });

  program
    .command("token")
    .description("local test token")
    .command("mint <amount>")
    .description("mint test tokens to your account (DinferTestToken only)")
    .action(async (amount: string, _flags, cmd: Command) => {
      const value = parseTokens(amount);
      const { sender, deployment } = await connect(cmd);
      await sender.send({ address: deployment.token, abi: abiOf("DinferTestToken"), functionName: "mint", args: [sender.address, value] });
      console.log(`minted ${formatTokens(value)} to ${sender.address}`);
    });

  addJobViewCommands(job);
  addHistoryCommand(program);
  addTensorCommands(program);
  addDevnetCommands(program);
  addVerifierCommands(program);
  return program;
}

const print = (line: string) => console.log(line);

function parseId(text: string, what: string): bigint {
  if (!/^[0-9]+$/.test(text)) throw new DinferError(`${what} must be a non-negative integer, got "${text}"`, { code: "BAD_ID" });
  return BigInt(text);
}

/** A registered model as `ModelRegistry.model` returns it. */
type RegisteredModel = {
  modelHash: Hex;
  uri: string;
  runtime: string;
  tolerance: { kind: number; axis: number; absTolE12: bigint; relTolE12: bigint };
  minCollateral: bigint;
  priceFloor: bigint;
  nonFiniteInputs: boolean;
};

/** Reads an .onnx file and runs every admission check on it (offchain/inference/admission.ts). */
async function admitFile({ file, tolerance, nonFiniteInputs }: { file: string; tolerance?: string; nonFiniteInputs: boolean }) {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (cause) {
    throw new DinferError(`cannot read ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { code: "MODEL_READ", cause });
  }
  return checkModelAdmission({ bytes, tolerance: tolerance === undefined ? undefined : parseTolerancePolicy(tolerance), nonFiniteInputs });
}

async function imageBlob(file: string, kind: "det" | "cls"): Promise<Uint8Array> {
  const tensor = kind === "det" ? (await imageToDetInput(file)).tensor : await imageToClsInput(file);
  return encodeTensorBlob([tensor]);
}

async function printResult(p: Parameters<typeof waitForResult>[0] & { out?: string }) {
  const result = await waitForResult(p);
  const tensors = decodeTensorBlob(result.output);
  console.log(`job ${p.jobId}: ${result.final ? "final" : "revealed (challenge window open)"}, output root ${result.outputRoot} verified`);
  for (const t of tensors) console.log(`  ${t.name}: ${t.dtype}[${t.dims.join(", ")}]`);
  if (p.out) {
    writeFileSync(p.out, result.output);
    console.log(`wrote ${result.output.length} bytes to ${p.out}`);
  }
}

export async function main(argv = process.argv): Promise<void> {
  const program = buildProgram();
  const usage = installUsageHints(program);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    console.error(formatCliError({ error, command: usage.current(), verbose: verboseRequested(argv) }));
    process.exitCode = 1;
  }
}

function bigintJson(_key: string, value: unknown) {
  return typeof value === "bigint" ? value.toString() : value;
}
