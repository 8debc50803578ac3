// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {Deposits} from "./base/Deposits.sol";
import {PullPayments} from "./base/PullPayments.sol";
import {
    BadJobSignature,
    BatchMarketAlreadySet,
    CallbackGasTooHigh,
    CallbackNeedsContract,
    CollateralBelowSigned,
    CommitmentMismatch,
    DeadlineNotPassed,
    DeadlinePassed,
    FeeBelowFloor,
    FeeTooLarge,
    InlineOutputRequired,
    InputHashMismatch,
    InputTooLarge,
    InputUriWithInlineInput,
    InsufficientGasForCallback,
    InvalidClaimBy,
    JobMismatch,
    JobNotFound,
    JobNotReserved,
    MissingInput,
    ModelIdTooLarge,
    ModelInactive,
    NotBatchMarket,
    NotPoster,
    NotJobProvider,
    NotTerms,
    NotVerification,
    NothingToWithdraw,
    OutputRootMismatch,
    OutputTooLarge,
    SeedNotReady,
    SeedOutOfReach,
    SignedJobForAnotherProvider,
    SignedJobUsed,
    VerificationAlreadySet,
    WrongStatus,
    ZeroAddress,
    ZeroAmount,
    ZeroCommitment,
    ZeroOutputRoot
} from "./errors/Errors.sol";
import {IDinferConsumer} from "./interfaces/IDinferConsumer.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IProtocolTerms} from "./interfaces/IProtocolTerms.sol";
import {IRandomness} from "./interfaces/IRandomness.sol";
import {IStaking} from "./interfaces/IStaking.sol";
import {IVerification} from "./interfaces/IVerification.sol";
import {Commitments} from "./libraries/Commitments.sol";
import {FeeMath} from "./libraries/FeeMath.sol";
import {OutputRoot} from "./libraries/OutputRoot.sol";
import {TokenPull} from "./libraries/TokenPull.sol";

/// @title JobMarket
/// @notice Escrowed inference jobs: post, claim, commit, reveal, finalize or expire, with pull payments.
/// @dev Storage is one slot per job: the hash of its whole state (`Job`). Each call passes the state
/// back, the market checks it against the hash, moves it forward and stores the new hash. A job's state
/// is twelve fields, three slots if stored plainly; storing only its hash makes every job write one new
/// slot instead of three, which is most of a job's gas. Everything else (input URI and hash, inline input
/// and output, output URI) is only read off-chain and lives in events.
/// A job records the terms version current when it is posted (ProtocolTerms), and every rule it is judged
/// by comes from it; the market keeps a copy of each version's market half, one slot, for its own steps.
/// Trust: the owner sets, once, the Verification contract, which may put revealed jobs under dispute, settle
/// them and pay from the audit pool; the terms contract hands new versions over.
/// `multicall(bytes[])` (OpenZeppelin Multicall) runs several of these calls in one transaction, each a
/// delegatecall to this contract: a provider groups its steps of many jobs and pays the 21,000 base cost once.
/// It opens no path a direct call lacks: `msg.sender` is the caller's in every inner call (so every access
/// check holds), nothing here is payable (no `msg.value` to count twice), each inner call takes the
/// reentrancy guard as it would alone, and one inner revert reverts them all with its own error.
contract JobMarket is EIP712, IJobMarket, Ownable2Step, Deposits, Multicall {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using TokenPull for IERC20;

    /// @inheritdoc IJobMarket
    /// @dev 2: blob ids and output roots on SHA-256 (docs/PROTOCOL.md section 5). Bump it with any change to a
    /// hashed format; daemons refuse a deployment whose version they do not speak.
    uint256 public constant PROTOCOL_VERSION = 2;
    /// @notice Largest inline input or output, in bytes.
    uint256 public constant MAX_INLINE_BYTES = 4096;
    /// @dev blockhash reaches this many blocks back: a reveal must come within it of its seed block.
    uint256 private constant BLOCKHASH_REACH = 256;
    /// @dev Gas kept back for the rest of finalize after a consumer callback returns.
    uint256 private constant CALLBACK_RESERVE = 10_000;
    uint256 private constant PPM = 1_000_000;
    /// @dev Set in the id of a job posted from a signed request (the rest of the id is the request's EIP-712
    /// digest), so it never meets a sequential id.
    uint256 private constant SIGNED_JOB_BIT = 1 << 255;
    bytes32 private constant SIGNED_JOB_TYPEHASH = keccak256(
        "SignedJob(uint256 modelId,uint256 fee,uint64 claimBy,bytes32 inputHash,string inputURI,bytes inlineInput,uint32 callbackGasLimit,bool inlineOutput,address poster,address provider,uint256 minCollateral,uint256 salt)"
    );
    /// @dev A cancelled signed request's slot: no job hashes to it, so nothing can act on it.
    bytes32 private constant CANCELLED = bytes32(uint256(1));
    /// @dev `abi.encode(job)` of the thirteen value-type fields of `Job`: thirteen words, which is also the
    /// struct's layout in calldata and in memory (see `_load`).
    uint256 private constant JOB_SIZE = 13 * 32;

    /// @dev Accrued protocol shares, written together at finalize: one slot.
    struct Accrued {
        uint128 protocolFees;
        uint128 auditPool;
    }

    /// @notice Holds the providers' collateral.
    IStaking public immutable staking;
    /// @notice The models jobs are posted for.
    IModelRegistry public immutable registry;
    /// @notice Seed source; zero means `blockhash` (an immutable, so sampling costs no storage read).
    IRandomness public immutable randomness;
    /// @inheritdoc IJobMarket
    IProtocolTerms public immutable terms;

    /// @dev Read and written by every post: one slot.
    struct Counters {
        uint64 jobCount;
        uint32 termsVersion;
    }

    /// @inheritdoc IJobMarket
    address public verification;
    Counters private _counters;
    Accrued private _accrued;
    /// @dev The market half of every terms version (a copy of the terms contract's).
    mapping(uint256 version => IProtocolTerms.MarketParams) private _marketTerms;

    mapping(uint256 jobId => bytes32) private _jobHashes;
    /// @inheritdoc IJobMarket
    address public batchMarket;

    modifier onlyTerms() {
        if (msg.sender != address(terms)) revert NotTerms(msg.sender);
        _;
    }

    modifier onlyBatchMarket() {
        if (msg.sender != batchMarket) revert NotBatchMarket(msg.sender);
        _;
    }

    modifier onlyVerification() {
        if (msg.sender != verification) revert NotVerification(msg.sender);
        _;
    }

    constructor(
        IERC20 token_,
        IStaking staking_,
        IModelRegistry registry_,
        IRandomness randomness_,
        IProtocolTerms terms_,
        address owner_
    ) EIP712("dinfer JobMarket", "1") Ownable(owner_) PullPayments(token_) {
        if (
            address(token_) == address(0) || address(staking_) == address(0) || address(registry_) == address(0)
                || address(terms_) == address(0)
        ) revert ZeroAddress();
        staking = staking_;
        registry = registry_;
        randomness = randomness_;
        terms = terms_;
        // The terms in force now; later versions are handed over by the terms contract (adoptTerms).
        uint32 version = terms_.termsVersion();
        (IProtocolTerms.MarketParams memory params_,) = terms_.termsOf(version);
        _adopt(version, params_);
    }

    // ---------------------------------------------------------------- dApps

    /// @inheritdoc IJobMarket
    function postJob(JobRequest calldata request) external nonReentrant returns (uint256 jobId) {
        return _post(request);
    }

    /// @inheritdoc IJobMarket
    function postJobFromDeposit(JobRequest calldata request) external nonReentrant returns (uint256 jobId) {
        _debitDeposit(msg.sender, request.fee);
        return _postNext(request);
    }

    /// @inheritdoc IJobMarket
    function postJobWithPermit(JobRequest calldata request, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        returns (uint256 jobId)
    {
        // A front-runner may spend the permit first; the allowance then exists and the post goes on.
        try IERC20Permit(address(token)).permit(msg.sender, address(this), request.fee, permitDeadline, v, r, s) {}
            catch {}
        return _post(request);
    }

    /// @inheritdoc IJobMarket
    function postSignedAndCommit(SignedJob calldata signed, bytes calldata signature, bytes32 commitment)
        external
        nonReentrant
        returns (uint256 jobId)
    {
        if (signed.provider != address(0) && signed.provider != msg.sender) {
            revert SignedJobForAnotherProvider(signed.provider, msg.sender);
        }
        bytes32 digest = signedJobDigest(signed);
        jobId = _signedJobId(digest);
        if (ECDSA.recover(digest, signature) != signed.poster) revert BadJobSignature(signed.poster);
        _debitDeposit(signed.poster, signed.request.fee);
        Job memory j = _postJob(signed.request, signed.poster, jobId);
        // The collateral is read when the provider posts: never less than what the poster signed for.
        if (j.collateral < signed.minCollateral) revert CollateralBelowSigned(j.collateral, signed.minCollateral);
        _commit(jobId, j, commitment);
        staking.lock(msg.sender, j.collateral);
    }

    /// @inheritdoc IJobMarket
    function cancelSignedJob(SignedJob calldata signed) external returns (uint256 jobId) {
        if (signed.poster != msg.sender) revert NotPoster(msg.sender);
        jobId = _signedJobId(signedJobDigest(signed));
        _jobHashes[jobId] = CANCELLED;
        emit SignedJobCancelled(jobId, msg.sender);
    }

    /// @inheritdoc IJobMarket
    function signedJobDigest(SignedJob calldata signed) public view returns (bytes32) {
        JobRequest calldata r = signed.request;
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    SIGNED_JOB_TYPEHASH,
                    r.modelId,
                    r.fee,
                    r.claimBy,
                    r.inputHash,
                    keccak256(bytes(r.inputURI)),
                    keccak256(r.inlineInput),
                    r.callbackGasLimit,
                    r.inlineOutput,
                    signed.poster,
                    signed.provider,
                    signed.minCollateral,
                    signed.salt
                )
            )
        );
    }

    // ---------------------------------------------------------------- providers

    /// @inheritdoc IJobMarket
    function claim(uint256 jobId, Job calldata job) external {
        Job memory j = _load(jobId, job, JobStatus.Posted);
        _requireBeforeDeadline(jobId, j.deadline);

        j.status = JobStatus.Claimed;
        j.provider = msg.sender;
        j.deadline = uint32(block.timestamp + _marketTerms[j.terms].commitTimeout);
        _store(jobId, j);
        emit JobClaimed(jobId, msg.sender, j.deadline);

        // Reverts unless the caller is a staked provider with enough unlocked stake.
        staking.lock(msg.sender, j.collateral);
    }

    /// @inheritdoc IJobMarket
    function commit(uint256 jobId, Job calldata job, bytes32 commitment) external {
        Job memory j = _load(jobId, job, JobStatus.Claimed);
        _requireProvider(jobId, j.provider);
        _requireBeforeDeadline(jobId, j.deadline);
        _commit(jobId, j, commitment);
    }

    /// @inheritdoc IJobMarket
    /// @dev Each call is a delegatecall, as in `multicall`: a reverted one undoes only its own frame (transient
    /// storage, the reentrancy guard's included). Nothing here is payable and the market reads no ERC-2771
    /// context, so no context suffix is passed on. The caller pays for every call, skipped ones included.
    function tryMulticall(bytes[] calldata data) external returns (bool[] memory ok) {
        ok = new bool[](data.length);
        for (uint256 i; i < data.length; ++i) {
            (bool success, bytes memory reason) = address(this).delegatecall(data[i]);
            if (success) ok[i] = true;
            else emit CallSkipped(i, reason);
        }
    }

    /// @inheritdoc IJobMarket
    function claimAndCommit(uint256 jobId, Job calldata job, bytes32 commitment) external {
        Job memory j = _load(jobId, job, JobStatus.Posted);
        _requireBeforeDeadline(jobId, j.deadline);
        _commit(jobId, j, commitment);
        staking.lock(msg.sender, j.collateral);
    }

    /// @inheritdoc IJobMarket
    function reveal(
        uint256 jobId,
        Job calldata job,
        bytes32 outputRoot,
        bytes32 salt,
        string calldata outputURI,
        bytes calldata inlineOutput
    ) external {
        Job memory next = _load(jobId, job, JobStatus.Committed);
        _requireProvider(jobId, next.provider);
        _requireBeforeDeadline(jobId, next.deadline);
        IProtocolTerms.MarketParams memory p = _marketTerms[next.terms];
        // The sampling seed is that of a block after the commit: revealing earlier would let a provider
        // learn whether it is audited before its result is fixed on-chain. Once that seed is out of reach
        // the reveal is closed (a provider must never choose among seeds by choosing when to reveal): the
        // job can only expire, as sampled.
        uint256 seedBlock = uint256(next.commitBlock) + p.seedDelay;
        if (block.number <= seedBlock) revert SeedNotReady(jobId, seedBlock, block.number);
        if (block.number > seedBlock + BLOCKHASH_REACH) {
            revert SeedOutOfReach(jobId, seedBlock, seedBlock + BLOCKHASH_REACH);
        }
        bytes32 seed = _seed(seedBlock);
        // Within reach, a zero seed is randomness not delivered yet.
        if (seed == bytes32(0)) revert SeedNotReady(jobId, seedBlock, block.number);
        if (outputRoot == bytes32(0)) revert ZeroOutputRoot();
        if (inlineOutput.length != 0) _requireInlineRoot(outputRoot, inlineOutput);
        else if (next.inlineOutput) revert InlineOutputRequired(jobId);
        bytes32 expected = Commitments.hash(block.chainid, address(this), jobId, msg.sender, outputRoot, salt);
        if (expected != next.result) revert CommitmentMismatch(jobId);
        bool sampled = _isSampled(seed, jobId, p.samplingPpm);

        next.status = JobStatus.Revealed;
        next.deadline = uint32(block.timestamp + p.challengeWindow);
        next.result = outputRoot;
        next.inlineOutput = inlineOutput.length != 0;
        next.sampled = sampled;
        _store(jobId, next);
        emit ResultRevealed(jobId, msg.sender, outputRoot, next.deadline, outputURI, inlineOutput, sampled);
        // Interaction last: a sampled job waits for its auditor's blind commitment (the hook reverts the
        // whole reveal to hold it), and goes to a committee when its auditor missed the audit. The hook
        // gets the state as committed (`job`, unchanged in calldata).
        if (sampled && IVerification(verification).onSampledReveal(jobId, job, seed)) {
            _storeStatus(jobId, next, JobStatus.Disputed);
            emit JobDisputed(jobId);
        }
    }

    // ---------------------------------------------------------------- keepers

    /// @inheritdoc IJobMarket
    function finalize(uint256 jobId, Job calldata job) external nonReentrant {
        _finalize(jobId, job, msg.data[0:0]);
    }

    /// @inheritdoc IJobMarket
    function finalizeWithOutput(uint256 jobId, Job calldata job, bytes calldata inlineOutput) external nonReentrant {
        _finalize(jobId, job, inlineOutput);
    }

    /// @inheritdoc IJobMarket
    function expire(uint256 jobId, Job calldata job) external nonReentrant {
        Job memory j = _load(jobId, job, job.status);
        JobStatus from = j.status;
        if (from > JobStatus.Committed) revert WrongStatus(jobId, from);
        IProtocolTerms.MarketParams memory p = _marketTerms[j.terms];
        uint256 seedBlock = uint256(j.commitBlock) + p.seedDelay;
        // A committed job whose seed went out of reach can never be revealed: it may expire at once.
        bool unrevealable = from == JobStatus.Committed && block.number > seedBlock + BLOCKHASH_REACH;
        if (block.timestamp <= j.deadline && !unrevealable) {
            revert DeadlineNotPassed(jobId, j.deadline, block.timestamp);
        }

        // 1. Effects: the job ends and the poster gets the fee back.
        _storeStatus(jobId, j, JobStatus.Expired);
        _credit(j.poster, j.fee);
        uint256 penalty;
        bool sampled;
        // Whether the withheld result was to be audited (a seed out of reach counts as sampled); before its
        // seed block nobody could know, and the job counts as not sampled.
        if (from == JobStatus.Committed && block.number > seedBlock) (, sampled) = _sampling(jobId, seedBlock, p.samplingPpm);
        if (sampled) {
            // 2a. A withheld reveal of a sampled job costs what a fault costs: the whole collateral.
            penalty = _slashWithheld(jobId, j, p);
        } else if (from != JobStatus.Posted) {
            // 2b. A provider claimed and went silent before it could know anything: release its collateral
            // less a penalty for the poster.
            uint256 wanted = FeeMath.share(j.collateral, p.expiryPenaltyBps);
            penalty = staking.slash(j.provider, j.collateral, wanted, address(this));
            _credit(j.poster, penalty);
        }
        emit JobExpired(jobId, from, j.fee, penalty, sampled);
    }

    /// @inheritdoc IJobMarket
    function fundAuditPool(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _accrued.auditPool += amount.toUint128();
        emit AuditPoolFunded(msg.sender, amount);
        // Interaction last; the balance check rejects fee-on-transfer tokens.
        token.pullExactly(msg.sender, amount);
    }

    // ---------------------------------------------------------------- verification hooks

    /// @inheritdoc IJobMarket
    function openDispute(uint256 jobId, Job calldata job) external onlyVerification {
        Job memory j = _load(jobId, job, JobStatus.Revealed);
        _requireBeforeDeadline(jobId, j.deadline);
        _storeStatus(jobId, j, JobStatus.Disputed);
        emit JobDisputed(jobId);
    }

    /// @inheritdoc IJobMarket
    function settleDispute(
        uint256 jobId,
        Job calldata job,
        bool providerFaulted,
        address slashRecipient,
        bytes calldata inlineOutput
    ) external onlyVerification nonReentrant returns (uint256 slashed) {
        Job memory j = _load(jobId, job, JobStatus.Disputed);
        if (!providerFaulted) {
            emit DisputeSettled(jobId, false, 0);
            _pay(jobId, j);
            // An upheld result is final like any other: a challenge must not cost the consumer its callback.
            if (j.callbackGasLimit != 0) _deliver(jobId, j, inlineOutput);
            return 0;
        }
        _storeStatus(jobId, j, JobStatus.Slashed);
        _credit(j.poster, j.fee);
        slashed = staking.slash(j.provider, j.collateral, j.collateral, slashRecipient);
        emit DisputeSettled(jobId, true, slashed);
    }

    /// @inheritdoc IJobMarket
    function payAuditReward(address to, uint256 amount) external onlyVerification returns (uint256 paid) {
        uint256 available = _accrued.auditPool;
        paid = amount < available ? amount : available;
        if (paid == 0) return 0;
        _accrued.auditPool = uint128(available - paid);
        _credit(to, paid);
        emit AuditRewardPaid(to, paid);
    }

    /// @inheritdoc IJobMarket
    function announceOutput(uint256 jobId, Job calldata job, string calldata outputURI) external {
        Job memory j = _load(jobId, job, job.status == JobStatus.Disputed ? JobStatus.Disputed : JobStatus.Revealed);
        if (msg.sender != j.provider) revert NotJobProvider(jobId, msg.sender);
        emit OutputAnnounced(jobId, msg.sender, outputURI);
    }

    // ---------------------------------------------------------------- batch hooks

    /// @inheritdoc IJobMarket
    function reserveJobIds(uint256 count) external onlyBatchMarket returns (uint256 firstJobId, uint32 version) {
        Counters memory counters = _counters;
        firstJobId = counters.jobCount + 1;
        _counters = Counters((counters.jobCount + count).toUint64(), counters.termsVersion);
        version = counters.termsVersion;
    }

    /// @inheritdoc IJobMarket
    function importJob(uint256 jobId, Job calldata job) external onlyBatchMarket {
        // Ids at or below jobCount without a state are exactly the ones reserved for batches and not yet
        // imported: every other job stored its state when posted.
        if (jobId == 0 || jobId > _counters.jobCount || _jobHashes[jobId] != bytes32(0)) revert JobNotReserved(jobId);
        // The collateral stays locked in Staking: the batch's lock becomes this job's (no unlock, no lock).
        _jobHashes[jobId] = keccak256(abi.encode(job));
        emit JobImported(jobId, job);
    }

    // ---------------------------------------------------------------- governance

    /// @inheritdoc IJobMarket
    function withdrawProtocolFees(address to) external onlyOwner nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        amount = _accrued.protocolFees;
        if (amount == 0) revert NothingToWithdraw(to);
        _accrued.protocolFees = 0;
        emit ProtocolFeesWithdrawn(to, amount);
        token.safeTransfer(to, amount);
    }

    /// @inheritdoc IJobMarket
    function adoptTerms(uint32 version, IProtocolTerms.MarketParams calldata params_) external onlyTerms {
        _adopt(version, params_);
    }

    /// @inheritdoc IJobMarket
    function setVerification(address verification_) external onlyOwner {
        if (verification != address(0)) revert VerificationAlreadySet();
        if (verification_ == address(0)) revert ZeroAddress();
        verification = verification_;
        emit VerificationSet(verification_);
    }

    /// @inheritdoc IJobMarket
    function setBatchMarket(address batchMarket_) external onlyOwner {
        if (batchMarket != address(0)) revert BatchMarketAlreadySet();
        if (batchMarket_ == address(0)) revert ZeroAddress();
        batchMarket = batchMarket_;
        emit BatchMarketSet(batchMarket_);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IJobMarket
    function samplingOf(uint256 jobId, uint256 commitBlock, uint256 version)
        external
        view
        returns (bytes32 seed, bool sampled)
    {
        IProtocolTerms.MarketParams memory p = _marketTerms[version];
        uint256 seedBlock = commitBlock + p.seedDelay;
        if (block.number <= seedBlock) return (bytes32(0), false);
        return _sampling(jobId, seedBlock, p.samplingPpm);
    }

    /// @inheritdoc IJobMarket
    function jobHash(uint256 jobId) external view returns (bytes32) {
        return _jobHashes[jobId];
    }

    /// @inheritdoc IJobMarket
    function protocolFees() external view returns (uint256) {
        return _accrued.protocolFees;
    }

    /// @inheritdoc IJobMarket
    function auditPool() external view returns (uint256) {
        return _accrued.auditPool;
    }

    /// @inheritdoc IJobMarket
    function jobCount() external view returns (uint256) {
        return _counters.jobCount;
    }

    /// @inheritdoc IJobMarket
    function params() external view returns (IProtocolTerms.MarketParams memory) {
        return _marketTerms[_counters.termsVersion];
    }

    /// @inheritdoc IJobMarket
    function termsVersion() external view returns (uint32) {
        return _counters.termsVersion;
    }

    // ---------------------------------------------------------------- internals

    /// @dev Posts with the fee pulled from the caller.
    function _post(JobRequest calldata req) private returns (uint256 jobId) {
        jobId = _postNext(req);
        // Interaction last; the balance check rejects fee-on-transfer tokens.
        token.pullExactly(msg.sender, req.fee);
    }

    /// @dev Posts under the next sequential id.
    function _postNext(JobRequest calldata req) private returns (uint256 jobId) {
        Counters memory counters = _counters;
        jobId = counters.jobCount + 1;
        _counters = Counters(uint64(jobId), counters.termsVersion);
        _postJob(req, msg.sender, jobId);
    }

    /// @dev Checks and stores `poster`'s job under `jobId`; the caller makes sure the fee is in escrow.
    function _postJob(JobRequest calldata req, address poster, uint256 jobId) private returns (Job memory job) {
        if (req.modelId > type(uint32).max) revert ModelIdTooLarge(req.modelId);
        (bool active, uint96 priceFloor, uint96 collateral) = registry.terms(req.modelId);
        if (!active) revert ModelInactive(req.modelId);
        if (req.fee < priceFloor) revert FeeBelowFloor(req.fee, priceFloor);
        if (req.fee > type(uint96).max) revert FeeTooLarge(req.fee);
        uint32 version = _counters.termsVersion;
        IProtocolTerms.MarketParams memory p = _marketTerms[version];
        uint256 latest = block.timestamp + p.maxClaimDelay;
        if (req.claimBy <= block.timestamp || req.claimBy > latest) {
            revert InvalidClaimBy(req.claimBy, block.timestamp + 1, latest);
        }
        bytes32 inputHash = _inputHash(req);
        if (req.callbackGasLimit != 0) {
            if (req.callbackGasLimit > p.callbackGasLimit) revert CallbackGasTooHigh(req.callbackGasLimit, p.callbackGasLimit);
            if (poster.code.length == 0) revert CallbackNeedsContract(poster);
        }

        job = Job({
            poster: poster,
            modelId: uint32(req.modelId),
            terms: version,
            fee: uint96(req.fee),
            collateral: collateral,
            callbackGasLimit: req.callbackGasLimit,
            status: JobStatus.Posted,
            deadline: uint32(req.claimBy),
            provider: address(0),
            commitBlock: 0,
            result: bytes32(0),
            inlineOutput: req.inlineOutput,
            sampled: false
        });
        _store(jobId, job);
        _emitPosted(jobId, req, poster, collateral, inputHash, version);
    }

    function _emitPosted(
        uint256 jobId,
        JobRequest calldata req,
        address poster,
        uint256 collateral,
        bytes32 inputHash,
        uint32 version
    ) private {
        // The request's fields first, then the other parameters: the order that keeps the stack shallow.
        emit JobPosted(
            jobId,
            req.modelId,
            poster,
            req.inputURI,
            req.inlineInput,
            req.fee,
            req.claimBy,
            req.callbackGasLimit,
            req.inlineOutput,
            collateral,
            inputHash,
            version
        );
    }

    /// @dev Moves a claimed (or, from claimAndCommit, posted) job to Committed for the caller. The commit
    /// block fixes the sampling seed block and the verifier set the auditor is drawn from.
    function _commit(uint256 jobId, Job memory j, bytes32 commitment) private {
        if (commitment == bytes32(0)) revert ZeroCommitment();
        j.status = JobStatus.Committed;
        j.provider = msg.sender;
        j.deadline = uint32(block.timestamp + _marketTerms[j.terms].revealTimeout);
        j.commitBlock = uint64(block.number);
        j.result = commitment;
        _store(jobId, j);
        emit ResultCommitted(jobId, msg.sender, commitment, j.deadline);
    }

    /// @dev The seed of block `seedBlock`: the randomness source's, else its hash (zero when not available).
    function _seed(uint256 seedBlock) private view returns (bytes32) {
        IRandomness source = randomness;
        return address(source) == address(0) ? blockhash(seedBlock) : source.seedOf(seedBlock);
    }

    /// @dev The seed of a mined `seedBlock` and whether it samples `jobId`. Out of reach the seed is zero and,
    /// while sampling is on, the job counts as sampled: waiting never helps a provider. Within reach a zero seed
    /// is randomness the source has not delivered yet (a delay the provider cannot cause, during which `reveal`
    /// refuses it): nobody knows the draw, and the job counts as not sampled, as before its seed block.
    function _sampling(uint256 jobId, uint256 seedBlock, uint256 samplingPpm)
        private
        view
        returns (bytes32 seed, bool sampled)
    {
        if (block.number > seedBlock + BLOCKHASH_REACH) return (bytes32(0), samplingPpm != 0);
        seed = _seed(seedBlock);
        sampled = seed != bytes32(0) && _isSampled(seed, jobId, samplingPpm);
    }

    /// @dev Whether a (non-zero) seed samples `jobId`: `uint256(keccak256(abi.encode(seed, jobId))) % 1e6 < samplingPpm`.
    function _isSampled(bytes32 seed, uint256 jobId, uint256 samplingPpm) private pure returns (bool) {
        return uint256(keccak256(abi.encode(seed, jobId))) % PPM < samplingPpm;
    }

    /// @dev A withheld reveal of a sampled job: the provider's whole collateral is slashed to the market and
    /// split: the poster the expiry penalty's share (beside its refund), the auditor that committed blind the
    /// finder's share (it did the work), the audit pool the rest. Returns what was slashed.
    function _slashWithheld(uint256 jobId, Job memory job, IProtocolTerms.MarketParams memory p)
        private
        returns (uint256 slashed)
    {
        slashed = staking.slash(job.provider, job.collateral, job.collateral, address(this));
        uint256 toPoster = FeeMath.share(slashed, p.expiryPenaltyBps);
        // The auditor that committed blind and is still waiting for the reveal did the work: it gets the
        // finder's share.
        IVerification.Audit memory audit = IVerification(verification).audit(jobId);
        address auditor = audit.state == IVerification.AuditState.Committed ? audit.auditor : address(0);
        uint256 toAuditor =
            auditor == address(0) ? 0 : FeeMath.share(slashed, terms.verificationParamsOf(job.terms).challengerRewardBps);
        // expiryPenaltyBps + challengerRewardBps may exceed 100%: the poster's share comes first.
        if (toAuditor > slashed - toPoster) toAuditor = slashed - toPoster;
        _credit(job.poster, toPoster);
        _credit(auditor, toAuditor);
        _accrued.auditPool += (slashed - toPoster - toAuditor).toUint128();
    }

    function _inputHash(JobRequest calldata req) private pure returns (bytes32 inputHash) {
        uint256 inlineLength = req.inlineInput.length;
        if (inlineLength == 0) {
            if (req.inputHash == bytes32(0)) revert MissingInput();
            return req.inputHash;
        }
        if (inlineLength > MAX_INLINE_BYTES) revert InputTooLarge(inlineLength, MAX_INLINE_BYTES);
        if (bytes(req.inputURI).length != 0) revert InputUriWithInlineInput();
        inputHash = sha256(req.inlineInput);
        if (req.inputHash != bytes32(0) && req.inputHash != inputHash) revert InputHashMismatch(req.inputHash, inputHash);
    }

    function _finalize(uint256 jobId, Job calldata job, bytes calldata inlineOutput) private {
        Job memory j = _load(jobId, job, JobStatus.Revealed);
        if (block.timestamp <= j.deadline) revert DeadlineNotPassed(jobId, j.deadline, block.timestamp);
        // A sampled job is paid on its audit's word: the hook pays an auditor whose Agree stands, or sends
        // the job to a committee when its auditor committed and never revealed. Verification is trusted;
        // this is the one call before the effects, and finalize is non-reentrant.
        if (j.sampled && IVerification(verification).onSampledFinalize(jobId, job)) {
            _storeStatus(jobId, j, JobStatus.Disputed);
            emit JobDisputed(jobId);
            return;
        }
        _pay(jobId, j);
        if (j.callbackGasLimit != 0) _deliver(jobId, j, inlineOutput);
    }

    /// @dev Pays a job whose result stands: provider credit, protocol shares, collateral back.
    function _pay(uint256 jobId, Job memory job) private {
        _storeStatus(jobId, job, JobStatus.Finalized);
        IProtocolTerms.MarketParams storage p = _marketTerms[job.terms];
        (uint256 payout, uint256 protocolFee, uint256 auditLevy) =
            FeeMath.splitFee(job.fee, p.protocolFeeBps, p.auditLevyBps);
        credits[job.provider] += payout;
        Accrued memory a = _accrued;
        _accrued = Accrued(a.protocolFees + protocolFee.toUint128(), a.auditPool + auditLevy.toUint128());
        emit JobFinalized(jobId, job.provider, payout);
        staking.unlock(job.provider, job.collateral);
    }

    /// @dev Calls the consumer with a hard gas cap. A failure is recorded, never propagated. The caller
    /// must forward enough gas that the consumer really gets its limit (EIP-150 keeps 1/64 back), so a
    /// keeper cannot starve the callback on purpose.
    function _deliver(uint256 jobId, Job memory job, bytes calldata inlineOutput) private {
        if (job.inlineOutput) {
            if (inlineOutput.length == 0) revert InlineOutputRequired(jobId);
            _requireInlineRoot(job.result, inlineOutput);
        } else {
            inlineOutput = msg.data[0:0];
        }
        uint256 gasLimit = job.callbackGasLimit;
        uint256 required = gasLimit + gasLimit / 63 + CALLBACK_RESERVE;
        if (gasleft() < required) revert InsufficientGasForCallback(required, gasleft());
        bytes memory data = abi.encodeCall(IDinferConsumer.onJobResult, (jobId, job.result, inlineOutput));
        address consumer = job.poster;
        bool ok;
        assembly ("memory-safe") {
            // No return data is copied: a consumer cannot make finalize pay for a huge revert reason.
            ok := call(gasLimit, consumer, 0, add(data, 0x20), mload(data), 0, 0)
        }
        if (!ok) emit CallbackFailed(jobId, consumer);
    }

    function _requireInlineRoot(bytes32 outputRoot, bytes calldata inlineOutput) private pure {
        if (inlineOutput.length > MAX_INLINE_BYTES) revert OutputTooLarge(inlineOutput.length, MAX_INLINE_BYTES);
        bytes32 computed = OutputRoot.leaf(0, inlineOutput);
        if (computed != outputRoot) revert OutputRootMismatch(outputRoot, computed);
    }

    /// @dev A signed request's job id; reverts once the request was posted or cancelled (its slot is the guard).
    function _signedJobId(bytes32 digest) private view returns (uint256 jobId) {
        jobId = uint256(digest) | SIGNED_JOB_BIT;
        if (_jobHashes[jobId] != bytes32(0)) revert SignedJobUsed(jobId);
    }

    function _store(uint256 jobId, Job memory job) private {
        _jobHashes[jobId] = _hash(job);
    }

    function _storeStatus(uint256 jobId, Job memory job, JobStatus status) private {
        job.status = status;
        _store(jobId, job);
    }

    /// @dev `keccak256(abi.encode(job))`. A memory struct of value types is its fields one word each, in
    /// order and cleaned: the same bytes as its ABI encoding, hashed without re-encoding them.
    function _hash(Job memory job) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            h := keccak256(job, JOB_SIZE)
        }
    }

    /// @dev The one check every call makes: the caller's `job` is the stored state, in `expected` status.
    /// Returns it in memory for the step to move forward. The calldata words are copied as they are, not
    /// decoded field by field (the cost of a job step is mostly this): a state whose bytes hash to the stored
    /// hash is the clean encoding the market stored, so its fields need no further validation.
    function _load(uint256 jobId, Job calldata job, JobStatus expected) private view returns (Job memory j) {
        assembly ("memory-safe") {
            j := mload(0x40)
            calldatacopy(j, job, JOB_SIZE)
            mstore(0x40, add(j, JOB_SIZE))
        }
        bytes32 stored = _jobHashes[jobId];
        if (stored == bytes32(0)) revert JobNotFound(jobId);
        if (_hash(j) != stored) revert JobMismatch(jobId);
        if (j.status != expected) revert WrongStatus(jobId, j.status);
    }

    function _requireProvider(uint256 jobId, address provider) private view {
        if (msg.sender != provider) revert NotJobProvider(jobId, msg.sender);
    }

    function _requireBeforeDeadline(uint256 jobId, uint256 deadline) private view {
        if (block.timestamp > deadline) revert DeadlinePassed(jobId, deadline, block.timestamp);
    }

    function _adopt(uint32 version, IProtocolTerms.MarketParams memory params_) private {
        _marketTerms[version] = params_;
        _counters.termsVersion = version;
        emit TermsAdopted(version);
    }
}
