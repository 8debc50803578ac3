/**
 * `dinfer`: the command line for every role.
 *
 *   dinfer worker               run a provider worker (GPU or CPU)
 *   dinfer verifier             run a verifier: audits, committee votes, keeper duties, watchdog
 *   dinfer audit <jobId>        re-execute one job and report the comparison and a challenge's odds
 *   dinfer challenge <jobId>    challenge a revealed result: the bond, the time left, what is won or lost; asks
 *   dinfer provider stake|unbond|withdraw|status
 *   dinfer provider profile set|show|clear   a provider's self-declared region, execution providers, models, capacity
 *   dinfer model check|register|update|show|activate|deactivate   model owners
 *   dinfer job post|get         post a job (or a batch: --batch file.jsonl), wait for and verify its result
 *   dinfer job post --replicas k   one job run by k providers; `job replicas <id>` shows its seats
 *   dinfer deposit add|withdraw|show   the prepaid deposit batches are paid from
 *   dinfer job finalize|expire  keepers: move a job whose window or deadline passed
 *   dinfer terms [version]      the protocol terms a job is judged by (default: the current version)
 *   dinfer blobs serve          a blob server for inputs and outputs
 *   dinfer token mint           the local test token's faucet
 *   dinfer devnet | demo        a local network; the whole network with a sample workload
 *   dinfer explorer             index the chain's events and serve the explorer's page and JSON API
 *
 * Each command group lives in offchain/cli/commands/<group>.ts; this file assembles them.
 *
 * Options come from flags, then DINFER_* environment variables, then a JSON config file
 * (--config or DINFER_CONFIG), then defaults. Keys come from an environment variable
 * (DINFER_PRIVATE_KEY by default, --key-env to rename) or Hardhat's keystore (--keystore-key).
 */
import { Command } from "commander";

import { formatCliError, verboseRequested } from "../ui/messages.js";
import { addBlobsCommands } from "./commands/blobs.js";
import { addDepositCommands } from "./commands/deposit.js";
import { addDevnetCommands } from "./commands/devnet.js";
import { addExplorerCommand } from "./commands/explorer.js";
import { addHistoryCommand } from "./commands/history.js";
import { addJobCommands } from "./commands/job.js";
import { addModelCommands } from "./commands/model.js";
import { addProviderCommands } from "./commands/provider.js";
import { addTensorCommands } from "./commands/tensor.js";
import { addTermsCommand } from "./commands/terms.js";
import { addTokenCommands } from "./commands/token.js";
import { addVerifierCommands } from "./commands/verifier.js";
import { addWorkerCommand } from "./commands/worker.js";
import { installUsageHints, packageVersion } from "./usage.js";

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

  // In the order `dinfer --help` lists them.
  addWorkerCommand(program);
  addProviderCommands(program);
  addModelCommands(program);
  addJobCommands(program);
  addDepositCommands(program);
  addTermsCommand(program);
  addBlobsCommands(program);
  addTokenCommands(program);
  addHistoryCommand(program);
  addTensorCommands(program);
  addDevnetCommands(program);
  addExplorerCommand(program);
  addVerifierCommands(program);
  return program;
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
