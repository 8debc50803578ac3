// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import * as Errors from "../../../contracts/errors/Errors.sol";
import {IJobMarket} from "../../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../../contracts/interfaces/IProtocolTerms.sol";
import {IReplicaMarket} from "../../../contracts/interfaces/IReplicaMarket.sol";
import {IStaking} from "../../../contracts/interfaces/IStaking.sol";
import {IVerification} from "../../../contracts/interfaces/IVerification.sol";
import {Commitments} from "../../../contracts/libraries/Commitments.sol";

import {Vm} from "../../utils/Vm.sol";
import {AttackActions} from "./AttackActions.sol";

/// @notice Redundant jobs (ReplicaMarket, docs/PROTOCOL.md "Redundant jobs") among every other action: dApps post
/// k = 2..5 seats (fees from the floor up, now and then under a sampling rate of their own, an allowlist, a region
/// or execution providers), providers take seats blind with the honest root, a made-up one (its own, or, on a job
/// whose made-up seats one owner holds, a shared one) or a root they will withhold, reveal or keep quiet, anyone
/// settles once the reveals are over (waiting across claimBy, revealBy and the sampling seed, or refused before),
/// and every seat sent to a committee becomes a JobMarket job that the verification actions judge from there.
/// @dev The model follows the spec, not the contract. Around each call the handler also observes what moved
/// (balances, credits, the audit pool, Staking's books, the events): the observed flows of a job's post and settle
/// are kept (`Split`) for the invariants to hold against the terms, and every stake or lock that moved must come
/// with the event that tells reputation why (ReplicaCommitted, ReplicaPaid, ReplicaWithheld with Staking's
/// Slashed); nothing else may move.
abstract contract ReplicaActions is AttackActions {
    // ================================================================== the model

    /// @dev A seat's plan at commit, and how it behaved as the invariants read it (revealed honest or made-up
    /// root, or not revealed).
    uint8 internal constant HONEST = 0;
    uint8 internal constant MADE_UP = 1;
    uint8 internal constant WITHHELD = 2;

    bytes8 internal constant EU = "eu-west";
    bytes8 internal constant US = "us-east";
    uint8 internal constant EP_CPU = 1;
    uint8 internal constant EP_GPU = 2;

    /// @dev A commit `choice` for a scripted seat: one seat, not at claimBy, no attack tried around it.
    uint256 internal constant QUIET_COMMIT = 3 << 8 | 1 << 5 | 1 << 3;

    /// @dev IReplicaMarket's most seats.
    uint256 private constant MAX_SEATS = 5;

    uint256 private constant ANY_OPEN = 0;
    uint256 private constant SEATS_FREE = 1;
    uint256 private constant TO_REVEAL = 2;
    uint256 private constant READY = 3;

    /// @notice What a redundant job's post and settle moved, observed on-chain around the calls.
    struct Split {
        uint256 posted; // pulled from the poster (the ReplicaMarket's balance change at post)
        uint256 seatPay; // credited to its seats by the ReplicaMarket
        uint256 protocolFee; // the ReplicaMarket's protocol fees
        uint256 toPool; // into the JobMarket's audit pool: the agreed seats' levy, the disputed seats' reserves
        uint256 forwarded; // into the JobMarket's escrow with the disputed seats: their fees
        uint256 refund; // credited to the poster, the withheld collateral aside
        uint256 slashed; // out of Staking: the withheld seats' collateral (the poster's share, the rest to the pool)
    }

    struct ReplicaModel {
        IReplicaMarket.ReplicaJob job; // the state the ReplicaMarket must store
        uint256 reserve; // each seat's committee reserve (quote at post)
        bool sybil; // one owner holds its made-up seats: they reveal one shared made-up root
        address[] allowlist;
        uint256 settles; // settle calls that went through
        Split split;
    }

    struct SeatModel {
        IReplicaMarket.Seat seat; // the state the ReplicaMarket must store
        uint8 plan; // HONEST, MADE_UP, or WITHHELD (committed honestly, never revealed)
        bytes32 root; // what it committed to
        bytes32 salt;
        // Observed on-chain:
        uint256 locks; // collaterals Staking locked for it
        uint256 releases; // collaterals released by the ReplicaMarket (unlocked when paid, slashed when withheld)
        uint256 paidCount; // ReplicaMarket credits to its provider at settle
        uint256 paid;
        uint256 slashed; // stake its provider lost at settle
    }

    /// @notice One seat as the invariants read it (with the seat the ReplicaMarket stores: whether it revealed,
    /// its root, its JobMarket job).
    struct SeatDigest {
        bytes32 stateHash; // keccak256(abi.encode(seat)) of the model's state
        address provider;
        uint256 locks;
        uint256 releases;
        uint256 paidCount;
        uint256 paid;
        uint256 slashed;
    }

    /// @notice One redundant job as the invariants read it.
    struct ReplicaDigest {
        bytes32 stateHash; // keccak256(abi.encode(job)) of the model's state
        uint256 reserve;
        uint256 settles;
        Split split;
        SeatDigest[] seats;
    }

    /// @dev What settle must do, by the rule.
    struct Outcome {
        IReplicaMarket.ReplicaStatus status;
        bytes32 agreed;
        bool sampled;
        bool paid;
        uint256 refund;
        uint256 payout;
        uint256 protocolFee;
        uint256 levy;
    }

    /// @dev The books around a settle: the ReplicaMarket's side, each seat's credit, every staker's position.
    struct Books {
        uint256 rmBalance;
        uint256 marketBalance;
        uint256 stakingBalance;
        uint256 auditPool;
        uint256 rmFees;
        uint256 posterCredit;
        uint256[] credits; // per seat
        uint256[] stake; // per staker
        uint256[] locked;
        uint256[] unbonding;
    }

    /// @dev How a seat's request is drawn.
    struct PostPlan {
        address poster;
        uint256 modelId;
        uint256 fee;
        uint256 claimDelay;
        uint256 replicas;
        uint256 constraint; // 0 none, 1 an allowlist, 2 a region, 3 execution providers
        bool sybil;
        uint256 listSeed;
    }

    mapping(uint256 replicaJobId => ReplicaModel) internal _replicas;
    mapping(uint256 replicaJobId => mapping(uint256 index => SeatModel)) internal _seatModels;
    mapping(uint256 replicaJobId => mapping(address provider => bool)) internal _seatedIn;
    /// @notice The seat a JobMarket job was imported from: `replicaJobId << 8 | index`, plus one; zero for others.
    mapping(uint256 jobId => uint256) public seatOfJob;
    uint256 public replicaJobCount;
    /// @dev The profiles the bootstrap declared, as the constraints read them.
    mapping(address provider => bool) internal _hasProfile;
    mapping(address provider => bytes8) internal _regionOf;
    mapping(address provider => uint8) internal _epsOf;

    // ================================================================== fuzzed actions

    function postReplicated(uint256 posterSeed, uint256 modelSeed, uint256 fee, uint256 claimDelay, uint256 flags)
        external
    {
        _begin();
        _postFromSeeds(posterSeed, modelSeed, fee, claimDelay, flags);
    }

    /// @notice A provider takes a seat of an open job (now and then every free seat is taken at once, or at
    /// claimBy, the last second it may be).
    function commitSeat(uint256 jobSeed, uint256 providerSeed, uint256 choice) external {
        _begin();
        uint256 rid = _pickReplica(jobSeed, SEATS_FREE);
        if (rid != 0) _commitFromChoice(rid, providerSeed, choice);
    }

    /// @notice The seats of a job reveal (those that plan to); before reveals open, refused, and now and then the
    /// clock moves across claimBy for the seats committed by then.
    function revealSeats(uint256 jobSeed, uint256 choice) external {
        _begin();
        uint256 rid = _pickReplica(jobSeed, TO_REVEAL);
        if (rid != 0) _revealSeats(rid, choice);
    }

    /// @notice A keeper settles a job that may be settled; or tries one that may not yet, refused (and one time
    /// in four waits past its claimBy or revealBy for it); an agreement waits for its sampling seed.
    function settleReplicated(uint256 jobSeed, uint256 choice) external {
        _begin();
        uint256 rid = _pickReplica(jobSeed, READY);
        if (rid == 0) {
            rid = _pickReplica(jobSeed, ANY_OPEN);
            if (choice % 4 != 1) choice &= ~uint256(1);
        }
        if (rid != 0) _settleReplica(rid, choice);
    }

    /// @notice Moves one open redundant job one step along (settled once it may be, else a seat, else the
    /// reveals, else the settle once the clock allows); posts one when none is open.
    function advanceReplicated(uint256 jobSeed, uint256 choice) external {
        _begin();
        uint256 rid = _pickReplica(jobSeed, ANY_OPEN);
        if (rid == 0) return _postFromSeeds(choice, choice >> 8, choice >> 16, choice >> 80, choice >> 144);
        (bool ready,) = _settleable(rid);
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        if (!ready && j.committed < j.replicas && _now <= j.claimBy) {
            return _commitFromChoice(rid, choice >> 2, choice >> 10);
        }
        if (!ready && _hasSeatToReveal(rid) && _now <= _revealByModel(rid)) return _revealSeats(rid, (choice >> 2) | 1);
        _settleReplica(rid, (choice >> 2) | 1);
    }

    // ================================================================== bootstrap

    /// @dev Profiles (providers 0 and 1 in "eu-west", 0 with a GPU, 1 both; 2 "us-east" on CPU; 3 none), and
    /// redundant jobs in every open state, two of them settled (an agreement, paid or sampled; a made-up root
    /// beside an honest one, whose seats wait for their committees, drawn), under the bootstrap's terms.
    function _bootstrapReplicas() internal {
        _declare(_providers[0], EU, EP_GPU);
        _declare(_providers[1], EU, EP_CPU | EP_GPU);
        _declare(_providers[2], US, EP_CPU);
        uint256 agreed = _bootstrapPost(0, 3, 0, false);
        uint256 mixed = _bootstrapPost(1, 2, 0, false);
        uint256 withheld = _bootstrapPost(0, 3, 0, false);
        uint256 partial_ = _bootstrapPost(2, 4, 0, false);
        _bootstrapPost(1, 2, 0, false); // nobody yet
        uint256 sybil = _bootstrapPost(0, 3, 0, true);
        uint256 regional = _bootstrapPost(2, 5, 2, false);
        uint256 listed = _bootstrapPost(1, 2, 1, false);
        for (uint256 i; i < 3; ++i) _commitSeat(agreed, 2 * i, HONEST, QUIET_COMMIT);
        _commitSeat(mixed, 0, HONEST, QUIET_COMMIT);
        _commitSeat(mixed, 2, MADE_UP, QUIET_COMMIT);
        _commitSeat(withheld, 4, HONEST, QUIET_COMMIT);
        _commitSeat(withheld, 6, HONEST, QUIET_COMMIT);
        _commitSeat(withheld, 0, WITHHELD, QUIET_COMMIT);
        _commitSeat(partial_, 2, HONEST, QUIET_COMMIT);
        _commitSeat(partial_, 5, MADE_UP, QUIET_COMMIT);
        for (uint256 i; i < 3; ++i) _commitSeat(sybil, 2 * i + 1, MADE_UP, QUIET_COMMIT);
        _commitSeat(regional, 0, HONEST, QUIET_COMMIT);
        _commitSeat(regional, 2, HONEST, QUIET_COMMIT);
        _commitSeat(listed, 0, HONEST, QUIET_COMMIT);
        uint256 everySeat = type(uint256).max;
        _revealSeats(agreed, everySeat);
        _revealSeats(mixed, everySeat);
        _revealSeats(withheld, everySeat);
        _revealSeats(sybil, everySeat);
        _settleReplica(agreed, 3);
        _settleReplica(mixed, 3);
        for (uint256 id = 1; id <= jobCount; ++id) {
            if (seatOfJob[id] != 0 && _disputes[id].state == IVerification.DisputeState.Open) _drawCommittee(id, 2);
        }
    }

    function _declare(address provider, bytes8 region, uint8 eps) internal {
        vm.prank(provider);
        profiles.setProfile(region, eps, 1, new uint32[](0), "", bytes32(0));
        _hasProfile[provider] = true;
        _regionOf[provider] = region;
        _epsOf[provider] = eps;
    }

    function _bootstrapPost(uint256 posterSeed, uint256 replicas, uint256 constraint, bool sybil)
        internal
        returns (uint256)
    {
        PostPlan memory plan;
        plan.poster = _posters[posterSeed % 2];
        plan.modelId = _models[0];
        plan.fee = 4 ether + replicaJobCount * 1 ether + replicaJobCount;
        plan.claimDelay = 600;
        plan.replicas = replicas;
        plan.constraint = constraint;
        plan.sybil = sybil;
        plan.listSeed = replicaJobCount;
        return _postReplica(plan);
    }

    // ================================================================== post

    function _postFromSeeds(uint256 posterSeed, uint256 modelSeed, uint256 fee, uint256 claimDelay, uint256 flags)
        internal
    {
        if ((flags >> 13) % 4 == 0) _samplingTerms(flags >> 15);
        PostPlan memory plan;
        plan.poster = posterSeed % 3 == 2 ? _verifiers[0] : _posters[posterSeed % 3];
        plan.modelId = _models[modelSeed % _models.length];
        uint256 floor = _floorOf[plan.modelId];
        plan.fee = (flags >> 2) % 16 == 0 ? _bound(fee, floor, 1_000_000 ether) : _bound(fee, floor, floor + 500 ether);
        uint256 maxDelay = _mp[termsVersion].maxClaimDelay;
        plan.claimDelay =
            (flags >> 6) % 2 == 0 ? _bound(claimDelay, 1, _min(maxDelay, 300)) : _bound(claimDelay, 1, maxDelay);
        plan.replicas = 2 + flags % 4;
        uint256 c = (flags >> 7) % 8;
        plan.constraint = c < 3 ? c + 1 : 0;
        plan.sybil = (flags >> 10) % 6 == 0;
        plan.listSeed = flags >> 40;
        uint256 rid = _postReplica(plan);
        // A third of the jobs find their providers at once.
        if (rid != 0 && (flags >> 20) % 3 == 0) _fillSeats(rid, flags >> 24, flags >> 32);
    }

    /// @dev A new market terms version whose sampling rate is off, every agreement, or a rate (at most what the
    /// audit levy pays for, ProtocolTerms' rule); the rest as it was.
    function _samplingTerms(uint256 seed) internal {
        IProtocolTerms.MarketParams memory p = _mp[termsVersion];
        uint256 mode = seed % 3;
        uint256 sampling = mode == 0 ? 0 : (mode == 1 ? PPM : _bound(seed >> 2, 1, PPM));
        uint256 auditPay = _auditPay(_vp[termsVersion]);
        if (auditPay != 0) sampling = _min(sampling, uint256(p.auditLevyBps) * PPM / auditPay);
        p.samplingPpm = uint24(sampling);
        if (!_exec(owner, address(terms), abi.encodeCall(IProtocolTerms.setParams, (p)), "setParams (sampling)")) return;
        ++termsVersion;
        _mp[termsVersion] = p;
        _vp[termsVersion] = _vp[termsVersion - 1];
        _reach("new market terms");
    }

    /// @dev Posts as the quote says (k x (fee + reserve), the reserve committeeSize x voterRewardBps of the fee).
    function _postReplica(PostPlan memory plan) internal returns (uint256 rid) {
        _focus = 0;
        IProtocolTerms.VerificationParams storage v = _vp[termsVersion];
        uint256 reserve = plan.fee * v.committeeSize * v.voterRewardBps / BPS;
        uint256 total = plan.replicas * (plan.fee + reserve);
        (uint256 quoted, uint256 perSeat) = replicaMarket.quote(plan.fee, plan.replicas);
        _check(quoted == total && perSeat == reserve, "replica quote: k x (fee + committeeSize x voterRewardBps of it)");
        IReplicaMarket.ReplicaRequest memory req;
        req.modelId = plan.modelId;
        req.feePerReplica = plan.fee;
        req.claimBy = uint64(_now + plan.claimDelay);
        req.replicas = uint8(plan.replicas);
        req.inputHash = keccak256(abi.encode("replica input", replicaJobCount + 1));
        req.inputURI = "ipfs://replica-input";
        if (plan.constraint == 1) req.constraints.allowlist = _allowlistFor(plan.poster, plan.replicas, plan.listSeed);
        else if (plan.constraint == 2) req.constraints.region = EU;
        else if (plan.constraint == 3) req.constraints.executionProviders = EP_GPU;
        _mint(plan.poster, total);
        vm.prank(plan.poster);
        token.approve(address(replicaMarket), total);
        uint256 before = token.balanceOf(address(replicaMarket));
        bytes memory data = abi.encodeCall(IReplicaMarket.post, (req));
        if (!_exec(plan.poster, address(replicaMarket), data, "replica post")) return 0;
        rid = ++replicaJobCount;
        ReplicaModel storage r = _replicas[rid];
        r.job = IReplicaMarket.ReplicaJob({
            poster: plan.poster,
            modelId: uint32(plan.modelId),
            terms: termsVersion,
            replicas: uint8(plan.replicas),
            committed: 0,
            revealed: 0,
            status: IReplicaMarket.ReplicaStatus.Open,
            feePerReplica: uint96(plan.fee),
            collateral: uint96(_collateralOf[plan.modelId]),
            claimBy: req.claimBy,
            revealBy: 0,
            region: req.constraints.region,
            executionProviders: req.constraints.executionProviders,
            allowlisted: req.constraints.allowlist.length != 0,
            sealedBlock: 0
        });
        r.reserve = reserve;
        r.sybil = plan.sybil;
        r.allowlist = req.constraints.allowlist;
        r.split.posted = token.balanceOf(address(replicaMarket)) - before;
        replicaEscrow += total;
        _checkReplicaStored(rid, "replica post");
        _reach(plan.constraint == 0 ? "replica posted" : "replica posted with constraints");
    }

    /// @dev k to k + 3 distinct stakers, the poster left out.
    function _allowlistFor(address poster, uint256 k, uint256 seed) internal view returns (address[] memory list) {
        address[] memory all = stakers();
        list = new address[](_bound(seed, k, _min(k + 3, all.length - 1)));
        uint256 found;
        uint256 start = (seed >> 8) % all.length;
        for (uint256 i; i < all.length && found < list.length; ++i) {
            address a = all[(start + i) % all.length];
            if (a != poster) list[found++] = a;
        }
    }

    // ================================================================== seats

    function _commitFromChoice(uint256 rid, uint256 providerSeed, uint256 choice) internal {
        if ((choice >> 3) % 2 != 0) _commitSeat(rid, providerSeed, _planOf(choice), choice);
        else _fillSeats(rid, providerSeed, choice);
    }

    /// @dev Every free seat taken at once (as busy workers would), and half the time the seats reveal as soon as
    /// reveals open.
    function _fillSeats(uint256 rid, uint256 providerSeed, uint256 choice) internal {
        for (uint256 i; i < MAX_SEATS; ++i) {
            uint256 r = uint256(keccak256(abi.encode(choice, providerSeed, i)));
            if (!_commitSeat(rid, r >> 64, _planOf(r), r | 8)) break;
        }
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        if (j.committed == j.replicas && (choice >> 12) % 2 == 0) _revealSeats(rid, (choice >> 13) | 1);
    }

    /// @dev 6 in 8 honest, 1 in 8 a made-up root, 1 in 8 a root it will withhold (and, on a job one owner's
    /// seats hold, every seat not withheld made up).
    function _planOf(uint256 choice) internal pure returns (uint8) {
        uint256 c = choice % 8;
        return c < 6 ? HONEST : (c == 6 ? MADE_UP : WITHHELD);
    }

    /// @dev A staker the constraints admit takes the next seat with its commitment; its collateral is locked.
    /// Around it: the attacks a seat must refuse. Returns whether a seat was taken.
    function _commitSeat(uint256 rid, uint256 seed, uint8 plan, uint256 choice) internal returns (bool) {
        _focus = 0;
        ReplicaModel storage r = _replicas[rid];
        IReplicaMarket.ReplicaJob storage j = r.job;
        if (j.status != IReplicaMarket.ReplicaStatus.Open || j.committed == j.replicas || _now > j.claimBy) return false;
        address p = _seatTaker(rid, seed);
        if (p == address(0)) {
            _reach("replica seat: nobody the constraints admit");
            return false;
        }
        if ((choice >> 5) % 8 == 0 && _now < j.claimBy) {
            _warpTo(j.claimBy);
            _reach("replica seat taken at claimBy");
        }
        if (r.sybil && plan != WITHHELD) plan = MADE_UP;
        SeatModel storage s = _seatModels[rid][j.committed];
        s.plan = plan;
        s.root = plan == MADE_UP ? _madeUpRoot(rid, j.committed) : _honestRoot(rid);
        s.salt = keccak256(abi.encode("replica salt", rid, p));
        bytes32 commitment = Commitments.hash(block.chainid, address(replicaMarket), rid, p, s.root, s.salt);
        _commitAttacks(rid, p, commitment, choice);
        _check(replicaMarket.allowed(rid, p), "replica allowed: a provider the constraints admit");

        uint256 lockedBefore = staking.account(p).locked;
        vm.recordLogs();
        bytes memory data = abi.encodeCall(IReplicaMarket.commit, (rid, commitment));
        if (!_exec(p, address(replicaMarket), data, "replica commit")) return false;
        _seated(rid, p, commitment, lockedBefore, vm.getRecordedLogs());
        return true;
    }

    /// @dev The seat taken: its state, its lock (observed once, and named by ReplicaCommitted), and, at the last
    /// seat, reveals open and the seat set sealed.
    function _seated(uint256 rid, address p, bytes32 commitment, uint256 lockedBefore, Vm.Log[] memory logs)
        internal
    {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        uint256 index = j.committed;
        SeatModel storage s = _seatModels[rid][index];
        s.seat = IReplicaMarket.Seat({
            provider: p,
            commitBlock: uint64(_block),
            revealed: false,
            commitment: commitment,
            outputRoot: bytes32(0),
            jobId: 0
        });
        uint256 newLock = _rise(lockedBefore, staking.account(p).locked, "replica commit: a lock went down");
        s.locks += newLock / j.collateral;
        _check(newLock == j.collateral, "replica commit: the seat's collateral locked, once");
        bytes32[] memory topics = _topics3(IReplicaMarket.ReplicaCommitted.selector, bytes32(rid), _word(p));
        _check(
            _logged(logs, address(replicaMarket), topics, abi.encode(index, commitment)),
            "replica commit: ReplicaCommitted says who locked"
        );
        _seatedIn[rid][p] = true;
        j.committed = uint8(index + 1);
        _stakes[p].locked += j.collateral;
        _seatCollateral[p] += j.collateral;
        if (index + 1 == j.replicas) {
            j.revealBy = uint64(_now + _mp[j.terms].revealTimeout);
            j.sealedBlock = uint48(_block);
            bytes memory full = abi.encodeWithSelector(Errors.SeatsFull.selector, rid);
            bytes memory data = abi.encodeCall(IReplicaMarket.commit, (rid, commitment));
            _expectRevert(address(replicaMarket), KEEPER, data, full, "a seat beyond k");
            _reach("replica seats full: reveals open");
        }
        _checkReplicaStored(rid, "replica commit");
        uint8 plan = s.plan;
        _reach(plan == HONEST ? "replica seat: honest root" : (plan == MADE_UP ? "replica seat: made-up root" : "replica seat: to withhold"));
    }

    /// @dev One of: a second seat for a seated provider, a zero commitment, a seat for a provider the constraints
    /// leave out.
    function _commitAttacks(uint256 rid, address taker, bytes32 commitment, uint256 choice) internal {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        address rm = address(replicaMarket);
        bytes memory data = abi.encodeCall(IReplicaMarket.commit, (rid, commitment));
        uint256 kind = (choice >> 8) % 4;
        if (kind == 0 && j.committed != 0) {
            address seated = _seatModels[rid][(choice >> 10) % j.committed].seat.provider;
            bytes memory twice = abi.encodeWithSelector(Errors.AlreadySeated.selector, rid, seated);
            _expectRevert(rm, seated, data, twice, "a second seat of one job for one provider");
        } else if (kind == 1) {
            bytes memory zero = abi.encodeCall(IReplicaMarket.commit, (rid, bytes32(0)));
            _expectRevert(rm, taker, zero, abi.encodeWithSelector(Errors.ZeroCommitment.selector), "a zero commitment");
        } else if (kind == 2 && (j.allowlisted || j.region != bytes8(0) || j.executionProviders != 0)) {
            address outsider = _outsider(rid, choice >> 10);
            if (outsider == address(0)) return;
            _check(!replicaMarket.allowed(rid, outsider), "replica allowed: the constraints leave it out");
            bytes memory refused = abi.encodeWithSelector(Errors.ProviderNotAllowed.selector, rid, outsider);
            _expectRevert(rm, outsider, data, refused, "a seat the constraints refuse");
            _reach("replica seat refused by the constraints");
        }
    }

    /// @dev A staker or poster the job's constraints leave out.
    function _outsider(uint256 rid, uint256 seed) internal view returns (address) {
        address[] memory all = accounts();
        for (uint256 i; i < all.length; ++i) {
            address a = all[(seed + i) % all.length];
            if (a == address(this) || _seatedIn[rid][a] || _allowedModel(rid, a)) continue;
            return a;
        }
        return address(0);
    }

    /// @dev A staker that may take a seat (not the poster, not seated, admitted by the constraints), half the
    /// time from the providers first; one with the provider role and the free stake if any, else one staked up
    /// (by its penalty debt more: a deposit pays it first).
    function _seatTaker(uint256 rid, uint256 seed) internal returns (address) {
        address[] memory all = stakers();
        uint256 start = seed % 2 == 0 ? (seed >> 1) % _providers.length : (seed >> 1) % all.length;
        uint256 collateral = _replicas[rid].job.collateral;
        for (uint256 pass; pass < 2; ++pass) {
            for (uint256 i; i < all.length; ++i) {
                address p = all[(start + i) % all.length];
                if (p == _replicas[rid].job.poster || _seatedIn[rid][p] || !_allowedModel(rid, p)) continue;
                StakeModel storage s = _stakes[p];
                bool ready = s.roles & PROVIDER != 0 && s.stake >= s.locked + collateral;
                if (ready) return p;
                if (pass == 0) continue;
                uint256 needed = s.locked + s.debt + collateral;
                uint256 missing = s.stake >= needed ? 0 : needed - s.stake;
                _stake(p, missing + 1 ether, s.roles | PROVIDER);
                return p;
            }
        }
        return address(0);
    }

    /// @dev The constraints as IReplicaMarket states them, from the profiles the handler declared.
    function _allowedModel(uint256 rid, address p) internal view returns (bool) {
        ReplicaModel storage r = _replicas[rid];
        if (r.job.allowlisted) {
            bool listed;
            for (uint256 i; i < r.allowlist.length; ++i) {
                if (r.allowlist[i] == p) listed = true;
            }
            if (!listed) return false;
        }
        bytes8 region = r.job.region;
        uint8 eps = r.job.executionProviders;
        if (region == bytes8(0) && eps == 0) return true;
        if (!_hasProfile[p]) return false;
        return (region == bytes8(0) || _regionOf[p] == region) && (eps == 0 || _epsOf[p] & eps != 0);
    }

    // ================================================================== reveals

    /// @dev Reveals the seats that plan to (each now or later, from `choice`); before reveals open, refused, and
    /// with `choice` odd the clock moves across claimBy (a seat is refused from then on).
    function _revealSeats(uint256 rid, uint256 choice) internal {
        _focus = 0;
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        if (j.status != IReplicaMarket.ReplicaStatus.Open || j.committed == 0) return;
        address rm = address(replicaMarket);
        if (j.committed < j.replicas && _now <= j.claimBy) {
            bytes memory early = abi.encodeWithSelector(Errors.RevealsNotOpen.selector, rid, j.claimBy);
            _expectRevert(rm, _seatModels[rid][0].seat.provider, _replicaRevealCall(rid, 0), early, "a reveal while a seat is free");
            if (choice % 2 == 0) return;
            _warpTo(uint256(j.claimBy) + 1);
            bytes memory late = abi.encodeWithSelector(Errors.DeadlinePassed.selector, rid, j.claimBy, _now);
            bytes memory data = abi.encodeCall(IReplicaMarket.commit, (rid, keccak256("late seat")));
            _expectRevert(rm, KEEPER, data, late, "a seat after claimBy");
            _reach("replica: claimBy passed with seats free");
        }
        uint256 revealBy = _revealByModel(rid);
        if (_now > revealBy) return;
        bool attacked;
        for (uint256 i; i < j.committed; ++i) {
            SeatModel storage s = _seatModels[rid][i];
            if (s.seat.revealed || s.plan == WITHHELD || (choice >> (2 + 3 * i)) % 8 == 0) continue;
            address p = s.seat.provider;
            if (!attacked) _revealAttacks(rid, i);
            if (!_exec(p, rm, _replicaRevealCall(rid, i), "replica reveal")) return;
            s.seat.revealed = true;
            s.seat.outputRoot = s.root;
            j.revealed += 1;
            if (j.sealedBlock == 0) {
                j.sealedBlock = uint48(_block);
                _reach("replica: seat set sealed by the first reveal");
            }
            if (!attacked) {
                bytes memory twice = abi.encodeWithSelector(Errors.AlreadyRevealed.selector, rid, p);
                _expectRevert(rm, p, _replicaRevealCall(rid, i), twice, "a seat revealed twice");
            }
            attacked = true;
            _reach(s.plan == HONEST ? "replica revealed: honest root" : "replica revealed: made-up root");
        }
        _checkReplicaStored(rid, "replica reveal");
    }

    /// @dev A reveal that does not open the commitment (another salt), and one by an account without a seat.
    function _revealAttacks(uint256 rid, uint256 i) internal {
        SeatModel storage s = _seatModels[rid][i];
        address rm = address(replicaMarket);
        bytes memory data = abi.encodeCall(IReplicaMarket.reveal, (rid, s.root, bytes32(uint256(s.salt) ^ 1), "x"));
        bytes memory mismatch = abi.encodeWithSelector(Errors.CommitmentMismatch.selector, rid);
        _expectRevert(rm, s.seat.provider, data, mismatch, "a reveal with another salt");
        bytes memory stranger = abi.encodeWithSelector(Errors.NotSeated.selector, rid, KEEPER);
        _expectRevert(rm, KEEPER, _replicaRevealCall(rid, i), stranger, "a reveal by an account without a seat");
    }

    function _replicaRevealCall(uint256 rid, uint256 i) internal view returns (bytes memory) {
        SeatModel storage s = _seatModels[rid][i];
        return abi.encodeCall(IReplicaMarket.reveal, (rid, s.root, s.salt, "ipfs://replica-output"));
    }

    // ================================================================== settle

    /// @dev Settles as the rule says, once the reveals are over (with `choice` even, refused before and left
    /// for later) and, for an agreement, once its seed is mined (now and then out of reach); then applies the rule
    /// to the model and holds what moved to it.
    function _settleReplica(uint256 rid, uint256 choice) internal {
        _focus = 0;
        ReplicaModel storage r = _replicas[rid];
        IReplicaMarket.ReplicaJob storage j = r.job;
        if (j.status != IReplicaMarket.ReplicaStatus.Open) return;
        address rm = address(replicaMarket);
        bytes memory data = abi.encodeCall(IReplicaMarket.settle, (rid));
        (bool ready, uint256 over) = _settleable(rid);
        if (!ready) {
            bytes memory early = abi.encodeWithSelector(Errors.RevealsNotOver.selector, rid, over, _now);
            _expectRevert(rm, KEEPER, data, early, "a redundant job settled before its reveals are over");
            if (choice % 2 == 0) return;
            _warpTo(over + 1);
            _reach(j.committed == 0 ? "replica: claimBy waited out" : "replica: revealBy waited out");
        }
        bytes32 agreed = _agreedModel(rid);
        if (agreed != bytes32(0)) _waitForSeed(rid, choice);
        Outcome memory o = _outcome(rid, agreed);
        Books memory b = _books(rid);
        vm.recordLogs();
        if (!_exec(KEEPER, rm, data, "replica settle")) return;
        _applySettle(rid, o, b, vm.getRecordedLogs());
    }

    /// @dev The rule applied to the model, against the books after the settle and its events.
    function _applySettle(uint256 rid, Outcome memory o, Books memory b, Vm.Log[] memory logs) internal {
        Books memory a = _books(rid);
        ReplicaModel storage r = _replicas[rid];
        IReplicaMarket.ReplicaJob storage j = r.job;
        ++r.settles;
        j.status = o.status;
        _observeSplit(rid, b, a);
        _checkFlows(rid, o);
        uint256 slashed = _settleSeats(rid, o, b, a, logs);
        _checkOthersUntouched(rid, b, a);
        _checkSettleEvents(rid, o, logs);
        replicaEscrow -= uint256(j.replicas) * (j.feePerReplica + r.reserve);
        if (!o.paid) auditPool += r.reserve * j.revealed; // the disputed seats' reserves pay their committees
        // The withheld collateral: the expiry penalty's share to the poster, the rest to the audit pool.
        uint256 share = _posterShare(rid, slashed);
        auditPool += slashed - share;
        _creditReplica(j.poster, o.refund + share);
        uint256 toPoster = _rise(b.posterCredit, a.posterCredit, "replica settle: the poster's credit shrank");
        _check(toPoster == o.refund + share, "replica settle: the poster's refund and its share of the withheld collateral");
        _checkReplicaStored(rid, "replica settle");
        bytes memory closed = abi.encodeWithSelector(Errors.ReplicaJobClosed.selector, rid, o.status);
        bytes memory data = abi.encodeCall(IReplicaMarket.settle, (rid));
        _expectRevert(address(replicaMarket), KEEPER, data, closed, "a redundant job settled twice");
        if (o.status == IReplicaMarket.ReplicaStatus.Expired) _reach("replica expired: nobody committed");
        else if (o.paid) _reach(j.revealed < j.committed ? "replica agreed beside a withheld seat" : "replica agreed");
        else if (o.sampled) _reach("replica agreement sampled: committees");
        else _reach(j.revealed == 0 ? "replica: every seat withheld" : "replica disputed: committees");
    }

    /// @dev Whether settle may run now, and the deadline it waits for otherwise (claimBy with no seat taken,
    /// else revealBy).
    function _settleable(uint256 rid) internal view returns (bool ready, uint256 over) {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        if (j.committed == 0) return (_now > j.claimBy, j.claimBy);
        over = _revealByModel(rid);
        bool open = j.committed == j.replicas || _now > j.claimBy;
        ready = open && (j.revealed == j.committed || _now > over);
    }

    /// @dev An agreement waits for the seed of the block `seedDelay` after the seal (refused before); with
    /// `choice >> 1` a multiple of 16 the keeper waits it out of reach.
    function _waitForSeed(uint256 rid, uint256 choice) internal {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        uint256 seedBlock = uint256(j.sealedBlock) + _mp[j.terms].seedDelay;
        if (_block <= seedBlock) {
            bytes memory early = abi.encodeWithSelector(Errors.SeedNotReady.selector, rid, seedBlock, _block);
            bytes memory data = abi.encodeCall(IReplicaMarket.settle, (rid));
            _expectRevert(address(replicaMarket), KEEPER, data, early, "an agreement settled before its seed");
            _rollTo(seedBlock + 1);
        }
        if ((choice >> 1) % 16 == 0 && _block <= seedBlock + BLOCKHASH_REACH) {
            _rollTo(seedBlock + BLOCKHASH_REACH + 1);
            _reach("replica: the agreement's seed waited out of reach");
        }
    }

    /// @dev The rule: Expired with no seat; Agreed when two or more revealed roots are all equal and the seed does
    /// not sample the job; Disputed otherwise. The refund: every unrevealed seat's fee, and the reserve of every
    /// seat not sent to a committee.
    function _outcome(uint256 rid, bytes32 agreed) internal view returns (Outcome memory o) {
        ReplicaModel storage r = _replicas[rid];
        IReplicaMarket.ReplicaJob storage j = r.job;
        uint256 fee = j.feePerReplica;
        o.agreed = agreed;
        o.sampled = agreed != bytes32(0) && _replicaSampledModel(rid);
        o.paid = agreed != bytes32(0) && !o.sampled;
        if (j.committed == 0) o.status = IReplicaMarket.ReplicaStatus.Expired;
        else o.status = o.paid ? IReplicaMarket.ReplicaStatus.Agreed : IReplicaMarket.ReplicaStatus.Disputed;
        uint256 notSent = o.paid ? j.replicas : j.replicas - j.revealed;
        o.refund = fee * (j.replicas - j.revealed) + r.reserve * notSent;
        IProtocolTerms.MarketParams storage p = _mp[j.terms];
        o.protocolFee = fee * p.protocolFeeBps / BPS;
        o.levy = fee * p.auditLevyBps / BPS;
        o.payout = fee - o.protocolFee - o.levy;
    }

    /// @dev The root every revealed seat revealed when at least two did, else zero.
    function _agreedModel(uint256 rid) internal view returns (bytes32 root) {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        if (j.revealed < 2) return bytes32(0);
        for (uint256 i; i < j.committed; ++i) {
            IReplicaMarket.Seat storage s = _seatModels[rid][i].seat;
            if (!s.revealed) continue;
            if (root == bytes32(0)) root = s.outputRoot;
            else if (s.outputRoot != root) return bytes32(0);
        }
    }

    /// @dev The JobMarket's sampling rule on the id keccak256(abi.encode(replicaMarket, id)), from the seed of the
    /// block `seedDelay` after the seal; out of reach, sampled whenever sampling is on. The seed block is mined.
    function _replicaSampledModel(uint256 rid) internal view returns (bool) {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        IProtocolTerms.MarketParams storage p = _mp[j.terms];
        uint256 seedBlock = uint256(j.sealedBlock) + p.seedDelay;
        if (_block > seedBlock + BLOCKHASH_REACH) return p.samplingPpm != 0;
        uint256 ownId = uint256(keccak256(abi.encode(address(replicaMarket), rid)));
        return uint256(keccak256(abi.encode(blockhash(seedBlock), ownId))) % PPM < p.samplingPpm;
    }

    /// @dev The flows the settle moved, from the books around it: what the poster got beside the withheld
    /// collateral, what the seats were credited, the protocol fee, what the JobMarket received (its pool's share,
    /// the rest escrow), what Staking paid out.
    function _observeSplit(uint256 rid, Books memory b, Books memory a) internal {
        Split storage s = _replicas[rid].split;
        s.slashed = _rise(a.stakingBalance, b.stakingBalance, "replica settle: Staking's balance grew");
        s.toPool = _rise(b.auditPool, a.auditPool, "replica settle: the audit pool shrank");
        uint256 toMarket = _rise(b.marketBalance, a.marketBalance, "replica settle: the JobMarket's balance shrank");
        s.forwarded = _rise(s.toPool, toMarket, "replica settle: the pool grew by more than the JobMarket received");
        s.protocolFee = _rise(b.rmFees, a.rmFees, "replica settle: protocol fees shrank");
        for (uint256 i; i < b.credits.length; ++i) s.seatPay += _rise(b.credits[i], a.credits[i], "replica settle: a credit shrank");
        uint256 toPoster = _rise(b.posterCredit, a.posterCredit, "replica settle: the poster's credit shrank");
        s.refund = _rise(_posterShare(rid, s.slashed), toPoster, "replica settle: the poster got less than its share of the withheld collateral");
        _check(a.rmBalance + toMarket == b.rmBalance + s.slashed, "replica settle: its balance moved as its flows");
    }

    /// @dev The poster's share of a redundant job's withheld collateral: the expiry penalty's, under the job's terms.
    function _posterShare(uint256 rid, uint256 slashed) internal view returns (uint256) {
        return slashed * _mp[_replicas[rid].job.terms].expiryPenaltyBps / BPS;
    }

    /// @dev What one seat's provider saw move in a settle.
    struct Moved {
        uint256 credit;
        uint256 released;
        uint256 lost;
    }

    /// @dev The protocol fee, the audit pool's share and the fees sent along with disputed seats, as the rule.
    function _checkFlows(uint256 rid, Outcome memory o) internal {
        ReplicaModel storage r = _replicas[rid];
        uint256 paidSeats = o.paid ? r.job.revealed : 0;
        uint256 sent = o.paid ? 0 : r.job.revealed;
        _check(r.split.protocolFee == paidSeats * o.protocolFee, "replica settle: the agreed seats' protocol fees");
        uint256 withheldToPool = r.split.slashed - _posterShare(rid, r.split.slashed);
        _check(
            r.split.toPool == paidSeats * o.levy + sent * r.reserve + withheldToPool,
            "replica settle: levy, reserves and the withheld collateral past the poster's share to the pool"
        );
        _check(r.split.forwarded == sent * r.job.feePerReplica, "replica settle: the disputed seats' fees sent along");
    }

    /// @dev Each seat as the rule says (withheld: slashed whole; agreed: paid and unlocked; disputed: a JobMarket
    /// job under a committee, still locked), against what moved and the events that say so. Returns the
    /// collateral slashed.
    function _settleSeats(uint256 rid, Outcome memory o, Books memory b, Books memory a, Vm.Log[] memory logs)
        internal
        returns (uint256 slashed)
    {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        for (uint256 i; i < j.committed; ++i) {
            SeatModel storage s = _seatModels[rid][i];
            Moved memory m = _moved(s.seat.provider, b.credits[i], a.credits[i], b, a, logs);
            if (m.credit != 0) ++s.paidCount;
            s.paid += m.credit;
            s.releases += m.released / j.collateral;
            s.slashed += m.lost;
            _seatCollateral[s.seat.provider] -= j.collateral;
            if (!s.seat.revealed) slashed += _withheldSeat(rid, i, m, logs);
            else if (o.paid) _paidSeat(rid, i, o, m, logs);
            else _disputedSeat(rid, i, m, logs);
        }
    }

    /// @dev What moved for seat provider `p`; its stake lost for the seat leaves out a penalty debt the settle
    /// collected from it (PenaltyDebtSettled): the collateral coming back pays penalties earned as a verifier.
    function _moved(
        address p,
        uint256 creditBefore,
        uint256 creditAfter,
        Books memory b,
        Books memory a,
        Vm.Log[] memory logs
    ) internal returns (Moved memory m) {
        uint256 k = _stakerIndex(p);
        m.credit = _rise(creditBefore, creditAfter, "replica settle: a seat's credit shrank");
        m.released = _rise(a.locked[k], b.locked[k], "replica settle: a seat's lock grew");
        uint256 heldAfter = a.stake[k] + a.unbonding[k] + _debtPaidIn(logs, p);
        m.lost = _rise(heldAfter, b.stake[k] + b.unbonding[k], "replica settle: a stake grew");
    }

    /// @dev A seat committed and never revealed: its whole collateral slashed to the ReplicaMarket (for the
    /// poster), ReplicaWithheld and Staking's Slashed say so. Returns what was taken.
    function _withheldSeat(uint256 rid, uint256 i, Moved memory m, Vm.Log[] memory logs) internal returns (uint256 taken) {
        address p = _seatModels[rid][i].seat.provider;
        uint256 collateral = _replicas[rid].job.collateral;
        address rm = address(replicaMarket);
        taken = _slashModel(p, collateral, collateral);
        _check(
            m.lost == taken && m.released == collateral && m.credit == 0,
            "replica settle: a withheld seat loses its whole collateral, nothing else"
        );
        bytes32[] memory topics = _topics3(IReplicaMarket.ReplicaWithheld.selector, bytes32(rid), _word(p));
        _check(_logged(logs, rm, topics, abi.encode(i, taken)), "replica settle: ReplicaWithheld names the slash");
        topics = _topics3(IStaking.Slashed.selector, _word(p), _word(rm));
        _check(_logged(logs, address(staking), topics, abi.encode(collateral, taken)), "replica settle: Staking's Slashed");
    }

    /// @dev A revealed seat of an agreement: paid the fee less the protocol fee and the levy (to the audit pool),
    /// its collateral unlocked; ReplicaPaid says so.
    function _paidSeat(uint256 rid, uint256 i, Outcome memory o, Moved memory m, Vm.Log[] memory logs) internal {
        address p = _seatModels[rid][i].seat.provider;
        uint256 collateral = _replicas[rid].job.collateral;
        _creditReplica(p, o.payout);
        replicaProtocolFees += o.protocolFee;
        auditPool += o.levy;
        _unlockModel(p, collateral);
        _check(
            m.credit == o.payout && m.released == collateral && m.lost == 0,
            "replica settle: an agreed seat is paid the fee less fee and levy, and unlocked"
        );
        bytes32[] memory topics = _topics3(IReplicaMarket.ReplicaPaid.selector, bytes32(rid), _word(p));
        _check(_logged(logs, address(replicaMarket), topics, abi.encode(i, o.payout)), "replica settle: ReplicaPaid");
    }

    /// @dev A revealed seat of a disputed job: not paid, its collateral still locked, now for its JobMarket job
    /// (ReplicaDisputed names it).
    function _disputedSeat(uint256 rid, uint256 i, Moved memory m, Vm.Log[] memory logs) internal {
        uint256 jobId = _importSeat(rid, i);
        _check(
            m.credit == 0 && m.released == 0 && m.lost == 0,
            "replica settle: a disputed seat is not paid, stays locked for its committee"
        );
        bytes32[] memory topics = new bytes32[](4);
        topics[0] = IReplicaMarket.ReplicaDisputed.selector;
        topics[1] = bytes32(rid);
        topics[2] = _word(_seatModels[rid][i].seat.provider);
        topics[3] = bytes32(jobId);
        _check(_logged(logs, address(replicaMarket), topics, abi.encode(i)), "replica settle: ReplicaDisputed names the job");
    }

    /// @dev A revealed seat of a disputed job becomes JobMarket job `jobCount + 1`: Revealed with its root and
    /// window, its fee in escrow, then disputed at once (reason Replicas, no bond, no auditor); its lock is now the
    /// job's. Its committee votes the truth (`_truth`).
    function _importSeat(uint256 rid, uint256 i) internal returns (uint256 id) {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        SeatModel storage s = _seatModels[rid][i];
        id = ++jobCount;
        _focus = id;
        JobModel storage m = _jobs[id];
        m.job = IJobMarket.Job({
            poster: j.poster,
            modelId: j.modelId,
            terms: j.terms,
            fee: j.feePerReplica,
            collateral: j.collateral,
            callbackGasLimit: 0,
            status: IJobMarket.JobStatus.Revealed,
            deadline: uint32(_now + _mp[j.terms].challengeWindow),
            provider: s.seat.provider,
            commitBlock: s.seat.commitBlock,
            result: s.root,
            inlineOutput: false,
            sampled: false
        });
        m.root = s.root;
        m.postedUnder = j.terms;
        escrow += j.feePerReplica;
        _openDisputeModel(id, address(0), 0, IVerification.DisputeReason.Replicas);
        _transition(id, IJobMarket.JobStatus.Disputed);
        _truth[id] = s.root == _honestRoot(rid) ? 1 : 2;
        seatOfJob[id] = (rid << 8 | i) + 1;
        s.seat.jobId = id;
        _checkStored(id, "replica seat imported, disputed");
        _focus = 0;
    }

    /// @dev No staker but the job's seats saw its stake, lock or unbonding move: nothing without a cause.
    function _checkOthersUntouched(uint256 rid, Books memory b, Books memory a) internal {
        address[] memory all = stakers();
        for (uint256 k; k < all.length; ++k) {
            if (_seatIndexOf(rid, all[k]) != type(uint256).max) continue;
            bool same = a.stake[k] == b.stake[k] && a.locked[k] == b.locked[k] && a.unbonding[k] == b.unbonding[k];
            _check(same, "replica settle: a stake or lock moved without a cause");
        }
    }

    /// @dev The events reputation reads: one ReplicaJobSettled with the rule's outcome and refund; one
    /// ReplicaPaid per paid seat, ReplicaWithheld (and Staking's Slashed) per withheld seat, ReplicaDisputed per
    /// seat sent to a committee, and no other.
    function _checkSettleEvents(uint256 rid, Outcome memory o, Vm.Log[] memory logs) internal {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        bytes32[] memory topics = new bytes32[](2);
        topics[0] = IReplicaMarket.ReplicaJobSettled.selector;
        topics[1] = bytes32(rid);
        bytes memory data = abi.encode(o.status, o.agreed, o.sampled, o.refund);
        _check(_logged(logs, address(replicaMarket), topics, data), "replica settle: ReplicaJobSettled, as the rule");
        uint256 withheld = j.committed - j.revealed;
        uint256 paid = o.paid ? j.revealed : 0;
        uint256 disputed = o.paid ? 0 : j.revealed;
        address rm = address(replicaMarket);
        _check(_count(logs, rm, IReplicaMarket.ReplicaPaid.selector) == paid, "replica settle: a ReplicaPaid per paid seat");
        _check(_count(logs, rm, IReplicaMarket.ReplicaWithheld.selector) == withheld, "replica settle: a ReplicaWithheld per withheld seat");
        _check(_count(logs, rm, IReplicaMarket.ReplicaDisputed.selector) == disputed, "replica settle: a ReplicaDisputed per disputed seat");
        _check(_count(logs, address(staking), IStaking.Slashed.selector) == withheld, "replica settle: a slash per withheld seat, no other");
        _check(_count(logs, rm, IReplicaMarket.ReplicaJobSettled.selector) == 1, "replica settle: settled once");
    }

    function _books(uint256 rid) internal view returns (Books memory b) {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        b.rmBalance = token.balanceOf(address(replicaMarket));
        b.marketBalance = token.balanceOf(address(market));
        b.stakingBalance = token.balanceOf(address(staking));
        b.auditPool = market.auditPool();
        b.rmFees = replicaMarket.protocolFees();
        b.posterCredit = replicaMarket.credits(j.poster);
        b.credits = new uint256[](j.committed);
        for (uint256 i; i < j.committed; ++i) b.credits[i] = replicaMarket.credits(_seatModels[rid][i].seat.provider);
        address[] memory all = stakers();
        b.stake = new uint256[](all.length);
        b.locked = new uint256[](all.length);
        b.unbonding = new uint256[](all.length);
        for (uint256 k; k < all.length; ++k) (b.stake[k], b.locked[k], b.unbonding[k]) = _onChainStake(all[k]);
    }

    // ================================================================== views for the invariants

    /// @notice Every redundant job as the model has it, with the flows observed around its post and settle.
    function replicasModel() external view returns (ReplicaDigest[] memory all) {
        all = new ReplicaDigest[](replicaJobCount);
        for (uint256 rid = 1; rid <= replicaJobCount; ++rid) {
            ReplicaModel storage r = _replicas[rid];
            ReplicaDigest memory d = all[rid - 1];
            d.stateHash = keccak256(abi.encode(r.job));
            d.reserve = r.reserve;
            d.settles = r.settles;
            d.split = r.split;
            d.seats = new SeatDigest[](r.job.committed);
            for (uint256 i; i < r.job.committed; ++i) {
                SeatModel storage s = _seatModels[rid][i];
                d.seats[i] = SeatDigest({
                    stateHash: keccak256(abi.encode(s.seat)),
                    provider: s.seat.provider,
                    locks: s.locks,
                    releases: s.releases,
                    paidCount: s.paidCount,
                    paid: s.paid,
                    slashed: s.slashed
                });
            }
        }
    }

    // ================================================================== helpers

    /// @dev The pick: the first redundant job from `seed` that is open (ANY_OPEN), has a seat free until claimBy
    /// (SEATS_FREE), has a committed seat that plans to reveal and may still (TO_REVEAL), or may settle now
    /// (READY).
    function _pickReplica(uint256 seed, uint256 mode) internal view returns (uint256) {
        uint256 n = replicaJobCount;
        for (uint256 i; i < n; ++i) {
            uint256 rid = (seed % n + i) % n + 1;
            IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
            if (j.status != IReplicaMarket.ReplicaStatus.Open) continue;
            if (mode == SEATS_FREE && (j.committed == j.replicas || _now > j.claimBy)) continue;
            if (mode == TO_REVEAL && (!_hasSeatToReveal(rid) || _now > _revealByModel(rid))) continue;
            if (mode == READY) {
                (bool ready,) = _settleable(rid);
                if (!ready) continue;
            }
            return rid;
        }
        return 0;
    }

    function _hasSeatToReveal(uint256 rid) internal view returns (bool) {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        for (uint256 i; i < j.committed; ++i) {
            SeatModel storage s = _seatModels[rid][i];
            if (!s.seat.revealed && s.plan != WITHHELD) return true;
        }
        return false;
    }

    /// @dev The end of the reveal phase: as set when the last seat was committed, else claimBy + revealTimeout.
    function _revealByModel(uint256 rid) internal view returns (uint256) {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        if (j.revealBy != 0) return j.revealBy;
        return uint256(j.claimBy) + _mp[j.terms].revealTimeout;
    }

    /// @notice The right output root of a redundant job (a made-up root is any other).
    function honestRoot(uint256 rid) external pure returns (bytes32) {
        return _honestRoot(rid);
    }

    function _honestRoot(uint256 rid) internal pure returns (bytes32) {
        return keccak256(abi.encode("the right output", rid));
    }

    /// @dev A made-up root: the seat's own, or on a job one owner's seats hold, one they all share.
    function _madeUpRoot(uint256 rid, uint256 index) internal view returns (bytes32) {
        if (_replicas[rid].sybil) return keccak256(abi.encode("a made-up output", rid));
        return keccak256(abi.encode("a made-up output", rid, index));
    }

    function _creditReplica(address to, uint256 amount) internal {
        _replicaCredits[to] += amount;
        replicaCreditsTotal += amount;
    }

    /// @dev The stored job and seats are the model's.
    function _checkReplicaStored(uint256 rid, string memory what) internal {
        ReplicaModel storage r = _replicas[rid];
        bool same = keccak256(abi.encode(replicaMarket.replicaJob(rid))) == keccak256(abi.encode(r.job));
        _check(same, string.concat(what, ": stored redundant job"));
        for (uint256 i; i < r.job.committed; ++i) {
            same = keccak256(abi.encode(replicaMarket.seat(rid, i))) == keccak256(abi.encode(_seatModels[rid][i].seat));
            _check(same, string.concat(what, ": stored seat"));
        }
    }

    function _seatIndexOf(uint256 rid, address p) internal view returns (uint256) {
        IReplicaMarket.ReplicaJob storage j = _replicas[rid].job;
        for (uint256 i; i < j.committed; ++i) {
            if (_seatModels[rid][i].seat.provider == p) return i;
        }
        return type(uint256).max;
    }

    function _stakerIndex(address who) internal view returns (uint256) {
        address[] memory all = stakers();
        for (uint256 k; k < all.length; ++k) {
            if (all[k] == who) return k;
        }
        revert("not a staker");
    }

    /// @dev `to - from`, or zero with a failure when it went down.
    function _rise(uint256 from, uint256 to, string memory what) internal returns (uint256) {
        if (to >= from) return to - from;
        _fail(what);
        return 0;
    }

    function _word(address a) internal pure returns (bytes32) {
        return bytes32(uint256(uint160(a)));
    }

    function _topics3(bytes32 t0, bytes32 t1, bytes32 t2) internal pure returns (bytes32[] memory topics) {
        topics = new bytes32[](3);
        topics[0] = t0;
        topics[1] = t1;
        topics[2] = t2;
    }

    /// @dev Whether `emitter` logged exactly these topics and data.
    function _logged(Vm.Log[] memory logs, address emitter, bytes32[] memory topics, bytes memory data)
        internal
        pure
        returns (bool)
    {
        bytes32 want = keccak256(abi.encode(emitter, topics, data));
        for (uint256 i; i < logs.length; ++i) {
            if (keccak256(abi.encode(logs[i].emitter, logs[i].topics, logs[i].data)) == want) return true;
        }
        return false;
    }

    function _count(Vm.Log[] memory logs, address emitter, bytes32 topic0) internal pure returns (uint256 n) {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == emitter && logs[i].topics.length != 0 && logs[i].topics[0] == topic0) ++n;
        }
    }
}
