// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IDeposits} from "./IDeposits.sol";
import {IJobMarket} from "./IJobMarket.sol";
import {IProtocolTerms} from "./IProtocolTerms.sol";
import {IPullPayments} from "./IPullPayments.sol";

/// @title IBatchMarket
/// @notice Many jobs posted, committed, revealed and settled as one batch, paid from a prepaid deposit. A batch
/// is a compressed set of ordinary JobMarket jobs: its jobs get ordinary, contiguous JobMarket ids at post time
/// (`firstJobId .. firstJobId + count - 1`) but no per-job storage. A job that needs per-job treatment (its
/// seed samples it for an audit, or someone wants to challenge its result) is split out: imported into the
/// JobMarket as an ordinary job (its fee moved to the market's escrow), where every ordinary rule applies
/// unchanged (blind audit, reveal, challenge, dispute, slashing, expiry). See docs/PROTOCOL.md, "Batches".
/// @dev Lifecycle. Every deadline is inclusive, as in the JobMarket.
///
///   Posted --claimBatch--> Claimed --commitBatch--> Committed --revealBatch--> Revealed --window ends--> Finalized
///     |  (claimAndCommitBatch: Posted -> Committed)     |   ^ splitSampled (sampled jobs,   |  ^ splitRevealed (any job,
///     v                      v                          v     before the reveal)            |    inside the window)
///   Expired (refund)       Expired (refund, penalty)  Expired (refund; whole collateral of each unsplit sampled job)
///
/// A split job leaves the batch: the batch's later steps (reveal, finalize, expire) pay, refund and slash only
/// its unsplit jobs. Per job, sampling is JobMarket's: the seed of `commitBlock + seedDelay`, and the job is
/// sampled when `keccak256(abi.encode(seed, jobId)) % 1e6 < samplingPpm` (JobMarket.samplingOf).
///
/// Commitments and results are Merkle trees (OpenZeppelin MerkleProof, `Hashes.commutativeKeccak256`, leaves
/// in job order, an odd node carried up a level unchanged) whose leaves are `keccak256(abi.encode(jobId, value))`:
/// the value is the job's commitment `Commitments.hash(chainId, jobMarket, jobId, provider, outputRoot, salt)`
/// (with `salt = keccak256(abi.encode(batchSalt, jobId))`, see revealBatch)
/// in the commitment tree, its output root in the result tree. Binding the job id into the leaf makes an
/// inclusion proof prove the position: a sorted-pair proof alone would not.
interface IBatchMarket is IPullPayments, IDeposits {
    enum BatchStatus {
        None,
        Posted,
        Claimed,
        Committed,
        Revealed,
        Finalized,
        Expired
    }

    /// @notice What a dApp posts: `inputHashes.length` jobs of one model at one fee each.
    /// @param modelId a registered, active model
    /// @param feePerJob each job's fee, at least the model's price floor; the total is debited from the deposit
    /// @param claimBy the last second a provider may claim the batch
    /// @param inputHashes SHA-256 of each job's input blob (non-zero)
    /// @param inputURIs where each input blob can be fetched (same length as `inputHashes`)
    struct BatchRequest {
        uint256 modelId;
        uint256 feePerJob;
        uint64 claimBy;
        bytes32[] inputHashes;
        string[] inputURIs;
    }

    /// @notice A batch's whole state. Only `keccak256(abi.encode(batch))` is stored; callers pass it back, as
    /// with JobMarket's jobs. Events carry every field. Which jobs were split out is kept beside it (a bitmap,
    /// `splitBitmap`), so that a split never changes the state other callers hold.
    /// @param terms the terms version current at post: every rule of every job of the batch comes from it
    /// @param count jobs in the batch, 1..MAX_BATCH
    /// @param firstJobId the JobMarket id of job 0; job `i` has id `firstJobId + i`
    /// @param deadline claimBy, commitBy, revealBy or the end of the challenge window, by status
    /// @param result the commitment root while Committed, the result root from Revealed on
    struct Batch {
        address poster;
        uint32 modelId;
        uint32 terms;
        uint96 feePerJob;
        uint96 collateralPerJob;
        uint16 count;
        uint64 firstJobId;
        BatchStatus status;
        uint32 deadline;
        address provider;
        uint64 commitBlock;
        bytes32 result;
    }

    /// @dev The inputs are only in this event (and the transaction's calldata): workers read them from logs.
    event BatchPosted(
        uint256 indexed batchId,
        uint256 indexed modelId,
        address indexed poster,
        uint256 firstJobId,
        uint256 count,
        uint256 feePerJob,
        uint256 collateralPerJob,
        uint256 claimBy,
        uint32 terms,
        bytes32[] inputHashes,
        string[] inputURIs
    );
    event BatchClaimed(uint256 indexed batchId, address indexed provider, uint256 commitBy);
    event BatchCommitted(uint256 indexed batchId, address indexed provider, bytes32 commitmentRoot, uint256 revealBy);
    /// @dev `outputRoots` in job order (split jobs' included: they equal what the JobMarket reveals for them).
    event BatchRevealed(
        uint256 indexed batchId, address indexed provider, bytes32[] outputRoots, string outputURI, uint256 challengeEnd
    );
    /// @dev Job `jobId` (index `index` of the batch) left the batch for the JobMarket (`JobImported` there), as
    /// `IJobMarket.JobStatus.Committed` (sampled) or `Revealed` (to be challenged).
    event JobSplit(uint256 indexed batchId, uint256 indexed jobId, uint256 index, IJobMarket.JobStatus status);
    /// @dev `jobs`: the unsplit jobs paid; the protocol fee and audit levy are `jobs * feePerJob - payout`.
    event BatchFinalized(uint256 indexed batchId, address indexed provider, uint256 jobs, uint256 payout);
    /// @dev `jobs` unsplit jobs refunded (`refund` in all), `sampled` of which cost the provider its whole
    /// collateral; `penalty` what the provider lost in all.
    event BatchExpired(
        uint256 indexed batchId, BatchStatus indexed from, uint256 jobs, uint256 refund, uint256 penalty, uint256 sampled
    );
    event ProtocolFeesWithdrawn(address indexed to, uint256 amount);
    /// @dev Audit levies and slashed shares owed to the JobMarket's audit pool were sent there.
    event AuditLevySwept(uint256 amount);
    event ReplicaMarketSet(address replicaMarket);

    /// @notice Posts one batch, its fees debited from the caller's deposit. Reserves `count` JobMarket ids.
    /// @param request the batch
    /// @return batchId the new batch's id
    function postBatch(BatchRequest calldata request) external returns (uint256 batchId);

    /// @notice Posts several batches (several models, fees or deadlines) in one transaction.
    /// @param requests the batches
    /// @return firstBatchId the id of the first; the others follow in order
    function postBatches(BatchRequest[] calldata requests) external returns (uint256 firstBatchId);

    /// @notice Claims a posted batch for the caller, locking `count * collateralPerJob` of its stake.
    /// @param batchId the batch
    /// @param batch its current state
    function claimBatch(uint256 batchId, Batch calldata batch) external;

    /// @notice The claimer commits to the batch's results: the root of the commitment tree (see the interface).
    /// The block of this call fixes every job's sampling seed block (`commitBlock + seedDelay`).
    /// @param batchId the batch
    /// @param batch its current state
    /// @param commitmentRoot the root of the per-job commitments
    function commitBatch(uint256 batchId, Batch calldata batch, bytes32 commitmentRoot) external;

    /// @notice Claim and commit in one transaction, for a provider that ran the batch before claiming it.
    /// @param batchId the batch
    /// @param batch its current state
    /// @param commitmentRoot the root of the per-job commitments
    function claimAndCommitBatch(uint256 batchId, Batch calldata batch, bytes32 commitmentRoot) external;

    /// @notice Anyone, once the seed is known (and in reach) and before the batch's reveal deadline: moves a
    /// sampled job to the JobMarket as Committed, with its commitment proven against the batch's commitment root.
    /// Its reveal deadline there is the split time plus `revealTimeout` (committed, for its auditor, at the split:
    /// only the provider can prove a leaf before the batch reveal, and the audit window must not run out before
    /// the job exists). From there its auditor commits blind and its provider reveals it with `JobMarket.reveal`, or it expires
    /// there (whole collateral slashed). The batch cannot be revealed while a sampled job is left in it.
    /// @param batchId the batch
    /// @param batch its current state (Committed)
    /// @param index the job's index in the batch
    /// @param commitment the job's commitment (the value of its leaf)
    /// @param proof sibling hashes from the leaf up
    function splitSampled(
        uint256 batchId,
        Batch calldata batch,
        uint256 index,
        bytes32 commitment,
        bytes32[] calldata proof
    ) external;

    /// @notice The provider reveals every job's output root and the batch's salt, once the seed block is mined and
    /// while its seed is in reach, by the reveal deadline; every sampled job must have been split out first. Stores
    /// the result root and opens the challenge window.
    /// @dev Job `jobId`'s commitment salt is `keccak256(abi.encode(batchSalt, jobId))`: one salt in calldata
    /// instead of one per job (32 bytes a job), and a split job's own salt, revealed in the JobMarket before the
    /// batch, gives nothing away about its batch-mates'.
    /// @param batchId the batch
    /// @param batch its current state (Committed)
    /// @param outputRoots each job's output root, in job order; for a job already split out (sampled), its
    /// commitment instead: its output root is revealed only in the JobMarket, after its auditor's blind commit
    /// @param batchSalt the secret the per-job salts derive from
    /// @param outputURI where the outputs can be fetched
    function revealBatch(
        uint256 batchId,
        Batch calldata batch,
        bytes32[] calldata outputRoots,
        bytes32 batchSalt,
        string calldata outputURI
    ) external;

    /// @notice Anyone, inside the batch's challenge window: moves one revealed job to the JobMarket as Revealed
    /// (its output root proven against the result root), where `Verification.challenge` takes it. Its
    /// batch-mates still finalize with the batch.
    /// @param batchId the batch
    /// @param batch its current state (Revealed)
    /// @param index the job's index in the batch
    /// @param outputRoot the job's output root
    /// @param proof sibling hashes from the leaf up
    function splitRevealed(
        uint256 batchId,
        Batch calldata batch,
        uint256 index,
        bytes32 outputRoot,
        bytes32[] calldata proof
    ) external;

    /// @notice Anyone, after the challenge window: pays the provider for every unsplit job at once, releases their
    /// collateral, accrues the protocol fee and the audit levy.
    /// @param batchId the batch
    /// @param batch its current state (Revealed)
    function finalizeBatch(uint256 batchId, Batch calldata batch) external;

    /// @notice Anyone, past the deadline (or, when Committed, once the seed is out of reach): refunds the unsplit
    /// jobs' fees to the poster. A claimer that missed its commit loses the expiry penalty per job; one that
    /// withheld its reveal loses the whole collateral of each unsplit job that is sampled (or all of them with
    /// the seed out of reach) and the expiry penalty for the others: withholding never costs less than a fault.
    /// @param batchId the batch
    /// @param batch its current state (Posted, Claimed or Committed)
    function expireBatch(uint256 batchId, Batch calldata batch) external;

    /// @notice Anyone: sends what is owed to the JobMarket's audit pool (audit levies of finalized batches, the
    /// pool's share of withheld reveals' slashes) there.
    /// @return amount what was sent
    function sweepAuditLevy() external returns (uint256 amount);

    /// @notice Owner: withdraws the accrued protocol fees.
    /// @param to the recipient
    /// @return amount what was sent
    function withdrawProtocolFees(address to) external returns (uint256 amount);

    /// @notice Owner, once: the ReplicaMarket, whose disagreeing seats this contract imports into the JobMarket
    /// (the one importer the JobMarket has).
    function setReplicaMarket(address replicaMarket) external;

    /// @notice The ReplicaMarket only: reserves a JobMarket id, imports `job` (a revealed seat of a redundant job,
    /// Revealed with its window open; the ReplicaMarket sent its fee to the JobMarket) and has Verification open a
    /// committee dispute on it (`IVerification.disputeReplica`).
    /// @return jobId the JobMarket job
    function importReplica(IJobMarket.Job calldata job) external returns (uint256 jobId);

    /// @notice The ReplicaMarket (zero until set).
    function replicaMarket() external view returns (address);

    /// @notice Largest batch.
    /// @return the number of jobs
    function MAX_BATCH() external view returns (uint256);

    /// @notice The market whose jobs the batches are.
    /// @return the JobMarket
    function jobMarket() external view returns (IJobMarket);

    /// @notice The stored hash of a batch's state, `keccak256(abi.encode(batch))` (zero for an unknown id).
    /// @param batchId the batch
    /// @return the hash
    function batchHash(uint256 batchId) external view returns (bytes32);

    /// @notice How many batches were posted; ids run from 1 to this.
    /// @return the last batch id
    function batchCount() external view returns (uint256);

    /// @notice Which of a batch's jobs were split out: bit `i` for job index `i`.
    /// @param batchId the batch
    /// @return the bitmap
    function splitBitmap(uint256 batchId) external view returns (uint256);

    /// @notice Which of a committed batch's jobs are sampled: bit `i` for job index `i` (zero before the seed
    /// block, or while the randomness is not delivered; all ones with the seed out of reach and sampling on).
    /// The same draw as `JobMarket.samplingOf` for each job.
    /// @param batch the batch's state
    /// @return bitmap the sampled jobs
    function sampledBitmap(Batch calldata batch) external view returns (uint256 bitmap);

    /// @notice Protocol fees accrued and not yet withdrawn by the owner.
    /// @return the amount
    function protocolFees() external view returns (uint256);

    /// @notice What is owed to the JobMarket's audit pool and not yet swept there.
    /// @return the amount
    function auditLevyOwed() external view returns (uint256);

    /// @notice The market half of terms version `version`, as this contract copied it at its first batch.
    /// @param version the terms version
    /// @return the parameters (all zero if no batch used it yet)
    function marketTermsOf(uint256 version) external view returns (IProtocolTerms.MarketParams memory);
}
