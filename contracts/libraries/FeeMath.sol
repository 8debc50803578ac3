// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title FeeMath
/// @notice The protocol's splits. Every split returns parts that sum exactly to what was split:
/// rounding dust always goes to the last part, never disappears.
library FeeMath {
    uint256 internal constant BPS = 10_000;

    /// @notice Splits a job fee into the provider's payout, the protocol fee and the audit levy.
    /// @dev Requires protocolFeeBps + auditLevyBps <= BPS (enforced by the market's parameter setter).
    function splitFee(uint256 fee, uint256 protocolFeeBps, uint256 auditLevyBps)
        internal
        pure
        returns (uint256 payout, uint256 protocolFee, uint256 auditLevy)
    {
        protocolFee = fee * protocolFeeBps / BPS;
        auditLevy = fee * auditLevyBps / BPS;
        payout = fee - protocolFee - auditLevy;
    }

    /// @notice `bps` basis points of `amount`, rounded down.
    function share(uint256 amount, uint256 bps) internal pure returns (uint256) {
        return amount * bps / BPS;
    }
}
