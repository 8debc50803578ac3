/**
 * `dinfer job post|get|finalize|expire` (`job post --batch`: offchain/cli/commands/job-batch.ts; `job post --replicas`
 * and `job replicas`: offchain/cli/commands/job-replicas.ts) (and `job list|status`, offchain/cli/commands/job-views.ts):
 * dApps post jobs and fetch verified results; keepers move a job whose window or deadline passed.
 *
 * `job post` checks on chain that the model takes jobs at this fee (offchain/cli/preflight.ts) and that
 * the input fits the model's declared inputs (offchain/sdk/input-check.ts) before it escrows anything.
 */
import { readFileSync, writeFileSync } from "node:fs";

import { Command, Option } from "commander";
import type { PublicClient } from "viem";

import type { Deployment } from "../../chain/deployment.js";
import { readJob } from "../../chain/jobs.js";
import { decodeTensorBlob, encodeTensorBlob } from "../../codec/tensor.js";
import { parseTokens } from "../../chain/format.js";
import { checkInputFits, readModelInputs } from "../../sdk/input-check.js";
import { postJob, postSignedJob, waitForResult } from "../../sdk/jobs.js";
import { reportProgress } from "../../sdk/progress.js";
import { endJob } from "../../protocol/actions.js";
import { NonRetryableError } from "../../errors.js";
import { allowsPrivateHosts } from "../../storage/host-policy.js";
import type { IpfsNode } from "../../storage/ipfs.js";
import { allowPrivateHostsOption, connect, connectReadOnly, parseAddress, parseId } from "../context.js";
import { ALLOW_PRIVATE_HOSTS_FLAG } from "../flags.js";
import { checkModelForJob } from "../preflight.js";
import { postBatchFile } from "./job-batch.js";
import { addJobReplicasCommand, postReplicatedFromFlags, REPLICA_ONLY_FLAGS } from "./job-replicas.js";
import { addJobViewCommands } from "./job-views.js";
import { IMAGE_KINDS, imageTensor, type ImageKind } from "./tensor.js";

export function addJobCommands(program: Command): void {
  const job = program.command("job").description("dApps: post jobs and fetch verified results");
  job
    .command("post")
    .description(
      "post a job; --input is a tensor blob file, or an image (.png/.jpg) turned into the model's input; " +
        "or --batch file.jsonl: many jobs in one transaction, paid from your deposit (topped up when short); " +
        "or --replicas k: one job run by k providers (2..5) at k x the fee, answered by their majority",
    )
    .option("--model <id>", "registered model id")
    .option("--input <file>", "tensor blob, or an image with --image det|det-uint8|cls")
    .option("--fee <tokens>", "fee, escrowed")
    .option("--batch <file.jsonl>", 'one job a line: {"model": id, "input": path-or-uri, "fee": tokens?} (fee: the model\'s floor)')
    .option("--claim-within <seconds>", "with --batch or --replicas: seconds providers have to claim each batch, or take a seat (default 600)")
    .addOption(
      new Option("--image <kind>", "treat --input as an image for the PaddleOCR det or cls model (det-uint8: its bytes, for det made by model image-input)").choices(IMAGE_KINDS),
    )
    .option("--upload <url>", "blob server for inputs over 4096 bytes (token in DINFER_UPLOAD_TOKEN)")
    .option("--ipfs", "put an input over 4096 bytes on IPFS from a node run here, and keep serving it until the job is final (implies --wait)")
    .option("--ipfs-dir <dir>", "with --ipfs: the node's repository (default .dinfer/ipfs)")
    .option("--ipfs-listen <multiaddr...>", "with --ipfs: where the node listens (default /ip4/127.0.0.1/tcp/0; providers and verifiers dial it)")
    .option("--ipfs-peer <multiaddr...>", "with --ipfs: providers' and verifiers' IPFS nodes to dial")
    .option("--inline-output", "require the result inline (at most 4096 bytes, in the reveal's event)")
    .option("--model-file <path>", "the model's .onnx file to check the input against (default: fetched from its registered uri)")
    .option("--no-check", "post without checking the input against the model's declared inputs")
    .option("--wait", "wait for the final result and print it (with --batch: each as it comes)")
    .option("--to <url>", "sign the job and hand it to this provider's worker (its blob_url), which posts it with its result: the fee from your JobMarket deposit, topped up when short")
    .option("--provider <address>", "with --to: the only provider that may post it (default: the worker's own account, from its GET /jobs)")
    .option("--replicas <k>", "run it on k providers (2..5) through the ReplicaMarket: each commits blind, then reveals; needs --upload")
    .option("--allow <addresses>", "with --replicas: the only providers that may take a seat, comma separated (at least k)")
    .option("--region <region>", "with --replicas: the region a provider's profile must declare, e.g. eu-west")
    .option("--ep <cpu|gpu|cpu,gpu>", "with --replicas: a provider's profile must declare one of these execution providers")
    .option("--min-reputation <0..1>", "with --replicas: the least reputation a seat's provider should have (workers honour it)")
    .option("--allow-private-hosts", ALLOW_PRIVATE_HOSTS_FLAG)
    .action(async (flags, cmd: Command) => {
      const replicaOnly = REPLICA_ONLY_FLAGS.filter((name) => flags[name] !== undefined);
      if (flags.replicas === undefined && replicaOnly.length > 0) {
        throw new NonRetryableError(`${replicaOnly.map(flagName).join(", ")} constrain a redundant job's seats: add --replicas <k>`, { code: "BAD_FLAGS" });
      }
      if (flags.ipfs && (flags.batch || flags.replicas !== undefined)) {
        throw new NonRetryableError("--ipfs puts one job's input on IPFS: drop --batch and --replicas (give their inputs as ipfs:// URIs instead)", { code: "BAD_FLAGS" });
      }
      if (!flags.ipfs && (flags.ipfsDir || flags.ipfsListen || flags.ipfsPeer)) {
        throw new NonRetryableError("--ipfs-dir, --ipfs-listen and --ipfs-peer configure the node of --ipfs: add --ipfs", { code: "BAD_FLAGS" });
      }
      if (flags.replicas !== undefined && (flags.batch || flags.to || flags.provider || flags.inlineOutput)) {
        throw new NonRetryableError(
          "--replicas posts one job to k providers through the ReplicaMarket: drop --batch (post each redundant job on its own), --to and --provider (a signed job goes to one provider) and --inline-output (a redundant job's output goes by URI)",
          { code: "BAD_FLAGS" },
        );
      }
      if ((flags.provider || flags.to) && (flags.batch || !flags.to)) {
        throw new NonRetryableError("--provider goes with --to <worker url>, and neither with --batch", { code: "BAD_FLAGS" });
      }
      // The model file the input is checked against and the output are read where others chose: refused on private hosts off a devnet.
      const privateHosts = allowPrivateHostsOption(cmd);
      if (flags.batch) {
        if (flags.model || flags.input || flags.fee || flags.image || flags.inlineOutput) {
          throw new NonRetryableError("--batch takes every job from its file: drop --model, --input, --fee, --image and --inline-output", { code: "BAD_FLAGS" });
        }
        return postBatchFile({ ...flags, allowPrivateHosts: privateHosts }, cmd);
      }
      const missing = ["model", "input", "fee"].filter((name) => flags[name] === undefined);
      if (missing.length > 0) {
        throw new NonRetryableError(`job post needs ${missing.map((m) => `--${m}`).join(", ")} (or --batch file.jsonl)`, { code: "BAD_FLAGS" });
      }
      const [modelId, fee] = [parseId(flags.model, "--model"), parseTokens(flags.fee, "--fee")];
      const input = flags.image ? await imageBlob(flags.input, flags.image) : new Uint8Array(readFileSync(flags.input));
      if (flags.replicas !== undefined) {
        return postReplicatedFromFlags({
          flags,
          cmd,
          modelId,
          fee,
          input,
          allowPrivateHosts: privateHosts,
          checkInput: ({ publicClient, deployment, chainId }) =>
            checkPostInput({ publicClient, deployment, modelId, input, modelFile: flags.modelFile, allowPrivateHosts: allowsPrivateHosts({ allowPrivateHosts: privateHosts, chainId }) }),
        });
      }
      const token = process.env.DINFER_UPLOAD_TOKEN;
      const { sender, deployment, publicClient, chainId } = await connect(cmd);
      const allowPrivateHosts = allowsPrivateHosts({ allowPrivateHosts: privateHosts, chainId });
      await checkModelForJob({ publicClient, registry: deployment.registry, modelId, fee });
      if (flags.check) await checkPostInput({ publicClient, deployment, modelId, input, modelFile: flags.modelFile, allowPrivateHosts });
      // The poster keeps its input until the job is final (docs/PROTOCOL.md, section 5): this process serves it till then.
      const ipfs = flags.ipfs ? await startPosterIpfsNode(flags) : undefined;
      try {
        const common = {
          sender,
          publicClient,
          deployment,
          modelId,
          input,
          fee,
          upload: flags.upload ? { serverUrl: flags.upload, token: token ?? "" } : undefined,
          ipfs,
          inlineOutput: flags.inlineOutput === true,
        };
        let posted: { jobId: bigint; inputHash: string; blockNumber: bigint };
        if (flags.to) {
          const provider = flags.provider === undefined ? undefined : parseAddress(flags.provider, "--provider");
          const signed = await postSignedJob({ ...common, providerUrl: flags.to, provider });
          posted = signed;
          console.log(`signed job ${signed.jobId} taken by ${flags.to} (input ${signed.inputHash}; only ${signed.signed.provider} may post it, until ${signed.claimBy}): it is posted with its result`);
        } else {
          const sent = await postJob(common);
          posted = sent;
          console.log(`posted job ${sent.jobId} (input ${sent.inputHash}${flags.inlineOutput ? ", inline output required" : ""}, tx ${sent.txHash})`);
        }
        if (flags.wait || ipfs) {
          // Each stage on stderr as the chain shows it (stdout keeps the result).
          const print = (line: string) => process.stderr.write(`job ${posted.jobId}: ${line}\n`);
          const onRecord = reportProgress({ publicClient, verification: deployment.verification, print });
          await printResult({ publicClient, market: deployment.market, jobId: posted.jobId, fromBlock: posted.blockNumber, onRecord, ipfs, timeoutMs: ipfs ? 3_600_000 : undefined, allowPrivateHosts });
        }
      } finally {
        await ipfs?.stop();
      }
    });
  job
    .command("get <jobId>")
    .description("fetch a job's output and verify it against the root on-chain")
    .option("--wait", "wait until the job is final")
    .option("--out <file>", "write the output tensor blob here")
    .option("--ipfs-peer <multiaddr...>", "read an ipfs:// output through an IPFS node run here, dialling these peers (the provider's node)")
    .option("--ipfs-dir <dir>", "with --ipfs-peer: the node's repository (default .dinfer/ipfs)")
    .option("--allow-private-hosts", ALLOW_PRIVATE_HOSTS_FLAG)
    .action(async (jobId: string, flags, cmd: Command) => {
      const privateHosts = allowPrivateHostsOption(cmd);
      const chain = await connectReadOnly(cmd);
      const ipfs = flags.ipfsPeer ? await startPosterIpfsNode({ ipfsDir: flags.ipfsDir, ipfsPeer: flags.ipfsPeer }) : undefined;
      try {
        await printResult({
          publicClient: chain.publicClient,
          market: chain.deployment.market,
          jobId: BigInt(jobId),
          until: flags.wait ? "final" : "revealed",
          timeoutMs: flags.wait ? 600_000 : 1,
          out: flags.out,
          ipfs,
          allowPrivateHosts: allowsPrivateHosts({ allowPrivateHosts: privateHosts, chainId: chain.chainId }),
        });
      } finally {
        await ipfs?.stop();
      }
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
        const { hash } = await endJob({ sender, deployment, action: name, jobId: id, job: record.job });
        console.log(`job ${id} ${name === "finalize" ? "finalized" : "expired"} (tx ${hash})`);
      });
  }

  addJobViewCommands(job);
  addJobReplicasCommand(job);
}

/** "minReputation" -> "--min-reputation". */
function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export type CheckPostInputParameters = {
  publicClient: PublicClient;
  deployment: Deployment;
  modelId: bigint;
  input: Uint8Array;
  /** A local copy of the model's .onnx file; else the registered URI is fetched. */
  modelFile?: string;
  /** Read the registered URI on a private host (`--allow-private-hosts`; `readModelInputs`' default: on only on a devnet). */
  allowPrivateHosts?: boolean;
};

/** `job post`'s check: the input fits the model's declared inputs, or a `JobInputError` says what to fix. */
export async function checkPostInput({ publicClient, deployment, modelId, input, modelFile, allowPrivateHosts }: CheckPostInputParameters): Promise<void> {
  const model = await readModelInputs({ publicClient, registry: deployment.registry, modelId, source: modelFile ? { modelFile } : {}, allowPrivateHosts });
  checkInputFits({ input, model });
}

async function imageBlob(file: string, kind: ImageKind): Promise<Uint8Array> {
  return encodeTensorBlob([await imageTensor([file], kind)]);
}

/** The dApp's IPFS node of `--ipfs` (loaded only then): its addresses on stderr, for providers and verifiers to dial. */
async function startPosterIpfsNode(flags: { ipfsDir?: string; ipfsListen?: string[]; ipfsPeer?: string[] }): Promise<IpfsNode> {
  const { startIpfsNode } = await import("../../storage/ipfs.js");
  const node = await startIpfsNode({ dir: flags.ipfsDir ?? ".dinfer/ipfs", listen: flags.ipfsListen, peers: flags.ipfsPeer });
  process.stderr.write(`ipfs node ${node.peerId} at ${node.addresses().join(", ")} (${node.connectedPeers().length} peer(s) connected)\n`);
  return node;
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
