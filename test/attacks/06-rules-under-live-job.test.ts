/**
 * Escape route 6 of issue 10: rules that change under a live job. A model owner used to loosen or tighten a
 * model's tolerance after a result was revealed and then challenge it; governance could change sampling,
 * timeouts, the fee split and penalties for jobs in flight. Now a model's hash, tolerance and runtime are
 * frozen, its collateral is snapshotted into each job, every job is judged by the terms version current
 * when it was posted, and a version that breaks the game is refused (docs/PROTOCOL.md section 3). A lower
 * collateral waits out a notice (ModelRegistry.COLLATERAL_NOTICE), so that an owner that serves its own model
 * cannot cut it in front of a dApp's post that is already on its way.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { getAddress, keccak256, parseEther, parseEventLogs, toHex, type Hex } from "viem";

import { JobStatus } from "../../offchain/chain/jobs.js";
import { batchDriver } from "../helpers/batch.js";
import { modelSpec } from "../helpers/fixture.js";
import { Verdict, Vote } from "../helpers/verification.js";
import { bps, COLLATERAL, deployArena, expectLoss, fmt, JOB_FEE, M, PAYOUT, play, SAMPLING, tokens, V, type Arena } from "./arena.js";

const connection = await network.create();
const { networkHelpers, viem } = connection;
const { assertions } = viem;

const arena = (conn: typeof connection) => deployArena(conn);

async function load() {
  const sys: Arena = await networkHelpers.loadFixture(arena);
  return { ...sys, ...play(connection, sys) };
}

describe("escape route 6: rules that change under a live job", () => {
  it("a model owner cannot move the tolerance, runtime or hash under a revealed result, and challenging it costs the owner its bond", async () => {
    const { registry, token, verification, owner, provider, d, v, post, commitWhere, judge, worth } = await load();
    const jobId = await post();
    await commitWhere(jobId, false);
    await d.reveal(jobId);
    assert.equal(getAddress((await registry.read.model([1n])).owner), getAddress(owner.account.address));
    const spec = modelSpec();
    const update = (change: Partial<typeof spec>) => registry.write.update([1n, { ...spec, ...change }], { account: owner.account });
    await assertions.revertWithCustomErrorWithArgs(
      update({ tolerance: { ...spec.tolerance, relTolE12: spec.tolerance.relTolE12 / 10n } }),
      registry,
      "ToleranceChanged",
      [1n],
    );
    await assertions.revertWithCustomErrorWithArgs(update({ tolerance: { kind: 2, axis: 0, absTolE12: 0n, relTolE12: 0n } }), registry, "ToleranceChanged", [1n]);
    await assertions.revertWithCustomErrorWithArgs(update({ runtime: "onnxruntime-node@1.31.0" }), registry, "RuntimeChanged", [1n]);
    const otherHash = keccak256(toHex("other model bytes"));
    await assertions.revertWithCustomErrorWithArgs(update({ modelHash: otherHash }), registry, "ModelHashChanged", [spec.modelHash, otherHash]);
    // What it may change (a new collateral) applies to later jobs: this job keeps the collateral it was posted with.
    await update({ minCollateral: parseEther("500") });
    assert.equal(d.jobs.job(jobId).collateral, COLLATERAL);

    // The owner challenges the honest result anyway: the committee judges it by the frozen tolerance.
    await token.write.mint([owner.account.address, V.challengeBond]);
    await token.write.approve([verification.address, V.challengeBond], { account: owner.account });
    const ownerBefore = await worth(owner);
    const providerBefore = await worth(provider);
    await v.challenge(jobId, owner);
    await judge(jobId, { truth: Vote.ProviderCorrect });
    const ownerNet = (await worth(owner)) - ownerBefore;
    const providerNet = (await worth(provider)) - providerBefore;
    assert.equal(d.jobs.job(jobId).status, JobStatus.Finalized);
    expectLoss(
      ownerNet === -V.challengeBond && providerNet === PAYOUT + bps(V.challengeBond, V.providerRewardBps),
      `a model owner challenging an honest result under its frozen tolerance: net ${fmt(ownerNet)} vs ${fmt(0)} for leaving it; the provider ${fmt(providerNet)}`,
    );
  });

  it("a model owner that serves its model cannot cut the collateral in front of a dApp's post: the job carries it whole, and a caught made-up result costs all of it", async () => {
    const sys = await load();
    const { registry, replicaMarket, token, owner, provider, dapp, d, v, net, post, commitWhere, judge } = sys;
    // The attacker owns the model it serves.
    await registry.write.transferModel([1n, provider.account.address], { account: owner.account });
    // Its best move: the collateral down to 1 wei, mined before the dApp's post (in the block before it here;
    // in the same block, ahead of it, the post reads the registry after it all the same).
    await registry.write.update([1n, modelSpec({ minCollateral: 1n })], { account: provider.account });
    const [lowered, effectiveAt] = await registry.read.pendingCollateral([1n]);
    assert.equal(lowered, 1n, "the cut is public a notice ahead: dApps read it before posting");
    const jobId = await post();
    assert.equal(d.jobs.job(jobId).collateral, COLLATERAL);

    // A batch and a redundant job posted during the notice copy the collateral in force as well.
    const batches = batchDriver({ connection, sys, d });
    await batches.fund(parseEther("10"));
    const batchId = await batches.post(2, { feePerJob: JOB_FEE });
    assert.equal(batches.batch(batchId).collateralPerJob, COLLATERAL);
    await token.write.approve([replicaMarket.address, 2n ** 256n - 1n], { account: dapp.account });
    const replicaPosted = await d.jobs.send(
      replicaMarket.write.post(
        [
          {
            modelId: 1n,
            feePerReplica: JOB_FEE,
            claimBy: (await d.now()) + 600n,
            replicas: 3,
            inputHash: keccak256(toHex("input blob")),
            inputURI: "http://127.0.0.1:8600/blobs/input",
            constraints: { allowlist: [] as Hex[], region: "0x0000000000000000", executionProviders: 0, minReputationPpm: 0 },
          },
        ],
        { account: dapp.account },
      ),
    );
    const [replicaJob] = parseEventLogs({ abi: replicaMarket.abi, logs: replicaPosted.logs, eventName: "ReplicaJobPosted" });
    assert.equal(replicaJob!.args.collateral, COLLATERAL);
    assert.ok((await d.now()) < effectiveAt);

    // The made-up result, in the world it fears: sampled, with an honest auditor that disagrees.
    await commitWhere(jobId, true);
    const truth = v.auditOutput(jobId, { agree: false });
    await v.commitAudit(jobId, { output: truth });
    const caught = await net([provider], async () => {
      await d.reveal(jobId);
      await v.revealAudit(jobId, { output: truth, verdict: Verdict.Disagree });
      await judge(jobId, { truth: Vote.ProviderWrong });
    });
    assert.equal(d.jobs.job(jobId).status, JobStatus.Slashed);
    // Per job at the local sampling rate: paid like honest work unsampled, the whole collateral lost sampled;
    // with the cut in force it would have risked 1 wei.
    const expected = (1 - SAMPLING) * tokens(PAYOUT) + SAMPLING * tokens(caught);
    const uncut = (1 - SAMPLING) * tokens(PAYOUT);
    expectLoss(
      caught === -COLLATERAL && expected < 0,
      `a collateral cut in front of a dApp's post: the job kept ${fmt(COLLATERAL)} at risk, caught ${fmt(caught)}; made-up results ${fmt(expected)} a job ` +
        `vs honest ${fmt(PAYOUT)} less compute (${fmt(uncut)} a job had the cut applied at once)`,
    );
  });

  it("governance's new terms apply to jobs posted afterwards only: a job in flight keeps its sampling, windows, fee split and penalties", async () => {
    const { terms, market, owner, provider, keeper, d, net, post, commitWhere } = await load();
    const inFlight = await post();
    await commitWhere(inFlight, false);
    const silent = await post();
    await d.claim(silent);

    // Governance turns every knob against providers: audit everything, a one-second window, the whole
    // collateral for a missed commit, a bigger cut of the fee.
    await terms.write.setVerificationParams([{ ...V, auditRewardBps: 100, voterRewardBps: 200 }], { account: owner.account });
    const harsh = { ...M, samplingPpm: 1_000_000, challengeWindow: 1, expiryPenaltyBps: 10_000, protocolFeeBps: 2_000, auditLevyBps: 3_000, revealTimeout: 100 };
    await terms.write.setParams([harsh], { account: owner.account });
    assert.equal(await market.read.termsVersion(), 3);
    assert.equal(d.jobs.job(inFlight).terms, 1);

    // The job in flight is revealed unsampled with the window and fee split of version 1.
    const paid = await net([provider], async () => {
      const revealed = await d.reveal(inFlight);
      const at = (await connection.viem.getPublicClient()).getBlock({ blockNumber: revealed.blockNumber });
      assert.equal(BigInt(d.jobs.job(inFlight).deadline), (await at).timestamp + BigInt(M.challengeWindow));
      assert.equal(d.jobs.job(inFlight).sampled, false);
      await d.finalize(inFlight);
    });
    // The claimed job that missed its commit loses the expiry penalty of version 1, not the whole collateral.
    const missed = await net([provider], async () => {
      await d.pastDeadline(silent);
      await d.jobs.send(market.write.expire([silent, d.jobs.job(silent)], { account: keeper.account }));
    });
    // A job posted now is judged by version 3.
    const later = await post();
    await d.claimAndCommit(later);
    assert.equal(d.jobs.job(later).terms, 3);
    expectLoss(
      paid === PAYOUT && missed === -bps(COLLATERAL, M.expiryPenaltyBps),
      `terms changed under live jobs: the job in flight paid ${fmt(paid)} (version 1's split, window and sampling), a missed commit ${fmt(missed)} ` +
        `(version 1's penalty; version 3 would take ${fmt(-bps(COLLATERAL, harsh.expiryPenaltyBps))})`,
    );
  });

  it("a terms version or staking change that breaks the game is refused", async () => {
    const { terms, staking, owner, stranger } = await load();
    const refused = async (call: Promise<unknown>, reason: string) =>
      assertions.revertWithCustomErrorWithArgs(call as never, terms, "InvalidParams", [reason]);
    const asOwner = { account: owner.account };
    await refused(
      terms.write.setVerificationParams([{ ...V, auditCommitTimeout: M.revealTimeout }], asOwner),
      "auditCommitTimeout: above zero and below revealTimeout",
    );
    await refused(
      terms.write.setVerificationParams([{ ...V, voteCommitTimeout: 200, voteRevealTimeout: 101 }], asOwner),
      "voteCommitTimeout+voteRevealTimeout: at most half of disputeDuration",
    );
    await refused(terms.write.setVerificationParams([{ ...V, challengeBond: parseEther("101") }], asOwner), "challengeBond above minVerifierStake");
    await refused(terms.write.setParams([{ ...M, challengeWindow: 3600 }], asOwner), "unbondingPeriod below the job lifetime");
    await refused(terms.write.setParams([{ ...M, samplingPpm: 100_000 }], asOwner), "auditLevyBps below the expected audit pay");
    await refused(terms.write.setParams([{ ...M, revealTimeout: V.auditCommitTimeout }], asOwner), "auditCommitTimeout: above zero and below revealTimeout");
    await assertions.revertWithCustomErrorWithArgs(
      terms.write.setParams([M], { account: stranger.account }),
      terms,
      "OwnableUnauthorizedAccount",
      [getAddress(stranger.account.address)],
    );
    // Staking must keep covering every version ever set: jobs keep their version.
    const required = await terms.read.requiredUnbondingPeriod();
    const params = await staking.read.params();
    await assertions.revertWithCustomErrorWithArgs(
      staking.write.setParams([{ ...params, unbondingPeriod: required - 1n }], asOwner),
      staking,
      "UnbondingPeriodTooShort",
      [required - 1n, required],
    );
    await assertions.revertWithCustomErrorWithArgs(
      staking.write.setParams([{ ...params, minVerifierStake: V.challengeBond - 1n }], asOwner),
      staking,
      "MinVerifierStakeBelowBond",
      [V.challengeBond - 1n, V.challengeBond],
    );
    assert.equal(await terms.read.termsVersion(), 1);
  });
});
