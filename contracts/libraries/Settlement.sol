// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Settlement
/// @notice How a dispute splits what the losing side gives up (docs/PROTOCOL.md, "Disputes"): a provider's
/// slashed collateral (the finder's share), or a forfeited bond (the upheld provider's share). The parts sum
/// exactly to what was split; the share is rounded down and the dust goes to the treasury. Committee pay is
/// settled before it (Verification: out of a challenge's bond, or from the audit pool), the same whichever
/// way the members vote.
library Settlement {
    uint256 internal constant BPS = 10_000;

    /// @notice Splits `amount` into a lead share of `leadBps` and the rest.
    /// @dev Requires leadBps <= BPS (enforced by the market's terms setter).
    /// @return lead `amount * leadBps / BPS` rounded down
    /// @return rest `amount - lead`
    function split(uint256 amount, uint256 leadBps) internal pure returns (uint256 lead, uint256 rest) {
        lead = amount * leadBps / BPS;
        rest = amount - lead;
    }
}
