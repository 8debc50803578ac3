import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { anyValue } from "@nomicfoundation/hardhat-viem-assertions/predicates";
import { artifacts, network } from "hardhat";
import { encodeAbiParameters, getAddress, keccak256, maxUint256, parseEther, parseEventLogs, toHex, zeroAddress, type Address, type Hex } from "viem";

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
/**
 * Staking's `verifierSlotCount`: after Ownable's owner (0) and Ownable2Step's pending owner (1), Staking's own
 * variables in declaration order: jobMarket, verification, _params, totalStaked, totalUnbonding, _accounts,
 * _exits, _tree, _slotOwners, _memberships, _freeSlots, verifierSlotCount (the test checks it).
 */
const VERIFIER_SLOT_COUNT_SLOT = 13n;

// ------------------------------------------------------------------ fixtures

/** Staking over the test token, owned by `owner`, with no protocol contracts set yet. */
async function deployStaking({ viem }: Connection) {
  const [owner, market, verification, alice, bob, carol, dave, recipient] = await viem.getWalletClients();
  const token = await viem.deployContract("DinferTestToken");
  const staking = await viem.deployContract("Staking", [token.address, owner.account.address, PARAMS]);
  const publicClient = await viem.getPublicClient();
  return { token, staking, owner, market, verification, alice, bob, carol, dave, recipient, publicClient };
}

/** Two accounts stand in for JobMarket and Verification, so each protocol call is made directly. */
async function wiredStaking(connection: Connection) {
  const fx = await deployStaking(connection);
  await fx.staking.write.setProtocol([fx.market.account.address, fx.verification.account.address], { account: fx.owner.account });
  return fx;
}

/** alice, bob, carol and dave in the verifier set, in slots 0-3, weighing 100, 200, 300 and 400 tokens. */
async function weighted(connection: Connection) {
  const fx = await wiredStaking(connection);
  for (const [i, who] of [fx.alice, fx.bob, fx.carol, fx.dave].entries()) {
    await deposit(fx, who, MIN_VERIFIER_STAKE * BigInt(i + 1), ROLE_VERIFIER);
  }
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

type AccountView = {
  stake: bigint;
  locked: bigint;
  unbonding: bigint;
  unbondingEnd: bigint;
  roles: number;
  inVerifierSet: boolean;
  verifierWeight: bigint;
};

/** Asserts the listed fields of `account(who)`. */
async function expectAccount({ staking }: Pick<Fixture, "staking">, who: Address, expected: Partial<AccountView>) {
  const actual = (await staking.read.account([who])) as AccountView;
  const picked = Object.fromEntries(Object.keys(expected).map((key) => [key, actual[key as keyof AccountView]]));
  assert.deepEqual(picked, expected);
}

/** The names of the Staking events a transaction emitted, in order. */
async function eventNames({ staking, publicClient }: Pick<Fixture, "staking" | "publicClient">, hash: Hex): Promise<string[]> {
  const { logs } = await publicClient.waitForTransactionReceipt({ hash });
  return parseEventLogs({ abi: staking.abi, logs }).map((log) => log.eventName);
}

/** The owner of every slot the set has used, in slot order (zero for a free slot). */
async function slots({ staking }: Pick<Fixture, "staking">): Promise<Address[]> {
  const count = await staking.read.verifierSlotCount();
  const owners: Address[] = [];
  for (let i = 0n; i < count; i++) owners.push(getAddress(await staking.read.verifierAt([i])));
  return owners;
}

/** The members now, in slot order. */
async function verifierSet(fx: Pick<Fixture, "staking">): Promise<Address[]> {
  return (await slots(fx)).filter((a) => a !== zeroAddress);
}

type Member = { address: Address; weight: bigint };

/** Every slot with its owner and weight now, in slot order (free slots weigh zero). */
async function members_({ staking }: Pick<Fixture, "staking">): Promise<Member[]> {
  const owners = await slots({ staking });
  return Promise.all(
    owners.map(async (address) => ({ address, weight: address === zeroAddress ? 0n : (await staking.read.account([address])).verifierWeight })),
  );
}

/**
 * drawVerifier restated: the excluded members' ranges are cut out of the cumulative weights (slot order),
 * the point `seed % remainingWeight` is taken in what is left, and the member whose range holds it wins;
 * zero when nobody is left. `members` is the set at the snapshot, in slot order.
 */
function expectedDraw(members: Member[], seed: bigint, excluded: Address[] = []): Address {
  const out = new Set(excluded.map((a) => getAddress(a)));
  const left = members.filter((m) => m.address !== zeroAddress && m.weight !== 0n && !out.has(getAddress(m.address)));
  const total = left.reduce((sum, m) => sum + m.weight, 0n);
  if (total === 0n) return zeroAddress;
  let point = seed % total;
  for (const m of left) {
    if (point < m.weight) return getAddress(m.address);
    point -= m.weight;
  }
  throw new Error("unreachable: the point lies inside the remaining weight");
}

/** A seed spread over the whole uint256 range: keccak256 of `label` and `i`. */
function seedOf(i: number, label = "seed"): bigint {
  return BigInt(keccak256(encodeAbiParameters([{ type: "string" }, { type: "uint256" }], [label, BigInt(i)])));
}

/** How often each account is drawn over `n` seeds (seedOf 0..n-1) at the latest block, with `excluded` left out. */
async function tally({ staking, publicClient }: Pick<Fixture, "staking" | "publicClient">, n: number, excluded: Address[] = []) {
  const latest = await publicClient.getBlockNumber();
  const counts = new Map<Address, number>();
  const draws = await Promise.all(Array.from({ length: n }, (_, i) => staking.read.drawVerifier([seedOf(i), latest, excluded])));
  for (const drawn of draws) counts.set(getAddress(drawn), (counts.get(getAddress(drawn)) ?? 0) + 1);
  return counts;
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

  describe("the verifier set (a stake-weighted tree, checkpointed per block)", () => {
    it("weighs an account with the verifier role and at least minVerifierStake by its stake, emitting VerifierAdded and VerifierWeightSet", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { staking, alice } = fx;
      const amount = parseEther("150");
      const hash = await deposit(fx, alice, amount, ROLE_VERIFIER);
      const { blockNumber } = await fx.publicClient.waitForTransactionReceipt({ hash });
      await viem.assertions.emitWithArgs(hash, staking, "VerifierAdded", [addr(alice), 0n]);
      await viem.assertions.emitWithArgs(hash, staking, "VerifierWeightSet", [addr(alice), amount, blockNumber]);
      assert.equal(await staking.read.isVerifier([alice.account.address]), true);
      await expectAccount(fx, alice.account.address, { inVerifierSet: true, verifierWeight: amount });
      assert.deepEqual(await verifierSet(fx), addresses(alice));
      assert.deepEqual([await staking.read.verifierCount(), await staking.read.verifierSlotCount()], [1n, 1n]);
      assert.equal(await staking.read.verifierWeightAt([alice.account.address, blockNumber]), amount);
      assert.equal(await staking.read.totalVerifierWeightAt([blockNumber]), amount);
      assert.equal(await staking.read.totalVerifierWeightAt([blockNumber - 1n]), 0n, "nothing before the stake's block");
    });

    it("leaves out an account under the minimum until a top-up reaches it, then weighs its whole stake", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE - 1n, ROLE_VERIFIER);
      assert.equal(await fx.staking.read.isVerifier([fx.alice.account.address]), false);
      await expectAccount(fx, fx.alice.account.address, { inVerifierSet: false, verifierWeight: 0n });
      assert.equal(await fx.staking.read.verifierCount(), 0n);
      await deposit(fx, fx.alice, 1n, ROLE_VERIFIER);
      assert.deepEqual(await verifierSet(fx), addresses(fx.alice));
      await expectAccount(fx, fx.alice.account.address, { verifierWeight: MIN_VERIFIER_STAKE });
    });

    it("leaves out a provider-only account whatever its stake", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE * 10n, ROLE_PROVIDER);
      assert.equal(await fx.staking.read.verifierCount(), 0n);
      assert.equal(await fx.staking.read.totalVerifierWeightAt([await fx.publicClient.getBlockNumber()]), 0n);
    });

    it("moves a member's weight with its stake: a top-up and an unbonding request each emit VerifierWeightSet", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { staking, alice, bob } = fx;
      await deposit(fx, alice, parseEther("200"), BOTH_ROLES);
      await deposit(fx, bob, parseEther("100"), ROLE_VERIFIER);
      const topUp = await deposit(fx, alice, parseEther("50"), BOTH_ROLES);
      await viem.assertions.emitWithArgs(topUp, staking, "VerifierWeightSet", [addr(alice), parseEther("250"), anyValue]);
      const unbond = staking.write.requestUnbond([parseEther("120")], { account: alice.account });
      await viem.assertions.emitWithArgs(unbond, staking, "VerifierWeightSet", [addr(alice), parseEther("130"), anyValue]);
      await expectAccount(fx, alice.account.address, { stake: parseEther("130"), verifierWeight: parseEther("130") });
      const latest = await fx.publicClient.getBlockNumber();
      assert.equal(await staking.read.totalVerifierWeightAt([latest]), parseEther("230"));
      assert.equal(await staking.read.verifierWeightAt([alice.account.address, latest]), parseEther("130"));
      assert.equal(await staking.read.verifierWeightAt([bob.account.address, latest]), parseEther("100"));
      assert.equal(await staking.read.verifierCount(), 2n, "a weight change is not a new member");
    });

    it("joins and leaves with setRoles: VerifierAdded, then VerifierRemoved and a zero weight", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE, ROLE_PROVIDER);
      await viem.assertions.emitWithArgs(
        fx.staking.write.setRoles([BOTH_ROLES], { account: fx.alice.account }),
        fx.staking,
        "VerifierAdded",
        [addr(fx.alice), 0n],
      );
      const leave = fx.staking.write.setRoles([ROLE_PROVIDER], { account: fx.alice.account });
      await viem.assertions.emitWithArgs(leave, fx.staking, "VerifierRemoved", [addr(fx.alice), 0n]);
      await viem.assertions.emitWithArgs(leave, fx.staking, "VerifierWeightSet", [addr(fx.alice), 0n, anyValue]);
      assert.equal(await fx.staking.read.verifierCount(), 0n);
      assert.equal(await fx.staking.read.verifierAt([0n]), zeroAddress, "the slot is free");
      await expectAccount(fx, fx.alice.account.address, { inVerifierSet: false, verifierWeight: 0n, stake: MIN_VERIFIER_STAKE });
    });

    it("removes a member whose unbonding request takes it under the minimum", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE + 5n, ROLE_VERIFIER);
      await fx.staking.write.requestUnbond([5n], { account: fx.alice.account });
      assert.equal(await fx.staking.read.isVerifier([fx.alice.account.address]), true);
      await viem.assertions.emitWithArgs(
        fx.staking.write.requestUnbond([1n], { account: fx.alice.account }),
        fx.staking,
        "VerifierRemoved",
        [addr(fx.alice), 0n],
      );
      assert.equal(await fx.staking.read.isVerifier([fx.alice.account.address]), false);
    });

    it("gives a leaver's slot to the next member and only then opens a new slot", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { staking, alice, bob, carol, dave } = fx;
      for (const who of [alice, bob, carol]) await deposit(fx, who, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      assert.deepEqual(await slots(fx), addresses(alice, bob, carol));
      await staking.write.setRoles([0], { account: bob.account });
      assert.deepEqual(await slots(fx), [addr(alice), zeroAddress, addr(carol)]);
      await viem.assertions.emitWithArgs(deposit(fx, dave, MIN_VERIFIER_STAKE, ROLE_VERIFIER), staking, "VerifierAdded", [addr(dave), 1n]);
      assert.deepEqual(await slots(fx), addresses(alice, dave, carol));
      await viem.assertions.emitWithArgs(staking.write.setRoles([ROLE_VERIFIER], { account: bob.account }), staking, "VerifierAdded", [
        addr(bob),
        3n,
      ]);
      assert.deepEqual(await slots(fx), addresses(alice, dave, carol, bob));
      assert.deepEqual([await staking.read.verifierCount(), await staking.read.verifierSlotCount()], [4n, 4n]);
    });

    it("holds at most MAX_VERIFIERS (1024) slots: a new member then needs a freed slot (VerifierSetFull)", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { staking, alice, bob, carol } = fx;
      assert.equal(await staking.read.MAX_VERIFIERS(), 1024n);
      await deposit(fx, alice, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      // Filling 1024 slots one stake at a time takes minutes: the slot counter is set in storage
      // instead, after checking that the slot found holds it.
      assert.equal(BigInt((await fx.publicClient.getStorageAt({ address: staking.address, slot: toHex(VERIFIER_SLOT_COUNT_SLOT) }))!), 1n);
      await networkHelpers.setStorageAt(staking.address, VERIFIER_SLOT_COUNT_SLOT, 1024n);
      assert.equal(await staking.read.verifierSlotCount(), 1024n);
      await fx.token.write.mint([bob.account.address, MIN_VERIFIER_STAKE]);
      await fx.token.write.approve([staking.address, MIN_VERIFIER_STAKE], { account: bob.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.stake([MIN_VERIFIER_STAKE, ROLE_VERIFIER], { account: bob.account }),
        staking,
        "VerifierSetFull",
        [1024n],
      );
      // Stake that does not make a member is still accepted.
      await deposit(fx, carol, MIN_VERIFIER_STAKE, ROLE_PROVIDER);
      await staking.write.setRoles([0], { account: alice.account });
      await staking.write.stake([MIN_VERIFIER_STAKE, ROLE_VERIFIER], { account: bob.account });
      assert.equal(await staking.read.verifierAt([0n]), addr(bob), "bob takes alice's freed slot");
    });

    it("keeps a member under a raised minVerifierStake until syncVerifier, which anyone may call, removes it", async () => {
      const fx = await networkHelpers.loadFixture(deployStaking);
      const { staking, owner, alice, bob, carol } = fx;
      await deposit(fx, alice, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      await deposit(fx, bob, MIN_VERIFIER_STAKE * 3n, ROLE_VERIFIER);
      await staking.write.setParams([{ ...PARAMS, minVerifierStake: MIN_VERIFIER_STAKE * 2n }], { account: owner.account });
      assert.equal(await staking.read.isVerifier([alice.account.address]), true, "no loop over the set at setParams");
      await viem.assertions.emitWithArgs(
        staking.write.syncVerifier([alice.account.address], { account: carol.account }),
        staking,
        "VerifierRemoved",
        [addr(alice), 0n],
      );
      assert.equal(await staking.read.isVerifier([alice.account.address]), false);
      assert.equal(await staking.read.verifierCount(), 1n);
      // bob still qualifies: syncing him changes nothing and emits nothing.
      const hash = await staking.write.syncVerifier([bob.account.address], { account: carol.account });
      const { logs } = await fx.publicClient.waitForTransactionReceipt({ hash });
      assert.equal(logs.length, 0);
      await expectAccount(fx, bob.account.address, { verifierWeight: MIN_VERIFIER_STAKE * 3n });
    });
  });

  describe("drawVerifier", () => {
    /** Draws at `snapshot` (the latest block by default). */
    async function draw({ staking, publicClient }: Fixture, seed: bigint, { excluded = [] as Wallet[], snapshot }: { excluded?: Wallet[]; snapshot?: bigint } = {}) {
      const at = snapshot ?? (await publicClient.getBlockNumber());
      return getAddress(await staking.read.drawVerifier([seed, at, excluded.map((w) => w.account.address)]));
    }

    it("returns the zero address when the set was empty at the snapshot", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const empty = await fx.publicClient.getBlockNumber();
      assert.equal(await draw(fx, 12345n), zeroAddress);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      assert.equal(await draw(fx, 12345n), addr(fx.alice));
      assert.equal(await draw(fx, 12345n, { snapshot: empty }), zeroAddress, "the set as it was then");
    });

    it("draws the member whose range of the cumulative weights holds seed % totalWeight", async () => {
      const fx = await networkHelpers.loadFixture(weighted);
      const members = await members_(fx);
      const unit = MIN_VERIFIER_STAKE;
      // The ranges' edges: alice [0, 100), bob [100, 300), carol [300, 600), dave [600, 1000); 1000 wraps to 0.
      const edges: [bigint, Wallet][] = [
        [0n, fx.alice],
        [unit - 1n, fx.alice],
        [unit, fx.bob],
        [3n * unit - 1n, fx.bob],
        [3n * unit, fx.carol],
        [6n * unit, fx.dave],
        [10n * unit - 1n, fx.dave],
        [10n * unit, fx.alice],
        [13n * unit, fx.carol],
      ];
      for (const [seed, who] of edges) assert.equal(await draw(fx, seed), addr(who), `seed ${seed}`);
      for (let i = 0; i < 40; i++) assert.equal(await draw(fx, seedOf(i)), expectedDraw(members, seedOf(i)), `seed ${i}`);
    });

    it("draws each member in proportion to its stake (2,000 seeds, weights 1:2:3:4)", async () => {
      const fx = await networkHelpers.loadFixture(weighted);
      const counts = await tally(fx, 2_000);
      // Binomial(2000, p): each count within 5 standard deviations of 2000 p.
      for (const [who, share] of [[fx.alice, 0.1], [fx.bob, 0.2], [fx.carol, 0.3], [fx.dave, 0.4]] as const) {
        const expected = 2_000 * share;
        const bound = 5 * Math.sqrt(2_000 * share * (1 - share));
        const got = counts.get(addr(who)) ?? 0;
        assert.ok(Math.abs(got - expected) <= bound, `${addr(who)}: ${got} draws, expected ${expected} +- ${bound.toFixed(0)}`);
      }
    });

    it("gives a stake split over three accounts the same chance as one account holding it all (no Sybil gain)", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE * 3n, ROLE_VERIFIER);
      for (const who of [fx.bob, fx.carol, fx.dave]) await deposit(fx, who, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      const counts = await tally(fx, 2_000);
      const split = (counts.get(addr(fx.bob)) ?? 0) + (counts.get(addr(fx.carol)) ?? 0) + (counts.get(addr(fx.dave)) ?? 0);
      const whole = counts.get(addr(fx.alice)) ?? 0;
      // Both halves ~ Binomial(2000, 0.5): sd 22.4, bound 5 sd.
      assert.ok(Math.abs(whole - 1_000) <= 112 && Math.abs(split - 1_000) <= 112, `one account: ${whole} draws, three accounts: ${split}`);
    });

    it("reads the set as it was at the snapshot: later joins, leaves, top-ups, unbonding and slot reuse change no draw", async () => {
      const fx = await networkHelpers.loadFixture(weighted);
      const { staking, alice, bob, carol, dave, recipient } = fx;
      const snapshot = await fx.publicClient.getBlockNumber();
      const seeds = Array.from({ length: 40 }, (_, i) => seedOf(i));
      const excluded = [carol];
      const before = await Promise.all(seeds.map((seed) => draw(fx, seed, { snapshot })));
      const beforeExcluding = await Promise.all(seeds.map((seed) => draw(fx, seed, { snapshot, excluded })));
      const totalBefore = await staking.read.totalVerifierWeightAt([snapshot]);
      const bobBefore = await staking.read.verifierWeightAt([bob.account.address, snapshot]);

      await staking.write.setRoles([0], { account: dave.account }); // the heaviest member leaves
      await deposit(fx, recipient, MIN_VERIFIER_STAKE * 50n, ROLE_VERIFIER); // a whale joins, in dave's slot
      assert.equal(await staking.read.verifierAt([3n]), addr(recipient));
      await deposit(fx, bob, MIN_VERIFIER_STAKE * 10n, ROLE_VERIFIER); // a top-up
      await staking.write.requestUnbond([MIN_VERIFIER_STAKE * 3n], { account: carol.account }); // carol drops out
      await staking.write.syncVerifier([alice.account.address]);
      await networkHelpers.mine(3);

      const after = await Promise.all(seeds.map((seed) => draw(fx, seed, { snapshot })));
      assert.deepEqual(after, before);
      // Carol, gone now, is still cut out of the snapshot's set by the range she had then.
      assert.deepEqual(await Promise.all(seeds.map((seed) => draw(fx, seed, { snapshot, excluded }))), beforeExcluding);
      assert.equal(await staking.read.totalVerifierWeightAt([snapshot]), totalBefore);
      assert.equal(await staking.read.verifierWeightAt([bob.account.address, snapshot]), bobBefore);
      const now = await Promise.all(seeds.map((seed) => draw(fx, seed)));
      assert.notDeepEqual(now, before, "the changes are real: today's draws differ");
      assert.ok(now.filter((a) => a === addr(recipient)).length > 20, "the whale dominates today's draws");
    });

    it("sees a change made in the snapshot block itself (the set at the end of that block)", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      const hash = await deposit(fx, fx.bob, MIN_VERIFIER_STAKE, ROLE_VERIFIER);
      const { blockNumber } = await fx.publicClient.waitForTransactionReceipt({ hash });
      assert.equal(await fx.staking.read.totalVerifierWeightAt([blockNumber]), MIN_VERIFIER_STAKE * 2n);
      assert.equal(await fx.staking.read.totalVerifierWeightAt([blockNumber - 1n]), MIN_VERIFIER_STAKE);
      const drawn = new Set<string>();
      for (let i = 0; i < 20; i++) drawn.add(await draw(fx, seedOf(i), { snapshot: blockNumber }));
      assert.deepEqual([...drawn].sort(), addresses(fx.alice, fx.bob).sort());
      assert.equal(await draw(fx, MIN_VERIFIER_STAKE, { snapshot: blockNumber }), addr(fx.bob));
      assert.equal(await draw(fx, MIN_VERIFIER_STAKE, { snapshot: blockNumber - 1n }), addr(fx.alice));
    });

    it("cuts the excluded members' ranges out of the cumulative weights and takes seed % remainingWeight in what is left", async () => {
      const fx = await networkHelpers.loadFixture(weighted);
      const members = await members_(fx);
      const unit = MIN_VERIFIER_STAKE;
      // Without bob (his range [100, 300) cut out) the remaining 800 read alice [0, 100), carol [100, 400),
      // dave [400, 800): seed 100 is carol's, 800 wraps to alice.
      for (const [seed, who] of [[unit - 1n, fx.alice], [unit, fx.carol], [4n * unit - 1n, fx.carol], [4n * unit, fx.dave], [8n * unit, fx.alice]] as const) {
        assert.equal(await draw(fx, seed, { excluded: [fx.bob] }), addr(who), `seed ${seed} without bob`);
      }
      // Without alice and carol: bob [0, 200), dave [200, 600).
      for (const [seed, who] of [[0n, fx.bob], [2n * unit - 1n, fx.bob], [2n * unit, fx.dave], [6n * unit, fx.bob]] as const) {
        assert.equal(await draw(fx, seed, { excluded: [fx.carol, fx.alice] }), addr(who), `seed ${seed} without alice and carol`);
      }
      for (const excluded of [[fx.dave], [fx.dave, fx.carol], [fx.alice, fx.bob, fx.carol], [fx.bob, fx.dave]]) {
        for (let i = 0; i < 20; i++) {
          const drawn = await draw(fx, seedOf(i), { excluded });
          assert.equal(drawn, expectedDraw(members, seedOf(i), excluded.map(addr)), `seed ${i}`);
          assert.ok(!excluded.map(addr).includes(drawn));
        }
      }
    });

    it("with excluded members holding 99% of the weight, always draws a non-excluded member, in proportion to the remaining weight", async () => {
      const fx = await networkHelpers.loadFixture(weighted);
      // A whale (the job's own provider, say) holds 100,000 of 101,000; it and dave are excluded.
      await deposit(fx, fx.recipient, MIN_VERIFIER_STAKE * 1000n, BOTH_ROLES);
      const excluded = [addr(fx.recipient), addr(fx.dave)];
      const total = await fx.staking.read.totalVerifierWeightAt([await fx.publicClient.getBlockNumber()]);
      assert.equal(total, MIN_VERIFIER_STAKE * 1010n);
      const n = 3_000;
      const counts = await tally(fx, n, excluded);
      assert.equal(counts.get(zeroAddress) ?? 0, 0, "never nobody");
      for (const a of excluded) assert.equal(counts.get(a) ?? 0, 0, `${a} is never drawn`);
      // alice, bob and carol weigh 1:2:3 of what is left: Binomial(3000, p), within 5 standard deviations.
      for (const [who, share] of [[fx.alice, 1 / 6], [fx.bob, 2 / 6], [fx.carol, 3 / 6]] as const) {
        const expected = n * share;
        const bound = 5 * Math.sqrt(n * share * (1 - share));
        const got = counts.get(addr(who)) ?? 0;
        assert.ok(Math.abs(got - expected) <= bound, `${addr(who)}: ${got} of ${n} draws, expected ${expected.toFixed(0)} +- ${bound.toFixed(0)}`);
      }
    });

    it("counts an account listed several times in excluded once, and ignores accounts that were not members at the snapshot", async () => {
      const fx = await networkHelpers.loadFixture(weighted);
      const members = await members_(fx);
      const snapshot = await fx.publicClient.getBlockNumber();
      // The recipient joins only after the snapshot; the stranger never does.
      await deposit(fx, fx.recipient, MIN_VERIFIER_STAKE * 5n, ROLE_VERIFIER);
      const stranger = getAddress(toHex(0xdead, { size: 20 }));
      const at = (seed: bigint, excluded: Wallet[], extra: Address[] = []) =>
        fx.staking.read.drawVerifier([seed, snapshot, [...excluded.map(addr), ...extra]]).then((a) => getAddress(a));
      for (let i = 0; i < 20; i++) {
        const seed = seedOf(i);
        const once = expectedDraw(members, seed, addresses(fx.dave, fx.carol));
        // Cutting dave's range twice would leave 1000 - 400 - 400 - 300 < 0: the draw would revert or stray.
        assert.equal(await at(seed, [fx.dave, fx.dave, fx.carol, fx.dave]), once, `seed ${i}, dave three times`);
        assert.equal(await at(seed, [fx.carol, fx.dave, fx.carol]), once, `seed ${i}, carol twice`);
        assert.equal(await at(seed, [fx.recipient], [stranger, stranger]), expectedDraw(members, seed), `seed ${i}, non-members excluded`);
      }
      // Every member listed, some twice: nobody is left.
      assert.equal(await at(1n, [fx.alice, fx.bob, fx.alice, fx.carol, fx.dave, fx.dave]), zeroAddress);
    });

    it("returns the zero address only when every member at the snapshot is excluded", async () => {
      const fx = await networkHelpers.loadFixture(weighted);
      const everyone = [fx.alice, fx.bob, fx.carol, fx.dave];
      for (let i = 0; i < 10; i++) {
        assert.equal(await draw(fx, seedOf(i), { excluded: everyone }), zeroAddress);
        assert.equal(await draw(fx, seedOf(i), { excluded: [fx.bob, fx.carol, fx.dave] }), addr(fx.alice), "the one member left");
      }
      assert.equal(await fx.staking.read.MAX_EXCLUDED(), 16n);
    });

    it("accepts 16 excluded accounts and reverts with TooManyExcluded for 17", async () => {
      const fx = await networkHelpers.loadFixture(weighted);
      const strangers = Array.from({ length: 16 }, (_, i) => getAddress(toHex(i + 1, { size: 20 })));
      const latest = await fx.publicClient.getBlockNumber();
      assert.notEqual(getAddress(await fx.staking.read.drawVerifier([0n, latest, strangers])), zeroAddress);
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.read.drawVerifier([0n, latest, [...strangers, fx.alice.account.address]]),
        fx.staking,
        "TooManyExcluded",
        [17n, 16n],
      );
    });

    it("reverts with SnapshotInFuture for a snapshot after the current block", async () => {
      const fx = await networkHelpers.loadFixture(weighted);
      const latest = await fx.publicClient.getBlockNumber();
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.read.drawVerifier([0n, latest + 2n, []]),
        fx.staking,
        "SnapshotInFuture",
        [latest + 2n, (current: bigint) => current === latest || current === latest + 1n],
      );
      assert.notEqual(getAddress(await fx.staking.read.drawVerifier([0n, latest, []])), zeroAddress);
    });

    it("verifierWeightAt is exact at every past block after leaving and rejoining in another slot, and excluding such an account cuts the range it had then", async () => {
      const fx = await networkHelpers.loadFixture(weighted);
      const { staking, alice, bob, carol, dave, recipient } = fx;
      const blockOf = async (hash: Promise<`0x${string}`>) => (await fx.publicClient.waitForTransactionReceipt({ hash: await hash })).blockNumber;
      const unit = MIN_VERIFIER_STAKE;
      const joined = await fx.publicClient.getBlockNumber(); // alice 100 in slot 0
      const toppedUp = await blockOf(deposit(fx, alice, unit / 2n, ROLE_VERIFIER)); // 150
      const left = await blockOf(staking.write.setRoles([0], { account: alice.account })); // slot 0 freed
      const reused = await blockOf(deposit(fx, recipient, unit * 5n, ROLE_VERIFIER)); // the recipient takes slot 0
      const rejoined = await blockOf(deposit(fx, alice, unit, ROLE_VERIFIER)); // 250, in a new slot
      await networkHelpers.mine(2);
      assert.deepEqual([await staking.read.verifierAt([0n]), await staking.read.verifierAt([4n])].map((a) => getAddress(a)), addresses(recipient, alice));

      const weights = async (who: Wallet) =>
        Promise.all([joined - 1n, joined, toppedUp, left, reused, rejoined, rejoined + 1n].map((b) => staking.read.verifierWeightAt([who.account.address, b])));
      assert.deepEqual(await weights(alice), [unit, unit, (unit * 3n) / 2n, 0n, 0n, (unit * 5n) / 2n, (unit * 5n) / 2n]);
      assert.deepEqual(await weights(recipient), [0n, 0n, 0n, 0n, unit * 5n, unit * 5n, unit * 5n]);
      assert.equal(await staking.read.totalVerifierWeightAt([left]), unit * 9n);
      assert.equal(await staking.read.totalVerifierWeightAt([rejoined]), unit * 9n + unit * 5n + (unit * 5n) / 2n);

      // The set at each snapshot, in slot order, as the draws must read it.
      const member = (who: Wallet, weight: bigint) => ({ address: addr(who), weight });
      const others = [member(bob, unit * 2n), member(carol, unit * 3n), member(dave, unit * 4n)];
      const sets: [bigint, Member[]][] = [
        [toppedUp, [member(alice, (unit * 3n) / 2n), ...others]],
        [left, others],
        [rejoined, [member(recipient, unit * 5n), ...others, member(alice, (unit * 5n) / 2n)]],
      ];
      for (const [snapshot, set] of sets) {
        for (let i = 0; i < 20; i++) {
          for (const excluded of [[alice], [alice, carol], [recipient]]) {
            const drawn = getAddress(await staking.read.drawVerifier([seedOf(i), snapshot, excluded.map((w) => w.account.address)]));
            assert.equal(drawn, expectedDraw(set, seedOf(i), excluded.map(addr)), `snapshot ${snapshot}, seed ${i}, without ${excluded.map(addr)}`);
          }
        }
      }
      // Excluding alice at the top-up block cuts her range then, [0, 150): seed 0 lands on bob.
      assert.equal(getAddress(await staking.read.drawVerifier([0n, toppedUp, [alice.account.address]])), addr(bob));
      // After rejoining, alice's range is [1400, 1650) at the end: excluding her leaves 1400, and 1400 wraps to the recipient.
      assert.equal(getAddress(await staking.read.drawVerifier([unit * 14n, rejoined, [alice.account.address]])), addr(recipient));
      assert.equal(getAddress(await staking.read.drawVerifier([unit * 14n, rejoined, []])), addr(alice));
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

    it("leaves a member's weight as it was until syncVerifier, which removes one the slash took under the minimum", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, MIN_VERIFIER_STAKE, BOTH_ROLES);
      const hash = await slash(fx, 0n, 1n);
      const { logs } = await fx.publicClient.waitForTransactionReceipt({ hash });
      const topics = ["VerifierWeightSet(address,uint256,uint256)", "VerifierRemoved(address,uint256)"].map((e) => keccak256(toHex(e)));
      assert.equal(logs.filter((l) => topics.includes(l.topics[0]!)).length, 0, "no re-weighting in the slash");
      await expectAccount(fx, fx.alice.account.address, { stake: MIN_VERIFIER_STAKE - 1n, inVerifierSet: true, verifierWeight: MIN_VERIFIER_STAKE });
      await viem.assertions.emitWithArgs(
        fx.staking.write.syncVerifier([fx.alice.account.address], { account: fx.bob.account }),
        fx.staking,
        "VerifierRemoved",
        [addr(fx.alice), 0n],
      );
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

  describe("penalize (JobMarket and Verification only)", () => {
    /** alice holds both roles: 200 staked, 150 of it locked as a provider's collateral, 30 more unbonding. */
    async function bothRoles(fx: Fixture) {
      await deposit(fx, fx.alice, parseEther("230"), BOTH_ROLES);
      await fx.staking.write.requestUnbond([parseEther("30")], { account: fx.alice.account });
      await fx.staking.write.lock([fx.alice.account.address, parseEther("150")], { account: fx.market.account });
    }

    const penalize = (fx: Fixture, amount: bigint, caller: Wallet = fx.verification) =>
      fx.staking.write.penalize([fx.alice.account.address, amount, fx.recipient.account.address], { account: caller.account });

    it("takes a penalty from the unlocked stake and sends it to the recipient, emitting Slashed", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await bothRoles(fx);
      await viem.assertions.emitWithArgs(penalize(fx, parseEther("20")), fx.staking, "Slashed", [
        addr(fx.alice),
        parseEther("20"),
        parseEther("20"),
        addr(fx.recipient),
      ]);
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("180"), locked: parseEther("150"), unbonding: parseEther("30") });
      assert.equal(await fx.token.read.balanceOf([fx.recipient.account.address]), parseEther("20"));
      assert.equal(await fx.staking.read.totalStaked(), parseEther("180"));
    });

    it("takes the unbonding stake past the unlocked stake, before anything owed on the collateral", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await bothRoles(fx);
      const { result } = await fx.staking.simulate.penalize(
        [fx.alice.account.address, parseEther("70"), fx.recipient.account.address],
        { account: fx.verification.account.address },
      );
      assert.equal(result, parseEther("70"));
      await penalize(fx, parseEther("70"));
      // 50 of free stake, then 20 of the 30 unbonding; the 150 of collateral stays whole and owes nothing.
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("150"), locked: parseEther("150"), unbonding: parseEther("10") });
      assert.equal(await fx.staking.read.penaltyDebt([fx.alice.account.address]), 0n);
      assert.equal(await fx.staking.read.totalStaked(), parseEther("150"));
      assert.equal(await fx.staking.read.totalUnbonding(), parseEther("10"));
    });

    it("owes the rest on the locked collateral (PenaltyDeferred), capped at it; the job's slash still finds its whole collateral and writes the debt off", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await bothRoles(fx);
      const hash = await penalize(fx, parseEther("500"));
      await viem.assertions.emitWithArgs(hash, fx.staking, "Slashed", [addr(fx.alice), parseEther("500"), parseEther("80"), addr(fx.recipient)]);
      // 420 missing, 150 locked: 150 owed.
      await viem.assertions.emitWithArgs(hash, fx.staking, "PenaltyDeferred", [addr(fx.alice), parseEther("150"), parseEther("150")]);
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("150"), locked: parseEther("150"), unbonding: 0n });
      assert.equal(await fx.staking.read.penaltyDebt([fx.alice.account.address]), parseEther("150"));
      // A second penalty finds no room: the debt never exceeds the collateral.
      const again = await penalize(fx, parseEther("5"));
      await viem.assertions.emitWithArgs(again, fx.staking, "Slashed", [addr(fx.alice), parseEther("5"), 0n, addr(fx.recipient)]);
      assert.deepEqual(await eventNames(fx, again), ["Slashed"], "no PenaltyDeferred");
      // The faulted job's slash: its collateral, all of it, to the job's side; what was owed on it is gone with it.
      const slashed = fx.staking.write.slash([fx.alice.account.address, parseEther("150"), parseEther("150"), fx.recipient.account.address], {
        account: fx.market.account,
      });
      await viem.assertions.emitWithArgs(slashed, fx.staking, "Slashed", [addr(fx.alice), parseEther("150"), parseEther("150"), addr(fx.recipient)]);
      await viem.assertions.emitWithArgs(slashed, fx.staking, "PenaltyDebtSettled", [addr(fx.alice), 0n, parseEther("150"), 0n]);
      await expectAccount(fx, fx.alice.account.address, { stake: 0n, locked: 0n, unbonding: 0n });
      assert.equal(await fx.staking.read.penaltyDebt([fx.alice.account.address]), 0n);
      assert.equal(await fx.staking.read.collectedDebts(), 0n);
    });

    it("collects a debt from the collateral as it comes back, before any of it is free to unbond or lock again", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await bothRoles(fx);
      // 80 taken (50 free, 30 unbonding), 20 owed on the 150 locked.
      await penalize(fx, parseEther("100"));
      assert.equal(await fx.staking.read.penaltyDebt([fx.alice.account.address]), parseEther("20"));
      assert.equal(await fx.staking.read.availableStake([fx.alice.account.address]), 0n);
      // 10 comes back: all of it pays the debt; still nothing free.
      const first = fx.staking.write.unlock([fx.alice.account.address, parseEther("10")], { account: fx.market.account });
      await viem.assertions.emitWithArgs(first, fx.staking, "PenaltyDebtSettled", [addr(fx.alice), parseEther("10"), 0n, parseEther("10")]);
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("140"), locked: parseEther("140") });
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.requestUnbond([1n], { account: fx.alice.account }),
        fx.staking,
        "InsufficientUnlockedStake",
        [addr(fx.alice), 0n, 1n],
      );
      // The rest comes back: 10 more pays the debt off, 130 is free.
      const second = fx.staking.write.unlock([fx.alice.account.address, parseEther("140")], { account: fx.market.account });
      await viem.assertions.emitWithArgs(second, fx.staking, "PenaltyDebtSettled", [addr(fx.alice), parseEther("10"), 0n, 0n]);
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("130"), locked: 0n });
      assert.equal(await fx.staking.read.penaltyDebt([fx.alice.account.address]), 0n);
      assert.equal(await fx.staking.read.availableStake([fx.alice.account.address]), parseEther("130"));
      assert.equal(await fx.staking.read.collectedDebts(), parseEther("20"));
      assert.equal(await fx.staking.read.totalStaked(), parseEther("130"));
      // Staking holds exactly the stake, the unbonding stake and what it collected.
      assert.equal(await fx.token.read.balanceOf([fx.staking.address]), parseEther("150"));
      // A later unlock with no debt left emits nothing about debts.
      await fx.staking.write.lock([fx.alice.account.address, parseEther("10")], { account: fx.market.account });
      const clean = await fx.staking.write.unlock([fx.alice.account.address, parseEther("10")], { account: fx.market.account });
      assert.deepEqual(await eventNames(fx, clean), [], "no PenaltyDebtSettled");
    });

    it("collects a debt from new stake, and from what an expiry-sized slash leaves of the collateral", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await bothRoles(fx);
      await penalize(fx, parseEther("120")); // 80 taken, 40 owed
      // New stake pays the debt first.
      const topUp = deposit(fx, fx.alice, parseEther("25"), BOTH_ROLES);
      await viem.assertions.emitWithArgs(topUp, fx.staking, "PenaltyDebtSettled", [addr(fx.alice), parseEther("25"), 0n, parseEther("15")]);
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("150"), locked: parseEther("150") });
      // A slash of 10% of the job's collateral: the 135 it leaves free pays the remaining 15.
      const slashed = fx.staking.write.slash([fx.alice.account.address, parseEther("150"), parseEther("15"), fx.recipient.account.address], {
        account: fx.market.account,
      });
      await viem.assertions.emitWithArgs(slashed, fx.staking, "Slashed", [addr(fx.alice), parseEther("15"), parseEther("15"), addr(fx.recipient)]);
      await viem.assertions.emitWithArgs(slashed, fx.staking, "PenaltyDebtSettled", [addr(fx.alice), parseEther("15"), 0n, 0n]);
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("120"), locked: 0n });
      assert.equal(await fx.staking.read.collectedDebts(), parseEther("40"));
    });

    it("weighs a verifier by its stake less its debt at the next syncVerifier", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("300"), BOTH_ROLES);
      await fx.staking.write.lock([fx.alice.account.address, parseEther("300")], { account: fx.market.account });
      await expectAccount(fx, fx.alice.account.address, { verifierWeight: parseEther("300") });
      await penalize(fx, parseEther("120"));
      await fx.staking.write.syncVerifier([fx.alice.account.address], { account: fx.carol.account });
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("300"), verifierWeight: parseEther("180") });
      // Below the minimum once its debt is counted out: out of the set.
      await penalize(fx, parseEther("100"));
      await fx.staking.write.syncVerifier([fx.alice.account.address], { account: fx.carol.account });
      assert.ok(parseEther("80") < MIN_VERIFIER_STAKE);
      await expectAccount(fx, fx.alice.account.address, { verifierWeight: 0n, inVerifierSet: false });
    });

    it("lets the owner alone withdraw the collected debts, once, to a named address", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.withdrawCollectedDebts([fx.owner.account.address], { account: fx.owner.account }),
        fx.staking,
        "NothingToWithdraw",
        [addr(fx.owner)],
      );
      await bothRoles(fx);
      await penalize(fx, parseEther("100"));
      await fx.staking.write.unlock([fx.alice.account.address, parseEther("150")], { account: fx.market.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.withdrawCollectedDebts([fx.bob.account.address], { account: fx.bob.account }),
        fx.staking,
        "OwnableUnauthorizedAccount",
        [addr(fx.bob)],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.withdrawCollectedDebts([zeroAddress], { account: fx.owner.account }),
        fx.staking,
        "ZeroAddress",
        [],
      );
      const hash = fx.staking.write.withdrawCollectedDebts([fx.dave.account.address], { account: fx.owner.account });
      await viem.assertions.emitWithArgs(hash, fx.staking, "CollectedDebtsWithdrawn", [addr(fx.dave), parseEther("20")]);
      assert.equal(await fx.token.read.balanceOf([fx.dave.account.address]), parseEther("20"));
      assert.equal(await fx.staking.read.collectedDebts(), 0n);
      assert.equal(await fx.token.read.balanceOf([fx.staking.address]), parseEther("130"));
    });

    it("leaves the verifier weight as it was until syncVerifier re-weighs it", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("300"), ROLE_VERIFIER);
      await deposit(fx, fx.bob, parseEther("100"), ROLE_VERIFIER);
      const hash = await penalize(fx, parseEther("100"));
      const { logs, blockNumber } = await fx.publicClient.waitForTransactionReceipt({ hash });
      const weightSet = keccak256(toHex("VerifierWeightSet(address,uint256,uint256)"));
      assert.equal(logs.filter((l) => l.topics[0] === weightSet).length, 0);
      await expectAccount(fx, fx.alice.account.address, { stake: parseEther("200"), verifierWeight: parseEther("300") });
      assert.equal(await fx.staking.read.totalVerifierWeightAt([blockNumber]), parseEther("400"));
      await viem.assertions.emitWithArgs(
        fx.staking.write.syncVerifier([fx.alice.account.address], { account: fx.carol.account }),
        fx.staking,
        "VerifierWeightSet",
        [addr(fx.alice), parseEther("200"), anyValue],
      );
      await expectAccount(fx, fx.alice.account.address, { verifierWeight: parseEther("200") });
      assert.equal(await fx.staking.read.totalVerifierWeightAt([await fx.publicClient.getBlockNumber()]), parseEther("300"));
      assert.equal(await fx.staking.read.totalVerifierWeightAt([blockNumber]), parseEther("400"), "past snapshots keep the old weight");
    });

    it("takes nothing now from an account with no free or unbonding stake and moves no tokens: it owes the penalty", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await deposit(fx, fx.alice, parseEther("100"), ROLE_PROVIDER);
      await fx.staking.write.lock([fx.alice.account.address, parseEther("100")], { account: fx.market.account });
      await viem.assertions.emitWithArgs(penalize(fx, parseEther("5"), fx.market), fx.staking, "Slashed", [
        addr(fx.alice),
        parseEther("5"),
        0n,
        addr(fx.recipient),
      ]);
      assert.equal(await fx.token.read.balanceOf([fx.recipient.account.address]), 0n);
      assert.equal(await fx.staking.read.penaltyDebt([fx.alice.account.address]), parseEther("5"));
    });

    it("reverts with ZeroAddress for a zero recipient and with NotProtocol for any other caller", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      await bothRoles(fx);
      await viem.assertions.revertWithCustomErrorWithArgs(
        fx.staking.write.penalize([fx.alice.account.address, 1n, zeroAddress], { account: fx.verification.account }),
        fx.staking,
        "ZeroAddress",
        [],
      );
      for (const caller of [fx.alice, fx.owner, fx.bob]) {
        await viem.assertions.revertWithCustomErrorWithArgs(penalize(fx, 1n, caller), fx.staking, "NotProtocol", [addr(caller)]);
      }
    });
  });

  describe("governance", () => {
    it("sets the batch market once, by the owner, which then locks, unlocks and slashes like the JobMarket", async () => {
      const fx = await networkHelpers.loadFixture(wiredStaking);
      const { staking, owner, alice, bob, carol, recipient } = fx;
      // bob stands in for the BatchMarket; carol is nobody.
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.setBatchMarket([bob.account.address], { account: alice.account }),
        staking,
        "OwnableUnauthorizedAccount",
        [alice.account.address],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(staking.write.setBatchMarket([zeroAddress], { account: owner.account }), staking, "ZeroAddress", []);
      await deposit(fx, alice, parseEther("100"), ROLE_PROVIDER);
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.lock([alice.account.address, 1n], { account: bob.account }),
        staking,
        "NotProtocol",
        [bob.account.address],
      );
      await viem.assertions.emitWithArgs(staking.write.setBatchMarket([bob.account.address], { account: owner.account }), staking, "BatchMarketSet", [
        getAddress(bob.account.address),
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.setBatchMarket([carol.account.address], { account: owner.account }),
        staking,
        "ProtocolAlreadySet",
        [],
      );
      await staking.write.lock([alice.account.address, parseEther("40")], { account: bob.account });
      await staking.write.unlock([alice.account.address, parseEther("10")], { account: bob.account });
      await staking.write.slash([alice.account.address, parseEther("30"), parseEther("5"), recipient.account.address], { account: bob.account });
      await expectAccount(fx, alice.account.address, { stake: parseEther("95"), locked: 0n });
      await viem.assertions.revertWithCustomErrorWithArgs(
        staking.write.lock([alice.account.address, 1n], { account: carol.account }),
        staking,
        "NotProtocol",
        [carol.account.address],
      );
    });

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

    it("accepts an unbonding period equal to the terms' job lifetime and reverts with UnbondingPeriodTooShort below it", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      const required = await sys.terms.read.requiredUnbondingPeriod();
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

    it("accepts a minimum verifier stake equal to the terms' challenge bond and reverts with MinVerifierStakeBelowBond below it", async () => {
      const sys = await networkHelpers.loadFixture(marketSystem);
      const bond = await sys.terms.read.requiredVerifierStake();
      assert.equal(bond, (await sys.terms.read.verificationParams()).challengeBond);
      await viem.assertions.revertWithCustomErrorWithArgs(
        sys.staking.write.setParams([{ ...PARAMS, minVerifierStake: bond - 1n }], { account: sys.owner.account }),
        sys.staking,
        "MinVerifierStakeBelowBond",
        [bond - 1n, bond],
      );
      await sys.staking.write.setParams([{ ...PARAMS, minVerifierStake: bond }], { account: sys.owner.account });
      assert.equal((await sys.staking.read.params()).minVerifierStake, bond);
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

  it("asserts every protocol error Staking can revert with somewhere in this file", async () => {
    // Its ABI lists the errors it can revert with; the protocol's are those of contracts/errors/Errors.sol.
    const { abi } = await artifacts.readArtifact("Staking");
    const declared = readFileSync(fileURLToPath(new URL("../../contracts/errors/Errors.sol", import.meta.url)), "utf8");
    const source = readFileSync(fileURLToPath(import.meta.url), "utf8");
    const ours = abi.flatMap((item) => (item.type === "error" && declared.includes(`error ${item.name}(`) ? [item.name] : []));
    assert.ok(ours.length > 3, `only ${ours.length} protocol errors in Staking's ABI`);
    const missing = ours.filter((name) => !source.includes(`"${name}"`));
    assert.deepEqual(missing, []);
  });
});
