// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import * as Errors from "../../contracts/errors/Errors.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../contracts/interfaces/IProtocolTerms.sol";
import {IReplicaMarket} from "../../contracts/interfaces/IReplicaMarket.sol";
import {IVerification} from "../../contracts/interfaces/IVerification.sol";
import {Commitments} from "../../contracts/libraries/Commitments.sol";
import {FeeMath} from "../../contracts/libraries/FeeMath.sol";

import {ProtocolFixture} from "../utils/ProtocolFixture.sol";

/// @notice ReplicaMarket's accounting under fuzzed redundant jobs (docs/PROTOCOL.md, "Redundant jobs";
/// IReplicaMarket): k = 2..5 seats, 0..k of them committed, each committed seat revealing the honest root, a
/// made-up root (its own, or one shared by every made-up seat; in 1 run of 8 every seat reveals one shared
/// made-up root, as one owner of every seat would) or withholding; fees from the floor to 10M tokens,
/// collateral, stake, protocol fee and audit levy fuzzed; sampling off, on (100%) or at a random rate, with the
/// seed in reach or out of it. After `settle`, exactly:
///   - the outcome the rule gives: Expired (nobody committed), Agreed (>= 2 revealed, all equal, not sampled),
///     Disputed (anything else);
///   - conservation to the wei: k x fee (+ the withheld collateral slashed out of Staking) = the providers' credits
///     + protocol fees + the audit levy sent to the JobMarket + the poster's credit (refund and slashed
///     collateral) + the fees sent to the JobMarket with the disputed seats; and the ReplicaMarket holds exactly
///     its credits plus its protocol fees;
///   - Staking: a withheld seat loses its whole collateral (stake and lock); an agreed seat is unlocked, stake
///     whole; a disputed seat stays locked, stake whole, as JobMarket job `seat.jobId`, disputed (reason Replicas);
///   - pay once: a second `settle` reverts ReplicaJobClosed, each credit is withdrawn once, then nothing is left.
contract ReplicaMarketFuzzTest is ProtocolFixture {
    address private constant POSTER = address(0xDA99);
    address private constant KEEPER = address(0x4EE9);
    uint256 private constant PPM = 1_000_000;
    uint256 private constant BLOCKHASH_REACH = 256;
    uint256 private constant PRICE_FLOOR = 1 ether;
    uint256 private constant CLAIM_WINDOW = 600;

    uint256 private constant HONEST = 0;
    uint256 private constant MADE_UP = 1;
    uint256 private constant WITHHELD = 2;

    struct Case {
        uint256 replicas;
        uint256 committed;
        uint256 behaviours; // seat i: byte i % 3 (honest, made-up root, withheld)
        bool sharedMadeUpRoot; // every made-up seat reveals the same made-up root (they agree with each other)
        uint256 fee;
        uint256 collateral;
        uint256 extraStake;
        uint256 sampling; // 0 off, 1 on (100%), 2 a random rate
        uint256 samplingPpm;
        uint256 protocolFeeBps;
        uint256 auditLevyBps;
        bool waitOutSeed; // settle with the seed out of reach
        uint256 seedWait; // blocks past the seed block otherwise (still in reach)
        bool settleEarly; // try to settle before reveals are over (must revert)
        uint256 colluding; // 1 in 8: every committed seat reveals one shared made-up root (one owner of every seat)
    }

    /// @dev What the rule says settle does.
    struct Expected {
        uint256 revealed;
        uint256 withheld;
        bool agreed;
        bool sampled;
        bool paid;
        IReplicaMarket.ReplicaStatus status;
        uint256 payout;
        uint256 protocolFee;
        uint256 levy;
    }

    /// @dev The books before or after settle.
    struct Books {
        uint256 rmBalance;
        uint256 marketBalance;
        uint256 stakingBalance;
        uint256 verificationBalance;
        uint256 posterCredits;
        uint256 protocolFees;
        uint256 marketProtocolFees;
        uint256 auditPool;
        uint256 jobCount;
        uint256 totalStaked;
        uint256[5] stake;
        uint256[5] locked;
        uint256[5] credits;
    }

    uint256 private _modelId;
    IProtocolTerms.MarketParams private _params;
    /// @dev A seat's committee reserve in the current case (IReplicaMarket.quote).
    uint256 private _reserve;

    function setUp() public {
        vm.warp(1_800_000_000);
        vm.roll(1_000);
        _deployProtocol();
        _deployReplicaMarket();
    }

    // ------------------------------------------------------------------ accounting

    function testFuzz_settle_keepsTheBooks(Case memory c) public {
        _bounded(c);
        uint256 id = _open(c);
        uint256 total = c.replicas * (c.fee + _reserve);
        vm.assertEq(token.balanceOf(address(replicaMarket)), total, "post: k x (fee + committee reserve) in escrow");

        if (c.committed == 0) {
            _expireUntaken(c, id, total);
            return;
        }
        _commitSeats(c, id);
        _revealSeats(c, id);
        Expected memory e = _expected(c, id);

        Books memory b = _books(c.replicas);
        vm.prank(KEEPER);
        replicaMarket.settle(id);
        Books memory a = _books(c.replicas);

        _assertOutcome(c, id, e);
        _assertSeats(c, id, e, b, a);
        _assertConservation(c, e, b, a);
        _assertPaidOnce(c, id, e.status);
    }

    // ------------------------------------------------------------------ a made-up root

    /// @notice A seat that reveals a made-up root beside at least one honest revealed seat (the others honest or
    /// withheld) never ends with more than an honest seat: the job is Disputed, the made-up seat is credited
    /// nothing by the ReplicaMarket and its collateral stays locked for the committee. Without it, the honest
    /// revealed seats (>= 2) agree and are each paid the fee less the protocol fee and the levy.
    function testFuzz_madeUpRootNeverOutearnsAnHonestSeat(
        uint256 replicas,
        uint256 fakeSeat,
        uint256 withheldMask,
        bool withFake,
        uint256 fee,
        uint256 collateral
    ) public {
        Case memory c = _madeUpCase(replicas, fakeSeat, withheldMask, withFake, fee, collateral);
        fakeSeat = fakeSeat % c.replicas;
        uint256 id = _open(c);
        _commitSeats(c, id);
        _revealSeats(c, id);
        Expected memory e = _expected(c, id);
        vm.assertFalse(e.sampled, "sampling off");

        Books memory b = _books(c.replicas);
        vm.prank(KEEPER);
        replicaMarket.settle(id);
        Books memory a = _books(c.replicas);
        _assertOutcome(c, id, e);
        _assertSeats(c, id, e, b, a);
        _assertConservation(c, e, b, a);
        if (withFake) _assertFakeNotPaid(c, id, fakeSeat, b);
        else _assertHonestPaid(c, id, e, b);
        _assertPaidOnce(c, id, replicaMarket.replicaJob(id).status);
    }

    /// @dev All k seats committed, sampling off; seat `fakeSeat` made-up (or honest), the seat after it always
    /// honest and revealed (and the one after that too without a fake), the rest honest or withheld by the mask.
    function _madeUpCase(
        uint256 replicas,
        uint256 fakeSeat,
        uint256 withheldMask,
        bool withFake,
        uint256 fee,
        uint256 collateral
    ) private pure returns (Case memory c) {
        c.replicas = _bound(replicas, 2, 5);
        c.committed = c.replicas;
        c.fee = _bound(fee, PRICE_FLOOR, 10_000_000 ether);
        c.collateral = _bound(collateral, 1 ether, 1_000_000 ether);
        c.protocolFeeBps = 200;
        c.auditLevyBps = 700;
        fakeSeat = fakeSeat % c.replicas;
        uint256 witness = (fakeSeat + 1) % c.replicas;
        uint256 second = (fakeSeat + 2) % c.replicas;
        for (uint256 i; i < c.replicas; ++i) {
            uint256 behaviour = (withheldMask >> i) & 1 == 1 ? WITHHELD : HONEST;
            if (i == witness) behaviour = HONEST;
            if (i == fakeSeat) behaviour = withFake ? MADE_UP : HONEST;
            if (!withFake && i == second) behaviour = HONEST;
            c.behaviours |= behaviour << (8 * i);
        }
    }

    function _assertFakeNotPaid(Case memory c, uint256 id, uint256 fakeSeat, Books memory b) private view {
        vm.assertEq(
            uint256(replicaMarket.replicaJob(id).status),
            uint256(IReplicaMarket.ReplicaStatus.Disputed),
            "a made-up root: disputed"
        );
        address fake = _provider(fakeSeat);
        vm.assertEq(replicaMarket.credits(fake), 0, "the made-up seat is credited nothing");
        vm.assertEq(staking.account(fake).locked, c.collateral, "its collateral stays locked for the committee");
        vm.assertEq(staking.account(fake).stake, b.stake[fakeSeat], "its stake is the committee's to judge");
        uint256 jobId = replicaMarket.seat(id, fakeSeat).jobId;
        vm.assertTrue(jobId != 0, "the made-up seat is a JobMarket job");
        vm.assertEq(uint256(verification.dispute(jobId).reason), uint256(IVerification.DisputeReason.Replicas), "reason");
        for (uint256 i; i < c.replicas; ++i) {
            if (_behaviour(c, i) != HONEST) continue;
            vm.assertLe(replicaMarket.credits(fake), replicaMarket.credits(_provider(i)), "never more than an honest seat");
        }
    }

    function _assertHonestPaid(Case memory c, uint256 id, Expected memory e, Books memory b) private view {
        vm.assertEq(
            uint256(replicaMarket.replicaJob(id).status),
            uint256(IReplicaMarket.ReplicaStatus.Agreed),
            "honest roots agree"
        );
        for (uint256 i; i < c.replicas; ++i) {
            address p = _provider(i);
            if (_behaviour(c, i) == HONEST) {
                vm.assertEq(replicaMarket.credits(p), e.payout, "an honest seat is paid");
                vm.assertEq(staking.account(p).locked, 0, "and unlocked");
            } else {
                vm.assertEq(replicaMarket.credits(p), 0, "a withheld seat is paid nothing");
                vm.assertEq(b.stake[i] - staking.account(p).stake, c.collateral, "and slashed");
            }
        }
    }

    // ------------------------------------------------------------------ the seed out of reach, sampling off

    /// @notice IReplicaMarket: an agreement is final "unless the seed ... samples it (the JobMarket's samplingPpm,
    /// seed source and out-of-reach rule)"; out of reach the JobMarket counts a job sampled only while sampling is
    /// on. So with samplingPpm 0, two agreeing seats settled more than 256 blocks after the seed block are Agreed
    /// (found by this fuzz: ReplicaMarket read the market's (0, false) out of reach as "seed not mined yet" and
    /// reverted SeedNotReady at every later block, locking the fees and every seat's collateral for good).
    function test_settle_agreedWithSamplingOffAfterTheSeedLeftReach() public {
        Case memory c;
        c.replicas = 2;
        c.committed = 2; // both honest
        c.fee = 10 ether;
        c.collateral = 100 ether;
        c.protocolFeeBps = 200;
        c.auditLevyBps = 700;
        c.waitOutSeed = true; // samplingPpm 0
        uint256 id = _open(c);
        _commitSeats(c, id);
        _revealSeats(c, id);
        Expected memory e = _expected(c, id);
        vm.assertTrue(e.paid, "the rule: Agreed");
        Books memory b = _books(c.replicas);
        vm.prank(KEEPER);
        replicaMarket.settle(id); // reverts SeedNotReady(1, lastCommit + 2, block.number)
        Books memory a = _books(c.replicas);
        _assertOutcome(c, id, e);
        _assertSeats(c, id, e, b, a);
        _assertConservation(c, e, b, a);
        _assertPaidOnce(c, id, IReplicaMarket.ReplicaStatus.Agreed);
    }

    // ------------------------------------------------------------------ steps

    function _bounded(Case memory c) private pure {
        c.replicas = _bound(c.replicas, 2, 5);
        c.committed = _bound(c.committed, 0, c.replicas);
        c.fee = _bound(c.fee, PRICE_FLOOR, 10_000_000 ether);
        c.collateral = _bound(c.collateral, 1, 1_000_000 ether);
        c.extraStake = _bound(c.extraStake, 0, 1_000 ether);
        c.sampling = c.sampling % 3;
        if (c.sampling == 0) c.samplingPpm = 0;
        else if (c.sampling == 1) c.samplingPpm = PPM;
        else c.samplingPpm = _bound(c.samplingPpm, 1, PPM);
        c.protocolFeeBps = _bound(c.protocolFeeBps, 0, 2_000);
        // ProtocolTerms: the levy must cover the expected audit pay (160 bps at 100% with the verification
        // parameters `_open` sets).
        c.auditLevyBps = _bound(c.auditLevyBps, c.samplingPpm == 0 ? 0 : 160, 5_000 - c.protocolFeeBps);
        c.seedWait = c.seedWait % 200;
        if (c.colluding % 8 == 0) {
            c.behaviours = 0;
            for (uint256 i; i < c.replicas; ++i) c.behaviours |= MADE_UP << (8 * i);
            c.sharedMadeUpRoot = true;
        }
    }

    /// @dev Sets the terms, registers the model, stakes k providers and posts the job.
    function _open(Case memory c) private returns (uint256 id) {
        // Audit and voter pay the levy can cover at 100% sampling (ProtocolTerms checks it).
        IProtocolTerms.VerificationParams memory vp = _localVerificationParams();
        vp.auditRewardBps = 100;
        vp.voterRewardBps = 200;
        _setVerificationParams(vp);
        IProtocolTerms.MarketParams memory p = _localMarketParams();
        p.samplingPpm = uint24(c.samplingPpm);
        p.protocolFeeBps = uint16(c.protocolFeeBps);
        p.auditLevyBps = uint16(c.auditLevyBps);
        _setMarketParams(p);
        _params = p;
        _modelId = _registerModel(uint96(c.collateral), uint96(PRICE_FLOOR), "replica model");
        for (uint256 i; i < c.replicas; ++i) _stake(_provider(i), c.collateral + c.extraStake, ROLE_PROVIDER);

        _reserve = c.fee * vp.committeeSize * vp.voterRewardBps / 10_000;
        (uint256 total, uint256 reservePerSeat) = replicaMarket.quote(c.fee, c.replicas);
        vm.assertEq(reservePerSeat, _reserve, "quote: committeeSize x voterRewardBps of the fee per seat");
        vm.assertEq(total, c.replicas * (c.fee + _reserve), "quote: k x (fee + reserve)");
        _mint(POSTER, total);
        IReplicaMarket.ReplicaRequest memory req;
        req.modelId = _modelId;
        req.feePerReplica = c.fee;
        req.claimBy = uint64(block.timestamp + CLAIM_WINDOW);
        req.replicas = uint8(c.replicas);
        req.inputHash = keccak256("replica input");
        req.inputURI = "ipfs://input";
        vm.startPrank(POSTER);
        token.approve(address(replicaMarket), total);
        id = replicaMarket.post(req);
        vm.stopPrank();
        IReplicaMarket.ReplicaJob memory j = replicaMarket.replicaJob(id);
        vm.assertEq(j.collateral, c.collateral, "collateral fixed at post");
        vm.assertEq(j.terms, market.termsVersion(), "terms fixed at post");
    }

    /// @dev Nobody committed: settle waits for claimBy, then refunds everything (Expired).
    function _expireUntaken(Case memory c, uint256 id, uint256 total) private {
        uint64 claimBy = replicaMarket.replicaJob(id).claimBy;
        if (c.settleEarly) {
            vm.warp(claimBy);
            vm.expectRevert(abi.encodeWithSelector(Errors.RevealsNotOver.selector, id, claimBy, block.timestamp));
            replicaMarket.settle(id);
        }
        vm.warp(uint256(claimBy) + 1);
        Books memory b = _books(c.replicas);
        vm.prank(KEEPER);
        replicaMarket.settle(id);
        Books memory a = _books(c.replicas);
        vm.assertEq(uint256(replicaMarket.replicaJob(id).status), uint256(IReplicaMarket.ReplicaStatus.Expired), "expired");
        vm.assertEq(a.posterCredits - b.posterCredits, total, "everything back");
        vm.assertEq(a.rmBalance, b.rmBalance, "nothing moved out");
        vm.assertEq(a.rmBalance, a.posterCredits + a.protocolFees, "balance = credits + protocol fees");
        vm.assertEq(a.protocolFees, 0, "no protocol fee");
        vm.assertEq(a.marketBalance, b.marketBalance, "nothing to the JobMarket");
        vm.assertEq(a.stakingBalance, b.stakingBalance, "nothing slashed");
        for (uint256 i; i < c.replicas; ++i) {
            vm.assertEq(a.stake[i], b.stake[i], "stake untouched");
            vm.assertEq(a.locked[i], 0, "nothing locked");
            vm.assertEq(a.credits[i], 0, "nobody paid");
        }
        _assertPaidOnce(c, id, IReplicaMarket.ReplicaStatus.Expired);
    }

    function _commitSeats(Case memory c, uint256 id) private {
        for (uint256 i; i < c.committed; ++i) {
            vm.roll(block.number + 1);
            vm.warp(block.timestamp + 5);
            address p = _provider(i);
            uint256 lockedBefore = staking.account(p).locked;
            bytes32 commitment =
                Commitments.hash(block.chainid, address(replicaMarket), id, p, _rootOf(c, id, i), _saltOf(id, p));
            vm.prank(p);
            replicaMarket.commit(id, commitment);
            vm.assertEq(staking.account(p).locked - lockedBefore, c.collateral, "commit locks the collateral");
            IReplicaMarket.Seat memory s = replicaMarket.seat(id, i);
            vm.assertEq(s.provider, p, "seat taken in order");
            vm.assertEq(s.commitment, commitment, "commitment stored");
        }
        IReplicaMarket.ReplicaJob memory j = replicaMarket.replicaJob(id);
        vm.assertEq(j.committed, c.committed, "committed seats");
        if (c.committed == c.replicas) {
            vm.assertEq(j.revealBy, block.timestamp + _params.revealTimeout, "reveals open at the last commit");
        } else {
            vm.assertEq(j.revealBy, 0, "reveals not open while a seat is free");
            // Nobody reveals while a seat can still be taken.
            address first = _provider(0);
            vm.prank(first);
            vm.expectRevert(abi.encodeWithSelector(Errors.RevealsNotOpen.selector, id, j.claimBy));
            replicaMarket.reveal(id, _rootOf(c, id, 0), _saltOf(id, first), "ipfs://output");
            vm.warp(uint256(j.claimBy) + 1);
        }
    }

    /// @dev Rolls to the seed (in reach or out of it), reveals the seats that do, and waits out the reveal
    /// deadline when a seat withholds.
    function _revealSeats(Case memory c, uint256 id) private {
        bool withheld;
        for (uint256 i; i < c.committed; ++i) {
            if (_behaviour(c, i) == WITHHELD) {
                withheld = true;
                continue;
            }
            address p = _provider(i);
            vm.prank(p);
            replicaMarket.reveal(id, _rootOf(c, id, i), _saltOf(id, p), "ipfs://output");
            IReplicaMarket.Seat memory s = replicaMarket.seat(id, i);
            vm.assertTrue(s.revealed, "revealed");
            vm.assertEq(s.outputRoot, _rootOf(c, id, i), "root stored");
        }
        // The seat set is sealed by the last commit or the first reveal after claimBy; the seed comes after it.
        uint256 sealedBlock = replicaMarket.replicaJob(id).sealedBlock;
        if (c.committed == c.replicas) vm.assertEq(sealedBlock, replicaMarket.seat(id, c.committed - 1).commitBlock, "sealed at the last commit");
        uint256 seedBlock = sealedBlock + _params.seedDelay;
        vm.roll(c.waitOutSeed ? seedBlock + BLOCKHASH_REACH + 1 : seedBlock + 1 + c.seedWait);
        if (!withheld) return;
        uint256 revealBy = replicaMarket.revealDeadline(id);
        if (c.settleEarly) {
            vm.expectRevert(abi.encodeWithSelector(Errors.RevealsNotOver.selector, id, revealBy, block.timestamp));
            replicaMarket.settle(id);
        }
        vm.warp(revealBy + 1);
    }

    /// @dev The rule, from the seats and the seed (the JobMarket's formula under the id
    /// keccak256(abi.encode(replicaMarket, id)); out of reach: sampled iff sampling is on).
    function _expected(Case memory c, uint256 id) private view returns (Expected memory e) {
        bytes32 root;
        bool differ;
        for (uint256 i; i < c.committed; ++i) {
            if (_behaviour(c, i) == WITHHELD) {
                ++e.withheld;
                continue;
            }
            ++e.revealed;
            bytes32 r = _rootOf(c, id, i);
            if (root == bytes32(0)) root = r;
            else if (r != root) differ = true;
        }
        e.agreed = e.revealed >= 2 && !differ;
        if (e.agreed) {
            uint256 seedBlock = uint256(replicaMarket.replicaJob(id).sealedBlock) + _params.seedDelay;
            uint256 ownId = uint256(keccak256(abi.encode(address(replicaMarket), id)));
            if (block.number > seedBlock + BLOCKHASH_REACH) {
                e.sampled = c.samplingPpm != 0;
            } else {
                bytes32 seed = blockhash(seedBlock);
                vm.assertTrue(seed != bytes32(0), "seed in reach");
                e.sampled = uint256(keccak256(abi.encode(seed, ownId))) % PPM < c.samplingPpm;
            }
        }
        e.paid = e.agreed && !e.sampled;
        e.status = e.paid ? IReplicaMarket.ReplicaStatus.Agreed : IReplicaMarket.ReplicaStatus.Disputed;
        (e.payout, e.protocolFee, e.levy) = FeeMath.splitFee(c.fee, c.protocolFeeBps, c.auditLevyBps);
    }

    // ------------------------------------------------------------------ checks

    function _assertOutcome(Case memory c, uint256 id, Expected memory e) private view {
        IReplicaMarket.ReplicaJob memory j = replicaMarket.replicaJob(id);
        vm.assertEq(uint256(j.status), uint256(e.status), "status as the rule gives");
        vm.assertEq(j.revealed, e.revealed, "revealed seats");
        vm.assertEq(j.committed, c.committed, "committed seats");
    }

    /// @dev Each seat's stake, lock, credit and (disputed) JobMarket job.
    function _assertSeats(Case memory c, uint256 id, Expected memory e, Books memory b, Books memory a) private view {
        uint256 imported;
        for (uint256 i; i < c.replicas; ++i) {
            address p = _provider(i);
            if (i >= c.committed) {
                vm.assertEq(a.stake[i], b.stake[i], "empty seat: stake untouched");
                vm.assertEq(a.locked[i], b.locked[i], "empty seat: lock untouched");
                vm.assertEq(a.credits[i], 0, "empty seat: nothing paid");
                continue;
            }
            IReplicaMarket.Seat memory s = replicaMarket.seat(id, i);
            if (_behaviour(c, i) == WITHHELD) {
                vm.assertEq(b.stake[i] - a.stake[i], c.collateral, "withheld: whole collateral slashed");
                vm.assertEq(b.locked[i] - a.locked[i], c.collateral, "withheld: lock released into the slash");
                vm.assertEq(a.credits[i], 0, "withheld: nothing paid");
                vm.assertEq(s.jobId, 0, "withheld: no committee");
            } else if (e.paid) {
                vm.assertEq(a.stake[i], b.stake[i], "agreed: stake whole");
                vm.assertEq(b.locked[i] - a.locked[i], c.collateral, "agreed: unlocked");
                vm.assertEq(a.credits[i] - b.credits[i], e.payout, "agreed: paid fee - protocol fee - levy");
                vm.assertEq(s.jobId, 0, "agreed: no committee");
            } else {
                vm.assertEq(a.stake[i], b.stake[i], "disputed: stake whole");
                vm.assertEq(a.locked[i], b.locked[i], "disputed: still locked");
                vm.assertEq(a.credits[i], b.credits[i], "disputed: nothing paid by the ReplicaMarket");
                ++imported;
                vm.assertEq(s.jobId, b.jobCount + imported, "disputed: the next JobMarket id");
                IJobMarket.Job memory job = IJobMarket.Job({
                    poster: POSTER,
                    modelId: uint32(_modelId),
                    terms: replicaMarket.replicaJob(id).terms,
                    fee: uint96(c.fee),
                    collateral: uint96(c.collateral),
                    callbackGasLimit: 0,
                    status: IJobMarket.JobStatus.Disputed,
                    deadline: uint32(block.timestamp + _params.challengeWindow),
                    provider: p,
                    commitBlock: s.commitBlock,
                    result: _rootOf(c, id, i),
                    inlineOutput: false,
                    sampled: false
                });
                _assertStored(s.jobId, job, "imported seat, disputed");
                IVerification.Dispute memory d = verification.dispute(s.jobId);
                vm.assertEq(uint256(d.state), uint256(IVerification.DisputeState.Open), "dispute open");
                vm.assertEq(uint256(d.reason), uint256(IVerification.DisputeReason.Replicas), "reason Replicas");
                vm.assertEq(d.challenger, address(0), "no challenger");
                vm.assertEq(d.bond, 0, "no bond");
            }
        }
        vm.assertEq(a.jobCount - b.jobCount, imported, "one JobMarket job per disputed seat");
    }

    /// @dev What settle moved, from the books before and after.
    struct Flows {
        uint256 providerCredits;
        uint256 posterCredit;
        uint256 protocolFees;
        uint256 pool;
        uint256 toMarket;
    }

    function _flows(Case memory c, Books memory b, Books memory a) private pure returns (Flows memory f) {
        for (uint256 i; i < c.replicas; ++i) f.providerCredits += a.credits[i] - b.credits[i];
        f.posterCredit = a.posterCredits - b.posterCredits;
        f.protocolFees = a.protocolFees - b.protocolFees;
        f.pool = a.auditPool - b.auditPool;
        f.toMarket = a.marketBalance - b.marketBalance;
    }

    function _assertConservation(Case memory c, Expected memory e, Books memory b, Books memory a) private view {
        uint256 slashed = e.withheld * c.collateral;
        uint256 paidSeats = e.paid ? e.revealed : 0;
        uint256 disputedSeats = e.paid ? 0 : e.revealed;
        Flows memory f = _flows(c, b, a);

        vm.assertEq(b.stakingBalance - a.stakingBalance, slashed, "Staking paid out the withheld collateral only");
        vm.assertEq(b.totalStaked - a.totalStaked, slashed, "totalStaked down by the slash");
        // Unrevealed seats' fees, the committee reserve of every seat not sent to a committee, and the expiry
        // penalty's share of the withheld collateral (the rest of it funds the audit pool).
        uint256 posterShare = slashed * _params.expiryPenaltyBps / 10_000;
        vm.assertEq(
            f.posterCredit,
            (c.replicas - e.revealed) * c.fee + (c.replicas - disputedSeats) * _reserve + posterShare,
            "poster: unrevealed seats' fees, unused reserves, its share of the withheld collateral"
        );
        vm.assertEq(f.providerCredits, paidSeats * e.payout, "providers: the agreed payouts");
        vm.assertEq(f.protocolFees, paidSeats * e.protocolFee, "protocol fees of the agreed seats");
        vm.assertEq(
            f.pool,
            paidSeats * e.levy + disputedSeats * _reserve + slashed - posterShare,
            "audit pool: the agreed seats' levy, the disputed seats' reserves, the withheld collateral past the poster's share"
        );
        vm.assertEq(f.toMarket, f.pool + disputedSeats * c.fee, "JobMarket: the pool's part and the disputed seats' fees");
        vm.assertEq(a.marketProtocolFees, b.marketProtocolFees, "JobMarket's protocol fees untouched");
        vm.assertEq(a.verificationBalance, b.verificationBalance, "nothing to Verification");
        // Conservation: every token in is accounted for, to the wei.
        vm.assertEq(
            c.replicas * (c.fee + _reserve) + slashed,
            f.providerCredits + f.protocolFees + f.pool + f.posterCredit + disputedSeats * c.fee,
            "k x (fee + reserve) + slashed = credits + protocol fees + pool + poster + disputed fees"
        );
        vm.assertEq(b.rmBalance + slashed - f.toMarket, a.rmBalance, "ReplicaMarket balance moves as booked");
        // Nothing stuck, nothing missing: one job in a fresh market.
        uint256 credits = a.posterCredits;
        for (uint256 i; i < c.replicas; ++i) credits += a.credits[i];
        vm.assertEq(a.rmBalance, credits + a.protocolFees, "ReplicaMarket balance = credits + protocol fees");
    }

    /// @dev Settle cannot run again; every credit is withdrawn once, the protocol fees once; nothing is left.
    function _assertPaidOnce(Case memory c, uint256 id, IReplicaMarket.ReplicaStatus status) private {
        vm.expectRevert(abi.encodeWithSelector(Errors.ReplicaJobClosed.selector, id, status));
        replicaMarket.settle(id);
        vm.expectRevert(abi.encodeWithSelector(Errors.ReplicaJobClosed.selector, id, status));
        replicaMarket.commit(id, keccak256("late"));

        _withdrawOnce(POSTER);
        for (uint256 i; i < c.replicas; ++i) _withdrawOnce(_provider(i));
        uint256 fees = replicaMarket.protocolFees();
        if (fees != 0) {
            vm.assertEq(replicaMarket.withdrawProtocolFees(address(0xFEE)), fees, "protocol fees withdrawn");
            vm.assertEq(token.balanceOf(address(0xFEE)), fees, "protocol fees received");
        }
        vm.expectRevert(abi.encodeWithSelector(Errors.NothingToWithdraw.selector, address(0xFEE)));
        replicaMarket.withdrawProtocolFees(address(0xFEE));
        vm.assertEq(token.balanceOf(address(replicaMarket)), 0, "nothing left in the ReplicaMarket");
    }

    function _withdrawOnce(address who) private {
        uint256 owed = replicaMarket.credits(who);
        if (owed != 0) {
            uint256 before = token.balanceOf(who);
            vm.prank(who);
            vm.assertEq(replicaMarket.withdraw(), owed, "withdraws its credit");
            vm.assertEq(token.balanceOf(who) - before, owed, "receives it");
            vm.assertEq(replicaMarket.credits(who), 0, "credit spent");
        }
        vm.prank(who);
        vm.expectRevert(abi.encodeWithSelector(Errors.NothingToWithdraw.selector, who));
        replicaMarket.withdraw();
    }

    // ------------------------------------------------------------------ helpers

    function _books(uint256 replicas) private view returns (Books memory b) {
        b.rmBalance = token.balanceOf(address(replicaMarket));
        b.marketBalance = token.balanceOf(address(market));
        b.stakingBalance = token.balanceOf(address(staking));
        b.verificationBalance = token.balanceOf(address(verification));
        b.posterCredits = replicaMarket.credits(POSTER);
        b.protocolFees = replicaMarket.protocolFees();
        b.marketProtocolFees = market.protocolFees();
        b.auditPool = market.auditPool();
        b.jobCount = market.jobCount();
        b.totalStaked = staking.totalStaked();
        for (uint256 i; i < replicas; ++i) {
            address p = _provider(i);
            b.stake[i] = staking.account(p).stake;
            b.locked[i] = staking.account(p).locked;
            b.credits[i] = replicaMarket.credits(p);
        }
    }

    function _provider(uint256 i) private pure returns (address) {
        return address(uint160(0x9A00 + i));
    }

    function _behaviour(Case memory c, uint256 i) private pure returns (uint256) {
        return ((c.behaviours >> (8 * i)) & 0xff) % 3;
    }

    function _rootOf(Case memory c, uint256 id, uint256 i) private pure returns (bytes32) {
        if (_behaviour(c, i) != MADE_UP) return keccak256(abi.encode("the right output", id));
        if (c.sharedMadeUpRoot) return keccak256(abi.encode("a made-up output", id));
        return keccak256(abi.encode("a made-up output", id, i));
    }

    function _saltOf(uint256 id, address p) private pure returns (bytes32) {
        return keccak256(abi.encode("salt", id, p));
    }
}
