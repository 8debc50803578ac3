// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {PullPayments} from "./base/PullPayments.sol";
import {
    AuditClosed,
    AuditCommitmentMismatch,
    AuditPending,
    CommitteeSeedNotReady,
    DisputeExists,
    DisputeStillOpen,
    InvalidVote,
    JobMismatch,
    NoDispute,
    NotAuditor,
    NotCommitteeMember,
    NotMarket,
    NotSampled,
    NothingToWithdraw,
    SeedNotReady,
    VoteAlreadyCommitted,
    VoteAlreadyRevealed,
    VoteCommitmentMismatch,
    VotingClosed,
    VotingStillOpen,
    WrongAuditState,
    WrongDisputeState,
    WrongJobStatus,
    ZeroAddress,
    ZeroCommitment,
    ZeroOutputRoot
} from "./errors/Errors.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IProtocolTerms} from "./interfaces/IProtocolTerms.sol";
import {IRandomness} from "./interfaces/IRandomness.sol";
import {IStaking} from "./interfaces/IStaking.sol";
import {IVerification} from "./interfaces/IVerification.sol";
import {Commitments} from "./libraries/Commitments.sol";
import {Settlement} from "./libraries/Settlement.sol";
import {TokenPull} from "./libraries/TokenPull.sol";

/// @dev The JobMarket's seed source (a public immutable of JobMarket, not part of IJobMarket).
interface IMarketRandomness {
    /// @notice The market's seed source; zero means blockhash.
    /// @return the randomness contract
    function randomness() external view returns (IRandomness);
}

/// @title Verification
/// @notice Blind audits of sampled jobs, bonded challenges and committee disputes (docs/PROTOCOL.md).
/// @dev The market stores jobs as hashes: every call about a job takes its state and checks it against
/// `JobMarket.jobHash` (or lets the market's hook check it). Every rule comes from the job's terms version,
/// read from the market. Slashes and penalties go through Staking, which never reverts for lack of stake
/// and returns what it took; everything this contract receives is split at once into credits (pull
/// payments) and the treasury, so its balance is always exactly the open bonds, the credits and the
/// treasury. Audit rewards and voter pay come from the market's audit pool.
/// Trust: the owner withdraws the treasury. The market trusts this contract to open and settle disputes
/// and to pay from the audit pool; Staking trusts it to slash and penalize.
contract Verification is IVerification, Ownable2Step, ReentrancyGuardTransient, PullPayments {
    using SafeERC20 for IERC20;
    using TokenPull for IERC20;

    /// @notice Largest committee (seats; ProtocolTerms checks it).
    uint256 public constant MAX_COMMITTEE_SIZE = 13;
    uint256 private constant BPS = 10_000;
    uint256 private constant PPM = 1_000_000;
    /// @dev blockhash reaches this many blocks back.
    uint256 private constant BLOCKHASH_REACH = 256;

    /// @dev Packed: slot 0 challenger and bond; slot 1 provider, opening, state and reason; slot 2 poster,
    /// seed block and terms; slot 3 the vote deadlines, tallies and outcome; slot 4 the committee.
    struct DisputeRecord {
        address challenger;
        uint96 bond;
        address provider;
        uint40 openedBlock;
        uint40 openedAt;
        DisputeState state;
        DisputeReason reason;
        address poster;
        uint64 seedBlock;
        uint32 terms;
        uint64 voteCommitBy;
        uint64 voteRevealBy;
        /// seats drawn (the committee's size, the quorum's base)
        uint8 seats;
        /// distinct members, and how many of them committed
        uint8 voters;
        uint8 commits;
        uint8 votesCorrect;
        uint8 votesWrong;
        uint8 votesAuditorWrong;
        Vote outcome;
        bool providerFaulted;
        /// the job's commit block: the committee is drawn from the verifier set as it was then, before
        /// anyone knew whether the job is sampled or who audits it
        uint64 snapshot;
        address[] committee;
    }

    /// @dev A committee member's vote for one dispute: it counts once per seat the member was drawn for.
    struct Ballot {
        bytes32 commitment;
        uint8 seats;
        Vote vote;
    }

    /// @dev A resolved dispute's verdicts, for the settlement.
    struct Outcome {
        Vote vote;
        bool providerFaulted;
        bool upheldByQuorum;
        /// the auditor agreed with a root other than the provider's: its own output was under judgement
        bool auditJudged;
        bool auditorWrong;
        /// what the auditor's stake gave when its verdict or output was judged wrong
        uint256 auditorStake;
        /// what each seat with the outcome's vote is paid, and whether out of the bond (a challenge) or the pool
        uint256 seatPay;
        bool payFromBond;
        uint256 voterPenalty;
        /// what the members of a challenge's committee were paid out of the bond
        uint256 bondVoterPay;
    }

    /// @notice The market whose jobs are audited and disputed.
    IJobMarket public immutable market;
    /// @notice Holds the stake that slashes and penalties take from.
    IStaking public immutable staking;
    /// @notice The market's seed source, read once; zero means blockhash.
    IRandomness public immutable randomness;
    /// @notice The protocol's terms (the market's), read once.
    IProtocolTerms public immutable terms;

    uint256 private _treasury;
    mapping(uint256 jobId => Audit) private _audits;
    mapping(uint256 jobId => DisputeRecord) private _disputes;
    mapping(uint256 jobId => mapping(address voter => Ballot)) private _ballots;

    modifier onlyMarket() {
        if (msg.sender != address(market)) revert NotMarket(msg.sender);
        _;
    }

    constructor(IERC20 token_, IJobMarket market_, IStaking staking_, address owner_) Ownable(owner_) PullPayments(token_) {
        if (address(token_) == address(0) || address(market_) == address(0) || address(staking_) == address(0)) {
            revert ZeroAddress();
        }
        market = market_;
        staking = staking_;
        randomness = IMarketRandomness(address(market_)).randomness();
        terms = market_.terms();
    }

    // ---------------------------------------------------------------- market hooks

    /// @inheritdoc IVerification
    function onSampledReveal(uint256 jobId, IJobMarket.Job calldata job, bytes32 seed)
        external
        onlyMarket
        returns (bool disputed)
    {
        Audit storage a = _audits[jobId];
        // The auditor committed blind: the provider may reveal.
        if (a.state == AuditState.Committed) return false;
        address auditor = _drawAuditor(seed, jobId, job);
        // Nobody could be drawn (an empty verifier set): there is no one to audit, nor to sit on a committee.
        if (auditor == address(0)) return false;
        (IProtocolTerms.MarketParams memory mp, IProtocolTerms.VerificationParams memory p) = terms.termsOf(job.terms);
        uint256 commitBy = _auditCommitBy(job, mp, p);
        if (block.timestamp <= commitBy) revert AuditPending(jobId, commitBy);

        // The auditor missed its blind commit: it is penalized and a committee audits the job instead.
        a.auditor = auditor;
        a.state = AuditState.Missed;
        _penalizeAuditor(jobId, auditor, _atLeastCommitteePay(p.auditorPenalty, job.fee, p), AuditState.Missed);
        _recordDispute(jobId, job, address(0), 0, DisputeReason.AuditMissed, mp.seedDelay);
        return true;
    }

    /// @inheritdoc IVerification
    function onSampledFinalize(uint256 jobId, IJobMarket.Job calldata job)
        external
        onlyMarket
        returns (bool disputed)
    {
        Audit storage a = _audits[jobId];
        AuditState state = a.state;
        (IProtocolTerms.MarketParams memory mp, IProtocolTerms.VerificationParams memory p) = terms.termsOf(job.terms);
        if (state == AuditState.Agreed) {
            _payFromPool(a.auditor, _share(job.fee, p.auditRewardBps));
        } else if (state == AuditState.Committed) {
            // Committed and kept quiet through the window: it costs what a wrong verdict costs, and a
            // committee judges the job the auditor did not.
            a.state = AuditState.Unrevealed;
            _penalizeAuditor(jobId, a.auditor, _atLeastCommitteePay(p.challengeBond, job.fee, p), AuditState.Unrevealed);
            _recordDispute(jobId, job, address(0), 0, DisputeReason.AuditUnrevealed, mp.seedDelay);
            return true;
        }
        return false;
    }

    // ---------------------------------------------------------------- audits

    /// @inheritdoc IVerification
    function auditorOf(uint256 jobId, IJobMarket.Job calldata job) external view returns (address) {
        _requireJob(jobId, job);
        address recorded = _audits[jobId].auditor;
        if (recorded != address(0) || job.status != IJobMarket.JobStatus.Committed) return recorded;
        (bytes32 seed, bool sampled) = market.samplingOf(jobId, job.commitBlock, job.terms);
        if (!sampled || seed == bytes32(0)) return address(0);
        return _drawAuditor(seed, jobId, job);
    }

    /// @inheritdoc IVerification
    function auditCommitBy(IJobMarket.Job calldata job) external view returns (uint256) {
        (IProtocolTerms.MarketParams memory mp, IProtocolTerms.VerificationParams memory p) = terms.termsOf(job.terms);
        return _auditCommitBy(job, mp, p);
    }

    /// @inheritdoc IVerification
    function commitAudit(uint256 jobId, IJobMarket.Job calldata job, bytes32 commitment) external {
        if (commitment == bytes32(0)) revert ZeroCommitment();
        _requireJob(jobId, job);
        if (job.status != IJobMarket.JobStatus.Committed) revert WrongJobStatus(jobId, job.status);
        Audit storage a = _audits[jobId];
        if (a.state != AuditState.None) revert WrongAuditState(jobId, a.state);
        (bytes32 seed, bool sampled) = market.samplingOf(jobId, job.commitBlock, job.terms);
        (IProtocolTerms.MarketParams memory mp, IProtocolTerms.VerificationParams memory p) = terms.termsOf(job.terms);
        if (seed == bytes32(0)) {
            // Zero and unsampled: the seed block is not mined yet (or sampling is off).
            uint256 seedBlock = uint256(job.commitBlock) + mp.seedDelay;
            if (!sampled) {
                if (block.number <= seedBlock) revert SeedNotReady(jobId, seedBlock, block.number);
                revert NotSampled(jobId);
            }
            // Sampled with a seed out of reach: no draw can be checked any more, and the reveal is closed too.
            revert AuditClosed(jobId);
        }
        if (!sampled) revert NotSampled(jobId);
        if (msg.sender != _drawAuditor(seed, jobId, job)) revert NotAuditor(jobId, msg.sender);
        if (block.timestamp > _auditCommitBy(job, mp, p)) revert AuditClosed(jobId);

        a.auditor = msg.sender;
        a.state = AuditState.Committed;
        a.commitBlock = uint64(block.number);
        a.commitment = commitment;
        emit AuditCommitted(jobId, msg.sender, commitment);
    }

    /// @inheritdoc IVerification
    function revealAudit(
        uint256 jobId,
        IJobMarket.Job calldata job,
        bytes32 outputRoot,
        bytes32 salt,
        Verdict verdict,
        string calldata outputURI
    ) external nonReentrant {
        _requireJob(jobId, job);
        bool disputed = job.status == IJobMarket.JobStatus.Disputed;
        if (job.status != IJobMarket.JobStatus.Revealed && !disputed) revert WrongJobStatus(jobId, job.status);
        Audit storage a = _audits[jobId];
        if (msg.sender != a.auditor) revert NotAuditor(jobId, msg.sender);
        if (a.state != AuditState.Committed) revert WrongAuditState(jobId, a.state);
        if (block.timestamp > job.deadline) revert AuditClosed(jobId);
        // In another party's dispute the audit is revealed before the committee is drawn, or not at all: later, its
        // verdict could follow the votes as they are revealed, and the committee would have judged without its output.
        // The committee's seed block leaves a committed auditor at least 2 x `seedDelay` blocks for it (`_recordDispute`).
        if (disputed && _disputes[jobId].state != DisputeState.Open) revert AuditClosed(jobId);
        if (outputRoot == bytes32(0)) revert ZeroOutputRoot();
        bytes32 expected = Commitments.hash(block.chainid, address(market), jobId, msg.sender, outputRoot, salt);
        if (expected != a.commitment) revert AuditCommitmentMismatch(jobId);
        (IProtocolTerms.MarketParams memory mp, IProtocolTerms.VerificationParams memory p) = terms.termsOf(job.terms);
        // The recheck seed is that of a block after the auditor's commit: unknown when it committed.
        uint256 recheckBlock = uint256(a.commitBlock) + mp.seedDelay;
        if (block.number <= recheckBlock) revert SeedNotReady(jobId, recheckBlock, block.number);
        // The same root is the same output: nothing to disagree about, and nothing to recheck.
        bool sameRoot = outputRoot == job.result;
        if (sameRoot) verdict = Verdict.Agree;
        bool recheck = verdict == Verdict.Agree && !sameRoot && _rechecked(jobId, recheckBlock, p.recheckPpm);

        a.outputRoot = outputRoot;
        a.state = verdict == Verdict.Agree ? AuditState.Agreed : AuditState.Disagreed;
        emit AuditRevealed(jobId, msg.sender, outputRoot, verdict, outputURI, recheck);
        // One dispute per job: when someone else already challenged, that dispute judges the audit too.
        if (disputed) return;
        if (verdict == Verdict.Disagree) {
            _openDispute(jobId, job, msg.sender, 0, DisputeReason.AuditDisagreed, mp.seedDelay);
        } else if (recheck) {
            _openDispute(jobId, job, address(0), 0, DisputeReason.Recheck, mp.seedDelay);
        }
    }

    // ---------------------------------------------------------------- disputes

    /// @inheritdoc IVerification
    function challenge(uint256 jobId, IJobMarket.Job calldata job) external nonReentrant {
        (IProtocolTerms.MarketParams memory mp, IProtocolTerms.VerificationParams memory p) = terms.termsOf(job.terms);
        uint96 bond = p.challengeBond;
        // Reverts unless the job is revealed and inside its challenge window (the market checks `job`).
        _openDispute(jobId, job, msg.sender, bond, DisputeReason.Challenge, mp.seedDelay);
        // Interaction last; the balance check rejects fee-on-transfer tokens.
        token.pullExactly(msg.sender, bond);
    }

    /// @inheritdoc IVerification
    function disputeReplica(uint256 jobId, IJobMarket.Job calldata job) external {
        if (msg.sender != market.batchMarket()) revert NotMarket(msg.sender);
        (IProtocolTerms.MarketParams memory mp,) = terms.termsOf(job.terms);
        _openDispute(jobId, job, address(0), 0, DisputeReason.Replicas, mp.seedDelay);
    }

    /// @inheritdoc IVerification
    function drawCommittee(uint256 jobId) external {
        DisputeRecord storage d = _disputes[jobId];
        _requireDisputeState(jobId, d.state, DisputeState.Open);
        (IProtocolTerms.MarketParams memory mp, IProtocolTerms.VerificationParams memory p) = terms.termsOf(d.terms);
        uint256 seedBlock = d.seedBlock;
        if (block.number <= seedBlock) revert CommitteeSeedNotReady(jobId, seedBlock);
        // The whole vote must fit in the dispute duration: past this, only "no quorum" is left.
        uint256 voting = uint256(p.voteCommitTimeout) + p.voteRevealTimeout;
        uint256 drawBy = uint256(d.openedAt) + mp.disputeDuration - voting;
        if (block.timestamp > drawBy) revert VotingClosed(jobId, drawBy, block.timestamp);

        bytes32 seed = block.number > seedBlock + BLOCKHASH_REACH ? bytes32(0) : _seedOf(seedBlock);
        if (seed == bytes32(0)) {
            // Within reach, a zero seed is randomness not delivered yet: wait for it.
            if (block.number <= seedBlock + BLOCKHASH_REACH) revert CommitteeSeedNotReady(jobId, seedBlock);
            // Out of reach: a seed nobody knows yet replaces it, never one a caller could pick.
            uint256 next = block.number + mp.seedDelay;
            d.seedBlock = uint64(next);
            emit CommitteeReseeded(jobId, next);
            return;
        }
        address[] memory seats = _drawSeats(jobId, seed, d, p.committeeSize);
        if (seats.length == 0) {
            emit CommitteeDrawn(jobId, seats, 0, 0);
            return;
        }

        uint256 commitBy = block.timestamp + p.voteCommitTimeout;
        uint256 revealBy = commitBy + p.voteRevealTimeout;
        d.state = DisputeState.Voting;
        d.voteCommitBy = uint64(commitBy);
        d.voteRevealBy = uint64(revealBy);
        d.seats = uint8(seats.length);
        d.committee = seats;
        mapping(address voter => Ballot) storage ballots = _ballots[jobId];
        uint8 voters;
        for (uint256 i; i < seats.length; ++i) {
            Ballot storage b = ballots[seats[i]];
            if (b.seats == 0) ++voters;
            ++b.seats;
        }
        d.voters = voters;
        emit CommitteeDrawn(jobId, seats, commitBy, revealBy);
    }

    /// @inheritdoc IVerification
    function commitVote(uint256 jobId, bytes32 commitment) external {
        DisputeRecord storage d = _disputes[jobId];
        _requireDisputeState(jobId, d.state, DisputeState.Voting);
        Ballot storage b = _ballots[jobId][msg.sender];
        if (b.seats == 0) revert NotCommitteeMember(jobId, msg.sender);
        if (block.timestamp > d.voteCommitBy) revert VotingClosed(jobId, d.voteCommitBy, block.timestamp);
        if (b.commitment != bytes32(0)) revert VoteAlreadyCommitted(jobId, msg.sender);
        if (commitment == bytes32(0)) revert ZeroCommitment();
        b.commitment = commitment;
        ++d.commits;
        emit VoteCommitted(jobId, msg.sender, commitment);
    }

    /// @inheritdoc IVerification
    function revealVote(uint256 jobId, Vote vote, bytes32 salt) external {
        if (vote == Vote.None) revert InvalidVote();
        DisputeRecord storage d = _disputes[jobId];
        _requireDisputeState(jobId, d.state, DisputeState.Voting);
        Ballot storage b = _ballots[jobId][msg.sender];
        uint8 seats = b.seats;
        if (seats == 0) revert NotCommitteeMember(jobId, msg.sender);
        uint256 commitBy = d.voteCommitBy;
        // Revealing before every vote is in would tell the members still to commit how others voted.
        if (block.timestamp <= commitBy && d.commits < d.voters) {
            revert VotingStillOpen(jobId, commitBy, block.timestamp);
        }
        if (block.timestamp > d.voteRevealBy) revert VotingClosed(jobId, d.voteRevealBy, block.timestamp);
        if (b.vote != Vote.None) revert VoteAlreadyRevealed(jobId, msg.sender);
        if (b.commitment == bytes32(0) || _voteHash(jobId, msg.sender, vote, salt) != b.commitment) {
            revert VoteCommitmentMismatch(jobId, msg.sender);
        }
        b.vote = vote;
        if (vote == Vote.ProviderCorrect) d.votesCorrect += seats;
        else if (vote == Vote.ProviderWrong) d.votesWrong += seats;
        else d.votesAuditorWrong += seats;
        emit VoteRevealed(jobId, msg.sender, vote);
    }

    /// @inheritdoc IVerification
    function resolve(uint256 jobId, IJobMarket.Job calldata job, bytes calldata inlineOutput) external nonReentrant {
        DisputeRecord storage d = _disputes[jobId];
        DisputeState state = d.state;
        if (state == DisputeState.None) revert NoDispute(jobId);
        if (state == DisputeState.Resolved) revert WrongDisputeState(jobId, state);
        (IProtocolTerms.MarketParams memory mp, IProtocolTerms.VerificationParams memory p) = terms.termsOf(d.terms);
        if (state == DisputeState.Open) {
            uint256 resolvableAt = uint256(d.openedAt) + mp.disputeDuration;
            if (block.timestamp <= resolvableAt) revert DisputeStillOpen(jobId, resolvableAt, block.timestamp);
        } else if (
            uint256(d.votesCorrect) + d.votesWrong + d.votesAuditorWrong < d.seats && block.timestamp <= d.voteRevealBy
        ) {
            revert DisputeStillOpen(jobId, d.voteRevealBy, block.timestamp);
        }

        // 1. Tally (see _tally): a quorum is more than half of the committee.
        Audit storage a = _audits[jobId];
        Outcome memory o = _tally(d, a, job.result);
        d.state = DisputeState.Resolved;
        d.outcome = o.vote;
        d.providerFaulted = o.providerFaulted;
        // 2. The members: paid for the outcome's vote, penalized when absent or against it. A challenge's
        // committee is paid out of the bond (the losing side makes it good), every other one from the
        // audit pool that the levy fills: nobody can open disputes at will to drain the pool.
        o.payFromBond = d.reason == DisputeReason.Challenge;
        o.seatPay = !o.payFromBond
            ? _share(job.fee, p.voterRewardBps)
            : (d.seats == 0 ? 0 : _share(d.bond, BPS - p.providerRewardBps) / d.seats);
        o.voterPenalty = p.voterPenalty;
        o.bondVoterPay = _settleVoters(jobId, d, o);
        // 3. The auditor's verdict or output, when judged wrong, costs it `challengeBond`; so does an audit
        // committed and never revealed before the dispute ended.
        // The stake of a verdict judged wrong is split by the settlement below, not credited here.
        if (o.auditorWrong) {
            o.auditorStake = _takeFromAuditor(jobId, a.auditor, p.challengeBond, a.state);
        } else if (a.state == AuditState.Committed) {
            a.state = AuditState.Unrevealed;
            _penalizeAuditor(jobId, a.auditor, _atLeastCommitteePay(p.challengeBond, job.fee, p), AuditState.Unrevealed);
        }
        // 4. The provider's side (the market is called last in each).
        uint256 slashed = o.providerFaulted
            ? _settleFaulted(jobId, job, d, a, p.challengerRewardBps, o)
            : _settleUpheld(jobId, job, d, a, p, o, inlineOutput);
        emit DisputeResolved(jobId, o.providerFaulted, slashed, o.vote, d.votesCorrect, d.votesWrong, d.votesAuditorWrong);
    }

    // ---------------------------------------------------------------- funds

    /// @inheritdoc IVerification
    function withdrawTreasury(address to) external onlyOwner nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        amount = _treasury;
        if (amount == 0) revert NothingToWithdraw(to);
        _treasury = 0;
        emit TreasuryWithdrawn(to, amount);
        token.safeTransfer(to, amount);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IVerification
    function audit(uint256 jobId) external view returns (Audit memory) {
        return _audits[jobId];
    }

    /// @inheritdoc IVerification
    function dispute(uint256 jobId) external view returns (Dispute memory) {
        DisputeRecord storage d = _disputes[jobId];
        return Dispute({
            challenger: d.challenger,
            bond: d.bond,
            state: d.state,
            reason: d.reason,
            openedBlock: d.openedBlock,
            openedAt: d.openedAt,
            seedBlock: d.seedBlock,
            voteCommitBy: d.voteCommitBy,
            voteRevealBy: d.voteRevealBy,
            outcome: d.outcome,
            providerFaulted: d.providerFaulted,
            committee: d.committee
        });
    }

    /// @inheritdoc IVerification
    function voteOf(uint256 jobId, address voter) external view returns (bytes32 commitment, Vote vote) {
        Ballot storage b = _ballots[jobId][voter];
        return (b.commitment, b.vote);
    }

    /// @inheritdoc IVerification
    function treasury() external view returns (uint256) {
        return _treasury;
    }

    // ---------------------------------------------------------------- internals: audits

    /// @dev The job's auditor: stake-weighted from the verifier set of its commit block, with its sampling
    /// seed, never the provider or the poster.
    function _drawAuditor(bytes32 seed, uint256 jobId, IJobMarket.Job calldata job) private view returns (address) {
        address[] memory excluded = new address[](2);
        excluded[0] = job.provider;
        excluded[1] = job.poster;
        return staking.drawVerifier(uint256(keccak256(abi.encode(seed, jobId, "audit"))), job.commitBlock, excluded);
    }

    /// @dev The commit time (revealBy - revealTimeout) plus the audit timeout, capped below the reveal deadline.
    function _auditCommitBy(
        IJobMarket.Job calldata job,
        IProtocolTerms.MarketParams memory mp,
        IProtocolTerms.VerificationParams memory p
    ) private pure returns (uint256 commitBy) {
        uint256 deadline = job.deadline;
        uint256 committedAt = deadline > mp.revealTimeout ? deadline - mp.revealTimeout : 0;
        commitBy = committedAt + p.auditCommitTimeout;
        if (commitBy >= deadline) commitBy = deadline == 0 ? 0 : deadline - 1;
    }

    /// @dev Whether an Agree with a different root is rechecked: the seed of `recheckBlock` (a seed out of
    /// reach rechecks: waiting never helps the auditor).
    function _rechecked(uint256 jobId, uint256 recheckBlock, uint256 recheckPpm) private view returns (bool) {
        if (recheckPpm == 0) return false;
        bytes32 seed = block.number > recheckBlock + BLOCKHASH_REACH ? bytes32(0) : _seedOf(recheckBlock);
        if (seed == bytes32(0)) return true;
        return uint256(keccak256(abi.encode(seed, jobId, "recheck"))) % PPM < recheckPpm;
    }

    /// @dev Takes an auditor's penalty into the treasury.
    function _penalizeAuditor(uint256 jobId, address auditor, uint256 amount, AuditState state) private {
        _creditTreasury(_takeFromAuditor(jobId, auditor, amount, state));
    }

    /// @dev Takes up to `amount` of an auditor's stake to this contract; the caller credits it.
    function _takeFromAuditor(uint256 jobId, address auditor, uint256 amount, AuditState state)
        private
        returns (uint256 taken)
    {
        taken = amount == 0 ? 0 : staking.penalize(auditor, amount, address(this));
        emit AuditorPenalized(jobId, auditor, taken, state);
    }

    /// @dev An audit reward or a voter's pay from the market's audit pool, as much of it as the pool holds.
    function _payFromPool(address to, uint256 amount) private returns (uint256) {
        return amount == 0 ? 0 : market.payAuditReward(to, amount);
    }

    /// @dev An absent auditor's penalty: at least what the committee that replaces it costs the audit pool, so
    /// that skipping an audit to seat one's own accounts on that committee never pays.
    function _atLeastCommitteePay(uint256 penalty, uint256 fee, IProtocolTerms.VerificationParams memory p)
        private
        pure
        returns (uint256)
    {
        uint256 committeePay = _share(fee, p.voterRewardBps) * p.committeeSize;
        return committeePay > penalty ? committeePay : penalty;
    }

    /// @dev `bps` basis points of `amount`, rounded down.
    function _share(uint256 amount, uint256 bps) private pure returns (uint256) {
        return amount * bps / BPS;
    }

    // ---------------------------------------------------------------- internals: disputes

    /// @dev Records a dispute and has the market put the job under dispute (it checks `job`, the status and
    /// the window).
    function _openDispute(
        uint256 jobId,
        IJobMarket.Job calldata job,
        address challenger,
        uint96 bond,
        DisputeReason reason,
        uint256 seedDelay
    ) private {
        _recordDispute(jobId, job, challenger, bond, reason, seedDelay);
        market.openDispute(jobId, job);
    }

    /// @dev Records a dispute; the committee will be drawn from this block's verifier set with the seed of
    /// the block `seedDelay` after it.
    function _recordDispute(
        uint256 jobId,
        IJobMarket.Job calldata job,
        address challenger,
        uint96 bond,
        DisputeReason reason,
        uint256 seedDelay
    ) private {
        DisputeRecord storage d = _disputes[jobId];
        if (d.state != DisputeState.None) revert DisputeExists(jobId);
        d.challenger = challenger;
        d.bond = bond;
        d.provider = job.provider;
        d.openedBlock = uint40(block.number);
        d.openedAt = uint40(block.timestamp);
        d.state = DisputeState.Open;
        d.reason = reason;
        d.poster = job.poster;
        // An audit committed and not yet revealed may be revealed until the committee is drawn (`revealAudit`), and no
        // earlier than the block after its recheck seed (`seedDelay` after its commit): the committee's seed block
        // comes `seedDelay` after the later of this block and `seedDelay` past that recheck seed, so its auditor
        // has at least 2 x `seedDelay` blocks to reveal in.
        uint256 from = block.number;
        Audit storage a = _audits[jobId];
        if (a.state == AuditState.Committed && a.commitBlock + 2 * seedDelay > from) from = a.commitBlock + 2 * seedDelay;
        d.seedBlock = uint64(from + seedDelay);
        d.terms = job.terms;
        d.snapshot = job.commitBlock;
        emit ChallengeOpened(jobId, challenger, bond, reason);
    }

    /// @dev Draws up to `size` seats, each stake-weighted from its own seed over the verifier set of the
    /// job's commit block, with replacement (a member may hold several seats, so splitting stake over
    /// accounts buys no extra seat), excluding the provider, the poster, the challenger and the auditor.
    /// Keeps the largest odd number of seats found.
    function _drawSeats(uint256 jobId, bytes32 seed, DisputeRecord storage d, uint256 size)
        private
        view
        returns (address[] memory seats)
    {
        address[] memory excluded = new address[](4);
        excluded[0] = d.provider;
        excluded[1] = d.poster;
        excluded[2] = d.challenger;
        excluded[3] = _audits[jobId].auditor; // zero when there is none: excludes nobody
        seats = new address[](size);
        uint256 found;
        uint256 snapshot = d.snapshot;
        for (uint256 i; i < size; ++i) {
            address member =
                staking.drawVerifier(uint256(keccak256(abi.encode(seed, jobId, "committee", i))), snapshot, excluded);
            if (member == address(0)) continue;
            seats[found++] = member;
        }
        if (found % 2 == 0 && found != 0) --found;
        assembly ("memory-safe") {
            mstore(seats, found)
        }
    }

    /// @dev The verdicts. The auditor's output is under judgement when it agreed with a different root;
    /// otherwise an AuditorWrong vote only says "the provider is right". A quorum is more than half of
    /// the committee: ProviderWrong faults the provider; ProviderCorrect and AuditorWrong together uphold
    /// it, and AuditorWrong alone past half also judges the auditor's output wrong. No quorum upholds the
    /// provider and judges nobody.
    function _tally(DisputeRecord storage d, Audit storage a, bytes32 providerRoot)
        private
        view
        returns (Outcome memory o)
    {
        uint256 n = d.seats;
        uint256 wrong = d.votesWrong;
        uint256 auditorWrong = d.votesAuditorWrong;
        AuditState auditState = a.state;
        bool auditJudged = auditState == AuditState.Agreed && a.outputRoot != providerRoot;
        o.auditJudged = auditJudged;
        if (2 * wrong > n) {
            o.vote = Vote.ProviderWrong;
            o.providerFaulted = true;
            // An Agree with a result shown wrong (equal roots too: that output was the same wrong one).
            o.auditorWrong = auditState == AuditState.Agreed;
        } else if (2 * (uint256(d.votesCorrect) + auditorWrong) > n) {
            o.upheldByQuorum = true;
            if (auditJudged && 2 * auditorWrong > n) {
                o.vote = Vote.AuditorWrong;
                o.auditorWrong = true;
            } else {
                // The provider is right; an agreeing auditor's output stands unless judged wrong above.
                if (2 * uint256(d.votesCorrect) > n || !auditJudged) o.vote = Vote.ProviderCorrect;
                o.auditorWrong = auditState == AuditState.Disagreed;
            }
        }
    }

    /// @dev Per seat: pays `o.seatPay` (out of the bond for a challenge, else from the audit pool) to a member
    /// that revealed the outcome's vote (both upholding votes when the auditor's output was not settled), and
    /// penalizes a member that did not reveal or revealed against the outcome. With no quorum only the absent
    /// are penalized. Returns what the bond paid. At most MAX_COMMITTEE_SIZE seats.
    function _settleVoters(uint256 jobId, DisputeRecord storage d, Outcome memory o)
        private
        returns (uint256 paidFromBond)
    {
        uint256 n = d.seats;
        mapping(address voter => Ballot) storage ballots = _ballots[jobId];
        uint256 penalties;
        for (uint256 i; i < n; ++i) {
            address voter = d.committee[i];
            Vote vote = ballots[voter].vote;
            if (_matches(vote, o)) {
                if (o.payFromBond) {
                    _credit(voter, o.seatPay);
                    paidFromBond += o.seatPay;
                    emit VoterPaid(jobId, voter, o.seatPay);
                } else {
                    emit VoterPaid(jobId, voter, _payFromPool(voter, o.seatPay));
                }
            } else if (vote == Vote.None || o.providerFaulted || o.upheldByQuorum) {
                uint256 taken = o.voterPenalty == 0 ? 0 : staking.penalize(voter, o.voterPenalty, address(this));
                penalties += taken;
                emit VoterPenalized(jobId, voter, taken);
            }
        }
        _creditTreasury(penalties);
    }

    /// @dev Whether a revealed vote is the outcome's. Upholding votes both match when the outcome settled
    /// only the provider (the auditor's output had no quorum either way).
    function _matches(Vote vote, Outcome memory o) private pure returns (bool) {
        if (vote == Vote.None) return false;
        if (o.providerFaulted) return vote == Vote.ProviderWrong;
        if (!o.upheldByQuorum) return false;
        if (o.vote == Vote.None) return vote != Vote.ProviderWrong;
        if (o.vote == Vote.AuditorWrong) return vote == Vote.AuditorWrong;
        // ProviderCorrect: an AuditorWrong vote counts as "provider right" when no auditor output was judged.
        return vote == Vote.ProviderCorrect || (vote == Vote.AuditorWrong && !o.auditJudged);
    }

    /// @dev ProviderWrong quorum: the market refunds the poster and slashes the provider's collateral to
    /// this contract, which splits it: the finder's share to the auditor whose blind Disagree found the
    /// fault, else to the poster; the rest, with an overturned Agree's stake, to the
    /// treasury. A bond comes back to its challenger.
    function _settleFaulted(
        uint256 jobId,
        IJobMarket.Job calldata job,
        DisputeRecord storage d,
        Audit storage a,
        uint256 finderBps,
        Outcome memory o
    ) private returns (uint256 slashed) {
        // 1. The market checks `job`, refunds the poster and slashes the collateral to this contract.
        slashed = market.settleDispute(jobId, job, true, address(this), msg.data[0:0]);
        // 2. The finder: the auditor when its blind Disagree found the fault, whoever opened the dispute.
        // Its share comes first, so a second account of the cheater that challenges cannot shrink it.
        address auditor = a.auditor;
        bool auditorFound = auditor != address(0) && a.state == AuditState.Disagreed;
        (uint256 toFinder, uint256 rest) = Settlement.split(slashed, finderBps);
        _credit(auditorFound ? auditor : d.poster, toFinder);
        // 3. A challenger's bond paid its committee: the rest of the slash makes it good.
        uint256 reimbursed = o.bondVoterPay < rest ? o.bondVoterPay : rest;
        _credit(d.challenger, d.bond - o.bondVoterPay + reimbursed);
        _creditTreasury(rest - reimbursed + o.auditorStake);
    }

    /// @dev The provider upheld: by a quorum, a forfeited bond and an overturned Disagree's stake pay the
    /// provider `providerRewardBps` and the treasury the rest; with no quorum the bond comes back. An
    /// agreeing auditor whose output stands is paid. The market's settlement comes last: it pays the
    /// provider and calls the consumer back.
    function _settleUpheld(
        uint256 jobId,
        IJobMarket.Job calldata job,
        DisputeRecord storage d,
        Audit storage a,
        IProtocolTerms.VerificationParams memory p,
        Outcome memory o,
        bytes calldata inlineOutput
    ) private returns (uint256) {
        if (o.upheldByQuorum) {
            // 1. What the provider's accusers forfeit: the bond, and a Disagree's stake (not a lazy Agree's:
            // that one wronged nobody but the protocol).
            bool overturned = a.state == AuditState.Disagreed;
            uint256 forfeited = d.bond + (overturned ? o.auditorStake : 0);
            (uint256 toProvider, uint256 rest) = Settlement.split(forfeited, p.providerRewardBps);
            _credit(d.provider, toProvider);
            // The committee's pay came out of the bond's part that does not go to the provider.
            _creditTreasury(rest - o.bondVoterPay + (overturned ? 0 : o.auditorStake));
        } else {
            // 1. Nobody judged the result: the bond comes back.
            _credit(d.challenger, d.bond);
        }
        // 2. An Agree that stands is paid, as on finalize.
        if (a.state == AuditState.Agreed && !o.auditorWrong) _payFromPool(a.auditor, _share(job.fee, p.auditRewardBps));
        // 3. The market checks `job`, pays the provider and calls the consumer back.
        market.settleDispute(jobId, job, false, address(this), inlineOutput);
        return 0;
    }

    // ---------------------------------------------------------------- internals: shared

    function _requireJob(uint256 jobId, IJobMarket.Job calldata job) private view {
        if (market.jobHash(jobId) != keccak256(abi.encode(job))) revert JobMismatch(jobId);
    }

    function _requireDisputeState(uint256 jobId, DisputeState state, DisputeState expected) private pure {
        if (state == DisputeState.None) revert NoDispute(jobId);
        if (state != expected) revert WrongDisputeState(jobId, state);
    }

    /// @dev The seed of block `blockNumber`: the market's randomness source, else its hash.
    function _seedOf(uint256 blockNumber) private view returns (bytes32) {
        IRandomness source = randomness;
        return address(source) == address(0) ? blockhash(blockNumber) : source.seedOf(blockNumber);
    }

    function _voteHash(uint256 jobId, address voter, Vote vote, bytes32 salt) private view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), jobId, voter, uint8(vote), salt));
    }

    function _creditTreasury(uint256 amount) private {
        if (amount == 0) return;
        _treasury += amount;
        emit TreasuryCredited(amount);
    }
}
