// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {FeeMath} from "../../contracts/libraries/FeeMath.sol";

import {TestBase} from "../utils/Vm.sol";

/// @notice FeeMath's splits: nothing created or lost, each share rounded down, the dust to the provider.
/// @dev The expected values are stated as floor bounds (`part * 1e4 <= fee * bps < (part + 1) * 1e4`), not
/// by repeating the library's formula.
contract FeeMathFuzzTest is TestBase {
    uint256 private constant BPS = 10_000;
    /// @dev ProtocolTerms caps protocolFeeBps + auditLevyBps at 5000.
    uint256 private constant MAX_FEE_BPS = 5_000;

    function testFuzz_splitFee_partsSumExactlyToTheFee(uint256 fee, uint256 protocolFeeBps, uint256 auditLevyBps)
        public
        pure
    {
        fee = _bound(fee, 0, type(uint96).max);
        protocolFeeBps = _bound(protocolFeeBps, 0, MAX_FEE_BPS);
        auditLevyBps = _bound(auditLevyBps, 0, MAX_FEE_BPS - protocolFeeBps);

        (uint256 payout, uint256 protocolFee, uint256 auditLevy) = FeeMath.splitFee(fee, protocolFeeBps, auditLevyBps);

        vm.assertEq(payout + protocolFee + auditLevy, fee, "parts sum to the fee");
        _assertFloorShare(protocolFee, fee, protocolFeeBps, "protocol fee");
        _assertFloorShare(auditLevy, fee, auditLevyBps, "audit levy");
        // The provider gets its own share rounded down plus the two roundings' dust: less than 2 units over.
        uint256 providerBps = BPS - protocolFeeBps - auditLevyBps;
        vm.assertGe(payout * BPS, fee * providerBps, "payout at least its bps share");
        vm.assertLt(payout * BPS, fee * providerBps + 2 * BPS, "payout at most its share plus two roundings");
        vm.assertGe(payout, fee / 2, "the provider keeps at least half");
    }

    /// @dev The identity holds for any bps pair up to the whole fee, not only the market's 5000 cap.
    function testFuzz_splitFee_sumsForEveryValidBpsPair(uint256 fee, uint256 protocolFeeBps, uint256 auditLevyBps)
        public
        pure
    {
        fee = _bound(fee, 0, type(uint96).max);
        protocolFeeBps = _bound(protocolFeeBps, 0, BPS);
        auditLevyBps = _bound(auditLevyBps, 0, BPS - protocolFeeBps);

        (uint256 payout, uint256 protocolFee, uint256 auditLevy) = FeeMath.splitFee(fee, protocolFeeBps, auditLevyBps);

        vm.assertEq(payout + protocolFee + auditLevy, fee, "parts sum to the fee");
        _assertFloorShare(protocolFee, fee, protocolFeeBps, "protocol fee");
        _assertFloorShare(auditLevy, fee, auditLevyBps, "audit levy");
    }

    function testFuzz_splitFee_smallFeesLeaveTheDustToTheProvider(uint256 fee, uint256 protocolFeeBps) public pure {
        // Below 1e4 / bps every share rounds to zero and the whole fee is the provider's.
        protocolFeeBps = _bound(protocolFeeBps, 1, MAX_FEE_BPS / 2);
        fee = _bound(fee, 0, (BPS - 1) / protocolFeeBps);
        (uint256 payout, uint256 protocolFee, uint256 auditLevy) =
            FeeMath.splitFee(fee, protocolFeeBps, protocolFeeBps);
        vm.assertEq(protocolFee, 0, "protocol share rounds down to zero");
        vm.assertEq(auditLevy, 0, "audit share rounds down to zero");
        vm.assertEq(payout, fee, "the dust is the provider's");
    }

    function testFuzz_share_isTheFloorAndAtMostTheAmount(uint256 amount, uint256 bps) public pure {
        amount = _bound(amount, 0, type(uint256).max / BPS);
        bps = _bound(bps, 0, BPS);
        uint256 part = FeeMath.share(amount, bps);
        vm.assertLe(part, amount, "share <= amount");
        _assertFloorShare(part, amount, bps, "share");
        if (bps == BPS) vm.assertEq(part, amount, "10000 bps is the whole amount");
        if (bps == 0) vm.assertEq(part, 0, "0 bps is nothing");
    }

    function test_splitFee_examples() public pure {
        // The local terms: 2% protocol fee, 7% audit levy.
        (uint256 payout, uint256 protocolFee, uint256 auditLevy) = FeeMath.splitFee(1 ether, 200, 700);
        vm.assertEq(protocolFee, 0.02 ether, "2% of 1 ether");
        vm.assertEq(auditLevy, 0.07 ether, "7% of 1 ether");
        vm.assertEq(payout, 0.91 ether, "the rest");
        (payout, protocolFee, auditLevy) = FeeMath.splitFee(99, 200, 700);
        // 99 * 200 / 1e4 = 1.98 -> 1; 99 * 700 / 1e4 = 6.93 -> 6; dust to the provider.
        vm.assertEq(protocolFee, 1, "rounded down");
        vm.assertEq(auditLevy, 6, "rounded down");
        vm.assertEq(payout, 92, "dust to the provider");
        vm.assertEq(FeeMath.share(12_345, 1000), 1234, "10% rounded down");
    }

    /// @dev part == floor(amount * bps / 1e4), stated without division.
    function _assertFloorShare(uint256 part, uint256 amount, uint256 bps, string memory what) private pure {
        vm.assertLe(part * BPS, amount * bps, string.concat(what, ": not above its bps share"));
        vm.assertGt((part + 1) * BPS, amount * bps, string.concat(what, ": rounded down by less than one unit"));
    }
}
