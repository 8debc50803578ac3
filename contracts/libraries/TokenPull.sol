// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {TokenTransferMismatch} from "../errors/Errors.sol";

/// @title TokenPull
/// @notice How the protocol takes tokens in (fees, stake, bonds): exactly the amount asked, or nothing.
library TokenPull {
    using SafeERC20 for IERC20;

    /// @dev Pulls exactly `amount` of `token` from `from` (which approved it); a token that delivers less
    /// (fee-on-transfer) is refused, since every escrow is accounted at its face value. Call it last:
    /// the transfer is an interaction.
    function pullExactly(IERC20 token, address from, uint256 amount) internal {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(from, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert TokenTransferMismatch(amount, received);
    }
}
