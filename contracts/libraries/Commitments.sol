// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Commitments
/// @notice The hash a provider (or an auditor) commits to before revealing its output root
///         (docs/PROTOCOL.md section 5; `offchain/codec/commitment.ts` computes the same value).
/// @dev Binding the chain, the market and the account stops a commitment from being replayed on
///      another deployment or copied by another account; the salt hides the output root until the
///      reveal. Workers derive the salt as HMAC-SHA256(workerSecret, uint256(chainId) ||
///      uint256(jobId)), so it is never stored and a restart can always reveal.
library Commitments {
    /// @notice `keccak256(abi.encode(chainId, jobMarket, jobId, account, outputRoot, salt))`.
    /// @param account The provider, or the auditor for an auditor commitment.
    /// @dev Written in assembly to hash the six words in place instead of allocating the
    ///      abi.encode buffer; `test/OutputRootVectors.t.sol` fuzzes it against the plain
    ///      `keccak256(abi.encode(...))`.
    function hash(
        uint256 chainId,
        address jobMarket,
        uint256 jobId,
        address account,
        bytes32 outputRoot,
        bytes32 salt
    ) internal pure returns (bytes32 result) {
        assembly ("memory-safe") {
            // Free memory is scratch here: nothing is allocated, the pointer is left as it was.
            let ptr := mload(0x40)
            let addressMask := 0xffffffffffffffffffffffffffffffffffffffff
            mstore(ptr, chainId)
            mstore(add(ptr, 0x20), and(jobMarket, addressMask))
            mstore(add(ptr, 0x40), jobId)
            mstore(add(ptr, 0x60), and(account, addressMask))
            mstore(add(ptr, 0x80), outputRoot)
            mstore(add(ptr, 0xa0), salt)
            result := keccak256(ptr, 0xc0)
        }
    }
}
