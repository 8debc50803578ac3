// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {
    InvalidRegion,
    ModelsWithoutCapacity,
    ModelsWithoutExecutionProvider,
    ProfileNotFound,
    RecordHashWithoutUri,
    RecordUriWithoutHash,
    TooManyProfileModels,
    UnknownExecutionProviders,
    UnsortedProfileModels
} from "./errors/Errors.sol";
import {IProviderProfiles} from "./interfaces/IProviderProfiles.sol";

/// @title ProviderProfiles
/// @notice Permissionless registry of providers' self-declared profiles: region, execution providers,
/// models served and capacity. No owner, no fee; each account writes only its own profile.
/// @dev Nothing here is verified (see IProviderProfiles): the checks only refuse declarations that are
/// malformed or contradict themselves, so that every stored profile can be matched and displayed as is.
contract ProviderProfiles is IProviderProfiles {
    /// @notice The execution provider bit for CPU inference.
    uint8 public constant EP_CPU = 1;
    /// @notice The execution provider bit for GPU inference.
    uint8 public constant EP_GPU = 2;
    /// @notice The most model ids one profile lists; it bounds the cost of a write and of a read.
    uint256 public constant MAX_MODELS = 64;
    uint8 private constant EP_KNOWN = EP_CPU | EP_GPU;

    /// @dev Slot 0 packs region, executionProviders, capacity and updatedAt (21 bytes): `meets` reads one slot.
    mapping(address provider => Profile) private _profiles;

    /// @inheritdoc IProviderProfiles
    function setProfile(
        bytes8 region,
        uint8 executionProviders,
        uint32 capacity,
        uint32[] calldata models,
        string calldata recordURI,
        bytes32 recordHash
    ) external {
        _validate(region, executionProviders, capacity, models, recordURI, recordHash);
        Profile storage p = _profiles[msg.sender];
        p.region = region;
        p.executionProviders = executionProviders;
        p.capacity = capacity;
        p.updatedAt = SafeCast.toUint64(block.timestamp);
        p.models = models;
        p.recordURI = recordURI;
        p.recordHash = recordHash;
        emit ProfileSet(msg.sender, region, executionProviders, capacity, models, recordURI, recordHash);
    }

    /// @inheritdoc IProviderProfiles
    function clearProfile() external {
        if (_profiles[msg.sender].updatedAt == 0) revert ProfileNotFound(msg.sender);
        delete _profiles[msg.sender];
        emit ProfileCleared(msg.sender);
    }

    /// @inheritdoc IProviderProfiles
    function profileOf(address provider) external view returns (Profile memory) {
        return _profiles[provider];
    }

    /// @inheritdoc IProviderProfiles
    function meets(address provider, bytes8 region, uint8 executionProviders) external view returns (bool) {
        Profile storage p = _profiles[provider];
        if (p.updatedAt == 0) return region == bytes8(0) && executionProviders == 0;
        bool regionMet = region == bytes8(0) || p.region == region;
        bool epMet = executionProviders == 0 || (p.executionProviders & executionProviders) != 0;
        return regionMet && epMet;
    }

    function _validate(
        bytes8 region,
        uint8 executionProviders,
        uint32 capacity,
        uint32[] calldata models,
        string calldata recordURI,
        bytes32 recordHash
    ) private pure {
        if (!_wellFormedRegion(region)) revert InvalidRegion(region);
        if (executionProviders & ~EP_KNOWN != 0) revert UnknownExecutionProviders(executionProviders);
        uint256 count = models.length;
        if (count > MAX_MODELS) revert TooManyProfileModels(count, MAX_MODELS);
        if (count != 0) {
            if (capacity == 0) revert ModelsWithoutCapacity(count);
            if (executionProviders == 0) revert ModelsWithoutExecutionProvider(count);
        }
        // Strictly ascending from 1: no zero id, no repeat, and one canonical order to compare profiles by.
        uint32 previous;
        for (uint256 i; i < count; ++i) {
            if (models[i] <= previous) revert UnsortedProfileModels(i, models[i]);
            previous = models[i];
        }
        bool hasUri = bytes(recordURI).length != 0;
        if (hasUri && recordHash == bytes32(0)) revert RecordUriWithoutHash();
        if (!hasUri && recordHash != bytes32(0)) revert RecordHashWithoutUri(recordHash);
    }

    /// @dev Printable ASCII without spaces (0x21 to 0x7e) from the first byte, then only zero bytes; or all
    /// zero. A zero byte inside the name, or text after the padding, would make two spellings of one region.
    function _wellFormedRegion(bytes8 region) private pure returns (bool) {
        bool padding;
        for (uint256 i; i < 8; ++i) {
            bytes1 b = region[i];
            if (b == 0) {
                padding = true;
            } else if (padding || b < 0x21 || b > 0x7e) {
                return false;
            }
        }
        return true;
    }
}
