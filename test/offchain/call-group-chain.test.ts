/**
 * The worker's grouping (offchain/chain/call-group.ts) against the real JobMarket on the in-process
 * chain: a provider's claimAndCommit of several posted jobs leaves in one `multicall` transaction and
 * moves each job as its own call would; a group holding a call the market refuses (a job another
 * provider won) is sent again call by call, so the others still go through and the refused one meets
 * its own error. Claims grouped with `skipFailures` go as a `tryMulticall`: a rival's claim mined first, even
 * in the same block after our estimate, skips that one call and no other. Signed by a local account, as the
 * worker signs.
 *
 * Run alone: `npx hardhat test mocha test/offchain/call-group-chain.test.ts`.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { createPublicClient, createWalletClient, custom, decodeEventLog, decodeFunctionData, parseAbi, parseEther, parseGwei, toHex } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { jobMarketAbi } from "../../offchain/chain/abis.js";
import { CallGroup } from "../../offchain/chain/call-group.js";
import { chainFor } from "../../offchain/chain/clients.js";
import { ContractRevertError } from "../../offchain/chain/errors.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { commitment } from "../../offchain/codec/commitment.js";
import { outputRoot } from "../../offchain/codec/merkle.js";
import type { Deployment } from "../../offchain/chain/deployment.js";
import { DEV_MNEMONIC } from "../../offchain/devnet/devnet.js";
import { endJob } from "../../offchain/protocol/actions.js";
import { deploySystem, ROLE_PROVIDER, setUpMarket, stake, type Connection } from "../helpers/fixture.js";
import { MARKET_PARAMS } from "../helpers/market.js";
import { marketDriver } from "../helpers/market.js";

const connection = await network.create();
const { networkHelpers } = connection;

/** deploySystem's provider is the node's third account. */
const PROVIDER_INDEX = 2;

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn, { marketParams: { samplingPpm: 0 } });
  // Enough stake for a full group of maxCalls (256) jobs' collateral.
  await setUpMarket(sys, { providerStake: parseEther("30000") });
  await stake(sys, sys.provider2.account.address, parseEther("1000"), ROLE_PROVIDER);
  return sys;
}

/** The provider's TxSender, signing locally as the worker does. */
async function providerSender() {
  const transport = custom({ request: ({ method, params }: { method: string; params?: unknown }) => connection.provider.request({ method, params: params as unknown[] }) });
  const chain = chainFor({ chainId: await connection.viem.getPublicClient().then((c) => c.getChainId()), rpcUrl: "http://in-process.invalid" });
  const publicClient = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: 20 });
  const account = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: PROVIDER_INDEX });
  const walletClient = createWalletClient({ chain, transport, account, cacheTime: 0, pollingInterval: 20 });
  return { publicClient, sender: new TxSender({ publicClient, walletClient, receiptPollingIntervalMs: 10 }), address: account.address };
}

const multicallAbi = parseAbi(["function multicall(bytes[] data) returns (bytes[] results)", "function tryMulticall(bytes[] data) returns (bool[] ok)"]);

/**
 * Runs `start` with automining off (what it sends waits in the pool), then `meanwhile` (a rival's transaction
 * sent ahead of ours), mines one block, turns automining back on and returns what `start` settled to.
 */
async function inOneBlock<T>(start: () => Promise<T>, meanwhile: () => Promise<unknown>): Promise<T> {
  await connection.provider.request({ method: "evm_setAutomine", params: [false] });
  try {
    const pending = start();
    await meanwhile();
    await networkHelpers.mine(1);
    await connection.provider.request({ method: "evm_setAutomine", params: [true] });
    return await pending;
  } finally {
    await connection.provider.request({ method: "evm_setAutomine", params: [true] });
  }
}

describe("CallGroup against the JobMarket: a provider's steps in one multicall", function () {
  this.timeout(120_000);

  async function setUp({ jobs = 4 } = {}) {
    const sys = await networkHelpers.loadFixture(deployed);
    const driver = marketDriver({ connection, ...sys });
    const { publicClient, sender, address } = await providerSender();
    assert.equal(address.toLowerCase(), sys.provider.account.address.toLowerCase(), "the fixture's provider signs");
    const chainId = BigInt(await publicClient.getChainId());
    const jobIds: bigint[] = [];
    for (let i = 0; i < jobs; i++) jobIds.push(await driver.post());
    const claimAndCommit = async (group: CallGroup, jobId: bigint) => {
      const { job } = await readJob({ client: publicClient, market: sys.market.address, jobId });
      const c = commitment({ chainId, jobMarket: sys.market.address, jobId, provider: address, outputRoot: driver.outputOf(jobId).outputRoot, salt: driver.outputOf(jobId).salt });
      return group.send({ address: sys.market.address, abi: jobMarketAbi, functionName: "claimAndCommit", args: [jobId, job, c] });
    };
    return { sys, driver, publicClient, sender, jobIds, claimAndCommit };
  }

  it("claims and commits four posted jobs in one multicall transaction: one receipt, each job Committed by the provider with its own events", async () => {
    const { sys, publicClient, sender, jobIds, claimAndCommit } = await setUp();
    const group = new CallGroup({ sender, address: sys.market.address, functions: ["claimAndCommit"], maxCalls: 16, maxWaitMs: 200 });
    const results = await Promise.all(jobIds.map((jobId) => claimAndCommit(group, jobId)));
    assert.equal(new Set(results.map((r) => r.hash)).size, 1, "one transaction");
    assert.ok(results.every((r) => r.calls === 4));
    const tx = await publicClient.getTransaction({ hash: results[0]!.hash });
    assert.equal(decodeFunctionData({ abi: multicallAbi, data: tx.input }).functionName, "multicall");
    const committed = results[0]!.receipt.logs
      .filter((l) => l.address.toLowerCase() === sys.market.address.toLowerCase())
      .map((l) => decodeEventLog({ abi: jobMarketAbi, data: l.data, topics: l.topics }))
      .filter((e) => e.eventName === "ResultCommitted")
      .map((e) => (e.args as { jobId: bigint }).jobId);
    assert.deepEqual(committed, jobIds, "a ResultCommitted per job, in order");
    for (const jobId of jobIds) {
      const { job } = await readJob({ client: publicClient, market: sys.market.address, jobId });
      assert.equal(job.status, JobStatus.Committed);
      assert.equal(job.provider.toLowerCase(), sys.provider.account.address.toLowerCase());
    }
  });

  it("splits a group the market refuses (a job another provider claimed first) in halves sent again: the other three are committed, two still grouped, the lost one rejects with its own error", async () => {
    const { sys, driver, publicClient, sender, jobIds, claimAndCommit } = await setUp();
    // Read the states first (as the worker does before its send), then another provider takes job 2.
    const group = new CallGroup({ sender, address: sys.market.address, functions: ["claimAndCommit"], maxCalls: 16, maxWaitMs: 500 });
    const pending = jobIds.map((jobId) => claimAndCommit(group, jobId));
    await driver.claim(jobIds[1]!, sys.provider2);
    const outcomes = await Promise.allSettled(pending);
    assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    const refused = (outcomes[1] as PromiseRejectedResult).reason as ContractRevertError;
    assert.ok(refused instanceof ContractRevertError, String(refused));
    // Split in halves: [1, 2] is refused again, then each goes alone; [3, 4] stays one transaction.
    const calls = outcomes.map((o) => (o.status === "fulfilled" ? o.value.calls : 0));
    assert.deepEqual(calls, [1, 0, 2, 2], "job 1 alone, jobs 3 and 4 together");
    for (const [i, jobId] of jobIds.entries()) {
      const { job } = await readJob({ client: publicClient, market: sys.market.address, jobId });
      if (i === 1) assert.equal(job.provider.toLowerCase(), sys.provider2.account.address.toLowerCase(), "the other provider keeps its claim");
      else assert.equal(job.status, JobStatus.Committed, `job ${jobId}`);
    }
  });

  it("with skipFailures, a rival's claim mined in the same block after our estimate skips only that job: one transaction, not reverted, three jobs committed, the lost one rejects with JobMismatch in it", async () => {
    const { sys, publicClient, sender, jobIds, claimAndCommit } = await setUp();
    const group = new CallGroup({ sender, address: sys.market.address, functions: ["claimAndCommit"], maxCalls: 16, maxWaitMs: 200, skipFailures: { reader: publicClient } });
    const before = sender.stats();
    const outcomes = await inOneBlock(
      () => Promise.allSettled(jobIds.map((jobId) => claimAndCommit(group, jobId))),
      async () => {
        // Our group estimated and in the pool: the rival's claim of job 2 goes ahead of it, in the same block.
        while (sender.stats().sent === before.sent) await sleep(20);
        const { job } = await readJob({ client: publicClient, market: sys.market.address, jobId: jobIds[1]! });
        await sys.market.write.claim([jobIds[1]!, job], { account: sys.provider2.account, gas: 500_000n, maxPriorityFeePerGas: parseGwei("100"), maxFeePerGas: parseGwei("200") });
      },
    );
    const after = sender.stats();
    assert.equal(after.sent - before.sent, 1, "one transaction");
    assert.equal(after.reverted - before.reverted, 0, "none mined and reverted");
    assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    const won = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    assert.equal(new Set(won.map((r) => r.hash)).size, 1);
    assert.ok(won.every((r) => r.calls === 4));
    const tx = await publicClient.getTransaction({ hash: won[0]!.hash });
    assert.equal(decodeFunctionData({ abi: multicallAbi, data: tx.input }).functionName, "tryMulticall");
    const lost = (outcomes[1] as PromiseRejectedResult).reason as ContractRevertError;
    assert.ok(lost instanceof ContractRevertError, String(lost));
    assert.equal(lost.errorName, "JobMismatch");
    assert.deepEqual(lost.args, [jobIds[1]]);
    assert.equal(lost.details?.txHash, won[0]!.hash, "the error names the group's transaction");
    for (const [i, jobId] of jobIds.entries()) {
      const { job } = await readJob({ client: publicClient, market: sys.market.address, jobId });
      if (i === 1) assert.equal(job.provider.toLowerCase(), sys.provider2.account.address.toLowerCase(), "the rival keeps its claim");
      else {
        assert.equal(job.status, JobStatus.Committed, `job ${jobId}`);
        assert.equal(job.provider.toLowerCase(), sys.provider.account.address.toLowerCase());
      }
    }
  });

  it("with skipFailures, a job a rival claimed before our group leaves is kept out of it: refused by its own simulation, nothing paid for it, the other three in one tryMulticall", async () => {
    const { sys, driver, publicClient, sender, jobIds, claimAndCommit } = await setUp();
    const group = new CallGroup({ sender, address: sys.market.address, functions: ["claimAndCommit"], maxCalls: 16, maxWaitMs: 500, skipFailures: { reader: publicClient } });
    const before = sender.stats();
    const pending = jobIds.map((jobId) => claimAndCommit(group, jobId));
    await driver.claim(jobIds[1]!, sys.provider2);
    const outcomes = await Promise.allSettled(pending);
    assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    assert.equal(((outcomes[1] as PromiseRejectedResult).reason as ContractRevertError).errorName, "JobMismatch");
    const after = sender.stats();
    assert.equal(after.sent - before.sent, 1, "one transaction");
    assert.equal(after.simulatedReverts - before.simulatedReverts, 1, "the lost claim refused by its simulation alone");
    const won = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    assert.ok(won.every((r) => r.calls === 3 && r.hash === won[0]!.hash));
    const tx = await publicClient.getTransaction({ hash: won[0]!.hash });
    assert.equal((decodeFunctionData({ abi: multicallAbi, data: tx.input }).args[0] as unknown[]).length, 3, "the lost claim is not in it");
  });

  it("splits a group too large for one transaction instead of failing every call in it: 120 reveals with 4 KiB inline outputs (over the 16,777,216 gas a transaction may use since Osaka) all land", async () => {
    // A burst of jobs committed together reveals together: with outputs of 4 KiB (revealed inline, as the
    // worker reveals any output that fits), 120 reveals need about 120 x 190,000 = 23M gas (calldata at the
    // EIP-7623 floor, the event's data), over the cap a node accepts for one transaction. Sent as one group,
    // the node refuses it (not a revert), every job's reveal fails, the same group forms again at the next
    // try, and the reveals miss their seed's reach: each job expires as sampled, its collateral slashed.
    const jobs = 120;
    const { sys, driver, publicClient, sender, jobIds } = await setUp({ jobs });
    const chainId = BigInt(await publicClient.getChainId());
    const market = sys.market.address;
    const outputs = jobIds.map((jobId) => new Uint8Array(4096).fill(Number(jobId % 251n) + 1));
    const committer = new CallGroup({ sender, address: market, functions: ["claimAndCommit"], maxCalls: 256, maxWaitMs: 2_000 });
    await Promise.all(
      jobIds.map(async (jobId, i) => {
        const { job } = await readJob({ client: publicClient, market, jobId });
        const c = commitment({ chainId, jobMarket: market, jobId, provider: sender.address, outputRoot: outputRoot(outputs[i]!), salt: driver.outputOf(jobId).salt });
        return committer.send({ address: market, abi: jobMarketAbi, functionName: "claimAndCommit", args: [jobId, job, c] });
      }),
    );
    await networkHelpers.mine(5);
    const revealer = new CallGroup({ sender, address: market, functions: ["reveal"], maxCalls: 256, maxWaitMs: 2_000 });
    const outcomes = await Promise.allSettled(
      jobIds.map(async (jobId, i) => {
        const { job } = await readJob({ client: publicClient, market, jobId });
        return revealer.send({ address: market, abi: jobMarketAbi, functionName: "reveal", args: [jobId, job, outputRoot(outputs[i]!), driver.outputOf(jobId).salt, "", toHex(outputs[i]!)] });
      }),
    );
    const failed = outcomes.flatMap((o, i) => (o.status === "rejected" ? [`job ${jobIds[i]}: ${String(o.reason).slice(0, 200)}`] : []));
    assert.deepEqual(failed.slice(0, 1), [], `${failed.length} of ${jobs} reveals failed`);
    const results = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    const transactions = new Set(results.map((r) => r.hash)).size;
    assert.ok(transactions <= 8, `still grouped: ${transactions} transactions for ${jobs} reveals`);
    for (const jobId of jobIds) {
      const { job } = await readJob({ client: publicClient, market, jobId });
      assert.equal(job.status, JobStatus.Revealed, `job ${jobId}`);
    }
  });

  it("never has a mined group reverted by a callback that burns more gas on chain than in the estimate: a finalize of a callback job goes alone", async () => {
    // A poster's consumer that burns its whole callback gas once armed, armed after the estimate and before the
    // finalize is mined: the group's estimate leaves that gas out, the calls after the callback run out of gas,
    // and the provider pays for the whole group, mined and reverted. Sent alone, a finalize keeps its
    // CALLBACK_RESERVE after the callback (the market checks it has the callback's whole limit) and lands.
    const { sys, driver, publicClient, sender } = await setUp({ jobs: 0 });
    const market = sys.market.address;
    const burner = await connection.viem.deployContract("ArmedGasBurningConsumer", [market, sys.token.address]);
    await sys.token.write.mint([burner.address, parseEther("1000")]);
    const callbackGasLimit = Number(MARKET_PARAMS.callbackGasLimit);
    const poisoned = await driver.revealed(await driver.posted(burner.write.post([await driver.request({ callbackGasLimit })])));
    const others: bigint[] = [];
    for (let i = 0; i < 12; i++) others.push(await driver.revealed());
    await driver.pastDeadline(others.at(-1)!);
    await networkHelpers.mine(1);
    const group = new CallGroup({ sender, address: market, functions: ["finalize"], maxCalls: 16, maxWaitMs: 300 });
    const before = sender.stats();
    const outcomes = await inOneBlock(
      () =>
        Promise.allSettled(
          [poisoned, ...others].map(async (jobId) => {
            const { job } = await readJob({ client: publicClient, market, jobId });
            return endJob({ sender, group, deployment: { market } as Deployment, action: "finalize", jobId, job });
          }),
        ),
      async () => {
        // Every finalize estimated and in the pool: the poster arms its consumer ahead of them, and a block is mined.
        let sent = -1;
        for (let quiet = 0; quiet < 10; quiet++, await sleep(100)) if (sender.stats().sent !== sent) [sent, quiet] = [sender.stats().sent, 0];
        await burner.write.arm({ account: sys.dapp.account, maxPriorityFeePerGas: parseGwei("100"), maxFeePerGas: parseGwei("200") });
      },
    );
    const after = sender.stats();
    assert.equal(after.reverted - before.reverted, 0, `mined and reverted: ${after.reverted - before.reverted} transaction(s); ${after.gasUsed - before.gasUsed} gas paid in all`);
    const failed = await publicClient.getContractEvents({ address: market, abi: jobMarketAbi, eventName: "CallbackFailed", fromBlock: 0n });
    assert.deepEqual(failed.map((e) => e.args.jobId), [poisoned], "the callback ran armed (and ran out of its gas)");
    assert.deepEqual(outcomes.map((o) => o.status), [poisoned, ...others].map(() => "fulfilled"));
    for (const jobId of [poisoned, ...others]) assert.equal((await readJob({ client: publicClient, market, jobId })).job.status, JobStatus.Finalized);
  });
});
