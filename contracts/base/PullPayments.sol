// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {NothingToWithdraw} from "../errors/Errors.sol";
import {IPullPayments} from "../interfaces/IPullPayments.sol";

/// @title PullPayments
/// @notice Credits in one token, withdrawn by each payee (JobMarket and Verification pay out this way).
/// @dev A derived contract credits with `_credit`; it may add to `credits` directly where another event
/// already carries the amount (JobMarket's `JobFinalized`). Its balance must always cover every credit.
abstract contract PullPayments is IPullPayments, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The token every credit is paid in.
    IERC20 public immutable token;

    /// @inheritdoc IPullPayments
    mapping(address account => uint256) public credits;

    constructor(IERC20 token_) {
        token = token_;
    }

    /// @inheritdoc IPullPayments
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        // Effects before the transfer: a reentrant token finds nothing left to withdraw.
        credits[msg.sender] = 0;
        emit Withdrawal(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @dev Owes `account` `amount` more; nothing happens for zero.
    function _credit(address account, uint256 amount) internal {
        if (amount == 0) return;
        credits[account] += amount;
        emit Credited(account, amount);
    }
}
