// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import * as Errors from "../../contracts/errors/Errors.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../contracts/interfaces/IProtocolTerms.sol";
import {IStaking} from "../../contracts/interfaces/IStaking.sol";

import {ProtocolFixture} from "../utils/ProtocolFixture.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice JobMarket.expire under random terms, collateral, fee and provider balances (docs/PROTOCOL.md,
/// "Jobs"):
///   - a missed commit, or a missed reveal of a job shown not sampled, costs `expiryPenaltyBps` of the
///     collateral, credited to the poster beside its refund;
///   - a withheld reveal of a sampled job (or one whose seed went out of reach) costs the whole collateral,
///     split: the poster `expiryPenaltyBps`, the auditor that committed blind `challengerRewardBps` (capped so
///     that the poster's share comes first), the audit pool the rest.
/// Every job is judged by the terms version it was posted with: each test sets a new version after the post.
contract ExpiryPenaltyFuzzTest is ProtocolFixture {
    address private constant POSTER = address(0xDA99);
    address private constant PROVIDER = address(0x9A0F);
    address private constant KEEPER = address(0x4EE9);
    uint256 private constant BPS = 10_000;
    uint256 private constant PPM = 1_000_000;
    uint256 private constant BLOCKHASH_REACH = 256;

    struct Case {
        uint256 collateral;
        uint256 penaltyBps;
        uint256 finderBps;
        uint256 fee;
        uint256 extraStake; // stake beyond the job's collateral
        uint256 unbonding; // part of the extra stake sent to unbonding before the claim
        bool committed; // expire from Committed (missed reveal) instead of Claimed (missed commit)
        bool secondJob; // the provider holds another job's lock, which must survive
        bool waitOutSeed; // let the sampling seed go out of reach instead of waiting for the deadline
        bool auditorCommits; // the drawn auditor committed blind before the provider went silent
        uint256 laterTerms; // the terms governance sets after the post
    }

    struct Before {
        IStaking.AccountView provider;
        uint256 totalStaked;
        uint256 totalUnbonding;
        uint256 stakingBalance;
        uint256 marketBalance;
        uint256 posterCredits;
        uint256 auditorCredits;
        uint256 auditPool;
    }

    /// @dev The split of a withheld sampled reveal's slash.
    struct Split {
        uint256 toPoster;
        uint256 toAuditor;
        uint256 toPool;
    }

    uint256 private _modelId;

    function setUp() public {
        vm.warp(1_800_000_000);
        vm.roll(1_000);
        _deployProtocol();
        // Three verifiers: a sampled job always has an auditor to draw (never the provider or the poster).
        for (uint256 i; i < 3; ++i) _stake(address(uint160(0x7E000 + i)), 200 ether, ROLE_VERIFIER);
    }

    // ------------------------------------------------------------------ the expiry penalty

    function testFuzz_expire_missedCommitOrUnsampledRevealCostsThePenalty(Case memory c) public {
        _bounded(c);
        _setTerms(c.penaltyBps, c.finderBps, 0); // sampling off: no job is sampled
        (IJobMarket.Job memory job, uint256 jobId) = _openJob(c);
        _setLaterTerms(c.laterTerms);

        Before memory b = _before(address(0));
        (uint256 from, bool early) = _reachExpiry(job, c);
        vm.recordLogs();
        vm.prank(KEEPER);
        market.expire(jobId, job);
        (uint256 penalty, bool sampled) = _expiredEvent(jobId, from, job.fee);
        vm.assertFalse(sampled, "sampling off: not sampled");

        // floor(collateral * bps / 1e4), stated without division.
        vm.assertLe(penalty * BPS, c.collateral * c.penaltyBps, "penalty not above its bps share");
        vm.assertGt((penalty + 1) * BPS, c.collateral * c.penaltyBps, "penalty rounded down by less than one");
        vm.assertEq(b.provider.stake - staking.account(PROVIDER).stake, penalty, "the penalty left the stake");
        vm.assertEq(market.credits(POSTER) - b.posterCredits, c.fee + penalty, "poster credited refund + penalty");
        vm.assertEq(market.auditPool(), b.auditPool, "the audit pool gets nothing");
        _assertProviderAfter(b, c, penalty);
        _assertExpired(jobId, job);
        early; // a committed job whose seed is out of reach expires before its deadline too
    }

    /// @notice A committed job's expiry is judged by its sampling, computed here from the spec's formula:
    /// `uint256(keccak256(abi.encode(seed, jobId))) % 1e6 < samplingPpm`, the seed that of `commitBlock +
    /// seedDelay`; a seed out of reach counts as sampled.
    function testFuzz_expire_committedJobIsJudgedByItsSampling(Case memory c, uint256 samplingPpm) public {
        c.committed = true;
        c.auditorCommits = false;
        _bounded(c);
        samplingPpm = _bound(samplingPpm, 1, PPM);
        _setTerms(c.penaltyBps, c.finderBps, samplingPpm);
        (IJobMarket.Job memory job, uint256 jobId) = _openJob(c);
        _setLaterTerms(c.laterTerms);

        Before memory b = _before(address(0));
        (uint256 from,) = _reachExpiry(job, c);
        uint256 seedBlock = uint256(job.commitBlock) + 2;
        bool expected = c.waitOutSeed
            || uint256(keccak256(abi.encode(blockhash(seedBlock), jobId))) % PPM < samplingPpm;
        vm.recordLogs();
        vm.prank(KEEPER);
        market.expire(jobId, job);
        (uint256 penalty, bool sampled) = _expiredEvent(jobId, from, job.fee);

        vm.assertEq(sampled, expected, "sampled as the spec's formula says");
        uint256 wanted = expected ? c.collateral : c.collateral * c.penaltyBps / BPS;
        vm.assertEq(penalty, wanted, "sampled: the whole collateral; not sampled: the expiry penalty");
        vm.assertEq(b.provider.stake - staking.account(PROVIDER).stake, wanted, "taken from the stake");
        _assertProviderAfter(b, c, wanted);
        _assertExpired(jobId, job);
    }

    // ------------------------------------------------------------------ withheld sampled reveals

    function testFuzz_expire_withheldSampledRevealIsSlashedInFullAndSplit(Case memory c) public {
        c.committed = true;
        _bounded(c);
        _setTerms(c.penaltyBps, c.finderBps, PPM); // every job sampled
        (IJobMarket.Job memory job, uint256 jobId) = _openJob(c);
        address auditor = _maybeCommitBlind(jobId, job, c.auditorCommits);
        _setLaterTerms(c.laterTerms);

        Before memory b = _before(auditor);
        (uint256 from,) = _reachExpiry(job, c);
        if (c.waitOutSeed) {
            // Once the seed is out of reach the reveal is closed for good: the job can only expire.
            uint256 seedBlock = uint256(job.commitBlock) + 2;
            vm.prank(PROVIDER);
            vm.expectRevert(
                abi.encodeWithSelector(
                    Errors.SeedOutOfReach.selector, jobId, seedBlock, seedBlock + BLOCKHASH_REACH
                )
            );
            market.reveal(jobId, job, keccak256("output"), _salt(jobId), "", "");
        }
        vm.recordLogs();
        vm.prank(KEEPER);
        market.expire(jobId, job);
        (uint256 penalty, bool sampled) = _expiredEvent(jobId, from, job.fee);

        vm.assertTrue(sampled, "counted as sampled");
        vm.assertEq(penalty, c.collateral, "the whole collateral is slashed");
        vm.assertEq(b.provider.stake - staking.account(PROVIDER).stake, c.collateral, "taken from the stake");

        Split memory s = _expectedSplit(c, auditor != address(0));
        vm.assertEq(s.toPoster + s.toAuditor + s.toPool, c.collateral, "the split is the whole slash");
        vm.assertEq(market.credits(POSTER) - b.posterCredits, c.fee + s.toPoster, "poster: refund + its share");
        if (auditor != address(0)) {
            vm.assertEq(market.credits(auditor) - b.auditorCredits, s.toAuditor, "blind auditor: the finder's share");
        }
        vm.assertEq(market.auditPool() - b.auditPool, s.toPool, "the audit pool: the rest");
        if (auditor != address(0)) {
            vm.assertEq(verification.audit(jobId).auditor, auditor, "the blind auditor stays on record");
        }
        _assertProviderAfter(b, c, c.collateral);
        _assertExpired(jobId, job);
    }

    // ------------------------------------------------------------------ unclaimed jobs and deadlines

    function testFuzz_expire_unclaimedJobRefundsTheWholeFee(uint256 fee, uint256 lateBy) public {
        fee = _bound(fee, 0, 1_000_000 ether);
        lateBy = _bound(lateBy, 1, 365 days);
        _modelId = _registerModel(10 ether, 0, "model");
        _stake(PROVIDER, 10 ether, ROLE_PROVIDER); // a provider exists but never claims
        (uint256 jobId, IJobMarket.Job memory job) = _postJob(POSTER, _modelId, fee);

        vm.warp(uint256(job.deadline) + lateBy);
        vm.recordLogs();
        vm.prank(KEEPER);
        market.expire(jobId, job);
        (uint256 penalty, bool sampled) = _expiredEvent(jobId, uint256(IJobMarket.JobStatus.Posted), fee);

        vm.assertEq(penalty, 0, "nobody to penalize");
        vm.assertFalse(sampled, "never sampled");
        vm.assertEq(market.credits(POSTER), fee, "full refund");
        vm.assertEq(staking.account(PROVIDER).stake, 10 ether, "no provider penalized");
        vm.assertEq(token.balanceOf(address(market)), fee, "escrow becomes the credit");
    }

    function testFuzz_expire_notBeforeTheDeadline(uint256 early, uint256 status) public {
        _modelId = _registerModel(10 ether, 0, "model");
        _stake(PROVIDER, 10 ether, ROLE_PROVIDER);
        (uint256 jobId, IJobMarket.Job memory job) = _postJob(POSTER, _modelId, 1 ether);
        status %= 3;
        if (status == 1) job = _claim(jobId, job, PROVIDER);
        if (status == 2) job = _claimAndCommit(jobId, job, PROVIDER, keccak256("output"));
        early = _bound(early, 0, uint256(job.deadline) - block.timestamp);
        uint256 at = uint256(job.deadline) - early;
        vm.warp(at);
        vm.roll(block.number + 1 + early % BLOCKHASH_REACH); // the seed stays in reach
        vm.expectRevert(abi.encodeWithSelector(Errors.DeadlineNotPassed.selector, jobId, job.deadline, at));
        market.expire(jobId, job);
    }

    // ------------------------------------------------------------------ scenario

    function _bounded(Case memory c) private pure {
        c.collateral = _bound(c.collateral, 1, 5_000_000 ether);
        c.penaltyBps = _bound(c.penaltyBps, 0, BPS);
        c.finderBps = _bound(c.finderBps, 0, BPS - 1);
        c.fee = _bound(c.fee, 0, 1_000_000 ether);
        c.extraStake = _bound(c.extraStake, 0, 2_000_000 ether);
        c.unbonding = _bound(c.unbonding, 0, c.extraStake);
        if (!c.committed) c.waitOutSeed = false;
    }

    /// @dev A new terms version (local terms otherwise) with this penalty, finder share and sampling rate. Audit
    /// and voter pay are off: ProtocolTerms refuses a sampling rate whose expected audit pay the levy cannot cover.
    function _setTerms(uint256 penaltyBps, uint256 finderBps, uint256 samplingPpm) private {
        IProtocolTerms.VerificationParams memory v = _localVerificationParams();
        v.challengerRewardBps = uint16(finderBps);
        v.auditRewardBps = 0;
        v.voterRewardBps = 0;
        _setVerificationParams(v);
        IProtocolTerms.MarketParams memory p = _localMarketParams();
        p.expiryPenaltyBps = uint16(penaltyBps);
        p.samplingPpm = uint24(samplingPpm);
        _setMarketParams(p);
    }

    /// @dev Governance moves on after the post: other penalties, shares, sampling and timeouts. The job
    /// must not notice.
    function _setLaterTerms(uint256 seed) private {
        IProtocolTerms.VerificationParams memory v = _localVerificationParams();
        v.challengerRewardBps = uint16((seed >> 88) % BPS);
        v.auditRewardBps = 0;
        v.voterRewardBps = 0;
        _setVerificationParams(v);
        IProtocolTerms.MarketParams memory p = _localMarketParams();
        p.expiryPenaltyBps = uint16(seed % (BPS + 1));
        p.samplingPpm = uint24((seed >> 16) % (PPM + 1));
        p.revealTimeout = uint32(100 + (seed >> 40) % 500);
        p.commitTimeout = uint32(10 + (seed >> 56) % 500);
        p.seedDelay = uint8(1 + (seed >> 72) % 64);
        _setMarketParams(p);
    }

    /// @dev Registers the model, stakes the provider, posts, claims (and commits); a second job if asked.
    function _openJob(Case memory c) private returns (IJobMarket.Job memory job, uint256 jobId) {
        _modelId = _registerModel(uint96(c.collateral), 0, "model");
        uint256 jobs = c.secondJob ? 2 : 1;
        _stake(PROVIDER, jobs * c.collateral + c.extraStake, ROLE_PROVIDER);
        if (c.unbonding != 0) {
            vm.prank(PROVIDER);
            staking.requestUnbond(c.unbonding);
        }
        (jobId, job) = _postJob(POSTER, _modelId, c.fee);
        job = c.committed
            ? _claimAndCommit(jobId, job, PROVIDER, keccak256("output"))
            : _claim(jobId, job, PROVIDER);
        if (c.secondJob) {
            (uint256 otherId, IJobMarket.Job memory other) = _postJob(POSTER, _modelId, 1);
            _claim(otherId, other, PROVIDER);
        }
    }

    /// @dev The drawn auditor commits blind once the seed block is mined (returns it), or stays silent.
    function _maybeCommitBlind(uint256 jobId, IJobMarket.Job memory job, bool commits) private returns (address) {
        vm.roll(uint256(job.commitBlock) + 3);
        if (!commits) return address(0);
        address auditor = verification.auditorOf(jobId, job);
        vm.assertTrue(auditor != address(0) && auditor != PROVIDER && auditor != POSTER, "an eligible auditor");
        vm.prank(auditor);
        verification.commitAudit(jobId, job, _auditCommitment(jobId, auditor, keccak256("output")));
        return auditor;
    }

    /// @dev Moves past the job's deadline, or (a committed job) only past its seed's reach.
    function _reachExpiry(IJobMarket.Job memory job, Case memory c) private returns (uint256 from, bool early) {
        from = uint256(job.status);
        if (c.waitOutSeed) {
            vm.roll(uint256(job.commitBlock) + 2 + BLOCKHASH_REACH + 1);
            return (from, true);
        }
        vm.warp(uint256(job.deadline) + 1);
        vm.roll(block.number + 3);
    }

    function _expectedSplit(Case memory c, bool auditorCommitted) private pure returns (Split memory s) {
        s.toPoster = c.collateral * c.penaltyBps / BPS;
        if (auditorCommitted) {
            s.toAuditor = c.collateral * c.finderBps / BPS;
            // expiryPenaltyBps + challengerRewardBps may pass 100%: the poster's share comes first.
            if (s.toAuditor > c.collateral - s.toPoster) s.toAuditor = c.collateral - s.toPoster;
        }
        s.toPool = c.collateral - s.toPoster - s.toAuditor;
    }

    /// @dev The one JobExpired event of the call: (penalty, sampled); checks the id, `from` and the refund.
    function _expiredEvent(uint256 jobId, uint256 from, uint256 refund) private returns (uint256 penalty, bool sampled) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 found;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(market) || logs[i].topics[0] != IJobMarket.JobExpired.selector) continue;
            ++found;
            vm.assertEq(uint256(logs[i].topics[1]), jobId, "JobExpired: job id");
            vm.assertEq(uint256(logs[i].topics[2]), from, "JobExpired: from");
            uint256 refunded;
            (refunded, penalty, sampled) = abi.decode(logs[i].data, (uint256, uint256, bool));
            vm.assertEq(refunded, refund, "JobExpired: refund");
        }
        vm.assertEq(found, 1, "one JobExpired event");
    }

    function _before(address auditor) private view returns (Before memory b) {
        b.provider = staking.account(PROVIDER);
        b.totalStaked = staking.totalStaked();
        b.totalUnbonding = staking.totalUnbonding();
        b.stakingBalance = token.balanceOf(address(staking));
        b.marketBalance = token.balanceOf(address(market));
        b.posterCredits = market.credits(POSTER);
        b.auditorCredits = auditor == address(0) ? 0 : market.credits(auditor);
        b.auditPool = market.auditPool();
    }

    /// @dev The job's collateral is released, the other job's kept, unbonding untouched (the stake always
    /// covers a job's own collateral), and every token taken reached the market.
    function _assertProviderAfter(Before memory b, Case memory c, uint256 taken) private view {
        IStaking.AccountView memory a = staking.account(PROVIDER);
        vm.assertEq(a.locked, b.provider.locked - c.collateral, "the job's collateral is released, others kept");
        vm.assertEq(a.unbonding, b.provider.unbonding, "unbonding stake untouched");
        vm.assertEq(market.credits(PROVIDER), 0, "the provider earns nothing");
        vm.assertEq(staking.totalStaked(), b.totalStaked - taken, "totalStaked");
        vm.assertEq(staking.totalUnbonding(), b.totalUnbonding, "totalUnbonding");
        vm.assertEq(token.balanceOf(address(staking)), b.stakingBalance - taken, "staking paid what was taken");
        vm.assertEq(token.balanceOf(address(market)), b.marketBalance + taken, "the market received it");
    }

    /// @dev Stored as Expired, and the market holds exactly what it owes (open escrow, credits, pool, fees).
    function _assertExpired(uint256 jobId, IJobMarket.Job memory job) private view {
        job.status = IJobMarket.JobStatus.Expired;
        _assertStored(jobId, job, "expired");
        uint256 owed = market.credits(POSTER) + market.credits(PROVIDER) + market.auditPool() + market.protocolFees();
        for (uint256 i; i < 3; ++i) owed += market.credits(address(uint160(0x7E000 + i)));
        if (market.jobCount() == 2) owed += 1; // the second job's open escrow
        vm.assertEq(token.balanceOf(address(market)), owed, "the market holds exactly what it owes");
    }
}
