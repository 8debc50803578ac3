import assert from "node:assert/strict";

import { network } from "hardhat";
import { encodeAbiParameters, getAddress, keccak256, maxUint256, parseEther, toHex, zeroAddress, type Address } from "viem";

import { commitment } from "../../offchain/codec/commitment.js";
import { deployFeeOnTransferToken, FEE_PERCENT } from "../helpers/fee-on-transfer-token.js";
import {
  deploySystem,
  jobRequest,
  jobTracker,
  MODEL_COLLATERAL,
  ROLE_PROVIDER,
  ROLE_VERIFIER,
  setUpMarket,
  stake,
  type Connection,
  type System,
} from "../helpers/fixture.js";

const connection = await network.create();
const { viem, networkHelpers } = connection;

const BOTH_ROLES = ROLE_PROVIDER | ROLE_VERIFIER;
const UNBONDING_PERIOD = 7200n;
const MIN_VERIFIER_STAKE = parseEther("100");
const PARAMS = { unbondingPeriod: UNBONDING_PERIOD, minVerifierStake: MIN_VERIFIER_STAKE };
const MAX_UINT112 = 2n ** 112n - 1n;
/** OpenZeppelin's ERC20 keeps `_balances` in its first storage slot. */
const ERC20_BALANCES_SLOT = 0n;

// ------------------------------------------------------------------ fixtures

/** Staking over the test token, owned by `owner`, with no protocol contracts set yet. */
async function deployStaking({ viem }: Connection) {
  const [owner, market, verification, alice, bob, carol, dave, recipient] = await viem.getWalletClients();
  const token = await viem.deployContract("DinferTestToken");
  const staking = await viem.deployContract("Staking", [token.address, owner.account.address, PARAMS]);
  return { token, staking, owner, market, verification, alice, bob, carol, dave, recipient };
}

/** Two accounts stand in for JobMarket and Verification, so each protocol call is made directly. */
async function wiredStaking(connection: Connection) {
  const fx = await deployStaking(connection);
  await fx.staking.write.setProtocol([fx.market.account.address, fx.verification.account.address], { account: fx.owner.account });
  return fx;
}

/** The Ignition deployment with a model, a funded dApp and a provider staking 1,000 tokens. */
async function marketSystem(connection: Connection) {
  const sys = await deploySystem(connection);
  const { modelId } = await setUpMarket(sys);
  return { ...sys, modelId };
}

type Fixture = Awaited<ReturnType<typeof deployStaking>>;
type Wallet = Fixture["alice"];

// ------------------------------------------------------------------ helpers

/** Mints `amount` to `who`, approves Staking and stakes it with `roles`. */
async function deposit({ token, staking }: Fixture, who: Wallet, amount: bigint, roles: number) {
  await token.write.mint([who.account.address, amount]);
  await token.write.approve([staking.address, amount], { account: who.account });
  return staking.write.stake([amount, roles], { account: who.account });
}

type AccountView = { stake: bigint; locked: bigint; unbonding: bigint; unbondingEnd: bigint; roles: number; inVerifierSet: boolean };

/** Asserts the listed fields of `account(who)`. */
async function expectAccount({ staking }: Pick<Fixture, "staking">, who: Address, expected: Partial<AccountView>) {
  const actual = (await staking.read.account([who])) as AccountView;
  const picked = Object.fromEntries(Object.keys(expected).map((key) => [key, actual[key as keyof AccountView]]));
  assert.deepEqual(picked, expected);
}

async function verifierSet({ staking }: Pick<Fixture, "staking">): Promise<Address[]> {
  const count = await staking.read.verifierCount();
  const set: Address[] = [];
  for (let i = 0n; i < count; i++) set.push(await staking.read.verifierAt([i]));
  return set;
}

const addr = (wallet: Wallet) => getAddress(wallet.account.address);
const addresses = (...wallets: Wallet[]) => wallets.map(addr);

/** The timestamp the next transaction will have, pinned so deadlines can be asserted exactly. */
async function pinNextTimestamp(offset = 10n) {
  const next = BigInt(await networkHelpers.time.latest()) + offset;
  await networkHelpers.time.setNextBlockTimestamp(next);
  return next;
}

/** Posts a job and lets the system's provider claim it. */
async function postAndClaim(sys: System & { modelId: bigint }) {
  const jobs = jobTracker(sys);
  const now = BigInt(await networkHelpers.time.latest());
  await jobs.send(sys.market.write.postJob([jobRequest(sys.modelId, now + 600n)], { account: sys.dapp.account }));
  const jobId = await sys.market.read.jobCount();
  await jobs.send(sys.market.write.claim([jobId, jobs.job(jobId)], { account: sys.provider.account }));
  return { jobs, jobId };
}

/** Commits, reveals and finalizes a claimed job. */
async function completeJob(sys: System, jobs: ReturnType<typeof jobTracker>, jobId: bigint) {
  const { market, provider } = sys;
  const outputRoot = keccak256(toHex(`output of job ${jobId}`));
  const salt = keccak256(toHex(`salt of job ${jobId}`));
  const chainId = BigInt(await sys.publicClient.getChainId());
  const c = commitment({ chainId, jobMarket: market.address, jobId, provider: provider.account.address, outputRoot, salt });
  await jobs.send(market.write.commit([jobId, jobs.job(jobId), c], { account: provider.account }));
  const { seedDelay, challengeWindow } = await market.read.params();
  await networkHelpers.mine(seedDelay);
  await jobs.send(market.write.reveal([jobId, jobs.job(jobId), outputRoot, salt, "", "0x"], { account: provider.account }));
  await networkHelpers.time.increase(challengeWindow + 1);
  await jobs.send(market.write.finalize([jobId, jobs.job(jobId)], { account: sys.keeper.account }));
}

// ------------------------------------------------------------------ tests

describe("Staking", () => {
  describe("deployment", () => {
    it("exposes the role bits 1 (provider) and 2 (verifier) and the exclusion cap of 16", async () => {
      const { staking } = await networkHelpers.loadFixture(deployStaking);
      assert.equal(await staking.read.ROLE_PROVIDER(), ROLE_PROVIDER);
      assert.equal(await staking.read.ROLE_VERIFIER(), ROLE_VERIFIER);
      assert.equal(await staking.read.MAX_EXCLUDED(), 16n);
    });

    it("stores the token, the owner and the parameters, with no protocol contracts yet", async () => {
      const { staking, token, owner } = await networkHelpers.loadFixture(deployStaking);
      assert.equal(getAddress(await staking.read.token()), getAddress(token.address));
      assert.equal(getAddress(await staking.read.owner()), getAddress(owner.account.address));
      assert.deepEqual(await staking.read.params(), PARAMS);
      assert.equal(await staking.read.jobMarket(), zeroAddress);
      assert.equal(await staking.read.verification(), zeroAddress);
    });

    it("reverts with ZeroAddress for a zero token", async () => {
      const { staking, owner } = await networkHelpers.loadFixture(deployStaking);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("Staking", [zeroAddress, owner.account.address, PARAMS]),
        staking,
        "ZeroAddress",
        [],
      );
    });

    it("validates the parameters as setParams does", async () => {
      const { staking, token, owner } = await networkHelpers.loadFixture(deployStaking);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("Staking", [token.address, owner.account.address, { ...PARAMS, unbondingPeriod: 0n }]),
        staking,
        "InvalidParams",
        ["unbondingPeriod"],
      );
    });

    it("is wired by Ignition to the deployed JobMarket and Verification", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      assert.equal(getAddress(await sys.staking.read.jobMarket()), getAddress(sys.market.address));
      assert.equal(getAddress(await sys.staking.read.verification()), getAddress(sys.verification.address));
    });
  });

  describe("stake", () => {
    it("pulls the tokens, credits active stake with the roles and emits Staked", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { token, staking, alice } = fx;
      const amount = parseEther("250");
      await viem.assertions.emitWithArgs(deposit(fx, alice, amount, ROLE_PROVIDER), staking, "Staked", [
        alice.account.address,
        amount,
        ROLE_PROVIDER,
      ]);
      await expectAccount(fx, alice.account.address, { stake: amount, locked: 0n, unbonding: 0n, roles: ROLE_PROVIDER });
      assert.equal(await staking.read.availableStake([alice.account.address]), amount);
      assert.equal(await staking.read.totalStaked(), amount);
      assert.equal(await token.read.balanceOf([staking.address]), amount);
      assert.equal(await token.read.balanceOf([alice.account.address]), 0n);
    });

    it("adds a second deposit to the stake and takes that deposit's roles", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("10"), BOTH_ROLES);
      await deposit(fx, fx.alice, parseEther("5"), ROLE_PROVIDER);
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("15"), roles: ROLE_PROVIDER });
      assert.equal(await fx.staking.read.totalStaked(), parseEther("15"));
    });

    it("reverts with ZeroAmount for a zero deposit", async () => {
      const { staking, alice } = await networkHelpers.loadFixture(wiredStaking);
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.stake([0n, ROLE_PROVIDER], { account: alice.account }),
        staking,
        "ZeroAmount",
        [],
      );
    });

    it("reverts with InvalidRoles for no role or an unknown role bit", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await fx.token.write.mint([fx.alice.account.address, 100n]);
      await fx.token.write.approve([fx.staking.address, 100n], { account: fx.alice.account });
      for (const roles of [0, 4, 4 | ROLE_PROVIDER, 0x80]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          fx.staking.write.stake([100n, roles], { account: fx.alice.account }),
          fx.staking,
          "InvalidRoles",
          [roles],
        );
      }
    });

    it("reverts with the token's ERC20InsufficientAllowance when Staking is not approved", async () => {
      const { token, staking, alice } = await networkHelpers.loadFixture(wiredStaking);
      await token.write.mint([alice.account.address, 100n]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.stake([100n, ROLE_PROVIDER], { account: alice.account }),
        token,
        "ERC20InsufficientAllowance",
        [staking.address, 0n, 100n],
      );
    });

    it("accepts a stake of exactly 2^112 - 1 and reverts with AmountTooLarge past it", async () => {
      const { token, staking, alice } = await networkHelpers.loadFixture(wiredStaking);
      const slot = keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [alice.account.address, ERC20_BALANCES_SLOT]));
      await networkHelpers.setStorageAt(token.address, BigInt(slot), MAX_UINT112 + 1n);
      assert.equal(await token.read.balanceOf([alice.account.address]), MAX_UINT112 + 1n);
      await token.write.approve([staking.address, maxUint256], { account: alice.account });

      await staking.write.stake([MAX_UINT112, ROLE_PROVIDER], { account: alice.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.stake([1n, ROLE_PROVIDER], { account: alice.account }),
        staking,
        "AmountTooLarge",
        [1n],
      );
      await expectAccount({ staking }, alice.account.address, { stake: MAX_UINT112 });
    });

    it("reverts with TokenTransferMismatch for a token that takes a fee on transfer", async () => {
      const { owner, alice } = await networkHelpers.loadFixture(deployStaking);
      const feeToken = await deployFeeOnTransferToken(connection);
      const staking = await viem.deployContract("Staking", [feeToken.address, owner.account.address, PARAMS]);
      const amount = parseEther("100");
      await feeToken.write.mint([alice.account.address, amount]);
      await feeToken.write.approve([staking.address, amount], { account: alice.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.stake([amount, ROLE_PROVIDER], { account: alice.account }),
        staking,
        "TokenTransferMismatch",
        [amount, amount - (amount * FEE_PERCENT) / 100n],
      );
    });
  });

  describe("setRoles", () => {
    it("sets the role bits and emits RolesChanged", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("10"), ROLE_PROVIDER);
      await viem.assertions.emitWithArgs(
        fx.staking.write.setRoles([BOTH_ROLES], { account: fx.alice.account }),
        fx.staking,
        "RolesChanged",
        [fx.alice.account.address, BOTH_ROLES],
      );
      await expectAccount(fx, fx.alice.account.address, { roles: BOTH_ROLES, stake: parseEther("10") });
    });

    it("allows dropping every role, which keeps the stake", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("10"), BOTH_ROLES);
      await fx.staking.write.setRoles([0], { account: fx.alice.account });
      await expectAccount(fx, fx.alice.account.address, { roles: 0, stake: parseEther("10") });
    });

    it("reverts with InvalidRoles for an unknown role bit", async () => {
      const { staking, alice } = await networkHelpers.loadFixture(wiredStaking);
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.setRoles([4], { account: alice.account }),
        staking,
        "InvalidRoles",
        [4],
      );
    });
  });

  describe("requestUnbond", () => {
    it("moves unlocked stake into unbonding until now + unbondingPeriod and emits UnbondingRequested", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { staking, alice } = fx;
      await deposit(fx, alice, parseEther("100"), ROLE_PROVIDER);
      const now = await pinNextTimestamp();
      await viem.assertions.emitWithArgs(
        staking.write.requestUnbond([parseEther("30")], { account: alice.account }),
        staking,
        "UnbondingRequested",
        [alice.account.address, parseEther("30"), parseEther("30"), now + UNBONDING_PERIOD],
      );
      await expectAccount(fx, alice.account.address, {
        stake: parseEther("70"),
        unbonding: parseEther("30"),
        unbondingEnd: now + UNBONDING_PERIOD,
      });
      assert.equal(await staking.read.totalStaked(), parseEther("70"));
      assert.equal(await staking.read.totalUnbonding(), parseEther("30"));
    });

    it("adds a second request to the pending amount and restarts the clock for all of it", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { staking, alice } = fx;
      await deposit(fx, alice, parseEther("100"), ROLE_PROVIDER);
      await staking.write.requestUnbond([parseEther("30")], { account: alice.account });
      const later = await pinNextTimestamp(1000n);
      await viem.assertions.emitWithArgs(
        staking.write.requestUnbond([parseEther("20")], { account: alice.account }),
        staking,
        "UnbondingRequested",
        [alice.account.address, parseEther("20"), parseEther("50"), later + UNBONDING_PERIOD],
      );
      await expectAccount(fx, alice.account.address, {
        stake: parseEther("50"),
        unbonding: parseEther("50"),
        unbondingEnd: later + UNBONDING_PERIOD,
      });
    });

    it("reverts with ZeroAmount for zero", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("1"), ROLE_PROVIDER);
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.requestUnbond([0n], { account: fx.alice.account }),
        fx.staking,
        "ZeroAmount",
        [],
      );
    });

    it("reverts with InsufficientUnlockedStake for more than the active stake", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("10"), ROLE_PROVIDER);
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.requestUnbond([parseEther("10") + 1n], { account: fx.alice.account }),
        fx.staking,
        "InsufficientUnlockedStake",
        [fx.alice.account.address, parseEther("10"), parseEther("10") + 1n],
      );
    });

    it("never unbonds locked collateral: only stake minus locked is available", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { staking, market, alice } = fx;
      await deposit(fx, alice, parseEther("100"), ROLE_PROVIDER);
      await staking.write.lock([alice.account.address, parseEther("60")], { account: market.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.requestUnbond([parseEther("40") + 1n], { account: alice.account }),
        staking,
        "InsufficientUnlockedStake",
        [alice.account.address, parseEther("40"), parseEther("40") + 1n],
      );
      await staking.write.requestUnbond([parseEther("40")], { account: alice.account });
      await expectAccount(fx, alice.account.address, { stake: parseEther("60"), locked: parseEther("60"), unbonding: parseEther("40") });
      assert.equal(await staking.read.availableStake([alice.account.address]), 0n);
    });
  });

  describe("withdraw", () => {
    /** alice staked 100 and asked to unbond 40; returns when the unbonding ends. */
    async function unbonding(fx: Fixture) {
      await deposit(fx, fx.alice, parseEther("100"), ROLE_PROVIDER);
      await fx.staking.write.requestUnbond([parseEther("40")], { account: fx.alice.account });
      return (await fx.staking.read.account([fx.alice.account.address])).unbondingEnd;
    }

    it("reverts with UnbondingNotFinished one second before the unbonding ends", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const end = await unbonding(fx);
      await networkHelpers.time.setNextBlockTimestamp(end - 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.withdraw({ account: fx.alice.account }),
        fx.staking,
        "UnbondingNotFinished",
        [fx.alice.account.address, end, end - 1n],
      );
    });

    it("pays out the whole unbonding amount from the second it ends, and emits Withdrawn", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { token, staking, alice } = fx;
      const end = await unbonding(fx);
      await networkHelpers.time.setNextBlockTimestamp(end);
      await viem.assertions.emitWithArgs(staking.write.withdraw({ account: alice.account }), staking, "Withdrawn", [
        alice.account.address,
        parseEther("40"),
      ]);
      assert.equal(await token.read.balanceOf([alice.account.address]), parseEther("40"));
      assert.equal(await token.read.balanceOf([staking.address]), parseEther("60"));
      await expectAccount(fx, alice.account.address, { stake: parseEther("60"), unbonding: 0n, unbondingEnd: 0n });
      assert.equal(await staking.read.totalUnbonding(), 0n);
      assert.equal(await staking.read.totalStaked(), parseEther("60"));
    });

    it("returns the amount withdrawn", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await networkHelpers.time.increaseTo(await unbonding(fx));
      const { result } = await fx.staking.simulate.withdraw({ account: fx.alice.account.address });
      assert.equal(result, parseEther("40"));
    });

    it("reverts with NothingUnbonding when nothing is unbonding, including after a withdrawal", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.withdraw({ account: fx.alice.account }),
        fx.staking,
        "NothingUnbonding",
        [fx.alice.account.address],
      );
      await networkHelpers.time.increaseTo(await unbonding(fx));
      await fx.staking.write.withdraw({ account: fx.alice.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.withdraw({ account: fx.alice.account }),
        fx.staking,
        "NothingUnbonding",
        [fx.alice.account.address],
      );
    });
  });

  describe("verifier set", () => {
    it("adds an account with the verifier role and at least minVerifierStake, emitting VerifierAdded", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await viem.assertions.emitWithArgs(deposit(fx, fx.alice, MIN_VERIFIER_STAKE, ROLE_VERIFIER), fx.staking, "VerifierAdded", [
        fx.alice.account.address,
      ]);
      assert.equal(await fx.staking.read.isVerifier([fx.alice.account.address]), true);
      await expectAccount(fx, fx.alice.account.address, { inVerifierSet: true });
      assert.deepEqual(await verifierSet(fx), addresses(fx.alice));
    });

    it("leaves out a verifier under the minimum until a top-up reaches it", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE - 1n, ROLE_VERIFIER);
      assert.equal(await fx.staking.read.isVerifier([fx.alice.account.address]), false);
      assert.equal(await fx.staking.read.verifierCount(), 0n);
      await deposit(fx, fx.alice, 1n, ROLE_VERIFIER);
      assert.deepEqual(await verifierSet(fx), addresses(fx.alice));
    });

    it("leaves out a provider-only account whatever its stake", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE * 10n, ROLE_PROVIDER);
      assert.equal(await fx.staking.read.verifierCount(), 0n);
    });

    it("joins and leaves with setRoles, emitting VerifierAdded and VerifierRemoved", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE, ROLE_PROVIDER);
      await viem.assertions.emitWithArgs(
        fx.staking.write.setRoles([BOTH_ROLES], { account: fx.alice.account }),
        fx.staking,
        "VerifierAdded",
        [fx.alice.account.address],
      );
      await viem.assertions.emitWithArgs(
        fx.staking.write.setRoles([ROLE_PROVIDER], { account: fx.alice.account }),
        fx.staking,
        "VerifierRemoved",
        [fx.alice.account.address],
      );
      assert.equal(await fx.staking.read.verifierCount(), 0n);
    });

    it("removes a verifier whose unbonding request takes it under the minimum", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE + 5n, ROLE_VERIFIER);
      await fx.staking.write.requestUnbond([5n], { account: fx.alice.account });
      assert.equal(await fx.staking.read.isVerifier([fx.alice.account.address]), true);
      await viem.assertions.emitWithArgs(
        fx.staking.write.requestUnbond([1n], { account: fx.alice.account }),
        fx.staking,
        "VerifierRemoved",
        [fx.alice.account.address],
      );
      assert.equal(await fx.staking.read.isVerifier([fx.alice.account.address]), false);
    });

    it("fills a leaver's slot with the last verifier and keeps every slot right", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { staking, alice, bob, carol, dave } = fx;
      for (const who of [alice, bob, carol]) await deposit(fx, who, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      assert.deepEqual(await verifierSet(fx), addresses(alice, bob, carol));

      await staking.write.setRoles([0], { account: alice.account });
      assert.deepEqual(await verifierSet(fx), addresses(carol, bob));
      // carol now sits in slot 0: removing her must not disturb bob.
      await staking.write.setRoles([0], { account: carol.account });
      assert.deepEqual(await verifierSet(fx), addresses(bob));
      await deposit(fx, dave, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      await staking.write.setRoles([ROLE_VERIFIER], { account: alice.account });
      assert.deepEqual(await verifierSet(fx), addresses(bob, dave, alice));
      for (const who of [alice, bob, dave]) assert.equal(await staking.read.isVerifier([who.account.address]), true);
      assert.equal(await staking.read.isVerifier([carol.account.address]), false);
    });

    it("never draws a verifier whose stake is under a raised minVerifierStake", async () => {
      const fx = await networkHelpers.loadFixture(deployStaking);
      const { staking, owner, alice, bob } = fx;
      await deposit(fx, alice, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      await deposit(fx, bob, MIN_VERIFIER_STAKE * 3n, ROLE_VERIFIER);
      await staking.write.setParams([{ ...PARAMS, minVerifierStake: MIN_VERIFIER_STAKE * 2n }], { account: owner.account });
      // alice's 100 is now under the 200 that IStaking says an account needs to be in the verifier set.
      for (const seed of [0n, 1n]) {
        assert.equal(getAddress(await staking.read.drawVerifier([seed, []])), getAddress(bob.account.address), `seed ${seed}`);
      }
    });
    it("lets anyone evict a member left under a raised minVerifierStake with syncVerifier", async () => {
      const fx = await networkHelpers.loadFixture(deployStaking);
      const { staking, owner, alice, bob, carol } = fx;
      await deposit(fx, alice, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      await deposit(fx, bob, MIN_VERIFIER_STAKE * 3n, ROLE_VERIFIER);
      await staking.write.setParams([{ ...PARAMS, minVerifierStake: MIN_VERIFIER_STAKE * 2n }], { account: owner.account });
      assert.equal(await staking.read.isVerifier([alice.account.address]), true);
      await viem.assertions.emitWithArgs(
        staking.write.syncVerifier([alice.account.address], { account: carol.account }),
        staking,
        "VerifierRemoved",
        [getAddress(alice.account.address)],
      );
      assert.equal(await staking.read.isVerifier([alice.account.address]), false);
      assert.equal(await staking.read.verifierCount(), 1n);
      // bob still qualifies: syncing him changes nothing.
      await staking.write.syncVerifier([bob.account.address], { account: carol.account });
      assert.equal(await staking.read.isVerifier([bob.account.address]), true);
    });
  });

  describe("drawVerifier", () => {
    /** alice, bob and carol in the set, in that order. */
    async function threeVerifiers(connection: Connection) {
      const fx = await wiredStaking(connection);
      for (const who of [fx.alice, fx.bob, fx.carol]) await deposit(fx, who, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      return fx;
    }

    const draw = async ({ staking }: Fixture, seed: bigint, excluded: Wallet[] = []) =>
      getAddress(await staking.read.drawVerifier([seed, excluded.map((w) => w.account.address)]));

    it("returns the zero address when the set is empty", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      assert.equal(await draw(fx, 12345n), zeroAddress);
    });

    it("draws the verifier at seed % count", async () => {
      const fx = await networkHelpers.loadFixture(threeVerifiers);
      assert.equal(await draw(fx, 0n), addr(fx.alice));
      assert.equal(await draw(fx, 4n), addr(fx.bob));
      assert.equal(await draw(fx, 2n ** 256n - 1n), addr(fx.alice)); // (2^256 - 1) % 3 == 0
    });

    it("steps past excluded accounts, wrapping around the end of the set", async () => {
      const fx = await networkHelpers.loadFixture(threeVerifiers);
      assert.equal(await draw(fx, 1n, [fx.bob]), addr(fx.carol));
      assert.equal(await draw(fx, 1n, [fx.bob, fx.carol]), addr(fx.alice));
      assert.equal(await draw(fx, 1n, [fx.dave]), addr(fx.bob));
    });

    it("returns the zero address when every verifier is excluded", async () => {
      const fx = await networkHelpers.loadFixture(threeVerifiers);
      assert.equal(await draw(fx, 1n, [fx.alice, fx.bob, fx.carol]), zeroAddress);
    });

    it("accepts 16 excluded accounts and reverts with TooManyExcluded for 17", async () => {
      const fx = await networkHelpers.loadFixture(threeVerifiers);
      const strangers = Array.from({ length: 16 }, (_, i) => getAddress(toHex(i + 1, { size: 20 })));
      assert.equal(getAddress(await fx.staking.read.drawVerifier([0n, strangers])), addr(fx.alice));
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.read.drawVerifier([0n, [...strangers, fx.alice.account.address]]),
        fx.staking,
        "TooManyExcluded",
        [17n, 16n],
      );
    });
  });

  describe("lock and unlock (JobMarket only)", () => {
    it("locks collateral out of the unlocked stake, which stays in the stake", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("100"), ROLE_PROVIDER);
      await fx.staking.write.lock([fx.alice.account.address, parseEther("30")], { account: fx.market.account });
      await fx.staking.write.lock([fx.alice.account.address, parseEther("70")], { account: fx.market.account });
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("100"), locked: parseEther("100") });
      assert.equal(await fx.staking.read.availableStake([fx.alice.account.address]), 0n);
      assert.equal(await fx.staking.read.totalStaked(), parseEther("100"));
    });

    it("reverts with InsufficientUnlockedStake for more than the unlocked stake", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("100"), ROLE_PROVIDER);
      await fx.staking.write.lock([fx.alice.account.address, parseEther("30")], { account: fx.market.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.lock([fx.alice.account.address, parseEther("70") + 1n], { account: fx.market.account }),
        fx.staking,
        "InsufficientUnlockedStake",
        [fx.alice.account.address, parseEther("70"), parseEther("70") + 1n],
      );
    });

    it("reverts with NotProvider for an account without the provider role", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("100"), ROLE_VERIFIER);
      for (const who of [fx.alice, fx.bob]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          fx.staking.write.lock([who.account.address, 1n], { account: fx.market.account }),
          fx.staking,
          "NotProvider",
          [who.account.address],
        );
      }
    });

    it("releases locked collateral, and releasing more than is locked stops at zero", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("100"), ROLE_PROVIDER);
      await fx.staking.write.lock([fx.alice.account.address, parseEther("60")], { account: fx.market.account });
      await fx.staking.write.unlock([fx.alice.account.address, parseEther("25")], { account: fx.market.account });
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("100"), locked: parseEther("35") });
      await fx.staking.write.unlock([fx.alice.account.address, parseEther("1000")], { account: fx.market.account });
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("100"), locked: 0n });
    });

    it("reverts with NotProtocol when anyone but the JobMarket locks or unlocks, Verification included", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("100"), ROLE_PROVIDER);
      for (const caller of [fx.alice, fx.owner, fx.verification]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          fx.staking.write.lock([fx.alice.account.address, 1n], { account: caller.account }),
          fx.staking,
          "NotProtocol",
          [caller.account.address],
        );
        await viem.assertions.revertWithCustomErrorWithArgs(
          fx.staking.write.unlock([fx.alice.account.address, 1n], { account: caller.account }),
          fx.staking,
          "NotProtocol",
          [caller.account.address],
        );
      }
    });

    it("refuses every protocol call before the protocol contracts are set", async () => {
      const fx = await networkHelpers.loadFixture(deployStaking);
      await deposit(fx, fx.alice, parseEther("100"), ROLE_PROVIDER);
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.lock([fx.alice.account.address, 1n], { account: fx.market.account }),
        fx.staking,
        "NotProtocol",
        [fx.market.account.address],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.slash([fx.alice.account.address, 0n, 1n, fx.recipient.account.address], { account: fx.market.account }),
        fx.staking,
        "NotProtocol",
        [fx.market.account.address],
      );
    });
  });

  describe("slash (JobMarket and Verification only)", () => {
    /** alice: stake 100 as a provider, 30 of it locked for a job, then 20 more asked to unbond. */
    async function slashable(fx: Fixture) {
      await deposit(fx, fx.alice, parseEther("120"), ROLE_PROVIDER);
      await fx.staking.write.lock([fx.alice.account.address, parseEther("30")], { account: fx.market.account });
      await fx.staking.write.requestUnbond([parseEther("20")], { account: fx.alice.account });
    }

    const slash = (fx: Fixture, unlock: bigint, amount: bigint, caller: Wallet = fx.verification) =>
      fx.staking.write.slash([fx.alice.account.address, unlock, amount, fx.recipient.account.address], { account: caller.account });

    it("releases the job's collateral and takes the slash from it, sending it to the recipient", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await slashable(fx);
      await viem.assertions.emitWithArgs(slash(fx, parseEther("30"), parseEther("30")), fx.staking, "Slashed", [
        fx.alice.account.address,
        parseEther("30"),
        parseEther("30"),
        fx.recipient.account.address,
      ]);
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("70"), locked: 0n, unbonding: parseEther("20") });
      assert.equal(await fx.token.read.balanceOf([fx.recipient.account.address]), parseEther("30"));
      assert.equal(await fx.token.read.balanceOf([fx.staking.address]), parseEther("90"));
      assert.equal(await fx.staking.read.totalStaked(), parseEther("70"));
      assert.equal(await fx.staking.read.totalUnbonding(), parseEther("20"));
    });

    it("takes the part the active stake cannot cover from unbonding stake", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await slashable(fx);
      const { result } = await fx.staking.simulate.slash(
        [fx.alice.account.address, parseEther("30"), parseEther("110"), fx.recipient.account.address],
        { account: fx.market.account.address },
      );
      assert.equal(result, parseEther("110"));
      await slash(fx, parseEther("30"), parseEther("110"), fx.market);
      await expectAccount(fx, fx.alice.account.address, { stake: 0n, locked: 0n, unbonding: parseEther("10") });
      assert.equal(await fx.token.read.balanceOf([fx.recipient.account.address]), parseEther("110"));
      assert.equal(await fx.staking.read.totalStaked(), 0n);
      assert.equal(await fx.staking.read.totalUnbonding(), parseEther("10"));
    });

    it("caps the slash at what exists and reports what it took", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await slashable(fx);
      await viem.assertions.emitWithArgs(slash(fx, parseEther("30"), parseEther("500")), fx.staking, "Slashed", [
        fx.alice.account.address,
        parseEther("500"),
        parseEther("120"),
        fx.recipient.account.address,
      ]);
      await expectAccount(fx, fx.alice.account.address, { stake: 0n, locked: 0n, unbonding: 0n });
      assert.equal(await fx.token.read.balanceOf([fx.staking.address]), 0n);
    });

    it("takes nothing and moves no tokens from an account with no stake", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await viem.assertions.emitWithArgs(
        fx.staking.write.slash([fx.bob.account.address, parseEther("1"), parseEther("1"), fx.recipient.account.address], {
          account: fx.verification.account,
        }),
        fx.staking,
        "Slashed",
        [fx.bob.account.address, parseEther("1"), 0n, fx.recipient.account.address],
      );
      assert.equal(await fx.token.read.balanceOf([fx.recipient.account.address]), 0n);
    });

    it("keeps other jobs' locked collateral within the stake left, and their release stops at zero", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { staking, market, alice } = fx;
      await deposit(fx, alice, parseEther("100"), ROLE_PROVIDER);
      await staking.write.lock([alice.account.address, parseEther("60")], { account: market.account }); // job A
      await staking.write.lock([alice.account.address, parseEther("40")], { account: market.account }); // job B
      await slash(fx, parseEther("60"), parseEther("80"), market); // job A slashed beyond its collateral
      await expectAccount(fx, alice.account.address, { stake: parseEther("20"), locked: parseEther("20") });
      await staking.write.unlock([alice.account.address, parseEther("40")], { account: market.account }); // job B ends
      await expectAccount(fx, alice.account.address, { stake: parseEther("20"), locked: 0n });
    });

    it("removes a verifier that the slash takes under the minimum", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE, BOTH_ROLES);
      await viem.assertions.emitWithArgs(slash(fx, 0n, 1n), fx.staking, "VerifierRemoved", [fx.alice.account.address]);
      assert.equal(await fx.staking.read.verifierCount(), 0n);
    });

    it("reverts with ZeroAddress for a zero recipient", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await slashable(fx);
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.slash([fx.alice.account.address, 0n, 1n, zeroAddress], { account: fx.verification.account }),
        fx.staking,
        "ZeroAddress",
        [],
      );
    });

    it("reverts with NotProtocol for any other caller", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await slashable(fx);
      for (const caller of [fx.alice, fx.owner, fx.bob]) {
        await viem.assertions.revertWithCustomErrorWithArgs(slash(fx, 0n, 1n, caller), fx.staking, "NotProtocol", [
          caller.account.address,
        ]);
      }
    });
  });

  describe("governance", () => {
    it("sets the protocol contracts once, emitting ProtocolSet", async () => {
      const { staking, owner, market, verification } = await networkHelpers.loadFixture(deployStaking);
      await viem.assertions.emitWithArgs(
        staking.write.setProtocol([market.account.address, verification.account.address], { account: owner.account }),
        staking,
        "ProtocolSet",
        [market.account.address, verification.account.address],
      );
      assert.equal(getAddress(await staking.read.jobMarket()), getAddress(market.account.address));
      assert.equal(getAddress(await staking.read.verification()), getAddress(verification.account.address));
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.setProtocol([owner.account.address, owner.account.address], { account: owner.account }),
        staking,
        "ProtocolAlreadySet",
        [],
      );
    });

    it("reverts setProtocol with ZeroAddress when either contract is zero", async () => {
      const { staking, owner, market } = await networkHelpers.loadFixture(deployStaking);
      for (const pair of [
        [zeroAddress, market.account.address],
        [market.account.address, zeroAddress],
      ] as const) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          staking.write.setProtocol([...pair], { account: owner.account }),
          staking,
          "ZeroAddress",
          [],
        );
      }
    });

    it("lets only the owner set the protocol contracts or the parameters", async () => {
      const { staking, alice, market } = await networkHelpers.loadFixture(deployStaking);
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.setProtocol([market.account.address, market.account.address], { account: alice.account }),
        staking,
        "OwnableUnauthorizedAccount",
        [alice.account.address],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.setParams([PARAMS], { account: alice.account }),
        staking,
        "OwnableUnauthorizedAccount",
        [alice.account.address],
      );
    });

    it("sets the parameters and emits ParamsSet", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      const next = { unbondingPeriod: 10_000n, minVerifierStake: parseEther("250") };
      await viem.assertions.emitWithArgs(sys.staking.write.setParams([next], { account: sys.owner.account }), sys.staking, "ParamsSet", [
        next,
      ]);
      assert.deepEqual(await sys.staking.read.params(), next);
    });

    it("reverts with InvalidParams for an unbonding period of zero or over 365 days, or a zero verifier minimum", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      const YEAR = 365n * 24n * 3600n;
      await sys.staking.write.setParams([{ ...PARAMS, unbondingPeriod: YEAR }], { account: sys.owner.account });
      for (const [params, reason] of [
        [{ ...PARAMS, unbondingPeriod: 0n }, "unbondingPeriod"],
        [{ ...PARAMS, unbondingPeriod: YEAR + 1n }, "unbondingPeriod"],
        [{ ...PARAMS, minVerifierStake: 0n }, "minVerifierStake"],
      ] as const) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          sys.staking.write.setParams([params], { account: sys.owner.account }),
          sys.staking,
          "InvalidParams",
          [reason],
        );
      }
    });

    it("accepts an unbonding period equal to the market's job lifetime and reverts with UnbondingPeriodTooShort below it", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      const required = await sys.market.read.requiredUnbondingPeriod();
      const p = await sys.market.read.params();
      assert.equal(required, BigInt(p.maxClaimDelay + p.commitTimeout + p.revealTimeout + p.challengeWindow + p.disputeDuration));
      await viem.assertions.revertWithCustomErrorWithArgs(
        sys.staking.write.setParams([{ ...PARAMS, unbondingPeriod: required - 1n }], { account: sys.owner.account }),
        sys.staking,
        "UnbondingPeriodTooShort",
        [required - 1n, required],
      );
      await sys.staking.write.setParams([{ ...PARAMS, unbondingPeriod: required }], { account: sys.owner.account });
      assert.equal((await sys.staking.read.params()).unbondingPeriod, required);
    });

    it("gives new unbonding requests the new period and leaves pending ones as they were", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      const { staking, provider, provider2, owner } = sys;
      await staking.write.requestUnbond([parseEther("1")], { account: provider.account });
      const before = (await staking.read.account([provider.account.address])).unbondingEnd;
      await staking.write.setParams([{ ...PARAMS, unbondingPeriod: 20_000n }], { account: owner.account });
      assert.equal((await staking.read.account([provider.account.address])).unbondingEnd, before);
      await stake(sys, provider2.account.address, parseEther("1"), ROLE_PROVIDER);
      const now = await pinNextTimestamp();
      await staking.write.requestUnbond([parseEther("1")], { account: provider2.account });
      assert.equal((await staking.read.account([provider2.account.address])).unbondingEnd, now + 20_000n);
    });

    it("transfers ownership in two steps", async () => {
      const { staking, owner, alice } = await networkHelpers.loadFixture(deployStaking);
      await staking.write.transferOwnership([alice.account.address], { account: owner.account });
      assert.equal(getAddress(await staking.read.owner()), getAddress(owner.account.address));
      await staking.write.acceptOwnership({ account: alice.account });
      assert.equal(getAddress(await staking.read.owner()), getAddress(alice.account.address));
    });
  });

  describe("with the JobMarket", () => {
    it("locks the model's collateral when the provider claims and releases it on finalize", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      const { jobs, jobId } = await postAndClaim(sys);
      await expectAccount(sys, sys.provider.account.address, { stake: parseEther("1000"), locked: MODEL_COLLATERAL });
      assert.equal(await sys.staking.read.availableStake([sys.provider.account.address]), parseEther("1000") - MODEL_COLLATERAL);
      await completeJob(sys, jobs, jobId);
      await expectAccount(sys, sys.provider.account.address, { stake: parseEther("1000"), locked: 0n });
    });

    it("keeps the collateral of a claimed job out of unbonding", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      await postAndClaim(sys);
      const available = parseEther("1000") - MODEL_COLLATERAL;
      await viem.assertions.revertWithCustomErrorWithArgs(
        sys.staking.write.requestUnbond([available + 1n], { account: sys.provider.account }),
        sys.staking,
        "InsufficientUnlockedStake",
        [sys.provider.account.address, available, available + 1n],
      );
    });

    it("makes a claim revert with NotProvider for an account staked only as a verifier", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      await stake(sys, sys.verifier.account.address, parseEther("1000"), ROLE_VERIFIER);
      const jobs = jobTracker(sys);
      const now = BigInt(await networkHelpers.time.latest());
      await jobs.send(sys.market.write.postJob([jobRequest(sys.modelId, now + 600n)], { account: sys.dapp.account }));
      await viem.assertions.revertWithCustomErrorWithArgs(
        sys.market.write.claim([1n, jobs.job(1n)], { account: sys.verifier.account }),
        sys.staking,
        "NotProvider",
        [sys.verifier.account.address],
      );
    });

    it("makes a claim revert with InsufficientUnlockedStake when the unlocked stake is under the collateral", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      await stake(sys, sys.provider2.account.address, MODEL_COLLATERAL - 1n, ROLE_PROVIDER);
      const jobs = jobTracker(sys);
      const now = BigInt(await networkHelpers.time.latest());
      await jobs.send(sys.market.write.postJob([jobRequest(sys.modelId, now + 600n)], { account: sys.dapp.account }));
      await viem.assertions.revertWithCustomErrorWithArgs(
        sys.market.write.claim([1n, jobs.job(1n)], { account: sys.provider2.account }),
        sys.staking,
        "InsufficientUnlockedStake",
        [sys.provider2.account.address, MODEL_COLLATERAL - 1n, MODEL_COLLATERAL],
      );
    });

    it("slashes the expiry penalty to the market and releases the rest when a claimed job expires", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      const { staking, market, token, provider } = sys;
      const { jobs, jobId } = await postAndClaim(sys);
      const { expiryPenaltyBps } = await market.read.params();
      const penalty = (MODEL_COLLATERAL * BigInt(expiryPenaltyBps)) / 10_000n;
      assert.equal(penalty, parseEther("10"));
      const stakingBalance = await token.read.balanceOf([staking.address]);

      await networkHelpers.time.increaseTo(jobs.job(jobId).deadline + 1);
      await viem.assertions.emitWithArgs(
        market.write.expire([jobId, jobs.job(jobId)], { account: sys.keeper.account }),
        staking,
        "Slashed",
        [provider.account.address, penalty, penalty, market.address],
      );
      await expectAccount(sys, provider.account.address, { stake: parseEther("1000") - penalty, locked: 0n });
      assert.equal(await staking.read.totalStaked(), parseEther("1000") - penalty);
      assert.equal(await token.read.balanceOf([staking.address]), stakingBalance - penalty);
    });
  });
});
