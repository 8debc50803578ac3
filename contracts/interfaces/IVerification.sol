// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IJobMarket} from "./IJobMarket.sol";

/// @title IVerification
/// @notice Spot-check audits, challenges and committee disputes over revealed results (DESIGN section 5).
/// @dev Flow of a sampled job (the market decides sampling at reveal from `JobMarket.samplingOf`):
///   1. after the seed block, the auditor drawn by `auditorOf` re-runs the job and `commitAudit`s its
///      output root blind, before the provider may reveal (`onSampledReveal` holds the reveal until the
///      audit commitment or `auditCommitBy`);
///   2. after the provider's reveal, the auditor `revealAudit`s its root and a verdict before the
///      challenge window ends: Agree is paid `auditReward` from the market's audit pool; Disagree opens
///      a dispute backed by the auditor's stake (no bond is posted: `challengeBond` is slashed from the
///      auditor if the committee upholds the provider);
///   3. an auditor that missed its commit or reveal loses `auditorPenalty` (`penalizeAuditor`) and the
///      job goes on as unsampled.
/// The auditor is `drawVerifier` over the live verifier set: while the set changes (stakes, role changes),
/// the draw for the same seed can change too. The blind auditor is recorded when it commits; a missed commit
/// is charged to the auditor drawn when the provider reveals. Verifier daemons therefore re-check
/// `auditorOf` for committed jobs as blocks come.
/// A seed out of reach (the provider waited more than 256 blocks) samples the job and the audit happens
/// after the reveal: the auditor is drawn at the reveal from the previous block's seed and may commit and
/// reveal during the challenge window. Known weakness: such a provider sees that seed before it reveals, so
/// it can pick its reveal block, and with it its auditor; a deployment keeps revealTimeout well under 256
/// block times (Sepolia: 1800 s against 256 x 12 s) so that only a stalled chain reaches this path.
///
/// Any revealed job may be `challenge`d with `challengeBond` during its window; at most one dispute per job.
/// A dispute's committee of `committeeSize` is drawn (`drawCommittee`, anyone) from the seed of the block
/// `seedDelay` after the dispute opened, excluding the provider, the challenger and the auditor, and no
/// later than `disputeDuration - voteCommitTimeout - voteRevealTimeout` after the dispute opened, so that
/// every dispute can be resolved within the market's `disputeDuration` (the span the staking unbonding
/// period covers). Fewer eligible verifiers than `committeeSize`: the committee is the largest odd number
/// of them; none: nothing is drawn and the dispute resolves as no quorum. Members
/// commit (`commitVote`) then reveal (`revealVote`) ProviderCorrect or ProviderWrong. `resolve` (anyone,
/// after the vote reveal deadline, or after `disputeDuration` if no committee could be drawn) settles:
///   - majority ProviderWrong: the provider's collateral is slashed to this contract and split: the
///     challenger `challengerRewardBps`, the majority voters `voterRewardBps` (equal shares), the rest
///     to the treasury; the parts sum exactly to the slash. The dApp is refunded by the market. A bond
///     is returned to its challenger.
///   - majority ProviderCorrect: the provider is paid as on finalize; the bond (or the auditor's slashed
///     `challengeBond`) pays the provider `providerRewardBps`, the majority voters `voterRewardBps`, the
///     rest to the treasury. Voter shares are equal, rounded down; every rounding goes to the treasury.
///   - a tie or no quorum (no revealed vote): the provider is upheld and a bond is returned.
/// Voters that did not reveal, or revealed with the minority, lose `voterPenalty` of their stake (to the
/// treasury); after a tie only those that did not reveal do. Self-challenge is a net loss: the challenger
/// gets back at most `challengerRewardBps` of what the provider loses, and an upheld provider at most
/// `providerRewardBps` of the bond, both below 100%. Known weakness: the committee is drawn from the live
/// verifier set once its seed is known, so whoever can add or remove verifiers between the seed block and
/// the draw can steer it; anyone may draw as soon as the seed block is mined.
/// Amounts owed by this contract are pull payments: `credits` (bonds back, rewards) and the treasury.
/// Trust: the owner sets parameters (two-step ownership) and withdraws the treasury.
interface IVerification {
    enum AuditState {
        None,
        /// drawn and recorded (at the provider's reveal), no commitment
        Drawn,
        Committed,
        Agreed,
        Disagreed,
        /// missed its blind commit (recorded at the provider's reveal); penalizable
        Missed,
        /// penalized for a missed commit or reveal (`penalizeAuditor`); final
        Penalized
    }

    enum Verdict {
        Agree,
        Disagree
    }

    enum Vote {
        None,
        ProviderCorrect,
        ProviderWrong
    }

    enum DisputeState {
        None,
        /// open, committee not drawn yet
        Open,
        /// committee drawn, voting
        Voting,
        Resolved
    }

    /// @notice Parameters, set together by the owner.
    /// @param challengeBond bond a challenger posts; slashed from an auditor whose Disagree is overturned
    /// @param auditReward paid from the market's audit pool for each revealed audit
    /// @param auditorPenalty taken from an auditor's stake for a missed audit commit or reveal
    /// @param voterPenalty taken from a committee member's stake for a missed or minority vote
    /// @param auditCommitTimeout seconds after the provider's commit during which its auditor may commit
    /// blind (the provider's reveal waits for it); above zero and below the market's revealTimeout
    /// @param voteCommitTimeout seconds after the committee is drawn to commit votes; above zero
    /// @param voteRevealTimeout seconds after the vote commit deadline to reveal votes; above zero.
    /// voteCommitTimeout + voteRevealTimeout < the market's disputeDuration; the difference is the time
    /// left to mine the committee seed block and draw (`seedDelay` blocks: keep it well above seedDelay
    /// times the block time, which this check cannot know)
    /// @param committeeSize odd, 1..13 (DESIGN default 3): a draw excludes the provider, the challenger,
    /// the auditor and the members drawn before it, and `Staking.drawVerifier` takes at most 16 exclusions
    /// @param challengerRewardBps share of a slash to the challenger (the auditor when it disagreed); < 10000
    /// @param voterRewardBps share of a slash, or of a forfeited bond, to the majority voters;
    /// challengerRewardBps + voterRewardBps <= 10000
    /// @param providerRewardBps share of a forfeited bond to the upheld provider; < 10000 and
    /// providerRewardBps + voterRewardBps <= 10000
    struct VerificationParams {
        uint96 challengeBond;
        uint96 auditReward;
        uint96 auditorPenalty;
        uint96 voterPenalty;
        uint32 auditCommitTimeout;
        uint32 voteCommitTimeout;
        uint32 voteRevealTimeout;
        uint8 committeeSize;
        uint16 challengerRewardBps;
        uint16 voterRewardBps;
        uint16 providerRewardBps;
    }

    struct Audit {
        address auditor;
        AuditState state;
        /// the auditor's commitment (same shape as a provider's, with the auditor's address)
        bytes32 commitment;
        /// the auditor's revealed output root
        bytes32 outputRoot;
    }

    struct Dispute {
        /// the challenger, or the auditor when its Disagree opened the dispute
        address challenger;
        /// the bond posted (zero for an auditor's dispute)
        uint96 bond;
        DisputeState state;
        /// the block the dispute opened in; the committee seed is the block `seedDelay` after it
        uint64 openedBlock;
        uint64 openedAt;
        uint64 voteCommitBy;
        uint64 voteRevealBy;
        bool byAuditor;
        /// 0 upheld (or not resolved), 1 faulted
        bool providerFaulted;
        /// drawn members (empty until drawn)
        address[] committee;
    }

    /// @dev Emitted from the provider's reveal when it records an audit: `late` false, an auditor that missed
    /// its blind commit by `auditCommitBy`; `late` true, an auditor drawn for a stale seed, who may commit
    /// and reveal until `auditCommitBy` (the end of the challenge window).
    event AuditorDrawn(uint256 indexed jobId, address indexed auditor, uint256 auditCommitBy, bool late);
    event AuditCommitted(uint256 indexed jobId, address indexed auditor, bytes32 commitment);
    event AuditRevealed(
        uint256 indexed jobId, address indexed auditor, bytes32 outputRoot, Verdict verdict, string outputURI
    );
    event AuditorPenalized(uint256 indexed jobId, address indexed auditor, uint256 penalty);
    event ChallengeOpened(uint256 indexed jobId, address indexed challenger, uint256 bond, bool byAuditor);
    event CommitteeDrawn(uint256 indexed jobId, address[] committee, uint256 voteCommitBy, uint256 voteRevealBy);
    event VoteCommitted(uint256 indexed jobId, address indexed voter, bytes32 commitment);
    event VoteRevealed(uint256 indexed jobId, address indexed voter, Vote vote);
    event VoterPenalized(uint256 indexed jobId, address indexed voter, uint256 penalty);
    /// @dev `slashed`: what the losing side's stake gave: the provider's collateral when faulted, an
    /// overturned auditor's `challengeBond`, else zero (a forfeited bond is not a slash).
    event DisputeResolved(
        uint256 indexed jobId, bool indexed providerFaulted, uint256 slashed, uint256 votesCorrect, uint256 votesWrong
    );
    event Credited(address indexed account, uint256 amount);
    event Withdrawal(address indexed account, uint256 amount);
    event TreasuryCredited(uint256 amount);
    event TreasuryWithdrawn(address indexed to, uint256 amount);
    event ParamsSet(VerificationParams params);

    error NotMarket(address caller);
    error JobMismatch(uint256 jobId);
    error WrongJobStatus(uint256 jobId, IJobMarket.JobStatus status);
    error NotSampled(uint256 jobId);
    error SeedNotReady(uint256 jobId);
    error NotAuditor(uint256 jobId, address caller);
    error AuditPending(uint256 jobId, uint256 auditCommitBy);
    error AuditClosed(uint256 jobId);
    error WrongAuditState(uint256 jobId, AuditState state);
    error AuditCommitmentMismatch(uint256 jobId);
    error ZeroCommitment();
    error ZeroOutputRoot();
    error DisputeExists(uint256 jobId);
    error NoDispute(uint256 jobId);
    error WrongDisputeState(uint256 jobId, DisputeState state);
    error CommitteeSeedNotReady(uint256 jobId, uint256 seedBlock);
    error NotCommitteeMember(uint256 jobId, address caller);
    error VoteAlreadyCommitted(uint256 jobId, address voter);
    error VoteAlreadyRevealed(uint256 jobId, address voter);
    error VoteCommitmentMismatch(uint256 jobId, address voter);
    error InvalidVote();
    error VotingClosed(uint256 jobId, uint256 deadline, uint256 nowTime);
    error VotingStillOpen(uint256 jobId, uint256 deadline, uint256 nowTime);
    error DisputeStillOpen(uint256 jobId, uint256 resolvableAt, uint256 nowTime);
    error DeadlineNotPassed(uint256 jobId, uint256 deadline, uint256 nowTime);
    error NothingToPenalize(uint256 jobId);
    error TokenTransferMismatch(uint256 expected, uint256 received);
    error NothingToWithdraw(address account);
    error InvalidParams(string reason);
    error ZeroAddress();

    // ---------------------------------------------------------------- audits

    /// @notice JobMarket only, from `reveal` of a sampled job (`job` is its state as committed, `seed` its
    /// sampling seed, zero when out of reach). Reverts `AuditPending` while the drawn auditor may still
    /// commit blind; otherwise records the audit (a missed commit, or a late audit for a stale seed). With
    /// no eligible verifier to draw, records nothing and the reveal goes on.
    function onSampledReveal(uint256 jobId, IJobMarket.Job calldata job, bytes32 seed) external;

    /// @notice The auditor drawn for a committed job (zero address if the job is not sampled or its seed is
    /// not available): `Staking.drawVerifier(uint256(keccak256(abi.encode(seed, jobId, "audit"))), [provider])`.
    /// Once recorded (commit or reveal), the recorded auditor. Reverts `JobMismatch` for a state that is not
    /// the stored one.
    function auditorOf(uint256 jobId, IJobMarket.Job calldata job) external view returns (address);

    /// @notice Last second the auditor of a job committed with `job` may commit blind:
    /// `job.deadline - revealTimeout + auditCommitTimeout` (the commit time plus the audit timeout), capped at
    /// `job.deadline - 1` so that a parameter change never leaves the provider no second to reveal in.
    function auditCommitBy(IJobMarket.Job calldata job) external view returns (uint256);

    /// @notice The drawn auditor commits its output root blind: `commitment` =
    /// `keccak256(abi.encode(chainId, jobMarket, jobId, auditor, outputRoot, salt))`. `job` is the job's current
    /// state: Committed (until `auditCommitBy`), or Revealed (or Disputed) with a late audit (stale seed), until
    /// the end of the challenge window.
    function commitAudit(uint256 jobId, IJobMarket.Job calldata job, bytes32 commitment) external;

    /// @notice The auditor reveals its output root and verdict while the job is Revealed (or Disputed by
    /// someone else) and inside its challenge window. Equal roots are always an agreement. Agree:
    /// `auditReward` (at most what the audit pool holds) credited in the market. Disagree: a dispute opens
    /// with the auditor as challenger (no bond); if the job is already disputed, the verdict is only recorded.
    function revealAudit(
        uint256 jobId,
        IJobMarket.Job calldata job,
        bytes32 outputRoot,
        bytes32 salt,
        Verdict verdict,
        string calldata outputURI
    ) external;

    /// @notice Anyone: penalizes the recorded auditor of a job that missed its audit (no commitment by
    /// the time the provider revealed, or no reveal by the end of the challenge window). Once per job.
    function penalizeAuditor(uint256 jobId, IJobMarket.Job calldata job) external;

    // ---------------------------------------------------------------- disputes

    /// @notice Challenges a revealed job inside its challenge window, posting `challengeBond`.
    function challenge(uint256 jobId, IJobMarket.Job calldata job) external;

    /// @notice Anyone, once the committee seed block (dispute block + seedDelay) is mined and until
    /// `openedAt + disputeDuration - voteCommitTimeout - voteRevealTimeout`: draws the committee. Member `i`
    /// is `Staking.drawVerifier(uint256(keccak256(abi.encode(seed, jobId, "committee", i))), excluded)`; the
    /// seed is the market's randomness for the seed block, or the previous block's hash once that is out of
    /// reach. With nobody eligible the dispute stays open (a later call may draw) and resolves as no quorum.
    function drawCommittee(uint256 jobId) external;

    /// @notice A committee member commits its vote, until `voteCommitBy`:
    /// `keccak256(abi.encode(chainId, verification, jobId, voter, uint8(vote), salt))`.
    function commitVote(uint256 jobId, bytes32 commitment) external;

    /// @notice A committee member reveals its committed vote: once the commit phase is over (after
    /// `voteCommitBy`, or as soon as every member committed) and until `voteRevealBy`.
    function revealVote(uint256 jobId, Vote vote, bytes32 salt) external;

    /// @notice Anyone: settles a dispute after its vote reveal deadline (or once every member revealed), or
    /// after the market's `disputeDuration` when no committee was drawn. `job` is the job's state (Disputed);
    /// `inlineOutput` the revealed inline output when the consumer wants a callback with it (else empty).
    function resolve(uint256 jobId, IJobMarket.Job calldata job, bytes calldata inlineOutput) external;

    // ---------------------------------------------------------------- funds and governance

    /// @notice Withdraws the caller's credits (bonds back, challenger, provider and voter shares).
    function withdraw() external returns (uint256 amount);

    /// @notice Owner: withdraws the treasury (penalties, the rest of each split) to `to`.
    function withdrawTreasury(address to) external returns (uint256 amount);

    /// @notice Owner: sets every parameter at once, checked against each other and the market's parameters.
    function setParams(VerificationParams calldata params) external;

    // ---------------------------------------------------------------- views

    function params() external view returns (VerificationParams memory);
    function audit(uint256 jobId) external view returns (Audit memory);
    function dispute(uint256 jobId) external view returns (Dispute memory);
    function voteOf(uint256 jobId, address voter) external view returns (bytes32 commitment, Vote vote);
    function credits(address account) external view returns (uint256);
    function treasury() external view returns (uint256);
}
