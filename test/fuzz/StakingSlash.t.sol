// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DinferTestToken} from "../../contracts/DinferTestToken.sol";
import {Staking} from "../../contracts/Staking.sol";
import {IStaking} from "../../contracts/interfaces/IStaking.sol";

import {TestBase} from "../utils/Vm.sol";

/// @notice Staking.slash under random stake, locks, unbonding, unlock and slash amounts. The test contract
/// is the JobMarket (Staking.setProtocol(this, VERIFICATION)), so it can lock and slash directly.
contract StakingSlashFuzzTest is TestBase {
    address private constant PROVIDER = address(0xA11CE);
    address private constant BYSTANDER = address(0xB0B);
    address private constant VERIFICATION = address(0x7E51F1);
    uint256 private constant MIN_VERIFIER_STAKE = 100 ether;
    uint256 private constant MAX_STAKE = 10_000_000 ether; // ten faucet mints

    DinferTestToken private token;
    Staking private staking;

    /// @dev The slash scenario, drawn by the fuzzer and bounded in `_scenario`.
    struct Scenario {
        uint256 stake; // total ever staked by the provider
        uint256 unbonding; // of which requested for unbonding
        uint256 jobLock; // the slashed job's collateral
        uint256 otherLocks; // collateral of the provider's other open jobs
        uint256 unlockAmount; // what the caller releases first (may exceed every lock: saturates)
        uint256 amount; // what the caller asks to slash (may exceed everything: capped)
        uint256 bystanderStake;
        uint8 roles;
    }

    struct Snapshot {
        uint256 totalStaked;
        uint256 totalUnbonding;
        uint256 stakingBalance;
        uint256 recipientBalance;
        IStaking.AccountView bystander;
    }

    function setUp() public {
        token = new DinferTestToken();
        staking = new Staking(token, address(this), IStaking.StakingParams(7200, uint128(MIN_VERIFIER_STAKE)));
        staking.setProtocol(address(this), VERIFICATION);
    }

    function testFuzz_slash_takesLockedThenActiveThenUnbonding(
        Scenario memory s,
        address recipient,
        bool byVerification
    ) public {
        vm.assume(recipient != address(0) && recipient != address(staking));
        _scenario(s);
        Snapshot memory before = _snapshot(recipient);

        vm.prank(byVerification ? VERIFICATION : address(this));
        uint256 slashed = staking.slash(PROVIDER, s.unlockAmount, s.amount, recipient);

        // Expected, step by step as IStaking documents it: unlock, then active stake, then unbonding.
        uint256 active = s.stake - s.unbonding;
        uint256 locks = s.jobLock + s.otherLocks;
        uint256 lockedAfterUnlock = locks - _min(s.unlockAmount, locks);
        uint256 fromStake = _min(s.amount, active);
        uint256 fromUnbonding = _min(s.amount - fromStake, s.unbonding);
        vm.assertEq(slashed, _min(s.amount, active + s.unbonding), "slashed = min(amount, stake + unbonding)");
        vm.assertEq(slashed, fromStake + fromUnbonding, "active stake first, then unbonding");

        IStaking.AccountView memory a = staking.account(PROVIDER);
        vm.assertEq(a.stake, active - fromStake, "stake after");
        vm.assertEq(a.unbonding, s.unbonding - fromUnbonding, "unbonding after");
        vm.assertEq(a.locked, _min(lockedAfterUnlock, a.stake), "other jobs' locks kept, capped at the stake");
        vm.assertLe(a.locked, a.stake, "locked <= stake");
        if (s.unlockAmount >= s.jobLock && s.amount <= active - s.otherLocks) {
            // The slash fits beside the other jobs' collateral: their locks are untouched.
            vm.assertEq(a.locked, lockedAfterUnlock, "other locks untouched when the slash fits");
        }
        if (fromUnbonding != 0) vm.assertEq(a.stake, 0, "unbonding is only touched once the active stake is gone");

        // Totals and balances move by exactly the slashed amount, all of it to the recipient.
        vm.assertEq(staking.totalStaked(), before.totalStaked - fromStake, "totalStaked");
        vm.assertEq(staking.totalUnbonding(), before.totalUnbonding - fromUnbonding, "totalUnbonding");
        vm.assertEq(token.balanceOf(address(staking)), before.stakingBalance - slashed, "staking balance");
        vm.assertEq(token.balanceOf(recipient), before.recipientBalance + slashed, "recipient receives slashed");
        vm.assertEq(
            token.balanceOf(address(staking)),
            staking.totalStaked() + staking.totalUnbonding(),
            "staking holds exactly its totals"
        );

        // Nobody else is touched.
        IStaking.AccountView memory b = staking.account(BYSTANDER);
        vm.assertEq(b.stake, before.bystander.stake, "bystander stake");
        vm.assertEq(b.locked, before.bystander.locked, "bystander locked");
        vm.assertEq(b.unbonding, before.bystander.unbonding, "bystander unbonding");

        // The verifier set follows the remaining active stake.
        bool eligible = s.roles & staking.ROLE_VERIFIER() != 0 && a.stake >= MIN_VERIFIER_STAKE;
        vm.assertEq(staking.isVerifier(PROVIDER), eligible, "verifier set membership");

        // What is left is exactly what the provider can still get out.
        _assertRemainderWithdrawable(a);
    }

    function testFuzz_slash_accountWithoutStakeTakesNothing(uint256 unlockAmount, uint256 amount, address who) public {
        vm.assume(who != PROVIDER && who != BYSTANDER);
        _stake(BYSTANDER, 5 ether, 1);
        uint256 balance = token.balanceOf(address(staking));
        uint256 slashed = staking.slash(who, unlockAmount, amount, address(0xDEAD));
        vm.assertEq(slashed, 0, "nothing to take");
        vm.assertEq(token.balanceOf(address(0xDEAD)), 0, "nothing sent");
        vm.assertEq(token.balanceOf(address(staking)), balance, "staking balance unchanged");
        vm.assertEq(staking.account(BYSTANDER).stake, 5 ether, "other accounts untouched");
    }

    function testFuzz_slash_onlyProtocol(address caller, uint256 amount) public {
        vm.assume(caller != address(this) && caller != VERIFICATION);
        _stake(PROVIDER, 10 ether, 1);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IStaking.NotProtocol.selector, caller));
        staking.slash(PROVIDER, 0, amount, caller);
    }

    function test_slash_rejectsTheZeroRecipient() public {
        _stake(PROVIDER, 10 ether, 1);
        vm.expectRevert(IStaking.ZeroAddress.selector);
        staking.slash(PROVIDER, 0, 1 ether, address(0));
    }

    /// @dev Sets up the provider: stake, unbonding request, two locks; and a bystander with its own lock.
    function _scenario(Scenario memory s) private {
        s.stake = _bound(s.stake, 1, MAX_STAKE);
        s.unbonding = _bound(s.unbonding, 0, s.stake);
        uint256 active = s.stake - s.unbonding;
        s.jobLock = _bound(s.jobLock, 0, active);
        s.otherLocks = _bound(s.otherLocks, 0, active - s.jobLock);
        s.unlockAmount = _bound(s.unlockAmount, 0, s.jobLock + s.otherLocks + 1 ether);
        s.amount = _bound(s.amount, 0, 2 * s.stake + 1 ether);
        s.bystanderStake = _bound(s.bystanderStake, 1, MAX_STAKE);
        // A provider (it holds job locks), with or without the verifier role.
        s.roles = s.roles % 2 == 0 ? 1 : 3;

        _stake(PROVIDER, s.stake, s.roles);
        if (s.unbonding != 0) {
            vm.prank(PROVIDER);
            staking.requestUnbond(s.unbonding);
        }
        if (s.jobLock != 0) staking.lock(PROVIDER, s.jobLock);
        if (s.otherLocks != 0) staking.lock(PROVIDER, s.otherLocks);

        _stake(BYSTANDER, s.bystanderStake, 3);
        staking.lock(BYSTANDER, s.bystanderStake / 2);

        IStaking.AccountView memory a = staking.account(PROVIDER);
        vm.assertEq(a.stake, active, "setup: stake");
        vm.assertEq(a.locked, s.jobLock + s.otherLocks, "setup: locked");
        vm.assertEq(a.unbonding, s.unbonding, "setup: unbonding");
    }

    function _assertRemainderWithdrawable(IStaking.AccountView memory a) private {
        uint256 balance = token.balanceOf(PROVIDER);
        uint256 free = a.stake - a.locked;
        vm.assertEq(staking.availableStake(PROVIDER), free, "available = stake - locked");
        if (free != 0) {
            vm.prank(PROVIDER);
            staking.requestUnbond(free);
        }
        if (a.unbonding + free != 0) {
            vm.warp(block.timestamp + 7200);
            vm.prank(PROVIDER);
            uint256 out = staking.withdraw();
            vm.assertEq(out, a.unbonding + free, "withdraws the slashed-down unbonding plus the free stake");
            vm.assertEq(token.balanceOf(PROVIDER), balance + out, "paid out");
        }
    }

    function _snapshot(address recipient) private view returns (Snapshot memory s) {
        s.totalStaked = staking.totalStaked();
        s.totalUnbonding = staking.totalUnbonding();
        s.stakingBalance = token.balanceOf(address(staking));
        s.recipientBalance = token.balanceOf(recipient);
        s.bystander = staking.account(BYSTANDER);
    }

    function _stake(address who, uint256 amount, uint8 roles) private {
        for (uint256 left = amount; left != 0;) {
            uint256 chunk = _min(left, token.FAUCET_LIMIT());
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
