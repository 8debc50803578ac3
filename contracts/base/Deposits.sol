// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {InsufficientDeposit, ZeroAmount} from "../errors/Errors.sol";
import {IDeposits} from "../interfaces/IDeposits.sol";
import {TokenPull} from "../libraries/TokenPull.sol";
import {PullPayments} from "./PullPayments.sol";

/// @title Deposits
/// @notice Prepaid balances in the pull-payment token (JobMarket's `postJobFromDeposit` and BatchMarket's batches
/// pay from them): a derived contract debits fees with `_debitDeposit`. Its balance must cover every deposit
/// beside every credit.
abstract contract Deposits is PullPayments, IDeposits {
    using SafeERC20 for IERC20;
    using TokenPull for IERC20;

    /// @inheritdoc IDeposits
    mapping(address account => uint256) public deposits;

    /// @inheritdoc IDeposits
    function deposit(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        deposits[msg.sender] += amount;
        emit Deposited(msg.sender, amount);
        // Interaction last; the balance check rejects fee-on-transfer tokens.
        token.pullExactly(msg.sender, amount);
    }

    /// @inheritdoc IDeposits
    function withdrawDeposit(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 available = deposits[msg.sender];
        if (amount > available) revert InsufficientDeposit(msg.sender, available, amount);
        deposits[msg.sender] = available - amount;
        emit DepositWithdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @dev `account`'s fees for what is posted for it now come out of its deposit (no token moves).
    function _debitDeposit(address account, uint256 amount) internal {
        uint256 available = deposits[account];
        if (amount > available) revert InsufficientDeposit(account, available, amount);
        deposits[account] = available - amount;
    }
}
