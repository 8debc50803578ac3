// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IJobMarket} from "../interfaces/IJobMarket.sol";

/// @notice TEST ONLY: receives a call from ReentrantToken on every transfer to or from it.
interface ITokenHook {
    function onTokenTransfer(address from, address to, uint256 amount) external;
}

/// @title ReentrantToken
/// @notice TEST ONLY: an ERC20 (like an ERC777 or a hostile token) that calls the `hooked` account
/// back in the middle of every transfer to or from it, giving it a re-entry point into whatever
/// contract moved the tokens.
contract ReentrantToken is ERC20 {
    address public hooked;

    constructor() ERC20("reentrant test token", "REENT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setHooked(address account) external {
        hooked = account;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address h = hooked;
        if (h != address(0) && from != address(0) && to != address(0) && (from == h || to == h)) {
            ITokenHook(h).onTokenTransfer(from, to, value);
        }
    }
}

/// @title ReentrancyAttacker
/// @notice TEST ONLY: a dApp that, once armed, makes one call of its choice (`payload` to `target`)
/// from inside a token transfer, and records how that inner call ended.
contract ReentrancyAttacker is ITokenHook {
    IJobMarket public immutable market;
    IERC20 public immutable token;

    address private _target;
    bytes private _payload;
    bool public armed;
    bool public reentered;
    bool public reentryOk;
    bytes public reentryResult;

    constructor(IJobMarket market_, IERC20 token_) {
        market = market_;
        token = token_;
    }

    function arm(address target, bytes calldata payload) external {
        _target = target;
        _payload = payload;
        armed = true;
    }

    function approveMarket(uint256 amount) external {
        token.approve(address(market), amount);
    }

    function postJob(IJobMarket.JobRequest calldata request) external returns (uint256) {
        return market.postJob(request);
    }

    function withdraw() external returns (uint256) {
        return market.withdraw();
    }

    function onTokenTransfer(address, address, uint256) external {
        if (msg.sender != address(token) || !armed) return;
        armed = false;
        (bool ok, bytes memory result) = _target.call(_payload);
        reentered = true;
        reentryOk = ok;
        reentryResult = result;
    }
}
