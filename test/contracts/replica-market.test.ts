/**
 * ReplicaMarket (contracts/ReplicaMarket.sol, docs/PROTOCOL.md "Redundant jobs"): k providers commit blind,
 * reveal, and are paid when they agree; a disagreement sends every revealed seat to a committee without any
 * sampling, a withheld seat loses its collateral, and the constraints bound into a job say who may take a seat.
 * Each rule comes with the attacker's best move against it and what that move costs.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { decodeEventLog, encodeAbiParameters, getAddress, keccak256, parseEther, toHex, zeroAddress, type Hex } from "viem";

import { commitment } from "../../offchain/codec/commitment.js";
import { deploySystem, FEE, MODEL_COLLATERAL, ROLE_PROVIDER, setUpMarket, stake, stakeVerifiers, type Connection } from "../helpers/fixture.js";
import { feeSplit, LOCAL_MARKET_PARAMS, marketDriver, type Wallet } from "../helpers/market.js";
import { DisputeReason, VERIFICATION_PARAMS, verificationDriver, Vote } from "../helpers/verification.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;

const Status = { None: 0, Open: 1, Agreed: 2, Disputed: 3, Expired: 4 } as const;
const EP_CPU = 1;
const EP_GPU = 2;
const M = LOCAL_MARKET_PARAMS;
const { payout: PAYOUT, protocolFee: PROTOCOL_FEE, auditLevy: LEVY } = feeSplit(FEE);
/** The audit and voter pay of these fixtures (see deployWith). */
const PAY = { auditRewardBps: 100, voterRewardBps: 200 };
/** A seat's committee reserve: committeeSize x voterRewardBps of the fee (IReplicaMarket.quote). */
const RESERVE = (FEE * BigInt(VERIFICATION_PARAMS.committeeSize) * BigInt(PAY.voterRewardBps)) / 10_000n;
const address = (w: Wallet) => getAddress(w.account.address);
/** A withheld seat's slashed collateral that goes to the poster: the expiry penalty's share (the rest to the audit pool). */
const POSTER_SHARE = (MODEL_COLLATERAL * BigInt(M.expiryPenaltyBps)) / 10_000n;

async function deployWith(conn: Connection, samplingPpm: number) {
  // Smaller audit and voter pay: ProtocolTerms refuses pay the audit levy could not cover at 100% sampling.
  const sys = await deploySystem(conn, { marketParams: { samplingPpm }, verificationParams: PAY });
  await setUpMarket(sys);
  const { wallets, verifiers } = await stakeVerifiers(conn, sys, 5);
  // Three more providers beside the fixture's (provider, provider2 and the stranger; the keeper stays out).
  for (const w of [sys.provider2, sys.stranger, sys.challenger]) await stake(sys, w.account.address, parseEther("1000"), ROLE_PROVIDER);
  await sys.token.write.approve([sys.replicaMarket.address, 2n ** 256n - 1n], { account: sys.dapp.account });
  await sys.market.write.fundAuditPool([parseEther("1000")], { account: sys.dapp.account });
  return { ...sys, wallets, verifiers };
}
const unsampled = (conn: Connection) => deployWith(conn, 0);
const sampled = (conn: Connection) => deployWith(conn, 1_000_000);
const halfSampled = (conn: Connection) => deployWith(conn, 500_000);

async function load(fixture = unsampled) {
  const sys = await networkHelpers.loadFixture(fixture);
  const d = marketDriver({ connection, ...sys });
  const v = verificationDriver({ connection, sys, d, wallets: sys.wallets });
  const { replicaMarket: rm, publicClient, staking } = sys;
  const chainId = BigInt(await publicClient.getChainId());
  const providers = [sys.provider, sys.provider2, sys.stranger, sys.challenger];
  const outputOf = (id: bigint, honest = true) => ({
    outputRoot: keccak256(toHex(honest ? `the right output of ${id}` : `a made-up output of ${id}`)),
  });
  const saltOf = (id: bigint, w: Wallet) => keccak256(toHex(`salt ${id} ${w.account.address}`));
  const send = async (tx: Promise<Hex>) => publicClient.waitForTransactionReceipt({ hash: await tx });

  async function post(overrides: Record<string, unknown> = {}, constraints: Record<string, unknown> = {}, poster: Wallet = sys.dapp) {
    const now = BigInt(await networkHelpers.time.latest());
    const request = {
      modelId: 1n,
      feePerReplica: FEE,
      claimBy: now + 600n,
      replicas: 3,
      inputHash: keccak256(toHex("input blob")),
      inputURI: "http://127.0.0.1:8600/blobs/input",
      constraints: { allowlist: [] as Hex[], region: "0x0000000000000000" as Hex, executionProviders: 0, minReputationPpm: 0, ...constraints },
      ...overrides,
    };
    await send(rm.write.post([request as never], { account: poster.account }));
    return rm.read.replicaJobCount();
  }
  async function commitAs(id: bigint, w: Wallet, honest = true) {
    const c = commitment({ chainId, jobMarket: rm.address, jobId: id, provider: w.account.address, outputRoot: outputOf(id, honest).outputRoot, salt: saltOf(id, w) });
    return send(rm.write.commit([id, c], { account: w.account }));
  }
  async function revealAs(id: bigint, w: Wallet, honest = true) {
    return send(rm.write.reveal([id, outputOf(id, honest).outputRoot, saltOf(id, w), `http://provider/${id}`], { account: w.account }));
  }
  const locked = async (w: Wallet) => (await staking.read.account([w.account.address])).locked;
  const stakeOf = async (w: Wallet) => (await staking.read.account([w.account.address])).stake;
  /** Settles (as the keeper) and folds the JobMarket's events of the settle into the market driver's jobs. */
  async function settle(id: bigint) {
    return d.jobs.send(rm.write.settle([id], { account: sys.keeper.account }));
  }
  async function disputedJobIds(receipt: Awaited<ReturnType<typeof settle>>) {
    return receipt.logs
      .filter((l) => l.address.toLowerCase() === rm.address.toLowerCase())
      .map((l) => decodeEventLog({ abi: rm.abi, data: l.data, topics: l.topics }))
      .filter((e) => e.eventName === "ReplicaDisputed")
      .map((e) => e.args as { provider: Hex; seat: bigint; jobId: bigint });
  }
  return { sys, d, v, rm, providers, post, commitAs, revealAs, settle, locked, stakeOf, disputedJobIds, send, outputOf };
}

describe("ReplicaMarket: redundant jobs", function () {
  describe("agreement", function () {
    it("three providers who agree are each paid the fee less the protocol fee and the levy, and their collateral comes back", async () => {
      const { sys, rm, providers, post, commitAs, revealAs, settle, locked } = await load();
      const id = await post();
      const seats = providers.slice(0, 3);
      for (const w of seats) await commitAs(id, w);
      for (const w of seats) assert.equal(await locked(w), MODEL_COLLATERAL);
      const pool = await sys.market.read.auditPool();
      for (const w of seats) await revealAs(id, w);
      await networkHelpers.mine(M.seedDelay + 1);
      await settle(id);
      const job = await rm.read.replicaJob([id]);
      assert.equal(job.status, Status.Agreed);
      for (const w of seats) {
        assert.equal(await rm.read.credits([w.account.address]), PAYOUT);
        assert.equal(await locked(w), 0n);
      }
      assert.equal(await rm.read.protocolFees(), PROTOCOL_FEE * 3n);
      assert.equal(await sys.market.read.auditPool(), pool + LEVY * 3n, "the levy funds the committees' pay");
      // No seat went to a committee: the poster has every committee reserve back.
      assert.equal(await rm.read.credits([sys.dapp.account.address]), RESERVE * 3n);
      // Nothing is left in the contract but what it owes.
      assert.equal(await sys.token.read.balanceOf([rm.address]), PAYOUT * 3n + PROTOCOL_FEE * 3n + RESERVE * 3n);
    });

    it("holds every reveal until every seat is committed, so nobody copies a published root", async () => {
      const { rm, providers, post, commitAs, revealAs } = await load();
      const id = await post();
      await commitAs(id, providers[0]!);
      await commitAs(id, providers[1]!);
      await viem.assertions.revertWithCustomErrorWithArgs(revealAs(id, providers[0]!), rm, "RevealsNotOpen", [id, (await rm.read.replicaJob([id])).claimBy]);
      assert.equal(await rm.read.revealDeadline([id]), 0n);
      await commitAs(id, providers[2]!);
      await revealAs(id, providers[0]!);
    });
  });

  describe("a cheater among honest providers", function () {
    it("is caught without any sampling: a different root sends every seat to a committee, which slashes the cheater and pays the honest", async () => {
      const { sys, v, rm, providers, post, commitAs, revealAs, settle, stakeOf, disputedJobIds } = await load();
      const [honest1, honest2, cheater] = providers as [Wallet, Wallet, Wallet];
      const id = await post();
      await commitAs(id, honest1);
      await commitAs(id, honest2);
      await commitAs(id, cheater, false);
      await revealAs(id, honest1);
      await revealAs(id, honest2);
      await revealAs(id, cheater, false);
      const cheaterStake = await stakeOf(cheater);
      const pool = await sys.market.read.auditPool();
      const receipt = await settle(id);
      // The three committees are paid from what the poster reserved for them, not from the auditors' pool.
      assert.equal(await sys.market.read.auditPool(), pool + RESERVE * 3n);
      assert.equal(await rm.read.credits([sys.dapp.account.address]), 0n);
      assert.equal((await rm.read.replicaJob([id])).status, Status.Disputed);
      const disputed = await disputedJobIds(receipt);
      assert.equal(disputed.length, 3);
      for (const { provider, seat, jobId } of disputed) {
        const dispute = await sys.verification.read.dispute([jobId]);
        assert.equal(dispute.reason, DisputeReason.Replicas, "opened by the protocol: no bond, no auditor draw");
        assert.equal(dispute.challenger, zeroAddress);
        assert.equal((await rm.read.seat([id, seat])).jobId, jobId);
        await v.drawCommittee(jobId);
        const wrong = getAddress(provider) === address(cheater);
        await v.vote(jobId, (await v.members(jobId)).map(() => (wrong ? Vote.ProviderWrong : Vote.ProviderCorrect)));
        await v.resolve(jobId);
      }
      // The honest seats were paid as a finalized job; the cheater lost its collateral.
      assert.equal(await sys.market.read.credits([honest1.account.address]), PAYOUT);
      assert.equal(await sys.market.read.credits([honest2.account.address]), PAYOUT);
      assert.equal(await sys.market.read.credits([cheater.account.address]), 0n);
      assert.equal(cheaterStake - (await stakeOf(cheater)), MODEL_COLLATERAL);
      // Its best move was honest work: what it lost exceeds what an honest seat earned.
      assert.ok(MODEL_COLLATERAL > PAYOUT);
      // The poster got the cheater's fee back and the finder's share of its slash.
      assert.ok((await sys.market.read.credits([sys.dapp.account.address])) >= FEE);
    });

    it("a cheater that sees the honest roots and withholds its reveal loses its whole collateral (the poster's share to the poster, the rest to the audit pool); the honest two are paid", async () => {
      const { sys, rm, providers, post, commitAs, revealAs, settle, stakeOf } = await load();
      const [honest1, honest2, cheater] = providers as [Wallet, Wallet, Wallet];
      const id = await post();
      await commitAs(id, honest1);
      await commitAs(id, honest2);
      await commitAs(id, cheater, false);
      await revealAs(id, honest1);
      await revealAs(id, honest2);
      await networkHelpers.mine(M.seedDelay + 1);
      const revealBy = await rm.read.revealDeadline([id]);
      // Before its reveal deadline the job waits for the withheld seat, on both sides of the deadline.
      await networkHelpers.time.setNextBlockTimestamp(revealBy);
      await viem.assertions.revertWithCustomError(settle(id), rm, "RevealsNotOver");
      await networkHelpers.time.setNextBlockTimestamp(revealBy + 1n);
      const before = await stakeOf(cheater);
      const pool = await sys.market.read.auditPool();
      await settle(id);
      assert.equal((await rm.read.replicaJob([id])).status, Status.Agreed);
      assert.equal(before - (await stakeOf(cheater)), MODEL_COLLATERAL);
      assert.equal(await rm.read.credits([sys.dapp.account.address]), FEE + POSTER_SHARE + RESERVE * 3n);
      assert.equal(await sys.market.read.auditPool(), pool + MODEL_COLLATERAL - POSTER_SHARE + LEVY * 2n, "the rest of the slash, and the paid seats' levies");
      assert.equal(await rm.read.credits([honest1.account.address]), PAYOUT);
      assert.equal(await rm.read.credits([honest2.account.address]), PAYOUT);
      assert.equal(await rm.read.credits([cheater.account.address]), 0n);
    });

    it("a provider posting to its own seats and withholding gets only the poster's share of its collateral back: a verifier penalty it owed on that collateral does not leave with it", async () => {
      const { sys, rm, providers, post, commitAs, revealAs, settle, stakeOf } = await load();
      const [self, other] = providers as [Wallet, Wallet];
      const staking = sys.staking;
      // The attacker both posts and provides: it stakes all it has as a seat's collateral of its own job.
      await sys.token.write.mint([self.account.address, parseEther("10")]);
      await sys.token.write.approve([rm.address, 2n ** 256n - 1n], { account: self.account });
      const free = (await stakeOf(self)) - (await staking.read.account([self.account.address])).locked;
      await staking.write.requestUnbond([free - MODEL_COLLATERAL], { account: self.account });
      await networkHelpers.time.increase(Number((await staking.read.params()).unbondingPeriod) + 1);
      await staking.write.withdraw({ account: self.account });
      const id = await post({ replicas: 2 }, {}, self);
      await commitAs(id, self, false);
      await commitAs(id, other);
      assert.equal(await staking.read.availableStake([self.account.address]), 0n);
      // A verifier penalty it cannot pay from free stake is owed on that collateral (Verification's call, played
      // here by its address).
      await networkHelpers.impersonateAccount(sys.verification.address);
      await networkHelpers.setBalance(sys.verification.address, parseEther("1"));
      await staking.write.penalize([self.account.address, VERIFICATION_PARAMS.challengeBond, sys.verification.address], { account: sys.verification.address });
      assert.equal(await staking.read.penaltyDebt([self.account.address]), VERIFICATION_PARAMS.challengeBond);
      await revealAs(id, other);
      // Its best move: withhold its own seat, so its collateral is slashed to its own job's poster (itself).
      const worth = async () =>
        (await sys.token.read.balanceOf([self.account.address])) + (await rm.read.credits([self.account.address])) + (await stakeOf(self));
      const before = await worth();
      await networkHelpers.time.increaseTo((await rm.read.revealDeadline([id])) + 1n);
      await settle(id);
      assert.equal(await staking.read.penaltyDebt([self.account.address]), 0n, "written off with the collateral the slash took");
      // It got back its seat's fee and reserve and the poster's share: the collateral is lost, far more than the debt.
      const net = (await worth()) - before;
      const escaped = MODEL_COLLATERAL + net;
      assert.equal(net, FEE + RESERVE + POSTER_SHARE - MODEL_COLLATERAL);
      assert.ok(
        -net > VERIFICATION_PARAMS.challengeBond,
        `withholding its own seat to shed a ${VERIFICATION_PARAMS.challengeBond} debt cost ${-net} (it kept ${escaped} of ${MODEL_COLLATERAL}); paying the debt costs ${VERIFICATION_PARAMS.challengeBond}`,
      );
    });

    it("one owner of every seat agreeing on a made-up root is sent to committees when the seed samples the job", async () => {
      const { sys, rm, providers, post, commitAs, revealAs, settle, disputedJobIds } = await load(sampled);
      const id = await post({ replicas: 2 });
      await commitAs(id, providers[0]!, false);
      await commitAs(id, providers[1]!, false);
      await revealAs(id, providers[0]!, false);
      await revealAs(id, providers[1]!, false);
      // The seed is that of the block seedDelay after the last commit: settling waits for it.
      const receipt = await settle(id).catch(async (error) => {
        assert.match(String(error), /SeedNotReady/);
        await networkHelpers.mine(M.seedDelay + 1);
        return settle(id);
      });
      const job = await rm.read.replicaJob([id]);
      assert.equal(job.status, Status.Disputed);
      assert.equal((await disputedJobIds(receipt)).length, 2);
      assert.equal(await rm.read.credits([providers[0]!.account.address]), 0n, "not paid on its own word");
      assert.equal(await sys.market.read.jobCount() >= 2n, true);
    });
  });

  describe("the sampling seed and the committees' pay", function () {
    it("the poster pays each seat's committee reserve up front (quote) and the pool is never what pays a dispute the job caused", async () => {
      const { sys, rm, providers, post, commitAs, revealAs, settle } = await load();
      const [total, perSeat] = await rm.read.quote([FEE, 2n]);
      assert.deepEqual([total, perSeat], [(FEE + RESERVE) * 2n, RESERVE]);
      const before = await sys.token.read.balanceOf([sys.dapp.account.address]);
      // The attack the reserve answers: a poster whose own account takes one seat and leaves the other empty sends
      // a lone root to a committee; the committee's pay comes out of the poster's reserve, not the pool.
      const id = await post({ replicas: 2 });
      assert.equal(before - (await sys.token.read.balanceOf([sys.dapp.account.address])), total);
      await commitAs(id, providers[0]!);
      const { claimBy } = await rm.read.replicaJob([id]);
      await networkHelpers.time.setNextBlockTimestamp(claimBy + 1n);
      await revealAs(id, providers[0]!);
      const pool = await sys.market.read.auditPool();
      await settle(id);
      assert.equal((await rm.read.replicaJob([id])).status, Status.Disputed);
      assert.equal(await sys.market.read.auditPool(), pool + RESERVE, "the lone seat's committee reserve");
      // The empty seat's fee and reserve come back.
      assert.equal(await rm.read.credits([sys.dapp.account.address]), FEE + RESERVE);
    });

    it("seals the seat set before its seed exists: a seat added later cannot re-roll the sampling seed", async () => {
      const { sys, rm, providers, post, commitAs, revealAs, settle } = await load(halfSampled);
      const key = (id: bigint) => BigInt(keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [rm.address, id])));
      // Full: sealed by the last seat's commit.
      const full = await post({ replicas: 2 });
      await commitAs(full, providers[0]!);
      const last = await commitAs(full, providers[1]!);
      assert.equal((await rm.read.replicaJob([full])).sealedBlock, Number(last.blockNumber));
      for (const w of providers.slice(0, 2)) await revealAs(full, w);
      // Seats left empty: sealed by the first reveal after claimBy, when no seat can be added any more.
      const partial = await post({ replicas: 3 });
      await commitAs(partial, providers[0]!);
      await commitAs(partial, providers[1]!);
      await networkHelpers.mine(M.seedDelay + 1);
      assert.equal((await rm.read.replicaJob([partial])).sealedBlock, 0, "not sealed while a seat may still be taken");
      const { claimBy } = await rm.read.replicaJob([partial]);
      await networkHelpers.time.setNextBlockTimestamp(claimBy + 1n);
      await viem.assertions.revertWithCustomError(commitAs(partial, providers[2]!), rm, "DeadlinePassed");
      const first = await revealAs(partial, providers[0]!);
      await revealAs(partial, providers[1]!);
      assert.equal((await rm.read.replicaJob([partial])).sealedBlock, Number(first.blockNumber));
      await networkHelpers.mine(M.seedDelay + 1);
      for (const id of [full, partial]) {
        const { sealedBlock, terms } = await rm.read.replicaJob([id]);
        const [, expected] = await sys.market.read.samplingOf([key(id), BigInt(sealedBlock), BigInt(terms)]);
        await settle(id);
        const logs = await sys.publicClient.getContractEvents({ address: rm.address, abi: rm.abi, eventName: "ReplicaJobSettled", args: { replicaJobId: id }, fromBlock: 0n });
        assert.equal(logs[0]!.args.sampled, expected, `job ${id}: sampled by the seed of its sealed block`);
        assert.equal((await rm.read.replicaJob([id])).status, expected ? Status.Disputed : Status.Agreed);
      }
    });
  });

  describe("deadlines and refunds", function () {
    it("expires with a full refund when nobody committed by claimBy, not a second before", async () => {
      const { sys, rm, post, settle } = await load();
      const id = await post();
      const { claimBy } = await rm.read.replicaJob([id]);
      await networkHelpers.time.setNextBlockTimestamp(claimBy);
      await viem.assertions.revertWithCustomError(settle(id), rm, "RevealsNotOver");
      await networkHelpers.time.setNextBlockTimestamp(claimBy + 1n);
      await settle(id);
      assert.equal((await rm.read.replicaJob([id])).status, Status.Expired);
      assert.equal(await rm.read.credits([sys.dapp.account.address]), (FEE + RESERVE) * 3n);
    });

    it("takes seats until claimBy inclusive; then the committed seats reveal and the empty seat's fee goes back", async () => {
      const { sys, rm, providers, post, commitAs, revealAs, settle } = await load();
      const id = await post();
      const { claimBy } = await rm.read.replicaJob([id]);
      await commitAs(id, providers[0]!);
      await networkHelpers.time.setNextBlockTimestamp(claimBy);
      await commitAs(id, providers[1]!);
      await viem.assertions.revertWithCustomError(commitAs(id, providers[2]!), rm, "DeadlinePassed");
      await networkHelpers.mine(1);
      assert.equal(await rm.read.revealDeadline([id]), claimBy + BigInt(M.revealTimeout));
      await revealAs(id, providers[0]!);
      await revealAs(id, providers[1]!);
      await networkHelpers.mine(M.seedDelay + 1);
      await settle(id);
      assert.equal((await rm.read.replicaJob([id])).status, Status.Agreed);
      assert.equal(await rm.read.credits([sys.dapp.account.address]), FEE + RESERVE * 3n);
    });

    it("refuses a reveal after revealBy", async () => {
      const { rm, providers, post, commitAs, revealAs } = await load();
      const id = await post({ replicas: 2 });
      await commitAs(id, providers[0]!);
      await commitAs(id, providers[1]!);
      const revealBy = await rm.read.revealDeadline([id]);
      await networkHelpers.time.setNextBlockTimestamp(revealBy);
      await revealAs(id, providers[0]!);
      await networkHelpers.time.setNextBlockTimestamp(revealBy + 1n);
      await viem.assertions.revertWithCustomError(revealAs(id, providers[1]!), rm, "DeadlinePassed");
    });
  });

  describe("who may take a seat", function () {
    it("one seat per provider, as many seats as asked for, and only staked providers", async () => {
      const { sys, rm, providers, post, commitAs } = await load();
      const id = await post({ replicas: 2 });
      await commitAs(id, providers[0]!);
      await viem.assertions.revertWithCustomErrorWithArgs(commitAs(id, providers[0]!), rm, "AlreadySeated", [id, address(providers[0]!)]);
      await viem.assertions.revertWithCustomError(commitAs(id, sys.keeper), sys.staking, "NotProvider");
      await commitAs(id, providers[1]!);
      await viem.assertions.revertWithCustomErrorWithArgs(commitAs(id, providers[2]!), rm, "SeatsFull", [id]);
    });

    it("an allowlist admits only the providers it names", async () => {
      const { rm, providers, post, commitAs } = await load();
      const id = await post({ replicas: 2 }, { allowlist: [address(providers[0]!), address(providers[1]!)] });
      assert.equal(await rm.read.allowed([id, address(providers[2]!)]), false);
      await viem.assertions.revertWithCustomErrorWithArgs(commitAs(id, providers[2]!), rm, "ProviderNotAllowed", [id, address(providers[2]!)]);
      await commitAs(id, providers[0]!);
      await commitAs(id, providers[1]!);
    });

    it("a region and execution providers admit only providers whose profile declares them", async () => {
      const { sys, rm, providers, post, commitAs } = await load();
      const region = toHex("eu-west", { size: 8 });
      await sys.profiles.write.setProfile([region, EP_GPU, 4, [1], "", `0x${"00".repeat(32)}`], { account: providers[0]!.account });
      await sys.profiles.write.setProfile([region, EP_CPU, 4, [1], "", `0x${"00".repeat(32)}`], { account: providers[1]!.account });
      const id = await post({ replicas: 2 }, { region, executionProviders: EP_GPU });
      await viem.assertions.revertWithCustomError(commitAs(id, providers[1]!), rm, "ProviderNotAllowed");
      await viem.assertions.revertWithCustomError(commitAs(id, providers[2]!), rm, "ProviderNotAllowed");
      await commitAs(id, providers[0]!);
    });

    it("refuses posts it could never fill or could not judge", async () => {
      const { rm, providers, post } = await load();
      await viem.assertions.revertWithCustomErrorWithArgs(post({ replicas: 1 }), rm, "ReplicaCountInvalid", [1n, 2n, 5n]);
      await viem.assertions.revertWithCustomErrorWithArgs(post({ replicas: 6 }), rm, "ReplicaCountInvalid", [6n, 2n, 5n]);
      await viem.assertions.revertWithCustomErrorWithArgs(post({ replicas: 3 }, { allowlist: [address(providers[0]!), address(providers[1]!)] }), rm, "AllowlistInvalid", [2n, 3n, 16n]);
      await viem.assertions.revertWithCustomErrorWithArgs(post({ replicas: 2 }, { allowlist: [address(providers[0]!), address(providers[0]!)] }), rm, "AllowlistDuplicate", [address(providers[0]!)]);
      await viem.assertions.revertWithCustomErrorWithArgs(post({}, { executionProviders: 4 }), rm, "UnknownExecutionProviders", [4]);
      await viem.assertions.revertWithCustomError(post({ inputHash: `0x${"00".repeat(32)}` }), rm, "MissingInput");
      await viem.assertions.revertWithCustomError(post({ feePerReplica: 1n }), rm, "FeeBelowFloor");
    });
  });

  describe("the gateway", function () {
    it("only the ReplicaMarket imports through the BatchMarket, and only the BatchMarket opens replica disputes", async () => {
      const { sys, d } = await load();
      const job = {
        poster: address(sys.dapp), modelId: 1, terms: 1, fee: FEE, collateral: MODEL_COLLATERAL, callbackGasLimit: 0, status: 4,
        deadline: Number(await d.now()) + 100, provider: address(sys.provider), commitBlock: 1n, result: keccak256(toHex("x")), inlineOutput: false, sampled: false,
      };
      await viem.assertions.revertWithCustomErrorWithArgs(sys.batchMarket.write.importReplica([job], { account: sys.stranger.account }), sys.batchMarket, "NotReplicaMarket", [address(sys.stranger)]);
      await viem.assertions.revertWithCustomErrorWithArgs(sys.verification.write.disputeReplica([1n, job], { account: sys.stranger.account }), sys.verification, "NotMarket", [address(sys.stranger)]);
      await viem.assertions.revertWithCustomError(sys.staking.write.setReplicaMarket([address(sys.stranger)], { account: sys.owner.account }), sys.staking, "ProtocolAlreadySet");
      await viem.assertions.revertWithCustomError(sys.batchMarket.write.setReplicaMarket([address(sys.stranger)], { account: sys.owner.account }), sys.batchMarket, "ProtocolAlreadySet");
    });
  });
});
