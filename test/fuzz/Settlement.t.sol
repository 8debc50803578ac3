// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Settlement} from "../../contracts/libraries/Settlement.sol";

import {TestBase} from "../utils/Vm.sol";

/// @notice Settlement.split, the one split behind a dispute's slash and forfeited-bond payouts: nothing
/// created or lost for any amount, bps pair and voter count, each share rounded down, the dust to the rest.
/// @dev Expected shares are stated as floor bounds (`share * 1e4 <= amount * bps < (share + 1) * 1e4`), not
/// by repeating the library's formula.
contract SettlementFuzzTest is TestBase {
    uint256 private constant BPS = 10_000;
    /// @dev Verification.MAX_COMMITTEE_SIZE: the most majority voters a split ever has.
    uint256 private constant MAX_VOTERS = 13;

    function testFuzz_split_partsSumExactlyToTheAmount(uint256 amount, uint256 leadBps, uint256 voterBps, uint256 voters)
        public
        pure
    {
        amount = _bound(amount, 0, type(uint128).max);
        leadBps = _bound(leadBps, 0, BPS);
        voterBps = _bound(voterBps, 0, BPS - leadBps);
        voters = _bound(voters, 0, MAX_VOTERS);

        (uint256 lead, uint256 perVoter, uint256 rest) = Settlement.split(amount, leadBps, voterBps, voters);

        vm.assertEq(lead + perVoter * voters + rest, amount, "lead + voters + rest = amount");
        vm.assertLe(lead * BPS, amount * leadBps, "lead at most its share");
        vm.assertGt((lead + 1) * BPS, amount * leadBps, "lead rounded down by less than one unit");
        uint256 pool = amount * voterBps / BPS;
        if (voters == 0) {
            vm.assertEq(perVoter, 0, "no voters, no voter share");
        } else {
            vm.assertLe(perVoter * voters, pool, "voters get at most their pool");
            vm.assertGt((perVoter + 1) * voters, pool, "each voter's share rounded down by less than one unit");
        }
        // The rest is at least its own bps share: the treasury only ever gains from rounding.
        vm.assertGe(rest * BPS, amount * (BPS - leadBps - voterBps), "rest at least its share");
    }

    /// @dev Verification's setter keeps challengerRewardBps and providerRewardBps below 100%: whatever one
    /// side of a self-challenge gives up, the other gets strictly less of it back.
    function testFuzz_split_leadNeverTakesEverything(uint256 amount, uint256 leadBps, uint256 voterBps, uint256 voters)
        public
        pure
    {
        amount = _bound(amount, 1, type(uint128).max);
        leadBps = _bound(leadBps, 0, BPS - 1);
        voterBps = _bound(voterBps, 0, BPS - leadBps);
        voters = _bound(voters, 0, MAX_VOTERS);
        (uint256 lead,,) = Settlement.split(amount, leadBps, voterBps, voters);
        vm.assertLt(lead, amount, "the lead share is below the whole");
    }

    function testFuzz_split_equalSharesForEveryVoter(uint256 amount, uint256 voterBps, uint256 voters) public pure {
        amount = _bound(amount, 0, type(uint128).max);
        voterBps = _bound(voterBps, 0, BPS);
        voters = _bound(voters, 1, MAX_VOTERS);
        (uint256 lead, uint256 perVoter, uint256 rest) = Settlement.split(amount, 0, voterBps, voters);
        vm.assertEq(lead, 0, "no lead share at 0 bps");
        // The voters' pool, split equally, leaves less than one unit per voter to the rest beyond its share.
        uint256 pool = amount * voterBps / BPS;
        vm.assertEq(rest, amount - pool + pool % voters, "rest = what is outside the pool + the pool's remainder");
        vm.assertEq(perVoter, pool / voters, "equal shares");
    }
}
