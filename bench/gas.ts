/**
 * Gas of one job's whole lifecycle and of each operation, on an in-process EDR chain deployed with
 * the same Ignition module and parameters as a local network.
 *
 *   npm run bench:gas        -> prints a table, writes bench/results/gas.json
 *
 * Every figure is a receipt's gasUsed: execution, calldata and the 21,000 base cost of the
 * transaction, after refunds.
 *
 * The lifecycle is the path `dinfer worker` takes by default (run first, then `claimAndCommit`):
 * post, claimAndCommit, reveal, finalize. The claim-first path (claim, then commit) is measured too.
 * The deployment uses the local parameters as they are, sampling included; the measured job is one
 * that is not sampled (95% of jobs at the local 5%): a sampled job's reveal also waits on its audit.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { network } from "hardhat";
import { keccak256, parseEther, toHex, type Hash } from "viem";

import { commitment } from "../offchain/codec/commitment.js";
import { deploySystem, jobRequest, jobTracker, ROLE_PROVIDER, ROLE_VERIFIER, setUpMarket, stake } from "../test/helpers/fixture.js";
import { machineInfo } from "./machine.js";

const connection = await network.create();
const { networkHelpers } = connection;
const local = JSON.parse(await readFile("ignition/parameters/local.json", "utf8")).DinferLocal;
const sys = await deploySystem(connection, { marketParams: local.marketParams });
const { token, staking, market, dapp, provider, keeper, publicClient } = sys;
const { modelId } = await setUpMarket(sys);

const jobs = jobTracker(sys);
const gasOf = async (tx: Promise<Hash>) => (await jobs.send(tx)).gasUsed;
const chainId = BigInt(await publicClient.getChainId());
const params = await market.read.params();

/** Runs one job from post to finalize and returns each transaction's gas (`claimFirst`: claim, then commit). */
async function runJob(salt: Hash, { claimFirst = false } = {}) {
  const now = BigInt(await networkHelpers.time.latest());
  const post = await gasOf(market.write.postJob([jobRequest(modelId, now + 600n)], { account: dapp.account }));
  const jobId = await market.read.jobCount();
  const outputRoot = keccak256(toHex(`output of ${jobId}`));
  const c = commitment({ chainId, jobMarket: market.address, jobId, provider: provider.account.address, outputRoot, salt });
  let claim = 0n;
  let commit: bigint;
  if (claimFirst) {
    claim = await gasOf(market.write.claim([jobId, jobs.job(jobId)], { account: provider.account }));
    commit = await gasOf(market.write.commit([jobId, jobs.job(jobId), c], { account: provider.account }));
  } else {
    commit = await gasOf(market.write.claimAndCommit([jobId, jobs.job(jobId), c], { account: provider.account }));
  }
  await networkHelpers.mine(params.seedDelay);
  const reveal = await gasOf(
    market.write.reveal([jobId, jobs.job(jobId), outputRoot, salt, "http://127.0.0.1:8600/blobs/" + outputRoot, "0x"], {
      account: provider.account,
    }),
  );
  const sampled = jobs.job(jobId).sampled;
  await networkHelpers.time.increase(params.challengeWindow + 1);
  const finalize = await gasOf(market.write.finalize([jobId, jobs.job(jobId)], { account: keeper.account }));
  return { post, claim, commit, reveal, finalize, sampled };
}

// Warm-up job: the first job pays one-time costs (first credit slot, first escrow balance) that no
// later job pays; the steady state is what every job after it costs.
await runJob(keccak256(toHex("warm-up")));
let job = await runJob(keccak256(toHex("measured")));
for (let i = 0; job.sampled && i < 20; i++) job = await runJob(keccak256(toHex(`measured ${i}`)));
if (job.sampled) throw new Error("every measured job was sampled: is samplingPpm 1e6?");
const claimFirst = await runJob(keccak256(toHex("claim first")), { claimFirst: true });
const lifecycle = job.post + job.commit + job.reveal + job.finalize;
const claimFirstLifecycle = claimFirst.post + claimFirst.claim + claimFirst.commit + claimFirst.reveal + claimFirst.finalize;

const withdraw = await gasOf(market.write.withdraw({ account: provider.account }));
await token.write.mint([keeper.account.address, parseEther("1000")]);
await token.write.approve([staking.address, parseEther("1000")], { account: keeper.account });
const stakeGas = await gasOf(staking.write.stake([parseEther("1000"), ROLE_PROVIDER | ROLE_VERIFIER], { account: keeper.account }));
const unbond = await gasOf(staking.write.requestUnbond([parseEther("10")], { account: keeper.account }));
await stake(sys, sys.stranger.account.address, parseEther("10"), ROLE_PROVIDER);

const ops: Record<string, number> = {
  postJob: Number(job.post),
  claimAndCommit: Number(job.commit),
  claim: Number(claimFirst.claim),
  commit: Number(claimFirst.commit),
  reveal: Number(job.reveal),
  finalize: Number(job.finalize),
  withdraw: Number(withdraw),
  stake: Number(stakeGas),
  requestUnbond: Number(unbond),
};

const TARGET = 250_000;
console.log("\nGas per operation (steady state, receipts' gasUsed incl. 21,000 base each)\n");
console.log("| operation | gas |\n|---|---:|");
for (const [name, gas] of Object.entries(ops)) console.log(`| ${name} | ${gas.toLocaleString("en-US")} |`);
console.log(`| **lifecycle** (post+claimAndCommit+reveal+finalize) | **${Number(lifecycle).toLocaleString("en-US")}** |`);
console.log(`| lifecycle, claim-first (post+claim+commit+reveal+finalize) | ${Number(claimFirstLifecycle).toLocaleString("en-US")} |`);
console.log(`\ntarget <= ${TARGET.toLocaleString("en-US")}: ${lifecycle <= TARGET ? "met" : "MISSED"}`);

const out = path.resolve("bench/results/gas.json");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, JSON.stringify(
    { ops, lifecycle: Number(lifecycle), lifecycleClaimFirst: Number(claimFirstLifecycle), target: TARGET, machine: machineInfo() },
    null,
    2,
  ) + "\n");
console.log(`wrote ${path.relative(process.cwd(), out)}`);
