// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IProtocolTerms
/// @notice The protocol's terms: every parameter a job is judged by, kept as numbered versions (docs/PROTOCOL.md,
/// "Terms"). A job records the version current when it is posted and keeps it whatever governance sets later:
/// timeouts, sampling rate, seed delay, fee split, penalties, bonds and rewards never change under a live job.
/// Each new version is checked as a whole (each parameter in its range, and the combinations the game needs)
/// and handed to the JobMarket, which keeps a copy of the market half for its own steps.
/// @dev Trust: the owner (two-step ownership) sets new versions; versions are never changed or removed.
interface IProtocolTerms {
    /// @notice The market's half of a terms version, one storage slot (the market keeps a copy of each).
    /// @param maxClaimDelay longest a job may wait for a claim (claimBy - post time), seconds
    /// @param commitTimeout claim -> commit, seconds
    /// @param revealTimeout commit -> reveal, seconds. The reveal also closes once the sampling seed is out
    /// of reach (256 blocks after the seed block), whichever comes first
    /// @param challengeWindow reveal -> finalize, seconds: when audits report and anyone may challenge
    /// @param disputeDuration longest a dispute stays open before it is resolved, seconds
    /// @param callbackGasLimit most gas a consumer may ask for its result callback
    /// @param protocolFeeBps share of each fee to the treasury, basis points
    /// @param auditLevyBps share of each fee to the audit pool (audit rewards, committee pay), basis points; at
    /// least what audits cost on average (see VerificationParams)
    /// @param expiryPenaltyBps share of the collateral a provider loses for a missed commit, or for a
    /// missed reveal of a job shown not sampled (a missed reveal of a sampled job costs the whole collateral)
    /// @param seedDelay blocks after the commit block whose seed decides sampling; reveal waits for it
    /// @param samplingPpm share of jobs audited, parts per million (the README derives the default from the
    /// Proof-of-Sampling bound)
    /// @dev Packed into one slot (32 bytes): 4x uint32 + 2x uint24 + uint24 + 3x uint16 + uint8. Every job
    /// step reads it, so a second slot would cost each of them 2,100 gas.
    struct MarketParams {
        uint24 maxClaimDelay;
        uint32 commitTimeout;
        uint32 revealTimeout;
        uint32 challengeWindow;
        uint32 disputeDuration;
        uint24 callbackGasLimit;
        uint16 protocolFeeBps;
        uint16 auditLevyBps;
        uint16 expiryPenaltyBps;
        uint8 seedDelay;
        uint24 samplingPpm;
    }

    /// @notice The verification half of a terms version (read by Verification for the job's terms).
    /// @param challengeBond bond a challenger posts; also what an auditor's stake answers for its verdict
    /// (an overturned Disagree, an Agree with a result shown wrong or an output judged wrong, and a committed
    /// audit never revealed each cost it)
    /// @param auditorPenalty taken from an auditor that missed its blind commit (at least what the committee that
    /// replaces it costs the pool: committeeSize x voterRewardBps of the job's fee)
    /// @param voterPenalty taken per seat from a committee member that did not reveal, or revealed against
    /// the outcome
    /// @param auditCommitTimeout seconds after the provider's commit during which its auditor may commit
    /// blind (the provider's reveal waits for it); above zero and below revealTimeout
    /// @param voteCommitTimeout seconds after the committee is drawn to commit votes; above zero
    /// @param voteRevealTimeout seconds after the vote commit deadline to reveal votes; above zero; the
    /// vote (commit + reveal) takes at most half of disputeDuration, the rest is time to draw the committee
    /// @param committeeSize seats, odd, 1..13, drawn with replacement
    /// @param challengerRewardBps share of a provider's slash to whoever found the fault: the auditor that
    /// disagreed blind, else the poster; < 10000
    /// @param providerRewardBps share of a forfeited bond or overturned auditor's stake to the upheld provider; < 10000
    /// @param auditRewardBps an auditor whose Agree stands is paid this share of the job's fee from the audit
    /// pool when the job is paid (an audit is a second run of the job: it is paid like one); at most 20000
    /// @param voterRewardBps each seat whose member revealed the outcome's vote is paid this share of the
    /// job's fee from the audit pool, whichever way the outcome went; at most 20000
    /// @param recheckPpm share of Agree audits whose root differs from the provider's that a committee checks
    /// (the auditor's output judged too), parts per million, drawn from a seed fixed after the auditor committed
    /// @dev The audit pool must cover what audits cost on average: samplingPpm x (auditRewardBps + recheckPpm x
    /// committeeSize x voterRewardBps) <= auditLevyBps (checked when a version is set).
    struct VerificationParams {
        uint96 challengeBond;
        uint96 auditorPenalty;
        uint96 voterPenalty;
        uint32 auditCommitTimeout;
        uint32 voteCommitTimeout;
        uint32 voteRevealTimeout;
        uint8 committeeSize;
        uint16 challengerRewardBps;
        uint16 providerRewardBps;
        uint16 auditRewardBps;
        uint16 voterRewardBps;
        uint24 recheckPpm;
    }

    event TermsSet(uint32 indexed version, MarketParams market, VerificationParams verification);
    event MarketSet(address market);

    /// @notice Owner: a new version with these market parameters and the current verification parameters.
    function setParams(MarketParams calldata params) external;

    /// @notice Owner: a new version with these verification parameters and the current market parameters.
    function setVerificationParams(VerificationParams calldata params) external;

    /// @notice Owner, once: the market that receives (adopts) every new version.
    function setMarket(address market) external;

    /// @notice The current version (jobs posted now get it).
    /// @return the version
    function termsVersion() external view returns (uint32);

    /// @notice A version's two halves; reverts `UnknownTerms` for a version never set.
    /// @param version the terms version
    /// @return the market half
    /// @return the verification half
    function termsOf(uint256 version) external view returns (MarketParams memory, VerificationParams memory);

    /// @notice A version's verification half; reverts `UnknownTerms` for a version never set.
    /// @param version the terms version
    /// @return the verification half
    function verificationParamsOf(uint256 version) external view returns (VerificationParams memory);

    /// @notice The current version's market half.
    /// @return the market half
    function params() external view returns (MarketParams memory);

    /// @notice The current version's verification half.
    /// @return the verification half
    function verificationParams() external view returns (VerificationParams memory);

    /// @notice The longest job lifetime under any version: Staking's unbonding period must cover it.
    /// @return the lifetime in seconds
    function requiredUnbondingPeriod() external view returns (uint256);

    /// @notice The largest challenge bond under any version: Staking's minimum verifier stake must cover it.
    /// @return the bond
    function requiredVerifierStake() external view returns (uint256);
}
