// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IDeposits} from "./IDeposits.sol";
import {IProtocolTerms} from "./IProtocolTerms.sol";
import {IPullPayments} from "./IPullPayments.sol";

/// @title IJobMarket
/// @notice Inference jobs with the fee in escrow: post, claim, commit, reveal, finalize or expire, each
/// judged by the protocol terms version current when it was posted (IProtocolTerms, docs/PROTOCOL.md).
/// @dev Lifecycle (docs/PROTOCOL.md, "Jobs"). Every deadline is inclusive: an action is allowed while
/// `block.timestamp <= deadline`, and the job can be expired or finalized from `deadline + 1`.
///
///   Posted --claim--> Claimed --commit--> Committed --reveal--> Revealed --window ends--> Finalized
///     |                 |                    |                     +--challenge / audit disagrees / audit missing--> Disputed
///     v                 v                    v                           ProviderUpheld -> Finalized
///   Expired (refund)  Expired (refund, provider penalized or, for a withheld sampled reveal, slashed)
///                                                                        ProviderFaulted -> Slashed
///
/// Statuses are numbered in that order and only ever increase.
/// A batch's jobs (IBatchMarket) have ids reserved here (`reserveJobIds`) and no state until one is split out:
/// `importJob` then gives it its state as Committed (sampled, before its batch's reveal) or Revealed (to be
/// challenged), and `JobImported` starts its record. From there every rule above applies to it unchanged.
/// What the market owes (fees earned, refunds, penalties, rewards) is credited and withdrawn (IPullPayments).
interface IJobMarket is IPullPayments, IDeposits {
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

    /// @notice What a dApp posts.
    /// @param modelId a registered, active model
    /// @param fee the payment, pulled into escrow; at least the model's price floor
    /// @param claimBy the last second a provider may claim the job
    /// @param inputHash SHA-256 of the input tensor blob (its blob id), for an input served at `inputURI`
    /// @param inputURI where the input blob can be fetched
    /// @param inlineInput the input blob itself (<= 4096 bytes), logged in the event; then `inputHash`
    /// must be zero or equal its hash, and `inputURI` empty
    /// @param callbackGasLimit zero for no callback; else the poster (a contract) receives
    /// `IDinferConsumer.onJobResult` with that much gas when the job is finalized
    /// @param inlineOutput the result must be revealed inline (one chunk, <= 4096 bytes, in the event), so
    /// that a consumer's callback receives the output itself and not only its root
    struct JobRequest {
        uint256 modelId;
        uint256 fee;
        uint64 claimBy;
        bytes32 inputHash;
        string inputURI;
        bytes inlineInput;
        uint32 callbackGasLimit;
        bool inlineOutput;
    }

    /// @notice A job request signed off-chain by its poster (`postSignedAndCommit`).
    /// @param provider the only provider that may post it; zero: any
    /// @param minCollateral the least collateral the job may carry (the model's when the poster signed)
    /// @param salt any value: two otherwise equal requests with different salts are two jobs
    struct SignedJob {
        JobRequest request;
        address poster;
        address provider;
        uint256 minCollateral;
        uint256 salt;
    }

    /// @notice A job's whole state. Only `keccak256(abi.encode(job))` is stored, under its id; callers pass
    /// the struct back and the market checks it against that hash. Events carry every field (see
    /// `offchain/chain/jobs.ts` for the fold), so anyone can rebuild it from the logs.
    /// @param terms the terms version current when the job was posted: every rule the job is judged by
    /// (timeouts, sampling rate, seed delay, fee split, penalties, bonds, rewards) comes from it, whatever
    /// governance sets later
    /// @param collateral the model's collateral when the job was posted, locked from the provider at claim
    /// @param deadline claimBy, commitBy, revealBy or the end of the challenge window, by status
    /// @param commitBlock block of the commit; the sampling seed is that of `commitBlock + seedDelay`, and the
    /// verifier set the job's auditor is drawn from is the one of this block
    /// @param result the commitment while Committed, the output root from Revealed on
    /// @param inlineOutput until the reveal: the poster requires an inline output; from the reveal: the
    /// output was revealed inline
    /// @param sampled whether the job is audited (fixed at reveal from the seed)
    struct Job {
        address poster;
        uint32 modelId;
        uint32 terms;
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
        string inputURI,
        bytes inlineInput,
        uint256 fee,
        uint256 claimBy,
        uint32 callbackGasLimit,
        bool inlineOutput,
        uint256 collateral,
        bytes32 inputHash,
        uint32 terms
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
    /// @dev The protocol fee and audit levy are `fee - payout` split by the job's terms (FeeMath.splitFee).
    event JobFinalized(uint256 indexed jobId, address indexed provider, uint256 payout);
    /// @dev `penalty`: what the provider lost (the expiry penalty, or its whole collateral for a withheld
    /// reveal of a sampled job); `sampled` whether the job counted as sampled (false before a commit).
    event JobExpired(uint256 indexed jobId, JobStatus indexed from, uint256 refund, uint256 penalty, bool sampled);
    event JobDisputed(uint256 indexed jobId);
    event DisputeSettled(uint256 indexed jobId, bool indexed providerFaulted, uint256 slashed);
    event CallbackFailed(uint256 indexed jobId, address indexed consumer);
    event ProtocolFeesWithdrawn(address indexed to, uint256 amount);
    event AuditRewardPaid(address indexed to, uint256 amount);
    /// @dev One more location of a revealed job's output (announceOutput).
    event OutputAnnounced(uint256 indexed jobId, address indexed provider, string outputURI);
    event AuditPoolFunded(address indexed from, uint256 amount);
    /// @dev The terms contract made `version` current: jobs posted from now on are judged by it.
    event TermsAdopted(uint32 indexed version);
    event VerificationSet(address verification);
    event BatchMarketSet(address batchMarket);
    /// @dev A job of a batch (IBatchMarket) split out into this market with its whole state: from here on it is
    /// an ordinary job (the fold starts its record here, as with JobPosted; its inputs are in `BatchPosted`).
    event JobImported(uint256 indexed jobId, Job job);
    /// @notice A signed request its poster cancelled before anyone posted it.
    event SignedJobCancelled(uint256 indexed jobId, address indexed poster);
    /// @notice A call of a `tryMulticall` reverted and was skipped: `index` is its place in the list, `reason`
    /// its revert data (the market's own error, as the call alone would have reverted with).
    event CallSkipped(uint256 index, bytes reason);

    /// @notice Posts a job; the fee is pulled from the caller into escrow. The job is judged by the terms
    /// version current now.
    /// @dev Fee-on-transfer tokens are rejected (the escrow must hold exactly the fee).
    function postJob(JobRequest calldata request) external returns (uint256 jobId);

    /// @notice Same as postJob, with the fee debited from the caller's deposit (`deposit`) instead of pulled: no
    /// token transfer per job (about 15,000 gas less a post).
    function postJobFromDeposit(JobRequest calldata request) external returns (uint256 jobId);

    /// @notice Same as postJob, after an EIP-2612 permit for the fee. A permit that fails (already used,
    /// front-run) is ignored when the allowance is there anyway.
    function postJobWithPermit(JobRequest calldata request, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        returns (uint256 jobId);

    /// @notice Posts a job a dApp signed off-chain (EIP-712 `SignedJob`, see `signedJobDigest`) and commits the
    /// caller's result to it, in one transaction: the provider that ran the request submits it. The fee comes
    /// from `signed.poster`'s deposit; `signed.provider` is the only account that may submit it (zero: any);
    /// the model's collateral must be at least `signed.minCollateral` (what the poster saw). The job's id is
    /// the digest with the top bit set (apart from sequential ids); a request is posted once. The job then goes
    /// on as one committed by `claimAndCommit`.
    function postSignedAndCommit(SignedJob calldata signed, bytes calldata signature, bytes32 commitment)
        external
        returns (uint256 jobId);

    /// @notice Spends a request its poster (the caller) signed and no longer wants posted: its id's slot is
    /// taken, so `postSignedAndCommit` of it reverts `SignedJobUsed`. Reverts `SignedJobUsed` once posted.
    function cancelSignedJob(SignedJob calldata signed) external returns (uint256 jobId);

    /// @notice The EIP-712 digest a poster signs for `postSignedAndCommit` (domain "dinfer JobMarket", "1",
    /// this chain and market): `SignedJob(uint256 modelId,uint256 fee,uint64 claimBy,bytes32 inputHash,
    /// string inputURI,bytes inlineInput,uint32 callbackGasLimit,bool inlineOutput,address poster,
    /// address provider,uint256 minCollateral,uint256 salt)`.
    function signedJobDigest(SignedJob calldata signed) external view returns (bytes32);

    /// @notice Claims a posted job for the caller, locking the model's collateral from its stake.
    function claim(uint256 jobId, Job calldata job) external;

    /// @notice Commits to the result: `keccak256(abi.encode(chainId, jobMarket, jobId, provider, outputRoot, salt))`.
    /// The block of this call fixes the sampling seed block (`commitBlock + seedDelay`) and the verifier set
    /// the auditor is drawn from.
    function commit(uint256 jobId, Job calldata job, bytes32 commitment) external;

    /// @notice Claims a posted job and commits to its result in one transaction, for a provider that ran
    /// the job before claiming it (worth it when a run is short: one transaction fewer per job, and the
    /// result is committed sooner). Same checks and effects as claim then commit; emits only
    /// `ResultCommitted`, whose `provider` is the claimer. A provider that loses the race to another claim
    /// loses only its run.
    function claimAndCommit(uint256 jobId, Job calldata job, bytes32 commitment) external;

    /// @notice Runs each call as `multicall` does (a delegatecall of the market to itself, the caller kept),
    /// except that a call that reverts is skipped, its effects undone and its revert data emitted in
    /// `CallSkipped`, while the others go on. For steps another account may take first: a rival's claim
    /// mined before the group's costs the group that one job, not every job in it. The outcome is what a
    /// `multicall` of the calls that succeeded would have done.
    /// @return ok Whether each call succeeded.
    function tryMulticall(bytes[] calldata data) external returns (bool[] memory ok);

    /// @notice Reveals the committed result once the seed block exists and while its seed is in reach
    /// (at most 256 blocks after it). For an inline output (one chunk, <= 4096 bytes) the contract recomputes
    /// the root; a job posted with `inlineOutput` must be revealed inline. Opens the challenge window.
    /// Decides whether the job is sampled (`samplingOf`); a sampled job's reveal waits for its auditor's
    /// commitment or its audit deadline (`IVerification.onSampledReveal` may revert to hold it, and sends the
    /// job to a committee when its auditor missed the audit).
    function reveal(
        uint256 jobId,
        Job calldata job,
        bytes32 outputRoot,
        bytes32 salt,
        string calldata outputURI,
        bytes calldata inlineOutput
    ) external;

    /// @notice Pays the provider after the challenge window, if no dispute is open. Anyone may call.
    /// Jobs whose consumer wants an inline output use finalizeWithOutput. A sampled job whose auditor
    /// committed but never revealed goes to a committee instead (it never finalizes on the provider's word
    /// alone).
    function finalize(uint256 jobId, Job calldata job) external;

    /// @notice Finalizes and hands `inlineOutput` (checked against the output root) to the consumer.
    function finalizeWithOutput(uint256 jobId, Job calldata job, bytes calldata inlineOutput) external;

    /// @notice Ends a job whose deadline passed (or, when Committed, whose seed went out of reach): refunds
    /// the poster. A provider that claimed and missed its commit loses `expiryPenaltyBps` of its collateral
    /// to the poster; one that missed its reveal loses the same when the job is shown not sampled, and its
    /// whole collateral when the job is sampled or its seed is out of reach (withholding a reveal never costs
    /// less than a fault): the poster gets the expiry penalty's share, the auditor that committed blind the
    /// finder's share, the audit pool the rest.
    function expire(uint256 jobId, Job calldata job) external;

    /// @notice Anyone: adds `amount` tokens to the audit pool (audit rewards and committee pay).
    function fundAuditPool(uint256 amount) external;

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

    /// @notice Verification only: credits `amount` from the audit pool to `to` (an audit reward, a voter's pay),
    /// or as much as the pool holds; returns what was paid.
    function payAuditReward(address to, uint256 amount) external returns (uint256 paid);

    /// @notice The job's provider, while the job is Revealed or Disputed: announces one more location of its
    /// output (everyone checks the bytes against the output root). Emits `OutputAnnounced`; stores nothing.
    function announceOutput(uint256 jobId, Job calldata job, string calldata outputURI) external;

    /// @notice Owner: withdraws the accrued protocol fees.
    function withdrawProtocolFees(address to) external returns (uint256 amount);

    /// @notice The terms contract only: makes `version` (whose market half is `params`) current for jobs
    /// posted from now on.
    function adoptTerms(uint32 version, IProtocolTerms.MarketParams calldata params) external;

    /// @notice Owner, once: the Verification contract.
    function setVerification(address verification) external;

    /// @notice Owner, once: the BatchMarket, which may reserve job ids and import split jobs.
    function setBatchMarket(address batchMarket) external;

    /// @notice BatchMarket only: reserves `count` job ids for a batch (no state is stored for them).
    /// @param count jobs in the batch
    /// @return firstJobId the first reserved id; the others follow
    /// @return version the current terms version, which the batch's jobs are judged by
    function reserveJobIds(uint256 count) external returns (uint256 firstJobId, uint32 version);

    /// @notice BatchMarket only: makes a reserved job an ordinary job with state `job` (Committed when split for
    /// its audit, Revealed when split to be challenged). Each reserved id once. The BatchMarket sends its fee
    /// along; its collateral stays locked in Staking for it.
    /// @param jobId a reserved id
    /// @param job its state
    function importJob(uint256 jobId, Job calldata job) external;

    /// @notice The BatchMarket (zero until the owner sets it).
    /// @return its address
    function batchMarket() external view returns (address);

    /// @notice The sampling seed of a job committed in `commitBlock`, and whether the job is sampled.
    /// Before the seed block is mined: (0, false). A seed out of reach (more than 256 blocks after the seed
    /// block) counts as sampled: waiting must never help a provider escape an audit. A seed within reach
    /// that the randomness source has not delivered yet reads (0, false), as before the seed block (the
    /// reveal waits for it too). `terms` is the job's terms version.
    /// @param jobId the job
    /// @param commitBlock the block the job was committed in
    /// @param terms the job's terms version
    /// @return seed the sampling seed (zero: not known yet, or out of reach)
    /// @return sampled whether the job is audited
    function samplingOf(uint256 jobId, uint256 commitBlock, uint256 terms) external view returns (bytes32 seed, bool sampled);

    /// @notice The stored hash of a job's current state, `keccak256(abi.encode(job))` (zero for an unknown id).
    /// @param jobId the job
    /// @return the hash
    function jobHash(uint256 jobId) external view returns (bytes32);

    /// @notice How many jobs were posted; ids run from 1 to this.
    /// @return the last job id
    function jobCount() external view returns (uint256);

    /// @notice Protocol fees accrued and not yet withdrawn by the owner.
    /// @return the amount
    function protocolFees() external view returns (uint256);

    /// @notice The audit pool: what audit rewards and committee pay are paid from.
    /// @return the amount
    function auditPool() external view returns (uint256);

    /// @notice The market half of the current terms version (what a job posted now gets).
    /// @return the parameters
    function params() external view returns (IProtocolTerms.MarketParams memory);

    /// @notice The current terms version (new jobs get it).
    /// @return the version
    function termsVersion() external view returns (uint32);

    /// @notice The versioned protocol terms (IProtocolTerms).
    /// @return the terms contract
    function terms() external view returns (IProtocolTerms);

    /// @notice The Verification contract (zero until the owner sets it).
    /// @return its address
    function verification() external view returns (address);

    /// @notice The protocol version this deployment speaks: which hashed formats its jobs are judged by
    /// (docs/PROTOCOL.md, "Protocol version"). 2: blob ids (`inputHash`) and output roots on SHA-256
    /// (docs/PROTOCOL.md section 5); 1 was the keccak-256 formats before, from deployments that lack this getter.
    /// @dev The daemons (worker, verifier) read it at start, as do the CLI and the SDK when they connect, and
    /// refuse a deployment whose version they do not speak: against another version they would judge honest
    /// work wrong. Any change to a hashed format bumps it.
    /// @return the version
    function PROTOCOL_VERSION() external view returns (uint256);
}
