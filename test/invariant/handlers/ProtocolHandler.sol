// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DinferTestToken} from "../../../contracts/DinferTestToken.sol";
import {JobMarket} from "../../../contracts/JobMarket.sol";
import {ModelRegistry} from "../../../contracts/ModelRegistry.sol";
import {ProtocolTerms} from "../../../contracts/ProtocolTerms.sol";
import {Staking} from "../../../contracts/Staking.sol";
import {Verification} from "../../../contracts/Verification.sol";
import {IJobMarket} from "../../../contracts/interfaces/IJobMarket.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";
import {IProtocolTerms} from "../../../contracts/interfaces/IProtocolTerms.sol";
import {IVerification} from "../../../contracts/interfaces/IVerification.sol";

import {HandlerBase} from "./HandlerBase.sol";
import {ReplicaActions} from "./ReplicaActions.sol";

/// @notice The invariant test's one target: every action of every role on the real contracts (the actions
/// live in JobActions, VerificationActions, StakingActions, GovernanceActions, AttackActions and ReplicaActions),
/// a bootstrap that leaves jobs and redundant jobs in every open state, and `advance`, which moves a job one
/// step along its life.
/// @dev Abstract: each test file deploys a concrete subclass of its own. The invariant runner needs the
/// target's artifact (its ABI), and Hardhat writes artifacts only for the contracts of the test files it is
/// asked to run, so a lone `npx hardhat test solidity test/invariant/Protocol.t.sol` finds it there.
abstract contract ProtocolHandler is ReplicaActions {
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
    )
        HandlerBase(
            token_, staking_, registry_, terms_, market_, verification_, owner_, firstMarket, firstVerification
        )
    {}

    /// @notice Called once by the test's setUp: models, stakes, terms that sample half the jobs, jobs in every
    /// open status (audits committed and missed, disputes open and voting) and redundant jobs in every open state
    /// (ReplicaActions), so that a 32-call run can reach every transition.
    function bootstrap() external {
        _register(100 ether, 1 ether, "model-a");
        _register(7, 0, "model-b"); // odd and tiny: every share rounds
        _register(123_456_789_123_456_789_123, 10 ether, "model-c");
        // The providers that also verify hold little beyond their collateral: their penalties as voters and
        // auditors often exceed their free stake, and must never take what is locked: the rest is a debt on it,
        // collected as the collateral comes back (after the job's own slash).
        for (uint256 i; i < _providers.length; ++i) {
            _stake(_providers[i], i < 2 ? 400 ether : 130 ether, i < 2 ? PROVIDER : PROVIDER | VERIFIER);
        }
        for (uint256 i; i < _verifiers.length; ++i) _stake(_verifiers[i], 200 ether, VERIFIER);
        _bootstrapTerms();
        // Twenty jobs, every fourth from the consumer contract with a callback: 1-16 claimed, 1-14 committed
        // (the auditors of 11-14 commit blind where sampled), 1-10 revealed (audits committed or missed,
        // revealed or not), the even ones of those challenged, and their committees drawn.
        for (uint256 i; i < 20; ++i) {
            uint256 flags = 1 | (i % 2) << 5 | (i % 3) << 6 | (i % 4) << 7 | 1 << 9 | i << 11;
            _post(i, i, 5 ether + i * 1 ether + i, 300 + i * 100, flags);
        }
        for (uint256 id = 1; id <= 16; ++id) _claim(id, id, id % 3 == 0);
        for (uint256 id = 1; id <= 14; ++id) {
            if (_jobs[id].job.status == IJobMarket.JobStatus.Claimed) _commit(id, id * 7);
        }
        for (uint256 id = 1; id <= 10; ++id) {
            _reveal(id, id);
            if (_jobs[id].job.status == IJobMarket.JobStatus.Revealed && id % 2 == 0) _challenge(id, id * 3);
        }
        for (uint256 id = 11; id <= 14; ++id) {
            if (!_sampledModel(id) || _block > _seedBlock(id) + BLOCKHASH_REACH) continue;
            address auditor = _drawnAuditor(id);
            if (auditor != address(0) && _now <= _auditCommitBy(id)) _commitAudit(id, auditor, id);
        }
        for (uint256 id = 1; id <= 10; ++id) {
            if (_disputes[id].state == IVerification.DisputeState.Open) _drawCommittee(id, 0);
        }
        _bootstrapReplicas();
    }

    /// @dev Half the jobs sampled, rechecks, audit and voter pay the levy covers (ProtocolTerms checks it).
    function _bootstrapTerms() internal {
        IProtocolTerms.VerificationParams memory v = _vp[termsVersion];
        v.auditRewardBps = 2000;
        v.voterRewardBps = 1000;
        v.recheckPpm = 500_000;
        vm.prank(owner);
        terms.setVerificationParams(v);
        ++termsVersion;
        _mp[termsVersion] = _mp[termsVersion - 1];
        _vp[termsVersion] = v;
        IProtocolTerms.MarketParams memory p = _mp[termsVersion];
        p.auditLevyBps = 2000;
        p.samplingPpm = 500_000;
        vm.prank(owner);
        terms.setParams(p);
        ++termsVersion;
        _mp[termsVersion] = p;
        _vp[termsVersion] = v;
    }

    function _register(uint96 collateral, uint96 floor, string memory name) internal {
        uint256 id = registry.register(
            IModelRegistry.ModelSpec({
                modelHash: keccak256(bytes(name)),
                uri: string.concat("ipfs://", name),
                runtime: "onnxruntime-node@1.30.0",
                tolerance: IModelRegistry.Tolerance(IModelRegistry.ToleranceKind.Argmax, -1, 0, 0),
                minCollateral: collateral,
                priceFloor: floor,
                nonFiniteInputs: false
            })
        );
        _models.push(id);
        _collateralOf[id] = collateral;
        _floorOf[id] = floor;
    }

    // ================================================================== driving a job along

    function warp(uint256 secondsAhead, uint256 blocksAhead) external {
        _begin();
        // Mostly short steps (open jobs' deadlines are minutes away), sometimes up to a quarter hour.
        uint256 maxStep = secondsAhead % 4 == 0 ? 900 : 60;
        _warpTo(_now + _bound(secondsAhead >> 2, 0, maxStep));
        _rollBlocks(_bound(blocksAhead, 0, 8));
    }

    /// @notice Moves one open job one step along its life, whatever its status; posts one when none is open.
    function advance(uint256 jobSeed, uint256 choice) external {
        _begin();
        uint256 open = _bit(IJobMarket.JobStatus.Posted) | _bit(IJobMarket.JobStatus.Claimed)
            | _bit(IJobMarket.JobStatus.Committed) | _bit(IJobMarket.JobStatus.Revealed)
            | _bit(IJobMarket.JobStatus.Disputed);
        uint256 id = _pick(jobSeed, open, false);
        if (id == 0) return _post(choice, choice >> 8, choice >> 16, choice >> 32, choice >> 48);
        IJobMarket.Job memory job = _jobs[id].job;
        bool live = _now <= job.deadline;
        if (job.status == IJobMarket.JobStatus.Disputed) return _advanceDispute(id, choice);
        if (job.status == IJobMarket.JobStatus.Revealed) {
            if (live && _audits[id].state == IVerification.AuditState.Committed && choice % 3 != 2) {
                return _revealAudit(id, choice % 4 == 0);
            }
            if (live && choice % 4 == 0) return _challenge(id, choice >> 8);
            return _finalize(id);
        }
        if (!live || choice % 16 == 0) return _expire(id);
        if (job.status == IJobMarket.JobStatus.Posted) return _claim(id, choice, choice % 2 == 0);
        if (job.status == IJobMarket.JobStatus.Claimed) return _commit(id, choice >> 4);
        if (_block > _seedBlock(id) + BLOCKHASH_REACH) return _expire(id);
        _reveal(id, choice >> 4);
    }

    /// @dev A dispute's next step: the draw, the members' votes committed, then revealed, then the resolution
    /// (now and then straight to it, with the votes missing).
    function _advanceDispute(uint256 id, uint256 choice) internal {
        DisputeModel storage d = _disputes[id];
        if (choice % 8 != 0) {
            if (d.state == IVerification.DisputeState.Open) return _drawCommittee(id, choice >> 4);
            if (d.state == IVerification.DisputeState.Voting && _now <= d.voteCommitBy && d.commits < d.voters.length) {
                return _commitVote(id, choice >> 4);
            }
            if (d.state == IVerification.DisputeState.Voting && d.correct + d.wrong + d.auditorWrong < d.seats.length) {
                uint256 revealed = d.correct + d.wrong + d.auditorWrong;
                _revealVote(id, choice >> 4);
                if (d.correct + d.wrong + d.auditorWrong != revealed) return;
            }
        }
        _resolve(id);
    }

    /// @notice Runs one fuzzed action chosen by `seed` (for the deterministic reachability sequence).
    function step(uint256 seed) external {
        uint256 s = uint256(keccak256(abi.encode(seed)));
        uint256 a = seed % 27;
        if (a == 0) this.postJob(s, s >> 8, s >> 16, s >> 80, s >> 144);
        else if (a == 1) this.claim(s, s >> 8, s % 3 == 0);
        else if (a == 2) this.commit(s, s >> 8);
        else if (a == 3) this.reveal(s, s >> 8);
        else if (a == 4) this.finalize(s);
        else if (a == 5) this.expire(s, s >> 8);
        else if (a == 6) this.commitAudit(s, s >> 8);
        else if (a == 7) this.revealAudit(s, s % 3 == 0);
        else if (a == 8) this.challenge(s, s >> 8);
        else if (a == 9) this.drawCommittee(s, s >> 8);
        else if (a == 10) this.commitVote(s, s >> 8);
        else if (a == 11) this.revealVote(s);
        else if (a == 12) this.resolve(s, s >> 8);
        else if (a == 13) this.stake(s, s >> 8, s >> 200);
        else if (a == 14) this.requestUnbond(s, s >> 8);
        else if (a == 15) this.withdrawStake(s, s >> 8);
        else if (a == 16) this.setRoles(s, s >> 8);
        else if (a == 17) this.syncVerifier(s);
        else if (a == 18 && s % 2 == 0) this.setMarketParams(s);
        else if (a == 18) this.setVerificationParams(s);
        else if (a == 19) this.withdrawFees();
        else if (a == 20) this.fundAuditPool(s, s >> 8);
        else if (a == 21) this.postReplicated(s, s >> 8, s >> 16, s >> 80, s >> 144);
        else if (a == 22) this.commitSeat(s, s >> 8, s >> 16);
        else if (a == 23) this.revealSeats(s, s >> 8);
        else if (a == 24) this.settleReplicated(s, s >> 8);
        else if (a == 25) this.advanceReplicated(s, s >> 8);
        else this.withdrawCredits(s);
    }
}
