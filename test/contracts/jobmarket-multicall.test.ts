/**
 * JobMarket.multicall (OpenZeppelin Multicall): a provider groups its steps of many jobs into one transaction.
 * What must hold: the grouped calls leave the same state and events as the calls one by one; one inner revert
 * reverts them all with its own error (the worker falls back on it); the caller stays `msg.sender` in every
 * inner call, so no restricted function opens to anyone else; and the reentrancy guard still guards each inner
 * call, a multicall from a consumer's callback included.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { decodeFunctionResult, encodeErrorResult, encodeFunctionData, getAddress, parseEther, parseEventLogs, type Hex, type Log } from "viem";

import { hashJob, JobStatus } from "../../offchain/chain/jobs.js";
import { deploySystem, FEE, MODEL_COLLATERAL, ROLE_PROVIDER, setUpMarket, stake, type Connection } from "../helpers/fixture.js";
import { feeSplit, inlineRoot, MARKET_PARAMS, marketDriver, REENTRANT_CALL, ZERO_HASH, type MarketDriver, type Wallet } from "../helpers/market.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;
const { assertions } = viem;

const address = (wallet: Wallet) => getAddress(wallet.account.address);

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn);
  await setUpMarket(sys);
  return sys;
}

async function load() {
  const sys = await networkHelpers.loadFixture(deployed);
  return { ...sys, d: marketDriver({ connection, ...sys }) };
}

type Loaded = Awaited<ReturnType<typeof load>>;

/** Posts `count` jobs, each in its own block at a fixed offset from the fixture's time, so two runs post the same jobs. */
async function postJobs(d: MarketDriver, count: number) {
  const start = (await d.now()) + 10n;
  const ids: bigint[] = [];
  for (let i = 0; i < count; i++) {
    await d.at(start + BigInt(i));
    ids.push(await d.post());
  }
  return ids;
}

/** The claimAndCommit calldata of each job, committing to its deterministic output. */
async function claimAndCommitCalls({ market, d }: Loaded, ids: bigint[]) {
  return Promise.all(
    ids.map(async (jobId) =>
      encodeFunctionData({
        abi: market.abi,
        functionName: "claimAndCommit",
        args: [jobId, d.jobs.job(jobId), await d.commitmentOf(jobId, d.outputOf(jobId))],
      }),
    ),
  );
}

/** The market's logs as they are on chain: emitter, topics and data, in order. */
const rawLogs = (logs: Log[], market: Hex) =>
  logs.filter((l) => l.address.toLowerCase() === market.toLowerCase()).map(({ address, topics, data }) => ({ address, topics, data }));

/**
 * A consumer's job past its deadline whose finalize callback, once armed, makes one call to the market: `wrapper`
 * (multicall or tryMulticall) of a finalize of another job, finalizable now. The re-entry the guard must stop.
 */
async function reentrantConsumerJob({ market, token, d }: Loaded, wrapper: "multicall" | "tryMulticall") {
  const consumer = await viem.deployContract("ArmedReentrantConsumer", [market.address, token.address]);
  await token.write.mint([consumer.address, parseEther("100")]);
  const other = await d.revealed();
  const output = "0x0102030405" as Hex;
  const request = await d.request({ callbackGasLimit: MARKET_PARAMS.callbackGasLimit, inlineOutput: true });
  const jobId = await d.revealed(await d.posted(consumer.write.post([request])), { inlineOutput: output });
  assert.equal(d.jobs.job(jobId).result, inlineRoot(output));
  await d.pastDeadline(jobId);
  const otherState = d.jobs.job(other);
  const finalizeOther = encodeFunctionData({ abi: market.abi, functionName: "finalize", args: [other, otherState] });
  await consumer.write.arm([encodeFunctionData({ abi: market.abi, functionName: wrapper, args: [[finalizeOther]] })]);
  return { consumer, jobId, output, other, otherState };
}

describe("JobMarket.multicall", () => {
  it("leaves the same job states, events and locked collateral for 3 claimAndCommit calls grouped as for the 3 sent one by one in the same block", async () => {
    const testClient = await viem.getTestClient();

    // One by one: three transactions mined together in one block at time t.
    const single = await load();
    const singleIds = await postJobs(single.d, 3);
    const t = (await single.d.now()) + 5n;
    const calls = await claimAndCommitCalls(single, singleIds);
    await testClient.setAutomine(false);
    let hashes: Hex[];
    try {
      hashes = [];
      for (const data of calls) hashes.push(await single.provider.sendTransaction({ to: single.market.address, data }));
      await single.d.at(t);
      await networkHelpers.mine(1);
    } finally {
      await testClient.setAutomine(true);
    }
    const receipts = await Promise.all(hashes.map((hash) => single.d.jobs.send(Promise.resolve(hash))));
    assert.ok(receipts.every((r) => r.status === "success" && r.blockNumber === receipts[0].blockNumber), "one block, all succeeded");
    const singleLogs = receipts.flatMap((r) => rawLogs(r.logs, single.market.address));
    const singleHashes = await Promise.all(singleIds.map((id) => single.market.read.jobHash([id])));
    const singleLocked = (await single.staking.read.account([single.provider.account.address])).locked;

    // Grouped: the same three calls in one multicall, from the same state, in the same block at the same time.
    const grouped = await load();
    const groupedIds = await postJobs(grouped.d, 3);
    assert.deepEqual(groupedIds, singleIds);
    await grouped.d.at(t);
    const receipt = await grouped.d.jobs.send(
      grouped.market.write.multicall([await claimAndCommitCalls(grouped, groupedIds)], { account: grouped.provider.account }),
    );
    assert.equal(receipt.blockNumber, receipts[0].blockNumber);
    const groupedLogs = rawLogs(receipt.logs, grouped.market.address);

    assert.equal(groupedLogs.length, 3, "one ResultCommitted per job");
    assert.deepEqual(groupedLogs, singleLogs);
    assert.deepEqual(await Promise.all(groupedIds.map((id) => grouped.market.read.jobHash([id]))), singleHashes);
    for (const id of groupedIds) {
      const job = grouped.d.jobs.job(id);
      assert.equal(job.status, JobStatus.Committed);
      assert.equal(job.provider, address(grouped.provider));
      assert.equal(await grouped.market.read.jobHash([id]), hashJob(job));
    }
    assert.equal(singleLocked, 3n * MODEL_COLLATERAL);
    assert.equal((await grouped.staking.read.account([grouped.provider.account.address])).locked, singleLocked);
  });

  it("reverts every call of the group with the failing inner call's own error, leaving the jobs before it untouched", async () => {
    const sys = await load();
    const { market, staking, provider, d } = sys;
    const ids = await postJobs(d, 3);
    const calls = await claimAndCommitCalls(sys, ids);
    const zeroCommitment = encodeFunctionData({ abi: market.abi, functionName: "claimAndCommit", args: [ids[2], d.jobs.job(ids[2]), ZERO_HASH] });
    const before = await Promise.all(ids.map((id) => market.read.jobHash([id])));

    await assertions.revertWithCustomErrorWithArgs(
      market.write.multicall([[calls[0], calls[1], zeroCommitment]], { account: provider.account }),
      market,
      "ZeroCommitment",
      [],
    );
    // The same step twice: the second call carries the state the first one replaced.
    await assertions.revertWithCustomErrorWithArgs(
      market.write.multicall([[calls[0], calls[0]]], { account: provider.account }),
      market,
      "JobMismatch",
      [ids[0]],
    );
    // An error of another contract, raised under an inner call, comes back as it is too.
    const stranger = sys.stranger;
    await assertions.revertWithCustomErrorWithArgs(
      market.write.multicall([[calls[0]]], { account: stranger.account }),
      staking,
      "NotProvider",
      [address(stranger)],
    );

    assert.deepEqual(await Promise.all(ids.map((id) => market.read.jobHash([id]))), before, "no job moved");
    assert.equal((await staking.read.account([provider.account.address])).locked, 0n, "no collateral locked");
    // The same calls without the bad one go through.
    await d.jobs.send(market.write.multicall([calls], { account: provider.account }));
    assert.deepEqual(ids.map((id) => d.jobs.job(id).status), [JobStatus.Committed, JobStatus.Committed, JobStatus.Committed]);
  });

  it("keeps the caller as msg.sender in every inner call: owner, verification, batch-market, terms and provider-only functions refuse anyone else", async () => {
    const { market, owner, stranger, keeper, d } = await load();
    const revealed = await d.revealed();
    const job = d.jobs.job(revealed);
    const call = (functionName: string, args: readonly unknown[]) =>
      // Each restricted function on its own, wrapped in a multicall sent by the stranger.
      market.write.multicall([[encodeFunctionData({ abi: market.abi, functionName, args } as never)]], { account: stranger.account });
    type Refusal = "OwnableUnauthorizedAccount" | "NotVerification" | "NotBatchMarket" | "NotTerms";
    const refusals: [string, readonly unknown[], Refusal][] = [
      ["setVerification", [stranger.account.address], "OwnableUnauthorizedAccount"],
      ["setBatchMarket", [stranger.account.address], "OwnableUnauthorizedAccount"],
      ["withdrawProtocolFees", [stranger.account.address], "OwnableUnauthorizedAccount"],
      ["transferOwnership", [stranger.account.address], "OwnableUnauthorizedAccount"],
      ["openDispute", [revealed, job], "NotVerification"],
      ["settleDispute", [revealed, job, true, stranger.account.address, "0x"], "NotVerification"],
      ["payAuditReward", [stranger.account.address, 1n], "NotVerification"],
      ["reserveJobIds", [5n], "NotBatchMarket"],
      ["importJob", [revealed + 1n, job], "NotBatchMarket"],
      ["adoptTerms", [99, MARKET_PARAMS], "NotTerms"],
    ];
    for (const [name, args, error] of refusals) {
      await assertions.revertWithCustomErrorWithArgs(call(name, args), market, error, [address(stranger)]);
    }
    await assertions.revertWithCustomErrorWithArgs(
      call("announceOutput", [revealed, job, "http://elsewhere"]),
      market,
      "NotJobProvider",
      [revealed, address(stranger)],
    );
    assert.equal(await market.read.owner(), address(owner));

    // The rightful callers get through the same way: the owner takes the protocol fee of a finalized job.
    await d.finalize(revealed, keeper);
    const fee = feeSplit(FEE).protocolFee;
    const { transactionHash } = await d.jobs.send(
      market.write.multicall(
        [[encodeFunctionData({ abi: market.abi, functionName: "withdrawProtocolFees", args: [owner.account.address] })]],
        { account: owner.account },
      ),
    );
    await assertions.emitWithArgs(transactionHash, market, "ProtocolFeesWithdrawn", [address(owner), fee]);
    assert.equal(await market.read.protocolFees(), 0n);
  });

  it("stops a consumer whose finalize callback re-enters through multicall: ReentrancyGuardReentrantCall, the outer finalize completes", async () => {
    const sys = await load();
    const { market, keeper, provider, d } = sys;
    const { consumer, jobId, output, other, otherState } = await reentrantConsumerJob(sys, "multicall");

    // The keeper's own multicall finalizes the consumer's job; the callback's multicall is refused by the guard.
    const finalizeCall = encodeFunctionData({ abi: market.abi, functionName: "finalizeWithOutput", args: [jobId, d.jobs.job(jobId), output] });
    const receipt = await d.jobs.send(market.write.multicall([[finalizeCall]], { account: keeper.account }));
    assert.equal(await consumer.read.called(), true);
    assert.deepEqual([await consumer.read.reentryOk(), await consumer.read.reentryResult()], [false, REENTRANT_CALL]);
    await assertions.emitWithArgs(receipt.transactionHash, market, "JobFinalized", [jobId, address(provider), feeSplit(FEE).payout]);
    assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    assert.equal(await market.read.jobHash([other]), hashJob(otherState), "the other job did not move");
    assert.equal(await market.read.credits([provider.account.address]), feeSplit(FEE).payout, "paid once, for one job");

    // The other job was finalizable all along: only the guard stopped it.
    await d.jobs.send(market.write.finalize([other, otherState], { account: keeper.account }));
    assert.equal(d.jobs.job(other).status, JobStatus.Finalized);
  });
});

/** The `CallSkipped` events of a receipt: index and revert data of each skipped call. */
function skippedOf(market: Loaded["market"], logs: Log[]) {
  return parseEventLogs({ abi: market.abi, eventName: "CallSkipped", logs }).map(({ args }) => [args.index, args.reason] as const);
}

describe("JobMarket.tryMulticall", () => {
  it("a rival's claim mined first in the same block skips only that job's call: the group's other claims commit, CallSkipped names the lost one with its own error", async () => {
    const sys = await load();
    const { market, staking, provider, provider2, d } = sys;
    await stake(sys, provider2.account.address, parseEther("1000"), ROLE_PROVIDER);
    const ids = await postJobs(d, 3);
    const calls = await claimAndCommitCalls(sys, ids);
    const testClient = await viem.getTestClient();

    // The rival's claim of the middle job reaches the block before our group (its best move: take one job
    // of a group it sees in the pool, and hope the whole group reverts, as a multicall's would).
    await testClient.setAutomine(false);
    let ours: Hex;
    let rivals: Hex;
    try {
      const c = await d.commitmentOf(ids[1], { ...d.outputOf(ids[1]), by: provider2 });
      rivals = await market.write.claimAndCommit([ids[1], d.jobs.job(ids[1]), c], { account: provider2.account });
      ours = await market.write.tryMulticall([calls], { account: provider.account, gas: 2_000_000n });
      await networkHelpers.mine(1);
    } finally {
      await testClient.setAutomine(true);
    }
    const rivalReceipt = await d.jobs.send(Promise.resolve(rivals));
    const receipt = await d.jobs.send(Promise.resolve(ours));
    assert.equal(receipt.status, "success");
    assert.equal(receipt.blockNumber, rivalReceipt.blockNumber);
    assert.deepEqual(skippedOf(market, receipt.logs), [[1n, encodeErrorResult({ abi: market.abi, errorName: "JobMismatch", args: [ids[1]] })]]);

    assert.deepEqual(ids.map((id) => d.jobs.job(id).status), [JobStatus.Committed, JobStatus.Committed, JobStatus.Committed]);
    assert.deepEqual(ids.map((id) => d.jobs.job(id).provider), [address(provider), address(provider2), address(provider)]);
    assert.equal((await staking.read.account([provider.account.address])).locked, 2n * MODEL_COLLATERAL, "collateral locked for the two jobs we hold");
    assert.equal((await staking.read.account([provider2.account.address])).locked, MODEL_COLLATERAL);
  });

  it("undoes a skipped call's own writes: a claim whose collateral lock fails leaves its job posted, and the returned flags say which calls ran", async () => {
    const sys = await load();
    const { market, staking, provider, d } = sys;
    const ids = await postJobs(d, 3);
    const calls = await claimAndCommitCalls(sys, ids);
    // Lock all but two jobs' collateral, so the third claim's lock (after its commit is written) reverts.
    const { stake: staked } = await staking.read.account([provider.account.address]);
    const others = await postJobs(d, Number(staked / MODEL_COLLATERAL) - 2);
    await d.jobs.send(market.write.multicall([await claimAndCommitCalls(sys, others)], { account: provider.account }));
    const before = await market.read.jobHash([ids[2]]);

    const { result } = await market.simulate.tryMulticall([calls], { account: provider.account.address });
    assert.deepEqual(result, [true, true, false]);
    const receipt = await d.jobs.send(market.write.tryMulticall([calls], { account: provider.account }));
    assert.deepEqual(skippedOf(market, receipt.logs), [
      [2n, encodeErrorResult({ abi: staking.abi, errorName: "InsufficientUnlockedStake", args: [address(provider), 0n, MODEL_COLLATERAL] })],
    ]);
    assert.equal(d.jobs.job(ids[2]).status, JobStatus.Posted);
    assert.equal(await market.read.jobHash([ids[2]]), before, "the skipped call's commit was undone with its lock");
    assert.deepEqual([d.jobs.job(ids[0]).status, d.jobs.job(ids[1]).status], [JobStatus.Committed, JobStatus.Committed]);
    assert.equal((await staking.read.account([provider.account.address])).locked, staked);
    // The skipped job is still there to claim, by anyone with free stake.
    await stake(sys, sys.provider2.account.address, parseEther("1000"), ROLE_PROVIDER);
    await d.claimAndCommit(ids[2], { by: sys.provider2 });
    assert.equal(d.jobs.job(ids[2]).provider, address(sys.provider2));
  });

  it("opens nothing a direct call does not: a stranger's tryMulticall of restricted functions skips every one with its refusal and moves nothing", async () => {
    const { market, owner, stranger, d } = await load();
    const revealed = await d.revealed();
    const job = d.jobs.job(revealed);
    const calls: [string, readonly unknown[]][] = [
      ["setVerification", [stranger.account.address]],
      ["withdrawProtocolFees", [stranger.account.address]],
      ["openDispute", [revealed, job]],
      ["payAuditReward", [stranger.account.address, 1n]],
      ["reserveJobIds", [5n]],
      ["adoptTerms", [99, MARKET_PARAMS]],
      ["announceOutput", [revealed, job, "http://elsewhere"]],
      ["finalize", [revealed, job]],
    ];
    const data = calls.map(([functionName, args]) => encodeFunctionData({ abi: market.abi, functionName, args } as never));
    const verification = await market.read.verification();
    const receipt = await d.jobs.send(market.write.tryMulticall([data], { account: stranger.account }));
    const skipped = skippedOf(market, receipt.logs);
    assert.deepEqual(skipped.map(([index]) => index), calls.map((_, i) => BigInt(i)), "every call skipped");
    const names = skipped.map(([, reason]) => reason.slice(0, 10));
    const selector = (errorName: string, args: readonly unknown[]) => encodeErrorResult({ abi: market.abi, errorName, args } as never).slice(0, 10);
    assert.deepEqual(names.slice(0, 2), [selector("OwnableUnauthorizedAccount", [stranger.account.address]), selector("OwnableUnauthorizedAccount", [stranger.account.address])]);
    assert.equal(names[2], selector("NotVerification", [stranger.account.address]));
    assert.equal(names[3], selector("NotVerification", [stranger.account.address]));
    assert.equal(names[4], selector("NotBatchMarket", [stranger.account.address]));
    assert.equal(names[5], selector("NotTerms", [stranger.account.address]));
    assert.equal(names[6], selector("NotJobProvider", [revealed, stranger.account.address]));
    assert.equal(names[7], selector("DeadlineNotPassed", [revealed, 0n, 0n]), "a finalize before its deadline, as alone");
    assert.equal(await market.read.owner(), address(owner));
    assert.equal(await market.read.verification(), verification);
    assert.equal(await market.read.jobHash([revealed]), hashJob(job), "the revealed job did not move (its deadline is ahead)");
  });

  it("stops a consumer whose finalize callback re-enters through tryMulticall: the inner finalize is skipped by the guard, the outer finalize completes", async () => {
    const sys = await load();
    const { market, keeper, provider, d } = sys;
    const { consumer, jobId, output, other, otherState } = await reentrantConsumerJob(sys, "tryMulticall");

    const receipt = await d.jobs.send(market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), output], { account: keeper.account }));
    assert.equal(await consumer.read.called(), true);
    // The callback's tryMulticall returned, its one call skipped with the guard's error.
    assert.equal(await consumer.read.reentryOk(), true);
    assert.deepEqual(decodeFunctionResult({ abi: market.abi, functionName: "tryMulticall", data: await consumer.read.reentryResult() }), [false]);
    assert.deepEqual(skippedOf(market, receipt.logs), [[0n, REENTRANT_CALL]]);
    await assertions.emitWithArgs(receipt.transactionHash, market, "JobFinalized", [jobId, address(provider), feeSplit(FEE).payout]);
    assert.equal(await market.read.jobHash([other]), hashJob(otherState), "the other job did not move");
    assert.equal(await market.read.credits([provider.account.address]), feeSplit(FEE).payout, "paid once, for one job");
  });
});
