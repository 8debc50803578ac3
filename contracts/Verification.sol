// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IRandomness} from "./interfaces/IRandomness.sol";
import {IStaking} from "./interfaces/IStaking.sol";
import {IVerification} from "./interfaces/IVerification.sol";
import {Commitments} from "./libraries/Commitments.sol";
import {Settlement} from "./libraries/Settlement.sol";

/// @dev The JobMarket's seed source (a public immutable of JobMarket, not part of IJobMarket).
interface IMarketRandomness {
    function randomness() external view returns (IRandomness);
}

/// @title Verification
/// @notice Spot-check audits of sampled jobs, bonded challenges and committee disputes (DESIGN section 5).
/// @dev The market stores jobs as hashes: every call about a job takes its state and checks it against
/// `JobMarket.jobHash` (or lets the market's hook check it). Slashes go through Staking, which never reverts
/// for lack of stake and returns what it took; everything this contract receives is split at once into
/// credits (pull payments) and the treasury, so its balance is always exactly the open bonds, the credits
/// and the treasury.
/// Trust: the owner sets parameters (two-step ownership) and withdraws the treasury. The market trusts
/// this contract to open and settle disputes and to pay audit rewards; Staking trusts it to slash.
contract Verification is IVerification, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Largest committee: a member's draw excludes the provider, the challenger, the auditor and
    /// the members drawn before it, and `Staking.drawVerifier` takes at most 16 exclusions (3 + 12 + 1).
    uint256 public constant MAX_COMMITTEE_SIZE = 13;
    uint256 private constant BPS = 10_000;
    /// @dev blockhash reaches this many blocks back.
    uint256 private constant BLOCKHASH_REACH = 256;

    /// @dev Packed: slot 0 challenger and bond, slot 1 provider, opening and state (32 bytes: a challenge
    /// writes two new slots), slot 2 the vote deadlines and tallies, slot 3 the committee.
    struct DisputeRecord {
        address challenger;
        uint96 bond;
        address provider;
        uint40 openedBlock;
        uint40 openedAt;
        DisputeState state;
        bool byAuditor;
        uint64 voteCommitBy;
        uint64 voteRevealBy;
        uint8 members;
        uint8 commits;
        uint8 votesCorrect;
        uint8 votesWrong;
        bool providerFaulted;
        address[] committee;
    }

    /// @dev A committee member's vote for one dispute.
    struct Ballot {
        bytes32 commitment;
        bool member;
        Vote vote;
    }

    IERC20 public immutable token;
    IJobMarket public immutable market;
    IStaking public immutable staking;
    /// @notice The market's seed source, read once; zero means blockhash.
    IRandomness public immutable randomness;

    VerificationParams private _params;
    uint256 private _treasury;
    mapping(address account => uint256) public credits;
    mapping(uint256 jobId => Audit) private _audits;
    mapping(uint256 jobId => DisputeRecord) private _disputes;
    mapping(uint256 jobId => mapping(address voter => Ballot)) private _ballots;

    modifier onlyMarket() {
        if (msg.sender != address(market)) revert NotMarket(msg.sender);
        _;
    }

    constructor(IERC20 token_, IJobMarket market_, IStaking staking_, address owner_, VerificationParams memory params_)
        Ownable(owner_)
    {
        if (address(token_) == address(0) || address(market_) == address(0) || address(staking_) == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        market = market_;
        staking = staking_;
        randomness = IMarketRandomness(address(market_)).randomness();
        _setParams(params_);
    }

    // ---------------------------------------------------------------- audits

    /// @inheritdoc IVerification
    function onSampledReveal(uint256 jobId, IJobMarket.Job calldata job, bytes32 seed) external onlyMarket {
        Audit storage a = _audits[jobId];
        // The auditor committed blind: the provider may reveal, whatever happened to the seed since.
        if (a.state == AuditState.Committed) return;
        if (seed == bytes32(0)) {
            // The provider let the seed go out of reach: audit after the reveal instead, drawn now.
            address late = _drawAuditor(_previousSeed(), jobId, job.provider);
            if (late == address(0)) return;
            a.auditor = late;
            a.state = AuditState.Drawn;
            emit AuditorDrawn(jobId, late, block.timestamp + market.params().challengeWindow, true);
            return;
        }
        address auditor = _drawAuditor(seed, jobId, job.provider);
        if (auditor == address(0)) return;
        uint256 commitBy = _auditCommitBy(job);
        if (block.timestamp <= commitBy) revert AuditPending(jobId, commitBy);
        a.auditor = auditor;
        a.state = AuditState.Missed;
        emit AuditorDrawn(jobId, auditor, commitBy, false);
    }

    /// @inheritdoc IVerification
    function auditorOf(uint256 jobId, IJobMarket.Job calldata job) external view returns (address) {
        _requireJob(jobId, job);
        address recorded = _audits[jobId].auditor;
        if (recorded != address(0) || job.status != IJobMarket.JobStatus.Committed) return recorded;
        (bytes32 seed, bool sampled) = market.samplingOf(jobId, job.commitBlock);
        if (!sampled || seed == bytes32(0)) return address(0);
        return _drawAuditor(seed, jobId, job.provider);
    }

    /// @inheritdoc IVerification
    function auditCommitBy(IJobMarket.Job calldata job) external view returns (uint256) {
        return _auditCommitBy(job);
    }

    /// @inheritdoc IVerification
    function commitAudit(uint256 jobId, IJobMarket.Job calldata job, bytes32 commitment) external {
        if (commitment == bytes32(0)) revert ZeroCommitment();
        _requireJob(jobId, job);
        Audit storage a = _audits[jobId];
        if (job.status == IJobMarket.JobStatus.Committed) {
            _requireBlindAuditor(jobId, job, a.state);
            a.auditor = msg.sender;
        } else if (job.status == IJobMarket.JobStatus.Revealed || job.status == IJobMarket.JobStatus.Disputed) {
            // Only a late audit (stale seed, drawn at the reveal) commits after the reveal.
            if (a.state != AuditState.Drawn) {
                if (a.state == AuditState.None && !job.sampled) revert NotSampled(jobId);
                revert WrongAuditState(jobId, a.state);
            }
            if (msg.sender != a.auditor) revert NotAuditor(jobId, msg.sender);
            if (block.timestamp > job.deadline) revert AuditClosed(jobId);
        } else {
            revert WrongJobStatus(jobId, job.status);
        }
        a.state = AuditState.Committed;
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
        if (outputRoot == bytes32(0)) revert ZeroOutputRoot();
        bytes32 expected = Commitments.hash(block.chainid, address(market), jobId, msg.sender, outputRoot, salt);
        if (expected != a.commitment) revert AuditCommitmentMismatch(jobId);
        // The same root is the same output: nothing to disagree about.
        if (outputRoot == job.result) verdict = Verdict.Agree;

        a.outputRoot = outputRoot;
        a.state = verdict == Verdict.Agree ? AuditState.Agreed : AuditState.Disagreed;
        emit AuditRevealed(jobId, msg.sender, outputRoot, verdict, outputURI);
        if (verdict == Verdict.Agree) {
            // The pool is the audit levy of finalized jobs: pay what it holds, up to the reward.
            uint256 reward = _params.auditReward;
            uint256 pool = market.auditPool();
            if (pool < reward) reward = pool;
            if (reward != 0) market.payAuditReward(msg.sender, reward);
        } else {
            // One dispute per job: when someone else already challenged, that dispute judges the result.
            if (!disputed) _openDispute(jobId, job, msg.sender, 0, true);
        }
    }

    /// @inheritdoc IVerification
    function penalizeAuditor(uint256 jobId, IJobMarket.Job calldata job) external nonReentrant {
        _requireJob(jobId, job);
        Audit storage a = _audits[jobId];
        AuditState state = a.state;
        if (state == AuditState.Drawn || state == AuditState.Committed) {
            // A revealed job's deadline is its challenge window's end, kept through dispute and settlement;
            // a job that never got revealed (Committed, Expired) owes its blind auditor no reveal.
            IJobMarket.JobStatus status = job.status;
            if (status < IJobMarket.JobStatus.Revealed || status == IJobMarket.JobStatus.Expired) {
                revert NothingToPenalize(jobId);
            }
            if (block.timestamp <= job.deadline) revert DeadlineNotPassed(jobId, job.deadline, block.timestamp);
        } else if (state != AuditState.Missed) {
            revert NothingToPenalize(jobId);
        }

        a.state = AuditState.Penalized;
        address auditor = a.auditor;
        uint256 penalty = _params.auditorPenalty;
        uint256 taken = penalty == 0 ? 0 : staking.slash(auditor, 0, penalty, address(this));
        emit AuditorPenalized(jobId, auditor, taken);
        _creditTreasury(taken);
    }

    // ---------------------------------------------------------------- disputes

    /// @inheritdoc IVerification
    function challenge(uint256 jobId, IJobMarket.Job calldata job) external nonReentrant {
        uint96 bond = _params.challengeBond;
        // Reverts unless the job is revealed and inside its challenge window (the market checks `job`).
        _openDispute(jobId, job, msg.sender, bond, false);
        // Interaction last; the balance check rejects fee-on-transfer tokens.
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), bond);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != bond) revert TokenTransferMismatch(bond, received);
    }

    /// @inheritdoc IVerification
    function drawCommittee(uint256 jobId) external {
        DisputeRecord storage d = _disputes[jobId];
        _requireDisputeState(jobId, d.state, DisputeState.Open);
        IJobMarket.MarketParams memory mp = market.params();
        VerificationParams memory p = _params;
        uint256 seedBlock = uint256(d.openedBlock) + mp.seedDelay;
        if (block.number <= seedBlock) revert CommitteeSeedNotReady(jobId, seedBlock);
        // The whole vote must fit in the dispute duration: past this, only "no quorum" is left.
        uint256 voting = uint256(p.voteCommitTimeout) + p.voteRevealTimeout;
        uint256 end = uint256(d.openedAt) + mp.disputeDuration;
        uint256 drawBy = end > voting ? end - voting : 0;
        if (block.timestamp > drawBy) revert VotingClosed(jobId, drawBy, block.timestamp);

        bytes32 seed = _seedOf(seedBlock);
        if (seed == bytes32(0)) {
            // Within reach, a zero seed is randomness not delivered yet: wait for it.
            if (block.number <= seedBlock + BLOCKHASH_REACH) revert CommitteeSeedNotReady(jobId, seedBlock);
            seed = blockhash(block.number - 1);
        }
        address[] memory members = _drawMembers(jobId, seed, d, p.committeeSize);
        if (members.length == 0) {
            emit CommitteeDrawn(jobId, members, 0, 0);
            return;
        }

        uint256 commitBy = block.timestamp + p.voteCommitTimeout;
        uint256 revealBy = commitBy + p.voteRevealTimeout;
        d.state = DisputeState.Voting;
        d.voteCommitBy = uint64(commitBy);
        d.voteRevealBy = uint64(revealBy);
        d.members = uint8(members.length);
        d.committee = members;
        mapping(address voter => Ballot) storage ballots = _ballots[jobId];
        for (uint256 i; i < members.length; ++i) {
            ballots[members[i]].member = true;
        }
        emit CommitteeDrawn(jobId, members, commitBy, revealBy);
    }

    /// @inheritdoc IVerification
    function commitVote(uint256 jobId, bytes32 commitment) external {
        DisputeRecord storage d = _disputes[jobId];
        _requireDisputeState(jobId, d.state, DisputeState.Voting);
        Ballot storage b = _ballots[jobId][msg.sender];
        if (!b.member) revert NotCommitteeMember(jobId, msg.sender);
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
        if (!b.member) revert NotCommitteeMember(jobId, msg.sender);
        uint256 commitBy = d.voteCommitBy;
        // Revealing before every vote is in would tell the members still to commit how others voted.
        if (block.timestamp <= commitBy && d.commits < d.members) {
            revert VotingStillOpen(jobId, commitBy, block.timestamp);
        }
        if (block.timestamp > d.voteRevealBy) revert VotingClosed(jobId, d.voteRevealBy, block.timestamp);
        if (b.vote != Vote.None) revert VoteAlreadyRevealed(jobId, msg.sender);
        if (b.commitment == bytes32(0) || _voteHash(jobId, msg.sender, vote, salt) != b.commitment) {
            revert VoteCommitmentMismatch(jobId, msg.sender);
        }
        b.vote = vote;
        if (vote == Vote.ProviderCorrect) ++d.votesCorrect;
        else ++d.votesWrong;
        emit VoteRevealed(jobId, msg.sender, vote);
    }

    /// @inheritdoc IVerification
    function resolve(uint256 jobId, IJobMarket.Job calldata job, bytes calldata inlineOutput) external nonReentrant {
        DisputeRecord storage d = _disputes[jobId];
        DisputeState state = d.state;
        if (state == DisputeState.None) revert NoDispute(jobId);
        if (state == DisputeState.Resolved) revert WrongDisputeState(jobId, state);
        if (state == DisputeState.Open) {
            uint256 resolvableAt = uint256(d.openedAt) + market.params().disputeDuration;
            if (block.timestamp <= resolvableAt) revert DisputeStillOpen(jobId, resolvableAt, block.timestamp);
        } else if (d.votesCorrect + d.votesWrong < d.members && block.timestamp <= d.voteRevealBy) {
            revert DisputeStillOpen(jobId, d.voteRevealBy, block.timestamp);
        }

        // 1. Tally. A tie (or no revealed vote at all) upholds the provider with no majority.
        uint256 correct = d.votesCorrect;
        uint256 wrong = d.votesWrong;
        bool faulted = wrong > correct;
        Vote majority = faulted ? Vote.ProviderWrong : (correct > wrong ? Vote.ProviderCorrect : Vote.None);
        d.state = DisputeState.Resolved;
        d.providerFaulted = faulted;
        uint256 slashed =
            faulted ? _settleFaulted(jobId, job, d, wrong) : _settleUpheld(jobId, job, d, majority, correct, inlineOutput);
        emit DisputeResolved(jobId, faulted, slashed, correct, wrong);
    }

    // ---------------------------------------------------------------- funds and governance

    /// @inheritdoc IVerification
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        credits[msg.sender] = 0;
        emit Withdrawal(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IVerification
    function withdrawTreasury(address to) external onlyOwner nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        amount = _treasury;
        if (amount == 0) revert NothingToWithdraw(to);
        _treasury = 0;
        emit TreasuryWithdrawn(to, amount);
        token.safeTransfer(to, amount);
    }

    /// @inheritdoc IVerification
    function setParams(VerificationParams calldata params_) external onlyOwner {
        _setParams(params_);
    }

    // ---------------------------------------------------------------- views

    function params() external view returns (VerificationParams memory) {
        return _params;
    }

    function audit(uint256 jobId) external view returns (Audit memory) {
        return _audits[jobId];
    }

    function dispute(uint256 jobId) external view returns (Dispute memory) {
        DisputeRecord storage d = _disputes[jobId];
        return Dispute({
            challenger: d.challenger,
            bond: d.bond,
            state: d.state,
            openedBlock: d.openedBlock,
            openedAt: d.openedAt,
            voteCommitBy: d.voteCommitBy,
            voteRevealBy: d.voteRevealBy,
            byAuditor: d.byAuditor,
            providerFaulted: d.providerFaulted,
            committee: d.committee
        });
    }

    function voteOf(uint256 jobId, address voter) external view returns (bytes32 commitment, Vote vote) {
        Ballot storage b = _ballots[jobId][voter];
        return (b.commitment, b.vote);
    }

    function treasury() external view returns (uint256) {
        return _treasury;
    }

    // ---------------------------------------------------------------- internals: audits

    /// @dev Checks that the caller is the blind auditor of committed job `jobId` and may still commit.
    function _requireBlindAuditor(uint256 jobId, IJobMarket.Job calldata job, AuditState state) private view {
        if (state != AuditState.None) revert WrongAuditState(jobId, state);
        (bytes32 seed, bool sampled) = market.samplingOf(jobId, job.commitBlock);
        if (seed == bytes32(0) && !sampled) {
            // Zero and unsampled: the seed block is not mined yet, or sampling is off.
            if (block.number <= uint256(job.commitBlock) + market.params().seedDelay) revert SeedNotReady(jobId);
            revert NotSampled(jobId);
        }
        if (!sampled) revert NotSampled(jobId);
        // Sampled with a seed out of reach: the audit will be a late one, drawn at the reveal.
        if (seed == bytes32(0)) revert AuditClosed(jobId);
        if (msg.sender != _drawAuditor(seed, jobId, job.provider)) revert NotAuditor(jobId, msg.sender);
        if (block.timestamp > _auditCommitBy(job)) revert AuditClosed(jobId);
    }

    function _drawAuditor(bytes32 seed, uint256 jobId, address provider) private view returns (address) {
        address[] memory excluded = new address[](1);
        excluded[0] = provider;
        return staking.drawVerifier(uint256(keccak256(abi.encode(seed, jobId, "audit"))), excluded);
    }

    function _auditCommitBy(IJobMarket.Job calldata job) private view returns (uint256 commitBy) {
        uint256 deadline = job.deadline;
        uint256 revealTimeout = market.params().revealTimeout;
        uint256 committedAt = deadline > revealTimeout ? deadline - revealTimeout : 0;
        commitBy = committedAt + _params.auditCommitTimeout;
        if (commitBy >= deadline) commitBy = deadline == 0 ? 0 : deadline - 1;
    }

    // ---------------------------------------------------------------- internals: disputes

    /// @dev Records a dispute, then has the market put the job under dispute (it checks `job`, the status
    /// and the window).
    function _openDispute(uint256 jobId, IJobMarket.Job calldata job, address challenger, uint96 bond, bool byAuditor)
        private
    {
        DisputeRecord storage d = _disputes[jobId];
        if (d.state != DisputeState.None) revert DisputeExists(jobId);
        d.challenger = challenger;
        d.bond = bond;
        d.provider = job.provider;
        d.openedBlock = uint40(block.number);
        d.openedAt = uint40(block.timestamp);
        d.state = DisputeState.Open;
        d.byAuditor = byAuditor;
        emit ChallengeOpened(jobId, challenger, bond, byAuditor);
        market.openDispute(jobId, job);
    }

    /// @dev Draws up to `size` distinct members, each from its own seed, and keeps the largest odd number
    /// of those found. At most `size` draws, each with at most 3 + size - 1 <= 16 exclusions.
    function _drawMembers(uint256 jobId, bytes32 seed, DisputeRecord storage d, uint256 size)
        private
        view
        returns (address[] memory members)
    {
        uint256 capacity = 3 + size - 1;
        address[] memory excluded = new address[](capacity);
        excluded[0] = d.provider;
        excluded[1] = d.challenger;
        excluded[2] = _audits[jobId].auditor; // zero when there is none: excludes nobody
        members = new address[](size);
        uint256 found;
        for (uint256 i; i < size; ++i) {
            uint256 n = 3 + found;
            uint256 memberSeed = uint256(keccak256(abi.encode(seed, jobId, "committee", i)));
            // Pass only the first n entries: the length word is set to n for the call, then restored
            // (n <= capacity, so nothing outside the allocation is read or written).
            assembly ("memory-safe") {
                mstore(excluded, n)
            }
            address member = staking.drawVerifier(memberSeed, excluded);
            assembly ("memory-safe") {
                mstore(excluded, capacity)
            }
            if (member == address(0)) continue;
            members[found] = member;
            if (n < capacity) excluded[n] = member;
            ++found;
        }
        if (found % 2 == 0 && found != 0) --found;
        assembly ("memory-safe") {
            mstore(members, found)
        }
    }

    /// @dev Majority ProviderWrong: the market refunds the poster and slashes the provider's collateral to
    /// this contract, which splits it; a bond comes back to its challenger.
    function _settleFaulted(uint256 jobId, IJobMarket.Job calldata job, DisputeRecord storage d, uint256 wrong)
        private
        returns (uint256 slashed)
    {
        // 1. The market checks `job`, refunds the poster and slashes the collateral to this contract.
        slashed = market.settleDispute(jobId, job, true, address(this), msg.data[0:0]);
        VerificationParams memory p = _params;
        // 2. Split: challenger, majority voters, the rest (rounding included) to the treasury.
        (uint256 toChallenger, uint256 perVoter, uint256 toTreasury) =
            Settlement.split(slashed, p.challengerRewardBps, p.voterRewardBps, wrong);
        address challenger = d.challenger;
        _credit(challenger, toChallenger + d.bond);
        // 3. Majority voters paid, minority and absent voters penalized.
        toTreasury += _settleVoters(jobId, d, Vote.ProviderWrong, perVoter, p.voterPenalty);
        _creditTreasury(toTreasury);
    }

    /// @dev Majority ProviderCorrect, a tie or no quorum: the provider is paid as on finalize. With a
    /// majority, the bond (or the overturned auditor's challengeBond) is forfeited and split; else it is
    /// returned. The market's settlement comes last: it calls the consumer back.
    function _settleUpheld(
        uint256 jobId,
        IJobMarket.Job calldata job,
        DisputeRecord storage d,
        Vote majority,
        uint256 correct,
        bytes calldata inlineOutput
    ) private returns (uint256 slashed) {
        VerificationParams memory p = _params;
        address challenger = d.challenger;
        uint256 toTreasury;
        uint256 perVoter;
        if (majority == Vote.ProviderCorrect) {
            // 1. The losing challenger's stake: its bond, or for an auditor, challengeBond from its stake.
            uint256 forfeited = d.bond;
            if (d.byAuditor) {
                slashed = staking.slash(challenger, 0, p.challengeBond, address(this));
                forfeited = slashed;
            }
            // 2. Split: the provider, majority voters, the rest to the treasury.
            uint256 toProvider;
            (toProvider, perVoter, toTreasury) =
                Settlement.split(forfeited, p.providerRewardBps, p.voterRewardBps, correct);
            _credit(d.provider, toProvider);
        } else {
            // 1. Nobody judged the result: the bond comes back.
            _credit(challenger, d.bond);
        }
        // 3. Majority voters paid (if any), minority and absent voters penalized.
        toTreasury += _settleVoters(jobId, d, majority, perVoter, p.voterPenalty);
        _creditTreasury(toTreasury);
        // 4. The market checks `job`, pays the provider and calls the consumer back.
        market.settleDispute(jobId, job, false, address(this), inlineOutput);
    }

    /// @dev Credits `perVoter` to each member that voted `majority`; penalizes every member that did not
    /// reveal, and, when there is a majority, every member that voted against it. Returns the penalties
    /// taken. At most MAX_COMMITTEE_SIZE members.
    function _settleVoters(uint256 jobId, DisputeRecord storage d, Vote majority, uint256 perVoter, uint256 penalty)
        private
        returns (uint256 penalties)
    {
        uint256 n = d.members;
        mapping(address voter => Ballot) storage ballots = _ballots[jobId];
        for (uint256 i; i < n; ++i) {
            address voter = d.committee[i];
            Vote vote = ballots[voter].vote;
            if (vote != Vote.None && vote == majority) {
                _credit(voter, perVoter);
            } else if (vote == Vote.None || majority != Vote.None) {
                uint256 taken = penalty == 0 ? 0 : staking.slash(voter, 0, penalty, address(this));
                penalties += taken;
                emit VoterPenalized(jobId, voter, taken);
            }
        }
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

    /// @dev The freshest seed there is, for a draw whose own seed block is out of reach.
    function _previousSeed() private view returns (bytes32 seed) {
        seed = _seedOf(block.number - 1);
        if (seed == bytes32(0)) seed = blockhash(block.number - 1);
    }

    function _voteHash(uint256 jobId, address voter, Vote vote, bytes32 salt) private view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), jobId, voter, uint8(vote), salt));
    }

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        credits[account] += amount;
        emit Credited(account, amount);
    }

    function _creditTreasury(uint256 amount) private {
        if (amount == 0) return;
        _treasury += amount;
        emit TreasuryCredited(amount);
    }

    function _setParams(VerificationParams memory p) private {
        IJobMarket.MarketParams memory mp = market.params();
        if (p.challengeBond == 0) revert InvalidParams("challengeBond");
        if (p.auditCommitTimeout == 0 || p.auditCommitTimeout >= mp.revealTimeout) {
            revert InvalidParams("auditCommitTimeout");
        }
        uint256 voting = uint256(p.voteCommitTimeout) + p.voteRevealTimeout;
        if (p.voteCommitTimeout == 0 || p.voteRevealTimeout == 0 || voting >= mp.disputeDuration) {
            revert InvalidParams("voteCommitTimeout, voteRevealTimeout");
        }
        if (p.committeeSize % 2 == 0 || p.committeeSize > MAX_COMMITTEE_SIZE) revert InvalidParams("committeeSize");
        if (
            p.challengerRewardBps >= BPS || p.providerRewardBps >= BPS
                || uint256(p.challengerRewardBps) + p.voterRewardBps > BPS
                || uint256(p.providerRewardBps) + p.voterRewardBps > BPS
        ) revert InvalidParams("rewardBps");
        _params = p;
        emit ParamsSet(p);
    }
}
