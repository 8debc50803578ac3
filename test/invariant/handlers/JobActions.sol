// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import * as Errors from "../../../contracts/errors/Errors.sol";
import {IJobMarket} from "../../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../../contracts/interfaces/IProtocolTerms.sol";
import {IStaking} from "../../../contracts/interfaces/IStaking.sol";
import {IVerification} from "../../../contracts/interfaces/IVerification.sol";
import {Commitments} from "../../../contracts/libraries/Commitments.sol";
import {OutputRoot} from "../../../contracts/libraries/OutputRoot.sol";

import {MockConsumer} from "../../utils/MockConsumer.sol";
import {Vm} from "../../utils/Vm.sol";
import {HandlerBase} from "./HandlerBase.sol";

/// @notice A job's life in the market: post, claim (or claim and commit), commit, reveal, finalize, expire,
/// each applied to the model as docs/PROTOCOL.md ("Jobs") says, with the audit hooks of a sampled job.
abstract contract JobActions is HandlerBase {
    // ================================================================== fuzzed actions

    function postJob(uint256 posterSeed, uint256 modelSeed, uint256 fee, uint256 claimDelay, uint256 flags) external {
        _begin();
        _post(posterSeed, modelSeed, fee, claimDelay, flags);
    }

    /// @dev One claim-and-commit in three goes out in a `tryMulticall` with a second one, as a worker groups its
    /// claims (the second may be of the same job: a claim that lost its race).
    function claim(uint256 jobSeed, uint256 providerSeed, bool andCommit) external {
        _begin();
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Posted), true);
        if (id == 0) return;
        if (andCommit && (providerSeed >> 64) % 3 == 1) {
            return _claimGroup(id, _pick(jobSeed >> 8, _bit(IJobMarket.JobStatus.Posted), true), providerSeed);
        }
        _claim(id, providerSeed, andCommit);
    }

    function commit(uint256 jobSeed, uint256 outputSeed) external {
        _begin();
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Claimed), true);
        if (id != 0) _commit(id, outputSeed);
    }

    function reveal(uint256 jobSeed, uint256 choice) external {
        _begin();
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Committed), true);
        if (id != 0) _reveal(id, choice);
    }

    function finalize(uint256 jobSeed) external {
        _begin();
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Revealed), false);
        if (id != 0) _finalize(id);
    }

    /// @dev Expires a job whose deadline passed; one call in four waits for one.
    function expire(uint256 jobSeed, uint256 wait) external {
        _begin();
        uint256 mask = _bit(IJobMarket.JobStatus.Posted) | _bit(IJobMarket.JobStatus.Claimed)
            | _bit(IJobMarket.JobStatus.Committed);
        uint256 id = _pickExpired(jobSeed, mask);
        if (id == 0 && wait % 4 == 0) id = _pick(jobSeed, mask, false);
        if (id != 0) _expire(id);
    }

    // ================================================================== steps

    function _post(uint256 posterSeed, uint256 modelSeed, uint256 fee, uint256 claimDelay, uint256 flags) internal {
        address poster = _posters[posterSeed % _posters.length];
        uint256 modelId = _models[modelSeed % _models.length];
        uint256 floor = _floorOf[modelId];
        IProtocolTerms.MarketParams memory p = _mp[termsVersion];
        fee = flags % 16 == 0 ? _bound(fee, floor, 1_000_000 ether) : _bound(fee, floor, floor + 500 ether);
        uint256 maxDelay = p.maxClaimDelay;
        claimDelay = (flags >> 4) % 2 == 0 ? _bound(claimDelay, 1, _min(maxDelay, 300)) : _bound(claimDelay, 1, maxDelay);

        IJobMarket.JobRequest memory req;
        req.modelId = modelId;
        req.fee = fee;
        req.claimBy = uint64(_now + claimDelay);
        if ((flags >> 5) % 2 == 0) {
            req.inlineInput = abi.encodePacked("DTN1", flags, posterSeed); // a small inline input
        } else {
            req.inputHash = keccak256(abi.encode("input", flags));
            req.inputURI = "ipfs://input";
        }
        req.inlineOutput = (flags >> 6) % 3 == 0;
        if (poster == address(consumer)) {
            // Half the consumer's jobs accept their callback; a quarter revert, a quarter burn all the gas.
            uint256 mode = (flags >> 7) % 4;
            consumer.setMode(mode < 2 ? MockConsumer.Mode.Accept : MockConsumer.Mode(mode - 1));
            uint256 limit = p.callbackGasLimit;
            if (limit != 0 && (flags >> 9) % 4 != 0) {
                req.callbackGasLimit = uint32(_bound(flags >> 11, _min(150_000, limit), _min(400_000, limit)));
            }
        }

        _mint(poster, fee);
        bool ok;
        if (poster == address(consumer)) {
            ok = _exec(address(this), address(consumer), abi.encodeCall(MockConsumer.post, (req)), "post via consumer");
        } else {
            vm.prank(poster);
            token.approve(address(market), fee);
            ok = _exec(poster, address(market), abi.encodeCall(IJobMarket.postJob, (req)), "postJob");
        }
        if (!ok) return;
        uint256 id = ++jobCount;
        _focus = id;
        JobModel storage m = _jobs[id];
        m.job = IJobMarket.Job({
            poster: poster,
            modelId: uint32(modelId),
            terms: termsVersion,
            fee: uint96(fee),
            collateral: uint96(_collateralOf[modelId]),
            callbackGasLimit: req.callbackGasLimit,
            status: IJobMarket.JobStatus.Posted,
            deadline: uint32(req.claimBy),
            provider: address(0),
            commitBlock: 0,
            result: bytes32(0),
            inlineOutput: req.inlineOutput,
            sampled: false
        });
        m.postedUnder = termsVersion;
        escrow += fee;
        _checkStored(id, "post");
        _reach(req.callbackGasLimit != 0 ? "post with a callback" : "post");
    }

    function _claim(uint256 id, uint256 providerSeed, bool andCommit) internal {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id].job;
        address provider = _claimant(providerSeed, job.collateral);
        if (andCommit) {
            bytes32 commitment = _prepareOutput(id, provider, providerSeed >> 8);
            bytes memory data = abi.encodeCall(IJobMarket.claimAndCommit, (id, job, commitment));
            if (!_exec(provider, address(market), data, "claimAndCommit")) return;
            _stakes[provider].locked += job.collateral;
            _jobs[id].job.provider = provider;
            _committed(id, commitment);
            _reach("claimAndCommit");
            return;
        }
        if (!_exec(provider, address(market), abi.encodeCall(IJobMarket.claim, (id, job)), "claim")) return;
        _stakes[provider].locked += job.collateral;
        _transition(id, IJobMarket.JobStatus.Claimed);
        IJobMarket.Job storage j = _jobs[id].job;
        j.provider = provider;
        j.deadline = uint32(_now + _mp[j.terms].commitTimeout);
        _checkStored(id, "claim");
        _reach("claim");
    }

    /// @dev Two claims-and-commits by one provider in one `tryMulticall`. Of two jobs, both must run; of one job
    /// twice, the second must be skipped with the job's state mismatch (the first changed it), its effects undone
    /// and the first's kept: the model applies the first alone, and the invariants check the rest.
    function _claimGroup(uint256 id, uint256 other, uint256 providerSeed) internal {
        bool twice = other == id;
        uint256 collateral = _jobs[id].job.collateral + (twice ? 0 : _jobs[other].job.collateral);
        address provider = _claimant(providerSeed, collateral);
        bytes[] memory calls = new bytes[](2);
        bytes32 first = _prepareOutput(id, provider, providerSeed >> 8);
        bytes32 second;
        calls[0] = abi.encodeCall(IJobMarket.claimAndCommit, (id, _jobs[id].job, first));
        if (twice) {
            calls[1] = calls[0];
        } else {
            second = _prepareOutput(other, provider, providerSeed >> 16);
            calls[1] = abi.encodeCall(IJobMarket.claimAndCommit, (other, _jobs[other].job, second));
        }
        _focus = id;
        if (!_tryClaims(provider, calls, twice ? abi.encodeWithSelector(Errors.JobMismatch.selector, id) : bytes(""))) return;
        _stakes[provider].locked += collateral;
        _jobs[id].job.provider = provider;
        _committed(id, first);
        if (!twice) {
            _jobs[other].job.provider = provider;
            _committed(other, second);
        }
        _reach(twice ? "claims in a tryMulticall, one lost" : "claims in a tryMulticall");
    }

    /// @dev Sends the two claims in a `tryMulticall` and checks its outcome: the first ran; the second ran unless
    /// `lost` is its expected revert data, which its `CallSkipped` (index 1, the only one) must carry.
    function _tryClaims(address provider, bytes[] memory calls, bytes memory lost) internal returns (bool) {
        vm.recordLogs();
        vm.prank(provider);
        (bool ok, bytes memory ret) = address(market).call(abi.encodeCall(IJobMarket.tryMulticall, (calls)));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        if (!ok) {
            ++unexpectedReverts;
            if (bytes(firstUnexpectedRevert).length == 0) {
                firstUnexpectedRevert = string.concat("tryMulticall of two claims reverted, job ", vm.toString(_focus), ": ", _hex(ret));
            }
            return false;
        }
        bool[] memory ran = abi.decode(ret, (bool[]));
        _check(ran.length == 2 && ran[0] && ran[1] == (lost.length == 0), "tryMulticall of two claims: which ran");
        uint256 skips;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(market) || logs[i].topics.length == 0) continue;
            if (logs[i].topics[0] != IJobMarket.CallSkipped.selector) continue;
            ++skips;
            (uint256 index, bytes memory reason) = abi.decode(logs[i].data, (uint256, bytes));
            _check(index == 1 && keccak256(reason) == keccak256(lost), "tryMulticall of two claims: the skipped call and its reason");
        }
        _check(skips == (lost.length == 0 ? 0 : 1), "tryMulticall of two claims: CallSkipped events");
        return true;
    }

    /// @dev A provider with the provider role and free stake for the collateral; stakes one up when none has
    /// (a new deposit pays the account's penalty debt first, so by that much more).
    function _claimant(uint256 seed, uint256 collateral) internal returns (address) {
        // Half the time the providers that also verify go first.
        if (seed % 2 == 0) seed = 2 + (seed >> 1) % 2;
        for (uint256 i; i < _providers.length; ++i) {
            address p = _providers[(seed % _providers.length + i) % _providers.length];
            StakeModel storage s = _stakes[p];
            if (s.roles & PROVIDER != 0 && s.stake >= s.locked + collateral) return p;
        }
        address chosen = _providers[seed % _providers.length];
        StakeModel storage c = _stakes[chosen];
        uint256 needed = c.locked + c.debt + collateral;
        uint256 missing = c.stake >= needed ? 0 : needed - c.stake;
        _stake(chosen, missing + 1 ether, c.roles | PROVIDER);
        return chosen;
    }

    function _commit(uint256 id, uint256 outputSeed) internal {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id].job;
        bytes32 commitment = _prepareOutput(id, job.provider, outputSeed);
        bytes memory data = abi.encodeCall(IJobMarket.commit, (id, job, commitment));
        if (!_exec(job.provider, address(market), data, "commit")) return;
        _committed(id, commitment);
        _reach("commit");
    }

    /// @dev The provider's output: inline when the poster requires it (and now and then otherwise).
    function _prepareOutput(uint256 id, address provider, uint256 seed) internal returns (bytes32 commitment) {
        JobModel storage m = _jobs[id];
        if (m.job.inlineOutput || seed % 2 == 0) {
            m.output = abi.encodePacked("DTN1", seed, id);
            m.root = OutputRoot.leaf(0, m.output);
        } else {
            delete m.output;
            m.root = keccak256(abi.encode("output", seed, id));
        }
        m.salt = keccak256(abi.encode("salt", provider, id));
        commitment = Commitments.hash(block.chainid, address(market), id, provider, m.root, m.salt);
    }

    function _committed(uint256 id, bytes32 commitment) internal {
        _transition(id, IJobMarket.JobStatus.Committed);
        JobModel storage m = _jobs[id];
        m.job.deadline = uint32(_now + _mp[m.job.terms].revealTimeout);
        m.job.commitBlock = uint64(_block);
        m.job.result = commitment;
        m.committedAt = _now;
        _checkStored(id, "commit");
    }

    function _revealCall(uint256 id) internal view returns (bytes memory) {
        JobModel storage m = _jobs[id];
        return abi.encodeCall(IJobMarket.reveal, (id, m.job, m.root, m.salt, "ipfs://out", m.output));
    }

    /// @dev Reveals once the seed block is mined. A sampled job waits for its auditor: the reveal is refused
    /// until the audit deadline (AuditPending), then the auditor commits blind first, or misses (penalized,
    /// and the job goes to a committee).
    function _reveal(uint256 id, uint256 choice) internal {
        _focus = id;
        JobModel storage m = _jobs[id];
        if (_now > m.job.deadline) return;
        uint256 seedBlock = _seedBlock(id);
        _rollTo(seedBlock + 1);
        if (_block > seedBlock + BLOCKHASH_REACH) return; // closed for good: the job can only expire
        bool sampled = _sampledModel(id);
        bool missed;
        if (sampled && _audits[id].state != IVerification.AuditState.Committed) {
            address auditor = _drawnAuditor(id);
            if (auditor != address(0)) {
                uint256 commitBy = _auditCommitBy(id);
                if (_now <= commitBy) {
                    bytes memory held = abi.encodeWithSelector(Errors.AuditPending.selector, id, commitBy);
                    _expectRevert(address(market), m.job.provider, _revealCall(id), held, "reveal before the audit");
                    if (choice % 4 == 0 || !_commitAudit(id, auditor, choice >> 2)) _warpTo(commitBy + 1);
                }
                missed = _audits[id].state != IVerification.AuditState.Committed;
            }
        }
        if (!_execSlashing(m.job.provider, address(market), _revealCall(id), "reveal")) return;
        _transition(id, IJobMarket.JobStatus.Revealed);
        IJobMarket.Job storage j = m.job;
        j.deadline = uint32(_now + _mp[j.terms].challengeWindow);
        j.result = m.root;
        j.inlineOutput = m.output.length != 0;
        j.sampled = sampled;
        if (missed) {
            // The auditor missed its blind commit: it pays auditorPenalty and a committee judges the job.
            AuditModel storage a = _audits[id];
            a.auditor = a.drawn;
            a.state = IVerification.AuditState.Missed;
            _penalizeAuditorModel(id, _absentAuditorPenalty(id, _vp[j.terms].auditorPenalty));
            _openDisputeModel(id, address(0), 0, IVerification.DisputeReason.AuditMissed);
            _transition(id, IJobMarket.JobStatus.Disputed);
            _reach("audit missed");
        }
        _checkStored(id, "reveal");
        _reach(sampled ? "reveal sampled" : "reveal");
        // An auditor that committed blind usually reveals as soon as it can (its daemon watches the reveal).
        if (_audits[id].state == IVerification.AuditState.Committed && choice % 3 != 0) {
            _revealAudit(id, _audits[id].root != m.root && choice % 5 != 0);
        }
    }

    /// @dev Pays the provider after the window; a sampled job pays its agreeing auditor first, and goes to a
    /// committee instead when its auditor committed and never revealed.
    function _finalize(uint256 id) internal {
        _focus = id;
        JobModel storage m = _jobs[id];
        if (_now <= m.job.deadline) _warpTo(uint256(m.job.deadline) + 1);
        IJobMarket.Job memory job = m.job;
        uint256 deliveries = consumer.deliveries();
        bytes memory data = job.inlineOutput
            ? abi.encodeCall(IJobMarket.finalizeWithOutput, (id, job, m.output))
            : abi.encodeCall(IJobMarket.finalize, (id, job));
        if (!_execSlashing(KEEPER, address(market), data, "finalize")) return;
        AuditModel storage a = _audits[id];
        if (job.sampled && a.state == IVerification.AuditState.Committed) {
            // Committed blind and kept quiet: it costs challengeBond, and a committee judges the job.
            a.state = IVerification.AuditState.Unrevealed;
            _penalizeAuditorModel(id, _absentAuditorPenalty(id, _vp[job.terms].challengeBond));
            _openDisputeModel(id, address(0), 0, IVerification.DisputeReason.AuditUnrevealed);
            _transition(id, IJobMarket.JobStatus.Disputed);
            _checkStored(id, "finalize of an unrevealed audit");
            _reach("audit unrevealed");
            return;
        }
        if (job.sampled && a.state == IVerification.AuditState.Agreed) {
            _payFromPoolModel(a.auditor, uint256(job.fee) * _vp[job.terms].auditRewardBps / BPS);
            ++auditRewards[id];
            _reach("audit reward on finalize");
        }
        _payJobModel(id);
        _checkCallback(id, job, deliveries, "finalize");
        _checkStored(id, "finalize");
        _reach("finalize");
    }

    /// @dev Ends a job past its deadline (a committed one also once its seed is out of reach).
    function _expire(uint256 id) internal {
        _focus = id;
        JobModel storage m = _jobs[id];
        IJobMarket.JobStatus from = m.job.status;
        bool unrevealable = from == IJobMarket.JobStatus.Committed && _block > _seedBlock(id) + BLOCKHASH_REACH;
        if (!unrevealable && _now <= m.job.deadline) _warpTo(uint256(m.job.deadline) + 1);
        if (!_execSlashing(KEEPER, address(market), abi.encodeCall(IJobMarket.expire, (id, m.job)), "expire")) return;
        IJobMarket.Job memory job = m.job;
        _creditMarket(job.poster, job.fee);
        _releaseEscrow(id);
        _transition(id, IJobMarket.JobStatus.Expired);
        IProtocolTerms.MarketParams memory p = _mp[job.terms];
        if (from == IJobMarket.JobStatus.Committed && _sampledModel(id)) {
            _slashWithheldModel(id);
            _reach("expired: withheld sampled reveal");
        } else if (from != IJobMarket.JobStatus.Posted) {
            uint256 penalty = _slashModel(job.provider, job.collateral, uint256(job.collateral) * p.expiryPenaltyBps / BPS);
            _creditMarket(job.poster, penalty);
            _reach(from == IJobMarket.JobStatus.Claimed ? "expired: missed commit" : "expired: missed reveal");
        } else {
            _reach("expired: unclaimed");
        }
        _checkStored(id, "expire");
    }

    /// @dev A withheld sampled reveal: the whole collateral, split to the poster (expiryPenaltyBps), the
    /// auditor that committed blind (challengerRewardBps, after the poster's share) and the audit pool.
    function _slashWithheldModel(uint256 id) internal {
        IJobMarket.Job memory job = _jobs[id].job;
        uint256 slashed = _slashModel(job.provider, job.collateral, job.collateral);
        uint256 toPoster = slashed * _mp[job.terms].expiryPenaltyBps / BPS;
        AuditModel storage a = _audits[id];
        uint256 toAuditor;
        if (a.state == IVerification.AuditState.Committed) {
            toAuditor = _min(slashed * _vp[job.terms].challengerRewardBps / BPS, slashed - toPoster);
            _creditMarket(a.auditor, toAuditor);
            _reach("withheld: blind auditor paid");
        }
        _creditMarket(job.poster, toPoster);
        auditPool += slashed - toPoster - toAuditor;
    }

    /// @dev A job whose result stands calls its consumer back: an accepting consumer gets the output root
    /// (and the inline output); a reverting or gas-burning one is skipped without undoing the payment.
    function _checkCallback(uint256 id, IJobMarket.Job memory job, uint256 deliveriesBefore, string memory what)
        internal
    {
        if (job.callbackGasLimit == 0) {
            _check(consumer.deliveries() == deliveriesBefore, string.concat(what, ": no callback asked, none made"));
            return;
        }
        if (consumer.deliveries() == deliveriesBefore + 1) {
            _check(consumer.delivered(id) == job.result, string.concat(what, ": callback got the output root"));
            bytes32 outputHash = keccak256(_jobs[id].output);
            _check(consumer.deliveredOutput(id) == outputHash, string.concat(what, ": callback got the output"));
            _reach("callback delivered");
        } else {
            bool accepts = consumer.modeOf(id) == MockConsumer.Mode.Accept && job.callbackGasLimit >= 100_000;
            _check(!accepts, string.concat(what, ": accepting consumer not called"));
            _reach("callback failed, job paid");
        }
    }

    /// @dev Stakes `amount` more for `who` with `roles` (the model follows): the new stake pays a penalty debt
    /// first.
    function _stake(address who, uint256 amount, uint8 roles) internal {
        _mint(who, amount);
        vm.prank(who);
        token.approve(address(staking), amount);
        if (!_exec(who, address(staking), abi.encodeCall(IStaking.stake, (amount, roles)), "stake")) return;
        _deposited[who] += amount;
        StakeModel storage s = _stakes[who];
        s.stake += amount;
        s.roles = roles;
        _settleDebtModel(who);
        _syncModel(who);
    }

    /// @dev Like _pick, among jobs whose deadline has passed.
    function _pickExpired(uint256 seed, uint256 mask) internal returns (uint256) {
        uint256 n = jobCount;
        for (uint256 i; i < n; ++i) {
            uint256 id = (seed % n + i) % n + 1;
            IJobMarket.Job storage j = _jobs[id].job;
            if ((mask >> uint8(j.status)) & 1 == 0 || _now <= j.deadline) continue;
            _focus = id;
            return id;
        }
        return 0;
    }

    // Implemented with the audits (VerificationActions).
    function _drawnAuditor(uint256 id) internal virtual returns (address);
    function _commitAudit(uint256 id, address auditor, uint256 choice) internal virtual returns (bool);
    function _revealAudit(uint256 id, bool disagree) internal virtual;
}
