// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import * as Errors from "../../../contracts/errors/Errors.sol";
import {IJobMarket} from "../../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../../contracts/interfaces/IProtocolTerms.sol";
import {IPullPayments} from "../../../contracts/interfaces/IPullPayments.sol";
import {IReplicaMarket} from "../../../contracts/interfaces/IReplicaMarket.sol";
import {IStaking} from "../../../contracts/interfaces/IStaking.sol";
import {IVerification} from "../../../contracts/interfaces/IVerification.sol";

import {MockConsumer} from "../../utils/MockConsumer.sol";
import {StakingActions} from "./StakingActions.sol";

/// @notice Governance and money: new terms versions mid-run (drawn only from what ProtocolTerms accepts, and
/// a broken one that it must refuse), protocol fees, the treasury and the collected penalty debts withdrawn,
/// the audit pool funded, and everyone's credits withdrawn.
abstract contract GovernanceActions is StakingActions {
    /// @dev Keeps a job's whole lifetime inside Staking's unbonding period (7200 s), as ProtocolTerms requires:
    /// claim 1800 + commit 900 + reveal 900 + window 900 + dispute 2700.
    uint256 private constant MAX_CLAIM_DELAY = 1800;
    uint256 private constant MAX_STEP = 900;
    uint256 private constant MAX_DISPUTE = 2700;

    // ================================================================== terms

    /// @notice The owner sets a new market half. Jobs already posted keep their version.
    function setMarketParams(uint256 seed) external {
        _begin();
        IProtocolTerms.MarketParams memory p = _drawMarketParams(seed, _vp[termsVersion]);
        if (!_exec(owner, address(terms), abi.encodeCall(IProtocolTerms.setParams, (p)), "setParams")) return;
        ++termsVersion;
        _mp[termsVersion] = p;
        _vp[termsVersion] = _vp[termsVersion - 1];
        _reach("new market terms");
    }

    /// @notice The owner sets a new verification half. Jobs already posted keep their version.
    function setVerificationParams(uint256 seed) external {
        _begin();
        IProtocolTerms.VerificationParams memory v = _drawVerificationParams(seed, _mp[termsVersion]);
        bytes memory data = abi.encodeCall(IProtocolTerms.setVerificationParams, (v));
        if (!_exec(owner, address(terms), data, "setVerificationParams")) return;
        ++termsVersion;
        _mp[termsVersion] = _mp[termsVersion - 1];
        _vp[termsVersion] = v;
        _reach("new verification terms");
    }

    /// @notice The owner sets both halves, the verification half first (for the scripted scenarios of the
    /// reachability tests; not a fuzz target). Both must be valid, each beside the other.
    function setTerms(IProtocolTerms.MarketParams memory p, IProtocolTerms.VerificationParams memory v) external {
        _begin();
        if (!_exec(owner, address(terms), abi.encodeCall(IProtocolTerms.setVerificationParams, (v)), "setTerms")) return;
        ++termsVersion;
        _mp[termsVersion] = _mp[termsVersion - 1];
        _vp[termsVersion] = v;
        if (!_exec(owner, address(terms), abi.encodeCall(IProtocolTerms.setParams, (p)), "setTerms")) return;
        ++termsVersion;
        _mp[termsVersion] = p;
        _vp[termsVersion] = v;
    }

    /// @dev Market parameters from the ranges ProtocolTerms accepts beside `v` (and Staking's unbonding period):
    /// the reveal timeout above the audit commit timeout, the dispute at least twice the vote, the sampling
    /// rate no higher than the audit levy pays for.
    function _drawMarketParams(uint256 seed, IProtocolTerms.VerificationParams memory v)
        internal
        pure
        returns (IProtocolTerms.MarketParams memory p)
    {
        uint256 r = uint256(keccak256(abi.encode(seed, "market")));
        p.maxClaimDelay = uint24(_bound(r, 1, MAX_CLAIM_DELAY));
        p.commitTimeout = uint32(_bound(r >> 16, 1, MAX_STEP));
        p.revealTimeout = uint32(_bound(r >> 32, uint256(v.auditCommitTimeout) + 1, MAX_STEP));
        p.challengeWindow = uint32(_bound(r >> 48, 1, MAX_STEP));
        p.disputeDuration =
            uint32(_bound(r >> 64, 2 * (uint256(v.voteCommitTimeout) + v.voteRevealTimeout), MAX_DISPUTE));
        p.callbackGasLimit = (r >> 80) % 8 == 0 ? uint24(_bound(r >> 84, 0, 2_000_000)) : 500_000;
        p.protocolFeeBps = uint16(_bound(r >> 108, 0, 5000));
        p.auditLevyBps = uint16(_bound(r >> 124, 0, 5000 - p.protocolFeeBps));
        p.expiryPenaltyBps = uint16(_bound(r >> 140, 0, BPS));
        p.seedDelay = uint8(_bound(r >> 156, 1, 64));
        uint256 mode = (r >> 164) % 4;
        uint256 sampling = mode == 0 ? 0 : (mode == 1 ? PPM : _bound(r >> 168, 1, PPM));
        uint256 auditPay = _auditPay(v);
        if (auditPay != 0) sampling = _min(sampling, uint256(p.auditLevyBps) * PPM / auditPay);
        p.samplingPpm = uint24(sampling);
    }

    /// @dev Verification parameters from the ranges ProtocolTerms accepts beside `p` (and Staking's minimum
    /// verifier stake): audit and voter pay no higher than the levy covers at `p`'s sampling rate.
    function _drawVerificationParams(uint256 seed, IProtocolTerms.MarketParams memory p)
        internal
        pure
        returns (IProtocolTerms.VerificationParams memory v)
    {
        uint256 r = uint256(keccak256(abi.encode(seed, "verification")));
        v.challengeBond = uint96(_bound(r, 1, MIN_VERIFIER_STAKE));
        v.auditorPenalty = uint96(_bound(r >> 72, 0, 50 ether));
        v.voterPenalty = uint96(_bound(r >> 136, 0, 20 ether));
        uint256 s = uint256(keccak256(abi.encode(r)));
        v.auditCommitTimeout = uint32(_bound(s, 1, uint256(p.revealTimeout) - 1));
        uint256 half = uint256(p.disputeDuration) / 2;
        v.voteCommitTimeout = uint32(_bound(s >> 32, 1, half - 1));
        v.voteRevealTimeout = uint32(_bound(s >> 64, 1, half - v.voteCommitTimeout));
        v.committeeSize = uint8(_bound(s >> 96, 0, 6) * 2 + 1);
        v.challengerRewardBps = uint16(_bound(s >> 104, 0, BPS - 1));
        v.providerRewardBps = uint16(_bound(s >> 120, 0, BPS - 1));
        uint256 mode = (s >> 136) % 3;
        v.recheckPpm = uint24(mode == 0 ? 0 : (mode == 1 ? PPM : _bound(s >> 140, 1, PPM)));
        uint256 maxPay = p.samplingPpm == 0 ? 20_000 : _min(20_000, uint256(p.auditLevyBps) * PPM / p.samplingPpm);
        v.auditRewardBps = uint16(_bound(s >> 164, 0, maxPay));
        uint256 perVoter = uint256(v.recheckPpm) * v.committeeSize;
        uint256 maxVoter = perVoter == 0 ? 20_000 : _min(20_000, (maxPay - v.auditRewardBps) * PPM / perVoter);
        v.voterRewardBps = uint16(_bound(s >> 180, 0, maxVoter));
    }

    /// @dev What an audit costs the pool on average, in bps of the fee (ProtocolTerms' rule).
    function _auditPay(IProtocolTerms.VerificationParams memory v) internal pure returns (uint256) {
        return uint256(v.auditRewardBps) + uint256(v.recheckPpm) * v.committeeSize * v.voterRewardBps / PPM;
    }

    // ================================================================== money

    /// @notice The owner withdraws the protocol fees (the JobMarket's and the ReplicaMarket's), the
    /// verification treasury and the penalty debts Staking collected to TREASURY.
    function withdrawFees() external {
        _begin();
        bytes memory data = abi.encodeCall(IJobMarket.withdrawProtocolFees, (TREASURY));
        if (protocolFees == 0) {
            bytes memory none = abi.encodeWithSelector(Errors.NothingToWithdraw.selector, TREASURY);
            _expectRevert(address(market), owner, data, none, "protocol fees withdrawn when there are none");
        } else if (_exec(owner, address(market), data, "withdrawProtocolFees")) {
            protocolFees = 0;
            _reach("protocol fees withdrawn");
        }
        data = abi.encodeCall(IVerification.withdrawTreasury, (TREASURY));
        if (treasury == 0) {
            bytes memory none = abi.encodeWithSelector(Errors.NothingToWithdraw.selector, TREASURY);
            _expectRevert(address(verification), owner, data, none, "treasury withdrawn when empty");
        } else if (_exec(owner, address(verification), data, "withdrawTreasury")) {
            treasury = 0;
            _reach("treasury withdrawn");
        }
        data = abi.encodeCall(IReplicaMarket.withdrawProtocolFees, (TREASURY));
        if (replicaProtocolFees == 0) {
            bytes memory none = abi.encodeWithSelector(Errors.NothingToWithdraw.selector, TREASURY);
            _expectRevert(address(replicaMarket), owner, data, none, "replica protocol fees withdrawn when there are none");
        } else if (_exec(owner, address(replicaMarket), data, "replica withdrawProtocolFees")) {
            replicaProtocolFees = 0;
            _reach("replica protocol fees withdrawn");
        }
        data = abi.encodeCall(IStaking.withdrawCollectedDebts, (TREASURY));
        if (collectedDebts == 0) {
            bytes memory none = abi.encodeWithSelector(Errors.NothingToWithdraw.selector, TREASURY);
            _expectRevert(address(staking), owner, data, none, "collected debts withdrawn when there are none");
        } else {
            uint256 before = token.balanceOf(TREASURY);
            if (!_exec(owner, address(staking), data, "withdrawCollectedDebts")) return;
            _check(token.balanceOf(TREASURY) - before == collectedDebts, "withdrawCollectedDebts: what was collected");
            collectedDebts = 0;
            _reach("collected penalty debts withdrawn");
        }
    }

    /// @notice Anyone adds to the audit pool.
    function fundAuditPool(uint256 funderSeed, uint256 amount) external {
        _begin();
        address funder = _posters[funderSeed % 2];
        amount = _bound(amount, 0, 50 ether);
        _mint(funder, amount);
        vm.prank(funder);
        token.approve(address(market), amount);
        bytes memory data = abi.encodeCall(IJobMarket.fundAuditPool, (amount));
        if (amount == 0) {
            _expectRevert(address(market), funder, data, abi.encodeWithSelector(Errors.ZeroAmount.selector), "zero funding");
            return;
        }
        if (!_exec(funder, address(market), data, "fundAuditPool")) return;
        auditPool += amount;
        _reach("audit pool funded");
    }

    /// @notice Someone withdraws its market, Verification or ReplicaMarket credits; someone with none is refused.
    function withdrawCredits(uint256 actorSeed) external {
        _begin();
        address[] memory all = accounts();
        for (uint256 i; i < all.length; ++i) {
            address who = all[(actorSeed % all.length + i) % all.length];
            if (who == address(this)) continue;
            if (_marketCredits[who] != 0) return _withdrawMarketCredits(who);
            if (_verificationCredits[who] != 0 && who != address(consumer)) return _withdrawVerificationCredits(who);
            if (_replicaCredits[who] != 0) return _withdrawReplicaCredits(who);
        }
    }

    function _withdrawReplicaCredits(address who) internal {
        bytes memory data = abi.encodeCall(IPullPayments.withdraw, ());
        uint256 before = token.balanceOf(who);
        if (!_exec(who, address(replicaMarket), data, "replica withdraw")) return;
        _check(token.balanceOf(who) - before == _replicaCredits[who], "replica withdraw: the credit, once");
        replicaCreditsTotal -= _replicaCredits[who];
        _replicaCredits[who] = 0;
        bytes memory none = abi.encodeWithSelector(Errors.NothingToWithdraw.selector, who);
        _expectRevert(address(replicaMarket), who, data, none, "replica credits withdrawn twice");
        _reach("replica credits withdrawn");
    }

    function _withdrawMarketCredits(address who) internal {
        bool ok = who == address(consumer)
            ? _exec(address(this), address(consumer), abi.encodeCall(MockConsumer.withdraw, ()), "consumer withdraw")
            : _exec(who, address(market), abi.encodeCall(IPullPayments.withdraw, ()), "withdraw");
        if (!ok) return;
        marketCreditsTotal -= _marketCredits[who];
        _marketCredits[who] = 0;
        if (who != address(consumer)) {
            bytes memory none = abi.encodeWithSelector(Errors.NothingToWithdraw.selector, who);
            _expectRevert(address(market), who, abi.encodeCall(IPullPayments.withdraw, ()), none, "credits withdrawn twice");
        }
        _reach("market credits withdrawn");
    }

    function _withdrawVerificationCredits(address who) internal {
        bytes memory data = abi.encodeCall(IPullPayments.withdraw, ());
        if (!_exec(who, address(verification), data, "verification withdraw")) return;
        verificationCreditsTotal -= _verificationCredits[who];
        _verificationCredits[who] = 0;
        bytes memory none = abi.encodeWithSelector(Errors.NothingToWithdraw.selector, who);
        _expectRevert(address(verification), who, data, none, "verification credits withdrawn twice");
        _reach("verification credits withdrawn");
    }
}
