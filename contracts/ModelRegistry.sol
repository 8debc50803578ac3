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
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title ModelRegistry
/// @notice Permissionless registry of ONNX model specs. Each model has an owner who may update its
/// economics and URI, but never what its results are judged by (hash, tolerance, runtime, non-finite opt-in).
/// @dev Checking that a model is deterministic (no random operators) happens off-chain: workers and
/// the CLI refuse such graphs; the chain cannot parse ONNX.
/// A lower collateral waits out `COLLATERAL_NOTICE` and is applied lazily: every read compares the time
/// with `loweringAt`, so no keeper has to act when it falls due, and the next `update` writes it for good.
contract ModelRegistry is IModelRegistry {
    using SafeCast for uint256;

    /// @dev The fields read on every job post share one slot; so does the time of a pending decrease, so
    /// that `terms` stays one SLOAD while none is due.
    struct Record {
        // slot 0 (248 bits)
        uint96 priceFloor;
        uint96 minCollateral; // in force, unless the decrease at `loweringAt` is due
        bool active;
        bool nonFiniteInputs;
        uint40 loweringAt; // when `loweredCollateral` takes effect; 0: no decrease scheduled
        // slot 1 (256 bits): read only to check the owner, and for the decrease once it is due
        address owner;
        uint96 loweredCollateral; // meaningful only while `loweringAt` is not 0
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
    uint256 public constant COLLATERAL_NOTICE = 1 days;

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
        r.minCollateral = spec.minCollateral;
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
        ModelSpec memory applied = spec;
        applied.minCollateral = _setCollateral(modelId, r, spec.minCollateral);
        _write(r, spec);
        emit ModelUpdated(modelId, applied);
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
        m = Model(r.modelHash, r.owner, r.active, _collateral(r), r.priceFloor, r.tolerance, r.uri, r.runtime, r.nonFiniteInputs);
    }

    /// @inheritdoc IModelRegistry
    function terms(uint256 modelId) external view returns (bool active, uint96 priceFloor, uint96 minCollateral) {
        Record storage r = _models[modelId];
        // Every field of slot 0 read before the branch, so that the optimizer loads the slot once (through
        // `_collateral` it loads it three times). A decrease is due from `loweringAt` on, as in `_collateral`.
        uint256 at = r.loweringAt;
        (active, priceFloor, minCollateral) = (r.active, r.priceFloor, r.minCollateral);
        if (at != 0 && block.timestamp >= at) minCollateral = r.loweredCollateral;
    }

    /// @inheritdoc IModelRegistry
    function pendingCollateral(uint256 modelId) external view returns (uint256 collateral, uint256 effectiveAt) {
        Record storage r = _models[modelId];
        uint256 at = r.loweringAt;
        if (at > block.timestamp) return (r.loweredCollateral, at);
    }

    /// @dev The collateral posts copy now: the scheduled decrease once its time has come.
    function _collateral(Record storage r) private view returns (uint96) {
        uint256 at = r.loweringAt;
        if (at != 0 && block.timestamp >= at) return r.loweredCollateral;
        return r.minCollateral;
    }

    /// @dev Applies `collateral` at once if it is at least the collateral in force, else schedules it.
    /// Returns the collateral in force after the update.
    function _setCollateral(uint256 modelId, Record storage r, uint96 collateral) private returns (uint96 inForce) {
        inForce = _collateral(r);
        uint256 at = r.loweringAt;
        bool pending = at > block.timestamp;
        if (collateral >= inForce) {
            // A raise (or the same value) protects posts at once. `loweredCollateral` is left stale: it is
            // read only while `loweringAt` is set, and clearing it would cost a write for nothing.
            r.minCollateral = collateral;
            r.loweringAt = 0;
            if (pending) emit CollateralLowering(modelId, 0, 0);
            return collateral;
        }
        // A due decrease is written for good before another is scheduled over it.
        r.minCollateral = inForce;
        // The decrease already pending keeps its time: the owner is changing the URI or price floor.
        if (pending && r.loweredCollateral == collateral) return inForce;
        at = block.timestamp + COLLATERAL_NOTICE;
        r.loweringAt = at.toUint40();
        r.loweredCollateral = collateral;
        emit CollateralLowering(modelId, collateral, at);
    }

    /// @dev Writes what `update` applies at once; the collateral goes through `_setCollateral`.
    function _write(Record storage r, ModelSpec calldata spec) private {
        r.priceFloor = spec.priceFloor;
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
