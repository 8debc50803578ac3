// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Settlement
/// @notice How a dispute splits what the losing side gives up (DESIGN section 5): a provider's slashed
/// collateral, or a forfeited challenge bond. Every split returns parts that sum exactly to what was split;
/// each share is rounded down and all the dust goes to the treasury.
library Settlement {
    uint256 internal constant BPS = 10_000;

    /// @notice Splits `amount` into a lead share of `leadBps` (the challenger of a faulted provider, or an
    /// upheld provider), `voters` equal shares of a `voterBps` pool, and the rest for the treasury.
    /// @dev Requires leadBps + voterBps <= BPS (enforced by Verification's parameter setter). With no
    /// voters the voters' pool goes to the treasury.
    /// @return lead the lead share, `amount * leadBps / BPS` rounded down
    /// @return perVoter each voter's share, `amount * voterBps / BPS / voters` rounded down
    /// @return rest `amount - lead - perVoter * voters`
    function split(uint256 amount, uint256 leadBps, uint256 voterBps, uint256 voters)
        internal
        pure
        returns (uint256 lead, uint256 perVoter, uint256 rest)
    {
        lead = amount * leadBps / BPS;
        if (voters != 0) perVoter = amount * voterBps / BPS / voters;
        rest = amount - lead - perVoter * voters;
    }
}
