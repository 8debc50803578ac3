// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {Deposits} from "./base/Deposits.sol";
import {PullPayments} from "./base/PullPayments.sol";
import {
    BatchCommitmentMismatch,
    BatchDeadlineNotPassed,
    BatchDeadlinePassed,
    BatchMismatch,
    BatchNotFound,
    BatchSeedNotReady,
    BatchSeedOutOfReach,
    BatchSizeInvalid,
    FeeBelowFloor,
    FeeTooLarge,
    InvalidClaimBy,
    InvalidProof,
    JobAlreadySplit,
    JobIndexOutOfRange,
    LengthMismatch,
    MissingInput,
    ModelIdTooLarge,
    ModelInactive,
    NotBatchProvider,
    NotReplicaMarket,
    ProtocolAlreadySet,
    NotSampled,
    NothingToWithdraw,
    SampledJobNotSplit,
    WrongBatchStatus,
    ZeroAddress,
    ZeroAmount,
    ZeroCommitment,
    ZeroOutputRoot
} from "./errors/Errors.sol";
import {IBatchMarket} from "./interfaces/IBatchMarket.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IProtocolTerms} from "./interfaces/IProtocolTerms.sol";
import {IRandomness} from "./interfaces/IRandomness.sol";
import {IVerification} from "./interfaces/IVerification.sol";
import {IStaking} from "./interfaces/IStaking.sol";
import {Commitments} from "./libraries/Commitments.sol";
import {FeeMath} from "./libraries/FeeMath.sol";

/// @dev The JobMarket's seed source (an immutable there), read once at construction.
interface IMarketRandomness {
    function randomness() external view returns (IRandomness);
}

/// @title BatchMarket
/// @notice Jobs by the batch: posted from a prepaid deposit, committed, revealed and settled as one, each job
/// still sampled, audited, challenged and slashed on its own by being split out into the JobMarket.
/// @dev Storage per batch is one slot, the hash of its state (`Batch`), plus one bitmap slot once a job is
/// split out. Inputs and outputs live in events. A job's per-job treatment is the JobMarket's, unchanged: a
/// split job is imported there with exactly the state an ordinary job would have at that step (its commitment
/// is the one an ordinary job of that id holds), its fee moves to the JobMarket's escrow and its collateral
/// stays locked in Staking for it.
/// Sampling is JobMarket's draw (`samplingOf`): the seed of `commitBlock + seedDelay` from the same source,
/// `keccak256(abi.encode(seed, jobId)) % 1e6 < samplingPpm`, computed here in a loop instead of one call per job.
/// Trust: the JobMarket and Staking (set at deployment) are trusted; the owner only withdraws protocol fees.
/// Known weakness: anyone may split a revealed job (to challenge it); the splitter pays the import and the fee
/// transfer (more gas than the provider's extra `JobMarket.finalize` for that job), and no funds move wrongly.
contract BatchMarket is IBatchMarket, Ownable2Step, Deposits {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @inheritdoc IBatchMarket
    uint256 public constant MAX_BATCH = 256;
    /// @dev blockhash reaches this many blocks back: a reveal must come within it of its seed block.
    uint256 private constant BLOCKHASH_REACH = 256;
    uint256 private constant PPM = 1_000_000;

    /// @dev Accrued protocol shares, written together: one slot.
    struct Accrued {
        uint128 protocolFees;
        uint128 auditLevy; // owed to the JobMarket's audit pool (sweepAuditLevy)
    }

    /// @inheritdoc IBatchMarket
    IJobMarket public immutable jobMarket;
    /// @notice Holds the providers' collateral.
    IStaking public immutable staking;
    /// @notice The models batches are posted for.
    IModelRegistry public immutable registry;
    /// @notice The JobMarket's seed source; zero means `blockhash`.
    IRandomness public immutable randomness;

    uint256 private _batchCount;
    Accrued private _accrued;
    /// @dev The market half of each terms version a batch used, copied from the JobMarket at the first such post.
    mapping(uint256 version => IProtocolTerms.MarketParams) private _marketTerms;
    mapping(uint256 batchId => bytes32) private _batchHashes;
    /// @dev Bit `i`: job index `i` was split out into the JobMarket (MAX_BATCH = 256 bits: one word).
    mapping(uint256 batchId => uint256) private _split;
    /// @inheritdoc IBatchMarket
    address public replicaMarket;

    constructor(IERC20 token_, IJobMarket jobMarket_, IStaking staking_, IModelRegistry registry_, address owner_)
        Ownable(owner_)
        PullPayments(token_)
    {
        if (
            address(token_) == address(0) || address(jobMarket_) == address(0) || address(staking_) == address(0)
                || address(registry_) == address(0)
        ) revert ZeroAddress();
        jobMarket = jobMarket_;
        staking = staking_;
        registry = registry_;
        randomness = IMarketRandomness(address(jobMarket_)).randomness();
        // The audit pool is funded with JobMarket.fundAuditPool, which pulls.
        token_.forceApprove(address(jobMarket_), type(uint256).max);
    }

    // ---------------------------------------------------------------- deposits

    // ---------------------------------------------------------------- dApps

    /// @inheritdoc IBatchMarket
    function postBatch(BatchRequest calldata request) external returns (uint256 batchId) {
        uint256 total;
        (batchId, total) = _post(request, _batchCount + 1);
        _batchCount = batchId;
        _debitDeposit(msg.sender, total);
    }

    /// @inheritdoc IBatchMarket
    function postBatches(BatchRequest[] calldata requests) external returns (uint256 firstBatchId) {
        if (requests.length == 0) revert BatchSizeInvalid(0, MAX_BATCH);
        firstBatchId = _batchCount + 1;
        uint256 total;
        uint256 batchId = firstBatchId;
        for (uint256 i; i < requests.length; ++i) {
            (, uint256 cost) = _post(requests[i], batchId);
            total += cost;
            ++batchId;
        }
        _batchCount = batchId - 1;
        _debitDeposit(msg.sender, total);
    }

    // ---------------------------------------------------------------- providers

    /// @inheritdoc IBatchMarket
    function claimBatch(uint256 batchId, Batch calldata batch) external {
        Batch memory b = _load(batchId, batch, BatchStatus.Posted);
        _requireBeforeDeadline(batchId, b.deadline);
        b.status = BatchStatus.Claimed;
        b.provider = msg.sender;
        b.deadline = uint32(block.timestamp + _marketTerms[b.terms].commitTimeout);
        _store(batchId, b);
        emit BatchClaimed(batchId, msg.sender, b.deadline);
        // Reverts unless the caller is a staked provider with enough unlocked stake.
        staking.lock(msg.sender, uint256(b.count) * b.collateralPerJob);
    }

    /// @inheritdoc IBatchMarket
    function commitBatch(uint256 batchId, Batch calldata batch, bytes32 commitmentRoot) external {
        Batch memory b = _load(batchId, batch, BatchStatus.Claimed);
        if (msg.sender != b.provider) revert NotBatchProvider(batchId, msg.sender);
        _requireBeforeDeadline(batchId, b.deadline);
        _commit(batchId, b, commitmentRoot);
    }

    /// @inheritdoc IBatchMarket
    function claimAndCommitBatch(uint256 batchId, Batch calldata batch, bytes32 commitmentRoot) external {
        Batch memory b = _load(batchId, batch, BatchStatus.Posted);
        _requireBeforeDeadline(batchId, b.deadline);
        _commit(batchId, b, commitmentRoot);
        staking.lock(msg.sender, uint256(b.count) * b.collateralPerJob);
    }

    /// @inheritdoc IBatchMarket
    function splitSampled(
        uint256 batchId,
        Batch calldata batch,
        uint256 index,
        bytes32 commitment,
        bytes32[] calldata proof
    ) external nonReentrant {
        Batch memory b = _load(batchId, batch, BatchStatus.Committed);
        _requireBeforeDeadline(batchId, b.deadline);
        uint256 jobId = _jobIdOf(batchId, b, index);
        bytes32 seed = _revealSeed(batchId, b);
        if (!_isSampled(seed, jobId, _marketTerms[b.terms].samplingPpm)) revert NotSampled(jobId);
        if (!MerkleProof.verifyCalldata(proof, b.result, _leaf(jobId, commitment))) revert InvalidProof(batchId, jobId);
        // The state an ordinary job holds once committed: the auditor commits blind against it, the provider
        // reveals it with JobMarket.reveal, or it expires there (sampled: whole collateral). Only the provider
        // knows a commitment leaf and its proof before the batch reveal, so the job is committed, for its
        // auditor, now: its reveal deadline (from which Verification counts the audit commit window back) runs
        // from the split, not from the batch's commit. Else a provider would split late, after that window,
        // and have the honest auditor penalized as absent. The seed's reach still bounds the reveal.
        uint32 revealBy = uint32(block.timestamp + _marketTerms[b.terms].revealTimeout);
        _splitOut(batchId, b, index, jobId, IJobMarket.JobStatus.Committed, revealBy, commitment);
    }

    /// @inheritdoc IBatchMarket
    function revealBatch(
        uint256 batchId,
        Batch calldata batch,
        bytes32[] calldata outputRoots,
        bytes32 batchSalt,
        string calldata outputURI
    ) external {
        uint256 deadline = _reveal(batchId, batch, outputRoots, batchSalt);
        emit BatchRevealed(batchId, msg.sender, outputRoots, outputURI, deadline);
    }

    /// @inheritdoc IBatchMarket
    function splitRevealed(
        uint256 batchId,
        Batch calldata batch,
        uint256 index,
        bytes32 outputRoot,
        bytes32[] calldata proof
    ) external nonReentrant {
        Batch memory b = _load(batchId, batch, BatchStatus.Revealed);
        _requireBeforeDeadline(batchId, b.deadline);
        uint256 jobId = _jobIdOf(batchId, b, index);
        if (!MerkleProof.verifyCalldata(proof, b.result, _leaf(jobId, outputRoot))) revert InvalidProof(batchId, jobId);
        // The state an ordinary unsampled job holds once revealed, inside the same challenge window: whoever
        // split it can now `Verification.challenge` it.
        _splitOut(batchId, b, index, jobId, IJobMarket.JobStatus.Revealed, b.deadline, outputRoot);
    }

    // ---------------------------------------------------------------- keepers

    /// @inheritdoc IBatchMarket
    function finalizeBatch(uint256 batchId, Batch calldata batch) external {
        Batch memory b = _load(batchId, batch, BatchStatus.Revealed);
        if (block.timestamp <= b.deadline) revert BatchDeadlineNotPassed(batchId, b.deadline, block.timestamp);
        uint256 jobs = b.count - _popcount(_split[batchId]);

        _storeStatus(batchId, b, BatchStatus.Finalized);
        IProtocolTerms.MarketParams memory p = _marketTerms[b.terms];
        (uint256 payout, uint256 protocolFee, uint256 auditLevy) =
            FeeMath.splitFee(jobs * b.feePerJob, p.protocolFeeBps, p.auditLevyBps);
        credits[b.provider] += payout;
        Accrued memory a = _accrued;
        _accrued = Accrued(a.protocolFees + protocolFee.toUint128(), a.auditLevy + auditLevy.toUint128());
        emit BatchFinalized(batchId, b.provider, jobs, payout);
        if (jobs != 0) staking.unlock(b.provider, jobs * b.collateralPerJob);
    }

    /// @inheritdoc IBatchMarket
    function expireBatch(uint256 batchId, Batch calldata batch) external nonReentrant {
        Batch memory b = _load(batchId, batch, batch.status);
        BatchStatus from = b.status;
        if (from == BatchStatus.None || from > BatchStatus.Committed) revert WrongBatchStatus(batchId, from);
        IProtocolTerms.MarketParams memory p = _marketTerms[b.terms];
        uint256 seedBlock = uint256(b.commitBlock) + p.seedDelay;
        // A committed batch whose seed went out of reach can never be revealed: it may expire at once.
        bool unrevealable = from == BatchStatus.Committed && block.number > seedBlock + BLOCKHASH_REACH;
        if (block.timestamp <= b.deadline && !unrevealable) {
            revert BatchDeadlineNotPassed(batchId, b.deadline, block.timestamp);
        }

        // 1. Effects: the batch ends and the poster gets the unsplit jobs' fees back.
        _storeStatus(batchId, b, BatchStatus.Expired);
        uint256 split = _split[batchId];
        uint256 jobs = b.count - _popcount(split);
        uint256 refund = jobs * b.feePerJob;
        _credit(b.poster, refund);
        if (from == BatchStatus.Posted) {
            emit BatchExpired(batchId, from, jobs, refund, 0, 0);
            return;
        }
        // 2. The claimer's penalty.
        (uint256 penalty, uint256 sampled) = _penalize(b, from, split, jobs, seedBlock, p);
        emit BatchExpired(batchId, from, jobs, refund, penalty, sampled);
    }

    /// @inheritdoc IBatchMarket
    function sweepAuditLevy() external nonReentrant returns (uint256 amount) {
        amount = _accrued.auditLevy;
        if (amount == 0) revert ZeroAmount();
        _accrued.auditLevy = 0;
        emit AuditLevySwept(amount);
        jobMarket.fundAuditPool(amount);
    }

    // ---------------------------------------------------------------- governance

    /// @inheritdoc IBatchMarket
    function withdrawProtocolFees(address to) external onlyOwner nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        amount = _accrued.protocolFees;
        if (amount == 0) revert NothingToWithdraw(to);
        _accrued.protocolFees = 0;
        emit ProtocolFeesWithdrawn(to, amount);
        token.safeTransfer(to, amount);
    }

    /// @inheritdoc IBatchMarket
    function setReplicaMarket(address replicaMarket_) external onlyOwner {
        if (replicaMarket != address(0)) revert ProtocolAlreadySet();
        if (replicaMarket_ == address(0)) revert ZeroAddress();
        replicaMarket = replicaMarket_;
        emit ReplicaMarketSet(replicaMarket_);
    }

    // ---------------------------------------------------------------- redundant jobs

    /// @inheritdoc IBatchMarket
    /// @dev The JobMarket takes imports from this contract only; the ReplicaMarket's disputed seats pass through.
    function importReplica(IJobMarket.Job calldata job) external returns (uint256 jobId) {
        if (msg.sender != replicaMarket || msg.sender == address(0)) revert NotReplicaMarket(msg.sender);
        (jobId,) = jobMarket.reserveJobIds(1);
        jobMarket.importJob(jobId, job);
        IVerification(jobMarket.verification()).disputeReplica(jobId, job);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IBatchMarket
    function batchHash(uint256 batchId) external view returns (bytes32) {
        return _batchHashes[batchId];
    }

    /// @inheritdoc IBatchMarket
    function batchCount() external view returns (uint256) {
        return _batchCount;
    }

    /// @inheritdoc IBatchMarket
    function splitBitmap(uint256 batchId) external view returns (uint256) {
        return _split[batchId];
    }

    /// @inheritdoc IBatchMarket
    function sampledBitmap(Batch calldata batch) external view returns (uint256 bitmap) {
        if (batch.status < BatchStatus.Committed) return 0;
        IProtocolTerms.MarketParams memory p = _marketTerms[batch.terms];
        uint256 seedBlock = uint256(batch.commitBlock) + p.seedDelay;
        if (block.number <= seedBlock || p.samplingPpm == 0) return 0;
        if (block.number > seedBlock + BLOCKHASH_REACH) return type(uint256).max >> (256 - batch.count);
        bytes32 seed = _seed(seedBlock);
        if (seed == bytes32(0)) return 0;
        return _sampledBits(seed, batch.firstJobId, batch.count, p.samplingPpm);
    }

    /// @inheritdoc IBatchMarket
    function protocolFees() external view returns (uint256) {
        return _accrued.protocolFees;
    }

    /// @inheritdoc IBatchMarket
    function auditLevyOwed() external view returns (uint256) {
        return _accrued.auditLevy;
    }

    /// @inheritdoc IBatchMarket
    function marketTermsOf(uint256 version) external view returns (IProtocolTerms.MarketParams memory) {
        return _marketTerms[version];
    }

    // ---------------------------------------------------------------- internals

    /// @dev Checks a request as JobMarket's `_post` does, reserves its job ids and stores the batch as `batchId`.
    /// Returns the batch's total fee, debited by the caller.
    function _post(BatchRequest calldata req, uint256 batchId) private returns (uint256, uint256 total) {
        uint256 count = req.inputHashes.length;
        if (count == 0 || count > MAX_BATCH) revert BatchSizeInvalid(count, MAX_BATCH);
        if (req.inputURIs.length != count) revert LengthMismatch(count, req.inputURIs.length);
        if (req.modelId > type(uint32).max) revert ModelIdTooLarge(req.modelId);
        (bool active, uint96 priceFloor, uint96 collateral) = registry.terms(req.modelId);
        if (!active) revert ModelInactive(req.modelId);
        if (req.feePerJob < priceFloor) revert FeeBelowFloor(req.feePerJob, priceFloor);
        if (req.feePerJob > type(uint96).max) revert FeeTooLarge(req.feePerJob);
        for (uint256 i; i < count; ++i) {
            if (req.inputHashes[i] == bytes32(0)) revert MissingInput();
        }
        (uint256 firstJobId, uint32 version) = jobMarket.reserveJobIds(count);
        {
            uint256 latest = block.timestamp + _termsFor(version).maxClaimDelay;
            if (req.claimBy <= block.timestamp || req.claimBy > latest) {
                revert InvalidClaimBy(req.claimBy, block.timestamp + 1, latest);
            }
        }
        _store(
            batchId,
            Batch({
                poster: msg.sender,
                modelId: uint32(req.modelId),
                terms: version,
                feePerJob: uint96(req.feePerJob),
                collateralPerJob: collateral,
                count: uint16(count),
                firstJobId: uint64(firstJobId),
                status: BatchStatus.Posted,
                deadline: uint32(req.claimBy),
                provider: address(0),
                commitBlock: 0,
                result: bytes32(0)
            })
        );
        _emitPosted(batchId, req, firstJobId, collateral, version);
        return (batchId, count * req.feePerJob);
    }

    function _emitPosted(
        uint256 batchId,
        BatchRequest calldata req,
        uint256 firstJobId,
        uint256 collateral,
        uint32 version
    ) private {
        emit BatchPosted(
            batchId,
            req.modelId,
            msg.sender,
            firstJobId,
            req.inputHashes.length,
            req.feePerJob,
            collateral,
            req.claimBy,
            version,
            req.inputHashes,
            req.inputURIs
        );
    }

    /// @dev The market half of `version`: this contract's copy, taken from the JobMarket (whose current version
    /// it is, in the post that reserved ids under it) the first time a batch uses it. Every version has a
    /// non-zero reveal timeout (ProtocolTerms checks it), so a zero one means no copy yet.
    function _termsFor(uint32 version) private returns (IProtocolTerms.MarketParams memory p) {
        p = _marketTerms[version];
        if (p.revealTimeout == 0) {
            p = jobMarket.params();
            _marketTerms[version] = p;
        }
    }

    function _commit(uint256 batchId, Batch memory b, bytes32 commitmentRoot) private {
        if (commitmentRoot == bytes32(0)) revert ZeroCommitment();
        b.status = BatchStatus.Committed;
        b.provider = msg.sender;
        b.deadline = uint32(block.timestamp + _marketTerms[b.terms].revealTimeout);
        b.commitBlock = uint64(block.number);
        b.result = commitmentRoot;
        _store(batchId, b);
        emit BatchCommitted(batchId, msg.sender, commitmentRoot, b.deadline);
    }

    /// @dev Moves job `index` (id `jobId`) of batch `b` to the JobMarket with status `status`, deadline
    /// `deadline` and result `result`; its fee goes along. Its collateral stays locked in Staking, now for it.
    function _splitOut(
        uint256 batchId,
        Batch memory b,
        uint256 index,
        uint256 jobId,
        IJobMarket.JobStatus status,
        uint32 deadline,
        bytes32 result
    ) private {
        _split[batchId] |= 1 << index;
        emit JobSplit(batchId, jobId, index, status);
        jobMarket.importJob(
            jobId,
            IJobMarket.Job({
                poster: b.poster,
                modelId: b.modelId,
                terms: b.terms,
                fee: b.feePerJob,
                collateral: b.collateralPerJob,
                callbackGasLimit: 0,
                status: status,
                deadline: deadline,
                provider: b.provider,
                commitBlock: b.commitBlock,
                result: result,
                inlineOutput: false,
                sampled: false
            })
        );
        token.safeTransfer(address(jobMarket), b.feePerJob);
    }

    /// @dev An expiring batch's claimer pays for its unsplit jobs; returns what it lost and how many of those
    /// jobs counted as sampled.
    function _penalize(
        Batch memory b,
        BatchStatus from,
        uint256 split,
        uint256 jobs,
        uint256 seedBlock,
        IProtocolTerms.MarketParams memory p
    ) private returns (uint256 penalty, uint256 sampled) {
        // 2a. The unsplit jobs a withheld reveal hid from their audit (none before the seed block).
        if (from == BatchStatus.Committed && block.number > seedBlock) sampled = _countSampled(b, split, seedBlock, p);
        // 2b. One slash: the whole collateral of each sampled job, the expiry penalty of each other one.
        uint256 plainWanted = (jobs - sampled) * FeeMath.share(b.collateralPerJob, p.expiryPenaltyBps);
        uint256 sampledWanted = sampled * b.collateralPerJob;
        penalty = staking.slash(b.provider, jobs * b.collateralPerJob, plainWanted + sampledWanted, address(this));
        // 2c. What the stake could cover is split pro rata: the expiry penalties go to the poster; of the sampled
        // jobs' collateral the poster gets the expiry penalty's share and the audit pool the rest (no auditor
        // could have committed to a job left in the batch: there is no finder's share).
        uint256 fromSampled = sampledWanted == 0 ? 0 : penalty * sampledWanted / (plainWanted + sampledWanted);
        uint256 toPoster = penalty - fromSampled + FeeMath.share(fromSampled, p.expiryPenaltyBps);
        _credit(b.poster, toPoster);
        _accrued.auditLevy += (penalty - toPoster).toUint128();
    }

    /// @dev revealBatch's checks and effects; returns the end of the challenge window.
    function _reveal(uint256 batchId, Batch calldata batch, bytes32[] calldata outputRoots, bytes32 batchSalt)
        private
        returns (uint256)
    {
        Batch memory b = _load(batchId, batch, BatchStatus.Committed);
        if (msg.sender != b.provider) revert NotBatchProvider(batchId, msg.sender);
        _requireBeforeDeadline(batchId, b.deadline);
        if (outputRoots.length != b.count) revert LengthMismatch(b.count, outputRoots.length);
        // As JobMarket.reveal: only once the seed is known and while it is in reach, so a provider learns which
        // jobs are sampled only after its results are fixed, and cannot choose among seeds by waiting.
        IProtocolTerms.MarketParams memory p = _marketTerms[b.terms];
        uint256 unsplitSampled = _sampledBits(_revealSeed(batchId, b), b.firstJobId, b.count, p.samplingPpm)
            & ~_split[batchId];
        // Every sampled job goes through its audit in the JobMarket before the batch can be revealed.
        if (unsplitSampled != 0) revert SampledJobNotSplit(batchId, b.firstJobId + _lowestBit(unsplitSampled));
        b.result = _resultRoot(batchId, b, outputRoots, batchSalt);
        b.status = BatchStatus.Revealed;
        b.deadline = uint32(block.timestamp + p.challengeWindow);
        _store(batchId, b);
        return b.deadline;
    }

    /// @dev The result root of a reveal of committed batch `b`, whose commitment root it checks.
    function _resultRoot(uint256 batchId, Batch memory b, bytes32[] calldata outputRoots, bytes32 batchSalt)
        private
        view
        returns (bytes32 resultRoot)
    {
        bytes32 commitmentRoot;
        (commitmentRoot, resultRoot) = _trees(b.firstJobId, outputRoots, batchSalt, _split[batchId]);
        if (commitmentRoot != b.result) revert BatchCommitmentMismatch(batchId);
    }

    /// @dev The commitment and result roots of a reveal (the caller is the provider); reverts on a zero value.
    /// Job `jobId`'s salt is `keccak256(abi.encode(batchSalt, jobId))` (`saltOf`). A job already split out (a
    /// sampled one: none is split from a committed batch otherwise) is given by its commitment, the value of its
    /// leaf, not by its output root: the batch reveal must not publish a sampled job's output before its auditor
    /// commits blind in the JobMarket (a lazy auditor would copy it, Agree on the same root, never rechecked).
    /// Its result leaf holds that commitment and is never used (the job cannot be split again).
    function _trees(uint256 firstJobId, bytes32[] calldata outputRoots, bytes32 batchSalt, uint256 split)
        private
        view
        returns (bytes32, bytes32)
    {
        bytes32[] memory commitments = new bytes32[](outputRoots.length);
        bytes32[] memory results = new bytes32[](outputRoots.length);
        for (uint256 i; i < outputRoots.length; ++i) {
            (commitments[i], results[i]) = _leavesOf(firstJobId + i, outputRoots[i], batchSalt, split & (1 << i) != 0);
        }
        return (_root(commitments), _root(results));
    }

    /// @dev Job `jobId`'s commitment-tree and result-tree leaves from its reveal value (`_trees`).
    function _leavesOf(uint256 jobId, bytes32 value, bytes32 batchSalt, bool split)
        private
        view
        returns (bytes32 commitmentLeaf, bytes32 resultLeaf)
    {
        if (value == bytes32(0)) revert ZeroOutputRoot();
        resultLeaf = _leaf(jobId, value);
        commitmentLeaf = split ? resultLeaf : _commitmentLeaf(jobId, value, _leaf(uint256(batchSalt), bytes32(jobId)));
    }

    /// @dev The commitment-tree leaf of the caller's job: the commitment an ordinary job of that id would hold.
    function _commitmentLeaf(uint256 jobId, bytes32 outputRoot, bytes32 salt) private view returns (bytes32) {
        return _leaf(jobId, Commitments.hash(block.chainid, address(jobMarket), jobId, msg.sender, outputRoot, salt));
    }

    /// @dev Bit `i` for each of `count` jobs from `firstJobId` that a known seed samples.
    function _sampledBits(bytes32 seed, uint256 firstJobId, uint256 count, uint256 samplingPpm)
        private
        pure
        returns (uint256 bits)
    {
        if (samplingPpm == 0) return 0;
        for (uint256 i; i < count; ++i) {
            if (_isSampled(seed, firstJobId + i, samplingPpm)) bits |= 1 << i;
        }
    }

    function _lowestBit(uint256 x) private pure returns (uint256 i) {
        while (x & 1 == 0) {
            x >>= 1;
            ++i;
        }
    }

    /// @dev The id of job `index`, which must not have been split out yet.
    function _jobIdOf(uint256 batchId, Batch memory b, uint256 index) private view returns (uint256 jobId) {
        if (index >= b.count) revert JobIndexOutOfRange(batchId, index, b.count);
        jobId = uint256(b.firstJobId) + index;
        if (_split[batchId] & (1 << index) != 0) revert JobAlreadySplit(batchId, jobId);
    }

    /// @dev The batch's sampling seed, known and in reach (what a reveal and a sampled split need).
    function _revealSeed(uint256 batchId, Batch memory b) private view returns (bytes32 seed) {
        uint256 seedBlock = uint256(b.commitBlock) + _marketTerms[b.terms].seedDelay;
        if (block.number <= seedBlock) revert BatchSeedNotReady(batchId, seedBlock, block.number);
        if (block.number > seedBlock + BLOCKHASH_REACH) {
            revert BatchSeedOutOfReach(batchId, seedBlock, seedBlock + BLOCKHASH_REACH);
        }
        seed = _seed(seedBlock);
        // Within reach, a zero seed is randomness not delivered yet.
        if (seed == bytes32(0)) revert BatchSeedNotReady(batchId, seedBlock, block.number);
    }

    /// @dev How many unsplit jobs of a committed batch whose seed block is mined count as sampled: all of them
    /// with the seed out of reach (while sampling is on), else the draw's; none while the seed is not delivered.
    function _countSampled(Batch memory b, uint256 split, uint256 seedBlock, IProtocolTerms.MarketParams memory p)
        private
        view
        returns (uint256 sampled)
    {
        if (p.samplingPpm == 0) return 0;
        if (block.number > seedBlock + BLOCKHASH_REACH) return b.count - _popcount(split);
        bytes32 seed = _seed(seedBlock);
        if (seed == bytes32(0)) return 0;
        return _popcount(_sampledBits(seed, b.firstJobId, b.count, p.samplingPpm) & ~split);
    }

    /// @dev The seed of block `seedBlock`: the randomness source's, else its hash (zero when not available).
    function _seed(uint256 seedBlock) private view returns (bytes32) {
        IRandomness source = randomness;
        return address(source) == address(0) ? blockhash(seedBlock) : source.seedOf(seedBlock);
    }

    /// @dev JobMarket's draw: `uint256(keccak256(abi.encode(seed, jobId))) % 1e6 < samplingPpm`.
    function _isSampled(bytes32 seed, uint256 jobId, uint256 samplingPpm) private pure returns (bool) {
        return uint256(keccak256(abi.encode(seed, jobId))) % PPM < samplingPpm;
    }

    /// @dev A tree leaf: `keccak256(abi.encode(jobId, value))`. The id in the leaf binds it to its position (the
    /// sorted-pair tree does not), and a 64-byte leaf preimage starting with a small id cannot be an inner node.
    function _leaf(uint256 jobId, bytes32 value) private pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            mstore(0x00, jobId)
            mstore(0x20, value)
            leaf := keccak256(0x00, 0x40)
        }
    }

    /// @dev The root of `nodes` (overwritten): pairs hashed sorted level by level, an odd last node carried up
    /// unchanged, so that `MerkleProof.verify` checks its proofs.
    function _root(bytes32[] memory nodes) private pure returns (bytes32) {
        uint256 width = nodes.length;
        while (width > 1) {
            uint256 pairs = width / 2;
            for (uint256 j; j < pairs; ++j) {
                nodes[j] = Hashes.commutativeKeccak256(nodes[2 * j], nodes[2 * j + 1]);
            }
            if (width % 2 == 1) nodes[pairs] = nodes[width - 1];
            width = pairs + width % 2;
        }
        return nodes[0];
    }

    function _popcount(uint256 x) private pure returns (uint256 n) {
        while (x != 0) {
            x &= x - 1;
            ++n;
        }
    }

    function _store(uint256 batchId, Batch memory b) private {
        _batchHashes[batchId] = keccak256(abi.encode(b));
    }

    function _storeStatus(uint256 batchId, Batch memory b, BatchStatus status) private {
        b.status = status;
        _store(batchId, b);
    }

    /// @dev The caller's `batch` is the stored state, in `expected` status; returned in memory to move forward.
    function _load(uint256 batchId, Batch calldata batch, BatchStatus expected) private view returns (Batch memory b) {
        bytes32 stored = _batchHashes[batchId];
        if (stored == bytes32(0)) revert BatchNotFound(batchId);
        b = batch;
        if (keccak256(abi.encode(b)) != stored) revert BatchMismatch(batchId);
        if (b.status != expected) revert WrongBatchStatus(batchId, b.status);
    }

    function _requireBeforeDeadline(uint256 batchId, uint256 deadline) private view {
        if (block.timestamp > deadline) revert BatchDeadlinePassed(batchId, deadline, block.timestamp);
    }
}
