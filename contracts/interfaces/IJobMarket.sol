// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IJobMarket
/// @notice Inference jobs with the fee in escrow: post, claim, commit, reveal, finalize or expire.
/// @dev Lifecycle (DESIGN section 3). Every deadline is inclusive: an action is allowed while
/// `block.timestamp <= deadline`, and the job can be expired or finalized from `deadline + 1`.
///
///   Posted --claim--> Claimed --commit--> Committed --reveal--> Revealed --window ends--> Finalized
///     |                 |                    |                     +--challenge / failed audit--> Disputed
///     v                 v                    v                           ProviderUpheld -> Finalized
///   Expired (refund)  Expired (refund, provider penalized)               ProviderFaulted -> Slashed
///
/// Statuses are numbered in that order and only ever increase.
interface IJobMarket {
    enum JobStatus {
        None,
        Posted,
        Claimed,
        Committed,
        Revealed,
        Disputed,
        Finalized,
        Expired,
        Slashed
    }

    /// @notice Protocol parameters, one storage slot, set together by the owner.
    /// @param maxClaimDelay longest a job may wait for a claim (claimBy - post time), seconds
    /// @param commitTimeout claim -> commit, seconds
    /// @param revealTimeout commit -> reveal, seconds
    /// @param challengeWindow reveal -> finalize, seconds: when audits report and anyone may challenge
    /// @param disputeDuration longest a dispute stays open before it is resolved, seconds
    /// @param callbackGasLimit most gas a consumer may ask for its result callback
    /// @param protocolFeeBps share of each fee to the treasury, basis points
    /// @param auditLevyBps share of each fee to the audit reward pool, basis points
    /// @param expiryPenaltyBps share of the collateral a provider loses for a missed commit or reveal
    /// @param seedDelay blocks after the commit block whose hash seeds sampling; reveal waits for it
    /// @param samplingPpm share of jobs audited, parts per million (DESIGN section 5, the README derives
    /// the default from the Proof-of-Sampling bound)
    /// @dev Packed into one slot (32 bytes): 4x uint32 + 2x uint24 + uint24 + 3x uint16 + uint8. Every job
    /// step reads it, so a second slot would cost each of them 2,100 gas.
    struct MarketParams {
        uint24 maxClaimDelay;
        uint32 commitTimeout;
        uint32 revealTimeout;
        uint32 challengeWindow;
        uint32 disputeDuration;
        uint24 callbackGasLimit;
        uint16 protocolFeeBps;
        uint16 auditLevyBps;
        uint16 expiryPenaltyBps;
        uint8 seedDelay;
        uint24 samplingPpm;
    }

    /// @notice What a dApp posts.
    /// @param modelId a registered, active model
    /// @param fee the payment, pulled into escrow; at least the model's price floor
    /// @param claimBy the last second a provider may claim the job
    /// @param inputHash keccak256 of the input tensor blob, for an input served at `inputURI`
    /// @param inputURI where the input blob can be fetched
    /// @param inlineInput the input blob itself (<= 4096 bytes), logged in the event; then `inputHash`
    /// must be zero or equal its hash, and `inputURI` empty
    /// @param callbackGasLimit zero for no callback; else the poster (a contract) receives
    /// `IDinferConsumer.onJobResult` with that much gas when the job is finalized
    struct JobRequest {
        uint256 modelId;
        uint256 fee;
        uint64 claimBy;
        bytes32 inputHash;
        string inputURI;
        bytes inlineInput;
        uint32 callbackGasLimit;
    }

    /// @notice A job's whole state. Only `keccak256(abi.encode(job))` is stored, under its id; callers pass
    /// the struct back and the market checks it against that hash. Events carry every field (see
    /// `offchain/chain/jobs.ts` for the fold), so anyone can rebuild it from the logs.
    /// @param collateral the model's collateral when the job was posted, locked from the provider at claim
    /// @param deadline claimBy, commitBy, revealBy or the end of the challenge window, by status
    /// @param commitBlock block of the commit; the sampling seed is the hash of `commitBlock + seedDelay`
    /// @param result the commitment while Committed, the output root from Revealed on
    /// @param inlineOutput whether the output was revealed inline (one chunk, in the event)
    /// @param sampled whether the job is audited (fixed at reveal from the seed; DESIGN section 5)
    struct Job {
        address poster;
        uint32 modelId;
        uint96 fee;
        uint96 collateral;
        uint32 callbackGasLimit;
        JobStatus status;
        uint32 deadline;
        address provider;
        uint64 commitBlock;
        bytes32 result;
        bool inlineOutput;
        bool sampled;
    }

    event JobPosted(
        uint256 indexed jobId,
        uint256 indexed modelId,
        address indexed poster,
        uint256 fee,
        uint256 collateral,
        uint256 claimBy,
        uint32 callbackGasLimit,
        bytes32 inputHash,
        string inputURI,
        bytes inlineInput
    );
    event JobClaimed(uint256 indexed jobId, address indexed provider, uint256 commitBy);
    event ResultCommitted(uint256 indexed jobId, address indexed provider, bytes32 commitment, uint256 revealBy);
    event ResultRevealed(
        uint256 indexed jobId,
        address indexed provider,
        bytes32 outputRoot,
        uint256 challengeEnd,
        string outputURI,
        bytes inlineOutput,
        bool sampled
    );
    /// @dev The protocol fee and audit levy are `fee - payout` split by the parameters (FeeMath.splitFee).
    event JobFinalized(uint256 indexed jobId, address indexed provider, uint256 payout);
    event JobExpired(uint256 indexed jobId, JobStatus indexed from, uint256 refund, uint256 penalty);
    event JobDisputed(uint256 indexed jobId);
    event DisputeSettled(uint256 indexed jobId, bool indexed providerFaulted, uint256 slashed);
    event CallbackFailed(uint256 indexed jobId, address indexed consumer);
    event Credited(address indexed account, uint256 amount);
    event Withdrawal(address indexed account, uint256 amount);
    event ProtocolFeesWithdrawn(address indexed to, uint256 amount);
    event AuditRewardPaid(address indexed to, uint256 amount);
    event ParamsSet(MarketParams params);
    event VerificationSet(address verification);

    error JobNotFound(uint256 jobId);
    error JobMismatch(uint256 jobId);
    error WrongStatus(uint256 jobId, JobStatus status);
    error DeadlinePassed(uint256 jobId, uint256 deadline, uint256 nowTime);
    error DeadlineNotPassed(uint256 jobId, uint256 deadline, uint256 nowTime);
    error NotJobProvider(uint256 jobId, address caller);
    error ModelInactive(uint256 modelId);
    error FeeBelowFloor(uint256 fee, uint256 floor);
    error FeeTooLarge(uint256 fee);
    error InvalidClaimBy(uint256 claimBy, uint256 earliest, uint256 latest);
    error MissingInput();
    error InputTooLarge(uint256 length, uint256 max);
    error InputHashMismatch(bytes32 given, bytes32 computed);
    error InputUriWithInlineInput();
    error CallbackGasTooHigh(uint256 requested, uint256 max);
    error CallbackNeedsContract(address poster);
    error ZeroCommitment();
    error SeedNotReady(uint256 jobId, uint256 seedBlock, uint256 currentBlock);
    error CommitmentMismatch(uint256 jobId);
    error ZeroOutputRoot();
    error OutputTooLarge(uint256 length, uint256 max);
    error OutputRootMismatch(bytes32 given, bytes32 computed);
    error InlineOutputRequired(uint256 jobId);
    error InsufficientGasForCallback(uint256 required, uint256 available);
    error ModelIdTooLarge(uint256 modelId);
    error TokenTransferMismatch(uint256 expected, uint256 received);
    error NothingToWithdraw(address account);
    error NotVerification(address caller);
    error VerificationAlreadySet();
    error AuditPoolExhausted(uint256 requested, uint256 available);
    error ZeroAddress();
    error InvalidParams(string reason);

    /// @notice Posts a job; the fee is pulled from the caller into escrow.
    /// @dev Fee-on-transfer tokens are rejected (the escrow must hold exactly the fee).
    function postJob(JobRequest calldata request) external returns (uint256 jobId);

    /// @notice Same as postJob, after an EIP-2612 permit for the fee. A permit that fails (already used,
    /// front-run) is ignored when the allowance is there anyway.
    function postJobWithPermit(JobRequest calldata request, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        returns (uint256 jobId);

    /// @notice Claims a posted job for the caller, locking the model's collateral from its stake.
    function claim(uint256 jobId, Job calldata job) external;

    /// @notice Commits to the result: `keccak256(abi.encode(chainId, jobMarket, jobId, provider, outputRoot, salt))`.
    /// The block of this call fixes the sampling seed block (`commitBlock + seedDelay`).
    function commit(uint256 jobId, Job calldata job, bytes32 commitment) external;

    /// @notice Claims a posted job and commits to its result in one transaction, for a provider that ran
    /// the job before claiming it (worth it when a run is short: one transaction fewer per job, and the
    /// result is committed sooner). Same checks and effects as claim then commit; emits only
    /// `ResultCommitted`, whose `provider` is the claimer. A provider that loses the race to another claim
    /// loses only its run.
    function claimAndCommit(uint256 jobId, Job calldata job, bytes32 commitment) external;

    /// @notice Reveals the committed result once the seed block exists. For an inline output (one chunk,
    /// <= 4096 bytes) the contract recomputes the root. Opens the challenge window. Decides whether the job
    /// is sampled (`isSampled`); a sampled job's reveal waits for its auditor's commitment or its audit
    /// deadline (`IVerification.onSampledReveal` may revert to hold it).
    function reveal(
        uint256 jobId,
        Job calldata job,
        bytes32 outputRoot,
        bytes32 salt,
        string calldata outputURI,
        bytes calldata inlineOutput
    ) external;

    /// @notice Pays the provider after the challenge window, if no dispute is open. Anyone may call.
    /// Jobs whose consumer wants an inline output use finalizeWithOutput.
    function finalize(uint256 jobId, Job calldata job) external;

    /// @notice Finalizes and hands `inlineOutput` (checked against the output root) to the consumer.
    function finalizeWithOutput(uint256 jobId, Job calldata job, bytes calldata inlineOutput) external;

    /// @notice Ends a job whose deadline passed: refunds the poster and, if a provider claimed it and
    /// missed its commit or reveal, releases its collateral less a penalty paid to the poster.
    function expire(uint256 jobId, Job calldata job) external;

    /// @notice Withdraws the caller's credits (fees earned, refunds, penalties).
    function withdraw() external returns (uint256 amount);

    /// @notice Verification only: puts a revealed job under dispute (inside its challenge window).
    function openDispute(uint256 jobId, Job calldata job) external;

    /// @notice Verification only: settles a disputed job. Upheld: the provider is paid and the consumer
    /// called back as on finalize (`inlineOutput` as in finalizeWithOutput). Faulted: the poster is
    /// refunded and the provider's collateral is slashed to `slashRecipient`.
    function settleDispute(
        uint256 jobId,
        Job calldata job,
        bool providerFaulted,
        address slashRecipient,
        bytes calldata inlineOutput
    ) external returns (uint256 slashed);

    /// @notice Verification only: credits `amount` from the audit levy pool to `to`.
    function payAuditReward(address to, uint256 amount) external;

    /// @notice Owner: withdraws the accrued protocol fees.
    function withdrawProtocolFees(address to) external returns (uint256 amount);

    /// @notice Owner: sets the parameters; the staking unbonding period must cover the new job lifetime.
    function setParams(MarketParams calldata params) external;

    /// @notice Owner, once: the Verification contract.
    function setVerification(address verification) external;

    /// @notice The sampling seed of a job committed in `commitBlock` (zero while the seed block is not mined
    /// or once it is out of reach), and whether a job with that seed is sampled. A zero seed after the seed
    /// block counts as sampled: waiting must never help a provider escape an audit.
    function samplingOf(uint256 jobId, uint256 commitBlock) external view returns (bytes32 seed, bool sampled);

    /// @notice The stored hash of a job's current state (zero for an unknown id).
    function jobHash(uint256 jobId) external view returns (bytes32);

    /// @notice keccak256(abi.encode(job)): what `jobHash` holds for a job in state `job`.
    function hashJob(Job calldata job) external pure returns (bytes32);
    function jobCount() external view returns (uint256);
    function credits(address account) external view returns (uint256);
    function protocolFees() external view returns (uint256);
    function auditPool() external view returns (uint256);
    function params() external view returns (MarketParams memory);
    function requiredUnbondingPeriod() external view returns (uint256);
    function verification() external view returns (address);
}
