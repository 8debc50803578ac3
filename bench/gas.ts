/**
 * Gas of one job's whole lifecycle and of each operation, on an in-process EDR chain deployed with
 * the same Ignition module and parameters as a local network.
 *
 *   npm run bench:gas        -> prints a table, writes bench/results/gas.json
 *
 * Every figure is a receipt's gasUsed: execution, calldata and the 21,000 base cost of the
 * transaction, after refunds.
 */
import { writeFile, mkdir } from "node:fs/promises";
import path from "node:path";

import { network } from "hardhat";
import { keccak256, parseEther, toHex, type Hash } from "viem";

import { commitment } from "../offchain/codec/commitment.js";
import { deploySystem, jobRequest, jobTracker, ROLE_PROVIDER, ROLE_VERIFIER, setUpMarket, stake } from "../test/helpers/fixture.js";
import { machineInfo } from "./machine.js";

const connection = await network.create();
const { networkHelpers } = connection;
const sys = await deploySystem(connection);
const { token, staking, market, dapp, provider, keeper, publicClient } = sys;
const { modelId } = await setUpMarket(sys);

const jobs = jobTracker(sys);
const gasOf = async (tx: Promise<Hash>) => (await jobs.send(tx)).gasUsed;
const chainId = BigInt(await publicClient.getChainId());
const params = await market.read.params();

/** Runs one job from post to finalize and returns each transaction's gas. */
async function runJob(salt: Hash) {
  const now = BigInt(await networkHelpers.time.latest());
  const post = await gasOf(market.write.postJob([jobRequest(modelId, now + 600n)], { account: dapp.account }));
  const jobId = await market.read.jobCount();
  const claim = await gasOf(market.write.claim([jobId, jobs.job(jobId)], { account: provider.account }));
  const outputRoot = keccak256(toHex(`output of ${jobId}`));
  const c = commitment({ chainId, jobMarket: market.address, jobId, provider: provider.account.address, outputRoot, salt });
  const commit = await gasOf(market.write.commit([jobId, jobs.job(jobId), c], { account: provider.account }));
  await networkHelpers.mine(params.seedDelay);
  const reveal = await gasOf(
    market.write.reveal([jobId, jobs.job(jobId), outputRoot, salt, "http://127.0.0.1:8600/blobs/" + outputRoot, "0x"], {
      account: provider.account,
    }),
  );
  await networkHelpers.time.increase(params.challengeWindow + 1);
  const finalize = await gasOf(market.write.finalize([jobId, jobs.job(jobId)], { account: keeper.account }));
  return { post, claim, commit, reveal, finalize };
}

// Warm-up job: the first job pays one-time costs (first credit slot, first escrow balance) that no
// later job pays; the steady state is what every job after it costs.
await runJob(keccak256(toHex("warm-up")));
const job = await runJob(keccak256(toHex("measured")));
const lifecycle = job.post + job.claim + job.commit + job.reveal + job.finalize;

const withdraw = await gasOf(market.write.withdraw({ account: provider.account }));
await token.write.mint([keeper.account.address, parseEther("1000")]);
await token.write.approve([staking.address, parseEther("1000")], { account: keeper.account });
const stakeGas = await gasOf(staking.write.stake([parseEther("1000"), ROLE_PROVIDER | ROLE_VERIFIER], { account: keeper.account }));
const unbond = await gasOf(staking.write.requestUnbond([parseEther("10")], { account: keeper.account }));
await stake(sys, sys.stranger.account.address, parseEther("10"), ROLE_PROVIDER);

const ops: Record<string, number> = {
  postJob: Number(job.post),
  claim: Number(job.claim),
  commit: Number(job.commit),
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
console.log(`| **lifecycle** (post+claim+commit+reveal+finalize) | **${Number(lifecycle).toLocaleString("en-US")}** |`);
console.log(`\ntarget <= ${TARGET.toLocaleString("en-US")}: ${lifecycle <= TARGET ? "met" : "MISSED"}`);

const out = path.resolve("bench/results/gas.json");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, JSON.stringify({ ops, lifecycle: Number(lifecycle), target: TARGET, machine: machineInfo() }, null, 2) + "\n");
console.log(`wrote ${path.relative(process.cwd(), out)}`);
