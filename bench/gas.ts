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
 * - a signed request (EIP-712): the provider's postSignedAndCommit (post and commit in one transaction, the fee
 *   from the dApp's deposit), reveal, finalize: the cheapest lone job (issue 13's UNBATCHED_BAR).
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
 * - a provider's multicall: claimAndCommit, reveal and finalize of 8 jobs, one transaction per job and step, or
 *   one JobMarket.multicall per step (gas per job both ways); claims in one tryMulticall, as the worker sends
 *   them, and the gas a lost (skipped) claim adds to such a group.
 * - batches (issue 13, contracts/BatchMarket.sol): perJob at 1, 8, 32 and 128 jobs (see the section for what
 *   it sums), with its bars (BATCH_BARS); a batch's sampled job and a batch's challenged job, split out and
 *   settled through the JobMarket; and the unbatched lifecycle posted from a deposit (postJobFromDeposit) against
 *   UNBATCHED_BAR. The bench exits non-zero when any bar is missed.
 * - redundant jobs (issue 14, contracts/ReplicaMarket.sol): an agreement at k = 2 and 3 seats and a k = 3
 *   disagreement, every seat's commit and reveal, the settle, and the total per seat.
 * Everything runs under the local terms as they are (sampling 5%): a sampled job is found by committing
 * jobs until one's seed samples it (the others are finalized); the challenge path runs under a second
 * terms version with sampling off.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { network } from "hardhat";
import { encodeFunctionData, keccak256, parseEther, toHex, type TransactionReceipt } from "viem";

import { JobStatus } from "../offchain/chain/jobs.js";
import { commitment } from "../offchain/codec/commitment.js";
import { deploySystem, FEE, ROLE_PROVIDER, ROLE_VERIFIER, setUpMarket, stake, VERIFIER_STAKE } from "../test/helpers/fixture.js";
import { inlineRoot, marketDriver, type MarketParams } from "../test/helpers/market.js";
import { Verdict, verificationDriver, Vote } from "../test/helpers/verification.js";
import { batchDriver } from "../test/helpers/batch.js";
import { machineInfo } from "./machine.js";

const TARGET = 250_000;
/** Issue 13's bars: gas per job of a batch (see the batched section) and the unbatched lifecycle. */
const BATCH_BARS: Record<number, number> = { 32: 30_000, 128: 10_000 };
const UNBATCHED_BAR = 200_000;
const BATCH_SIZES = [1, 8, 32, 128];
/** A redundant job's fee per seat (the fixture's fee of a job). */
const FEE_PER_SEAT = FEE;

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
async function post({ fromDeposit = false } = {}) {
  const request = await d.request();
  const receipt = await d.jobs.send(
    fromDeposit
      ? market.write.postJobFromDeposit([request], { account: dapp.account })
      : market.write.postJob([request], { account: dapp.account }),
  );
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
async function runJob({ claimFirst = false, fromDeposit = false } = {}) {
  const { jobId, post: postGas } = await post({ fromDeposit });
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
// The same job posted from the dApp's deposit (postJobFromDeposit: no token transfer per post).
record("deposit (JobMarket, the dApp's, once for many jobs)", await d.jobs.send(market.write.deposit([parseEther("1000")], { account: dapp.account })));
let fromDeposit = await runJob({ fromDeposit: true });
for (let i = 0; fromDeposit.sampled && i < 20; i++) fromDeposit = await runJob({ fromDeposit: true });
const lifecycleFromDeposit = fromDeposit.post + fromDeposit.commit + fromDeposit.reveal + fromDeposit.finalize;
ops["postJobFromDeposit"] = fromDeposit.post;
// A signed request (EIP-712) the provider posts with its commitment (postSignedAndCommit), the fee from the
// dApp's deposit: one transaction fewer per lone job. Steady state: the second of two unsampled ones.
let signed = { post: 0, reveal: 0, finalize: 0, sampled: true };
for (let i = 0; (i < 2 || signed.sampled) && i < 20; i++) {
  const { jobId, receipt } = await d.postSignedAndCommit();
  const reveal = gas(await d.reveal(jobId));
  const sampledNow = d.jobs.job(jobId).sampled;
  signed = { post: gas(receipt), reveal, finalize: sampledNow ? 0 : gas(await d.finalize(jobId)), sampled: sampledNow };
}
if (signed.sampled) throw new Error("every signed job was sampled");
ops["postSignedAndCommit (a signed request, by the provider, fee from the deposit)"] = signed.post;
ops["reveal (a signed job)"] = signed.reveal;
ops["finalize (a signed job)"] = signed.finalize;
const lifecycleSigned = signed.post + signed.reveal + signed.finalize;
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
    // A sampled one with no verifier staked yet: paid as it is (with its output: it was posted for a callback).
    await d.pastDeadline(jobId);
    await d.jobs.send(market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), output], { account: keeper.account }));
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

// ---------------------------------------------------------------- a provider's steps grouped by multicall (sampling off)
// One provider serving MULTICALL_JOBS separately posted jobs: its claimAndCommit, reveal and finalize of each job
// sent one by one, against the same steps of as many jobs grouped into one JobMarket.multicall per step (one
// 21,000 base cost per group). Figures per job: a step's gas summed over the jobs (one by one) or the group's
// gas (grouped), divided by the jobs.
const MULTICALL_JOBS = 8;
type StepGas = { claimAndCommit: number; reveal: number; finalize: number; total: number };
const multicallRuns: { oneByOne?: StepGas; grouped?: StepGas } = {};
/** claimAndCommit per job in one tryMulticall of MULTICALL_JOBS claims, and the gas a skipped (lost) claim adds to such a group. */
let claimsTriedPerJob = 0;
let lostClaimGas = 0;
{
  const perJob = (n: number) => Math.round(n / MULTICALL_JOBS);
  const stepGas = (claimAndCommit: number, reveal: number, finalize: number): StepGas => ({
    claimAndCommit: perJob(claimAndCommit),
    reveal: perJob(reveal),
    finalize: perJob(finalize),
    total: perJob(claimAndCommit + reveal + finalize),
  });
  const postMany = async () => {
    const ids: bigint[] = [];
    for (let i = 0; i < MULTICALL_JOBS; i++) ids.push((await post()).jobId);
    return ids;
  };

  const single = await postMany();
  let [commits, reveals, finals] = [0, 0, 0];
  for (const id of single) commits += gas(await d.claimAndCommit(id));
  for (const id of single) reveals += gas(await d.reveal(id));
  for (const id of single) finals += gas(await d.finalize(id, provider));
  if (single.some((id) => d.jobs.job(id).status !== JobStatus.Finalized)) throw new Error("a job sent one by one was not finalized");
  multicallRuns.oneByOne = stepGas(commits, reveals, finals);

  const grouped = await postMany();
  const group = async (calls: Promise<`0x${string}`>[]) =>
    gas(await d.jobs.send(market.write.multicall([await Promise.all(calls)], { account: provider.account })));
  const claimAndCommitCall = async (id: bigint) =>
    encodeFunctionData({ abi: market.abi, functionName: "claimAndCommit", args: [id, d.jobs.job(id), await d.commitmentOf(id, d.outputOf(id))] });
  commits = await group(grouped.map(claimAndCommitCall));
  await d.waitForSeed(grouped.at(-1)!);
  reveals = await group(grouped.map(async (id) => encodeFunctionData({ abi: market.abi, functionName: "reveal", args: d.revealArgs(id) })));
  await d.pastDeadline(grouped.at(-1)!);
  finals = await group(grouped.map(async (id) => encodeFunctionData({ abi: market.abi, functionName: "finalize", args: [id, d.jobs.job(id)] })));
  if (grouped.some((id) => d.jobs.job(id).status !== JobStatus.Finalized)) throw new Error("a grouped job was not finalized");
  multicallRuns.grouped = stepGas(commits, reveals, finals);

  // Claims as the worker groups them: one JobMarket.tryMulticall, where a call that reverts (a rival's claim
  // mined first) is skipped and the others go on. And what such a lost claim costs the group: 7 claims and a
  // stale one (a job the group already claimed: the JobMismatch a rival's claim leaves) against 7 claims alone.
  const tried = await postMany();
  claimsTriedPerJob = perJob(gas(await d.jobs.send(market.write.tryMulticall([await Promise.all(tried.map(claimAndCommitCall))], { account: provider.account }))));
  const [withLost, without] = [await postMany(), await postMany()];
  const lostCalls = await Promise.all(withLost.slice(1).map(claimAndCommitCall));
  const staleCall = await claimAndCommitCall(withLost[0]!);
  await d.claimAndCommit(withLost[0]!);
  const withLostGas = gas(await d.jobs.send(market.write.tryMulticall([[...lostCalls, staleCall]], { account: provider.account })));
  if (d.jobs.job(withLost[1]!).status !== JobStatus.Committed) throw new Error("a tried claim did not commit");
  const withoutGas = gas(await d.jobs.send(market.write.tryMulticall([await Promise.all(without.slice(1).map(claimAndCommitCall))], { account: provider.account })));
  lostClaimGas = withLostGas - withoutGas;
}

// ---------------------------------------------------------------- batches (terms version 2: sampling off)
// perJob (issue 13's bar): all gas of postBatch + claimAndCommitBatch + revealBatch + finalizeBatch + the
// provider's withdraw (after every batch), divided by the batch's jobs; the dApp has nothing to withdraw (no
// refunds). "perJob, all in" adds the dApp's deposit (sized for this one batch: nothing amortized over other
// batches) and a sweep of the audit levy to the JobMarket's pool after every batch (anyone's, whenever). 66-character ipfs:// input URIs and 32-byte keccak input hashes. Measured under terms with sampling
// off: these are the figures of a batch's unsampled jobs; a sampled job is split out and takes the JobMarket's
// audited path (measured below, per job, as "batch: sampled job, extra"). The expected cost per job at a
// sampling rate s is perJob + s x that extra.
const b = batchDriver({ connection, sys, d });
const batchRuns: Record<string, Record<string, number>> = {};
let batchDisputed: Record<string, number> = {};
async function runBatch(count: number) {
  const fund = gas(await b.fund(BigInt(count) * parseEther("10")));
  const batchId = await b.post(count);
  const post = Number((await sys.publicClient.getTransactionReceipt({ hash: (await sys.batchMarket.getEvents.BatchPosted({ batchId }, { fromBlock: 0n }))[0]!.transactionHash! })).gasUsed);
  const commit = gas(await b.claimAndCommit(batchId));
  await b.waitForSeed(batchId);
  const reveal = gas(await b.reveal(batchId));
  const finalize = gas(await b.finalize(batchId));
  const sweep = gas(await b.send(sys.batchMarket.write.sweepAuditLevy({ account: keeper.account })));
  const withdraw = gas(await b.send(sys.batchMarket.write.withdraw({ account: provider.account })));
  const total = post + commit + reveal + finalize + withdraw;
  const allIn = total + fund + sweep;
  return {
    batchId,
    figures: {
      postBatch: post,
      claimAndCommitBatch: commit,
      revealBatch: reveal,
      finalizeBatch: finalize,
      "withdraw (provider)": withdraw,
      total,
      perJob: Math.round(total / count),
      deposit: fund,
      sweepAuditLevy: sweep,
      "perJob, all in": Math.round(allIn / count),
    },
  };
}
await runBatch(4); // warm-up: first deposit slot, the terms copy, first protocol-fee value
for (const count of BATCH_SIZES) batchRuns[String(count)] = (await runBatch(count)).figures;

// A job split out of a batch to be challenged: the split and the JobMarket's finalize of it (the challenge and
// the dispute are the JobMarket's, measured above).
{
  await b.fund(parseEther("80"));
  const batchId = await b.post(8);
  await b.claimAndCommit(batchId);
  await b.waitForSeed(batchId);
  await b.reveal(batchId);
  const split = gas(await b.splitRevealed(batchId, 3));
  ops["batch: splitRevealed (a job out, to be challenged)"] = split;
  // The disputed path of a batch's job: split out, challenged, voted wrong, slashed (the JobMarket's path).
  const jobId = b.batch(batchId).firstJobId + 3n;
  const bond = BigInt(local.verificationParams.challengeBond);
  await token.write.mint([challenger.account.address, bond]);
  await token.write.approve([verification.address, bond], { account: challenger.account });
  const challenge = gas(await v.challenge(jobId, challenger));
  const drawCommittee = gas(await v.drawCommittee(jobId));
  const members = await voters(jobId);
  let votes = 0;
  for (const m of members) votes += gas(await v.commitVote(jobId, m, Vote.ProviderWrong));
  for (const m of members) votes += gas(await v.revealVote(jobId, m, Vote.ProviderWrong));
  const resolve = gas(await v.resolve(jobId));
  batchDisputed = { splitRevealed: split, challenge, drawCommittee, votes, resolve, total: split + challenge + drawCommittee + votes + resolve };
  await b.finalize(batchId);
}
// The sampled path of a batch's job: terms version 3 samples every job.
record("ProtocolTerms.setParams (version 3: sampling 5%)", await d.jobs.send(
  terms.write.setParams([{ ...localMarket }], { account: owner.account }),
));
let batchSampled: Record<string, number> = {};
{
  let found = false;
  for (let tries = 0; tries < 20 && !found; tries++) {
    await b.fund(parseEther("80"));
    const batchId = await b.post(8);
    await b.claimAndCommit(batchId);
    await b.waitForSeed(batchId);
    const sampled = await b.sampled(batchId);
    if (sampled.length === 0) {
      await b.reveal(batchId);
      await b.finalize(batchId);
      continue;
    }
    found = true;
    const index = sampled[0]!;
    const jobId = b.batch(batchId).firstJobId + BigInt(index);
    const split = gas(await b.splitSampled(batchId, index));
    for (const i of sampled.slice(1)) await b.splitSampled(batchId, i);
    const commitAudit = gas(await v.commitAudit(jobId));
    const reveal = gas(await d.reveal(jobId, { salt: b.saltOf(jobId) }));
    const revealAudit = gas(await v.revealAudit(jobId, { verdict: Verdict.Agree }));
    const finalize = gas(await d.finalize(jobId));
    batchSampled = { splitSampled: split, commitAudit, reveal, revealAudit, finalize };
    batchSampled.extra = split + reveal + finalize;
    batchSampled.total = batchSampled.extra + commitAudit + revealAudit;
  }
  if (!found) throw new Error("no batch job sampled in 20 batches of 8");
}

// Redundant jobs (contracts/ReplicaMarket.sol, issue 14): a job posted once for k seats, each seat's blind
// commit and reveal, and the settle of an agreement (every seat paid) or of a disagreement (every revealed
// seat imported into the JobMarket with its committee dispute opened; the committees' votes are the disputed
// path's, measured above). Local terms (5% sampling): an agreement whose seed samples it goes to committees
// like a disagreement, so agreements are posted until one is not sampled.
const replicaRuns: Record<string, Record<string, number>> = {};
{
  const rm = sys.replicaMarket;
  const seats = [provider, sys.provider2, sys.stranger];
  for (const w of seats.slice(1)) await stake(sys, w.account.address, parseEther("100000"), ROLE_PROVIDER);
  await token.write.approve([rm.address, 2n ** 256n - 1n], { account: dapp.account });
  const chainId = BigInt(await sys.publicClient.getChainId());
  const rootOf = (id: bigint, honest: boolean) => keccak256(toHex(honest ? `the output of ${id}` : `a made-up output of ${id}`));
  const saltOf = (id: bigint, i: number) => keccak256(toHex(`salt ${id} ${i}`));
  const send = async (tx: Promise<`0x${string}`>) => sys.publicClient.waitForTransactionReceipt({ hash: await tx });
  const noConstraints = { allowlist: [], region: "0x0000000000000000", executionProviders: 0, minReputationPpm: 0 } as const;
  /** Posts a k-seat job, commits and reveals every seat (the last one made up when `disagree`), settles. */
  async function runReplicaJob(k: number, disagree: boolean) {
    const now = BigInt(await networkHelpers.time.latest());
    const request = { modelId: 1n, feePerReplica: FEE_PER_SEAT, claimBy: now + 600n, replicas: k, inputHash: keccak256(toHex("input")), inputURI: "http://127.0.0.1:8600/blobs/input", constraints: noConstraints };
    const postGas = gas(await send(rm.write.post([request], { account: dapp.account })));
    const id = await rm.read.replicaJobCount();
    const commits: number[] = [];
    const reveals: number[] = [];
    for (const [i, w] of seats.slice(0, k).entries()) {
      const root = rootOf(id, !(disagree && i === k - 1));
      const c = commitment({ chainId, jobMarket: rm.address, jobId: id, provider: w.account.address, outputRoot: root, salt: saltOf(id, i) });
      commits.push(gas(await send(rm.write.commit([id, c], { account: w.account }))));
    }
    for (const [i, w] of seats.slice(0, k).entries()) {
      const root = rootOf(id, !(disagree && i === k - 1));
      reveals.push(gas(await send(rm.write.reveal([id, root, saltOf(id, i), `http://provider/${id}`], { account: w.account }))));
    }
    await networkHelpers.mine(localMarket.seedDelay + 1);
    const settleGas = gas(await send(rm.write.settle([id], { account: keeper.account })));
    const status = (await rm.read.replicaJob([id])).status;
    const withdraw = disagree ? 0 : gas(await send(rm.write.withdraw({ account: provider.account })));
    const figures = {
      post: postGas,
      "commit (first seat)": commits[0]!,
      ...(k > 2 ? { "commit (a middle seat)": commits[1]! } : {}),
      "commit (last seat: seals the job)": commits[k - 1]!,
      "reveal (per seat)": Math.round(reveals.reduce((a, b) => a + b, 0) / k),
      settle: settleGas,
      ...(disagree ? {} : { "withdraw (a seat)": withdraw }),
    };
    const total = postGas + commits.reduce((a, b) => a + b, 0) + reveals.reduce((a, b) => a + b, 0) + settleGas + (disagree ? 0 : withdraw * k);
    return { status, figures: { ...figures, total, perSeat: Math.round(total / k) } };
  }
  const AGREED = 2;
  const DISPUTED = 3;
  await runReplicaJob(2, false); // warm-up: the first credits, protocol fee and audit pool writes of the contract
  for (const k of [2, 3]) {
    let run = await runReplicaJob(k, false);
    for (let tries = 0; run.status !== AGREED && tries < 20; tries++) run = await runReplicaJob(k, false);
    if (run.status !== AGREED) throw new Error(`no k = ${k} agreement left unsampled in 20 tries`);
    replicaRuns[`agreed, k = ${k}`] = run.figures;
  }
  const disagreement = await runReplicaJob(3, true);
  if (disagreement.status !== DISPUTED) throw new Error(`a k = 3 disagreement settled as status ${disagreement.status}, not Disputed`);
  replicaRuns["disagreement, k = 3 (every seat to a committee)"] = disagreement.figures;
}

// ---------------------------------------------------------------- report
const fmt = (n: number) => n.toLocaleString("en-US");
console.log("\nGas per operation (steady state, receipts' gasUsed incl. 21,000 base each)\n");
console.log("| operation | gas |\n|---|---:|");
for (const [name, g] of Object.entries(ops)) console.log(`| ${name} | ${fmt(g)} |`);
console.log(`| **lifecycle, unsampled** (post+claimAndCommit+reveal+finalize) | **${fmt(lifecycle)}** |`);
console.log(`| lifecycle, unsampled, posted from a deposit (postJobFromDeposit+claimAndCommit+reveal+finalize) | ${fmt(lifecycleFromDeposit)} |`);
console.log(`| lifecycle, unsampled, a signed request (postSignedAndCommit+reveal+finalize) | ${fmt(lifecycleSigned)} |`);
console.log(`| lifecycle, unsampled, claim-first (post+claim+commit+reveal+finalize) | ${fmt(lifecycleClaimFirst)} |`);
const sampledTotal = Object.values(sampledLifecycle).reduce((a, b) => a + b, 0);
console.log(`| lifecycle, sampled (+ commitAudit, revealAudit, reward at finalize) | ${fmt(sampledTotal)} |`);
console.log(`| disputed path (audit disagrees, committee votes, faulted) | ${fmt(disputedPath.total!)} |`);
console.log(`\nunsampled lifecycle target <= ${fmt(TARGET)}: ${lifecycle <= TARGET ? "met" : "MISSED"}`);

console.log(`\nA provider's steps of ${MULTICALL_JOBS} jobs, one transaction each or grouped by JobMarket.multicall (gas per job; sampling off)\n`);
console.log("| sent | claimAndCommit | reveal | finalize | total |\n|---|---:|---:|---:|---:|");
for (const [name, g] of Object.entries(multicallRuns)) {
  console.log(`| ${name === "grouped" ? "grouped (one multicall per step)" : "one by one"} | ${fmt(g.claimAndCommit)} | ${fmt(g.reveal)} | ${fmt(g.finalize)} | ${fmt(g.total)} |`);
}
console.log(`\nclaimAndCommit of ${MULTICALL_JOBS} jobs in one tryMulticall (as the worker claims): ${fmt(claimsTriedPerJob)} per job; a claim in it that lost its race (skipped) adds ${fmt(lostClaimGas)} to the group`);

console.log("\nBatches (BatchMarket; sampling off: a batch's unsampled jobs; perJob = all gas / jobs, see bench/gas.ts)\n");
const steps = Object.keys(batchRuns["1"]!);
console.log(`| jobs | ${steps.join(" | ")} |\n|---:|${steps.map(() => "---:").join("|")}|`);
for (const [count, f] of Object.entries(batchRuns)) console.log(`| ${count} | ${steps.map((k) => fmt(f[k]!)).join(" | ")} |`);
const sampling = localMarket.samplingPpm / 1e6;
console.log(`\na batch's sampled job (split out, audited through the JobMarket): ${Object.entries(batchSampled).map(([k, g]) => `${k} ${fmt(g)}`).join(", ")}`);
console.log(`expected per job at ${sampling * 100}% sampling (perJob + rate x the provider's extra ${fmt(batchSampled.extra!)}): ` +
  BATCH_SIZES.map((n) => `${n}: ${fmt(Math.round(batchRuns[String(n)]!.perJob! + sampling * batchSampled.extra!))}`).join(", "));
console.log(`a batch's challenged job (split out, challenged, committee votes, faulted): ${Object.entries(batchDisputed).map(([k, g]) => `${k} ${fmt(g)}`).join(", ")}`);
const batchOfOne = batchRuns["1"]!.total!;
const unbatched = Math.min(lifecycleFromDeposit, batchOfOne, lifecycleSigned);
const failures: string[] = [];
for (const [n, bar] of Object.entries(BATCH_BARS)) {
  const got = batchRuns[n]!.perJob!;
  console.log(`perJob at ${n} jobs <= ${fmt(bar)}: ${fmt(got)} ${got <= bar ? "met" : "MISSED"}`);
  if (got > bar) failures.push(`perJob at ${n}`);
}
console.log(
  `one job on its own <= ${fmt(UNBATCHED_BAR)} (the provider's withdraw excluded: it is one per many jobs; the deposit too): ` +
    `JobMarket lifecycle ${fmt(lifecycle)}, from a deposit ${fmt(lifecycleFromDeposit)}, a signed request ${fmt(lifecycleSigned)}; a batch of one (withdraw included) ${fmt(batchOfOne)}: ${unbatched <= UNBATCHED_BAR ? "met" : "MISSED"}`,
);
if (unbatched > UNBATCHED_BAR) failures.push("unbatched");
// Not the bar (one job on its own), for comparison: a job posted from a deposit whose provider groups its steps
// with those of other jobs (MULTICALL_JOBS at a time); and as the worker does it: its claimAndCommit in a
// tryMulticall (where a rival's claim mined first skips only that claim), its reveal and finalize in multicalls.
const lifecycleFromDepositGrouped = fromDeposit.post + multicallRuns.grouped!.total;
const { grouped: groupedSteps } = multicallRuns as Required<typeof multicallRuns>;
const lifecycleFromDepositAsWorker = fromDeposit.post + claimsTriedPerJob + groupedSteps.reveal! + groupedSteps.finalize!;
console.log(
  `a job posted from a deposit, its provider's steps grouped by multicall with ${MULTICALL_JOBS - 1} other jobs': ` +
    `${fmt(fromDeposit.post)} + ${fmt(multicallRuns.grouped!.total)} = ${fmt(lifecycleFromDepositGrouped)}; ` +
    `as the worker groups them (claimAndCommit in a tryMulticall, reveal and finalize in multicalls): ${fmt(lifecycleFromDepositAsWorker)}`,
);

console.log("\nRedundant jobs (ReplicaMarket; every seat's step; total = all of them, each seat's withdraw included when paid)\n");
const replicaSteps = Object.keys(replicaRuns["agreed, k = 3"]!); // every step, in order (k = 3 has a middle seat)
console.log(`| job | ${replicaSteps.join(" | ")} |\n|---|${replicaSteps.map(() => "---:").join("|")}|`);
for (const [name, f] of Object.entries(replicaRuns)) console.log(`| ${name} | ${replicaSteps.map((k) => (f[k] === undefined ? "" : fmt(f[k]!))).join(" | ")} |`);

const out = path.resolve("bench/results/gas.json");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(
  out,
  JSON.stringify(
    {
      ops,
      lifecycle,
      lifecycleClaimFirst,
      lifecycleFromDeposit,
      lifecycleSigned,
      sampled: { ...sampledLifecycle, total: sampledTotal },
      disputed: disputedPath,
      multicall: { jobs: MULTICALL_JOBS, perJob: multicallRuns, claimAndCommitTriedPerJob: claimsTriedPerJob, lostClaimInTriedGroup: lostClaimGas, lifecycleFromDepositGrouped, lifecycleFromDepositAsWorker },
      target: TARGET,
      batches: { perJob: batchRuns, sampledJob: batchSampled, challengedJob: batchDisputed, bars: BATCH_BARS, unbatchedBar: UNBATCHED_BAR },
      replicas: replicaRuns,
      machine: machineInfo(),
    },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
if (lifecycle > TARGET || failures.length) {
  if (failures.length) console.log(`bars missed: ${failures.join(", ")}`);
  process.exitCode = 1;
}
