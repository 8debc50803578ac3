/**
 * Adversarial review of the BatchMarket (contracts/BatchMarket.sol): a rational provider, auditor or third
 * party against batches. Each test states the attack and the figures it gains or costs an honest party.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { decodeEventLog, keccak256, parseEther, toHex, type Hex } from "viem";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { batchDriver } from "../helpers/batch.js";
import { deploySystem, setUpMarket, stakeVerifiers, type Connection } from "../helpers/fixture.js";
import { feeSplit, LOCAL_MARKET_PARAMS, marketDriver, type MarketParams } from "../helpers/market.js";
import { verificationDriver, Verdict } from "../helpers/verification.js";

const connection = await network.create();
const FEE = parseEther("10");
const BPS = 10_000n;

/** Sampling at 50% (the audit levy raised to fund it), so a batch of 8 holds sampled and unsampled jobs. */
const SAMPLED_MARKET: MarketParams = { ...LOCAL_MARKET_PARAMS, samplingPpm: 500_000, auditLevyBps: 3000 };
const SAMPLED_VERIFICATION = { auditRewardBps: 5000, recheckPpm: 0 };

async function setUp(conn: Connection) {
  const sys = await deploySystem(conn, { marketParams: SAMPLED_MARKET, verificationParams: SAMPLED_VERIFICATION });
  const { modelId } = await setUpMarket(sys, { providerStake: parseEther("10000") });
  const d = marketDriver({ connection: conn, ...sys });
  const b = batchDriver({ connection: conn, sys, d, modelId });
  const wallets = await conn.viem.getWalletClients();
  await stakeVerifiers(conn, sys, 4);
  const v = verificationDriver({ connection: conn, sys, d, wallets });
  await b.fund(parseEther("10000"));
  await sys.token.write.mint([sys.owner.account.address, parseEther("1000")]);
  await sys.token.write.approve([sys.market.address, parseEther("1000")], { account: sys.owner.account });
  await sys.market.write.fundAuditPool([parseEther("1000")], { account: sys.owner.account });
  return { ...sys, d, b, v, modelId };
}

const stakeOf = async (sys: Awaited<ReturnType<typeof setUp>>, who: Hex) => (await sys.staking.read.account([who])).stake;

describe("BatchMarket, adversarial", () => {
  it("a provider cannot make a sampled job's honest auditor miss its blind commit by splitting the job late", async () => {
    // Only the provider knows a commitment leaf and its proof before the batch reveal (they hash its secret
    // output roots and salt), so only it can splitSampled; the auditor cannot commit to a job the JobMarket
    // does not hold. If the imported job's audit window ran from the batch's commit, the provider would wait
    // it out, split, reveal, and the honest auditor would be penalized as Missed.
    const sys = await setUp(connection);
    const { b, d, v, verification, provider } = sys;
    const { batchId, sampled } = await b.postSampled();
    const index = sampled[0]!;
    const jobId = b.batch(batchId).firstJobId + BigInt(index);
    // The auditor's blind commit window, as an ordinary job committed with the batch would have it.
    const terms = await sys.batchMarket.read.marketTermsOf([BigInt(b.batch(batchId).terms)]);
    const vp = await sys.terms.read.verificationParams();
    const committedAt = BigInt(b.batch(batchId).deadline) - BigInt(terms.revealTimeout);
    const ordinaryCommitBy = committedAt + BigInt(vp.auditCommitTimeout);
    // The provider waits past it (still before the batch's revealBy and in seed reach), then splits.
    await d.at(ordinaryCommitBy + 1n);
    await b.splitSampled(batchId, index, provider);
    assert.equal(d.jobs.job(jobId).status, JobStatus.Committed);
    const auditor = await v.auditor(jobId);
    const auditorStake = await stakeOf(sys, auditor.account.address);
    const commitBy = await verification.read.auditCommitBy([d.jobs.job(jobId)]);
    const now = BigInt((await sys.publicClient.getBlock()).timestamp);
    // Reveal at once, as the attacker does: with the window already over this records Missed and penalizes.
    let revealed = false;
    try {
      await d.reveal(jobId, { salt: b.saltOf(jobId) });
      revealed = true;
    } catch {
      // AuditPending: the auditor still has its window.
    }
    const lost = auditorStake - (await stakeOf(sys, auditor.account.address));
    assert.equal(
      lost,
      0n,
      `honest auditor penalized ${lost} wei as Missed: the job became visible at ${now}, its audit window had closed at ${commitBy} ` +
        `(reveal went through: ${revealed}, job now ${d.jobs.job(jobId).status === JobStatus.Disputed ? "Disputed" : d.jobs.job(jobId).status})`,
    );
    assert.ok(commitBy > now, `the auditor got no window after the split: commitBy ${commitBy}, split at ${now}`);
    // The auditor commits blind, the provider reveals, the auditor agrees: the ordinary path.
    await v.commitAudit(jobId);
    await d.reveal(jobId, { salt: b.saltOf(jobId) });
    await v.revealAudit(jobId, { verdict: Verdict.Agree });
    assert.equal(await stakeOf(sys, auditor.account.address), auditorStake);
  });

  it("a late split that the provider then withholds costs it the whole collateral, and pays the auditor that committed blind", async () => {
    const sys = await setUp(connection);
    const { b, d, v, market, provider, dapp } = sys;
    const { batchId, sampled } = await b.postSampled();
    const index = sampled[0]!;
    const jobId = b.batch(batchId).firstJobId + BigInt(index);
    const terms = await sys.batchMarket.read.marketTermsOf([BigInt(b.batch(batchId).terms)]);
    const vp = await sys.terms.read.verificationParams();
    await d.at(BigInt(b.batch(batchId).deadline) - BigInt(terms.revealTimeout) + BigInt(vp.auditCommitTimeout) + 1n);
    await b.splitSampled(batchId, index, provider);
    const auditor = await v.auditor(jobId);
    await v.commitAudit(jobId);
    const stakeBefore = await stakeOf(sys, provider.account.address);
    const auditorCredits = await market.read.credits([auditor.account.address]);
    const posterCredits = await market.read.credits([dapp.account.address]);
    await d.at(d.jobs.job(jobId).deadline + 1);
    await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: sys.keeper.account }));
    const collateral = b.batch(batchId).collateralPerJob;
    assert.equal(stakeBefore - (await stakeOf(sys, provider.account.address)), collateral, "withheld sampled job: whole collateral");
    assert.equal(
      (await market.read.credits([auditor.account.address])) - auditorCredits,
      (collateral * BigInt(vp.challengerRewardBps)) / BPS,
      "the auditor that committed blind gets the finder's share",
    );
    assert.equal(
      (await market.read.credits([dapp.account.address])) - posterCredits,
      FEE + (collateral * BigInt(SAMPLED_MARKET.expiryPenaltyBps)) / BPS,
      "the poster: its fee back and the expiry penalty's share",
    );
  });

  it("a batch reveal does not publish a split sampled job's output root before its auditor commits blind", async () => {
    // revealBatch needs every sampled job split out, not audited: a provider that splits and reveals its batch
    // at once puts the sampled job's output root in BatchRevealed before the auditor's blind commit. A lazy
    // auditor copies it (same root: Agree, never rechecked) and is paid without running the model; a wrong
    // result then passes its audit.
    const sys = await setUp(connection);
    const { b, d, v, market, batchMarket, provider } = sys;
    // Which jobs will be sampled is unknown at commit: the provider fakes them all (no model run). A batch with
    // no sampled job (one in 256 at 50%) is followed by another.
    const { batchId, sampled } = await b.postSampled({
      commit: (id) => b.claimAndCommit(id, { wrong: new Map(b.jobIds(id).map((job) => [job, keccak256(toHex(`fake ${job}`))] as const)) }),
    });
    for (const i of sampled) await b.splitSampled(batchId, i, provider);
    const jobId = b.batch(batchId).firstJobId + BigInt(sampled[0]!);
    let leaked: Hex | undefined;
    try {
      const receipt = await b.reveal(batchId);
      for (const log of receipt.logs) {
        try {
          const ev = decodeEventLog({ abi: batchMarket.abi, data: log.data, topics: log.topics });
          if (ev.eventName === "BatchRevealed") leaked = (ev.args.outputRoots as Hex[])[sampled[0]!];
        } catch {
          continue;
        }
      }
    } catch {
      // The reveal waits for the audit: nothing leaked.
    }
    if (leaked !== b.outputRootOf(jobId)) return;
    // The lazy auditor commits the leaked root, never computing the output.
    const output = { outputRoot: leaked, salt: keccak256(toHex("lazy")) };
    const auditor = await v.auditor(jobId);
    const auditorCredits = await market.read.credits([auditor.account.address]);
    await v.commitAudit(jobId, { output });
    await d.reveal(jobId, { outputRoot: leaked, salt: b.saltOf(jobId) });
    await v.revealAudit(jobId, { output, verdict: Verdict.Agree });
    await d.at(d.jobs.job(jobId).deadline + 1);
    await d.jobs.send(market.write.finalize([jobId, d.jobs.job(jobId)], { account: sys.keeper.account }));
    const reward = (await market.read.credits([auditor.account.address])) - auditorCredits;
    const paid = await market.read.credits([provider.account.address]);
    assert.fail(
      `sampled job ${jobId}: its fake output root ${leaked} was public in BatchRevealed before the blind commit; the auditor copied it ` +
        `and was paid ${reward} wei (${(FEE * BigInt(SAMPLED_VERIFICATION.auditRewardBps)) / BPS} expected reward) without running the model, ` +
        `the provider was paid ${paid} wei (${feeSplit(FEE, SAMPLED_MARKET).payout} per job) for a result it never computed`,
    );
  });
});
