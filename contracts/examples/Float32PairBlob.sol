// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Float32PairBlob
/// @notice Reads a tensor blob (docs/PROTOCOL.md section 5, "DTN1") that holds exactly one float32 tensor of two
/// elements, such as a two-class softmax `[1, 2]`, and compares float32 values by their bit patterns.
/// @dev Built for contract callbacks, which must not revert on a bad output: `decode` never reverts and
/// returns a `Status` naming the first field that is wrong. The layout it accepts, little-endian:
///
///   "DTN1" | u32 count = 1 | u16 nameLength | name | u8 dtype = 1 (float32) | u8 rank <= 8 |
///   u32 dims[rank] with prod(dims) = 2 | 8 bytes of data, and nothing after it
///
/// It rejects what the full decoder rejects for such a blob (bad magic, a count other than one, another
/// dtype, rank > 8, a size mismatch, trailing bytes). It does not check that the name is valid UTF-8: a
/// caller compares the name with the one it expects, which settles that too. With one tensor the
/// "sorted, no duplicates" rule holds trivially.
library Float32PairBlob {
    /// @notice What `decode` found; `Ok` or the first problem, in the order of the layout.
    enum Status {
        Ok,
        Truncated,
        BadMagic,
        NotOneTensor,
        NotFloat32,
        RankTooLarge,
        NotTwoElements,
        TrailingBytes
    }

    bytes4 internal constant MAGIC = "DTN1";
    uint8 internal constant DTYPE_FLOAT32 = 1;
    uint256 internal constant MAX_RANK = 8;

    uint32 private constant SIGN_BIT = 0x80000000;
    uint32 private constant EXPONENT_BITS = 0x7f800000;
    /// @dev magic (4) + count (4) + nameLength (2)
    uint256 private constant NAME_OFFSET = 10;

    /// @notice Decodes `blob` as one float32 tensor of two elements.
    /// @return status `Ok`, or what is wrong (then the other values are zero or empty)
    /// @return name the tensor's name (a slice of `blob`)
    /// @return first the first element's IEEE 754 bits
    /// @return second the second element's IEEE 754 bits
    function decode(bytes calldata blob)
        internal
        pure
        returns (Status status, bytes calldata name, uint32 first, uint32 second)
    {
        name = blob[0:0];
        if (blob.length < 4) return (Status.Truncated, name, 0, 0);
        if (bytes4(blob[0:4]) != MAGIC) return (Status.BadMagic, name, 0, 0);
        if (blob.length < 8) return (Status.Truncated, name, 0, 0);
        if (_u32(blob, 4) != 1) return (Status.NotOneTensor, name, 0, 0);
        if (blob.length < NAME_OFFSET) return (Status.Truncated, name, 0, 0);

        // Each bound is checked before the read it guards; `_u32` and `_u16` read without checks.
        uint256 at = NAME_OFFSET + _u16(blob, 8);
        if (blob.length < at + 2) return (Status.Truncated, name, 0, 0);
        if (uint8(blob[at]) != DTYPE_FLOAT32) return (Status.NotFloat32, name, 0, 0);
        name = blob[NAME_OFFSET:at];
        uint256 dataAt;
        {
            uint256 rank = uint8(blob[at + 1]);
            if (rank > MAX_RANK) return (Status.RankTooLarge, blob[0:0], 0, 0);
            at += 2;
            dataAt = at + 4 * rank;
        }
        if (blob.length < dataAt) return (Status.Truncated, blob[0:0], 0, 0);
        // Eight u32 dims multiply to less than 2**256: no overflow.
        uint256 elements = 1;
        for (; at < dataAt; at += 4) {
            elements *= _u32(blob, at);
        }
        if (elements != 2) return (Status.NotTwoElements, blob[0:0], 0, 0);
        if (blob.length < dataAt + 8) return (Status.Truncated, blob[0:0], 0, 0);
        if (blob.length > dataAt + 8) return (Status.TrailingBytes, blob[0:0], 0, 0);

        status = Status.Ok;
        first = uint32(_u32(blob, dataAt));
        second = uint32(_u32(blob, dataAt + 4));
    }

    /// @notice Maps a float32 that is a valid probability-like value (zero or positive, finite) to an
    /// integer with the same order, so two such values compare with `<` on the results.
    /// @dev IEEE 754 stores sign, then a biased exponent, then the fraction, so for floats whose sign bit is
    /// clear the bit patterns read as unsigned integers are in the same order as the values (subnormals
    /// included). That is false for negative floats (a larger magnitude has larger bits but is smaller) and
    /// meaningless for NaN, so those are refused (`ok` false), as are the infinities. Negative zero equals
    /// zero and maps to 0.
    /// @return ok whether `bits` is +0, -0 or a positive finite float
    /// @return key the order key: `bits`, or 0 for negative zero
    function orderKey(uint32 bits) internal pure returns (bool ok, uint32 key) {
        if (bits == SIGN_BIT) return (true, 0);
        if (bits & SIGN_BIT != 0 || bits & EXPONENT_BITS == EXPONENT_BITS) return (false, 0);
        return (true, bits);
    }

    /// @dev Little-endian u32 at `at`; the caller has checked `at + 4 <= blob.length`.
    function _u32(bytes calldata blob, uint256 at) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            let word := calldataload(add(blob.offset, at))
            value := or(or(byte(0, word), shl(8, byte(1, word))), or(shl(16, byte(2, word)), shl(24, byte(3, word))))
        }
    }

    /// @dev Little-endian u16 at `at`; the caller has checked `at + 2 <= blob.length`.
    function _u16(bytes calldata blob, uint256 at) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            let word := calldataload(add(blob.offset, at))
            value := or(byte(0, word), shl(8, byte(1, word)))
        }
    }
}
