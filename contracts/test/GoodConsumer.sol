// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IJobMarket} from "../interfaces/IJobMarket.sol";
import {TestConsumerBase} from "./TestConsumerBase.sol";

/// @title GoodConsumer
/// @notice TEST ONLY: a well-behaved consumer that records the result it is handed and the gas it was
/// given, so tests can check what `onJobResult` delivers and that a keeper cannot starve it.
contract GoodConsumer is TestConsumerBase {
    uint256 public calls;
    uint256 public lastJobId;
    bytes32 public lastOutputRoot;
    bytes32 public lastOutputHash;
    uint256 public lastOutputLength;
    /// @dev gasleft() at the first statement of the callback: the gas the market forwarded, less the
    /// dispatch cost.
    uint256 public gasAtEntry;

    event ResultReceived(uint256 indexed jobId, bytes32 outputRoot, bytes inlineOutput);

    error NotMarket(address caller);

    constructor(IJobMarket market_, IERC20 token_) TestConsumerBase(market_, token_) {}

    function onJobResult(uint256 jobId, bytes32 outputRoot, bytes calldata inlineOutput) external {
        uint256 gas = gasleft();
        if (msg.sender != address(market)) revert NotMarket(msg.sender);
        gasAtEntry = gas;
        calls += 1;
        lastJobId = jobId;
        lastOutputRoot = outputRoot;
        lastOutputHash = keccak256(inlineOutput);
        lastOutputLength = inlineOutput.length;
        emit ResultReceived(jobId, outputRoot, inlineOutput);
    }
}
