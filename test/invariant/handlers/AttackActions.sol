// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import * as Errors from "../../../contracts/errors/Errors.sol";
import {IJobMarket} from "../../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../../contracts/interfaces/IProtocolTerms.sol";
import {IPullPayments} from "../../../contracts/interfaces/IPullPayments.sol";
import {IStaking} from "../../../contracts/interfaces/IStaking.sol";
import {IVerification} from "../../../contracts/interfaces/IVerification.sol";
import {OutputRoot} from "../../../contracts/libraries/OutputRoot.sol";

import {GovernanceActions} from "./GovernanceActions.sol";

/// @notice Attacks: each tries something the protocol must refuse, on a job (or account) it applies to, and
/// asserts the exact custom error the spec's rule raises. A success, or a revert for another reason, is a
/// failure: an attack stopped by the wrong check is not a defended attack.
abstract contract AttackActions is GovernanceActions {
    uint256 public constant ATTACKS = 17;
    uint256[ATTACKS] public attacksTried;

    function attack(uint256 seed, uint256 kind) external {
        _begin();
        kind %= ATTACKS;
        address intruder = _providers[(seed >> 128) % _providers.length];
        if (kind == 0) _replayStaleState(seed);
        else if (kind == 1) _claimTaken(seed, intruder);
        else if (kind == 2) _actForAnotherProvider(seed, intruder);
        else if (kind == 3) _revealAnotherResult(seed);
        else if (kind == 4) _endEarly(seed);
        else if (kind == 5) _strangerOnPrivilegedCalls(seed, intruder);
        else if (kind == 6) _endTwice(seed);
        else if (kind == 7) _unbondLocked(seed);
        else if (kind == 8) _challengeLate(seed);
        else if (kind == 9) _forgeOutput(seed);
        else if (kind == 10) _expireRevealed(seed);
        else if (kind == 11) _revealLate(seed);
        else if (kind == 12) _voteOutOfTurn(seed);
        else if (kind == 13) _auditOutOfTurn(seed);
        else if (kind == 14) _brokenTerms(seed);
        else if (kind == 15) _badPost(seed);
        else _stealCredits(seed, intruder);
    }

    function _tried(uint256 kind) internal {
        ++attacksTried[kind];
    }

    /// @dev A job's previous state is never accepted again: no double claim, payment, refund or slash.
    function _replayStaleState(uint256 seed) internal {
        uint256 id = _pick(seed, 0x1fc, false); // Claimed..Slashed: every job that moved once
        if (id == 0) return;
        _tried(0);
        IJobMarket.Job memory stale = _jobs[id].previous;
        bytes memory mismatch = abi.encodeWithSelector(Errors.JobMismatch.selector, id);
        _expectRevert(address(market), KEEPER, abi.encodeCall(IJobMarket.expire, (id, stale)), mismatch, "replayed expire");
        _expectRevert(address(market), KEEPER, abi.encodeCall(IJobMarket.finalize, (id, stale)), mismatch, "replayed finalize");
        address p = _providers[seed % _providers.length];
        _expectRevert(address(market), p, abi.encodeCall(IJobMarket.claim, (id, stale)), mismatch, "replayed claim");
        bytes memory vMismatch = abi.encodeWithSelector(Errors.JobMismatch.selector, id);
        bytes memory data = abi.encodeCall(IVerification.auditorOf, (id, stale));
        _expectRevert(address(verification), KEEPER, data, vMismatch, "replayed state in Verification");
    }

    function _claimTaken(uint256 seed, address intruder) internal {
        uint256 id = _pick(seed, 0x1fc, false);
        if (id == 0) return;
        _tried(1);
        IJobMarket.Job memory job = _jobs[id].job;
        bytes memory wrong = abi.encodeWithSelector(Errors.WrongStatus.selector, id, job.status);
        _expectRevert(address(market), intruder, abi.encodeCall(IJobMarket.claim, (id, job)), wrong, "claim of a taken job");
    }

    /// @dev Only the job's provider commits and reveals.
    function _actForAnotherProvider(uint256 seed, address intruder) internal {
        uint256 id = _pick(seed, _bit(IJobMarket.JobStatus.Claimed) | _bit(IJobMarket.JobStatus.Committed), true);
        if (id == 0) return;
        IJobMarket.Job memory job = _jobs[id].job;
        if (intruder == job.provider) intruder = KEEPER;
        _tried(2);
        bytes memory notProvider = abi.encodeWithSelector(Errors.NotJobProvider.selector, id, intruder);
        bytes memory data = job.status == IJobMarket.JobStatus.Claimed
            ? abi.encodeCall(IJobMarket.commit, (id, job, keccak256("x")))
            : _revealCall(id);
        _expectRevert(address(market), intruder, data, notProvider, "commit or reveal by another account");
    }

    /// @dev A reveal that does not open the commitment (another salt), or comes before the seed block.
    function _revealAnotherResult(uint256 seed) internal {
        uint256 id = _pick(seed, _bit(IJobMarket.JobStatus.Committed), true);
        if (id == 0) return;
        JobModel storage m = _jobs[id];
        uint256 seedBlock = _seedBlock(id);
        bytes memory data;
        if (_block <= seedBlock) {
            _tried(3);
            data = _revealCall(id);
            bytes memory early = abi.encodeWithSelector(Errors.SeedNotReady.selector, id, seedBlock, _block);
            _expectRevert(address(market), m.job.provider, data, early, "reveal before the seed block");
        }
        _rollTo(seedBlock + 1);
        if (_block > seedBlock + BLOCKHASH_REACH) return;
        _tried(3);
        bytes32 otherSalt = bytes32(uint256(m.salt) ^ 1);
        data = abi.encodeCall(IJobMarket.reveal, (id, m.job, m.root, otherSalt, "", m.output));
        bytes memory mismatch = abi.encodeWithSelector(Errors.CommitmentMismatch.selector, id);
        _expectRevert(address(market), m.job.provider, data, mismatch, "reveal with another salt");
    }

    /// @dev Nothing ends before its deadline.
    function _endEarly(uint256 seed) internal {
        uint256 mask = _bit(IJobMarket.JobStatus.Posted) | _bit(IJobMarket.JobStatus.Claimed)
            | _bit(IJobMarket.JobStatus.Committed) | _bit(IJobMarket.JobStatus.Revealed);
        uint256 id = _pick(seed, mask, true);
        if (id == 0) return;
        IJobMarket.Job memory job = _jobs[id].job;
        if (job.status == IJobMarket.JobStatus.Committed && _block > _seedBlock(id) + BLOCKHASH_REACH) return;
        _tried(4);
        bytes memory early = abi.encodeWithSelector(Errors.DeadlineNotPassed.selector, id, job.deadline, _now);
        bytes memory data = job.status == IJobMarket.JobStatus.Revealed
            ? abi.encodeCall(IJobMarket.finalize, (id, job))
            : abi.encodeCall(IJobMarket.expire, (id, job));
        _expectRevert(address(market), KEEPER, data, early, "job ended before its deadline");
    }

    /// @dev Only the verification contract settles, only the terms contract hands versions over, only the
    /// protocol moves stake, only the market calls the audit hooks, only the owner sets terms.
    function _strangerOnPrivilegedCalls(uint256 seed, address intruder) internal {
        uint256 id = _pick(seed, _bit(IJobMarket.JobStatus.Revealed) | _bit(IJobMarket.JobStatus.Disputed), false);
        if (id == 0) return;
        _tried(5);
        IJobMarket.Job memory job = _jobs[id].job;
        bytes memory notVerification = abi.encodeWithSelector(Errors.NotVerification.selector, intruder);
        _expectRevert(address(market), intruder, abi.encodeCall(IJobMarket.openDispute, (id, job)), notVerification, "openDispute");
        bytes memory data = abi.encodeCall(IJobMarket.settleDispute, (id, job, true, intruder, bytes("")));
        _expectRevert(address(market), intruder, data, notVerification, "settleDispute by a stranger");
        data = abi.encodeCall(IJobMarket.payAuditReward, (intruder, 1));
        _expectRevert(address(market), intruder, data, notVerification, "payAuditReward by a stranger");
        data = abi.encodeCall(IJobMarket.adoptTerms, (1, _mp[1]));
        _expectRevert(address(market), intruder, data, abi.encodeWithSelector(Errors.NotTerms.selector, intruder), "adoptTerms");
        bytes memory notProtocol = abi.encodeWithSelector(Errors.NotProtocol.selector, intruder);
        data = abi.encodeCall(IStaking.slash, (job.provider, job.collateral, job.collateral, intruder));
        _expectRevert(address(staking), intruder, data, notProtocol, "slash by a stranger");
        data = abi.encodeCall(IStaking.penalize, (job.provider, 1 ether, intruder));
        _expectRevert(address(staking), intruder, data, notProtocol, "penalize by a stranger");
        data = abi.encodeCall(IStaking.unlock, (job.provider, job.collateral));
        _expectRevert(address(staking), intruder, data, notProtocol, "unlock by a stranger");
        bytes memory notMarket = abi.encodeWithSelector(Errors.NotMarket.selector, intruder);
        data = abi.encodeCall(IVerification.onSampledFinalize, (id, job));
        _expectRevert(address(verification), intruder, data, notMarket, "audit hook by a stranger");
        bytes memory notOwner = abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, intruder);
        data = abi.encodeCall(IProtocolTerms.setParams, (_mp[termsVersion]));
        _expectRevert(address(terms), intruder, data, notOwner, "terms set by a stranger");
    }

    /// @dev A finished job is never expired, finalized or challenged again.
    function _endTwice(uint256 seed) internal {
        uint256 mask = _bit(IJobMarket.JobStatus.Finalized) | _bit(IJobMarket.JobStatus.Expired)
            | _bit(IJobMarket.JobStatus.Slashed);
        uint256 id = _pick(seed, mask, false);
        if (id == 0) return;
        _tried(6);
        IJobMarket.Job memory job = _jobs[id].job;
        bytes memory wrong = abi.encodeWithSelector(Errors.WrongStatus.selector, id, job.status);
        _expectRevert(address(market), KEEPER, abi.encodeCall(IJobMarket.expire, (id, job)), wrong, "expire of a finished job");
        _expectRevert(address(market), KEEPER, abi.encodeCall(IJobMarket.finalize, (id, job)), wrong, "finalize of a finished job");
        bytes memory refused = _disputes[id].state == IVerification.DisputeState.None
            ? wrong
            : abi.encodeWithSelector(Errors.DisputeExists.selector, id);
        _expectRevert(address(verification), WATCHDOG, abi.encodeCall(IVerification.challenge, (id, job)), refused, "challenge of a finished job");
    }

    /// @dev Locked collateral can't be unbonded.
    function _unbondLocked(uint256 seed) internal {
        address[] memory all = stakers();
        for (uint256 i; i < all.length; ++i) {
            address who = all[(seed % all.length + i) % all.length];
            StakeModel storage s = _stakes[who];
            if (s.locked == 0) continue;
            _tried(7);
            uint256 available = s.stake - s.locked;
            bytes memory data = abi.encodeCall(IStaking.requestUnbond, (available + 1));
            bytes memory refused =
                abi.encodeWithSelector(Errors.InsufficientUnlockedStake.selector, who, available, available + 1);
            _expectRevert(address(staking), who, data, refused, "unbonding of locked collateral");
            return;
        }
    }

    /// @dev The challenge window closes at the job's deadline.
    function _challengeLate(uint256 seed) internal {
        uint256 id = _pick(seed, _bit(IJobMarket.JobStatus.Revealed), false);
        if (id == 0 || _disputes[id].state != IVerification.DisputeState.None) return;
        _tried(8);
        IJobMarket.Job memory job = _jobs[id].job;
        if (_now <= job.deadline) _warpTo(uint256(job.deadline) + 1);
        bytes memory late = abi.encodeWithSelector(Errors.DeadlinePassed.selector, id, job.deadline, _now);
        _expectRevert(address(verification), WATCHDOG, abi.encodeCall(IVerification.challenge, (id, job)), late, "late challenge");
    }

    /// @dev A consumer that wants its output inline only ever gets the revealed one: a forged output, or none,
    /// is refused on finalize.
    function _forgeOutput(uint256 seed) internal {
        uint256 n = jobCount;
        for (uint256 i; i < n; ++i) {
            uint256 id = (seed % n + i) % n + 1;
            JobModel storage m = _jobs[id];
            if (m.job.status != IJobMarket.JobStatus.Revealed || !m.job.inlineOutput || m.job.callbackGasLimit == 0) continue;
            // A sampled job whose auditor committed and kept quiet goes to a committee instead of paying.
            if (m.job.sampled && _audits[id].state == IVerification.AuditState.Committed) continue;
            _focus = id;
            _tried(9);
            if (_now <= m.job.deadline) _warpTo(uint256(m.job.deadline) + 1);
            bytes memory forged = abi.encodePacked(m.output, uint8(1));
            bytes memory mismatch = abi.encodeWithSelector(
                Errors.OutputRootMismatch.selector, m.job.result, OutputRoot.leaf(0, forged)
            );
            bytes memory data = abi.encodeCall(IJobMarket.finalizeWithOutput, (id, m.job, forged));
            _expectRevert(address(market), KEEPER, data, mismatch, "forged output on finalize");
            bytes memory withheld = abi.encodeWithSelector(Errors.InlineOutputRequired.selector, id);
            _expectRevert(address(market), KEEPER, abi.encodeCall(IJobMarket.finalize, (id, m.job)), withheld, "output withheld");
            return;
        }
    }

    /// @dev A revealed result is never expired away (refund and penalty): it is finalized or judged.
    function _expireRevealed(uint256 seed) internal {
        uint256 id = _pick(seed, _bit(IJobMarket.JobStatus.Revealed) | _bit(IJobMarket.JobStatus.Disputed), false);
        if (id == 0) return;
        _tried(10);
        IJobMarket.Job memory job = _jobs[id].job;
        bytes memory wrong = abi.encodeWithSelector(Errors.WrongStatus.selector, id, job.status);
        _expectRevert(address(market), KEEPER, abi.encodeCall(IJobMarket.expire, (id, job)), wrong, "expire of a revealed job");
    }

    /// @dev A reveal after its deadline, or once its seed is out of reach (waiting out the seed), is refused.
    function _revealLate(uint256 seed) internal {
        uint256 id = _pick(seed, _bit(IJobMarket.JobStatus.Committed), false);
        if (id == 0) return;
        JobModel storage m = _jobs[id];
        uint256 seedBlock = _seedBlock(id);
        _tried(11);
        bytes memory refused;
        if (_now > m.job.deadline) {
            refused = abi.encodeWithSelector(Errors.DeadlinePassed.selector, id, m.job.deadline, _now);
        } else {
            _rollTo(seedBlock + BLOCKHASH_REACH + 1);
            refused = abi.encodeWithSelector(Errors.SeedOutOfReach.selector, id, seedBlock, seedBlock + BLOCKHASH_REACH);
            _reach("seed waited out");
        }
        _expectRevert(address(market), m.job.provider, _revealCall(id), refused, "late reveal");
    }

    /// @dev Votes out of turn: a stranger's, a late commitment, a late reveal.
    function _voteOutOfTurn(uint256 seed) internal {
        uint256 id = _pickDispute(seed, IVerification.DisputeState.Voting);
        if (id == 0) return;
        _tried(12);
        DisputeModel storage d = _disputes[id];
        bytes32 commitment = keccak256("vote");
        bytes memory stranger = abi.encodeWithSelector(Errors.NotCommitteeMember.selector, id, KEEPER);
        _expectRevert(address(verification), KEEPER, abi.encodeCall(IVerification.commitVote, (id, commitment)), stranger, "stranger's vote");
        if (seed % 3 != 0) return;
        // Late: past the reveal deadline nothing is taken any more (the resolution follows).
        if (_now <= d.voteRevealBy) _warpTo(uint256(d.voteRevealBy) + 1);
        address member = d.voters[seed % d.voters.length];
        Ballot storage b = _ballots[id][member];
        if (b.planned == 0) {
            bytes memory late = abi.encodeWithSelector(Errors.VotingClosed.selector, id, d.voteCommitBy, _now);
            _expectRevert(address(verification), member, abi.encodeCall(IVerification.commitVote, (id, commitment)), late, "late vote");
        } else if (!b.revealed) {
            bytes memory late = abi.encodeWithSelector(Errors.VotingClosed.selector, id, d.voteRevealBy, _now);
            bytes memory data =
                abi.encodeCall(IVerification.revealVote, (id, IVerification.Vote(b.planned), _voteSalt(id, member)));
            _expectRevert(address(verification), member, data, late, "late vote reveal");
        }
    }

    /// @dev Audits out of turn: of a job not sampled, after the audit deadline, revealed after the window.
    function _auditOutOfTurn(uint256 seed) internal {
        uint256 id = _pick(seed, _bit(IJobMarket.JobStatus.Committed), true);
        if (id != 0 && _audits[id].state == IVerification.AuditState.None) {
            _rollTo(_seedBlock(id) + 1);
            if (_block <= _seedBlock(id) + BLOCKHASH_REACH) {
                IJobMarket.Job memory job = _jobs[id].job;
                bytes memory data = abi.encodeCall(IVerification.commitAudit, (id, job, keccak256("audit")));
                address v = _verifiers[seed % _verifiers.length];
                if (!_sampledModel(id)) {
                    _tried(13);
                    _expectRevert(address(verification), v, data, abi.encodeWithSelector(Errors.NotSampled.selector, id), "audit of a job not sampled");
                } else {
                    address auditor = _drawnAuditor(id);
                    if (auditor != address(0) && _now > _auditCommitBy(id)) {
                        _tried(13);
                        _expectRevert(address(verification), auditor, data, abi.encodeWithSelector(Errors.AuditClosed.selector, id), "late blind audit");
                    }
                }
            }
        }
        // An audit committed blind and revealed after the window.
        uint256 n = jobCount;
        for (uint256 i; i < n; ++i) {
            uint256 j = (seed % n + i) % n + 1;
            IJobMarket.Job memory job = _jobs[j].job;
            if (job.status != IJobMarket.JobStatus.Revealed || _audits[j].state != IVerification.AuditState.Committed) continue;
            if (_now <= job.deadline) continue;
            _focus = j;
            _tried(13);
            AuditModel storage a = _audits[j];
            bytes memory data = abi.encodeCall(
                IVerification.revealAudit, (j, job, a.root, _auditSalt(j), IVerification.Verdict.Agree, "")
            );
            _rollTo(uint256(a.commitBlock) + _mp[job.terms].seedDelay + 1);
            _expectRevert(address(verification), a.auditor, data, abi.encodeWithSelector(Errors.AuditClosed.selector, j), "audit revealed after the window");
            return;
        }
    }

    /// @dev Governance cannot set a version that breaks the game: ProtocolTerms refuses it (InvalidParams).
    function _brokenTerms(uint256 seed) internal {
        _tried(14);
        IProtocolTerms.MarketParams memory p = _mp[termsVersion];
        IProtocolTerms.VerificationParams memory v = _vp[termsVersion];
        uint256 rule = seed % 6;
        bytes memory data;
        if (rule == 0) {
            v.auditCommitTimeout = p.revealTimeout; // the auditor would commit after the provider may reveal
            data = abi.encodeCall(IProtocolTerms.setVerificationParams, (v));
        } else if (rule == 1) {
            v.committeeSize = uint8(2 * (1 + seed % 6)); // even
            data = abi.encodeCall(IProtocolTerms.setVerificationParams, (v));
        } else if (rule == 2) {
            v.challengeBond = uint96(MIN_VERIFIER_STAKE + 1); // above what an auditor's stake covers
            data = abi.encodeCall(IProtocolTerms.setVerificationParams, (v));
        } else if (rule == 3) {
            p.disputeDuration = uint32(2 * (uint256(v.voteCommitTimeout) + v.voteRevealTimeout) - 1); // no time to draw
            data = abi.encodeCall(IProtocolTerms.setParams, (p));
        } else if (rule == 4) {
            p.maxClaimDelay = uint24(UNBONDING_PERIOD); // a job would outlive the unbonding period
            data = abi.encodeCall(IProtocolTerms.setParams, (p));
        } else {
            v.challengerRewardBps = uint16(BPS); // a finder would take everything
            data = abi.encodeCall(IProtocolTerms.setVerificationParams, (v));
        }
        _expectRevertSelector(address(terms), owner, data, Errors.InvalidParams.selector, "broken terms");
    }

    /// @dev Posts the market refuses: a callback for an account that can't take one, a fee below the model's
    /// floor, a claim deadline past maxClaimDelay.
    function _badPost(uint256 seed) internal {
        _tried(15);
        address poster = _posters[seed % 2];
        IJobMarket.JobRequest memory req;
        req.modelId = _models[0];
        req.fee = _floorOf[_models[0]];
        req.claimBy = uint64(_now + 1);
        req.inputHash = keccak256("input");
        uint256 rule = seed % 3;
        bytes memory refused;
        if (rule == 0 && _mp[termsVersion].callbackGasLimit != 0) {
            req.callbackGasLimit = 1;
            refused = abi.encodeWithSelector(Errors.CallbackNeedsContract.selector, poster);
        } else if (rule == 1) {
            req.fee -= 1;
            refused = abi.encodeWithSelector(Errors.FeeBelowFloor.selector, req.fee, req.fee + 1);
        } else {
            uint256 latest = _now + _mp[termsVersion].maxClaimDelay;
            req.claimBy = uint64(latest + 1);
            refused = abi.encodeWithSelector(Errors.InvalidClaimBy.selector, latest + 1, _now + 1, latest);
        }
        _expectRevert(address(market), poster, abi.encodeCall(IJobMarket.postJob, (req)), refused, "bad post");
    }

    /// @dev Credits are withdrawn only by their owner: an account without any is refused.
    function _stealCredits(uint256 seed, address intruder) internal {
        if (_marketCredits[intruder] != 0 || _verificationCredits[intruder] != 0) return;
        _tried(16);
        _expectRevert(address(market), intruder, abi.encodeCall(IPullPayments.withdraw, ()), abi.encodeWithSelector(Errors.NothingToWithdraw.selector, intruder), "withdraw without credits");
        _expectRevert(address(verification), intruder, abi.encodeCall(IPullPayments.withdraw, ()), abi.encodeWithSelector(Errors.NothingToWithdraw.selector, intruder), "withdraw without credits");
        seed;
    }
}
