// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DinferTestToken} from "../../contracts/DinferTestToken.sol";
import {Staking} from "../../contracts/Staking.sol";
import * as Errors from "../../contracts/errors/Errors.sol";
import {IStaking} from "../../contracts/interfaces/IStaking.sol";

import {TestBase} from "../utils/Vm.sol";

/// @notice Staking's two ways of taking stake, under random stake, job locks, unbonding and amounts
/// (docs/PROTOCOL.md, "Staking and the verifier set"):
///   - `slash` (a job's fault, withheld reveal or expiry penalty) releases the job's collateral, then takes
///     from it first, then the rest of the active stake, then unbonding stake;
///   - `penalize` (an absent or overturned auditor, an absent or minority voter) takes free stake, then
///     unbonding stake, and never collateral locked for the account's own jobs: what is still missing is owed
///     on it, a penalty debt (at most what is locked), which weighs nothing in the verifier set and is
///     collected as stake comes free, after the job's own slash.
/// Both are capped at what exists and never revert for lack of stake; every token taken reaches the recipient
/// and Staking still holds exactly its totals. Neither re-weights the verifier set: `syncVerifier` does.
/// The test contract is the JobMarket (`setProtocol(this, VERIFICATION)`), so it can lock and slash directly.
contract StakingSlashFuzzTest is TestBase {
    address private constant ACCOUNT = address(0xA11CE);
    address private constant BYSTANDER = address(0xB0B);
    address private constant VERIFICATION = address(0x7E51F1);
    uint256 private constant MIN_VERIFIER_STAKE = 100 ether;
    uint256 private constant MAX_STAKE = 10_000_000 ether;
    uint8 private constant PROVIDER = 1;
    uint8 private constant BOTH_ROLES = 3;

    DinferTestToken private token;
    Staking private staking;

    /// @dev The account's position, drawn by the fuzzer and bounded in `_setUpAccount`.
    struct Position {
        uint256 stake; // total ever staked
        uint256 unbonding; // of which requested for unbonding
        uint256 jobLock; // the slashed job's collateral
        uint256 otherLocks; // collateral of the account's other open jobs
        bool verifier; // also holds the verifier role (a provider and a verifier in one account)
    }

    struct Snapshot {
        IStaking.AccountView account;
        IStaking.AccountView bystander;
        uint256 totalStaked;
        uint256 totalUnbonding;
        uint256 stakingBalance;
        uint256 recipientBalance;
        uint256 totalWeight;
    }

    function setUp() public {
        token = new DinferTestToken();
        staking = new Staking(token, address(this), IStaking.StakingParams(7200, uint128(MIN_VERIFIER_STAKE)));
        staking.setProtocol(address(this), VERIFICATION);
    }

    // ------------------------------------------------------------------ slash

    function testFuzz_slash_takesTheJobCollateralFirstThenStakeThenUnbonding(
        Position memory pos,
        uint256 unlockAmount,
        uint256 amount,
        bool byVerification
    ) public {
        _setUpAccount(pos);
        unlockAmount = _bound(unlockAmount, 0, pos.jobLock + pos.otherLocks + 1 ether);
        amount = _boundAmount(amount, pos.stake);
        Snapshot memory b = _snapshot(address(0xDEAD));

        vm.prank(byVerification ? VERIFICATION : address(this));
        uint256 slashed = staking.slash(ACCOUNT, unlockAmount, amount, address(0xDEAD));

        // Expected, step by step as IStaking documents it.
        uint256 active = pos.stake - pos.unbonding;
        uint256 locks = pos.jobLock + pos.otherLocks;
        uint256 lockedAfterUnlock = locks - _min(unlockAmount, locks);
        uint256 fromStake = _min(amount, active);
        uint256 fromUnbonding = _min(amount - fromStake, pos.unbonding);
        vm.assertEq(slashed, _min(amount, active + pos.unbonding), "slashed = min(amount, stake + unbonding)");
        vm.assertEq(slashed, fromStake + fromUnbonding, "active stake first, then unbonding");

        IStaking.AccountView memory a = staking.account(ACCOUNT);
        vm.assertEq(a.stake, active - fromStake, "stake after");
        vm.assertEq(a.unbonding, pos.unbonding - fromUnbonding, "unbonding after");
        vm.assertEq(a.locked, _min(lockedAfterUnlock, a.stake), "other jobs' locks kept, capped at the stake");
        if (unlockAmount >= pos.jobLock && amount <= active - pos.otherLocks) {
            // The slash fits beside the other jobs' collateral: their locks are untouched.
            vm.assertEq(a.locked, lockedAfterUnlock, "other locks untouched when the slash fits");
        }
        if (unlockAmount == pos.jobLock && amount <= pos.jobLock) {
            // What the protocol does: a job's slash of at most its own collateral takes exactly that.
            vm.assertEq(slashed, amount, "a job's slash within its collateral is taken whole");
            vm.assertEq(a.locked, pos.otherLocks, "only the job's own lock is released");
        }
        if (fromUnbonding != 0) vm.assertEq(a.stake, 0, "unbonding is only touched once the active stake is gone");

        _assertConserved(b, slashed, fromStake, fromUnbonding, address(0xDEAD));
        _assertWeightNotRewritten(b, pos, 0);
        _assertRemainderWithdrawable(a);
    }

    // ------------------------------------------------------------------ penalize

    function testFuzz_penalize_takesFreeStakeThenUnbondingOwesTheRestOnTheLocks(
        Position memory pos,
        uint256 amount,
        bool byMarket
    ) public {
        _setUpAccount(pos);
        amount = _boundAmount(amount, pos.stake);
        Snapshot memory b = _snapshot(VERIFICATION);

        vm.prank(byMarket ? address(this) : VERIFICATION);
        uint256 taken = staking.penalize(ACCOUNT, amount, VERIFICATION);

        uint256 active = pos.stake - pos.unbonding;
        uint256 locks = pos.jobLock + pos.otherLocks;
        uint256 free = active - locks;
        uint256 fromStake = _min(amount, free);
        uint256 fromUnbonding = _min(amount - fromStake, pos.unbonding);
        vm.assertEq(taken, fromStake + fromUnbonding, "taken = min(amount, free stake + unbonding)");
        uint256 debt = _min(amount - taken, locks);

        IStaking.AccountView memory a = staking.account(ACCOUNT);
        vm.assertEq(a.locked, locks, "locked collateral is never taken nor released");
        vm.assertEq(a.stake, active - fromStake, "stake after");
        vm.assertGe(a.stake, a.locked, "the locks stay fully backed");
        vm.assertEq(a.unbonding, pos.unbonding - fromUnbonding, "unbonding after");
        if (fromUnbonding != 0) vm.assertEq(a.stake, a.locked, "unbonding is only touched once the free stake is gone");
        vm.assertEq(staking.penaltyDebt(ACCOUNT), debt, "the rest owed on the locks, at most what is locked");
        if (debt != 0) vm.assertEq(a.stake, a.locked, "a debt only once the free stake is gone");
        vm.assertEq(staking.collectedDebts(), 0, "nothing collected by the penalty itself");

        _assertConserved(b, taken, fromStake, fromUnbonding, VERIFICATION);
        _assertWeightNotRewritten(b, pos, debt);
    }

    /// @notice An account with both roles cannot shrink its own job's slash: whatever verifier penalties it
    /// collects first, the job's slash still finds the whole collateral; the penalties' debt comes after it, owed
    /// on the other jobs' collateral only.
    function testFuzz_penaltiesNeverShrinkTheAccountsOwnJobSlash(Position memory pos, uint256[3] memory penalties)
        public
    {
        pos.verifier = true;
        _setUpAccount(pos);
        vm.assume(pos.jobLock != 0);
        uint256 locks = pos.jobLock + pos.otherLocks;
        uint256 takenTotal;
        uint256 debt;
        for (uint256 i; i < penalties.length; ++i) {
            uint256 amount = _boundAmount(penalties[i], pos.stake);
            vm.prank(VERIFICATION);
            uint256 taken = staking.penalize(ACCOUNT, amount, VERIFICATION);
            takenTotal += taken;
            debt += _min(amount - taken, locks - debt);
        }
        vm.assertLe(takenTotal, pos.stake - locks, "penalties only took what was not locked");
        vm.assertEq(staking.penaltyDebt(ACCOUNT), debt, "the rest owed on the locks");

        uint256 stakeBefore = staking.account(ACCOUNT).stake;
        uint256 slashed = staking.slash(ACCOUNT, pos.jobLock, pos.jobLock, address(0xDEAD));
        vm.assertEq(slashed, pos.jobLock, "the job's slash takes its whole collateral");
        IStaking.AccountView memory a = staking.account(ACCOUNT);
        vm.assertEq(a.locked, pos.otherLocks, "the other jobs' collateral is still locked");
        vm.assertEq(token.balanceOf(address(0xDEAD)), pos.jobLock, "all of it reaches the recipient");
        // Then the debt: paid from what the slash left free, the rest written down to the other jobs' locks.
        uint256 paid = _min(debt, stakeBefore - pos.jobLock - pos.otherLocks);
        vm.assertEq(staking.collectedDebts(), paid, "the debt paid from the free stake the slash left");
        vm.assertEq(a.stake, stakeBefore - pos.jobLock - paid, "the slash, then the debt paid");
        uint256 left = _min(debt - paid, pos.otherLocks);
        vm.assertEq(staking.penaltyDebt(ACCOUNT), left, "the rest owed on the other locks, the excess written off");
        vm.assertEq(
            token.balanceOf(address(staking)),
            staking.totalStaked() + staking.totalUnbonding() + staking.collectedDebts(),
            "staking holds its totals and the collected debts"
        );
    }

    // ------------------------------------------------------------------ never reverts, only the protocol

    /// @dev Any amount, even the largest, on any account, even one that never staked: capped, never a revert.
    function testFuzz_slashAndPenalize_neverRevertForLackOfStake(
        address who,
        uint256 stakeAmount,
        uint256 unlockAmount,
        uint256 amount
    ) public {
        vm.assume(who != address(0) && who != BYSTANDER && who != address(staking));
        stakeAmount = _bound(stakeAmount, 0, 1000 ether);
        if (stakeAmount != 0) _stake(who, stakeAmount, BOTH_ROLES);
        uint256 balance = token.balanceOf(address(staking));

        vm.prank(VERIFICATION);
        uint256 taken = staking.penalize(who, amount, address(0xDEAD));
        uint256 slashed = staking.slash(who, unlockAmount, amount, address(0xDEAD));

        uint256 first = _min(amount, stakeAmount);
        vm.assertEq(taken, first, "the penalty is capped at the stake");
        vm.assertEq(slashed, _min(amount, stakeAmount - first), "the slash is capped at what the penalty left");
        vm.assertEq(token.balanceOf(address(0xDEAD)), taken + slashed, "all sent");
        vm.assertEq(token.balanceOf(address(staking)), balance - taken - slashed, "staking paid exactly that");
        uint256 held = staking.totalStaked() + staking.totalUnbonding() + staking.collectedDebts();
        vm.assertEq(token.balanceOf(address(staking)), held, "totals");
    }

    function testFuzz_slashAndPenalize_onlyTheProtocol(address caller, uint256 amount) public {
        vm.assume(caller != address(this) && caller != VERIFICATION);
        _stake(ACCOUNT, 10 ether, PROVIDER);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotProtocol.selector, caller));
        staking.slash(ACCOUNT, 0, amount, caller);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotProtocol.selector, caller));
        staking.penalize(ACCOUNT, amount, caller);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(Errors.NotProtocol.selector, caller));
        staking.lock(ACCOUNT, 1);
    }

    function test_slashAndPenalize_rejectTheZeroRecipient() public {
        _stake(ACCOUNT, 10 ether, PROVIDER);
        vm.expectRevert(Errors.ZeroAddress.selector);
        staking.slash(ACCOUNT, 0, 1 ether, address(0));
        vm.expectRevert(Errors.ZeroAddress.selector);
        staking.penalize(ACCOUNT, 1 ether, address(0));
    }

    // ------------------------------------------------------------------ helpers

    /// @dev The account: stake, an unbonding request, two job locks; and a bystander with its own lock.
    function _setUpAccount(Position memory pos) private {
        pos.stake = _bound(pos.stake, 1, MAX_STAKE);
        pos.unbonding = _bound(pos.unbonding, 0, pos.stake);
        uint256 active = pos.stake - pos.unbonding;
        pos.jobLock = _bound(pos.jobLock, 0, active);
        pos.otherLocks = _bound(pos.otherLocks, 0, active - pos.jobLock);

        _stake(ACCOUNT, pos.stake, pos.verifier ? BOTH_ROLES : PROVIDER);
        if (pos.unbonding != 0) {
            vm.prank(ACCOUNT);
            staking.requestUnbond(pos.unbonding);
        }
        if (pos.jobLock != 0) staking.lock(ACCOUNT, pos.jobLock);
        if (pos.otherLocks != 0) staking.lock(ACCOUNT, pos.otherLocks);

        _stake(BYSTANDER, 500 ether, BOTH_ROLES);
        staking.lock(BYSTANDER, 200 ether);

        IStaking.AccountView memory a = staking.account(ACCOUNT);
        vm.assertEq(a.stake, active, "setup: stake");
        vm.assertEq(a.locked, pos.jobLock + pos.otherLocks, "setup: locked");
        vm.assertEq(a.unbonding, pos.unbonding, "setup: unbonding");
    }

    /// @dev Amounts from zero to well past everything the account has, and now and then the largest.
    function _boundAmount(uint256 amount, uint256 stake) private pure returns (uint256) {
        if (amount % 16 == 0) return type(uint256).max - amount / 16;
        return _bound(amount, 0, 2 * stake + 1 ether);
    }

    /// @dev Totals and balances moved by exactly what was taken, all of it to the recipient; nobody else moved.
    function _assertConserved(
        Snapshot memory b,
        uint256 taken,
        uint256 fromStake,
        uint256 fromUnbonding,
        address recipient
    ) private view {
        vm.assertEq(staking.totalStaked(), b.totalStaked - fromStake, "totalStaked");
        vm.assertEq(staking.totalUnbonding(), b.totalUnbonding - fromUnbonding, "totalUnbonding");
        vm.assertEq(token.balanceOf(address(staking)), b.stakingBalance - taken, "staking balance");
        vm.assertEq(token.balanceOf(recipient), b.recipientBalance + taken, "the recipient receives what was taken");
        vm.assertEq(
            token.balanceOf(address(staking)),
            staking.totalStaked() + staking.totalUnbonding() + staking.collectedDebts(),
            "staking holds its totals and the collected debts"
        );
        IStaking.AccountView memory y = staking.account(BYSTANDER);
        vm.assertEq(y.stake, b.bystander.stake, "bystander stake");
        vm.assertEq(y.locked, b.bystander.locked, "bystander locked");
        vm.assertEq(y.unbonding, b.bystander.unbonding, "bystander unbonding");
    }

    /// @dev A slash or penalty leaves the account's verifier weight as it was (settling a job never pays for
    /// a re-weighting); `syncVerifier` then brings it to the stake that is left less the penalty debt `debt`
    /// (zero below the minimum).
    function _assertWeightNotRewritten(Snapshot memory b, Position memory pos, uint256 debt) private {
        IStaking.AccountView memory a = staking.account(ACCOUNT);
        vm.assertEq(a.verifierWeight, b.account.verifierWeight, "weight unchanged by the slash");
        vm.assertEq(staking.totalVerifierWeightAt(block.number), b.totalWeight, "total weight unchanged by the slash");
        staking.syncVerifier(ACCOUNT);
        uint256 own = a.stake - debt;
        uint256 expected = pos.verifier && own >= MIN_VERIFIER_STAKE ? own : 0;
        vm.assertEq(
            staking.account(ACCOUNT).verifierWeight, expected, "synced weight = the stake left less the debt, if eligible"
        );
        vm.assertEq(staking.isVerifier(ACCOUNT), expected != 0, "synced membership");
        vm.assertEq(
            staking.totalVerifierWeightAt(block.number),
            b.totalWeight - b.account.verifierWeight + expected,
            "total weight follows the sync"
        );
    }

    /// @dev What is left is exactly what the account can still get out.
    function _assertRemainderWithdrawable(IStaking.AccountView memory a) private {
        staking.unlock(ACCOUNT, a.locked);
        uint256 balance = token.balanceOf(ACCOUNT);
        if (a.stake != 0) {
            vm.prank(ACCOUNT);
            staking.requestUnbond(a.stake);
        }
        if (a.unbonding + a.stake == 0) return;
        vm.warp(block.timestamp + 7200);
        vm.prank(ACCOUNT);
        uint256 out = staking.withdraw();
        vm.assertEq(out, a.unbonding + a.stake, "withdraws the slashed-down unbonding plus the stake left");
        vm.assertEq(token.balanceOf(ACCOUNT), balance + out, "paid out");
    }

    function _snapshot(address recipient) private view returns (Snapshot memory s) {
        s.account = staking.account(ACCOUNT);
        s.bystander = staking.account(BYSTANDER);
        s.totalStaked = staking.totalStaked();
        s.totalUnbonding = staking.totalUnbonding();
        s.stakingBalance = token.balanceOf(address(staking));
        s.recipientBalance = token.balanceOf(recipient);
        s.totalWeight = staking.totalVerifierWeightAt(block.number);
    }

    function _stake(address who, uint256 amount, uint8 roles) private {
        uint256 limit = token.FAUCET_LIMIT();
        for (uint256 left = amount; left != 0;) {
            uint256 chunk = _min(left, limit);
            token.mint(who, chunk);
            left -= chunk;
        }
        vm.startPrank(who);
        token.approve(address(staking), amount);
        staking.stake(amount, roles);
        vm.stopPrank();
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
