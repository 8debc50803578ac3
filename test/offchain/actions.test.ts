/**
 * The protocol actions the CLI, the devnet and the daemons share (offchain/protocol/actions.ts) that are
 * not staking: registering a model (its id read from the transaction's own event) and ending a job as a
 * keeper (finalize after the challenge window, expire after a missed claim deadline), against the real
 * contracts on the in-process chain, signed by a local account as `dinfer` signs.
 *
 * Run alone: `npx hardhat test mocha test/offchain/actions.test.ts`.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { createPublicClient, createWalletClient, custom, getAddress } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { chainFor } from "../../offchain/chain/clients.js";
import type { Deployment } from "../../offchain/chain/deployment.js";
import { JobStatus, readJob } from "../../offchain/chain/jobs.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { DEV_MNEMONIC } from "../../offchain/devnet/devnet.js";
import { endJob, registerModel } from "../../offchain/protocol/actions.js";
import { deploySystem, FEE, modelSpec, setUpMarket, type Connection } from "../helpers/fixture.js";
import { feeSplit, marketDriver } from "../helpers/market.js";

const connection = await network.create();
const { networkHelpers } = connection;

/** deploySystem's keeper is the node's seventh account. */
const KEEPER_INDEX = 6;

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn, { marketParams: { samplingPpm: 0 } });
  await setUpMarket(sys);
  return sys;
}

/** A TxSender for the keeper's account, signing locally as the CLI does. */
async function keeperSender() {
  const transport = custom({ request: ({ method, params }: { method: string; params?: unknown }) => connection.provider.request({ method, params: params as unknown[] }) });
  const chain = chainFor({ chainId: await connection.viem.getPublicClient().then((c) => c.getChainId()), rpcUrl: "http://in-process.invalid" });
  const publicClient = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: 20 });
  const account = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: KEEPER_INDEX });
  const walletClient = createWalletClient({ chain, transport, account, cacheTime: 0, pollingInterval: 20 });
  return { publicClient, sender: new TxSender({ publicClient, walletClient, receiptPollingIntervalMs: 10 }), address: account.address };
}

describe("protocol actions: register a model, end a job", function () {
  this.timeout(120_000);

  it("registerModel returns the id of the model its own transaction created, which the registry holds with the given spec under the sender", async () => {
    const sys = await networkHelpers.loadFixture(deployed);
    const { sender, address } = await keeperSender();
    const deployment: Deployment = { token: sys.token.address, staking: sys.staking.address, registry: sys.registry.address, market: sys.market.address, verification: sys.verification.address, batchMarket: sys.batchMarket.address, profiles: sys.profiles.address, replicaMarket: sys.replicaMarket.address };
    const countBefore = await sys.registry.read.modelCount();
    const spec = modelSpec({ uri: "ipfs://bafkreiactionstestmodel" });
    const { id, hash } = await registerModel({ sender, deployment, spec });
    assert.equal(BigInt(id), countBefore + 1n, "the next id");
    const receipt = await sys.publicClient.getTransactionReceipt({ hash });
    assert.equal(receipt.status, "success");
    const model = await sys.registry.read.model([BigInt(id)]);
    assert.equal(model.uri, "ipfs://bafkreiactionstestmodel");
    assert.equal(getAddress(model.owner), getAddress(address), "owned by the sender");
  });

  it("endJob finalizes a revealed job once its window closed (the provider credited its payout) and expires an unclaimed one after its claim deadline (the poster refunded); either refused before its time", async () => {
    const sys = await networkHelpers.loadFixture(deployed);
    const d = marketDriver({ connection, ...sys });
    const { publicClient, sender } = await keeperSender();
    const deployment: Deployment = { token: sys.token.address, staking: sys.staking.address, registry: sys.registry.address, market: sys.market.address, verification: sys.verification.address, batchMarket: sys.batchMarket.address, profiles: sys.profiles.address, replicaMarket: sys.replicaMarket.address };
    const read = async (jobId: bigint) => (await readJob({ client: publicClient, market: sys.market.address, jobId })).job;

    const revealed = await d.revealed();
    await assert.rejects(endJob({ sender, deployment, action: "finalize", jobId: revealed, job: await read(revealed) }), /DeadlineNotPassed|window/i, "not inside the window");
    const unclaimed = await d.post();
    await assert.rejects(endJob({ sender, deployment, action: "expire", jobId: unclaimed, job: await read(unclaimed) }), /DeadlineNotPassed|deadline/i, "not before the claim deadline");

    const job = await read(revealed);
    await networkHelpers.time.increaseTo(BigInt(Math.max(job.deadline, (await read(unclaimed)).deadline)) + 1n);
    const providerCredits = await sys.market.read.credits([sys.provider.account.address]);
    const finalized = await endJob({ sender, deployment, action: "finalize", jobId: revealed, job: await read(revealed) });
    assert.equal(finalized.receipt.status, "success");
    assert.equal((await read(revealed)).status, JobStatus.Finalized);
    assert.equal(await sys.market.read.credits([sys.provider.account.address]), providerCredits + feeSplit(FEE).payout, "the provider is credited its payout");

    const posterCredits = await sys.market.read.credits([sys.dapp.account.address]);
    await endJob({ sender, deployment, action: "expire", jobId: unclaimed, job: await read(unclaimed) });
    assert.equal((await read(unclaimed)).status, JobStatus.Expired);
    assert.equal(await sys.market.read.credits([sys.dapp.account.address]), posterCredits + FEE, "the poster gets its whole fee back");
  });
});
