// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IPullPayments
/// @notice What a contract owes in its token is credited, and each payee withdraws it: a settlement never
/// transfers, so no payee can block one that pays others.
interface IPullPayments {
    event Credited(address indexed account, uint256 amount);
    event Withdrawal(address indexed account, uint256 amount);

    /// @notice Withdraws all of the caller's credits; reverts `NothingToWithdraw` when there are none.
    /// @return amount the tokens transferred to the caller
    function withdraw() external returns (uint256 amount);

    /// @notice What `account` can withdraw now.
    /// @param account the payee
    /// @return the tokens credited to `account` and not yet withdrawn
    function credits(address account) external view returns (uint256);
}
