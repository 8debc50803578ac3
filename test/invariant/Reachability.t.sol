// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DinferTestToken} from "../../contracts/DinferTestToken.sol";
import {JobMarket} from "../../contracts/JobMarket.sol";
import {ModelRegistry} from "../../contracts/ModelRegistry.sol";
import {ProtocolTerms} from "../../contracts/ProtocolTerms.sol";
import {Staking} from "../../contracts/Staking.sol";
import {Verification} from "../../contracts/Verification.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../contracts/interfaces/IProtocolTerms.sol";
import {IReplicaMarket} from "../../contracts/interfaces/IReplicaMarket.sol";

import {ProtocolChecks} from "./ProtocolChecks.sol";
import {ProtocolHandler} from "./handlers/ProtocolHandler.sol";

/// @notice The invariant handler reaches every path of the protocol: each job ending, each audit outcome,
/// each dispute reason, verdict and settlement, each committee edge case, each stake and money movement, and
/// each attack. Scripted scenarios drive the handler's own actions (the same code the invariant campaign runs)
/// on chosen jobs, under terms that sample every job or none, and run every invariant check at the end, so
/// the invariants are known not to hold vacuously.
/// @dev A handler action picks the first job in the right state from `seed % jobCount + 1` on: seed
/// `id - 1` targets job `id`. Outcomes that depend on the draws (committee seats, which members vote how)
/// are retried with other seeds, a few times at most.
contract ProtocolReachabilityTest is ProtocolChecks {

    function _newHandler() internal override returns (ProtocolHandler) {
        return new ReachabilityHandler(
            token, staking, registry, terms, market, verification, address(this), _localMarketParams(), _localVerificationParams()
        );
    }
    uint256 private constant ATTEMPTS = 8;

    // ------------------------------------------------------------------ jobs ending

    function test_reach_unsampledJobsEndEveryWay() public {
        _terms(0, 0);
        // A consumer contract's jobs with a callback: accepting (twice), reverting, burning all the gas.
        for (uint256 k; k < 4; ++k) {
            uint256 id = _post(k, true);
            handler.claim(_s(id), k, false);
            handler.commit(_s(id), k);
            handler.reveal(_s(id), 0);
            handler.finalize(_s(id));
        }
        uint256 unclaimed = _post(5, false);
        handler.advance(_s(unclaimed), 0); // choice 0: expire (here, before the deadline, once it passed)
        uint256 claimed = _post(6, false);
        handler.claim(_s(claimed), 6, false);
        handler.advance(_s(claimed), 0);
        uint256 committed = _post(7, false);
        handler.claim(_s(committed), 7, true);
        handler.advance(_s(committed), 0);
        _checkAll();
        _assertReached(
            ["post", "post with a callback", "claim", "claimAndCommit", "commit", "reveal", "finalize",
            "callback delivered", "callback failed, job paid", "expired: unclaimed", "expired: missed commit",
            "expired: missed reveal"]
        );
    }

    /// Claims grouped in a `tryMulticall`, as a worker sends them: two jobs at once, then one job twice (its
    /// second claim skipped, its first kept). `(providerSeed >> 64) % 3 == 1` groups.
    function test_reach_claimsInATryMulticall() public {
        _terms(0, 0);
        uint256 a = _post(1, false);
        uint256 b = _post(2, false);
        handler.claim(_pickPair(b, a), 1 | (1 << 64), true);
        uint256 c = _post(3, false);
        handler.claim(_pickPair(c, c), 3 | (1 << 64), true);
        for (uint256 id = a; id <= c; ++id) {
            vm.assertEq(uint256(handler.jobState(id).status), uint256(IJobMarket.JobStatus.Committed), "committed in a group");
        }
        _checkAll();
        _assertReached(["claims in a tryMulticall", "claims in a tryMulticall, one lost"]);
    }

    /// @dev The job seed with which `claim` picks job `first` and then, for a group's second claim (`jobSeed >> 8`),
    /// job `second`: both posted.
    function _pickPair(uint256 first, uint256 second) internal view returns (uint256 seed) {
        uint256 n = handler.jobCount();
        seed = _s(second) << 8;
        seed += (_s(first) + n - seed % n) % n;
    }

    // ------------------------------------------------------------------ audits and their disputes

    function test_reach_auditsEndEveryWay() public {
        _terms(1_000_000, 1_000_000);
        // An Agree that stands: paid when the job is.
        uint256 id = _sampledJob(0);
        handler.commitAudit(_s(id), 1); // the provider's root
        handler.reveal(_s(id), 1); // the auditor reveals at once: Agree
        handler.finalize(_s(id));
        // A missed audit: the reveal is held (AuditPending), then goes to a committee, whose members stay silent.
        id = _sampledJob(1);
        handler.reveal(_s(id), 0);
        handler.drawCommittee(_s(id), 2);
        handler.resolve(_s(id), 0); // choice 0: nobody votes first
        // An audit committed and never revealed: at finalize, a committee.
        id = _sampledJob(2);
        handler.commitAudit(_s(id), 1);
        handler.reveal(_s(id), 0); // the auditor keeps quiet
        handler.finalize(_s(id));
        handler.resolve(_s(id), 1);
        // A withheld reveal of a sampled job whose auditor committed blind.
        id = _sampledJob(3);
        handler.commitAudit(_s(id), 1);
        handler.advance(_s(id), 0); // choice 0: expire
        // A challenge while the audit is committed: the auditor, silent, is penalized at the resolution.
        id = _sampledJob(4);
        handler.commitAudit(_s(id), 1);
        handler.reveal(_s(id), 0);
        handler.challenge(_s(id), 0);
        handler.resolve(_s(id), 1);
        _checkAll();
        _assertReached(
            ["reveal sampled", "audit committed (same root)", "audit agreed", "audit reward on finalize",
            "audit missed", "audit unrevealed", "expired: withheld sampled reveal", "withheld: blind auditor paid",
            "auditor unrevealed at resolve", "resolved: no quorum", "challenge", "voter penalized: absent",
            "committee drawn"]
        );
    }

    /// @notice An auditor's Disagree faults a wrong result (the auditor is the finder); members who voted
    /// against the quorum are penalized.
    function test_reach_disagreeFaultsTheProvider() public {
        _terms(1_000_000, 0);
        for (uint256 a; a < ATTEMPTS && !_reached2("faulted: finder is the auditor", "voter penalized: against the quorum"); ++a) {
            uint256 id = _sampledJob(10 + a);
            handler.commitAudit(_s(id), 3); // another root
            handler.reveal(_s(id), 1); // the auditor reveals at once: Disagree
            _vote(id, 1 + 3 * a); // leaning ProviderWrong
        }
        _checkAll();
        _assertReached(
            ["audit committed (another root)", "audit disagreed", "audit disagreed: dispute", "vote committed",
            "vote revealed", "voter paid", "resolved: faulted", "faulted: finder is the auditor",
            "voter penalized: against the quorum"]
        );
    }

    /// @notice An Agree with another root is rechecked; a quorum of AuditorWrong judges the auditor's output
    /// wrong (and upholds the provider).
    function test_reach_recheckJudgesTheAuditor() public {
        _terms(1_000_000, 1_000_000);
        for (uint256 a; a < ATTEMPTS && handler.reached("auditor's output judged wrong") == 0; ++a) {
            uint256 id = _sampledJob(20 + a);
            handler.commitAudit(_s(id), 3); // another root
            handler.reveal(_s(id), 0); // the auditor waits
            handler.revealAudit(_s(id), false); // Agree anyway: rechecked
            _vote(id, 2 + 3 * a); // leaning AuditorWrong
        }
        _checkAll();
        _assertReached(
            ["audit agreed with another root: recheck", "auditor judged wrong", "auditor's output judged wrong",
            "resolved: upheld"]
        );
    }

    /// @notice A challenge of an agreed result is upheld: the committee is paid out of the bond, the agreeing
    /// auditor when the job is; and a provider's challenge of its own job, faulted, gets nothing back.
    function test_reach_challengesSettleBothWays() public {
        _terms(1_000_000, 0);
        for (uint256 a; a < ATTEMPTS && handler.reached("audit reward on an upheld dispute") == 0; ++a) {
            uint256 id = _sampledJob(30 + a);
            handler.commitAudit(_s(id), 1);
            handler.reveal(_s(id), 0);
            handler.challenge(_s(id), 0); // a watchdog
            handler.revealAudit(_s(id), false); // into the open dispute
            _vote(id, 3 * a); // leaning ProviderCorrect
        }
        for (uint256 a; a < ATTEMPTS && !_reached2("self-challenge", "faulted: finder is the poster"); ++a) {
            uint256 id = _unsampledJob(40 + a);
            handler.challenge(_s(id), _challengerSeed(handler.jobState(id).provider)); // the provider itself
            _vote(id, 1 + 3 * a); // leaning ProviderWrong
        }
        _checkAll();
        _assertReached(
            ["audit revealed into an open dispute", "voter paid from the bond", "audit reward on an upheld dispute",
            "self-challenge", "faulted: finder is the poster"]
        );
    }

    /// @notice An audit not revealed before another party's dispute draws its committee is never revealed: the
    /// reveal is refused (its verdict could follow the votes, its output unjudged), and the resolution penalizes
    /// it as unrevealed.
    function test_reach_auditRevealClosesAtTheDraw() public {
        _terms(1_000_000, 0);
        for (uint256 a; a < ATTEMPTS && !_reached2("audit reveal refused once the committee is drawn", "auditor unrevealed at resolve"); ++a) {
            uint256 id = _sampledJob(60 + a);
            handler.commitAudit(_s(id), 1);
            handler.reveal(_s(id), 0);
            handler.challenge(_s(id), 0); // a watchdog
            handler.drawCommittee(_s(id), 2);
            handler.revealAudit(_s(id), a % 2 == 0); // too late, either verdict
            _vote(id, 3 * a);
        }
        _checkAll();
        _assertReached(["audit reveal refused once the committee is drawn", "auditor unrevealed at resolve"]);
    }

    // ------------------------------------------------------------------ committees

    function test_reach_committeeEdgeCases() public {
        // Thirteen seats over eight verifiers: members hold several seats.
        IProtocolTerms.VerificationParams memory v = _verificationTerms(0);
        v.committeeSize = 13;
        handler.setTerms(_marketTerms(0), v);
        uint256 id = _unsampledJob(50);
        handler.challenge(_s(id), 0);
        handler.drawCommittee(_s(id), 2);
        // A committee nobody drew while its seed was in reach is reseeded.
        id = _unsampledJob(51);
        handler.challenge(_s(id), 0);
        handler.drawCommittee(_s(id), 1); // choice 1: the keeper waits the seed out
        handler.drawCommittee(_s(id), 2);
        // With nobody in the verifier set, nobody is drawn and the dispute resolves without a quorum.
        for (uint256 i = 4; i < 10; ++i) handler.setRoles(i, 0); // the verifier-only accounts leave
        handler.setRoles(2, 1); // the providers that verified keep only the provider role
        handler.setRoles(3, 1);
        id = _unsampledJob(52);
        handler.challenge(_s(id), 0);
        handler.drawCommittee(_s(id), 2);
        handler.resolve(_s(id), 1);
        _checkAll();
        _assertReached(
            ["committee: a member with several seats", "committee reseeded", "committee: nobody eligible",
            "roles changed"]
        );
    }

    // ------------------------------------------------------------------ stake, money, governance

    function test_reach_stakeMoneyAndTerms() public {
        // A penalized auditor (it misses its audit), then re-weighted by a keeper.
        _terms(1_000_000, 0);
        uint256 id = _sampledJob(60);
        handler.reveal(_s(id), 0);
        for (uint256 i; i < 10; ++i) handler.syncVerifier(i);
        handler.resolve(_s(id), 1); // no committee drawn: upheld without a quorum, the provider paid
        // A challenge nobody judges: the bond comes back.
        uint256 challenged = _unsampledJob(61);
        handler.challenge(_s(challenged), 0);
        handler.resolve(_s(challenged), 1);
        handler.fundAuditPool(0, 10 ether);
        handler.withdrawFees();
        for (uint256 i; i < 17; ++i) handler.withdrawCredits(i);
        for (uint256 i; i < 10; ++i) handler.stake(i, 9 + i, 2 + i % 2);
        for (uint256 i; i < 10; ++i) handler.requestUnbond(i, 0); // everything free
        handler.withdrawStake(0, 8); // waits out the unbonding period
        handler.setMarketParams(1);
        handler.setVerificationParams(2);
        _checkAll();
        _assertReached(
            ["new market terms", "new verification terms", "stake", "unbond", "stake withdrawn",
            "verifier re-weighted after a slash", "audit pool funded", "protocol fees withdrawn", "treasury withdrawn",
            "market credits withdrawn", "verification credits withdrawn"]
        );
        // The providers that also verify hold little beyond their collateral: penalized as auditors or voters
        // (from the bootstrap on), what their free stake can't pay is owed on their collateral, collected as it
        // comes back, and withdrawn with the fees.
        _assertReached(["penalty deferred to a debt", "penalty debt collected", "collected penalty debts withdrawn"]);
    }

    /// @notice A verifier that also provides, all its stake locked for one redundant job's seat, is penalized on
    /// a committee it never votes on: the penalty is owed on that collateral; then its seat, withheld, is slashed
    /// whole, and the debt the slash left nothing to pay from is written off.
    function test_reach_penaltyDebtWrittenOffBySlash() public {
        _terms(0, 0);
        address dual = handler.stakers()[5]; // verifier 1: 200 tokens, no lock
        handler.setRoles(5, 3); // both roles
        uint256 rid = _postReplica(2, false, 0);
        handler.commitSeat(_s(rid), 11, WITHHELD_SEAT); // seed 11: verifier 1 first
        vm.assertEq(replicaMarket.seat(rid, 0).provider, dual, "the seat is the dual-role account's");
        handler.requestUnbond(5, 0); // everything free: what is left is the seat's collateral
        handler.withdrawStake(5, 0); // waits out the unbonding period
        vm.assertEq(staking.account(dual).stake, staking.account(dual).locked, "all its stake is locked");
        // Only that account verifies: every seat of the next committee is its, and it stays silent.
        for (uint256 i = 4; i < 10; ++i) {
            if (i != 5) handler.setRoles(i, 0);
        }
        handler.setRoles(2, 1);
        handler.setRoles(3, 1);
        uint256 id = _unsampledJob(78);
        handler.challenge(_s(id), 0);
        handler.drawCommittee(_s(id), 2);
        handler.resolve(_s(id), 0); // choice 0: nobody votes
        vm.assertGt(staking.penaltyDebt(dual), 0, "the penalty is owed on the locked collateral");
        handler.settleReplicated(_s(rid), 3); // the withheld seat slashed whole
        vm.assertEq(staking.penaltyDebt(dual), 0, "nothing left to owe it on");
        _checkAll();
        _assertReached(
            ["committee: a member with several seats", "voter penalized: absent", "penalty deferred to a debt",
            "replica: every seat withheld", "penalty debt written off"]
        );
    }

    // ------------------------------------------------------------------ attacks

    /// @notice Every attack kind is tried (each asserts its exact revert), on the states the scenarios leave.
    function test_reach_everyAttack() public {
        _terms(1_000_000, 0);
        // States the attacks need: a sampled committed job, a revealed one with a committed audit, a dispute
        // in its vote, an inline-output callback job revealed.
        _sampledJob(70);
        uint256 id = _sampledJob(71);
        handler.commitAudit(_s(id), 1);
        handler.reveal(_s(id), 0);
        id = _unsampledJob(72);
        handler.challenge(_s(id), 0);
        handler.drawCommittee(_s(id), 2);
        _terms(0, 0);
        id = _post(2, true); // k = 2: an inline output required
        handler.claim(_s(id), 2, true);
        handler.reveal(_s(id), 0);
        id = _unsampledJob(74);
        handler.finalize(_s(id)); // a finished job
        for (uint256 kind; kind < handler.ATTACKS(); ++kind) {
            for (uint256 seed; seed < 24 && handler.attacksTried(kind) == 0; ++seed) {
                handler.attack(uint256(keccak256(abi.encode(kind, seed))), kind);
            }
            vm.assertGt(handler.attacksTried(kind), 0, string.concat("attack tried: kind ", vm.toString(kind)));
        }
        // The auditor draw, checked again after the attacks changed nothing: the same account.
        _terms(1_000_000, 0);
        uint256 fresh = _sampledJob(73);
        handler.attack(_s(fresh), 13);
        handler.commitAudit(_s(fresh), 1);
        _checkAll();
        _assertReached(["seed waited out", "auditor drawn again, unchanged"]);
    }

    // ------------------------------------------------------------------ redundant jobs

    /// @notice Redundant jobs end every way and their disputed seats go through committees (which vote the
    /// truth): an agreement paid; a withheld seat beside an agreement slashed to the poster; a made-up root beside
    /// honest ones sent with them to committees, which fault it and uphold them; a region that leaves seats empty,
    /// revealed after claimBy; one owner's seats agreeing on a made-up root, sampled and faulted; a job nobody took,
    /// expired. Then every job is settled and everyone withdraws: nothing is left in the ReplicaMarket.
    function test_reach_redundantJobsEndEveryWay() public {
        _terms(0, 0); // agreements are final
        uint256 id = _postReplica(3, false, 0);
        for (uint256 i; i < 3; ++i) handler.commitSeat(_s(id), i, HONEST_SEAT);
        handler.revealSeats(_s(id), type(uint256).max);
        handler.settleReplicated(_s(id), 3);

        id = _postReplica(3, false, 0);
        handler.commitSeat(_s(id), 0, HONEST_SEAT);
        handler.commitSeat(_s(id), 1, WITHHELD_SEAT);
        handler.commitSeat(_s(id), 2, HONEST_SEAT);
        handler.revealSeats(_s(id), type(uint256).max);
        handler.advanceReplicated(_s(id), 8); // only the withheld seat left: waits out revealBy, settles

        // A region only two providers declare: two seats of four, the rest refused; reveals after claimBy.
        id = _postReplica(4, false, 2);
        handler.commitSeat(_s(id), 0, HONEST_SEAT_OUTSIDER_FIRST);
        handler.commitSeat(_s(id), 1, HONEST_SEAT);
        handler.commitSeat(_s(id), 2, HONEST_SEAT);
        handler.revealSeats(_s(id), type(uint256).max); // moves across claimBy
        handler.settleReplicated(_s(id), 3);

        for (uint256 a; a < ATTEMPTS && !_reached2("replica seat faulted by its committee", "replica seat upheld by its committee"); ++a) {
            id = _postReplica(3, false, 0);
            handler.commitSeat(_s(id), a, HONEST_SEAT);
            handler.commitSeat(_s(id), a + 1, MADE_UP_SEAT);
            handler.commitSeat(_s(id), a + 2, HONEST_SEAT);
            handler.revealSeats(_s(id), type(uint256).max);
            uint256 first = handler.jobCount() + 1;
            handler.settleReplicated(_s(id), 3);
            for (uint256 job = first; job <= handler.jobCount(); ++job) _vote(job, a);
        }

        _terms(1_000_000, 0); // every agreement sampled
        for (uint256 a; a < ATTEMPTS && handler.reached("replica agreement sampled: committees") == 0; ++a) {
            id = _postReplica(2, true, 0); // one owner's two seats
            handler.commitSeat(_s(id), a, HONEST_SEAT); // made up: the job's seats are one owner's
            handler.commitSeat(_s(id), a + 1, HONEST_SEAT);
            handler.revealSeats(_s(id), type(uint256).max);
            uint256 first = handler.jobCount() + 1;
            handler.settleReplicated(_s(id), 3);
            for (uint256 job = first; job <= handler.jobCount(); ++job) _vote(job, a);
        }

        id = _postReplica(2, false, 0);
        handler.warp(4 * 301, 0); // past claimBy, nobody came
        handler.settleReplicated(_s(id), 3);

        // Everything settles, everyone withdraws: nothing is left.
        for (uint256 k; k < 3 * handler.replicaJobCount(); ++k) handler.settleReplicated(k, 1);
        for (uint256 k; k < 80; ++k) handler.withdrawCredits(k);
        handler.withdrawFees();
        _checkAll();
        for (uint256 rid = 1; rid <= handler.replicaJobCount(); ++rid) {
            vm.assertTrue(replicaMarket.replicaJob(rid).status != IReplicaMarket.ReplicaStatus.Open, "every job settled");
        }
        vm.assertEq(token.balanceOf(address(replicaMarket)), 0, "nothing stuck in the ReplicaMarket");
        _assertReached(
            ["replica posted", "replica posted with constraints", "replica seat: honest root", "replica seat: made-up root",
            "replica seat: to withhold", "replica seats full: reveals open", "replica seat refused by the constraints",
            "replica seat: nobody the constraints admit", "replica: claimBy passed with seats free",
            "replica: seat set sealed by the first reveal", "replica revealed: honest root", "replica revealed: made-up root",
            "replica agreed", "replica agreed beside a withheld seat", "replica disputed: committees",
            "replica agreement sampled: committees", "replica expired: nobody committed", "replica: revealBy waited out",
            "replica seat faulted by its committee", "replica seat upheld by its committee", "replica credits withdrawn",
            "replica protocol fees withdrawn"]
        );
    }

    // ------------------------------------------------------------------ helpers

    /// @dev commitSeat choices: one seat (not at claimBy, no attack around it) with the honest root, a made-up one
    /// or one it withholds.
    uint256 private constant HONEST_SEAT = 3 << 8 | 1 << 5 | 1 << 3;
    uint256 private constant MADE_UP_SEAT = HONEST_SEAT | 6;
    uint256 private constant WITHHELD_SEAT = HONEST_SEAT | 7;
    /// @dev An honest seat, after a provider the job's constraints leave out tried first.
    uint256 private constant HONEST_SEAT_OUTSIDER_FIRST = 2 << 8 | 1 << 5 | 1 << 3;

    /// @dev Posts redundant job `replicaJobCount + 1` (fee 5 tokens of model-a, claimBy in 300 s, under the current
    /// terms; `constraint` 0 none, 1 an allowlist, 2 a region, 3 a GPU) and returns its id.
    function _postReplica(uint256 k, bool sybil, uint256 constraint) internal returns (uint256 id) {
        uint256 flags = (k - 2) | 1 << 2 | (constraint == 0 ? 3 : constraint - 1) << 7 | 1 << 13 | 1 << 20;
        if (!sybil) flags |= 1 << 10;
        handler.postReplicated(0, 0, 5 ether, 300, flags);
        id = handler.replicaJobCount();
        vm.assertEq(uint256(replicaMarket.replicaJob(id).status), uint256(IReplicaMarket.ReplicaStatus.Open), "posted");
    }

    /// @dev A new version: every job sampled (or none), rechecks at `recheckPpm`, audit and voter pay within
    /// what the levy covers (ProtocolTerms' rule).
    function _terms(uint256 samplingPpm, uint256 recheckPpm) internal {
        handler.setTerms(_marketTerms(samplingPpm), _verificationTerms(recheckPpm));
    }

    function _marketTerms(uint256 samplingPpm) internal pure returns (IProtocolTerms.MarketParams memory p) {
        p = _localMarketParams();
        p.auditLevyBps = 4800;
        p.samplingPpm = uint24(samplingPpm);
    }

    function _verificationTerms(uint256 recheckPpm) internal pure returns (IProtocolTerms.VerificationParams memory v) {
        v = _localVerificationParams();
        v.auditRewardBps = 1000;
        v.voterRewardBps = 1000;
        v.recheckPpm = uint24(recheckPpm);
    }

    /// @dev Posts job `jobCount + 1` (from an EOA, or the consumer contract asking for a callback) and returns
    /// its id. The consumer's callback mode and whether the output must be inline follow `k`.
    function _post(uint256 k, bool consumerWithCallback) internal returns (uint256 id) {
        uint256 flags = 1 | (k % 4) << 7;
        if (consumerWithCallback) flags |= 1 << 9;
        handler.postJob(consumerWithCallback ? 2 : k % 2, k, 3 ether, 300, flags);
        id = handler.jobCount();
        vm.assertEq(uint256(handler.jobState(id).status), uint256(IJobMarket.JobStatus.Posted), "posted");
    }

    /// @dev A job claimed and committed under the current (sampling) terms, its seed block mined.
    function _sampledJob(uint256 k) internal returns (uint256 id) {
        id = _post(k, false);
        handler.claim(_s(id), k, true);
    }

    /// @dev A job revealed under terms that sample nothing (set here).
    function _unsampledJob(uint256 k) internal returns (uint256 id) {
        IProtocolTerms.MarketParams memory p = _marketTerms(0);
        IProtocolTerms.VerificationParams memory v = handler.verificationTerms(handler.termsVersion());
        handler.setTerms(p, v);
        id = _post(k, false);
        handler.claim(_s(id), k, true);
        handler.reveal(_s(id), 0);
    }

    /// @dev The dispute of job `id` drawn, voted (leaning `lean % 3`: ProviderCorrect, ProviderWrong,
    /// AuditorWrong) and resolved.
    function _vote(uint256 id, uint256 lean) internal {
        handler.drawCommittee(_s(id), 2);
        handler.commitVote(_s(id), lean);
        handler.revealVote(_s(id));
        handler.resolve(_s(id), 1);
    }

    function _s(uint256 id) internal pure returns (uint256) {
        return id - 1;
    }

    /// @dev The challenger seed that picks `who` (the handler takes `accounts()[seed % 13]`, or a watchdog when
    /// `seed % 3 == 0`).
    function _challengerSeed(address who) internal view returns (uint256 seed) {
        address[] memory all = handler.accounts();
        while (all[seed] != who) ++seed;
        if (seed % 3 == 0) seed += 13;
    }

    function _reached2(string memory a, string memory b) internal view returns (bool) {
        return handler.reached(a) != 0 && handler.reached(b) != 0;
    }

    function _assertReached(string[2] memory paths) internal view {
        for (uint256 i; i < paths.length; ++i) vm.assertGt(handler.reached(paths[i]), 0, string.concat("reached: ", paths[i]));
    }

    function _assertReached(string[3] memory paths) internal view {
        for (uint256 i; i < paths.length; ++i) vm.assertGt(handler.reached(paths[i]), 0, string.concat("reached: ", paths[i]));
    }

    function _assertReached(string[4] memory paths) internal view {
        for (uint256 i; i < paths.length; ++i) vm.assertGt(handler.reached(paths[i]), 0, string.concat("reached: ", paths[i]));
    }

    function _assertReached(string[5] memory paths) internal view {
        for (uint256 i; i < paths.length; ++i) vm.assertGt(handler.reached(paths[i]), 0, string.concat("reached: ", paths[i]));
    }

    function _assertReached(string[9] memory paths) internal view {
        for (uint256 i; i < paths.length; ++i) vm.assertGt(handler.reached(paths[i]), 0, string.concat("reached: ", paths[i]));
    }

    function _assertReached(string[11] memory paths) internal view {
        for (uint256 i; i < paths.length; ++i) vm.assertGt(handler.reached(paths[i]), 0, string.concat("reached: ", paths[i]));
    }

    function _assertReached(string[12] memory paths) internal view {
        for (uint256 i; i < paths.length; ++i) vm.assertGt(handler.reached(paths[i]), 0, string.concat("reached: ", paths[i]));
    }

    function _assertReached(string[22] memory paths) internal view {
        for (uint256 i; i < paths.length; ++i) vm.assertGt(handler.reached(paths[i]), 0, string.concat("reached: ", paths[i]));
    }

    function _assertReached(string[13] memory paths) internal view {
        for (uint256 i; i < paths.length; ++i) vm.assertGt(handler.reached(paths[i]), 0, string.concat("reached: ", paths[i]));
    }
}

/// @notice The handler this file deploys (see ProtocolHandler: its artifact must come from this file).
contract ReachabilityHandler is ProtocolHandler {
    constructor(
        DinferTestToken token_,
        Staking staking_,
        ModelRegistry registry_,
        ProtocolTerms terms_,
        JobMarket market_,
        Verification verification_,
        address owner_,
        IProtocolTerms.MarketParams memory firstMarket,
        IProtocolTerms.VerificationParams memory firstVerification
    ) ProtocolHandler(token_, staking_, registry_, terms_, market_, verification_, owner_, firstMarket, firstVerification) {}
}
