/**
 * Named attacks on the JobMarket and its neighbours that are not moves of the verification game, one `it`
 * each: what an adversarial provider, poster, keeper, consumer or token tries, and what must hold anyway.
 * The test-only attackers live in contracts/test/. The verification game's escape routes (issue 10) have
 * their own suite, one file per route: test/attacks/.
 */
import assert from "node:assert/strict";

import { network } from "hardhat";
import { describe, it } from "mocha";
import { encodeFunctionData, getAddress, parseEther, parseEventLogs, toHex, type Address, type Hash, type Hex } from "viem";

import { hashJob, JobStatus } from "../../offchain/chain/jobs.js";
import {
  deploySystem,
  FEE,
  MODEL_COLLATERAL,
  ROLE_PROVIDER,
  setUpMarket,
  stake,
  type Connection,
} from "../helpers/fixture.js";
import {
  CHALLENGE_BOND,
  deployMarketOn,
  expiryPenalty,
  feeOnTransferSystem,
  feeSplit,
  hooksSystem,
  inlineRoot,
  MARKET_PARAMS,
  marketDriver,
  REENTRANT_CALL,
  type Market,
  type MarketDriver,
  type Wallet,
} from "../helpers/market.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;
const { assertions } = viem;

const address = (wallet: Wallet) => getAddress(wallet.account.address);
const PENALTY = expiryPenalty(MODEL_COLLATERAL);
const CALLBACK_GAS = BigInt(MARKET_PARAMS.callbackGasLimit);
/** What finalize insists on having left before a callback of CALLBACK_GAS (JobMarket._deliver). */
const CALLBACK_REQUIRED = CALLBACK_GAS + CALLBACK_GAS / 63n + 10_000n;

/** The Ignition deployment with two staked providers and a challenger funded for bonds. */
async function deployed(conn: Connection) {
  const sys = await deploySystem(conn);
  await setUpMarket(sys);
  await stake(sys, sys.provider2.account.address, parseEther("1000"), ROLE_PROVIDER);
  await sys.token.write.mint([sys.challenger.account.address, parseEther("1000")]);
  await sys.token.write.approve([sys.verification.address, parseEther("1000")], { account: sys.challenger.account });
  return sys;
}

async function load() {
  const sys = await networkHelpers.loadFixture(deployed);
  return { ...sys, d: marketDriver({ connection, ...sys }) };
}

async function loadHooks() {
  const sys = await networkHelpers.loadFixture(hooksSystem);
  return { ...sys, d: marketDriver({ connection, ...sys }) };
}

/** Funds a consumer (contracts/test) deployed on `sys`'s market for a few jobs. */
async function funded<T extends { address: Address }>(sys: Awaited<ReturnType<typeof load>>, deploying: Promise<T>) {
  const consumer = await deploying;
  await sys.token.write.mint([consumer.address, parseEther("1000")]);
  return consumer;
}

/** The job is in `status` and the market's stored hash is that of the tracked state. */
async function assertJob(market: Market, d: MarketDriver, jobId: bigint, status: number) {
  assert.equal(d.jobs.job(jobId).status, status);
  assert.equal(await market.read.jobHash([jobId]), hashJob(d.jobs.job(jobId)));
}

describe("attacks", () => {
  it("unbonding cannot escape a slash for a job still open", async () => {
    const { market, staking, terms, token, hook, dapp, provider, challenger: recipient, d } = await loadHooks();
    const p = provider.account.address;
    const expiring = await d.claimed();
    const faulted = await d.revealed();
    await d.jobs.send(market.write.openDispute([faulted, d.jobs.job(faulted)], { account: hook.account }));

    // The provider runs for the door with every unlocked token while both jobs are open.
    await staking.write.requestUnbond([parseEther("800")], { account: provider.account });
    await assertions.revertWithCustomErrorWithArgs(
      staking.write.requestUnbond([1n], { account: provider.account }),
      staking,
      "InsufficientUnlockedStake",
      [getAddress(p), 0n, 1n],
    );
    const unbondingEnd = (await staking.read.account([p])).unbondingEnd;
    assert.ok(unbondingEnd - (await d.now()) >= (await terms.read.requiredUnbondingPeriod()));

    // The missed commit still costs the penalty, and the faulted result the whole collateral.
    await d.pastDeadline(expiring);
    const expired = await d.jobs.send(market.write.expire([expiring, d.jobs.job(expiring)], { account: dapp.account }));
    await assertions.emitWithArgs(expired.transactionHash, market, "JobExpired", [expiring, JobStatus.Claimed, FEE, PENALTY, false]);
    const settled = await d.jobs.send(
      market.write.settleDispute([faulted, d.jobs.job(faulted), true, recipient.account.address, "0x"], { account: hook.account }),
    );
    await assertions.emitWithArgs(settled.transactionHash, market, "DisputeSettled", [faulted, true, MODEL_COLLATERAL]);
    assert.equal(await token.read.balanceOf([recipient.account.address]), MODEL_COLLATERAL);
    assert.equal(await market.read.credits([dapp.account.address]), 2n * FEE + PENALTY);
    let account = await staking.read.account([p]);
    assert.deepEqual([account.stake, account.locked, account.unbonding], [parseEther("90"), 0n, parseEther("800")]);

    // Unbonding stake stays slashable: a slash past the active stake takes the rest from it.
    const hash = await staking.write.slash([p, 0n, parseEther("150"), recipient.account.address], { account: hook.account });
    await assertions.emitWithArgs(hash, staking, "Slashed", [getAddress(p), parseEther("150"), parseEther("150"), address(recipient)]);
    account = await staking.read.account([p]);
    assert.deepEqual([account.stake, account.locked, account.unbonding], [0n, 0n, parseEther("740")]);
    assert.equal(await token.read.balanceOf([recipient.account.address]), MODEL_COLLATERAL + parseEther("150"));

    // What leaves at the end of the period is only what was never slashed.
    await d.at(unbondingEnd - 1n);
    await assertions.revertWithCustomErrorWithArgs(
      staking.write.withdraw({ account: provider.account }),
      staking,
      "UnbondingNotFinished",
      [getAddress(p), unbondingEnd, unbondingEnd - 1n],
    );
    await d.at(unbondingEnd);
    const before = await token.read.balanceOf([p]);
    await staking.write.withdraw({ account: provider.account });
    assert.equal((await token.read.balanceOf([p])) - before, parseEther("740"));
  });

  it("no provider action can make a slash revert", async () => {
    const { market, staking, token, hook, dapp, provider, challenger: recipient, d } = await loadHooks();
    const p = provider.account.address;
    const expiring = await d.claimed();
    const faulted = await d.revealed();
    await d.jobs.send(market.write.openDispute([faulted, d.jobs.job(faulted)], { account: hook.account }));

    // Everything a provider can do to its own account: unbond all it may, drop its roles, try to leave.
    await staking.write.requestUnbond([parseEther("800")], { account: provider.account });
    await staking.write.setRoles([0], { account: provider.account });
    await assertions.revertWithCustomError(staking.write.withdraw({ account: provider.account }), staking, "UnbondingNotFinished");
    // Another slash (another job's dispute) takes most of its active stake first; its locks shrink with it.
    await staking.write.slash([p, 0n, parseEther("150"), recipient.account.address], { account: hook.account });
    let account = await staking.read.account([p]);
    assert.deepEqual([account.stake, account.locked, account.roles], [parseEther("50"), parseEther("50"), 0]);

    // The expiry still takes its penalty...
    await d.pastDeadline(expiring);
    const expired = await d.jobs.send(market.write.expire([expiring, d.jobs.job(expiring)], { account: dapp.account }));
    await assertions.emitWithArgs(expired.transactionHash, market, "JobExpired", [expiring, JobStatus.Claimed, FEE, PENALTY, false]);
    // ...the provider unbonds the stake that freed up...
    await staking.write.requestUnbond([parseEther("40")], { account: provider.account });
    account = await staking.read.account([p]);
    assert.deepEqual([account.stake, account.locked, account.unbonding], [0n, 0n, parseEther("840")]);

    // ...and the faulted job's slash still gets the whole collateral, from unbonding stake.
    const args = [faulted, d.jobs.job(faulted), true, recipient.account.address, "0x"] as const;
    assert.equal((await market.simulate.settleDispute(args, { account: hook.account.address })).result, MODEL_COLLATERAL);
    await d.jobs.send(market.write.settleDispute(args, { account: hook.account }));
    account = await staking.read.account([p]);
    assert.deepEqual([account.stake, account.locked, account.unbonding], [0n, 0n, parseEther("740")]);
    assert.equal(await token.read.balanceOf([recipient.account.address]), parseEther("150") + MODEL_COLLATERAL);
    assert.equal(await market.read.credits([dapp.account.address]), 2n * FEE + PENALTY);
    await assertJob(market, d, expiring, JobStatus.Expired);
    await assertJob(market, d, faulted, JobStatus.Slashed);
  });

  it("a job is never slashed or paid twice", async () => {
    const { market, staking, token, hook, keeper, dapp, provider, challenger: recipient, d } = await loadHooks();
    const finalized = await d.revealed();
    const finalizedRevealed = d.jobs.job(finalized);
    const expired = await d.claimed();
    const expiredClaimed = d.jobs.job(expired);
    const slashed = await d.revealed();
    const slashedRevealed = d.jobs.job(slashed);
    await d.jobs.send(market.write.openDispute([slashed, slashedRevealed], { account: hook.account }));
    const slashedDisputed = d.jobs.job(slashed);

    await d.finalize(finalized);
    await d.pastDeadline(expired);
    await d.jobs.send(market.write.expire([expired, expiredClaimed], { account: keeper.account }));
    await d.jobs.send(market.write.settleDispute([slashed, slashedDisputed, true, recipient.account.address, "0x"], { account: hook.account }));
    // Everything the market holds it owes (credits, protocol fees, audit pool), and no more.
    const { payout, protocolFee, auditLevy } = feeSplit(FEE);
    const books = async () => [
      await market.read.credits([provider.account.address]),
      await market.read.credits([dapp.account.address]),
      await market.read.protocolFees(),
      await market.read.auditPool(),
      await token.read.balanceOf([market.address]),
      (await staking.read.account([provider.account.address])).stake,
    ];
    const before = await books();
    const refunds = 2n * FEE + PENALTY;
    const stakeLeft = parseEther("1000") - PENALTY - MODEL_COLLATERAL;
    assert.deepEqual(before, [payout, refunds, protocolFee, auditLevy, payout + refunds + protocolFee + auditLevy, stakeLeft]);

    const k = { account: keeper.account };
    const v = { account: hook.account };
    const r = recipient.account.address;
    // [what, call, job, status]: a status means WrongStatus(job, status), none means JobMismatch(job).
    const attempts: [string, () => Promise<Hash>, bigint, number?][] = [
      ["finalize again", () => market.write.finalize([finalized, d.jobs.job(finalized)], k), finalized, JobStatus.Finalized],
      ["finalize the old revealed state", () => market.write.finalize([finalized, finalizedRevealed], k), finalized],
      ["expire a finalized job", () => market.write.expire([finalized, d.jobs.job(finalized)], k), finalized, JobStatus.Finalized],
      [
        "settle a finalized job",
        () => market.write.settleDispute([finalized, d.jobs.job(finalized), true, r, "0x"], v),
        finalized,
        JobStatus.Finalized,
      ],
      ["dispute the old revealed state", () => market.write.openDispute([finalized, finalizedRevealed], v), finalized],
      ["expire again", () => market.write.expire([expired, d.jobs.job(expired)], k), expired, JobStatus.Expired],
      ["expire the old claimed state", () => market.write.expire([expired, expiredClaimed], k), expired],
      ["settle again", () => market.write.settleDispute([slashed, d.jobs.job(slashed), true, r, "0x"], v), slashed, JobStatus.Slashed],
      ["settle the old disputed state", () => market.write.settleDispute([slashed, slashedDisputed, false, r, "0x"], v), slashed],
      ["finalize the old revealed state of a slashed job", () => market.write.finalize([slashed, slashedRevealed], k), slashed],
    ];
    for (const [what, call, jobId, status] of attempts) {
      const expected =
        status === undefined
          ? assertions.revertWithCustomErrorWithArgs(call(), market, "JobMismatch", [jobId])
          : assertions.revertWithCustomErrorWithArgs(call(), market, "WrongStatus", [jobId, status]);
      await expected.catch((cause: Error) => {
        throw new Error(`${what}: ${cause.message}`, { cause });
      });
    }
    assert.deepEqual(await books(), before);
  });

  it("two claims in one block: one wins", async () => {
    const { market, staking, provider, provider2, d } = await load();
    const jobId = await d.post();
    const posted = d.jobs.job(jobId);
    const block = await d.latestBlock();
    await connection.provider.request({ method: "evm_setAutomine", params: [false] });
    let hashes: Hash[] = [];
    try {
      // An explicit gas limit: estimating against the pending block would already see the first claim.
      hashes = [
        await market.write.claim([jobId, posted], { account: provider.account, gas: 500_000n }),
        await market.write.claim([jobId, posted], { account: provider2.account, gas: 500_000n }),
      ];
      await networkHelpers.mine();
    } finally {
      await connection.provider.request({ method: "evm_setAutomine", params: [true] });
    }
    const receipts = await Promise.all(hashes.map((hash) => d.jobs.send(hash)));
    assert.deepEqual(receipts.map((r) => r.blockNumber), [block + 1n, block + 1n]);
    assert.deepEqual(receipts.map((r) => r.status).sort(), ["reverted", "success"]);
    const [winner, loser] = receipts[0]!.status === "success" ? [provider, provider2] : [provider2, provider];
    await assertJob(market, d, jobId, JobStatus.Claimed);
    assert.equal(d.jobs.job(jobId).provider, address(winner));
    assert.equal((await staking.read.account([winner.account.address])).locked, MODEL_COLLATERAL);
    assert.equal((await staking.read.account([loser.account.address])).locked, 0n);
    // The loser's claim replays a state the market no longer holds.
    await assertions.revertWithCustomErrorWithArgs(
      market.simulate.claim([jobId, posted], { account: loser.account.address }),
      market,
      "JobMismatch",
      [jobId],
    );
  });

  it("reveal by a non-committer, with a wrong salt, or before the seed block is rejected", async () => {
    const { market, provider, provider2, d } = await load();
    const jobId = await d.claimed();
    const { blockNumber: commitBlock } = await d.commit(jobId);
    const seedBlock = commitBlock + BigInt(MARKET_PARAMS.seedDelay);
    await networkHelpers.mine(Number(seedBlock - commitBlock - 1n));
    assert.equal((await d.latestBlock()) + 1n, seedBlock, "the next block is the seed block");
    const revealAs = (by: Wallet, options = {}) => market.write.reveal(d.revealArgs(jobId, options), { account: by.account });

    await assertions.revertWithCustomErrorWithArgs(revealAs(provider), market, "SeedNotReady", [jobId, seedBlock, seedBlock]);
    await networkHelpers.mine();
    // The seed block exists now: still only the committer, and only with its own salt.
    await assertions.revertWithCustomErrorWithArgs(revealAs(provider2), market, "NotJobProvider", [jobId, address(provider2)]);
    await assertions.revertWithCustomErrorWithArgs(
      revealAs(provider, { salt: d.outputOf(jobId + 1n).salt }),
      market,
      "CommitmentMismatch",
      [jobId],
    );
    const { blockNumber } = await d.reveal(jobId, { waitSeed: false });
    assert.equal(blockNumber, seedBlock + 1n);
    await assertJob(market, d, jobId, JobStatus.Revealed);
  });

  it("a commitment copied onto another job cannot be revealed", async () => {
    const { market, provider2, d } = await load();
    const original = await d.revealed();
    const copy = await d.post();
    await d.claim(copy, provider2);
    // provider2 commits the other job's commitment, then reveals the root and salt published with it.
    const theirs = await d.commitmentOf(original, d.outputOf(original));
    await d.jobs.send(market.write.commit([copy, d.jobs.job(copy), theirs], { account: provider2.account }));
    assert.equal(d.jobs.job(copy).result, theirs);
    await d.waitForSeed(copy);
    await assertions.revertWithCustomErrorWithArgs(
      market.write.reveal(d.revealArgs(copy, d.outputOf(original)), { account: provider2.account }),
      market,
      "CommitmentMismatch",
      [copy],
    );
  });

  it("a vanished provider's job expires with a refund", async () => {
    const { market, staking, token, dapp, provider, stranger, d } = await load();
    const jobId = await d.committed();
    const revealBy = BigInt(d.jobs.job(jobId).deadline);
    // The provider never reveals. Until revealBy it may still do so, so nobody can expire the job...
    await d.at(revealBy);
    await assertions.revertWithCustomErrorWithArgs(
      market.write.expire([jobId, d.jobs.job(jobId)], { account: stranger.account }),
      market,
      "DeadlineNotPassed",
      [jobId, revealBy, revealBy],
    );
    // ...and from the next second anyone can, refunding the poster with the provider's penalty on top.
    await d.at(revealBy + 1n);
    const { transactionHash } = await d.jobs.send(market.write.expire([jobId, d.jobs.job(jobId)], { account: stranger.account }));
    await assertions.emitWithArgs(transactionHash, market, "JobExpired", [jobId, JobStatus.Committed, FEE, PENALTY, false]);
    const before = await token.read.balanceOf([dapp.account.address]);
    await market.write.withdraw({ account: dapp.account });
    assert.equal((await token.read.balanceOf([dapp.account.address])) - before, FEE + PENALTY);
    assert.equal(await market.read.credits([stranger.account.address]), 0n);
    const account = await staking.read.account([provider.account.address]);
    assert.deepEqual([account.stake, account.locked], [parseEther("1000") - PENALTY, 0n]);
    await assertJob(market, d, jobId, JobStatus.Expired);
  });

  it("anyone can finalize after the window and nobody before", async () => {
    const { market, owner, dapp, provider, keeper, stranger, d } = await load();
    const jobId = await d.revealed();
    const end = BigInt(d.jobs.job(jobId).deadline);
    await d.at(end);
    for (const who of [owner, dapp, provider, keeper, stranger]) {
      await assertions.revertWithCustomErrorWithArgs(
        market.write.finalize([jobId, d.jobs.job(jobId)], { account: who.account }),
        market,
        "DeadlineNotPassed",
        [jobId, end, end],
      );
    }
    await d.at(end + 1n);
    const { transactionHash } = await d.jobs.send(market.write.finalize([jobId, d.jobs.job(jobId)], { account: stranger.account }));
    await assertions.emitWithArgs(transactionHash, market, "JobFinalized", [jobId, address(provider), feeSplit(FEE).payout]);
    assert.equal(await market.read.credits([provider.account.address]), feeSplit(FEE).payout);
    assert.equal(await market.read.credits([stranger.account.address]), 0n);
    await assertJob(market, d, jobId, JobStatus.Finalized);
  });

  it("a reverting or gas-burning consumer callback does not block finalize", async () => {
    const sys = await load();
    const { market, token, keeper, provider, publicClient, d } = sys;
    const request = () => d.request({ callbackGasLimit: Number(CALLBACK_GAS) });
    const m = market.address;
    const t = token.address;
    const reverting = await funded(sys, viem.deployContract("RevertingConsumer", [m, t]));
    const burner = await funded(sys, viem.deployContract("GasBurningConsumer", [m, t]));
    const bomb = await funded(sys, viem.deployContract("ReturnDataBombConsumer", [m, t, 400_000n]));
    // [consumer, its post, a check on finalize's gas]
    const victims: [Address, () => Promise<Hash>, (gasUsed: bigint) => boolean][] = [
      [reverting.address, async () => reverting.write.post([await request()]), () => true],
      // It really got (and burnt) its whole limit.
      [burner.address, async () => burner.write.post([await request()]), (gas) => gas > CALLBACK_GAS],
      // Its 400 kB of return data cost it ~343k gas of memory and were never copied back, which
      // would cost finalize as much again.
      [bomb.address, async () => bomb.write.post([await request()]), (gas) => gas < CALLBACK_GAS + 100_000n],
    ];
    const { payout } = feeSplit(FEE);
    for (const [i, [consumer, post, gasIsRight]] of victims.entries()) {
      const jobId = await d.revealed(await d.posted(post()));
      const receipt = await d.finalize(jobId);
      assert.equal(receipt.status, "success");
      await assertions.emitWithArgs(receipt.transactionHash, market, "CallbackFailed", [jobId, consumer]);
      await assertions.emitWithArgs(receipt.transactionHash, market, "JobFinalized", [jobId, address(provider), payout]);
      assert.equal(await market.read.credits([provider.account.address]), BigInt(i + 1) * payout);
      assert.ok(gasIsRight(receipt.gasUsed), `finalize used ${receipt.gasUsed} gas`);
      await assertJob(market, d, jobId, JobStatus.Finalized);
    }

    // A keeper that sends too little gas gets a revert, not a silently failed callback.
    const starved = await d.revealed(await d.posted(burner.write.post([await request()])));
    await d.pastDeadline(starved);
    await assertions.revertWithCustomErrorWithArgs(
      market.write.finalize([starved, d.jobs.job(starved)], { account: keeper.account, gas: 300_000n }),
      market,
      "InsufficientGasForCallback",
      [CALLBACK_REQUIRED, (available: bigint) => available < CALLBACK_REQUIRED],
    );
    await assertJob(market, d, starved, JobStatus.Revealed);

    // The least gas that gets finalize through still hands a well-behaved consumer its full limit,
    // even with the largest inline output to copy and hash on the way.
    const good = await funded(sys, viem.deployContract("GoodConsumer", [m, t]));
    const output = toHex(new Uint8Array(4096).fill(0xd1));
    const generous = await d.revealed(await d.posted(good.write.post([await request()])), { inlineOutput: output });
    const frugal = await d.revealed(await d.posted(good.write.post([await request()])), { inlineOutput: output });
    await d.pastDeadline(frugal);
    const finalizeGas = (jobId: bigint, gas: bigint) =>
      market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), output], { account: keeper.account, gas });
    await d.jobs.send(finalizeGas(generous, 3_000_000n));
    const fullLimit = await good.read.gasAtEntry();
    assert.ok(CALLBACK_GAS - fullLimit < 1_000n, `the consumer saw ${fullLimit} of ${CALLBACK_GAS}`);
    // Bisect over eth_call for the keeper's least gas limit that does not revert.
    const data = encodeFunctionData({ abi: market.abi, functionName: "finalizeWithOutput", args: [frugal, d.jobs.job(frugal), output] });
    let [tooLittle, least] = [21_000n, 3_000_000n];
    while (least - tooLittle > 1n) {
      const gas = (tooLittle + least) / 2n;
      const ok = await publicClient.call({ account: keeper.account, to: market.address, data, gas }).then(() => true, () => false);
      [tooLittle, least] = ok ? [tooLittle, gas] : [gas, least];
    }
    await assertions.revertWithCustomErrorWithArgs(finalizeGas(frugal, least - 1n), market, "InsufficientGasForCallback", [
      CALLBACK_REQUIRED,
      (available: bigint) => available < CALLBACK_REQUIRED,
    ]);
    const receipt = await d.jobs.send(finalizeGas(frugal, least));
    assert.equal(receipt.status, "success");
    assert.equal(await good.read.lastJobId(), frugal);
    assert.equal(await good.read.lastOutputLength(), 4096n);
    assert.equal(await good.read.gasAtEntry(), fullLimit);
  });

  it("reentrancy through a malicious token or consumer fails", async () => {
    // A token that calls the attacker back in the middle of every transfer to or from it.
    const token = await viem.deployContract("ReentrantToken");
    const sys = { token, ...(await deployMarketOn(connection, token.address)) };
    const { market, keeper } = sys;
    const attacker = await viem.deployContract("ReentrancyAttacker", [market.address, token.address]);
    const d = marketDriver({ connection, ...sys });
    await token.write.mint([attacker.address, 3n * FEE]);
    await attacker.write.approveMarket([3n * FEE]);
    const refunded = await d.posted(attacker.write.postJob([await d.request()]));
    await d.pastDeadline(refunded);
    await d.jobs.send(market.write.expire([refunded, d.jobs.job(refunded)], { account: keeper.account }));
    assert.equal(await market.read.credits([attacker.address]), FEE);
    await token.write.setHooked([attacker.address]);

    // withdraw -> transfer -> attacker -> withdraw again
    await attacker.write.arm([market.address, encodeFunctionData({ abi: market.abi, functionName: "withdraw" })]);
    await attacker.write.withdraw();
    assert.deepEqual(
      [await attacker.read.reentered(), await attacker.read.reentryOk(), await attacker.read.reentryResult()],
      [true, false, REENTRANT_CALL],
    );
    assert.equal(await token.read.balanceOf([attacker.address]), 3n * FEE);
    assert.equal(await token.read.balanceOf([market.address]), 0n);
    assert.equal(await market.read.credits([attacker.address]), 0n);

    // postJob -> transferFrom -> attacker -> postJob again
    const inner = await d.request();
    await attacker.write.arm([market.address, encodeFunctionData({ abi: market.abi, functionName: "postJob", args: [inner] })]);
    const jobId = await d.posted(attacker.write.postJob([await d.request()]));
    assert.deepEqual(
      [await attacker.read.armed(), await attacker.read.reentryOk(), await attacker.read.reentryResult()],
      [false, false, REENTRANT_CALL],
    );
    assert.equal(jobId, refunded + 1n);
    assert.equal(await token.read.balanceOf([market.address]), FEE);
    assert.equal(await token.read.balanceOf([attacker.address]), 2n * FEE);

    // A consumer that re-enters finalize (and withdraw) from its result callback.
    const ignition = await load();
    const consumer = await funded(ignition, viem.deployContract("ReentrantConsumer", [ignition.market.address, ignition.token.address]));
    const { market: m, provider, d: d2 } = ignition;
    const request = await d2.request({ callbackGasLimit: Number(CALLBACK_GAS) });
    const consumerJob = await d2.revealed(await d2.posted(consumer.write.post([request])));
    await consumer.write.arm([d2.jobs.job(consumerJob)]);
    const receipt = await d2.finalize(consumerJob);
    assert.equal(await consumer.read.called(), true);
    assert.deepEqual(
      [await consumer.read.finalizeReentryOk(), await consumer.read.finalizeReentryError()],
      [false, REENTRANT_CALL],
    );
    assert.deepEqual(
      [await consumer.read.withdrawReentryOk(), await consumer.read.withdrawReentryError()],
      [false, REENTRANT_CALL],
    );
    const failed = parseEventLogs({ abi: m.abi, eventName: "CallbackFailed", logs: receipt.logs });
    assert.equal(failed.length, 0, "the callback itself returned normally");
    assert.equal(await m.read.credits([provider.account.address]), feeSplit(FEE).payout);
    assert.equal(await m.read.protocolFees(), feeSplit(FEE).protocolFee);
    await assertJob(m, d2, consumerJob, JobStatus.Finalized);
  });

  it("a fee-on-transfer token is either rejected or accounted exactly", async () => {
    const sys = await networkHelpers.loadFixture(feeOnTransferSystem);
    const { token, market, staking, dapp, provider } = sys;
    const d = marketDriver({ connection, ...sys });
    const dappBefore = await token.read.balanceOf([dapp.account.address]);
    await assertions.revertWithCustomErrorWithArgs(
      market.write.postJob([await d.request()], { account: dapp.account }),
      market,
      "TokenTransferMismatch",
      [FEE, FEE - FEE / 100n],
    );
    const amount = parseEther("1000");
    await assertions.revertWithCustomErrorWithArgs(
      staking.write.stake([amount, ROLE_PROVIDER], { account: provider.account }),
      staking,
      "TokenTransferMismatch",
      [amount, amount - amount / 100n],
    );
    assert.equal(await token.read.balanceOf([dapp.account.address]), dappBefore);
    assert.equal(await token.read.balanceOf([market.address]), 0n);
    assert.equal(await token.read.balanceOf([staking.address]), 0n);
    assert.equal(await market.read.jobCount(), 0n);
    assert.equal(await staking.read.totalStaked(), 0n);
  });

  it("deadlines are tested one second before and at the boundary", async () => {
    const { market, verification, challenger, keeper, provider, d } = await load();
    const k = { account: keeper.account };
    const p = { account: provider.account };

    /** `act` succeeds at `deadline` and fails with DeadlinePassed one second later (tried first, never mined). */
    async function allowedUntil(jobId: bigint, act: () => Promise<Hash>) {
      const deadline = BigInt(d.jobs.job(jobId).deadline);
      await d.at(deadline + 1n);
      await assertions.revertWithCustomErrorWithArgs(act(), market, "DeadlinePassed", [jobId, deadline, deadline + 1n]);
      await d.at(deadline);
      await d.jobs.send(act());
    }
    /** `act` fails with DeadlineNotPassed at `deadline` and succeeds one second later. */
    async function allowedAfter(jobId: bigint, act: () => Promise<Hash>) {
      const deadline = BigInt(d.jobs.job(jobId).deadline);
      await d.at(deadline);
      await assertions.revertWithCustomErrorWithArgs(act(), market, "DeadlineNotPassed", [jobId, deadline, deadline]);
      await d.at(deadline + 1n);
      await d.jobs.send(act());
    }
    const expire = (jobId: bigint) => () => market.write.expire([jobId, d.jobs.job(jobId)], k);

    // claimBy: each pair's second job has the later deadline, so time only moves forward.
    const claimBy = (await d.now()) + 600n;
    const [claimA, claimB] = [await d.post({ claimBy }), await d.post({ claimBy: claimBy + 1n })];
    await allowedUntil(claimA, () => market.write.claim([claimA, d.jobs.job(claimA)], p));
    await allowedAfter(claimB, expire(claimB));

    // commitBy
    const [commitA, commitB] = [await d.claimed(), await d.claimed()];
    const commitmentA = await d.commitmentOf(commitA, d.outputOf(commitA));
    await allowedUntil(commitA, () => market.write.commit([commitA, d.jobs.job(commitA), commitmentA], p));
    await allowedAfter(commitB, expire(commitB));

    // revealBy
    const [revealA, revealB] = [await d.committed(), await d.committed()];
    await d.waitForSeed(revealB);
    await allowedUntil(revealA, () => market.write.reveal(d.revealArgs(revealA), p));
    await allowedAfter(revealB, expire(revealB));

    // challengeEnd: a challenge (through Verification) until it, finalize only after it
    const [windowA, windowB] = [await d.revealed(), await d.revealed()];
    await allowedUntil(windowA, () => verification.write.challenge([windowA, d.jobs.job(windowA)], { account: challenger.account }));
    await allowedAfter(windowB, () => market.write.finalize([windowB, d.jobs.job(windowB)], k));

    const statuses = [claimA, claimB, commitA, commitB, revealA, revealB, windowA, windowB].map((id) => d.jobs.job(id).status);
    const { Claimed, Committed, Revealed, Disputed, Finalized, Expired } = JobStatus;
    assert.deepEqual(statuses, [Claimed, Expired, Committed, Expired, Revealed, Expired, Disputed, Finalized]);
    assert.equal((await verification.read.dispute([windowA])).bond, CHALLENGE_BOND);
  });

  it("a good consumer receives onJobResult with the inline output bytes and root", async () => {
    const sys = await load();
    const { market, keeper, stranger, d } = sys;
    const consumer = await funded(sys, viem.deployContract("GoodConsumer", [market.address, sys.token.address]));
    const output = ("0x" + "44494e31".repeat(64)) as Hex;
    const jobId = await d.revealed(await d.posted(consumer.write.post([await d.request({ callbackGasLimit: 300_000 })])), {
      inlineOutput: output,
    });
    await d.pastDeadline(jobId);
    const { transactionHash } = await d.jobs.send(
      market.write.finalizeWithOutput([jobId, d.jobs.job(jobId), output], { account: keeper.account }),
    );
    await assertions.emitWithArgs(transactionHash, consumer, "ResultReceived", [jobId, inlineRoot(output), output]);
    assert.deepEqual(
      [
        await consumer.read.calls(),
        await consumer.read.lastJobId(),
        await consumer.read.lastOutputRoot(),
        await consumer.read.lastOutputLength(),
      ],
      [1n, jobId, inlineRoot(output), 256n],
    );
    // Only the market may deliver results to it.
    await assertions.revertWithCustomErrorWithArgs(
      consumer.write.onJobResult([jobId, inlineRoot(output), output], { account: stranger.account }),
      consumer,
      "NotMarket",
      [address(stranger)],
    );
  });
});
