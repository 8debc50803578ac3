// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import * as Errors from "../../../contracts/errors/Errors.sol";
import {IJobMarket} from "../../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../../contracts/interfaces/IProtocolTerms.sol";
import {IVerification} from "../../../contracts/interfaces/IVerification.sol";
import {Commitments} from "../../../contracts/libraries/Commitments.sol";

import {JobActions} from "./JobActions.sol";

/// @notice The verification game on the real Verification contract: blind audits (commit, reveal, recheck),
/// challenges, committee draws (seats with replacement), votes, and the resolution, each applied to the model
/// as docs/PROTOCOL.md ("The verification game") says.
abstract contract VerificationActions is JobActions {
    // ================================================================== fuzzed actions

    /// @notice The drawn auditor of a committed, sampled job commits blind.
    function commitAudit(uint256 jobSeed, uint256 choice) external {
        _begin();
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Committed), true);
        if (id == 0 || _audits[id].state != IVerification.AuditState.None) return;
        _rollTo(_seedBlock(id) + 1);
        if (_block > _seedBlock(id) + BLOCKHASH_REACH || !_sampledModel(id)) return;
        address auditor = _drawnAuditor(id);
        if (auditor != address(0) && _now <= _auditCommitBy(id)) _commitAudit(id, auditor, choice);
    }

    /// @notice An auditor that committed blind reveals its root and verdict.
    function revealAudit(uint256 jobSeed, bool disagree) external {
        _begin();
        uint256 id = _pickAuditToReveal(jobSeed);
        if (id != 0) _revealAudit(id, disagree);
    }

    function challenge(uint256 jobSeed, uint256 challengerSeed) external {
        _begin();
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Revealed), true);
        if (id != 0) _challenge(id, challengerSeed);
    }

    function drawCommittee(uint256 jobSeed, uint256 choice) external {
        _begin();
        uint256 id = _pickDispute(jobSeed, IVerification.DisputeState.Open);
        if (id != 0) _drawCommittee(id, choice);
    }

    function commitVote(uint256 jobSeed, uint256 voteSeed) external {
        _begin();
        uint256 id = _pickDispute(jobSeed, IVerification.DisputeState.Voting);
        if (id != 0) _commitVote(id, voteSeed);
    }

    function revealVote(uint256 jobSeed) external {
        _begin();
        uint256 id = _pickDispute(jobSeed, IVerification.DisputeState.Voting);
        if (id != 0) _revealVote(id, jobSeed);
    }

    /// @notice A keeper resolves a dispute; most of the time the members who have not voted yet do first,
    /// while they still may.
    function resolve(uint256 jobSeed, uint256 choice) external {
        _begin();
        uint256 id = _pickOpenDispute(jobSeed);
        if (id == 0) return;
        DisputeModel storage d = _disputes[id];
        if (d.state == IVerification.DisputeState.Voting && choice % 4 != 0) {
            if (_now <= d.voteCommitBy) _commitVote(id, choice >> 8);
            if (_now <= d.voteRevealBy) _revealVote(id, choice >> 16);
        }
        _resolve(id);
    }

    // ================================================================== audits

    /// @dev The job's auditor (zero: nobody eligible), as Verification names it while the job is committed:
    /// checked against the spec's draw, `drawVerifier(keccak256(abi.encode(seed, jobId, "audit")), commitBlock,
    /// [provider, poster])`, and against the first time it was drawn (no later transaction changes it).
    function _drawnAuditor(uint256 id) internal override returns (address auditor) {
        IJobMarket.Job memory job = _jobs[id].job;
        auditor = verification.auditorOf(id, job);
        address[] memory excluded = new address[](2);
        excluded[0] = job.provider;
        excluded[1] = job.poster;
        uint256 drawSeed = uint256(keccak256(abi.encode(blockhash(_seedBlock(id)), id, "audit")));
        _check(auditor == staking.drawVerifier(drawSeed, job.commitBlock, excluded), "auditorOf: the spec's draw");
        AuditModel storage a = _audits[id];
        if (!a.drawChecked) {
            a.drawChecked = true;
            a.drawn = auditor;
            _check(auditor != job.provider && auditor != job.poster, "the auditor is never the provider or the poster");
        } else {
            _check(auditor == a.drawn, "the auditor draw is frozen: later transactions do not change it");
            _reach("auditor drawn again, unchanged");
        }
    }

    /// @dev The drawn auditor commits its root blind (the provider's root, or another); a verifier not drawn
    /// is refused first. Returns whether the audit was committed.
    function _commitAudit(uint256 id, address auditor, uint256 choice) internal override returns (bool) {
        _focus = id;
        JobModel storage m = _jobs[id];
        bytes32 root = choice % 3 == 0 ? keccak256(abi.encode("another output", id)) : m.root;
        bytes32 commitment = Commitments.hash(block.chainid, address(market), id, auditor, root, _auditSalt(id));
        bytes memory data = abi.encodeCall(IVerification.commitAudit, (id, m.job, commitment));
        address other = _verifiers[choice % _verifiers.length];
        if (other != auditor) {
            bytes memory notAuditor = abi.encodeWithSelector(Errors.NotAuditor.selector, id, other);
            _expectRevert(address(verification), other, data, notAuditor, "audit committed by a verifier not drawn");
        }
        if (!_exec(auditor, address(verification), data, "commitAudit")) return false;
        AuditModel storage a = _audits[id];
        a.auditor = auditor;
        a.state = IVerification.AuditState.Committed;
        a.commitBlock = uint64(_block);
        a.commitment = commitment;
        a.root = root;
        bytes memory twice = abi.encodeWithSelector(
            Errors.WrongAuditState.selector, id, IVerification.AuditState.Committed
        );
        _expectRevert(address(verification), auditor, data, twice, "audit committed twice");
        _reach(root == m.root ? "audit committed (same root)" : "audit committed (another root)");
        return true;
    }

    /// @dev A job whose auditor committed blind and may reveal now (job revealed or disputed, window open).
    function _pickAuditToReveal(uint256 seed) internal returns (uint256) {
        uint256 n = jobCount;
        for (uint256 i; i < n; ++i) {
            uint256 id = (seed % n + i) % n + 1;
            IJobMarket.Job storage j = _jobs[id].job;
            bool revealed = j.status == IJobMarket.JobStatus.Revealed || j.status == IJobMarket.JobStatus.Disputed;
            if (!revealed || _audits[id].state != IVerification.AuditState.Committed || _now > j.deadline) continue;
            _focus = id;
            return id;
        }
        return 0;
    }

    /// @dev The auditor reveals: equal roots are an Agree; Disagree opens a dispute; an Agree with another
    /// root is rechecked with probability recheckPpm (from the seed `seedDelay` blocks after its commit).
    function _revealAudit(uint256 id, bool disagree) internal override {
        _focus = id;
        JobModel storage m = _jobs[id];
        AuditModel storage a = _audits[id];
        IJobMarket.Job memory job = m.job;
        uint256 recheckBlock = uint256(a.commitBlock) + _mp[job.terms].seedDelay;
        _rollTo(recheckBlock + 1);
        if (job.status == IJobMarket.JobStatus.Disputed && _disputes[id].state != IVerification.DisputeState.Open) {
            // Once another party's dispute has its committee, the audit can no longer be revealed: its verdict
            // could follow the votes. It stays committed, and the dispute's resolution penalizes it as unrevealed.
            bytes memory late = abi.encodeCall(
                IVerification.revealAudit, (id, job, a.root, _auditSalt(id), disagree ? IVerification.Verdict.Disagree : IVerification.Verdict.Agree, "")
            );
            _expectRevert(
                address(verification), a.auditor, late, abi.encodeWithSelector(Errors.AuditClosed.selector, id), "audit revealed after the committee draw"
            );
            _reach("audit reveal refused once the committee is drawn");
            return;
        }
        bool sameRoot = a.root == job.result;
        IVerification.Verdict verdict =
            disagree && !sameRoot ? IVerification.Verdict.Disagree : IVerification.Verdict.Agree;
        bool recheck = verdict == IVerification.Verdict.Agree && !sameRoot && _rechecked(id, recheckBlock);
        bytes memory data = abi.encodeCall(
            IVerification.revealAudit,
            (id, job, a.root, _auditSalt(id), disagree ? IVerification.Verdict.Disagree : IVerification.Verdict.Agree, "")
        );
        bytes memory notAuditor = abi.encodeWithSelector(Errors.NotAuditor.selector, id, KEEPER);
        _expectRevert(address(verification), KEEPER, data, notAuditor, "audit revealed by another account");
        if (!_exec(a.auditor, address(verification), data, "revealAudit")) return;
        a.state = verdict == IVerification.Verdict.Agree ? IVerification.AuditState.Agreed : IVerification.AuditState.Disagreed;
        a.revealedRoot = a.root;
        if (job.status == IJobMarket.JobStatus.Revealed) {
            if (verdict == IVerification.Verdict.Disagree) {
                _openDisputeModel(id, a.auditor, 0, IVerification.DisputeReason.AuditDisagreed);
                _transition(id, IJobMarket.JobStatus.Disputed);
                _reach("audit disagreed: dispute");
            } else if (recheck) {
                _openDisputeModel(id, address(0), 0, IVerification.DisputeReason.Recheck);
                _transition(id, IJobMarket.JobStatus.Disputed);
                _reach("audit agreed with another root: recheck");
            }
        } else {
            _reach("audit revealed into an open dispute");
        }
        _reach(verdict == IVerification.Verdict.Agree ? "audit agreed" : "audit disagreed");
        _checkStored(id, "revealAudit");
    }

    /// @dev Whether an Agree with a different root is rechecked: `recheckPpm` of them, from the seed of
    /// `recheckBlock` (a seed out of reach always rechecks).
    function _rechecked(uint256 id, uint256 recheckBlock) internal view returns (bool) {
        uint256 ppm = _vp[_jobs[id].job.terms].recheckPpm;
        if (ppm == 0) return false;
        if (_block > recheckBlock + BLOCKHASH_REACH) return true;
        return uint256(keccak256(abi.encode(blockhash(recheckBlock), id, "recheck"))) % PPM < ppm;
    }

    // ================================================================== disputes

    /// @dev Anyone challenges with the job's challengeBond: a watchdog, a verifier, a poster, even the provider
    /// itself from its own account.
    function _challenge(uint256 id, uint256 challengerSeed) internal {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id].job;
        if (_disputes[id].state != IVerification.DisputeState.None || _now > job.deadline) return;
        address[] memory all = accounts();
        address challenger = challengerSeed % 3 == 0 ? WATCHDOG : all[challengerSeed % 13];
        if (challenger == address(consumer) || challenger == address(this)) challenger = WATCHDOG;
        uint96 bond = _vp[job.terms].challengeBond;
        _mint(challenger, bond);
        vm.prank(challenger);
        token.approve(address(verification), bond);
        bytes memory data = abi.encodeCall(IVerification.challenge, (id, job));
        if (!_exec(challenger, address(verification), data, "challenge")) return;
        _openDisputeModel(id, challenger, bond, IVerification.DisputeReason.Challenge);
        _transition(id, IJobMarket.JobStatus.Disputed);
        _checkStored(id, "challenge");
        _reach(challenger == job.provider ? "self-challenge" : "challenge");
    }

    /// @dev A job whose dispute is open or voting, from `seed`.
    function _pickOpenDispute(uint256 seed) internal returns (uint256) {
        uint256 n = jobCount;
        for (uint256 i; i < n; ++i) {
            uint256 id = (seed % n + i) % n + 1;
            IVerification.DisputeState state = _disputes[id].state;
            bool open = state == IVerification.DisputeState.Open || state == IVerification.DisputeState.Voting;
            if (!open || _jobs[id].job.status != IJobMarket.JobStatus.Disputed) continue;
            _focus = id;
            return id;
        }
        return 0;
    }

    function _pickDispute(uint256 seed, IVerification.DisputeState state) internal returns (uint256) {
        uint256 n = jobCount;
        for (uint256 i; i < n; ++i) {
            uint256 id = (seed % n + i) % n + 1;
            if (_disputes[id].state != state || _jobs[id].job.status != IJobMarket.JobStatus.Disputed) continue;
            _focus = id;
            return id;
        }
        return 0;
    }

    /// @dev Draws the committee once its seed block is mined: each seat the spec's draw, or, once that seed is
    /// out of reach, a reseed (now and then the keeper waits that long on purpose). Too late to vote in time,
    /// the draw is refused.
    function _drawCommittee(uint256 id, uint256 choice) internal {
        _focus = id;
        DisputeModel storage d = _disputes[id];
        IJobMarket.Job memory job = _jobs[id].job;
        IProtocolTerms.VerificationParams memory v = _vp[job.terms];
        uint256 drawBy = uint256(d.openedAt) + _mp[job.terms].disputeDuration - v.voteCommitTimeout - v.voteRevealTimeout;
        if (choice % 16 == 1 && _block <= uint256(d.seedBlock) + BLOCKHASH_REACH) {
            _rollTo(uint256(d.seedBlock) + BLOCKHASH_REACH + 1);
        }
        _rollTo(uint256(d.seedBlock) + 1);
        bytes memory data = abi.encodeCall(IVerification.drawCommittee, (id));
        if (_now > drawBy) {
            bytes memory late = abi.encodeWithSelector(Errors.VotingClosed.selector, id, drawBy, _now);
            _expectRevert(address(verification), KEEPER, data, late, "committee drawn too late to vote in time");
            return;
        }
        if (_block > uint256(d.seedBlock) + BLOCKHASH_REACH) {
            if (!_exec(KEEPER, address(verification), data, "drawCommittee (reseed)")) return;
            d.seedBlock = uint64(_block + _mp[job.terms].seedDelay);
            _reach("committee reseeded");
            return;
        }
        address[] memory seats = _specSeats(id);
        if (!_exec(KEEPER, address(verification), data, "drawCommittee")) return;
        if (seats.length == 0) {
            _reach("committee: nobody eligible");
            return;
        }
        d.state = IVerification.DisputeState.Voting;
        d.voteCommitBy = uint64(_now + v.voteCommitTimeout);
        d.voteRevealBy = d.voteCommitBy + v.voteRevealTimeout;
        for (uint256 i; i < seats.length; ++i) {
            d.seats.push(seats[i]);
            Ballot storage b = _ballots[id][seats[i]];
            if (b.seats == 0) d.voters.push(seats[i]);
            ++b.seats;
        }
        bytes memory twice = abi.encodeWithSelector(
            Errors.WrongDisputeState.selector, id, IVerification.DisputeState.Voting
        );
        _expectRevert(address(verification), KEEPER, data, twice, "committee drawn twice");
        _reach(d.voters.length < seats.length ? "committee: a member with several seats" : "committee drawn");
    }

    /// @dev Seat i is `drawVerifier(keccak256(abi.encode(seed, jobId, "committee", i)), commitBlock, [provider,
    /// poster, challenger, auditor])`; seats that found nobody are dropped, keeping an odd number.
    function _specSeats(uint256 id) internal view returns (address[] memory seats) {
        DisputeModel storage d = _disputes[id];
        IJobMarket.Job storage job = _jobs[id].job;
        address[] memory excluded = new address[](4);
        excluded[0] = job.provider;
        excluded[1] = job.poster;
        excluded[2] = d.challenger;
        excluded[3] = _audits[id].auditor;
        bytes32 seed = blockhash(d.seedBlock);
        uint256 size = _vp[job.terms].committeeSize;
        seats = new address[](size);
        uint256 found;
        for (uint256 i; i < size; ++i) {
            uint256 seatSeed = uint256(keccak256(abi.encode(seed, id, "committee", i)));
            address member = staking.drawVerifier(seatSeed, job.commitBlock, excluded);
            if (member != address(0)) seats[found++] = member;
        }
        if (found % 2 == 0 && found != 0) --found;
        assembly ("memory-safe") {
            mstore(seats, found)
        }
    }

    /// @dev The members that have not committed commit (as their daemons would, in one round): most vote the
    /// way the committee leans (ProviderCorrect, ProviderWrong or AuditorWrong, from `seed`), some dissent, some
    /// stay silent; on a redundant job's seat they vote the truth (`_truthfulVote`). A second commitment and a
    /// stranger's are refused.
    function _commitVote(uint256 id, uint256 seed) internal {
        _focus = id;
        DisputeModel storage d = _disputes[id];
        if (_now > d.voteCommitBy) return;
        uint256 lean = 1 + seed % 3;
        for (uint256 i; i < d.voters.length; ++i) {
            address member = d.voters[i];
            Ballot storage b = _ballots[id][member];
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            if (b.planned != 0 || r % 8 == 0) continue; // committed already, or silent
            uint256 vote = _truth[id] != 0 ? _truthfulVote(id, r) : (r % 8 < 6 ? lean : 1 + (r >> 8) % 3);
            bytes memory data = abi.encodeCall(IVerification.commitVote, (id, _voteHash(id, member, vote)));
            if (!_exec(member, address(verification), data, "commitVote")) return;
            b.planned = vote;
            ++d.commits;
            if (i == 0) {
                bytes memory twice = abi.encodeWithSelector(Errors.VoteAlreadyCommitted.selector, id, member);
                _expectRevert(address(verification), member, data, twice, "vote committed twice");
                bytes memory stranger = abi.encodeWithSelector(Errors.NotCommitteeMember.selector, id, WATCHDOG);
                _expectRevert(address(verification), WATCHDOG, data, stranger, "vote by a non-member");
            }
            _reach("vote committed");
        }
    }

    /// @dev A redundant job's seat before an honest majority (the protocol's assumption, which the rational-attacker
    /// check of ReplicaActions relies on): ProviderWrong for a made-up root; for the honest root ProviderCorrect or,
    /// now and then, AuditorWrong (with no audit under judgement it upholds the provider as well).
    function _truthfulVote(uint256 id, uint256 r) internal view returns (uint256) {
        if (_truth[id] == 2) return uint256(IVerification.Vote.ProviderWrong);
        return (r >> 8) % 4 == 0 ? uint256(IVerification.Vote.AuditorWrong) : uint256(IVerification.Vote.ProviderCorrect);
    }

    /// @dev The members that committed reveal (now and then one keeps quiet); revealing before every member
    /// committed, while the commit phase runs, is refused first.
    function _revealVote(uint256 id, uint256 seed) internal {
        _focus = id;
        DisputeModel storage d = _disputes[id];
        uint256 n = d.voters.length;
        for (uint256 i; i < n; ++i) {
            address member = d.voters[i];
            Ballot storage b = _ballots[id][member];
            if (b.planned == 0 || b.revealed || uint256(keccak256(abi.encode(seed, i))) % 10 == 0) continue;
            bytes memory data = abi.encodeCall(
                IVerification.revealVote, (id, IVerification.Vote(b.planned), _voteSalt(id, member))
            );
            if (_now <= d.voteCommitBy && d.commits < n) {
                bytes memory early =
                    abi.encodeWithSelector(Errors.VotingStillOpen.selector, id, d.voteCommitBy, _now);
                _expectRevert(address(verification), member, data, early, "vote revealed while others may commit");
                _warpTo(uint256(d.voteCommitBy) + 1);
            }
            if (_now > d.voteRevealBy) return;
            if (!_exec(member, address(verification), data, "revealVote")) return;
            b.revealed = true;
            if (b.planned == uint256(IVerification.Vote.ProviderCorrect)) d.correct += b.seats;
            else if (b.planned == uint256(IVerification.Vote.ProviderWrong)) d.wrong += b.seats;
            else d.auditorWrong += b.seats;
            bytes memory twice = abi.encodeWithSelector(Errors.VoteAlreadyRevealed.selector, id, member);
            _expectRevert(address(verification), member, data, twice, "vote revealed twice");
            _reach("vote revealed");
        }
    }

    // ================================================================== resolution

    /// @dev The verdicts of a resolution (docs/PROTOCOL.md "Dispute" step 4).
    struct Verdicts {
        bool faulted;
        bool upheldByQuorum;
        IVerification.Vote outcome;
        bool auditJudged;
        bool auditorWrong;
        uint256 auditorStake;
        uint256 bondVoterPay; // what a challenger's bond paid the committee
    }

    /// @dev Resolves once it may (after the reveal deadline or once every seat revealed; without a committee
    /// after disputeDuration). Resolving early, or twice, is refused.
    function _resolve(uint256 id) internal {
        _focus = id;
        DisputeModel storage d = _disputes[id];
        JobModel storage m = _jobs[id];
        bytes memory data = abi.encodeCall(IVerification.resolve, (id, m.job, m.job.inlineOutput ? m.output : bytes("")));
        uint256 resolvableAfter;
        if (d.state == IVerification.DisputeState.Open) {
            resolvableAfter = uint256(d.openedAt) + _mp[m.job.terms].disputeDuration;
        } else if (d.correct + d.wrong + d.auditorWrong < d.seats.length) {
            resolvableAfter = d.voteRevealBy;
        }
        if (_now <= resolvableAfter) {
            bytes memory early =
                abi.encodeWithSelector(Errors.DisputeStillOpen.selector, id, resolvableAfter, _now);
            _expectRevert(address(verification), KEEPER, data, early, "dispute resolved before it may be");
            _warpTo(resolvableAfter + 1);
        }
        IJobMarket.Job memory job = m.job;
        uint256 deliveries = consumer.deliveries();
        if (!_execSlashing(KEEPER, address(verification), data, "resolve")) return;
        ++resolutions[id];
        Verdicts memory v = _tally(id);
        _settleVotersModel(id, v);
        _settleAuditorModel(id, v);
        if (v.faulted) _settleFaultedModel(id, v);
        else _settleUpheldModel(id, v);
        d.state = IVerification.DisputeState.Resolved;
        d.outcome = v.outcome;
        d.providerFaulted = v.faulted;
        bondsOpen -= d.bond;
        if (!v.faulted) _checkCallback(id, job, deliveries, "resolve");
        bytes memory twice = abi.encodeWithSelector(
            Errors.WrongDisputeState.selector, id, IVerification.DisputeState.Resolved
        );
        _expectRevert(address(verification), KEEPER, data, twice, "dispute resolved twice");
        _checkStored(id, "resolve");
        _reach(v.faulted ? "resolved: faulted" : (v.upheldByQuorum ? "resolved: upheld" : "resolved: no quorum"));
        if (v.outcome == IVerification.Vote.AuditorWrong) _reach("auditor's output judged wrong");
        if (_truth[id] != 0) _reach(v.faulted ? "replica seat faulted by its committee" : "replica seat upheld by its committee");
    }

    /// @dev A quorum is more than half of the seats. ProviderWrong faults the provider (an agreeing auditor with
    /// it); ProviderCorrect and AuditorWrong together uphold it, and AuditorWrong alone past half judges an
    /// agreeing auditor's different output wrong; an overturned Disagree is wrong; no quorum judges nobody.
    function _tally(uint256 id) internal view returns (Verdicts memory v) {
        DisputeModel storage d = _disputes[id];
        AuditModel storage a = _audits[id];
        uint256 n = d.seats.length;
        v.auditJudged = a.state == IVerification.AuditState.Agreed && a.revealedRoot != _jobs[id].job.result;
        if (2 * d.wrong > n) {
            v.faulted = true;
            v.outcome = IVerification.Vote.ProviderWrong;
            v.auditorWrong = a.state == IVerification.AuditState.Agreed;
        } else if (2 * (d.correct + d.auditorWrong) > n) {
            v.upheldByQuorum = true;
            if (v.auditJudged && 2 * d.auditorWrong > n) {
                v.outcome = IVerification.Vote.AuditorWrong;
                v.auditorWrong = true;
            } else {
                if (2 * d.correct > n || !v.auditJudged) v.outcome = IVerification.Vote.ProviderCorrect;
                v.auditorWrong = a.state == IVerification.AuditState.Disagreed;
            }
        }
    }

    /// @dev Per seat, in order: a member that revealed the outcome's vote is paid (a challenge's committee
    /// `challengeBond x (1 - providerRewardBps) / seats` out of the bond, any other voterRewardBps of the fee
    /// from the audit pool); one that did not reveal, or revealed against a quorum, loses voterPenalty.
    function _settleVotersModel(uint256 id, Verdicts memory v) internal {
        DisputeModel storage d = _disputes[id];
        IJobMarket.Job storage job = _jobs[id].job;
        IProtocolTerms.VerificationParams memory p = _vp[job.terms];
        bool fromBond = d.reason == IVerification.DisputeReason.Challenge;
        uint256 seatPay = fromBond
            ? (d.seats.length == 0 ? 0 : uint256(d.bond) * (BPS - p.providerRewardBps) / BPS / d.seats.length)
            : uint256(job.fee) * p.voterRewardBps / BPS;
        for (uint256 i; i < d.seats.length; ++i) {
            Ballot storage b = _ballots[id][d.seats[i]];
            uint256 vote = b.revealed ? b.planned : 0;
            if (_matches(vote, v) && fromBond) {
                _creditVerification(d.seats[i], seatPay);
                v.bondVoterPay += seatPay;
                _reach("voter paid from the bond");
            } else if (_matches(vote, v)) {
                _payFromPoolModel(d.seats[i], seatPay);
                _reach("voter paid");
            } else if (vote == 0 || v.faulted || v.upheldByQuorum) {
                treasury += p.voterPenalty == 0 ? 0 : _penalizeModel(d.seats[i], p.voterPenalty);
                _reach(vote == 0 ? "voter penalized: absent" : "voter penalized: against the quorum");
            }
        }
    }

    function _matches(uint256 vote, Verdicts memory v) internal pure returns (bool) {
        if (vote == 0) return false;
        if (v.faulted) return vote == uint256(IVerification.Vote.ProviderWrong);
        if (!v.upheldByQuorum) return false;
        if (v.outcome == IVerification.Vote.AuditorWrong) return vote == uint256(IVerification.Vote.AuditorWrong);
        if (v.outcome == IVerification.Vote.ProviderCorrect) {
            return vote == uint256(IVerification.Vote.ProviderCorrect)
                || (vote == uint256(IVerification.Vote.AuditorWrong) && !v.auditJudged);
        }
        return vote != uint256(IVerification.Vote.ProviderWrong);
    }

    /// @dev A verdict or output judged wrong costs the auditor challengeBond (split by the settlement); an
    /// audit committed and never revealed costs the same, to the treasury.
    function _settleAuditorModel(uint256 id, Verdicts memory v) internal {
        AuditModel storage a = _audits[id];
        uint256 bond = _vp[_jobs[id].job.terms].challengeBond;
        if (v.auditorWrong) {
            v.auditorStake = _penalizeModel(a.auditor, bond);
            _reach("auditor judged wrong");
        } else if (a.state == IVerification.AuditState.Committed) {
            a.state = IVerification.AuditState.Unrevealed;
            _penalizeAuditorModel(id, _absentAuditorPenalty(id, bond));
            _reach("auditor unrevealed at resolve");
        }
    }

    /// @dev The poster refunded, the collateral slashed: first the finder's share to the auditor whose blind
    /// Disagree found the fault (else the poster), then, from the rest, a challenger's bond made good for what it
    /// paid the committee; what is left and a wrong Agree's stake to the treasury.
    function _settleFaultedModel(uint256 id, Verdicts memory v) internal {
        DisputeModel storage d = _disputes[id];
        IJobMarket.Job memory job = _jobs[id].job;
        _creditMarket(job.poster, job.fee);
        _releaseEscrow(id);
        _transition(id, IJobMarket.JobStatus.Slashed);
        uint256 slashed = _slashModel(job.provider, job.collateral, job.collateral);
        AuditModel storage a = _audits[id];
        address finder = a.state == IVerification.AuditState.Disagreed ? a.auditor : job.poster;
        uint256 toFinder = slashed * _vp[job.terms].challengerRewardBps / BPS;
        _creditVerification(finder, toFinder);
        uint256 reimbursed = _min(v.bondVoterPay, slashed - toFinder);
        _creditVerification(d.challenger, d.bond - v.bondVoterPay + reimbursed);
        treasury += slashed - toFinder - reimbursed + v.auditorStake;
        _reach(finder == job.poster ? "faulted: finder is the poster" : "faulted: finder is the auditor");
    }

    /// @dev Upheld by a quorum: a forfeited bond and an overturned Disagree's stake pay the provider
    /// providerRewardBps, the rest to the treasury; no quorum: the bond comes back. An Agree that stands is paid;
    /// then the provider, as on finalize.
    function _settleUpheldModel(uint256 id, Verdicts memory v) internal {
        DisputeModel storage d = _disputes[id];
        AuditModel storage a = _audits[id];
        IJobMarket.Job memory job = _jobs[id].job;
        IProtocolTerms.VerificationParams memory p = _vp[job.terms];
        if (v.upheldByQuorum) {
            bool overturned = a.state == IVerification.AuditState.Disagreed;
            uint256 forfeited = d.bond + (overturned ? v.auditorStake : 0);
            uint256 toProvider = forfeited * p.providerRewardBps / BPS;
            _creditVerification(job.provider, toProvider);
            treasury += forfeited - toProvider - v.bondVoterPay + (overturned ? 0 : v.auditorStake);
        } else {
            _creditVerification(d.challenger, d.bond);
        }
        if (a.state == IVerification.AuditState.Agreed && !v.auditorWrong) {
            _payFromPoolModel(a.auditor, uint256(job.fee) * p.auditRewardBps / BPS);
            ++auditRewards[id];
            _reach("audit reward on an upheld dispute");
        }
        _payJobModel(id);
    }

    // ================================================================== salts

    function _auditSalt(uint256 id) internal pure returns (bytes32) {
        return keccak256(abi.encode("audit salt", id));
    }

    function _voteSalt(uint256 id, address voter) internal pure returns (bytes32) {
        return keccak256(abi.encode("vote salt", id, voter));
    }

    function _voteHash(uint256 id, address voter, uint256 vote) internal view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(verification), id, voter, uint8(vote), _voteSalt(id, voter)));
    }
}
