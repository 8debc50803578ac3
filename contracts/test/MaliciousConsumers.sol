// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IJobMarket} from "../interfaces/IJobMarket.sol";
import {TestConsumerBase} from "./TestConsumerBase.sol";

// TEST ONLY: consumers that attack the JobMarket's finalize through their result callback. None of
// them may be able to block, grief or re-enter a finalization.

/// @notice TEST ONLY: reverts in the callback.
contract RevertingConsumer is TestConsumerBase {
    error NoThanks(uint256 jobId);

    constructor(IJobMarket market_, IERC20 token_) TestConsumerBase(market_, token_) {}

    function onJobResult(uint256 jobId, bytes32, bytes calldata) external pure {
        revert NoThanks(jobId);
    }
}

/// @notice TEST ONLY: burns every unit of gas it is given.
contract GasBurningConsumer is TestConsumerBase {
    uint256 public counter;

    constructor(IJobMarket market_, IERC20 token_) TestConsumerBase(market_, token_) {}

    function onJobResult(uint256, bytes32, bytes calldata) external {
        while (true) {
            counter += 1;
        }
    }
}

/// @notice TEST ONLY: reverts with `bombBytes` of return data, so a caller that copied return data
/// would pay the memory expansion for it out of its own gas.
contract ReturnDataBombConsumer is TestConsumerBase {
    uint256 public immutable bombBytes;

    constructor(IJobMarket market_, IERC20 token_, uint256 bombBytes_) TestConsumerBase(market_, token_) {
        bombBytes = bombBytes_;
    }

    function onJobResult(uint256, bytes32, bytes calldata) external view {
        uint256 size = bombBytes;
        assembly ("memory-safe") {
            revert(0, size)
        }
    }
}

/// @notice TEST ONLY: re-enters the market from its callback (finalize of the same job, then
/// withdraw) and records how each inner call ended; the outer finalize must go on regardless.
contract ReentrantConsumer is TestConsumerBase {
    IJobMarket.Job private _armedJob;
    bool public finalizeReentryOk;
    bytes public finalizeReentryError;
    bool public withdrawReentryOk;
    bytes public withdrawReentryError;
    bool public called;

    constructor(IJobMarket market_, IERC20 token_) TestConsumerBase(market_, token_) {}

    /// @notice The job state to pass to the inner finalize (the revealed state the keeper finalizes).
    function arm(IJobMarket.Job calldata job) external {
        _armedJob = job;
    }

    function onJobResult(uint256 jobId, bytes32, bytes calldata) external {
        called = true;
        try market.finalize(jobId, _armedJob) {
            finalizeReentryOk = true;
        } catch (bytes memory reason) {
            finalizeReentryError = reason;
        }
        try market.withdraw() {
            withdrawReentryOk = true;
        } catch (bytes memory reason) {
            withdrawReentryError = reason;
        }
    }
}

/// @notice TEST ONLY: from its callback, makes one call of its choice to the market (`arm`: a multicall, say)
/// and records how it ended; the outer finalize must go on regardless.
contract ArmedReentrantConsumer is TestConsumerBase {
    bytes private _payload;
    bool public called;
    bool public reentryOk;
    bytes public reentryResult;

    constructor(IJobMarket market_, IERC20 token_) TestConsumerBase(market_, token_) {}

    function arm(bytes calldata payload) external {
        _payload = payload;
    }

    function onJobResult(uint256, bytes32, bytes calldata) external {
        called = true;
        (reentryOk, reentryResult) = address(market).call(_payload);
    }
}

/// @notice TEST ONLY: once armed, burns every unit of gas it is given; unarmed, none. Its poster arms it after a
/// keeper estimated a finalize and before that finalize is mined (a front-run, or any simulation it tells apart):
/// the estimate leaves out the gas the callback really takes.
contract ArmedGasBurningConsumer is TestConsumerBase {
    uint256 public counter;
    bool public armed;

    constructor(IJobMarket market_, IERC20 token_) TestConsumerBase(market_, token_) {}

    function arm() external {
        armed = true;
    }

    function onJobResult(uint256, bytes32, bytes calldata) external {
        if (!armed) return;
        while (true) {
            counter += 1;
        }
    }
}
