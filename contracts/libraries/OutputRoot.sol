// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title OutputRoot
/// @notice Merkle root over a blob's 4096-byte chunks, and proofs of single chunks against it
///         (docs/PROTOCOL.md section 5; `offchain/codec/merkle.ts` is the same tree).
/// @dev Chunks are 4096 bytes, the last may be shorter; an empty blob is one empty chunk.
///      `leaf_i = sha256(abi.encodePacked(uint32(i), chunk_i))`, parents are
///      `sha256(left || right)` level by level, an odd last node is carried up unchanged, and
///      the root of one chunk is its leaf.
///      Trust assumption: leaves and parents share no domain tag (the format is fixed), so a
///      60-byte "chunk" can hash like a parent node. Callers must take `leafCount` from a trusted
///      source (the committed blob's size), never from the prover; `verifyChunk` also insists
///      that every chunk but the last is exactly 4096 bytes.
///      SHA-256 (the EVM's precompile at address 2) rather than keccak-256: blobs are megabytes and
///      hashed off chain at every step, where SHA-256 runs about 6x faster with the CPU's SHA
///      extensions; on chain only one chunk or a proof's path is hashed (docs/PROTOCOL.md section 5).
library OutputRoot {
    /// @notice Bytes per chunk (leaf).
    uint256 internal constant CHUNK_SIZE = 4096;

    /// @dev Leaf indices are uint32 on the wire.
    uint256 private constant _MAX_LEAVES = 1 << 32;

    /// @notice The leaf hash of chunk `index`: `sha256(abi.encodePacked(index, chunk))`.
    function leaf(uint32 index, bytes memory chunk) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(index, chunk));
    }

    /// @notice Number of chunks (leaves) of a blob of `blobLength` bytes; at least one.
    function leafCountOf(uint256 blobLength) internal pure returns (uint256) {
        return blobLength == 0 ? 1 : (blobLength + CHUNK_SIZE - 1) / CHUNK_SIZE;
    }

    /// @notice The output root of a whole in-memory blob.
    /// @dev `view`, not `pure`, like `verifyChunk`: it calls the SHA-256 precompile with STATICCALL
    ///      (Solidity's `sha256` builtin would need the chunk copied out with its index).
    /// @dev Gas grows linearly with the blob (one SHA-256 per chunk and per parent); meant for
    ///      inline outputs and tests, large blobs are proven chunk by chunk with `verifyChunk`.
    ///      `blob` is left unchanged (see `_leafInPlace`).
    function root(bytes memory blob) internal view returns (bytes32) {
        uint256 width = leafCountOf(blob.length);
        bytes32[] memory nodes = new bytes32[](width);
        for (uint256 i; i < width; ++i) {
            nodes[i] = _leafInPlace(blob, i);
        }
        // Each level overwrites the front of `nodes`; `width` is the level's node count.
        while (width > 1) {
            uint256 pairs = width / 2;
            for (uint256 j; j < pairs; ++j) {
                nodes[j] = _hashPair(nodes[2 * j], nodes[2 * j + 1]);
            }
            if (width % 2 == 1) nodes[pairs] = nodes[width - 1];
            width = pairs + width % 2;
        }
        return nodes[0];
    }

    /// @notice Whether `chunk` is chunk `index` of a `leafCount`-chunk blob whose root is `root_`.
    /// @dev Never reverts: a malformed proof (index out of range, a non-last chunk that is not
    ///      exactly 4096 bytes, a last chunk over 4096 bytes or empty unless it is the only one,
    ///      too few or too many siblings) returns false.
    /// @param siblings Sibling hashes from the leaf level up, one per level where the node has a
    ///        sibling; levels where the node is carried up unchanged have none.
    function verifyChunk(
        bytes32 root_,
        uint256 index,
        uint256 leafCount,
        bytes memory chunk,
        bytes32[] memory siblings
    ) internal view returns (bool) {
        if (!_isWellFormedChunk(index, leafCount, chunk.length)) return false;
        // index < leafCount <= 2^32, so the cast is exact.
        bytes32 node = leaf(uint32(index), chunk);
        uint256 used;
        for (uint256 width = leafCount; width > 1; width = (width + 1) / 2) {
            bool isRight = index % 2 == 1;
            if (isRight || index + 1 < width) {
                if (used == siblings.length) return false;
                bytes32 sibling = siblings[used++];
                node = isRight ? _hashPair(sibling, node) : _hashPair(node, sibling);
            }
            index /= 2;
        }
        return used == siblings.length && node == root_;
    }

    /// @dev Hashes chunk `i` of `blob` where it lies, without copying it: the 4 bytes just before
    ///      the chunk (the tail of the length word for chunk 0, of the previous chunk otherwise)
    ///      are overwritten with the big-endian index for the hash, then restored.
    function _leafInPlace(bytes memory blob, uint256 i) private view returns (bytes32 hash) {
        uint256 start = i * CHUNK_SIZE;
        uint256 length = blob.length - start;
        if (length > CHUNK_SIZE) length = CHUNK_SIZE;
        assembly ("memory-safe") {
            let chunkStart := add(add(blob, 0x20), start)
            let word := sub(chunkStart, 0x20)
            let saved := mload(word)
            // i < 2^32, so the word's last 4 bytes are uint32(i) big-endian.
            mstore(word, i)
            let ok := staticcall(gas(), 0x02, sub(chunkStart, 4), add(length, 4), 0x00, 0x20)
            mstore(word, saved)
            // The precompile fails only when out of gas.
            if iszero(ok) { revert(0, 0) }
            hash := mload(0x00)
        }
    }

    /// @dev sha256(left || right) in scratch space, without allocating.
    function _hashPair(bytes32 left, bytes32 right) private view returns (bytes32 hash) {
        assembly ("memory-safe") {
            mstore(0x00, left)
            mstore(0x20, right)
            if iszero(staticcall(gas(), 0x02, 0x00, 0x40, 0x00, 0x20)) { revert(0, 0) }
            hash := mload(0x00)
        }
    }

    function _isWellFormedChunk(uint256 index, uint256 leafCount, uint256 length) private pure returns (bool) {
        if (leafCount == 0 || leafCount > _MAX_LEAVES || index >= leafCount) return false;
        if (index + 1 < leafCount) return length == CHUNK_SIZE;
        return length <= CHUNK_SIZE && (length > 0 || leafCount == 1);
    }
}
