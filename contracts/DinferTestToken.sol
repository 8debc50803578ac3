// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

import {FaucetLimit} from "./errors/Errors.sol";

/// @title DinferTestToken
/// @notice The protocol token for local and test deployments: a plain ERC20 with EIP-2612 permit and an
/// open faucet. Never deploy it to a network where the token must have value.
contract DinferTestToken is ERC20, ERC20Permit {
    /// @notice Most tokens one `mint` may create.
    uint256 public constant FAUCET_LIMIT = 1_000_000 ether;

    constructor() ERC20("dinfer test token", "DINF") ERC20Permit("dinfer test token") {}

    /// @notice Mints up to FAUCET_LIMIT tokens to `to`. Anyone may call: this is a test token.
    function mint(address to, uint256 amount) external {
        if (amount > FAUCET_LIMIT) revert FaucetLimit(amount, FAUCET_LIMIT);
        _mint(to, amount);
    }
}
