/**
 * Redundant jobs from the command line (offchain/sdk/replicas.ts, docs/PROTOCOL.md "Redundant jobs"):
 *
 *   dinfer job post --model 1 --input x.dtn --fee 2 --replicas 3 --upload URL [--allow A,B,C] [--region eu-west]
 *                   [--ep gpu] [--min-reputation 0.9] [--claim-within 600] [--wait]
 *                                              one input run by k providers at k x the fee; --wait: the majority's output
 *   dinfer job replicas <id> [--json]          a redundant job: status, seats, revealed roots, committee jobs, constraints
 */
import type { Command } from "commander";
import type { Hex } from "viem";

import { formatTokens, formatWhen } from "../../chain/format.js";
import { decodeExecutionProviders, decodeRegion, parseExecutionProviders } from "../../chain/profiles.js";
import { majorityRoot, readReplicaJob, REPLICA_STATUS_NAMES, ReplicaStatus, type ReplicaRecord } from "../../chain/replicas.js";
import { decodeTensorBlob } from "../../codec/tensor.js";
import { NonRetryableError } from "../../errors.js";
import { postReplicatedJob, replicaJobCost, waitForReplicatedResult } from "../../sdk/replicas.js";
import { allowsPrivateHosts } from "../../storage/host-policy.js";
import { bigintJson, connect, connectReadOnly, fromBlockFlag, parseAddress, parseId } from "../context.js";
import { checkModelForJob } from "../preflight.js";

/** The `job post` flags a redundant job reads. */
export type ReplicaPostFlags = {
  replicas: string;
  allow?: string;
  region?: string;
  ep?: string;
  minReputation?: string;
  claimWithin?: string;
  upload?: string;
  check: boolean;
  modelFile?: string;
  wait?: boolean;
};

/** The flags that only a redundant job takes. */
export const REPLICA_ONLY_FLAGS = ["allow", "region", "ep", "minReputation"] as const;

/** `job post --replicas k`: prints the cost, posts, prints the id; with --wait, the majority's output. */
export async function postReplicatedFromFlags({
  flags,
  cmd,
  modelId,
  fee,
  input,
  allowPrivateHosts,
  checkInput,
}: {
  flags: ReplicaPostFlags;
  cmd: Command;
  modelId: bigint;
  fee: bigint;
  input: Uint8Array;
  /** `--allow-private-hosts` (`allowPrivateHostsOption`): the seats' output locations are their providers' choice. */
  allowPrivateHosts: boolean | undefined;
  /** `job post`'s input check against the model's declared inputs. */
  checkInput: (chain: Awaited<ReturnType<typeof connect>>) => Promise<void>;
}): Promise<void> {
  const replicas = Number(parseId(flags.replicas, "--replicas"));
  const constraints = {
    allowlist: flags.allow?.split(",").map((a) => a.trim()).filter(Boolean).map((a) => parseAddress(a, "--allow")),
    region: flags.region,
    executionProviders: flags.ep === undefined ? undefined : parseExecutionProviders(flags.ep),
    minReputation: flags.minReputation === undefined ? undefined : parseMinReputation(flags.minReputation),
  };
  const claimWithinSeconds = flags.claimWithin === undefined ? undefined : Number(parseId(flags.claimWithin, "--claim-within"));
  if (!flags.upload) {
    throw new NonRetryableError("a redundant job's input goes by URI (it has no inline input): give --upload <blob server url> (token in DINFER_UPLOAD_TOKEN)", { code: "BAD_FLAGS" });
  }
  const chain = await connect(cmd);
  const { sender, deployment, publicClient } = chain;
  await checkModelForJob({ publicClient, registry: deployment.registry, modelId, fee });
  if (flags.check) await checkInput(chain);
  const cost = await replicaJobCost({ publicClient, deployment, modelId, replicas, feePerReplica: fee });
  const each = cost.reservePerSeat === 0n ? formatTokens(cost.feePerReplica) : `(${formatTokens(cost.feePerReplica)} fee + ${formatTokens(cost.reservePerSeat)} committee reserve)`;
  console.log(`cost: ${replicas} x ${each} = ${formatTokens(cost.total)}${cost.reservePerSeat === 0n ? "" : " (a seat's reserve comes back at settle unless the seat goes to a committee)"}`);
  const posted = await postReplicatedJob({
    sender,
    publicClient,
    deployment,
    modelId,
    input: { blob: input },
    replicas,
    feePerReplica: cost.feePerReplica,
    claimWithinSeconds,
    constraints,
    upload: { serverUrl: flags.upload, token: process.env.DINFER_UPLOAD_TOKEN ?? "" },
  });
  console.log(`posted redundant job ${posted.replicaJobId} (${replicas} seats, input ${posted.inputHash}, tx ${posted.txHash}): \`dinfer job replicas ${posted.replicaJobId}\` shows it`);
  if (!flags.wait) return;
  // Each seat's progress on stderr as the chain shows it (stdout keeps the result).
  const seen = new Set<string>();
  const say = (key: string, line: string) => {
    if (seen.has(key)) return;
    seen.add(key);
    process.stderr.write(`redundant job ${posted.replicaJobId}: ${line}\n`);
  };
  const result = await waitForReplicatedResult({
    publicClient,
    deployment,
    replicaJobId: posted.replicaJobId,
    fromBlock: posted.blockNumber,
    timeoutMs: 600_000,
    allowPrivateHosts: allowsPrivateHosts({ allowPrivateHosts, chainId: chain.chainId }),
    onRecord: (record) => {
      for (const seat of record.seats) {
        say(`taken ${seat.index}`, `seat ${seat.index} taken by ${seat.provider}`);
        if (seat.revealed) say(`revealed ${seat.index}`, `seat ${seat.index} revealed ${seat.outputRoot}`);
      }
    },
  });
  const state = result.final ? "settled, agreed" : result.record.status === ReplicaStatus.Disputed ? "settled, disputed: the seats are before committees" : "not settled yet";
  console.log(`redundant job ${posted.replicaJobId}: ${result.agreeing} of ${result.record.replicas} seats agree (${state}), output root ${result.outputRoot} verified`);
  for (const t of decodeTensorBlob(result.output)) console.log(`  ${t.name}: ${t.dtype}[${t.dims.join(", ")}]`);
}

/** `--min-reputation 0.9`: a score from 0 to 1. */
function parseMinReputation(text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new NonRetryableError(`--min-reputation is a reputation score from 0 to 1 (e.g. 0.9), got "${text}"`, { code: "BAD_FLAGS" });
  }
  return value;
}

/** Adds `replicas <id>` to the `job` command group. */
export function addJobReplicasCommand(job: Command): void {
  job
    .command("replicas <replicaJobId>")
    .description("a redundant job (job post --replicas): status, seats with their providers and revealed roots, committee jobs, constraints")
    .option("--from-block <n>", "read its events from this block (default 0)")
    .option("--json", "print JSON")
    .action(async (idText: string, flags, cmd: Command) => {
      const replicaJobId = parseId(idText, "replicaJobId");
      const { publicClient, deployment } = await connectReadOnly(cmd);
      const record = await readReplicaJob({ client: publicClient, replicaMarket: deployment.replicaMarket, replicaJobId, fromBlock: fromBlockFlag(flags.fromBlock) });
      if (flags.json) return console.log(JSON.stringify({ ...record, status: REPLICA_STATUS_NAMES[record.status], majorityRoot: majorityRoot(record) }, bigintJson, 2));
      console.log(describeReplicaJob(record, (await publicClient.getBlock()).timestamp).join("\n"));
    });
}

/** `job replicas`' lines for a redundant job, given the chain's now. */
export function describeReplicaJob(record: ReplicaRecord, now: bigint): string[] {
  const r = record;
  const lines = [
    `redundant job ${r.replicaJobId}: ${REPLICA_STATUS_NAMES[r.status]} (${r.committed} of ${r.replicas} seats taken, ${r.revealed} revealed)`,
    `  model ${r.modelId}, terms v${r.terms}, fee ${formatTokens(r.feePerReplica)} a seat (${formatTokens(r.feePerReplica * BigInt(r.replicas))} for ${r.replicas} seats), collateral ${formatTokens(r.collateral)} a seat`,
    `  poster ${r.poster}`,
    `  input ${r.inputURI} (${r.inputHash})`,
  ];
  if (r.status === ReplicaStatus.Open) {
    lines.push(r.revealDeadline === 0n ? `  seats may be taken until ${formatWhen(r.claimBy, now)}` : `  reveals close ${formatWhen(r.revealDeadline, now)}, then anyone may settle it`);
  }
  lines.push(`  constraints: ${describeConstraints(r)}`);
  for (const seat of r.seats) {
    const state = seat.revealed ? `revealed ${seat.outputRoot}${seat.outputURI ? ` at ${seat.outputURI}` : ""}` : "committed, not revealed";
    lines.push(`  seat ${seat.index}: ${seat.provider}, ${state}${seat.jobId !== 0n ? `; before a committee as job ${seat.jobId} (\`dinfer job status ${seat.jobId}\`)` : ""}`);
  }
  const majority = majorityRoot(r);
  if (r.status === ReplicaStatus.Agreed) lines.push(`  agreed on ${r.agreedRoot}: every revealed seat was paid`);
  else if (majority) lines.push(`  majority ${majority} (${countOf(r, majority)} of ${r.replicas} seats)`);
  if (r.sampled) lines.push("  the agreement was sampled for a committee check");
  if (r.status === ReplicaStatus.Expired) lines.push("  nobody took a seat by claimBy: what the poster paid went back to its ReplicaMarket credit");
  return lines;
}

function describeConstraints({ constraints: c }: ReplicaRecord): string {
  const parts = [
    c.allowlist.length > 0 ? `allowlist ${c.allowlist.join(", ")}` : undefined,
    decodeRegion(c.region) ? `region ${decodeRegion(c.region)}` : undefined,
    c.executionProviders !== 0 ? `execution providers ${decodeExecutionProviders(c.executionProviders).join(" or ")}` : undefined,
    c.minReputationPpm !== 0 ? `min reputation ${c.minReputationPpm / 1_000_000}` : undefined,
  ].filter(Boolean);
  return parts.length === 0 ? "none (any staked provider)" : parts.join("; ");
}

function countOf(record: ReplicaRecord, root: Hex): number {
  return record.seats.filter((seat) => seat.revealed && seat.outputRoot.toLowerCase() === root.toLowerCase()).length;
}
