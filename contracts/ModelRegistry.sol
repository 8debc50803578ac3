// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {
    EmptyModelHash,
    EmptyUri,
    InvalidTolerance,
    ModelHashChanged,
    ModelNotFound,
    NonFiniteInputsChanged,
    NotModelOwner,
    RuntimeChanged,
    ToleranceChanged,
    TooManyModels,
    ZeroAddress,
    ZeroCollateral
} from "./errors/Errors.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title ModelRegistry
/// @notice Permissionless registry of ONNX model specs. Each model has an owner who may update its
/// economics and URI, but never what its results are judged by (hash, tolerance, runtime, non-finite opt-in).
/// @dev Checking that a model is deterministic (no random operators) happens off-chain: workers and
/// the CLI refuse such graphs; the chain cannot parse ONNX.
contract ModelRegistry is IModelRegistry {
    /// @dev The fields read on every job post and claim share one slot.
    struct Record {
        // slot 0
        uint96 priceFloor;
        uint96 minCollateral;
        bool active;
        bool nonFiniteInputs;
        // slot 1
        address owner;
        // slot 2
        bytes32 modelHash;
        // slot 3
        Tolerance tolerance;
        string uri;
        string runtime;
    }

    /// @dev Relative tolerances above 1.0 and absolute ones above 1e6 make a check meaningless.
    uint64 private constant MAX_REL_TOL_E12 = 1e12;
    uint64 private constant MAX_ABS_TOL_E12 = 1e18;
    /// @dev JobMarket stores model ids in 24 bits.
    uint256 private constant MAX_MODELS = type(uint24).max;

    /// @inheritdoc IModelRegistry
    uint256 public modelCount;
    mapping(uint256 modelId => Record) private _models;

    /// @inheritdoc IModelRegistry
    function register(ModelSpec calldata spec) external returns (uint256 modelId) {
        _validate(spec);
        modelId = ++modelCount;
        if (modelId > MAX_MODELS) revert TooManyModels();
        Record storage r = _models[modelId];
        r.owner = msg.sender;
        r.modelHash = spec.modelHash;
        r.active = true;
        r.nonFiniteInputs = spec.nonFiniteInputs;
        _write(r, spec);
        emit ModelRegistered(modelId, msg.sender, spec.modelHash, spec);
    }

    /// @inheritdoc IModelRegistry
    function update(uint256 modelId, ModelSpec calldata spec) external {
        Record storage r = _owned(modelId);
        if (spec.modelHash != r.modelHash) revert ModelHashChanged(r.modelHash, spec.modelHash);
        if (keccak256(abi.encode(spec.tolerance)) != keccak256(abi.encode(r.tolerance))) revert ToleranceChanged(modelId);
        if (keccak256(bytes(spec.runtime)) != keccak256(bytes(r.runtime))) revert RuntimeChanged(modelId);
        if (spec.nonFiniteInputs != r.nonFiniteInputs) revert NonFiniteInputsChanged(modelId);
        _validate(spec);
        _write(r, spec);
        emit ModelUpdated(modelId, spec);
    }

    /// @inheritdoc IModelRegistry
    function setActive(uint256 modelId, bool active) external {
        _owned(modelId).active = active;
        emit ModelActiveSet(modelId, active);
    }

    /// @inheritdoc IModelRegistry
    function transferModel(uint256 modelId, address to) external {
        if (to == address(0)) revert ZeroAddress();
        Record storage r = _owned(modelId);
        r.owner = to;
        emit ModelOwnershipTransferred(modelId, msg.sender, to);
    }

    /// @inheritdoc IModelRegistry
    function model(uint256 modelId) external view returns (Model memory m) {
        Record storage r = _existing(modelId);
        m = Model(r.modelHash, r.owner, r.active, r.minCollateral, r.priceFloor, r.tolerance, r.uri, r.runtime, r.nonFiniteInputs);
    }

    /// @inheritdoc IModelRegistry
    function terms(uint256 modelId) external view returns (bool active, uint96 priceFloor, uint96 minCollateral) {
        Record storage r = _models[modelId];
        return (r.active, r.priceFloor, r.minCollateral);
    }

    function _write(Record storage r, ModelSpec calldata spec) private {
        r.priceFloor = spec.priceFloor;
        r.minCollateral = spec.minCollateral;
        r.tolerance = spec.tolerance;
        r.uri = spec.uri;
        r.runtime = spec.runtime;
    }

    function _validate(ModelSpec calldata spec) private pure {
        if (spec.modelHash == bytes32(0)) revert EmptyModelHash();
        if (bytes(spec.uri).length == 0) revert EmptyUri();
        if (spec.minCollateral == 0) revert ZeroCollateral();
        Tolerance calldata t = spec.tolerance;
        if (t.kind == ToleranceKind.Allclose) {
            if (t.relTolE12 > MAX_REL_TOL_E12 || t.absTolE12 > MAX_ABS_TOL_E12) revert InvalidTolerance(t.kind);
        } else if (t.absTolE12 != 0 || t.relTolE12 != 0) {
            // Argmax and Exact take no numeric tolerance; a value there is a mistake, not a policy.
            revert InvalidTolerance(t.kind);
        }
    }

    function _existing(uint256 modelId) private view returns (Record storage r) {
        r = _models[modelId];
        if (r.owner == address(0)) revert ModelNotFound(modelId);
    }

    function _owned(uint256 modelId) private view returns (Record storage r) {
        r = _existing(modelId);
        if (r.owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
    }
}
