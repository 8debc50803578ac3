// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IDinferConsumer} from "./interfaces/IDinferConsumer.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IRandomness} from "./interfaces/IRandomness.sol";
import {IStaking} from "./interfaces/IStaking.sol";
import {IVerification} from "./interfaces/IVerification.sol";
import {Commitments} from "./libraries/Commitments.sol";
import {FeeMath} from "./libraries/FeeMath.sol";
import {OutputRoot} from "./libraries/OutputRoot.sol";

/// @title JobMarket
/// @notice Escrowed inference jobs: post, claim, commit, reveal, finalize or expire, with pull payments.
/// @dev Storage is one slot per job: the hash of its whole state (`Job`). Each call passes the state
/// back, the market checks it against the hash, moves it forward and stores the new hash. A job's state
/// is twelve fields, three slots if stored plainly; storing only its hash makes every job write one new
/// slot instead of three, which is most of a job's gas. Everything else (input URI and hash, inline input
/// and output, output URI) is only read off-chain and lives in events.
/// Trust: the owner sets parameters (two-step ownership) and, once, the Verification contract, which may
/// put revealed jobs under dispute and settle them.
contract JobMarket is IJobMarket, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    uint256 public constant MAX_INLINE_BYTES = 4096;
    /// @dev Gas kept back for the rest of finalize after a consumer callback returns.
    uint256 private constant CALLBACK_RESERVE = 10_000;
    uint256 private constant PPM = 1_000_000;

    /// @dev Accrued protocol shares, written together at finalize: one slot.
    struct Accrued {
        uint128 protocolFees;
        uint128 auditPool;
    }

    IERC20 public immutable token;
    IStaking public immutable staking;
    IModelRegistry public immutable registry;
    /// @notice Seed source; zero means `blockhash` (an immutable, so sampling costs no storage read).
    IRandomness public immutable randomness;

    MarketParams private _params;
    address public verification;
    uint256 public jobCount;
    Accrued private _accrued;

    mapping(uint256 jobId => bytes32) private _jobHashes;
    mapping(address account => uint256) public credits;

    modifier onlyVerification() {
        if (msg.sender != verification) revert NotVerification(msg.sender);
        _;
    }

    constructor(
        IERC20 token_,
        IStaking staking_,
        IModelRegistry registry_,
        IRandomness randomness_,
        address owner_,
        MarketParams memory params_
    ) Ownable(owner_) {
        if (address(token_) == address(0) || address(staking_) == address(0) || address(registry_) == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        staking = staking_;
        registry = registry_;
        randomness = randomness_;
        _setParams(params_);
    }

    // ---------------------------------------------------------------- dApps

    /// @inheritdoc IJobMarket
    function postJob(JobRequest calldata request) external nonReentrant returns (uint256 jobId) {
        return _post(request);
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

    // ---------------------------------------------------------------- providers

    /// @inheritdoc IJobMarket
    function claim(uint256 jobId, Job calldata job) external {
        _requireJob(jobId, job, JobStatus.Posted);
        _requireBeforeDeadline(jobId, job.deadline);

        Job memory next = job;
        next.status = JobStatus.Claimed;
        next.provider = msg.sender;
        next.deadline = uint32(block.timestamp + _params.commitTimeout);
        _store(jobId, next);
        emit JobClaimed(jobId, msg.sender, next.deadline);

        // Reverts unless the caller is a staked provider with enough unlocked stake.
        staking.lock(msg.sender, job.collateral);
    }

    /// @inheritdoc IJobMarket
    function commit(uint256 jobId, Job calldata job, bytes32 commitment) external {
        _requireJob(jobId, job, JobStatus.Claimed);
        _requireProvider(jobId, job.provider);
        _requireBeforeDeadline(jobId, job.deadline);
        _commit(jobId, job, commitment);
    }

    /// @inheritdoc IJobMarket
    function claimAndCommit(uint256 jobId, Job calldata job, bytes32 commitment) external {
        _requireJob(jobId, job, JobStatus.Posted);
        _requireBeforeDeadline(jobId, job.deadline);
        _commit(jobId, job, commitment);
        staking.lock(msg.sender, job.collateral);
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
        _requireJob(jobId, job, JobStatus.Committed);
        _requireProvider(jobId, job.provider);
        _requireBeforeDeadline(jobId, job.deadline);
        MarketParams memory p = _params;
        // The sampling seed is the hash of a block after the commit: revealing earlier would let a
        // provider learn whether it is audited before its result is fixed on-chain.
        uint256 seedBlock = uint256(job.commitBlock) + p.seedDelay;
        if (block.number <= seedBlock) revert SeedNotReady(jobId, seedBlock, block.number);
        if (outputRoot == bytes32(0)) revert ZeroOutputRoot();
        if (inlineOutput.length != 0) _requireInlineRoot(outputRoot, inlineOutput);
        bytes32 expected = Commitments.hash(block.chainid, address(this), jobId, msg.sender, outputRoot, salt);
        if (expected != job.result) revert CommitmentMismatch(jobId);
        (bytes32 seed, bool sampled) = _sampling(jobId, seedBlock, p.samplingPpm);

        Job memory next = job;
        next.status = JobStatus.Revealed;
        next.deadline = uint32(block.timestamp + p.challengeWindow);
        next.result = outputRoot;
        next.inlineOutput = inlineOutput.length != 0;
        next.sampled = sampled;
        _store(jobId, next);
        emit ResultRevealed(jobId, msg.sender, outputRoot, next.deadline, outputURI, inlineOutput, sampled);
        // Interaction last: a sampled job waits for its auditor's blind commitment (or the auditor's
        // deadline); the hook reverts the whole reveal to hold it. It gets the state as committed.
        if (sampled) IVerification(verification).onSampledReveal(jobId, job, seed);
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
        _requireJob(jobId, job, job.status);
        JobStatus from = job.status;
        if (from > JobStatus.Committed) revert WrongStatus(jobId, from);
        if (block.timestamp <= job.deadline) revert DeadlineNotPassed(jobId, job.deadline, block.timestamp);

        // 1. Effects: the job ends and the poster gets the fee back.
        _storeStatus(jobId, job, JobStatus.Expired);
        _credit(job.poster, job.fee);
        uint256 penalty;
        if (from != JobStatus.Posted) {
            // 2. A provider claimed and went silent: release its collateral less a penalty for the poster.
            uint256 wanted = FeeMath.share(job.collateral, _params.expiryPenaltyBps);
            penalty = staking.slash(job.provider, job.collateral, wanted, address(this));
            _credit(job.poster, penalty);
        }
        emit JobExpired(jobId, from, job.fee, penalty);
    }

    /// @inheritdoc IJobMarket
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        credits[msg.sender] = 0;
        emit Withdrawal(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- verification hooks

    /// @inheritdoc IJobMarket
    function openDispute(uint256 jobId, Job calldata job) external onlyVerification {
        _requireJob(jobId, job, JobStatus.Revealed);
        _requireBeforeDeadline(jobId, job.deadline);
        _storeStatus(jobId, job, JobStatus.Disputed);
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
        _requireJob(jobId, job, JobStatus.Disputed);
        if (!providerFaulted) {
            emit DisputeSettled(jobId, false, 0);
            _pay(jobId, job);
            // An upheld result is final like any other: a challenge must not cost the consumer its callback.
            if (job.callbackGasLimit != 0) _deliver(jobId, job, inlineOutput);
            return 0;
        }
        _storeStatus(jobId, job, JobStatus.Slashed);
        _credit(job.poster, job.fee);
        slashed = staking.slash(job.provider, job.collateral, job.collateral, slashRecipient);
        emit DisputeSettled(jobId, true, slashed);
    }

    /// @inheritdoc IJobMarket
    function payAuditReward(address to, uint256 amount) external onlyVerification {
        uint256 available = _accrued.auditPool;
        if (amount > available) revert AuditPoolExhausted(amount, available);
        _accrued.auditPool = uint128(available - amount);
        _credit(to, amount);
        emit AuditRewardPaid(to, amount);
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
    function setParams(MarketParams calldata params_) external onlyOwner {
        _setParams(params_);
    }

    /// @inheritdoc IJobMarket
    function setVerification(address verification_) external onlyOwner {
        if (verification != address(0)) revert VerificationAlreadySet();
        if (verification_ == address(0)) revert ZeroAddress();
        verification = verification_;
        emit VerificationSet(verification_);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IJobMarket
    function samplingOf(uint256 jobId, uint256 commitBlock) external view returns (bytes32 seed, bool sampled) {
        uint256 seedBlock = commitBlock + _params.seedDelay;
        if (block.number <= seedBlock) return (bytes32(0), false);
        return _sampling(jobId, seedBlock, _params.samplingPpm);
    }

    /// @inheritdoc IJobMarket
    function jobHash(uint256 jobId) external view returns (bytes32) {
        return _jobHashes[jobId];
    }

    /// @inheritdoc IJobMarket
    function hashJob(Job calldata job) external pure returns (bytes32) {
        return keccak256(abi.encode(job));
    }

    function protocolFees() external view returns (uint256) {
        return _accrued.protocolFees;
    }

    function auditPool() external view returns (uint256) {
        return _accrued.auditPool;
    }

    function params() external view returns (MarketParams memory) {
        return _params;
    }

    /// @inheritdoc IJobMarket
    function requiredUnbondingPeriod() public view returns (uint256) {
        return _lifetime(_params);
    }

    // ---------------------------------------------------------------- internals

    function _post(JobRequest calldata req) private returns (uint256 jobId) {
        if (req.modelId > type(uint32).max) revert ModelIdTooLarge(req.modelId);
        (bool active, uint96 priceFloor, uint96 collateral) = registry.terms(req.modelId);
        if (!active) revert ModelInactive(req.modelId);
        if (req.fee < priceFloor) revert FeeBelowFloor(req.fee, priceFloor);
        if (req.fee > type(uint96).max) revert FeeTooLarge(req.fee);
        MarketParams memory p = _params;
        uint256 latest = block.timestamp + p.maxClaimDelay;
        if (req.claimBy <= block.timestamp || req.claimBy > latest) {
            revert InvalidClaimBy(req.claimBy, block.timestamp + 1, latest);
        }
        bytes32 inputHash = _inputHash(req);
        if (req.callbackGasLimit != 0) {
            if (req.callbackGasLimit > p.callbackGasLimit) revert CallbackGasTooHigh(req.callbackGasLimit, p.callbackGasLimit);
            if (msg.sender.code.length == 0) revert CallbackNeedsContract(msg.sender);
        }

        jobId = ++jobCount;
        _store(
            jobId,
            Job({
                poster: msg.sender,
                modelId: uint32(req.modelId),
                fee: uint96(req.fee),
                collateral: collateral,
                callbackGasLimit: req.callbackGasLimit,
                status: JobStatus.Posted,
                deadline: uint32(req.claimBy),
                provider: address(0),
                commitBlock: 0,
                result: bytes32(0),
                inlineOutput: false,
                sampled: false
            })
        );
        _emitPosted(jobId, req, collateral, inputHash);

        // Interaction last; the balance check rejects fee-on-transfer tokens.
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), req.fee);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != req.fee) revert TokenTransferMismatch(req.fee, received);
    }

    function _emitPosted(uint256 jobId, JobRequest calldata req, uint256 collateral, bytes32 inputHash) private {
        emit JobPosted(
            jobId,
            req.modelId,
            msg.sender,
            req.fee,
            collateral,
            req.claimBy,
            req.callbackGasLimit,
            inputHash,
            req.inputURI,
            req.inlineInput
        );
    }

    /// @dev Moves a claimed (or, from claimAndCommit, posted) job to Committed for the caller. The commit
    /// block fixes the sampling seed block.
    function _commit(uint256 jobId, Job calldata job, bytes32 commitment) private {
        if (commitment == bytes32(0)) revert ZeroCommitment();
        Job memory next = job;
        next.status = JobStatus.Committed;
        next.provider = msg.sender;
        next.deadline = uint32(block.timestamp + _params.revealTimeout);
        next.commitBlock = uint64(block.number);
        next.result = commitment;
        _store(jobId, next);
        emit ResultCommitted(jobId, msg.sender, commitment, next.deadline);
    }

    /// @dev The seed of `seedBlock` (already mined) and whether it samples `jobId`:
    /// `uint256(keccak256(abi.encode(seed, jobId))) % 1e6 < samplingPpm`. While sampling is on, a seed out
    /// of reach (zero) samples the job.
    function _sampling(uint256 jobId, uint256 seedBlock, uint256 samplingPpm)
        private
        view
        returns (bytes32 seed, bool sampled)
    {
        IRandomness source = randomness;
        seed = address(source) == address(0) ? blockhash(seedBlock) : source.seedOf(seedBlock);
        if (samplingPpm == 0) return (seed, false);
        if (seed == bytes32(0)) return (seed, true);
        sampled = uint256(keccak256(abi.encode(seed, jobId))) % PPM < samplingPpm;
    }

    function _inputHash(JobRequest calldata req) private pure returns (bytes32 inputHash) {
        uint256 inlineLength = req.inlineInput.length;
        if (inlineLength == 0) {
            if (req.inputHash == bytes32(0)) revert MissingInput();
            return req.inputHash;
        }
        if (inlineLength > MAX_INLINE_BYTES) revert InputTooLarge(inlineLength, MAX_INLINE_BYTES);
        if (bytes(req.inputURI).length != 0) revert InputUriWithInlineInput();
        inputHash = keccak256(req.inlineInput);
        if (req.inputHash != bytes32(0) && req.inputHash != inputHash) revert InputHashMismatch(req.inputHash, inputHash);
    }

    function _finalize(uint256 jobId, Job calldata job, bytes calldata inlineOutput) private {
        _requireJob(jobId, job, JobStatus.Revealed);
        if (block.timestamp <= job.deadline) revert DeadlineNotPassed(jobId, job.deadline, block.timestamp);
        _pay(jobId, job);
        if (job.callbackGasLimit != 0) _deliver(jobId, job, inlineOutput);
    }

    /// @dev Pays a job whose result stands: provider credit, protocol shares, collateral back.
    function _pay(uint256 jobId, Job calldata job) private {
        _storeStatus(jobId, job, JobStatus.Finalized);
        (uint256 payout, uint256 protocolFee, uint256 auditLevy) =
            FeeMath.splitFee(job.fee, _params.protocolFeeBps, _params.auditLevyBps);
        credits[job.provider] += payout;
        Accrued memory a = _accrued;
        _accrued = Accrued(a.protocolFees + protocolFee.toUint128(), a.auditPool + auditLevy.toUint128());
        emit JobFinalized(jobId, job.provider, payout);
        staking.unlock(job.provider, job.collateral);
    }

    /// @dev Calls the consumer with a hard gas cap. A failure is recorded, never propagated. The caller
    /// must forward enough gas that the consumer really gets its limit (EIP-150 keeps 1/64 back), so a
    /// keeper cannot starve the callback on purpose.
    function _deliver(uint256 jobId, Job calldata job, bytes calldata inlineOutput) private {
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

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        credits[account] += amount;
        emit Credited(account, amount);
    }

    function _store(uint256 jobId, Job memory job) private {
        _jobHashes[jobId] = keccak256(abi.encode(job));
    }

    function _storeStatus(uint256 jobId, Job calldata job, JobStatus status) private {
        Job memory next = job;
        next.status = status;
        _store(jobId, next);
    }

    /// @dev The one check every call makes: the caller's `job` is the stored state, in `expected` status.
    function _requireJob(uint256 jobId, Job calldata job, JobStatus expected) private view {
        bytes32 stored = _jobHashes[jobId];
        if (stored == bytes32(0)) revert JobNotFound(jobId);
        if (keccak256(abi.encode(job)) != stored) revert JobMismatch(jobId);
        if (job.status != expected) revert WrongStatus(jobId, job.status);
    }

    function _requireProvider(uint256 jobId, address provider) private view {
        if (msg.sender != provider) revert NotJobProvider(jobId, msg.sender);
    }

    function _requireBeforeDeadline(uint256 jobId, uint256 deadline) private view {
        if (block.timestamp > deadline) revert DeadlinePassed(jobId, deadline, block.timestamp);
    }

    function _lifetime(MarketParams memory p) private pure returns (uint256) {
        return uint256(p.maxClaimDelay) + p.commitTimeout + p.revealTimeout + p.challengeWindow + p.disputeDuration;
    }

    function _setParams(MarketParams memory p) private {
        if (p.maxClaimDelay == 0 || p.maxClaimDelay > 30 days) revert InvalidParams("maxClaimDelay");
        if (p.commitTimeout == 0 || p.commitTimeout > 7 days) revert InvalidParams("commitTimeout");
        if (p.revealTimeout == 0 || p.revealTimeout > 7 days) revert InvalidParams("revealTimeout");
        if (p.challengeWindow == 0 || p.challengeWindow > 7 days) revert InvalidParams("challengeWindow");
        if (p.disputeDuration == 0 || p.disputeDuration > 30 days) revert InvalidParams("disputeDuration");
        if (p.callbackGasLimit > 2_000_000) revert InvalidParams("callbackGasLimit");
        if (uint256(p.protocolFeeBps) + p.auditLevyBps > 5_000) revert InvalidParams("protocolFeeBps+auditLevyBps");
        if (p.expiryPenaltyBps > FeeMath.BPS) revert InvalidParams("expiryPenaltyBps");
        // The reveal must come while blockhash(seedBlock) is still readable (256 blocks).
        if (p.seedDelay == 0 || p.seedDelay > 64) revert InvalidParams("seedDelay");
        if (p.samplingPpm > PPM) revert InvalidParams("samplingPpm");
        uint256 unbonding = staking.params().unbondingPeriod;
        uint256 required = _lifetime(p);
        if (unbonding < required) revert InvalidParams("Staking.unbondingPeriod shorter than the job lifetime");
        _params = p;
        emit ParamsSet(p);
    }
}
