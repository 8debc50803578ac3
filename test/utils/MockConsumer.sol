// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IDinferConsumer} from "../../contracts/interfaces/IDinferConsumer.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";

/// @notice A dApp contract that posts jobs with a result callback. For each job its callback accepts,
/// reverts or burns all the gas it is given (the mode set when the job was posted): a failing consumer must
/// never block finalization.
contract MockConsumer is IDinferConsumer {
    enum Mode {
        Accept,
        Revert,
        BurnGas
    }

    IJobMarket public immutable market;
    IERC20 public immutable token;
    Mode public mode; // for the next post
    mapping(uint256 jobId => Mode) public modeOf;
    uint256 public deliveries;
    mapping(uint256 jobId => bytes32 outputRoot) public delivered;
    mapping(uint256 jobId => bytes32 outputHash) public deliveredOutput;

    error OnlyMarket(address caller);
    error Refused(uint256 jobId);

    constructor(IJobMarket market_, IERC20 token_) {
        market = market_;
        token = token_;
    }

    function setMode(Mode mode_) external {
        mode = mode_;
    }

    /// @dev Anyone may make it post: it is a test double, funded by the test.
    function post(IJobMarket.JobRequest calldata request) external returns (uint256 jobId) {
        token.approve(address(market), request.fee);
        jobId = market.postJob(request);
        modeOf[jobId] = mode;
    }

    /// @dev Withdraws its market credits (refunds and expiry penalties) into its own balance.
    function withdraw() external returns (uint256) {
        return market.withdraw();
    }

    function onJobResult(uint256 jobId, bytes32 outputRoot, bytes calldata inlineOutput) external {
        if (msg.sender != address(market)) revert OnlyMarket(msg.sender);
        Mode m = modeOf[jobId];
        if (m == Mode.Revert) revert Refused(jobId);
        if (m == Mode.BurnGas) {
            assembly ("memory-safe") {
                invalid() // consumes all the gas the market gave the callback
            }
        }
        delivered[jobId] = outputRoot;
        deliveredOutput[jobId] = keccak256(inlineOutput);
        ++deliveries;
    }
}
