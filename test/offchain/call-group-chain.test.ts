/**
 * The worker's grouping (offchain/chain/call-group.ts) against the real JobMarket on the in-process
 * chain: a provider's claimAndCommit of several posted jobs leaves in one `multicall` transaction and
 * moves each job as its own call would; a group holding a call the market refuses (a job another
 * provider won) is sent again call by call, so the others still go through and the refused one meets
 * its own error. Signed by a local account, as the worker signs.
 *
 * Run alone: `npx hardhat test mocha test/offchain/call-group-chain.test.ts`.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { createPublicClient, createWalletClient, custom, decodeEventLog, decodeFunctionData, parseAbi, parseEther } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { jobMarketAbi } from "../../offchain/chain/abis.js";
import { CallGroup } from "../../offchain/chain/call-group.js";
import { chainFor } from "../../offchain/chain/clients.js";
import { ContractRevertError } from "../../offchain/chain/errors.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { commitment } from "../../offchain/codec/commitment.js";
import { DEV_MNEMONIC } from "../../offchain/devnet/devnet.js";
import { deploySystem, ROLE_PROVIDER, setUpMarket, stake, type Connection } from "../helpers/fixture.js";
import { marketDriver } from "../helpers/market.js";

const connection = await network.create();
const { networkHelpers } = connection;

/** deploySystem's provider is the node's third account. */
const PROVIDER_INDEX = 2;

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn, { marketParams: { samplingPpm: 0 } });
  await setUpMarket(sys);
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

const multicallAbi = parseAbi(["function multicall(bytes[] data) returns (bytes[] results)"]);

describe("CallGroup against the JobMarket: a provider's steps in one multicall", function () {
  this.timeout(120_000);

  async function setUp() {
    const sys = await networkHelpers.loadFixture(deployed);
    const driver = marketDriver({ connection, ...sys });
    const { publicClient, sender, address } = await providerSender();
    assert.equal(address.toLowerCase(), sys.provider.account.address.toLowerCase(), "the fixture's provider signs");
    const chainId = BigInt(await publicClient.getChainId());
    const jobIds: bigint[] = [];
    for (let i = 0; i < 4; i++) jobIds.push(await driver.post());
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

  it("sends a group again call by call when the market refuses one call (a job another provider claimed first): the other three are committed, the lost one rejects with JobMismatch or NotPosted", async () => {
    const { sys, driver, publicClient, sender, jobIds, claimAndCommit } = await setUp();
    // Read the states first (as the worker does before its send), then another provider takes job 2.
    const group = new CallGroup({ sender, address: sys.market.address, functions: ["claimAndCommit"], maxCalls: 16, maxWaitMs: 500 });
    const pending = jobIds.map((jobId) => claimAndCommit(group, jobId));
    await driver.claim(jobIds[1]!, sys.provider2);
    const outcomes = await Promise.allSettled(pending);
    assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    const refused = (outcomes[1] as PromiseRejectedResult).reason as ContractRevertError;
    assert.ok(refused instanceof ContractRevertError, String(refused));
    const sent = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    assert.ok(sent.every((r) => r.calls === 1), "each sent alone");
    for (const [i, jobId] of jobIds.entries()) {
      const { job } = await readJob({ client: publicClient, market: sys.market.address, jobId });
      if (i === 1) assert.equal(job.provider.toLowerCase(), sys.provider2.account.address.toLowerCase(), "the other provider keeps its claim");
      else assert.equal(job.status, JobStatus.Committed, `job ${jobId}`);
    }
  });
});
