// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

import {JobMarket} from "../../contracts/JobMarket.sol";
import {ModelRegistry} from "../../contracts/ModelRegistry.sol";
import {ProtocolTerms} from "../../contracts/ProtocolTerms.sol";
import {Staking} from "../../contracts/Staking.sol";
import {Verification} from "../../contracts/Verification.sol";
import * as Errors from "../../contracts/errors/Errors.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../contracts/interfaces/IProtocolTerms.sol";
import {IRandomness} from "../../contracts/interfaces/IRandomness.sol";
import {IStaking} from "../../contracts/interfaces/IStaking.sol";
import {IVerification} from "../../contracts/interfaces/IVerification.sol";
import {Commitments} from "../../contracts/libraries/Commitments.sol";

import {ProtocolFixture} from "../utils/ProtocolFixture.sol";

/// @notice A whole dispute on the real contracts under random terms, collateral, committee size, votes and
/// way of opening it (a bonded challenge, an auditor's Disagree, a recheck of an Agree with another root, the
/// auditor's own challenge, a challenge of a job whose auditor agreed): the committee's seats are the ones the
/// spec's draw names, and the settlement pays exactly what docs/PROTOCOL.md ("The verification game",
/// "Dispute" steps 4 and 5) says, per seat, every token accounted for: Verification ends up holding exactly
/// its credits and its treasury.
/// @dev The expected settlement is worked out in `_expected` from the spec's rules, in the order the spec
/// gives them (voters, then the auditor, then the provider's side), with pool payouts capped at what the
/// audit pool holds at each step.
contract VerificationSettlementFuzzTest is ProtocolFixture {
    uint256 private constant BPS = 10_000;
    uint256 private constant VERIFIERS = 20;
    uint256 private constant VERIFIER_STAKE = 200 ether;
    address private constant PROVIDER = address(0x9A0F);
    address private constant POSTER = address(0xDA99);
    address private constant CHALLENGER = address(0xC4A1);
    address private constant KEEPER = address(0x4EE9);
    uint256 private constant FEE = 10 ether;
    /// @dev The audit levy of these tests' terms: the most ProtocolTerms allows beside a 2% protocol fee.
    uint256 private constant LEVY_BPS = 4800;
    bytes32 private constant PROVIDER_ROOT = keccak256("provider's output");
    bytes32 private constant OTHER_ROOT = keccak256("auditor's output");

    enum Opening {
        Challenge, // a third party's bonded challenge; sampling off, no auditor
        AuditDisagreed, // the auditor committed another root and disagrees
        Recheck, // the auditor committed another root and agrees anyway; recheckPpm = 100%
        AuditorChallenges, // the auditor challenges with a bond, then reveals its Disagree into that dispute
        ChallengeAfterAgree // the auditor agreed with the same root; a third party challenges
    }

    /// @dev What the fuzzer draws; bounded in `_bounded`.
    struct Case {
        uint256 collateral;
        uint256 bond;
        uint256 voterPenalty;
        uint256 voterRewardBps;
        uint256 auditRewardBps;
        uint256 finderBps;
        uint256 providerRewardBps;
        uint256 committeeSize;
        /// three bits per distinct member (in the order of their first seat): 0 silent, 1 ProviderCorrect,
        /// 2 ProviderWrong, 3 AuditorWrong, 4 committed and never revealed (values mod 5)
        uint256 votes;
        uint256 opening;
        uint256 poolFunding;
        bool providerVerifies; // the provider holds the verifier role too: never on its own committee
    }

    /// @dev The scenario as played.
    struct Played {
        uint256 jobId;
        IJobMarket.Job job;
        Opening opening;
        address auditor;
        IVerification.AuditState auditState;
        address challenger;
        uint256 bond;
        address[] committee; // one entry per seat
        address[] members; // distinct, in the order of their first seat
        uint256[] memberOf; // per seat: its member's index in `members`
        uint256[] votes; // per member: 0 silent or unrevealed, else the revealed Vote
    }

    /// @dev Balances and credits before `resolve`.
    struct Before {
        uint256 pool;
        uint256 treasury;
        uint256 protocolFees;
        uint256 verificationHeld;
        uint256 posterCredits;
        uint256 providerMarketCredits;
        uint256 providerStake;
        uint256 auditorMarketCredits;
        uint256 auditorStake;
        uint256[] memberStakes; // per member: what a penalty can take
        uint256[] memberMarketCredits;
    }

    /// @dev The settlement the spec gives.
    struct Expected {
        bool faulted;
        bool upheldByQuorum;
        IVerification.Vote outcome; // the quorum's vote; None for no quorum
        bool auditJudged;
        bool auditorWrong;
        bool auditorPaid;
        uint256 pool; // the audit pool as it runs down (voters, then the auditor)
        uint256[] voterPay; // per member, over its seats: from the audit pool (market credits)
        uint256[] voterBondPay; // per member, over its seats: from a challenger's bond (Verification credits)
        uint256 bondVoterPay; // all the bond paid the committee
        uint256[] voterPenalty; // per member, over its seats
        uint256 penalties;
        uint256 auditorPenalty;
        uint256 auditorReward;
        address finder;
        uint256 toFinder;
        uint256 toProvider; // its share of a forfeited bond or overturned Disagree's stake
        uint256 bondBack;
        uint256 toTreasury; // all of it: the rests, the auditor's stake, the penalties
    }

    address[] private _verifiers;

    function setUp() public {
        vm.warp(1_800_000_000);
        vm.roll(1_000);
        _deployProtocol();
        for (uint256 i; i < VERIFIERS; ++i) {
            address v = address(uint160(0x7E000 + i));
            _stake(v, VERIFIER_STAKE, ROLE_VERIFIER);
            _verifiers.push(v);
        }
    }

    function testFuzz_resolve_paysWhatTheSpecSaysAndKeepsVerificationSolvent(Case memory c) public {
        _bounded(c);
        Played memory g = _open(c);
        _fundPool(c.poolFunding);
        _drawAndVote(g, c.votes);
        Before memory b = _before(g);
        Expected memory e = _expected(c, g, b);

        vm.warp(uint256(verification.dispute(g.jobId).voteRevealBy) + 1);
        vm.prank(KEEPER);
        verification.resolve(g.jobId, g.job, "");

        _checkOutcome(g, e);
        _checkMembers(g, b, e);
        _checkParties(c, g, b, e);
        _checkSolvency(g, b, e);
    }

    // ------------------------------------------------------------------ the spec's settlement

    function _expected(Case memory c, Played memory g, Before memory b) private pure returns (Expected memory e) {
        uint256 n = g.committee.length;
        (uint256 correct, uint256 wrong, uint256 auditorWrongVotes) = _count(g);
        // A quorum is more than half of the seats (not of the votes revealed); a vote counts per seat.
        e.faulted = 2 * wrong > n;
        e.upheldByQuorum = !e.faulted && 2 * (correct + auditorWrongVotes) > n;
        // The auditor's output is under judgement when it agreed with a root other than the provider's.
        e.auditJudged = g.auditState == IVerification.AuditState.Agreed && g.opening == Opening.Recheck;
        if (e.faulted) {
            e.outcome = IVerification.Vote.ProviderWrong;
            // An Agree with a result shown wrong (the same root too: it was the same wrong output).
            e.auditorWrong = g.auditState == IVerification.AuditState.Agreed;
        } else if (e.upheldByQuorum) {
            if (e.auditJudged && 2 * auditorWrongVotes > n) {
                e.outcome = IVerification.Vote.AuditorWrong;
                e.auditorWrong = true;
            } else {
                // An overturned Disagree is a wrong verdict.
                e.auditorWrong = g.auditState == IVerification.AuditState.Disagreed;
                if (2 * correct > n || !e.auditJudged) e.outcome = IVerification.Vote.ProviderCorrect;
            }
        }
        _expectedVoters(c, g, b, e);
        _expectedParties(c, g, b, e);
    }

    /// @dev Per seat, in order: the outcome's voters are paid (a challenge's committee `challengeBond x (1 -
    /// providerRewardBps) / seats` out of the bond, any other voterRewardBps of the fee from the audit pool, as
    /// much as it holds); the absent, and those against a quorum, lose voterPenalty (capped at the free and
    /// unbonding stake the member has left).
    function _expectedVoters(Case memory c, Played memory g, Before memory b, Expected memory e) private pure {
        e.pool = b.pool;
        e.voterPay = new uint256[](g.members.length);
        e.voterBondPay = new uint256[](g.members.length);
        e.voterPenalty = new uint256[](g.members.length);
        bool fromBond = _isChallenge(g.opening);
        uint256 seatPay = fromBond
            ? c.bond * (BPS - c.providerRewardBps) / BPS / g.committee.length
            : FEE * c.voterRewardBps / BPS;
        for (uint256 i; i < g.committee.length; ++i) {
            uint256 m = g.memberOf[i];
            if (_matches(g.votes[m], e) && fromBond) {
                e.voterBondPay[m] += seatPay;
                e.bondVoterPay += seatPay;
            } else if (_matches(g.votes[m], e)) {
                uint256 pay = seatPay < e.pool ? seatPay : e.pool;
                e.voterPay[m] += pay;
                e.pool -= pay;
            } else if (g.votes[m] == 0 || e.faulted || e.upheldByQuorum) {
                uint256 left = b.memberStakes[m] - e.voterPenalty[m];
                uint256 taken = c.voterPenalty < left ? c.voterPenalty : left;
                e.voterPenalty[m] += taken;
                e.penalties += taken;
            }
        }
    }

    /// @dev The auditor's verdict, then the provider's side.
    function _expectedParties(Case memory c, Played memory g, Before memory b, Expected memory e) private pure {
        // The auditor's stake answers for a verdict or output judged wrong: challengeBond.
        if (e.auditorWrong) e.auditorPenalty = c.bond < b.auditorStake ? c.bond : b.auditorStake;
        if (e.faulted) {
            // The finder (the auditor when its blind Disagree found the fault, else the poster, whoever opened
            // the dispute) gets its share first; the rest reimburses a challenger what its bond paid the
            // committee, and what is left goes to the treasury.
            e.finder = g.auditState == IVerification.AuditState.Disagreed ? g.auditor : POSTER;
            e.toFinder = c.collateral * c.finderBps / BPS;
            uint256 rest = c.collateral - e.toFinder;
            uint256 reimbursed = e.bondVoterPay < rest ? e.bondVoterPay : rest;
            e.bondBack = g.bond - e.bondVoterPay + reimbursed;
            e.toTreasury = rest - reimbursed + e.auditorPenalty;
        } else if (e.upheldByQuorum) {
            // A forfeited bond and an overturned Disagree's stake pay the provider its share, the committee of
            // a challenge its pay, the treasury the rest.
            bool overturned = g.auditState == IVerification.AuditState.Disagreed;
            uint256 forfeited = g.bond + (overturned ? e.auditorPenalty : 0);
            e.toProvider = forfeited * c.providerRewardBps / BPS;
            e.toTreasury = forfeited - e.toProvider - e.bondVoterPay + (overturned ? 0 : e.auditorPenalty);
        } else {
            e.bondBack = g.bond;
        }
        e.toTreasury += e.penalties;
        // An agreeing auditor whose output stands is paid when the job is paid (as on finalize).
        e.auditorPaid = !e.faulted && g.auditState == IVerification.AuditState.Agreed && !e.auditorWrong;
        if (e.auditorPaid) {
            uint256 reward = FEE * c.auditRewardBps / BPS;
            e.auditorReward = reward < e.pool ? reward : e.pool;
            e.pool -= e.auditorReward;
        }
    }

    function _isChallenge(Opening opening) private pure returns (bool) {
        return opening == Opening.Challenge || opening == Opening.AuditorChallenges
            || opening == Opening.ChallengeAfterAgree;
    }

    /// @dev Whether a revealed vote is the outcome's (docs/PROTOCOL.md step 5): with a ProviderWrong quorum,
    /// ProviderWrong; when upheld, the quorum's vote, or both upholding votes when the quorum settled only the
    /// provider (no auditor output judged, or no majority about it).
    function _matches(uint256 vote, Expected memory e) private pure returns (bool) {
        if (vote == 0) return false;
        IVerification.Vote v = IVerification.Vote(vote);
        if (e.faulted) return v == IVerification.Vote.ProviderWrong;
        if (!e.upheldByQuorum) return false;
        if (e.outcome == IVerification.Vote.AuditorWrong) return v == IVerification.Vote.AuditorWrong;
        if (e.outcome == IVerification.Vote.ProviderCorrect) {
            return v == IVerification.Vote.ProviderCorrect || (v == IVerification.Vote.AuditorWrong && !e.auditJudged);
        }
        return v != IVerification.Vote.ProviderWrong;
    }

    // ------------------------------------------------------------------ checks

    function _checkOutcome(Played memory g, Expected memory e) private view {
        IVerification.Dispute memory d = verification.dispute(g.jobId);
        vm.assertEq(uint256(d.state), uint256(IVerification.DisputeState.Resolved), "resolved");
        vm.assertEq(d.providerFaulted, e.faulted, "faulted iff more than half of the seats voted ProviderWrong");
        vm.assertEq(uint256(d.outcome), uint256(e.outcome), "the quorum's vote");
        g.job.status = e.faulted ? IJobMarket.JobStatus.Slashed : IJobMarket.JobStatus.Finalized;
        _assertStored(g.jobId, g.job, "settled");
        if (g.auditor != address(0)) {
            IVerification.Audit memory a = verification.audit(g.jobId);
            vm.assertEq(uint256(a.state), uint256(g.auditState), "the audit's state stands as revealed");
        }
    }

    function _checkMembers(Played memory g, Before memory b, Expected memory e) private view {
        for (uint256 m; m < g.members.length; ++m) {
            address who = g.members[m];
            vm.assertEq(market.credits(who) - b.memberMarketCredits[m], e.voterPay[m], "voter pay from the pool, per seat");
            vm.assertEq(verification.credits(who), e.voterBondPay[m], "voter pay from a challenger's bond, per seat");
            vm.assertEq(b.memberStakes[m] - _penalizable(who), e.voterPenalty[m], "voter penalty, per seat");
        }
    }

    function _checkParties(Case memory c, Played memory g, Before memory b, Expected memory e) private view {
        (uint256 payout, uint256 protocolFee, uint256 levy) = _feeSplit(g.job);
        if (e.faulted) {
            vm.assertEq(b.providerStake - staking.account(PROVIDER).stake, c.collateral, "the collateral slashed");
            vm.assertEq(market.credits(POSTER) - b.posterCredits, FEE, "the poster refunded");
            vm.assertEq(market.credits(PROVIDER), b.providerMarketCredits, "a faulted provider is not paid");
            vm.assertEq(market.auditPool(), e.pool, "the pool paid the voters");
            vm.assertEq(verification.credits(e.finder), e.toFinder + (e.finder == g.challenger ? e.bondBack : 0), "finder");
        } else {
            vm.assertEq(staking.account(PROVIDER).stake, b.providerStake, "an upheld provider keeps its stake");
            vm.assertEq(market.credits(PROVIDER) - b.providerMarketCredits, payout, "an upheld provider is paid");
            vm.assertEq(market.credits(POSTER), b.posterCredits, "no refund for an upheld result");
            vm.assertEq(market.protocolFees() - b.protocolFees, protocolFee, "the protocol fee");
            vm.assertEq(market.auditPool(), e.pool + levy, "the pool paid voters and auditor, then took the levy");
            vm.assertEq(verification.credits(PROVIDER), e.toProvider, "the provider's share of what was forfeited");
        }
        vm.assertEq(staking.account(PROVIDER).locked, 0, "the job's collateral is no longer locked");
        if (g.challenger != address(0) && g.challenger != e.finder && g.challenger != g.auditor) {
            vm.assertEq(verification.credits(g.challenger), e.bondBack, "a bond comes back unless forfeited");
        }
        if (g.auditor != address(0)) {
            vm.assertEq(b.auditorStake - staking.account(g.auditor).stake, e.auditorPenalty, "the auditor's stake");
            vm.assertEq(market.credits(g.auditor) - b.auditorMarketCredits, e.auditorReward, "the audit reward");
            if (!e.faulted || e.finder != g.auditor) {
                uint256 bondBack = g.challenger == g.auditor ? e.bondBack : 0;
                vm.assertEq(verification.credits(g.auditor), bondBack, "the auditor's credits: its bond back at most");
            }
        }
        vm.assertEq(verification.treasury() - b.treasury, e.toTreasury, "the treasury: the rests, stakes, penalties");
    }

    /// @dev Every token that reached Verification is owed once: it holds exactly its credits and treasury.
    function _checkSolvency(Played memory g, Before memory b, Expected memory e) private view {
        uint256 held = token.balanceOf(address(verification));
        uint256 arrived = (e.faulted ? g.job.collateral : 0) + e.auditorPenalty + e.penalties;
        vm.assertEq(held, b.verificationHeld + arrived, "Verification received the slash and the penalties");
        uint256 credits = verification.credits(PROVIDER) + verification.credits(POSTER) + verification.credits(CHALLENGER);
        for (uint256 i; i < _verifiers.length; ++i) credits += verification.credits(_verifiers[i]);
        vm.assertEq(held, credits + verification.treasury(), "Verification holds exactly its credits and treasury");
    }

    // ------------------------------------------------------------------ scenario

    function _bounded(Case memory c) private {
        // A provider in the verifier set weighs its whole stake, collateral included, and the auditor and seat
        // draws step past it (excluded) at most 16 times: one that holds most of the verifier weight starves
        // the draws (reported as a weakness). Kept below the other verifiers' weight here.
        c.collateral = _bound(c.collateral, 1, c.providerVerifies ? 2000 ether : 1_000_000 ether);
        c.bond = _bound(c.bond, 1, 100 ether); // at most minVerifierStake, as ProtocolTerms requires
        c.voterPenalty = _bound(c.voterPenalty, 0, VERIFIER_STAKE / 4);
        c.committeeSize = _bound(c.committeeSize, 0, 6) * 2 + 1;
        // The pool must cover the expected audit pay (ProtocolTerms): with every job sampled and, for a recheck,
        // every differing Agree rechecked, auditRewardBps + committeeSize x voterRewardBps <= auditLevyBps.
        c.auditRewardBps = _bound(c.auditRewardBps, 0, LEVY_BPS / 2);
        c.voterRewardBps = _bound(c.voterRewardBps, 0, (LEVY_BPS - c.auditRewardBps) / c.committeeSize);
        c.finderBps = _bound(c.finderBps, 0, BPS - 1);
        c.providerRewardBps = _bound(c.providerRewardBps, 0, BPS - 1);
        c.opening %= 5;
        c.poolFunding = _bound(c.poolFunding, 0, 30 ether);

        Opening opening = Opening(c.opening);
        IProtocolTerms.MarketParams memory mp = _localMarketParams();
        mp.samplingPpm = opening == Opening.Challenge ? 0 : 1_000_000;
        mp.auditLevyBps = uint16(LEVY_BPS);
        IProtocolTerms.VerificationParams memory vp = _localVerificationParams();
        vp.challengeBond = uint96(c.bond);
        vp.voterPenalty = uint96(c.voterPenalty);
        vp.voterRewardBps = uint16(c.voterRewardBps);
        vp.auditRewardBps = uint16(c.auditRewardBps);
        vp.challengerRewardBps = uint16(c.finderBps);
        vp.providerRewardBps = uint16(c.providerRewardBps);
        vp.committeeSize = uint8(c.committeeSize);
        vp.recheckPpm = opening == Opening.Recheck ? 1_000_000 : 0;
        // The market half first (the local verification half fits any levy), then this verification half.
        IProtocolTerms.VerificationParams memory quiet = _localVerificationParams();
        quiet.auditRewardBps = 0;
        quiet.voterRewardBps = 0;
        quiet.recheckPpm = 0;
        _setVerificationParams(quiet);
        _setMarketParams(mp);
        _setVerificationParams(vp);
    }

    /// @dev Post, claim and commit, the blind audit when there is one, reveal, and the dispute's opening.
    function _open(Case memory c) private returns (Played memory g) {
        g.opening = Opening(c.opening);
        uint256 modelId = _registerModel(uint96(c.collateral), 0, "model");
        _stake(PROVIDER, c.collateral + (c.providerVerifies ? VERIFIER_STAKE : 0), c.providerVerifies ? 3 : 1);
        (g.jobId, g.job) = _postJob(POSTER, modelId, FEE);
        g.job = _claimAndCommit(g.jobId, g.job, PROVIDER, PROVIDER_ROOT);
        vm.roll(block.number + 3);

        bytes32 auditRoot = g.opening == Opening.ChallengeAfterAgree ? PROVIDER_ROOT : OTHER_ROOT;
        if (g.opening != Opening.Challenge) {
            g.auditor = verification.auditorOf(g.jobId, g.job);
            vm.assertTrue(g.auditor != PROVIDER && g.auditor != POSTER && g.auditor != address(0), "an eligible auditor");
            vm.prank(g.auditor);
            verification.commitAudit(g.jobId, g.job, _auditCommitment(g.jobId, g.auditor, auditRoot));
        }
        g.job = _reveal(g.jobId, g.job, PROVIDER_ROOT);
        _assertStored(g.jobId, g.job, "revealed");
        vm.roll(block.number + 3);

        if (g.opening == Opening.Challenge || g.opening == Opening.ChallengeAfterAgree) {
            if (g.opening == Opening.ChallengeAfterAgree) _revealAudit(g, auditRoot, IVerification.Verdict.Agree);
            _challenge(g, CHALLENGER);
        } else if (g.opening == Opening.AuditDisagreed) {
            _revealAudit(g, auditRoot, IVerification.Verdict.Disagree);
        } else if (g.opening == Opening.Recheck) {
            _revealAudit(g, auditRoot, IVerification.Verdict.Agree);
        } else {
            _challenge(g, g.auditor);
            _revealAudit(g, auditRoot, IVerification.Verdict.Disagree);
        }
        g.job.status = IJobMarket.JobStatus.Disputed;
        _assertStored(g.jobId, g.job, "disputed");
        IVerification.Dispute memory d = verification.dispute(g.jobId);
        vm.assertEq(d.challenger, g.challenger, "the dispute's challenger");
        vm.assertEq(d.bond, g.bond, "the dispute's bond");
    }

    function _revealAudit(Played memory g, bytes32 root, IVerification.Verdict verdict) private {
        vm.prank(g.auditor);
        verification.revealAudit(g.jobId, g.job, root, _salt(g.jobId), verdict, "ipfs://audit");
        g.auditState =
            verdict == IVerification.Verdict.Agree ? IVerification.AuditState.Agreed : IVerification.AuditState.Disagreed;
        // The auditor's Disagree opens the dispute with the auditor as challenger (no bond), unless its own
        // challenge already did.
        if (verdict == IVerification.Verdict.Disagree && g.challenger == address(0)) g.challenger = g.auditor;
    }

    function _challenge(Played memory g, address challenger) private {
        g.bond = terms.verificationParamsOf(g.job.terms).challengeBond;
        _mint(challenger, g.bond);
        vm.startPrank(challenger);
        token.approve(address(verification), g.bond);
        verification.challenge(g.jobId, g.job);
        vm.stopPrank();
        g.challenger = challenger;
        g.job.status = IJobMarket.JobStatus.Disputed;
    }

    function _fundPool(uint256 amount) private {
        if (amount == 0) return;
        _mint(address(this), amount);
        token.approve(address(market), amount);
        market.fundAuditPool(amount);
    }

    /// @dev Draws the committee (checked against the spec's draw) and plays the votes: each member votes once,
    /// whatever its number of seats.
    function _drawAndVote(Played memory g, uint256 votes) private {
        IVerification.Dispute memory d = verification.dispute(g.jobId);
        vm.roll(uint256(d.seedBlock) + 1);
        vm.prank(KEEPER);
        verification.drawCommittee(g.jobId);
        g.committee = verification.dispute(g.jobId).committee;
        _assertSpecCommittee(g, d);
        _groupSeats(g);

        uint256 n = g.members.length;
        g.votes = new uint256[](n);
        for (uint256 m; m < n; ++m) {
            uint256 v = ((votes >> (3 * m)) & 7) % 5;
            if (v == 0) continue;
            vm.prank(g.members[m]);
            verification.commitVote(g.jobId, _voteHash(g.jobId, g.members[m], v == 4 ? 1 : v));
            if (v != 4) g.votes[m] = v;
        }
        vm.warp(uint256(verification.dispute(g.jobId).voteCommitBy) + 1);
        for (uint256 m; m < n; ++m) {
            if (g.votes[m] == 0) continue;
            vm.prank(g.members[m]);
            verification.revealVote(g.jobId, IVerification.Vote(g.votes[m]), _voteSalt(g.members[m]));
        }
    }

    /// @dev The distinct members, and each seat's member.
    function _groupSeats(Played memory g) private pure {
        uint256 n = g.committee.length;
        address[] memory members = new address[](n);
        g.memberOf = new uint256[](n);
        uint256 found;
        for (uint256 i; i < n; ++i) {
            uint256 m;
            while (m < found && members[m] != g.committee[i]) ++m;
            if (m == found) members[found++] = g.committee[i];
            g.memberOf[i] = m;
        }
        g.members = new address[](found);
        for (uint256 m; m < found; ++m) g.members[m] = members[m];
    }

    /// @dev Seat i is `drawVerifier(keccak256(abi.encode(seed, jobId, "committee", i)), commitBlock, [provider,
    /// poster, challenger, auditor])`, with replacement; seats that found nobody are dropped, keeping an odd
    /// number.
    function _assertSpecCommittee(Played memory g, IVerification.Dispute memory d) private view {
        bytes32 seed = blockhash(d.seedBlock);
        uint256 size = terms.verificationParamsOf(g.job.terms).committeeSize;
        address[] memory excluded = new address[](4);
        excluded[0] = PROVIDER;
        excluded[1] = POSTER;
        excluded[2] = g.challenger;
        excluded[3] = g.auditor;
        uint256 found;
        address[] memory expected = new address[](size);
        for (uint256 i; i < size; ++i) {
            uint256 seatSeed = uint256(keccak256(abi.encode(seed, g.jobId, "committee", i)));
            address m = staking.drawVerifier(seatSeed, g.job.commitBlock, excluded);
            if (m != address(0)) expected[found++] = m;
        }
        if (found % 2 == 0 && found != 0) --found;
        vm.assertEq(g.committee.length, found, "the seats are the largest odd number drawn");
        vm.assertGt(found, 0, "twenty verifiers: a committee");
        for (uint256 i; i < found; ++i) {
            vm.assertEq(g.committee[i], expected[i], "seat i is the spec's draw");
            bool excludedOne = g.committee[i] == PROVIDER || g.committee[i] == POSTER || g.committee[i] == g.challenger
                || g.committee[i] == g.auditor;
            vm.assertFalse(excludedOne, "never the provider, the poster, the challenger or the auditor");
        }
    }

    function _before(Played memory g) private view returns (Before memory b) {
        b.pool = market.auditPool();
        b.treasury = verification.treasury();
        b.protocolFees = market.protocolFees();
        b.verificationHeld = token.balanceOf(address(verification));
        b.posterCredits = market.credits(POSTER);
        b.providerMarketCredits = market.credits(PROVIDER);
        b.providerStake = staking.account(PROVIDER).stake;
        if (g.auditor != address(0)) {
            b.auditorMarketCredits = market.credits(g.auditor);
            b.auditorStake = _penalizable(g.auditor);
        }
        uint256 n = g.members.length;
        b.memberStakes = new uint256[](n);
        b.memberMarketCredits = new uint256[](n);
        for (uint256 m; m < n; ++m) {
            b.memberStakes[m] = _penalizable(g.members[m]);
            b.memberMarketCredits[m] = market.credits(g.members[m]);
        }
    }

    /// @dev What a penalty can take: free stake and unbonding stake, never locked collateral.
    function _penalizable(address who) private view returns (uint256) {
        IStaking.AccountView memory a = staking.account(who);
        return a.stake - a.locked + a.unbonding;
    }

    /// @dev The revealed votes, counted per seat.
    function _count(Played memory g) private pure returns (uint256 correct, uint256 wrong, uint256 auditorWrong) {
        for (uint256 i; i < g.committee.length; ++i) {
            uint256 v = g.votes[g.memberOf[i]];
            if (v == 1) ++correct;
            else if (v == 2) ++wrong;
            else if (v == 3) ++auditorWrong;
        }
    }

    function _feeSplit(IJobMarket.Job memory job)
        private
        view
        returns (uint256 payout, uint256 protocolFee, uint256 levy)
    {
        (IProtocolTerms.MarketParams memory p,) = terms.termsOf(job.terms);
        protocolFee = uint256(job.fee) * p.protocolFeeBps / BPS;
        levy = uint256(job.fee) * p.auditLevyBps / BPS;
        payout = job.fee - protocolFee - levy;
    }

    function _voteSalt(address voter) private pure returns (bytes32) {
        return keccak256(abi.encode("vote salt", voter));
    }

    function _voteHash(uint256 jobId, address voter, uint256 vote) private view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(verification), jobId, voter, uint8(vote), _voteSalt(voter)));
    }
}

/// @notice TEST ONLY: burns 1% of each transfer between two accounts while `feeOn` (mints are exact), so a
/// job can be posted and revealed before the challenge meets the fee.
contract ToggleFeeToken is ERC20 {
    bool public feeOn;

    constructor() ERC20("toggle-fee test token", "TFT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFee(bool on) external {
        feeOn = on;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (!feeOn || from == address(0) || to == address(0)) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = value / 100;
        super._update(from, to, value - fee);
        super._update(from, address(0), fee);
    }
}

/// @notice A challenge bond must arrive whole: a fee-on-transfer token is refused with TokenTransferMismatch,
/// and nothing is kept.
contract VerificationBondTokenTest is ProtocolFixture {
    ToggleFeeToken private _fot;
    Staking private _staking;
    JobMarket private _market;
    Verification private _verification;

    function test_challenge_refusesABondThatArrivesShort() public {
        vm.warp(1_800_000_000);
        _deployWithToggleFeeToken();
        IJobMarket.Job memory job = _revealedJob();

        _fot.setFee(true);
        uint256 bond = _localVerificationParams().challengeBond;
        address challenger = address(0xC4A1);
        _fot.mint(challenger, bond);
        vm.prank(challenger);
        _fot.approve(address(_verification), bond);
        vm.expectRevert(abi.encodeWithSelector(Errors.TokenTransferMismatch.selector, bond, bond - bond / 100));
        vm.prank(challenger);
        _verification.challenge(1, job);
        vm.assertEq(_fot.balanceOf(address(_verification)), 0, "nothing kept");
        vm.assertEq(uint256(_verification.dispute(1).state), uint256(IVerification.DisputeState.None), "no dispute");
    }

    function _deployWithToggleFeeToken() private {
        _fot = new ToggleFeeToken();
        _staking = new Staking(_fot, address(this), _localStakingParams());
        registry = new ModelRegistry();
        IProtocolTerms.MarketParams memory mp = _localMarketParams();
        mp.samplingPpm = 0;
        ProtocolTerms t = new ProtocolTerms(_staking, address(this), mp, _localVerificationParams());
        _market = new JobMarket(_fot, _staking, registry, IRandomness(address(0)), t, address(this));
        _verification = new Verification(_fot, _market, _staking, address(this));
        _staking.setProtocol(address(_market), address(_verification));
        _market.setVerification(address(_verification));
        t.setMarket(address(_market));
    }

    /// @dev Job 1, posted, claimed, committed and revealed with the fee off.
    function _revealedJob() private returns (IJobMarket.Job memory job) {
        uint256 modelId = _registerModel(100 ether, 1 ether, "model");
        address provider = address(0x9A0F);
        address dapp = address(0xDA99);
        _fot.mint(provider, 1000 ether);
        vm.startPrank(provider);
        _fot.approve(address(_staking), 1000 ether);
        _staking.stake(1000 ether, 1);
        vm.stopPrank();
        _fot.mint(dapp, 10 ether);
        IJobMarket.JobRequest memory req;
        req.modelId = modelId;
        req.fee = 10 ether;
        req.claimBy = uint64(block.timestamp + 600);
        req.inputHash = keccak256("input");
        vm.startPrank(dapp);
        _fot.approve(address(_market), 10 ether);
        _market.postJob(req);
        vm.stopPrank();
        job = IJobMarket.Job(dapp, uint32(modelId), 1, 10 ether, 100 ether, 0, IJobMarket.JobStatus.Posted,
            uint32(req.claimBy), address(0), 0, bytes32(0), false, false);
        bytes32 root = keccak256("output");
        bytes32 commitment = Commitments.hash(block.chainid, address(_market), 1, provider, root, bytes32(0));
        vm.prank(provider);
        _market.claimAndCommit(1, job, commitment);
        job.status = IJobMarket.JobStatus.Committed;
        job.provider = provider;
        job.deadline = uint32(block.timestamp + _localMarketParams().revealTimeout);
        job.commitBlock = uint64(block.number);
        job.result = commitment;
        vm.roll(block.number + 3);
        vm.prank(provider);
        _market.reveal(1, job, root, bytes32(0), "", "");
        job.status = IJobMarket.JobStatus.Revealed;
        job.deadline = uint32(block.timestamp + _localMarketParams().challengeWindow);
        job.result = root;
        vm.assertEq(_market.jobHash(1), keccak256(abi.encode(job)), "revealed job");
    }
}
