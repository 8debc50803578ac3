/**
 * Gas of every operation of the protocol and of each path a job can take, on an in-process EDR chain
 * deployed with the same Ignition module and local terms as a local network.
 *
 *   npm run bench:gas        -> prints a table, writes bench/results/gas.json
 *
 * Every figure is a receipt's gasUsed: execution, calldata and the 21,000 base cost of the
 * transaction, after refunds (views: eth_estimateGas of a call).
 *
 * Paths (docs/PROTOCOL.md section 4):
 * - unsampled (95% of jobs at the local 5%): post, claimAndCommit, reveal, finalize. This is the path
 *   `dinfer worker` takes by default (run first, then claimAndCommit); issue 10 requires it to stay at or
 *   below 250,000. The claim-first variant (claim, then commit) is measured too.
 * - a consumer contract's job (contracts/test/GoodConsumer): posted with a callback and inlineOutput,
 *   revealed inline, finalized with the output handed to the callback.
 * - sampled: the unsampled path plus the auditor's commitAudit and revealAudit (Agree), and a finalize that pays
 *   the audit reward (Verification.onSampledFinalize).
 * - disputed: a sampled job whose auditor disagrees, a committee of 3 seats drawn, each member's vote
 *   committed and revealed, resolved as faulted; and a challenged job resolved as upheld.
 * - expired: a missed commit (expiry penalty) and a withheld sampled reveal (whole collateral).
 * - staking: a provider's stake, a verifier's stake (Fenwick tree writes: one checkpoint per level),
 *   weight changes, leaving, slot reuse, and a draw.
 * Everything runs under the local terms as they are (sampling 5%): a sampled job is found by committing
 * jobs until one's seed samples it (the others are finalized); the challenge path runs under a second
 * terms version with sampling off.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { network } from "hardhat";
import { encodeFunctionData, parseEther, toHex, type TransactionReceipt } from "viem";

import { deploySystem, ROLE_PROVIDER, ROLE_VERIFIER, setUpMarket, stake, VERIFIER_STAKE } from "../test/helpers/fixture.js";
import { inlineRoot, marketDriver, type MarketParams } from "../test/helpers/market.js";
import { Verdict, verificationDriver, Vote } from "../test/helpers/verification.js";
import { machineInfo } from "./machine.js";

const TARGET = 250_000;

const connection = await network.create();
const { networkHelpers, viem } = connection;
const local = JSON.parse(await readFile("ignition/parameters/local.json", "utf8")).DinferLocal;
const localMarket: MarketParams = local.marketParams;
const sys = await deploySystem(connection, { marketParams: localMarket });
const { token, staking, market, terms, verification, dapp, provider, keeper, owner, challenger } = sys;
await setUpMarket(sys, { providerStake: parseEther("100000") });
const wallets = await viem.getWalletClients();
const d = marketDriver({ connection, ...sys });
const v = verificationDriver({ connection, sys, d, wallets });

const gas = (receipt: TransactionReceipt) => Number(receipt.gasUsed);
const ops: Record<string, number> = {};
const record = (name: string, receipt: TransactionReceipt) => (ops[name] = gas(receipt));

/** Posts a job (the dApp) and returns its id with the post's gas. */
async function post() {
  const receipt = await d.jobs.send(market.write.postJob([await d.request()], { account: dapp.account }));
  return { jobId: await market.read.jobCount(), post: gas(receipt) };
}

/**
 * A job committed by claimAndCommit whose seed samples it (the seed block mined), found by trying jobs one
 * by one: each one its seed does not sample is revealed and finalized.
 */
async function sampledJob() {
  for (let tries = 0; tries < 400; tries++) {
    const { jobId, post: postGas } = await post();
    const commit = gas(await d.claimAndCommit(jobId));
    await d.waitForSeed(jobId);
    await networkHelpers.mine(1);
    const [, sampled] = await market.read.samplingOf([jobId, d.jobs.job(jobId).commitBlock, BigInt(d.jobs.job(jobId).terms)]);
    if (sampled) return { jobId, post: postGas, commit };
    await d.reveal(jobId);
    await d.finalize(jobId);
  }
  throw new Error("no job sampled in 400 tries");
}

/** The committee's members, each once (seats are drawn with replacement: a member may hold several). */
async function voters(jobId: bigint) {
  const unique = new Map((await v.committee(jobId)).map((m) => [m.account.address, m]));
  return [...unique.values()];
}

/** Runs one job from post to finalize; `claimFirst`: claim, then commit. */
async function runJob({ claimFirst = false } = {}) {
  const { jobId, post: postGas } = await post();
  let claim = 0;
  let commit: number;
  if (claimFirst) {
    claim = gas(await d.claim(jobId));
    commit = gas(await d.commit(jobId));
  } else {
    commit = gas(await d.claimAndCommit(jobId));
  }
  const reveal = gas(await d.reveal(jobId));
  const sampled = d.jobs.job(jobId).sampled;
  const finalize = gas(await d.finalize(jobId));
  return { post: postGas, claim, commit, reveal, finalize, sampled };
}

// ---------------------------------------------------------------- the unsampled lifecycle
// Warm-up job: the first job pays one-time costs (first credit slot, first escrow balance, first
// protocol-fee and audit-pool values) that no later job pays; the steady state is what every job after it costs.
await runJob();
let job = await runJob();
for (let i = 0; job.sampled && i < 20; i++) job = await runJob();
if (job.sampled) throw new Error("every measured job was sampled: is samplingPpm 1e6?");
let claimFirst = await runJob({ claimFirst: true });
for (let i = 0; claimFirst.sampled && i < 20; i++) claimFirst = await runJob({ claimFirst: true });
const lifecycle = job.post + job.commit + job.reveal + job.finalize;
const lifecycleClaimFirst = claimFirst.post + claimFirst.claim + claimFirst.commit + claimFirst.reveal + claimFirst.finalize;
Object.assign(ops, {
  postJob: job.post,
  claimAndCommit: job.commit,
  claim: claimFirst.claim,
  commit: claimFirst.commit,
  reveal: job.reveal,
  finalize: job.finalize,
});
record("withdraw (market credits)", await d.jobs.send(market.write.withdraw({ account: provider.account })));
record("withdrawProtocolFees", await d.jobs.send(market.write.withdrawProtocolFees([owner.account.address], { account: owner.account })));

// ---------------------------------------------------------------- a consumer contract's job: inline output, callback
{
  const consumer = await viem.deployContract("GoodConsumer", [market.address, token.address]);
  await token.write.mint([consumer.address, parseEther("100")]);
  const output = toHex(new Uint8Array(43).fill(7)); // a cls output's size
  let jobId = 0n;
  for (let i = 0; i < 20; i++) {
    const request = await d.request({ callbackGasLimit: 50_000, inlineOutput: true });
    const receipt = await d.jobs.send(consumer.write.post([request], { account: dapp.account }));
    jobId = await market.read.jobCount();
    ops["postJob (from a consumer contract, callback and inline output)"] = gas(receipt);
    await d.claimAndCommit(jobId, { outputRoot: inlineRoot(output) });
    const revealed = await d.reveal(jobId, { inlineOutput: output });
    if (!d.jobs.job(jobId).sampled) {
      ops["reveal (inline output, 43 bytes)"] = gas(revealed);
      break;
    }
    await d.finalize(jobId); // a sampled one with no verifier staked yet: paid as it is
  }
  await d.pastDeadline(jobId);
  record("finalizeWithOutput (callback of a 43-byte output)", await d.jobs.send(
    market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), output], { account: keeper.account }),
  ));
}

// ---------------------------------------------------------------- expiry
{
  const { jobId } = await post();
  await d.claim(jobId);
  await d.pastDeadline(jobId);
  record("expire (claimed: expiry penalty)", await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account })));
}

// ---------------------------------------------------------------- staking and the verifier set
await token.write.mint([keeper.account.address, parseEther("1000")]);
await token.write.approve([staking.address, parseEther("1000")], { account: keeper.account });
record("stake (provider)", await d.jobs.send(staking.write.stake([parseEther("1000"), ROLE_PROVIDER], { account: keeper.account })));
record("requestUnbond (provider)", await d.jobs.send(staking.write.requestUnbond([parseEther("10")], { account: keeper.account })));
await networkHelpers.time.increase(Number(local.stakingParams.unbondingPeriod) + 1);
record("withdraw (staking, after unbonding)", await d.jobs.send(staking.write.withdraw({ account: keeper.account })));

const verifiers = wallets.slice(8, 14);
for (const [i, w] of verifiers.entries()) {
  await token.write.mint([w.account.address, VERIFIER_STAKE * 2n]);
  await token.write.approve([staking.address, VERIFIER_STAKE * 2n], { account: w.account });
  const receipt = await d.jobs.send(staking.write.stake([VERIFIER_STAKE, ROLE_VERIFIER], { account: w.account }));
  if (i === 0) record("stake (verifier, first member: fresh tree nodes)", receipt);
  if (i === verifiers.length - 1) record("stake (verifier, a later member)", receipt);
}
const member = verifiers[0]!;
record("stake (verifier top-up: re-weigh)", await d.jobs.send(staking.write.stake([VERIFIER_STAKE, ROLE_VERIFIER], { account: member.account })));
record("requestUnbond (verifier: re-weigh)", await d.jobs.send(staking.write.requestUnbond([parseEther("10")], { account: member.account })));
record("syncVerifier (no change)", await d.jobs.send(staking.write.syncVerifier([member.account.address], { account: keeper.account })));
const leaver = verifiers[1]!;
record("setRoles (verifier leaves: weight to zero, slot freed)", await d.jobs.send(staking.write.setRoles([0], { account: leaver.account })));
record("setRoles (verifier rejoins: freed slot reused)", await d.jobs.send(staking.write.setRoles([ROLE_VERIFIER], { account: leaver.account })));
const latest = await sys.publicClient.getBlockNumber();
ops["drawVerifier (call, 6 members, 2 excluded)"] = Number(
  await sys.publicClient.estimateGas({
    to: staking.address,
    data: encodeFunctionData({
      abi: staking.abi,
      functionName: "drawVerifier",
      args: [12345n, latest, [provider.account.address, dapp.account.address]],
    }),
  }),
);

// The audit pool pays audit rewards and voter pay: fund it for the paths below.
await token.write.mint([owner.account.address, parseEther("100")]);
await token.write.approve([market.address, parseEther("100")], { account: owner.account });
record("fundAuditPool", await d.jobs.send(market.write.fundAuditPool([parseEther("100")], { account: owner.account })));

// ---------------------------------------------------------------- the sampled path
let sampledLifecycle: Record<string, number>;
{
  const { jobId, post: postGas, commit } = await sampledJob();
  const commitAudit = gas(await v.commitAudit(jobId));
  const reveal = gas(await d.reveal(jobId));
  if (!d.jobs.job(jobId).sampled) throw new Error("the sampled path's job was not sampled");
  const revealAudit = gas(await v.revealAudit(jobId, { verdict: Verdict.Agree }));
  const finalize = gas(await d.finalize(jobId));
  sampledLifecycle = { postJob: postGas, claimAndCommit: commit, commitAudit, reveal, revealAudit, finalize };
  Object.assign(ops, {
    "commitAudit (auditor, blind)": commitAudit,
    "reveal (sampled, audit committed)": reveal,
    "revealAudit (Agree, same root)": revealAudit,
    "finalize (sampled: audit reward paid)": finalize,
  });
}

// ---------------------------------------------------------------- the disputed path: the auditor disagrees, the provider is faulted
let disputedPath: Record<string, number>;
{
  const { jobId, post: postGas, commit } = await sampledJob();
  const output = v.auditOutput(jobId, { agree: false });
  const commitAudit = gas(await v.commitAudit(jobId, { output }));
  const reveal = gas(await d.reveal(jobId));
  const revealAudit = gas(await v.revealAudit(jobId, { output, verdict: Verdict.Disagree }));
  const drawCommittee = gas(await v.drawCommittee(jobId));
  const seats = (await verification.read.dispute([jobId])).committee.length;
  const members = await voters(jobId);
  const commitVotes = [];
  for (const m of members) commitVotes.push(gas(await v.commitVote(jobId, m, Vote.ProviderWrong)));
  const revealVotes = [];
  for (const m of members) revealVotes.push(gas(await v.revealVote(jobId, m, Vote.ProviderWrong)));
  const resolve = gas(await v.resolve(jobId));
  disputedPath = {
    postJob: postGas,
    claimAndCommit: commit,
    commitAudit,
    reveal,
    revealAudit,
    drawCommittee,
    commitVote: Math.max(...commitVotes),
    revealVote: Math.max(...revealVotes),
    resolve,
  };
  Object.assign(ops, {
    "revealAudit (Disagree: opens a dispute)": revealAudit,
    [`drawCommittee (${seats} seats, ${members.length} members)`]: drawCommittee,
    commitVote: Math.max(...commitVotes),
    revealVote: Math.max(...revealVotes),
    "resolve (faulted: slash, finder's share, voter pay from the pool)": resolve,
  });
  disputedPath.total = postGas + commit + commitAudit + reveal + revealAudit + drawCommittee +
    commitVotes.reduce((a, b) => a + b, 0) + revealVotes.reduce((a, b) => a + b, 0) + resolve;
}

// ---------------------------------------------------------------- a withheld sampled reveal
{
  const { jobId } = await sampledJob();
  await v.commitAudit(jobId);
  await d.pastDeadline(jobId);
  record("expire (withheld sampled reveal: whole collateral split)", await d.jobs.send(
    market.write.expire([jobId, d.jobs.job(jobId)], { account: keeper.account }),
  ));
}

// ---------------------------------------------------------------- a challenge, upheld (terms version 2: sampling off)
record("ProtocolTerms.setParams (new version, adopted by the market)", await d.jobs.send(
  terms.write.setParams([{ ...localMarket, samplingPpm: 0 }], { account: owner.account }),
));
{
  const bond = BigInt(local.verificationParams.challengeBond);
  await token.write.mint([challenger.account.address, bond]);
  await token.write.approve([verification.address, bond], { account: challenger.account });
  const { jobId } = await post();
  await d.claimAndCommit(jobId);
  await d.reveal(jobId);
  record("JobMarket.announceOutput (another location)", await d.jobs.send(
    market.write.announceOutput([jobId, d.jobs.job(jobId), "ipfs://bafy-output"], { account: provider.account }),
  ));
  record("challenge (bond)", await v.challenge(jobId, challenger));
  await v.drawCommittee(jobId);
  const members = await voters(jobId);
  for (const m of members) await v.commitVote(jobId, m, Vote.ProviderCorrect);
  for (const m of members) await v.revealVote(jobId, m, Vote.ProviderCorrect);
  record("resolve (upheld: provider paid, bond split, voter pay out of the bond)", await v.resolve(jobId));
  if ((await verification.read.credits([provider.account.address])) !== 0n) {
    record("Verification.withdraw (the provider's share of the bond)", await d.jobs.send(verification.write.withdraw({ account: provider.account })));
  }
}
await stake(sys, sys.stranger.account.address, parseEther("10"), ROLE_PROVIDER);

// ---------------------------------------------------------------- report
const fmt = (n: number) => n.toLocaleString("en-US");
console.log("\nGas per operation (steady state, receipts' gasUsed incl. 21,000 base each)\n");
console.log("| operation | gas |\n|---|---:|");
for (const [name, g] of Object.entries(ops)) console.log(`| ${name} | ${fmt(g)} |`);
console.log(`| **lifecycle, unsampled** (post+claimAndCommit+reveal+finalize) | **${fmt(lifecycle)}** |`);
console.log(`| lifecycle, unsampled, claim-first (post+claim+commit+reveal+finalize) | ${fmt(lifecycleClaimFirst)} |`);
const sampledTotal = Object.values(sampledLifecycle).reduce((a, b) => a + b, 0);
console.log(`| lifecycle, sampled (+ commitAudit, revealAudit, reward at finalize) | ${fmt(sampledTotal)} |`);
console.log(`| disputed path (audit disagrees, committee votes, faulted) | ${fmt(disputedPath.total!)} |`);
console.log(`\nunsampled lifecycle target <= ${fmt(TARGET)}: ${lifecycle <= TARGET ? "met" : "MISSED"}`);

const out = path.resolve("bench/results/gas.json");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(
  out,
  JSON.stringify(
    {
      ops,
      lifecycle,
      lifecycleClaimFirst,
      sampled: { ...sampledLifecycle, total: sampledTotal },
      disputed: disputedPath,
      target: TARGET,
      machine: machineInfo(),
    },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
if (lifecycle > TARGET) process.exitCode = 1;
