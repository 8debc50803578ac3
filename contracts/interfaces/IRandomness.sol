// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IRandomness
/// @notice Source of the sampling and committee seeds (docs/PROTOCOL.md section 7). The default, used when a
/// deployment sets no randomness contract, is `blockhash(blockNumber)`; a VRF adapter can implement this
/// interface instead by returning the randomness it fulfilled for that block.
interface IRandomness {
    /// @notice The seed fixed by block `blockNumber`, or zero while it is not available (not yet mined, or
    /// no longer readable: blockhash only reaches 256 blocks back).
    /// @param blockNumber the block whose seed is asked for
    /// @return the seed, or zero
    function seedOf(uint256 blockNumber) external view returns (bytes32);
}
