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
import {IStaking} from "./interfaces/IStaking.sol";
import {Commitments} from "./libraries/Commitments.sol";
import {FeeMath} from "./libraries/FeeMath.sol";
import {OutputRoot} from "./libraries/OutputRoot.sol";

/// @title JobMarket
/// @notice Escrowed inference jobs: post, claim, commit, reveal, finalize or expire, with pull payments.
/// @dev Storage is laid out for the hot path: a job is three slots, written as the job moves, and
/// everything only read off-chain (input URI, inline input and output, output URI) lives in events.
/// Trust: the owner sets parameters (two-step ownership) and, once, the Verification contract, which
/// may put revealed jobs under dispute and settle them. Model collateral is read from the registry at
/// claim and again when the job ends; the registry keeps a model's collateral fixed for that reason.
contract JobMarket is IJobMarket, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    uint256 public constant MAX_INLINE_BYTES = 4096;
    /// @dev Gas kept back for the rest of finalize after a consumer callback returns.
    uint256 private constant CALLBACK_RESERVE = 10_000;

    struct Job {
        // slot 0: written at every step
        address poster;
        uint24 modelId;
        JobStatus status;
        uint32 deadline; // claimBy, commitBy, revealBy or challengeEnd, by status
        uint32 commitBlock; // low 32 bits of the commit's block number
        // slot 1
        address provider;
        uint96 fee;
        // slot 2: the commitment, replaced by the output root at reveal
        bytes32 result;
    }

    /// @dev Only for jobs that asked for a callback.
    struct Callback {
        uint32 gasLimit;
        bool inlineOutput;
        bool failed;
    }

    /// @dev Accrued protocol shares, written together at finalize: one slot.
    struct Accrued {
        uint128 protocolFees;
        uint128 auditPool;
    }

    IERC20 public immutable token;
    IStaking public immutable staking;
    IModelRegistry public immutable registry;

    MarketParams private _params;
    address public verification;
    uint256 public jobCount;
    Accrued private _accrued;

    mapping(uint256 jobId => Job) private _jobs;
    mapping(uint256 jobId => Callback) private _callbacks;
    mapping(address account => uint256) public credits;

    modifier onlyVerification() {
        if (msg.sender != verification) revert NotVerification(msg.sender);
        _;
    }

    constructor(IERC20 token_, IStaking staking_, IModelRegistry registry_, address owner_, MarketParams memory params_)
        Ownable(owner_)
    {
        if (address(token_) == address(0) || address(staking_) == address(0) || address(registry_) == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        staking = staking_;
        registry = registry_;
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
    function claim(uint256 jobId) external {
        Job storage job_ = _jobs[jobId];
        _requireStatus(jobId, job_.status, JobStatus.Posted);
        _requireBeforeDeadline(jobId, job_.deadline);
        uint256 collateral = _collateral(job_.modelId);

        uint256 commitBy = block.timestamp + _params.commitTimeout;
        job_.status = JobStatus.Claimed;
        job_.deadline = uint32(commitBy);
        job_.provider = msg.sender;
        emit JobClaimed(jobId, msg.sender, collateral, commitBy);

        // Reverts unless the caller is a staked provider with enough unlocked stake.
        staking.lock(msg.sender, collateral);
    }

    /// @inheritdoc IJobMarket
    function commit(uint256 jobId, bytes32 commitment) external {
        Job storage job_ = _jobs[jobId];
        _requireStatus(jobId, job_.status, JobStatus.Claimed);
        _requireProvider(jobId, job_.provider);
        _requireBeforeDeadline(jobId, job_.deadline);
        if (commitment == bytes32(0)) revert ZeroCommitment();

        uint256 revealBy = block.timestamp + _params.revealTimeout;
        job_.status = JobStatus.Committed;
        job_.deadline = uint32(revealBy);
        job_.commitBlock = uint32(block.number);
        job_.result = commitment;
        emit ResultCommitted(jobId, msg.sender, commitment, revealBy);
    }

    /// @inheritdoc IJobMarket
    function reveal(uint256 jobId, bytes32 outputRoot, bytes32 salt, string calldata outputURI, bytes calldata inlineOutput)
        external
    {
        Job storage job_ = _jobs[jobId];
        _requireStatus(jobId, job_.status, JobStatus.Committed);
        _requireProvider(jobId, job_.provider);
        _requireBeforeDeadline(jobId, job_.deadline);
        MarketParams memory p = _params;
        // The sampling seed is the hash of a block after the commit; revealing earlier would let the
        // provider see whether it will be audited before committing to reveal.
        uint256 seedBlock = _fullBlockNumber(job_.commitBlock) + p.seedDelay;
        if (block.number <= seedBlock) revert SeedNotReady(jobId, seedBlock, block.number);
        if (outputRoot == bytes32(0)) revert ZeroOutputRoot();
        if (inlineOutput.length != 0) {
            if (inlineOutput.length > MAX_INLINE_BYTES) revert OutputTooLarge(inlineOutput.length, MAX_INLINE_BYTES);
            bytes32 computed = OutputRoot.leaf(0, inlineOutput);
            if (computed != outputRoot) revert OutputRootMismatch(outputRoot, computed);
        }
        bytes32 expected = Commitments.hash(block.chainid, address(this), jobId, msg.sender, outputRoot, salt);
        if (expected != job_.result) revert CommitmentMismatch(jobId);

        uint256 challengeEnd = block.timestamp + p.challengeWindow;
        job_.status = JobStatus.Revealed;
        job_.deadline = uint32(challengeEnd);
        job_.result = outputRoot;
        if (inlineOutput.length != 0 && _callbacks[jobId].gasLimit != 0) _callbacks[jobId].inlineOutput = true;
        emit ResultRevealed(jobId, msg.sender, outputRoot, outputURI, inlineOutput, challengeEnd);
    }

    // ---------------------------------------------------------------- keepers

    /// @inheritdoc IJobMarket
    function finalize(uint256 jobId) external nonReentrant {
        _finalize(jobId, msg.data[0:0]);
    }

    /// @inheritdoc IJobMarket
    function finalizeWithOutput(uint256 jobId, bytes calldata inlineOutput) external nonReentrant {
        _finalize(jobId, inlineOutput);
    }

    /// @inheritdoc IJobMarket
    function expire(uint256 jobId) external nonReentrant {
        Job storage job_ = _jobs[jobId];
        JobStatus from = job_.status;
        if (from == JobStatus.None) revert JobNotFound(jobId);
        if (from > JobStatus.Committed) revert WrongStatus(jobId, from);
        if (block.timestamp <= job_.deadline) revert DeadlineNotPassed(jobId, job_.deadline, block.timestamp);

        // 1. Effects: the job ends and the poster gets the fee back.
        job_.status = JobStatus.Expired;
        address poster = job_.poster;
        uint256 refund = job_.fee;
        _credit(poster, refund);
        uint256 penalty;
        if (from != JobStatus.Posted) {
            // 2. A provider claimed and went silent: release its collateral less a penalty for the poster.
            uint256 collateral = _collateral(job_.modelId);
            uint256 wanted = FeeMath.share(collateral, _params.expiryPenaltyBps);
            penalty = staking.slash(job_.provider, collateral, wanted, address(this));
            _credit(poster, penalty);
        }
        emit JobExpired(jobId, from, refund, penalty);
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
    function openDispute(uint256 jobId) external onlyVerification {
        Job storage job_ = _jobs[jobId];
        _requireStatus(jobId, job_.status, JobStatus.Revealed);
        _requireBeforeDeadline(jobId, job_.deadline);
        job_.status = JobStatus.Disputed;
        emit JobDisputed(jobId);
    }

    /// @inheritdoc IJobMarket
    function settleDispute(uint256 jobId, bool providerFaulted, address slashRecipient)
        external
        onlyVerification
        nonReentrant
        returns (uint256 slashed)
    {
        Job storage job_ = _jobs[jobId];
        _requireStatus(jobId, job_.status, JobStatus.Disputed);
        if (!providerFaulted) {
            emit DisputeSettled(jobId, false, 0);
            _pay(jobId, job_);
            return 0;
        }
        job_.status = JobStatus.Slashed;
        _credit(job_.poster, job_.fee);
        uint256 collateral = _collateral(job_.modelId);
        slashed = staking.slash(job_.provider, collateral, collateral, slashRecipient);
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
    function job(uint256 jobId) external view returns (JobView memory v) {
        Job memory j = _jobs[jobId];
        if (j.status == JobStatus.None) revert JobNotFound(jobId);
        Callback memory cb = _callbacks[jobId];
        v = JobView({
            status: j.status,
            poster: j.poster,
            provider: j.provider,
            modelId: j.modelId,
            fee: j.fee,
            deadline: j.deadline,
            commitBlock: j.commitBlock == 0 ? 0 : _fullBlockNumber(j.commitBlock),
            result: j.result,
            callbackGasLimit: cb.gasLimit,
            callbackFailed: cb.failed
        });
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
        (bool active, uint96 priceFloor,) = registry.terms(req.modelId);
        if (!active) revert ModelInactive(req.modelId);
        if (req.fee < priceFloor) revert FeeBelowFloor(req.fee, priceFloor);
        if (req.fee > type(uint96).max) revert FeeTooLarge(req.fee);
        uint256 latest = block.timestamp + _params.maxClaimDelay;
        if (req.claimBy <= block.timestamp || req.claimBy > latest) {
            revert InvalidClaimBy(req.claimBy, block.timestamp + 1, latest);
        }
        bytes32 inputHash = _inputHash(req);
        if (req.callbackGasLimit != 0) {
            if (req.callbackGasLimit > _params.callbackGasLimit) {
                revert CallbackGasTooHigh(req.callbackGasLimit, _params.callbackGasLimit);
            }
            if (msg.sender.code.length == 0) revert CallbackNeedsContract(msg.sender);
        }

        jobId = ++jobCount;
        _jobs[jobId] = Job({
            poster: msg.sender,
            modelId: uint24(req.modelId), // the registry issues ids below 2^24
            status: JobStatus.Posted,
            deadline: uint32(req.claimBy),
            commitBlock: 0,
            provider: address(0),
            fee: uint96(req.fee),
            result: bytes32(0)
        });
        if (req.callbackGasLimit != 0) _callbacks[jobId].gasLimit = req.callbackGasLimit;
        _emitPosted(jobId, req, inputHash);

        // Interaction last; the balance check rejects fee-on-transfer tokens.
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), req.fee);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != req.fee) revert TokenTransferMismatch(req.fee, received);
    }

    function _emitPosted(uint256 jobId, JobRequest calldata req, bytes32 inputHash) private {
        emit JobPosted(
            jobId,
            req.modelId,
            msg.sender,
            inputHash,
            req.fee,
            req.claimBy,
            req.inputURI,
            req.inlineInput,
            req.callbackGasLimit
        );
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

    function _finalize(uint256 jobId, bytes calldata inlineOutput) private {
        Job storage job_ = _jobs[jobId];
        _requireStatus(jobId, job_.status, JobStatus.Revealed);
        if (block.timestamp <= job_.deadline) revert DeadlineNotPassed(jobId, job_.deadline, block.timestamp);
        _pay(jobId, job_);
        Callback storage cb = _callbacks[jobId];
        if (cb.gasLimit != 0) _deliver(jobId, job_, cb, inlineOutput);
    }

    /// @dev Pays a job whose result stands: provider credit, protocol shares, collateral back.
    function _pay(uint256 jobId, Job storage job_) private {
        job_.status = JobStatus.Finalized;
        address provider = job_.provider;
        (uint256 payout, uint256 protocolFee, uint256 auditLevy) =
            FeeMath.splitFee(job_.fee, _params.protocolFeeBps, _params.auditLevyBps);
        credits[provider] += payout;
        Accrued memory a = _accrued;
        _accrued = Accrued(a.protocolFees + protocolFee.toUint128(), a.auditPool + auditLevy.toUint128());
        emit JobFinalized(jobId, provider, payout, protocolFee, auditLevy);
        staking.unlock(provider, _collateral(job_.modelId));
    }

    /// @dev Calls the consumer with a hard gas cap. A failure is recorded, never propagated; the caller
    /// must forward enough gas that the consumer really gets its limit (EIP-150 keeps 1/64 back), so a
    /// keeper cannot starve the callback on purpose.
    function _deliver(uint256 jobId, Job storage job_, Callback storage cb, bytes calldata inlineOutput) private {
        bytes32 root = job_.result;
        if (cb.inlineOutput) {
            if (inlineOutput.length == 0) revert InlineOutputRequired(jobId);
            bytes32 computed = OutputRoot.leaf(0, inlineOutput);
            if (computed != root) revert OutputRootMismatch(root, computed);
        } else {
            inlineOutput = msg.data[0:0];
        }
        uint256 gasLimit = cb.gasLimit;
        uint256 required = gasLimit + gasLimit / 63 + CALLBACK_RESERVE;
        if (gasleft() < required) revert InsufficientGasForCallback(required, gasleft());
        bytes memory data = abi.encodeCall(IDinferConsumer.onJobResult, (jobId, root, inlineOutput));
        address consumer = job_.poster;
        bool ok;
        assembly ("memory-safe") {
            // No return data is copied: a consumer cannot make finalize pay for a huge revert reason.
            ok := call(gasLimit, consumer, 0, add(data, 0x20), mload(data), 0, 0)
        }
        if (!ok) {
            cb.failed = true;
            emit CallbackFailed(jobId, consumer);
        }
    }

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        credits[account] += amount;
        emit Credited(account, amount);
    }

    function _collateral(uint24 modelId) private view returns (uint256 collateral) {
        (,, collateral) = registry.terms(modelId);
    }

    /// @dev Rebuilds a block number from its low 32 bits: exact while fewer than 2^32 blocks have passed,
    /// which the bounded reveal and challenge windows guarantee.
    function _fullBlockNumber(uint32 low) private view returns (uint256) {
        unchecked {
            return block.number - uint32(uint32(block.number) - low);
        }
    }

    function _requireStatus(uint256 jobId, JobStatus status, JobStatus expected) private pure {
        if (status != expected) {
            if (status == JobStatus.None) revert JobNotFound(jobId);
            revert WrongStatus(jobId, status);
        }
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
        // Reveal must come while blockhash(seedBlock) is still readable (256 blocks).
        if (p.seedDelay == 0 || p.seedDelay > 64) revert InvalidParams("seedDelay");
        uint256 unbonding = staking.params().unbondingPeriod;
        uint256 required = _lifetime(p);
        if (unbonding < required) revert InvalidParams("unbondingPeriod of Staking shorter than the job lifetime");
        _params = p;
        emit ParamsSet(p);
    }
}
