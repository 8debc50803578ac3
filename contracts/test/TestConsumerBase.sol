// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IDinferConsumer} from "../interfaces/IDinferConsumer.sol";
import {IJobMarket} from "../interfaces/IJobMarket.sol";

/// @title TestConsumerBase
/// @notice TEST ONLY: a contract dApp that posts jobs paid from its own token balance, so the
/// JobMarket calls it back on finalize. Base of the consumers in `contracts/test/`; never deploy it
/// anywhere that matters.
abstract contract TestConsumerBase is IDinferConsumer {
    IJobMarket public immutable market;
    IERC20 public immutable token;

    constructor(IJobMarket market_, IERC20 token_) {
        market = market_;
        token = token_;
    }

    /// @notice Approves the fee and posts `request` as this contract.
    function post(IJobMarket.JobRequest calldata request) external returns (uint256 jobId) {
        token.approve(address(market), request.fee);
        return market.postJob(request);
    }

    /// @notice Withdraws this contract's market credits (refunds), for tests that follow the money.
    function withdrawCredits() external returns (uint256) {
        return market.withdraw();
    }
}
