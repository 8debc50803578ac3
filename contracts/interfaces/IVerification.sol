// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IJobMarket} from "./IJobMarket.sol";
import {IProtocolTerms} from "./IProtocolTerms.sol";
import {IPullPayments} from "./IPullPayments.sol";

/// @title IVerification
/// @notice Blind audits of sampled jobs, challenges and committee disputes over revealed results
/// (docs/PROTOCOL.md, "The verification game"). Every rule applied to a job comes from the job's terms
/// version (`IProtocolTerms.termsOf(job.terms)`), fixed when it was posted.
/// @dev Flow of a sampled job (the market decides sampling at reveal from `JobMarket.samplingOf`):
///   1. The auditor is drawn, stake-weighted, from the verifier set as it was at the job's commit block,
///      with the job's sampling seed, excluding the provider and the poster (`auditorOf`). Both are fixed
///      before the seed exists, so no later transaction changes who audits.
///   2. The auditor re-runs the job and `commitAudit`s its output root blind by `auditCommitBy`; the
///      provider's reveal is held until then (`onSampledReveal` reverts `AuditPending`). An auditor that
///      missed its commit loses `auditorPenalty` (at least the replacing committee's pay) and the job goes to
///      a committee at the reveal: a sampled job never finalizes on the provider's word alone.
///   3. After the provider's reveal, the auditor `revealAudit`s its root and verdict inside the challenge
///      window. Equal roots are an Agree. Disagree opens a dispute backed by the auditor's stake. Agree is
///      paid `auditRewardBps` of the job's fee from the audit pool only when the job is paid (finalized or upheld): an Agree
///      with a result later shown wrong costs the auditor `challengeBond` instead. An Agree whose root
///      differs from the provider's is rechecked by a committee with probability `recheckPpm`, from the
///      seed of the block `seedDelay` after the auditor's commit (unknown when it committed); the committee
///      then judges the auditor's output too, and a wrong one costs `challengeBond`. A committed audit never
///      revealed costs `challengeBond` too (so a lazy auditor gains nothing by keeping quiet), and the job
///      goes to a committee when it would have finalized.
///
/// Any revealed job may be `challenge`d with `challengeBond` during its window; at most one dispute per job.
/// A dispute's committee of `committeeSize` seats is drawn (`drawCommittee`, anyone) stake-weighted, with
/// replacement, from the verifier set as it was at the job's commit block (before the provider could know
/// whether it is audited), with the seed of a block fixed when the dispute opened (`seedDelay` blocks
/// later), excluding the provider, the poster, the challenger and the auditor. A member drawn for several seats votes once and its vote counts per seat (pay and penalties
/// too), so splitting stake over accounts buys no extra seat. A seed that went out of
/// reach before anyone drew is replaced by that of a block `seedDelay` in the future (`CommitteeReseeded`):
/// no party ever picks among seeds it knows. The committee is drawn no later than `openedAt + disputeDuration
/// - voteCommitTimeout - voteRevealTimeout`; seats whose draw found nobody eligible are dropped (keeping an
/// odd number); none gives no committee and the dispute resolves as no quorum. Members commit
/// (`commitVote`) then reveal (`revealVote`): ProviderCorrect, ProviderWrong, or AuditorWrong (the provider's
/// output is right, the agreeing auditor's is not). `resolve` (anyone, after the reveal deadline, once
/// every member revealed, or after `disputeDuration` with no committee) settles on a quorum: more than half
/// of the seats must reveal the same side, so a lone vote never slashes.
///   - ProviderWrong quorum: the market refunds the poster and slashes the provider's collateral to this
///     contract: first `challengerRewardBps` to the finder (the auditor when it disagreed blind, else the
///     poster, so a provider that challenges itself from another account gets nothing back), then what a
///     challenger's bond paid its committee back to the challenger, the rest to the treasury; an auditor
///     that agreed loses `challengeBond`.
///   - provider upheld by a quorum: the provider is paid as on finalize; a forfeited bond and the stake of
///     an auditor whose Disagree was overturned pay the provider `providerRewardBps`, the rest goes to the
///     treasury; an auditor whose output was judged wrong loses `challengeBond`; an agreeing auditor is paid.
///   - no quorum: the provider is upheld, the bond returned, nobody's verdict judged.
/// Every seat whose member revealed the outcome's vote is paid, whichever way the outcome went: for a
/// dispute the protocol opened, `voterRewardBps` of the job's fee from the audit pool; for a challenge,
/// `challengeBond x (10000 - providerRewardBps) / 10000 / seats` out of the bond (reimbursed to the
/// challenger from the slash when the provider is faulted), so that nobody can drain the pool by opening
/// disputes at will. Each seat of a member that did not reveal, or revealed against the outcome, loses
/// `voterPenalty`.
/// Output availability: an output is judged on its content, not on one server. The provider may announce
/// more locations during the window and a dispute (`JobMarket.announceOutput`), and members try every announced
/// location, the provider's URI and an equal-root auditor's copy until their commit deadline; an output no
/// location serves by then counts as wrong.
/// Amounts owed by this contract are pull payments: `credits` (bonds back, finder and provider shares,
/// rewards; IPullPayments) and the treasury.
/// Trust: the owner withdraws the treasury; parameters are the market's terms.
interface IVerification is IPullPayments {
    enum AuditState {
        None,
        /// the drawn auditor committed its root blind
        Committed,
        Agreed,
        Disagreed,
        /// the drawn auditor missed its blind commit (recorded and penalized at the provider's reveal)
        Missed,
        /// the auditor committed but did not reveal in the window (recorded and penalized when the job was due)
        Unrevealed
    }

    enum Verdict {
        Agree,
        Disagree
    }

    /// @dev AuditorWrong: the provider's output is right, and the agreeing auditor's own output is not.
    enum Vote {
        None,
        ProviderCorrect,
        ProviderWrong,
        AuditorWrong
    }

    enum DisputeState {
        None,
        /// open, committee not drawn yet
        Open,
        /// committee drawn, voting
        Voting,
        Resolved
    }

    enum DisputeReason {
        /// someone challenged with a bond
        Challenge,
        /// the auditor revealed Disagree
        AuditDisagreed,
        /// the drawn auditor missed its blind commit
        AuditMissed,
        /// the auditor committed but never revealed
        AuditUnrevealed,
        /// an Agree with a different root drew a committee recheck
        Recheck,
        /// a redundant job's seats disagreed (or a lone seat revealed, or its agreement was sampled): each revealed
        /// seat is judged (IReplicaMarket)
        Replicas
    }

    struct Audit {
        address auditor;
        AuditState state;
        /// the block of the auditor's commitment (the recheck seed is `seedDelay` blocks after it)
        uint64 commitBlock;
        /// the auditor's commitment (same shape as a provider's, with the auditor's address)
        bytes32 commitment;
        /// the auditor's revealed output root
        bytes32 outputRoot;
    }

    struct Dispute {
        /// the challenger, the auditor when its Disagree opened the dispute, or zero for a dispute the
        /// protocol opened (missed or unrevealed audit, recheck)
        address challenger;
        /// the bond posted (zero unless `reason` is Challenge)
        uint96 bond;
        DisputeState state;
        DisputeReason reason;
        /// the block the dispute opened in (the committee's seed block is `seedDelay` after it; the committee
        /// is drawn from the verifier set of the job's commit block)
        uint64 openedBlock;
        uint64 openedAt;
        /// the block whose seed draws the committee
        uint64 seedBlock;
        uint64 voteCommitBy;
        uint64 voteRevealBy;
        /// the resolved outcome (None until resolved, and for no quorum)
        Vote outcome;
        bool providerFaulted;
        /// one entry per seat (a member may hold several), empty until drawn
        address[] committee;
    }

    event AuditCommitted(uint256 indexed jobId, address indexed auditor, bytes32 commitment);
    /// @dev `recheck`: the Agree drew a committee recheck.
    event AuditRevealed(
        uint256 indexed jobId, address indexed auditor, bytes32 outputRoot, Verdict verdict, string outputURI, bool recheck
    );
    /// @dev `penalty` as taken from the auditor's stake; `state` why (Missed, Unrevealed, or Agreed/Disagreed
    /// for a verdict or output judged wrong).
    event AuditorPenalized(uint256 indexed jobId, address indexed auditor, uint256 penalty, AuditState state);
    event ChallengeOpened(uint256 indexed jobId, address indexed challenger, uint256 bond, DisputeReason reason);
    event CommitteeReseeded(uint256 indexed jobId, uint256 seedBlock);
    event CommitteeDrawn(uint256 indexed jobId, address[] committee, uint256 voteCommitBy, uint256 voteRevealBy);
    event VoteCommitted(uint256 indexed jobId, address indexed voter, bytes32 commitment);
    event VoteRevealed(uint256 indexed jobId, address indexed voter, Vote vote);
    event VoterPenalized(uint256 indexed jobId, address indexed voter, uint256 penalty);
    event VoterPaid(uint256 indexed jobId, address indexed voter, uint256 amount);
    /// @dev `slashed`: the provider's collateral when faulted, else zero; `outcome` the quorum's vote.
    event DisputeResolved(
        uint256 indexed jobId,
        bool indexed providerFaulted,
        uint256 slashed,
        Vote outcome,
        uint256 votesCorrect,
        uint256 votesWrong,
        uint256 votesAuditorWrong
    );
    event TreasuryCredited(uint256 amount);
    event TreasuryWithdrawn(address indexed to, uint256 amount);

    // ---------------------------------------------------------------- market hooks

    /// @notice JobMarket only, from `reveal` of a sampled job (`job` its state as committed, `seed` its sampling
    /// seed). Returns false when the auditor committed blind (or no verifier could be drawn: an empty set);
    /// reverts `AuditPending` while the drawn auditor may still commit; after that, records the auditor as
    /// Missed, penalizes it, records a dispute and returns true: the market puts the job under dispute.
    function onSampledReveal(uint256 jobId, IJobMarket.Job calldata job, bytes32 seed) external returns (bool disputed);

    /// @notice JobMarket only, from `finalize` of a sampled job after its window (`job` its revealed state).
    /// Pays an auditor whose Agree stands and returns false; for an auditor that committed and never
    /// revealed, penalizes it, records a dispute and returns true: the market puts the job under dispute.
    function onSampledFinalize(uint256 jobId, IJobMarket.Job calldata job) external returns (bool disputed);

    // ---------------------------------------------------------------- audits

    /// @notice The auditor of a job (zero when the job is not sampled, its seed is not mined yet or out of
    /// reach, or the verifier set was empty): once recorded, the recorded one; before, while the job is
    /// Committed, `Staking.drawVerifier(uint256(keccak256(abi.encode(seed, jobId, "audit"))), job.commitBlock,
    /// [provider, poster])`. Reverts `JobMismatch` for a state that is not the stored one.
    /// @param jobId the job
    /// @param job the job's current state
    /// @return the auditor, or zero
    function auditorOf(uint256 jobId, IJobMarket.Job calldata job) external view returns (address);

    /// @notice Last second the auditor of a job committed with `job` may commit blind: the commit time plus
    /// the job's `auditCommitTimeout`, capped at `job.deadline - 1` so that the provider always has a second
    /// to reveal in.
    /// @param job the job's state when committed
    /// @return the timestamp (inclusive)
    function auditCommitBy(IJobMarket.Job calldata job) external view returns (uint256);

    /// @notice The drawn auditor commits its output root blind while the job is Committed, until
    /// `auditCommitBy`: `commitment` = `keccak256(abi.encode(chainId, jobMarket, jobId, auditor, outputRoot, salt))`.
    function commitAudit(uint256 jobId, IJobMarket.Job calldata job, bytes32 commitment) external;

    /// @notice The auditor reveals its output root and verdict while the job is Revealed (or Disputed by
    /// someone else), inside its challenge window, once the block `seedDelay` after its commit is mined.
    /// Equal roots are always an agreement. Disagree opens a dispute with the auditor as challenger (no bond);
    /// if the job is already disputed, that dispute judges it. An Agree with a different root may draw a
    /// recheck (see the contract's description).
    function revealAudit(
        uint256 jobId,
        IJobMarket.Job calldata job,
        bytes32 outputRoot,
        bytes32 salt,
        Verdict verdict,
        string calldata outputURI
    ) external;

    // ---------------------------------------------------------------- disputes

    /// @notice The BatchMarket only (`importReplica`, for the ReplicaMarket): opens a committee dispute, reason
    /// Replicas, on a redundant job's seat just imported as Revealed. No bond and no challenger: like every
    /// dispute the protocol opens, its committee is paid from the audit pool, and a faulted provider's finder's
    /// share goes to the poster.
    function disputeReplica(uint256 jobId, IJobMarket.Job calldata job) external;

    /// @notice Challenges a revealed job inside its challenge window, posting `challengeBond`.
    function challenge(uint256 jobId, IJobMarket.Job calldata job) external;

    /// @notice Anyone, once the committee seed block is mined and until `openedAt + disputeDuration -
    /// voteCommitTimeout - voteRevealTimeout`: draws the committee. Seat `i` is
    /// `Staking.drawVerifier(uint256(keccak256(abi.encode(seed, jobId, "committee", i))), commitBlock,
    /// [provider, poster, challenger, auditor])`; `committee` lists one entry per seat.
    /// A seed out of reach is replaced by the seed of the block `seedDelay` after this call (and nothing is
    /// drawn now). With nobody eligible the dispute stays open (a later call may draw) and resolves as no quorum.
    function drawCommittee(uint256 jobId) external;

    /// @notice A committee member commits its vote, until `voteCommitBy`:
    /// `keccak256(abi.encode(chainId, verification, jobId, voter, uint8(vote), salt))`.
    function commitVote(uint256 jobId, bytes32 commitment) external;

    /// @notice A committee member reveals its committed vote: once the commit phase is over (after
    /// `voteCommitBy`, or as soon as every member committed) and until `voteRevealBy`.
    function revealVote(uint256 jobId, Vote vote, bytes32 salt) external;

    /// @notice Anyone: settles a dispute after its vote reveal deadline (or once every member revealed), or
    /// after the job's `disputeDuration` when no committee was drawn. `job` is the job's state (Disputed);
    /// `inlineOutput` the revealed inline output when the consumer wants a callback with it (else empty).
    function resolve(uint256 jobId, IJobMarket.Job calldata job, bytes calldata inlineOutput) external;

    // ---------------------------------------------------------------- funds and governance

    /// @notice Owner: withdraws the treasury (penalties, the rest of each split) to `to`.
    function withdrawTreasury(address to) external returns (uint256 amount);

    // ---------------------------------------------------------------- views

    /// @notice A job's audit record (the market pays a blind auditor in state Committed the finder's share
    /// when the provider withholds its reveal).
    /// @param jobId the job
    /// @return the auditor, its state, commit block, commitment and revealed root (zero values: no audit)
    function audit(uint256 jobId) external view returns (Audit memory);

    /// @notice A job's dispute: who opened it and why, the bond, the deadlines, the committee and the outcome.
    /// @param jobId the job
    /// @return the dispute (state None: no dispute)
    function dispute(uint256 jobId) external view returns (Dispute memory);

    /// @notice A committee member's vote in a job's dispute.
    /// @param jobId the job
    /// @param voter the member
    /// @return commitment the committed hash (zero: not committed)
    /// @return vote the revealed vote (None: not revealed)
    function voteOf(uint256 jobId, address voter) external view returns (bytes32 commitment, Vote vote);

    /// @notice What the owner can withdraw: penalties and the rest of each split.
    /// @return the treasury's balance
    function treasury() external view returns (uint256);
}
