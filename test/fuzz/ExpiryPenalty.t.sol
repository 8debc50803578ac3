// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IStaking} from "../../contracts/interfaces/IStaking.sol";
import {Commitments} from "../../contracts/libraries/Commitments.sol";

import {ProtocolFixture} from "../utils/ProtocolFixture.sol";

/// @notice JobMarket.expire with random collateral, penalty rate, fee and provider balances: the penalty
/// the market computes (collateral * expiryPenaltyBps / 1e4) is exactly what leaves the provider's stake and
/// exactly what the poster is credited on top of the refund.
contract ExpiryPenaltyFuzzTest is ProtocolFixture {
    address private constant POSTER = address(0xDA99);
    address private constant PROVIDER = address(0x9A0F);
    address private constant KEEPER = address(0x4EE9);
    uint256 private constant BPS = 10_000;

    struct Case {
        uint256 collateral;
        uint256 penaltyBps;
        uint256 fee;
        uint256 extraStake; // stake beyond the job's collateral
        uint256 unbonding; // part of the extra stake sent to unbonding before the claim
        bool committed; // expire from Committed (missed reveal) instead of Claimed (missed commit)
        bool secondJob; // the provider holds another job's lock, which must survive
    }

    struct Before {
        IStaking.AccountView provider;
        uint256 totalStaked;
        uint256 totalUnbonding;
        uint256 stakingBalance;
        uint256 marketBalance;
        uint256 posterCredits;
    }

    function setUp() public {
        _deployProtocol();
        _wire(address(verification));
    }

    function testFuzz_expire_penaltyLeavesTheStakeAndReachesThePoster(Case memory c) public {
        c.collateral = _bound(c.collateral, 1, 5_000_000 ether);
        c.penaltyBps = _bound(c.penaltyBps, 0, BPS);
        c.fee = _bound(c.fee, 0, 1_000_000 ether);
        c.extraStake = _bound(c.extraStake, 0, 2_000_000 ether);
        c.unbonding = _bound(c.unbonding, 0, c.extraStake);
        uint256 jobs = c.secondJob ? 2 : 1;

        IJobMarket.MarketParams memory p = _localMarketParams();
        p.expiryPenaltyBps = uint16(c.penaltyBps);
        market.setParams(p);
        uint256 modelId = _registerModel(uint96(c.collateral), 0, keccak256("model"));

        _stake(PROVIDER, jobs * c.collateral + c.extraStake);
        if (c.unbonding != 0) {
            vm.prank(PROVIDER);
            staking.requestUnbond(c.unbonding);
        }
        IJobMarket.Job memory job = _postAndClaim(modelId, c.fee);
        if (c.secondJob) _postAndClaim(modelId, 1);
        if (c.committed) job = _commit(1, job);

        Before memory b = _before();
        vm.warp(uint256(job.deadline) + 1);
        vm.prank(KEEPER);
        market.expire(1, job);

        uint256 penalty = b.provider.stake - staking.account(PROVIDER).stake;
        // The market's penalty is floor(collateral * bps / 1e4), stated without division.
        vm.assertLe(penalty * BPS, c.collateral * c.penaltyBps, "penalty not above its bps share");
        vm.assertGt((penalty + 1) * BPS, c.collateral * c.penaltyBps, "penalty rounded down by less than one");

        vm.assertEq(market.credits(POSTER) - b.posterCredits, c.fee + penalty, "poster credited refund + penalty");
        vm.assertEq(market.credits(PROVIDER), 0, "provider earns nothing");
        IStaking.AccountView memory a = staking.account(PROVIDER);
        vm.assertEq(a.locked, b.provider.locked - c.collateral, "the job's collateral is released, others kept");
        vm.assertEq(a.unbonding, b.provider.unbonding, "unbonding stake untouched by a penalty the stake covers");
        vm.assertEq(staking.totalStaked(), b.totalStaked - penalty, "totalStaked");
        vm.assertEq(staking.totalUnbonding(), b.totalUnbonding, "totalUnbonding");
        vm.assertEq(token.balanceOf(address(staking)), b.stakingBalance - penalty, "staking pays the penalty");
        vm.assertEq(token.balanceOf(address(market)), b.marketBalance + penalty, "market receives the penalty");

        job.status = IJobMarket.JobStatus.Expired;
        vm.assertEq(market.jobHash(1), keccak256(abi.encode(job)), "stored state is the expired job");

        // The poster walks away with exactly the refund and the penalty (nothing to withdraw if both are 0).
        uint256 posterBalance = token.balanceOf(POSTER);
        if (c.fee + penalty == 0) {
            vm.expectRevert(abi.encodeWithSelector(IJobMarket.NothingToWithdraw.selector, POSTER));
            vm.prank(POSTER);
            market.withdraw();
        } else {
            vm.prank(POSTER);
            uint256 out = market.withdraw();
            vm.assertEq(out, c.fee + penalty, "withdrawn");
            vm.assertEq(token.balanceOf(POSTER), posterBalance + out, "paid");
        }
        vm.assertEq(token.balanceOf(address(market)), c.secondJob ? 1 : 0, "only the open job's escrow stays");
    }

    function testFuzz_expire_unclaimedJobRefundsTheWholeFee(uint256 fee, uint256 claimDelay, uint256 lateBy) public {
        fee = _bound(fee, 0, 1_000_000 ether);
        claimDelay = _bound(claimDelay, 1, 3600);
        lateBy = _bound(lateBy, 1, 365 days);
        uint256 modelId = _registerModel(10 ether, 0, keccak256("model"));
        _stake(PROVIDER, 10 ether); // a provider exists but never claims
        IJobMarket.Job memory job = _post(modelId, fee, block.timestamp + claimDelay);

        vm.warp(uint256(job.deadline) + lateBy);
        vm.prank(KEEPER);
        market.expire(1, job);

        vm.assertEq(market.credits(POSTER), fee, "full refund");
        vm.assertEq(staking.account(PROVIDER).stake, 10 ether, "no provider penalized");
        vm.assertEq(token.balanceOf(address(market)), fee, "escrow becomes the credit");
    }

    function testFuzz_expire_notBeforeTheDeadline(uint256 early, bool claimed) public {
        uint256 modelId = _registerModel(10 ether, 0, keccak256("model"));
        _stake(PROVIDER, 10 ether);
        IJobMarket.Job memory job =
            claimed ? _postAndClaim(modelId, 1 ether) : _post(modelId, 1 ether, block.timestamp + 600);
        early = _bound(early, 0, uint256(job.deadline) - block.timestamp);
        uint256 at = uint256(job.deadline) - early;
        vm.warp(at);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.DeadlineNotPassed.selector, 1, job.deadline, at));
        market.expire(1, job);
    }

    function _post(uint256 modelId, uint256 fee, uint256 claimBy) private returns (IJobMarket.Job memory job) {
        token.mint(POSTER, fee);
        vm.startPrank(POSTER);
        token.approve(address(market), fee);
        uint256 jobId = market.postJob(
            IJobMarket.JobRequest(modelId, fee, uint64(claimBy), keccak256("input"), "ipfs://input", "", 0)
        );
        vm.stopPrank();
        (, , uint96 collateral) = registry.terms(modelId);
        job = IJobMarket.Job({
            poster: POSTER,
            modelId: uint32(modelId),
            fee: uint96(fee),
            collateral: collateral,
            callbackGasLimit: 0,
            status: IJobMarket.JobStatus.Posted,
            deadline: uint32(claimBy),
            provider: address(0),
            commitBlock: 0,
            result: bytes32(0),
            inlineOutput: false,
            sampled: false
        });
        vm.assertEq(market.jobHash(jobId), keccak256(abi.encode(job)), "posted state");
    }

    function _postAndClaim(uint256 modelId, uint256 fee) private returns (IJobMarket.Job memory job) {
        job = _post(modelId, fee, block.timestamp + 600);
        uint256 jobId = market.jobCount();
        vm.prank(PROVIDER);
        market.claim(jobId, job);
        job.status = IJobMarket.JobStatus.Claimed;
        job.provider = PROVIDER;
        job.deadline = uint32(block.timestamp + market.params().commitTimeout);
        vm.assertEq(market.jobHash(jobId), keccak256(abi.encode(job)), "claimed state");
    }

    function _commit(uint256 jobId, IJobMarket.Job memory job) private returns (IJobMarket.Job memory) {
        bytes32 commitment =
            Commitments.hash(block.chainid, address(market), jobId, PROVIDER, keccak256("root"), keccak256("salt"));
        vm.prank(PROVIDER);
        market.commit(jobId, job, commitment);
        job.status = IJobMarket.JobStatus.Committed;
        job.deadline = uint32(block.timestamp + market.params().revealTimeout);
        job.commitBlock = uint64(block.number);
        job.result = commitment;
        vm.assertEq(market.jobHash(jobId), keccak256(abi.encode(job)), "committed state");
        return job;
    }

    function _before() private view returns (Before memory b) {
        b.provider = staking.account(PROVIDER);
        b.totalStaked = staking.totalStaked();
        b.totalUnbonding = staking.totalUnbonding();
        b.stakingBalance = token.balanceOf(address(staking));
        b.marketBalance = token.balanceOf(address(market));
        b.posterCredits = market.credits(POSTER);
    }

    function _stake(address who, uint256 amount) private {
        for (uint256 left = amount; left != 0;) {
            uint256 chunk = left < token.FAUCET_LIMIT() ? left : token.FAUCET_LIMIT();
            token.mint(who, chunk);
            left -= chunk;
        }
        vm.startPrank(who);
        token.approve(address(staking), amount);
        staking.stake(amount, 1);
        vm.stopPrank();
    }
}
