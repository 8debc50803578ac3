/**
 * An account's money history and a job's verification, rebuilt from events (offchain/sdk/activity.ts,
 * what `dinfer history` and `dinfer job status` print), and `withdrawAll` (`dinfer withdraw`), over the
 * paths a provider and a challenger meet: a job paid out, a job whose result a committee found wrong
 * (the provider slashed, the challenger's bond back with its reward), and the withdrawal of both
 * contracts' credits. Every figure is checked against the chain's own balances and events.
 *
 * Run alone: `npx hardhat test mocha test/offchain/activity.test.ts`.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { createPublicClient, createWalletClient, custom, getAddress, parseEther, type Address } from "viem";
import { mnemonicToAccount } from "viem/accounts";

import { chainFor } from "../../offchain/chain/clients.js";
import type { Deployment } from "../../offchain/chain/deployment.js";
import { TxSender } from "../../offchain/chain/sender.js";
import { DEV_MNEMONIC } from "../../offchain/devnet/devnet.js";
import { withdrawAll } from "../../offchain/protocol/actions.js";
import { accountHistory, jobVerification } from "../../offchain/sdk/activity.js";
import { deploySystem, FEE, MODEL_COLLATERAL, setUpMarket, stakeVerifiers, type Connection } from "../helpers/fixture.js";
import { feeSplit, marketDriver } from "../helpers/market.js";
import { verificationDriver, Vote } from "../helpers/verification.js";

const connection = await network.create();
const { networkHelpers } = connection;

/** deploySystem's challenger is the node's sixth account. */
const CHALLENGER_INDEX = 5;

async function deployed(conn: Connection) {
  const sys = await deploySystem(conn, { marketParams: { samplingPpm: 0 } });
  await setUpMarket(sys);
  await sys.token.write.mint([sys.challenger.account.address, parseEther("1000")]);
  await sys.token.write.approve([sys.verification.address, parseEther("1000")], { account: sys.challenger.account });
  await sys.market.write.fundAuditPool([parseEther("1000")], { account: sys.dapp.account });
  return { ...sys, ...(await stakeVerifiers(conn, sys, 5)) };
}

describe("sdk/activity: history, a job's verification, and withdrawAll from the chain's events", function () {
  this.timeout(120_000);

  it("a provider's history shows the payout of a finalized job and the slash of a job a committee found wrong; the job's verification says so; the challenger's bond and reward come back through withdrawAll, as verification pay then withdrawn", async () => {
    const sys = await networkHelpers.loadFixture(deployed);
    const d = marketDriver({ connection, ...sys });
    const v = verificationDriver({ connection, sys, d, wallets: sys.wallets });
    const deployment: Deployment = { token: sys.token.address, staking: sys.staking.address, registry: sys.registry.address, market: sys.market.address, verification: sys.verification.address, batchMarket: sys.batchMarket.address, profiles: sys.profiles.address, replicaMarket: sys.replicaMarket.address };
    const provider = getAddress(sys.provider.account.address);
    const challenger = getAddress(sys.challenger.account.address);
    const stakeOf = async (who: Address) => (await sys.staking.read.account([who])).stake;

    const paid = await d.revealed();
    await d.finalize(paid);
    const wrong = await d.revealed();
    await v.challenge(wrong, sys.challenger);
    await v.drawCommittee(wrong);
    await v.vote(wrong, () => Vote.ProviderWrong);
    const stakeBefore = await stakeOf(provider);
    await v.resolve(wrong);
    const slashedOnChain = stakeBefore - (await stakeOf(provider));
    assert.equal(slashedOnChain, MODEL_COLLATERAL, "the job's collateral was slashed");

    const history = await accountHistory({ publicClient: sys.publicClient, deployment, account: provider });
    const { payout } = feeSplit(FEE);
    const payouts = history.entries.filter((e) => e.kind === "payout");
    assert.deepEqual(payouts.map((e) => [e.jobId, e.amount]), [[paid, payout]], "one payout, of the finalized job, of its fee less the protocol's cut");
    const slashes = history.entries.filter((e) => e.kind === "slashed");
    assert.deepEqual(slashes.map((e) => e.amount), [-slashedOnChain], "one slash, negative, of what the stake lost");
    assert.equal(history.totals.payouts, payout);
    assert.equal(history.totals.slashed, -slashedOnChain);
    assert.ok(history.entries.every((e, i, all) => i === 0 || all[i - 1]!.blockNumber <= e.blockNumber), "oldest first");
    const block = await sys.publicClient.getBlock({ blockNumber: slashes[0]!.blockNumber });
    assert.equal(slashes[0]!.timestamp, block.timestamp, "each entry carries its block's time");

    const verification = await jobVerification({ publicClient: sys.publicClient, verification: sys.verification.address, jobId: wrong });
    assert.equal(verification.dispute?.reason, "challenge");
    assert.equal(getAddress(verification.dispute!.opener), challenger);
    assert.deepEqual(verification.dispute?.resolved, { providerFaulted: true, slashed: slashedOnChain });
    assert.deepEqual(await jobVerification({ publicClient: sys.publicClient, verification: sys.verification.address, jobId: paid }), {}, "no audit and no dispute on an unsampled, unchallenged job");

    // The challenger: its Verification credits (the bond back and the finder's share) are withdrawn by
    // withdrawAll, which a hardhat wallet client (not a local account) cannot sign: a local account of the
    // same mnemonic is.
    const credits = await sys.verification.read.credits([challenger]);
    assert.ok(credits > 0n, "the right challenger is owed its bond and a reward");
    const transport = custom({ request: ({ method, params }: { method: string; params?: unknown }) => connection.provider.request({ method, params: params as unknown[] }) });
    const chain = chainFor({ chainId: await sys.publicClient.getChainId(), rpcUrl: "http://in-process.invalid" });
    const publicClient = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: 20 });
    const account = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: CHALLENGER_INDEX });
    assert.equal(account.address, challenger);
    const walletClient = createWalletClient({ chain, transport, account, cacheTime: 0, pollingInterval: 20 });
    const sender = new TxSender({ publicClient, walletClient, receiptPollingIntervalMs: 10 });
    const said: string[] = [];
    const balanceBefore = await sys.token.read.balanceOf([challenger]);
    const done = await withdrawAll({ publicClient, sender, deployment, say: (line) => said.push(line) });
    assert.deepEqual(done, { stake: 0n, marketCredits: 0n, verificationCredits: credits });
    assert.equal(await sys.token.read.balanceOf([challenger]), balanceBefore + credits, "the credits reached the wallet");
    assert.equal(await sys.verification.read.credits([challenger]), 0n);
    assert.ok(said.some((line) => /^withdrew [\d.]+ DINF of verification credits/.test(line)), said.join("\n"));

    const challengerHistory = await accountHistory({ publicClient: sys.publicClient, deployment, account: challenger });
    const pay = challengerHistory.entries.filter((e) => e.kind === "verification pay");
    assert.equal(pay.reduce((sum, e) => sum + e.amount, 0n), credits, "the credits as verification pay");
    const withdrawn = challengerHistory.entries.filter((e) => e.kind === "withdrawn");
    assert.deepEqual(withdrawn.map((e) => e.amount), [credits], "and their withdrawal, once");
  });
});
