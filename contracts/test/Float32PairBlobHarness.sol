// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Float32PairBlob} from "../examples/Float32PairBlob.sol";

/// @title Float32PairBlobHarness
/// @notice TEST ONLY: exposes the internal functions of `Float32PairBlob` (contracts/examples) to tests.
contract Float32PairBlobHarness {
    function decode(bytes calldata blob)
        external
        pure
        returns (Float32PairBlob.Status status, bytes memory name, uint32 first, uint32 second)
    {
        return Float32PairBlob.decode(blob);
    }

    function orderKey(uint32 bits) external pure returns (bool ok, uint32 key) {
        return Float32PairBlob.orderKey(bits);
    }
}
