// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IModelRegistry
/// @notice Model specifications that jobs refer to by id: what to run, how to check it, what it costs.
interface IModelRegistry {
    /// @notice How verifiers compare two outputs of the model (docs/PROTOCOL.md section 7).
    /// Allclose: |a - b| <= absTol + relTol * |b| elementwise. Argmax: same top-1 along `axis`.
    /// Exact: byte-equal outputs (only for graphs that compute in integers).
    enum ToleranceKind {
        Allclose,
        Argmax,
        Exact
    }

    /// @notice A tolerance policy. Tolerances are fixed point with 12 decimals (1e12 = 1.0).
    struct Tolerance {
        ToleranceKind kind;
        int8 axis;
        uint64 absTolE12;
        uint64 relTolE12;
    }

    /// @notice Everything a model owner registers.
    /// @param modelHash sha256 of the .onnx file's bytes
    /// @param uri where the .onnx file can be fetched (https://, ipfs://, file name in a local store)
    /// @param runtime the inference runtime the outputs are pinned to, e.g. "onnxruntime-node@1.30.0"
    /// @param tolerance the comparison policy verifiers apply
    /// @param minCollateral stake a provider locks per claimed job
    /// @param priceFloor minimum fee per job
    /// @param nonFiniteInputs the owner's opt-in to NaN and Inf in float inputs (for models that handle
    /// them, e.g. with IsNaN); off, workers and verifiers refuse such inputs. It changes what is judged,
    /// so it is frozen like the tolerance.
    struct ModelSpec {
        bytes32 modelHash;
        string uri;
        string runtime;
        Tolerance tolerance;
        uint96 minCollateral;
        uint96 priceFloor;
        bool nonFiniteInputs;
    }

    /// @notice A registered model as returned by views.
    struct Model {
        bytes32 modelHash;
        address owner;
        bool active;
        uint96 minCollateral;
        uint96 priceFloor;
        Tolerance tolerance;
        string uri;
        string runtime;
        bool nonFiniteInputs;
    }

    event ModelRegistered(uint256 indexed modelId, address indexed owner, bytes32 indexed modelHash, ModelSpec spec);
    /// @notice A model's URI, price floor or collateral changed. `spec.minCollateral` is the collateral in force
    /// right after the update, never a lower one still under notice (that one is in `CollateralLowering`).
    event ModelUpdated(uint256 indexed modelId, ModelSpec spec);
    /// @notice A decrease of a model's collateral was scheduled: posts copy `collateral` from `effectiveAt` on
    /// (`COLLATERAL_NOTICE` after the update). `effectiveAt` 0: the pending decrease was cancelled by an update
    /// that kept or raised the collateral in force (`collateral` is then 0 too). An update that replaces a
    /// pending decrease with another emits the new one; one that keeps the same pending decrease emits nothing.
    event CollateralLowering(uint256 indexed modelId, uint256 collateral, uint256 effectiveAt);
    event ModelActiveSet(uint256 indexed modelId, bool active);
    event ModelOwnershipTransferred(uint256 indexed modelId, address indexed from, address indexed to);

    /// @notice Registers a model; the caller becomes its owner. Returns the new model id (from 1).
    function register(ModelSpec calldata spec) external returns (uint256 modelId);

    /// @notice How long a lower collateral waits before posts copy it: a dApp's post already sent cannot be
    /// front-run by a cut of the collateral that deters a made-up result, and dApps see the cut coming.
    /// @return the notice in seconds (1 day)
    function COLLATERAL_NOTICE() external view returns (uint256);

    /// @notice Replaces a model's URI, collateral and price floor (owner only). What its results are judged
    /// by cannot change: a new model file, tolerance, runtime or non-finite opt-in is a new model (register it), so that an
    /// owner can never turn an honest result already delivered into a wrong one. Jobs already posted keep
    /// the collateral they were posted with (the market snapshots it into each job).
    /// The URI, price floor and a collateral at or above the one in force apply at once (a raise cancels a
    /// pending decrease). A lower collateral is scheduled for `COLLATERAL_NOTICE` from now (`CollateralLowering`)
    /// and replaces any decrease pending, restarting the clock, unless it is the very decrease already pending,
    /// which keeps its time (so that changing the URI or price floor meanwhile leaves it as it is).
    /// @dev A model owner that is also a provider could otherwise lower the collateral in front of a dApp's
    /// pending post, claim the job and commit a made-up result at no risk (docs/PROTOCOL.md section 3).
    /// Raising the price floor at once only makes posts revert: it needs no notice.
    /// @param modelId the model
    /// @param spec the new spec; its hash, tolerance, runtime and non-finite opt-in must be the registered ones
    function update(uint256 modelId, ModelSpec calldata spec) external;

    /// @notice Turns a model on or off for new jobs (owner only).
    function setActive(uint256 modelId, bool active) external;

    /// @notice Hands a model to a new owner (owner only).
    function transferModel(uint256 modelId, address to) external;

    /// @notice A registered model: its owner, spec (hash, URI, runtime, tolerance, prices) and whether it is active.
    /// `minCollateral` is the collateral in force now (see `pendingCollateral` for a decrease under notice).
    /// @param modelId the model
    /// @return the model (zero owner: not registered)
    function model(uint256 modelId) external view returns (Model memory);

    /// @notice The fields the JobMarket needs, from one storage slot (two once a scheduled decrease is due).
    /// @param modelId the model
    /// @return active whether it accepts jobs
    /// @return priceFloor the lowest fee a job may pay
    /// @return minCollateral the collateral a provider locks per job, as in force now (a decrease under notice is not)
    function terms(uint256 modelId) external view returns (bool active, uint96 priceFloor, uint96 minCollateral);

    /// @notice A decrease of the model's collateral still under notice.
    /// @param modelId the model
    /// @return collateral the collateral posts will copy from `effectiveAt` on (0: none pending)
    /// @return effectiveAt when it takes effect (0: none pending, or the decrease is already in force)
    function pendingCollateral(uint256 modelId) external view returns (uint256 collateral, uint256 effectiveAt);

    /// @notice How many models were registered; ids run from 1 to this.
    /// @return the last model id
    function modelCount() external view returns (uint256);
}
