// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Settlement} from "../../contracts/libraries/Settlement.sol";

import {TestBase} from "../utils/Vm.sol";

/// @notice Settlement.split, the one split behind a dispute's payouts (the finder's share of a slashed
/// collateral, the upheld provider's share of a forfeited bond): two parts that sum exactly to the amount,
/// the lead share rounded down, the dust to the rest (the treasury).
/// @dev Expected shares are stated as floor bounds (`lead * 1e4 <= amount * bps < (lead + 1) * 1e4`), not by
/// repeating the library's formula.
contract SettlementFuzzTest is TestBase {
    uint256 private constant BPS = 10_000;

    function testFuzz_split_partsSumExactlyToTheAmount(uint256 amount, uint256 leadBps) public pure {
        amount = _bound(amount, 0, type(uint128).max);
        leadBps = _bound(leadBps, 0, BPS);

        (uint256 lead, uint256 rest) = Settlement.split(amount, leadBps);

        vm.assertEq(lead + rest, amount, "lead + rest = amount");
        vm.assertLe(lead * BPS, amount * leadBps, "lead at most its share");
        vm.assertGt((lead + 1) * BPS, amount * leadBps, "lead rounded down by less than one unit");
        // The rest is at least its own share: the treasury only ever gains from rounding.
        vm.assertGe(rest * BPS, amount * (BPS - leadBps), "rest at least its share");
        vm.assertLt(rest * BPS, amount * (BPS - leadBps) + BPS, "rest above its share by less than one unit");
    }

    /// @dev ProtocolTerms keeps challengerRewardBps and providerRewardBps below 100%: whatever one side gives
    /// up, the other never gets all of it (so a self-challenge never breaks even).
    function testFuzz_split_leadBelowTheWholeUnderTheSetterCap(uint256 amount, uint256 leadBps) public pure {
        amount = _bound(amount, 1, type(uint128).max);
        leadBps = _bound(leadBps, 0, BPS - 1);
        (uint256 lead, uint256 rest) = Settlement.split(amount, leadBps);
        vm.assertLt(lead, amount, "the lead share is below the whole");
        vm.assertGt(rest, 0, "something always goes to the rest");
    }

    function testFuzz_split_edges(uint256 amount) public pure {
        amount = _bound(amount, 0, type(uint128).max);
        (uint256 lead, uint256 rest) = Settlement.split(amount, 0);
        vm.assertEq(lead, 0, "0 bps: no lead share");
        vm.assertEq(rest, amount, "0 bps: all to the rest");
        (lead, rest) = Settlement.split(amount, BPS);
        vm.assertEq(lead, amount, "10000 bps: all to the lead");
        vm.assertEq(rest, 0, "10000 bps: nothing left");
    }

    function test_split_examples() public pure {
        (uint256 lead, uint256 rest) = Settlement.split(100 ether, 4000);
        vm.assertEq(lead, 40 ether, "40% of 100");
        vm.assertEq(rest, 60 ether, "the other 60");
        // 7 * 4000 / 1e4 = 2.8 -> 2; the dust goes to the rest.
        (lead, rest) = Settlement.split(7, 4000);
        vm.assertEq(lead, 2, "rounded down");
        vm.assertEq(rest, 5, "dust to the rest");
    }
}
