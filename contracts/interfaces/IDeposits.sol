// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IDeposits
/// @notice A dApp's prepaid balance in a market's token: deposited once, fees debited from it at post (no
/// token transfer per job), the unspent rest withdrawn at any time.
interface IDeposits {
    event Deposited(address indexed account, uint256 amount);
    event DepositWithdrawn(address indexed account, uint256 amount);

    /// @notice Adds `amount` to the caller's deposit (pulled now); the market's posts from a deposit pay fees from it.
    /// @param amount tokens to pull (approved to this contract)
    function deposit(uint256 amount) external;

    /// @notice Takes `amount` of the caller's unspent deposit back. Fees of what was posted were debited at post:
    /// they are not part of the deposit any more.
    /// @param amount tokens to withdraw
    function withdrawDeposit(uint256 amount) external;

    /// @notice An account's unspent deposit.
    /// @param account the dApp
    /// @return the tokens
    function deposits(address account) external view returns (uint256);
}
