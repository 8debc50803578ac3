// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

import {InvalidParams, MarketAlreadySet, MarketNotSet, UnknownTerms, ZeroAddress} from "./errors/Errors.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IProtocolTerms} from "./interfaces/IProtocolTerms.sol";
import {IStaking} from "./interfaces/IStaking.sol";

/// @title ProtocolTerms
/// @notice The protocol's versioned terms (IProtocolTerms): set and checked here, adopted by the JobMarket.
/// @dev Checked against Staking's parameters at the moment a version is set; Staking in turn refuses
/// parameters that would stop covering any version ever set (`requiredUnbondingPeriod`,
/// `requiredVerifierStake` only grow).
contract ProtocolTerms is IProtocolTerms, Ownable2Step {
    uint256 private constant BPS = 10_000;
    uint256 private constant PPM = 1_000_000;
    /// @notice Largest committee: a member's draw excludes the provider, the poster, the challenger, the
    /// auditor and the members drawn before it, and `Staking.drawVerifier` takes at most 16 exclusions.
    uint256 public constant MAX_COMMITTEE_SIZE = 13;

    /// @notice The Staking contract whose parameters every version must fit.
    IStaking public immutable staking;
    /// @notice The market that adopts every new version (zero until `setMarket`).
    address public market;
    /// @inheritdoc IProtocolTerms
    uint32 public termsVersion;
    /// @dev Only grow: jobs keep their version, so what Staking must cover is the largest ever set.
    uint128 private _maxLifetime;
    uint128 private _maxBond;

    mapping(uint256 version => MarketParams) private _market;
    mapping(uint256 version => VerificationParams) private _verification;

    constructor(IStaking staking_, address owner_, MarketParams memory params_, VerificationParams memory verification_)
        Ownable(owner_)
    {
        if (address(staking_) == address(0)) revert ZeroAddress();
        staking = staking_;
        _setTerms(params_, verification_);
    }

    // ---------------------------------------------------------------- governance

    /// @inheritdoc IProtocolTerms
    function setParams(MarketParams calldata params_) external onlyOwner {
        _setTerms(params_, _verification[termsVersion]);
    }

    /// @inheritdoc IProtocolTerms
    function setVerificationParams(VerificationParams calldata params_) external onlyOwner {
        _setTerms(_market[termsVersion], params_);
    }

    /// @inheritdoc IProtocolTerms
    function setMarket(address market_) external onlyOwner {
        if (market != address(0)) revert MarketAlreadySet();
        if (market_ == address(0)) revert ZeroAddress();
        market = market_;
        emit MarketSet(market_);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IProtocolTerms
    function termsOf(uint256 version) external view returns (MarketParams memory, VerificationParams memory) {
        _requireKnown(version);
        return (_market[version], _verification[version]);
    }

    /// @inheritdoc IProtocolTerms
    function verificationParamsOf(uint256 version) external view returns (VerificationParams memory) {
        _requireKnown(version);
        return _verification[version];
    }

    /// @inheritdoc IProtocolTerms
    function params() external view returns (MarketParams memory) {
        return _market[termsVersion];
    }

    /// @inheritdoc IProtocolTerms
    function verificationParams() external view returns (VerificationParams memory) {
        return _verification[termsVersion];
    }

    /// @inheritdoc IProtocolTerms
    function requiredUnbondingPeriod() external view returns (uint256) {
        return _maxLifetime;
    }

    /// @inheritdoc IProtocolTerms
    function requiredVerifierStake() external view returns (uint256) {
        return _maxBond;
    }

    // ---------------------------------------------------------------- internals

    function _requireKnown(uint256 version) private view {
        if (version == 0 || version > termsVersion) revert UnknownTerms(version);
    }

    /// @dev Checks a whole version, stores it as the next one and has the market adopt it (after the
    /// constructor's first version, which the market reads when it is deployed).
    function _setTerms(MarketParams memory p, VerificationParams memory v) private {
        uint256 lifetime = _check(p, v, staking.params());
        uint32 version = termsVersion + 1;
        termsVersion = version;
        _market[version] = p;
        _verification[version] = v;
        if (lifetime > _maxLifetime) _maxLifetime = uint128(lifetime);
        if (v.challengeBond > _maxBond) _maxBond = v.challengeBond;
        emit TermsSet(version, p, v);
        if (version != 1) {
            address market_ = market;
            if (market_ == address(0)) revert MarketNotSet();
            IJobMarket(market_).adoptTerms(version, p);
        }
    }

    /// @dev Reverts `InvalidParams(name)` naming the first parameter or combination that breaks a rule.
    /// Returns the longest a job can stay open under these terms (Staking's unbonding must cover it).
    function _check(MarketParams memory p, VerificationParams memory v, IStaking.StakingParams memory staking_)
        private
        pure
        returns (uint256 lifetime)
    {
        if (p.maxClaimDelay == 0 || p.maxClaimDelay > 30 days) revert InvalidParams("maxClaimDelay");
        if (p.commitTimeout == 0 || p.commitTimeout > 7 days) revert InvalidParams("commitTimeout");
        if (p.revealTimeout == 0 || p.revealTimeout > 7 days) revert InvalidParams("revealTimeout");
        if (p.challengeWindow == 0 || p.challengeWindow > 7 days) revert InvalidParams("challengeWindow");
        if (p.disputeDuration == 0 || p.disputeDuration > 30 days) revert InvalidParams("disputeDuration");
        if (p.callbackGasLimit > 2_000_000) revert InvalidParams("callbackGasLimit");
        if (uint256(p.protocolFeeBps) + p.auditLevyBps > 5_000) revert InvalidParams("protocolFeeBps+auditLevyBps");
        if (p.expiryPenaltyBps > BPS) revert InvalidParams("expiryPenaltyBps");
        if (p.seedDelay == 0 || p.seedDelay > 64) revert InvalidParams("seedDelay");
        if (p.samplingPpm > PPM) revert InvalidParams("samplingPpm");
        if (v.challengeBond == 0) revert InvalidParams("challengeBond");
        // The auditor commits before the provider may reveal: its window must end inside the reveal's.
        if (v.auditCommitTimeout == 0 || v.auditCommitTimeout >= p.revealTimeout) {
            revert InvalidParams("auditCommitTimeout: above zero and below revealTimeout");
        }
        // The vote takes at most half the dispute: the rest is for the committee's seed and draw.
        uint256 voting = uint256(v.voteCommitTimeout) + v.voteRevealTimeout;
        if (v.voteCommitTimeout == 0 || v.voteRevealTimeout == 0 || 2 * voting > p.disputeDuration) {
            revert InvalidParams("voteCommitTimeout+voteRevealTimeout: at most half of disputeDuration");
        }
        if (v.committeeSize % 2 == 0 || v.committeeSize > MAX_COMMITTEE_SIZE) revert InvalidParams("committeeSize");
        if (v.challengerRewardBps >= BPS) revert InvalidParams("challengerRewardBps");
        if (v.providerRewardBps >= BPS) revert InvalidParams("providerRewardBps");
        if (v.recheckPpm > PPM) revert InvalidParams("recheckPpm");
        // An audit or a seat is one more run of the job: paid up to twice its fee.
        if (v.auditRewardBps > 2 * BPS) revert InvalidParams("auditRewardBps");
        if (v.voterRewardBps > 2 * BPS) revert InvalidParams("voterRewardBps");
        // The audit pool pays audits and rechecks out of the levy: on average it must cover them.
        uint256 auditPay = uint256(v.auditRewardBps) + uint256(v.recheckPpm) * v.committeeSize * v.voterRewardBps / PPM;
        if (uint256(p.samplingPpm) * auditPay > uint256(p.auditLevyBps) * PPM) {
            revert InvalidParams("auditLevyBps below the expected audit pay");
        }
        // An overturned auditor's stake must be able to pay the bond its verdict answers for.
        if (v.challengeBond > staking_.minVerifierStake) revert InvalidParams("challengeBond above minVerifierStake");
        lifetime = uint256(p.maxClaimDelay) + p.commitTimeout + p.revealTimeout + p.challengeWindow + p.disputeDuration;
        if (staking_.unbondingPeriod < lifetime) revert InvalidParams("unbondingPeriod below the job lifetime");
    }
}
