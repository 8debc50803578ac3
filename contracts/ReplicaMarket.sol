// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {PullPayments} from "./base/PullPayments.sol";
import {
    AllowlistDuplicate,
    AllowlistInvalid,
    AlreadyRevealed,
    AlreadySeated,
    CommitmentMismatch,
    DeadlinePassed,
    FeeBelowFloor,
    FeeTooLarge,
    InvalidClaimBy,
    MissingInput,
    ModelIdTooLarge,
    ModelInactive,
    NothingToWithdraw,
    NotSeated,
    ProviderNotAllowed,
    ReplicaCountInvalid,
    ReplicaJobClosed,
    ReplicaJobNotFound,
    RevealsNotOpen,
    RevealsNotOver,
    SeatsFull,
    SeedNotReady,
    UnknownExecutionProviders,
    ZeroAddress,
    ZeroCommitment,
    ZeroOutputRoot
} from "./errors/Errors.sol";
import {IBatchMarket} from "./interfaces/IBatchMarket.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IProtocolTerms} from "./interfaces/IProtocolTerms.sol";
import {IProviderProfiles} from "./interfaces/IProviderProfiles.sol";
import {IReplicaMarket} from "./interfaces/IReplicaMarket.sol";
import {IStaking} from "./interfaces/IStaking.sol";
import {Commitments} from "./libraries/Commitments.sol";
import {FeeMath} from "./libraries/FeeMath.sol";
import {Settlement} from "./libraries/Settlement.sol";
import {TokenPull} from "./libraries/TokenPull.sol";

/// @title ReplicaMarket
/// @notice Redundant jobs: k providers commit blind, then reveal; agreement pays them all, anything else sends
/// every revealed seat to a committee (docs/PROTOCOL.md, "Redundant jobs").
/// @dev A disputed seat becomes an ordinary JobMarket job through the BatchMarket (the one contract the JobMarket
/// lets import jobs), which opens its committee dispute in Verification; from there the JobMarket settles it,
/// with the collateral this contract locked (Staking's locks are per provider, not per job). Every loop is over
/// at most MAX_REPLICAS seats or MAX_ALLOWLIST addresses.
/// Trust: the owner withdraws protocol fees; Staking trusts this contract to lock, unlock and slash collateral.
contract ReplicaMarket is IReplicaMarket, Ownable2Step, PullPayments {
    using SafeERC20 for IERC20;
    using TokenPull for IERC20;

    uint256 public constant MIN_REPLICAS = 2;
    uint256 public constant MAX_REPLICAS = 5;
    uint256 public constant MAX_ALLOWLIST = 16;
    /// @dev IProviderProfiles' EP_CPU | EP_GPU.
    uint8 private constant KNOWN_EXECUTION_PROVIDERS = 3;
    /// @dev blockhash reaches this many blocks back (the JobMarket's out-of-reach rule).
    uint256 private constant BLOCKHASH_REACH = 256;

    IJobMarket public immutable jobMarket;
    IStaking public immutable staking;
    IModelRegistry public immutable registry;
    IProviderProfiles public immutable profiles;
    /// @notice The JobMarket's terms (every rule of a job comes from the version current at its post).
    IProtocolTerms public immutable terms;

    uint256 private _count;
    uint256 private _protocolFees;
    mapping(uint256 replicaJobId => ReplicaJob) private _jobs;
    mapping(uint256 replicaJobId => mapping(uint256 index => Seat)) private _seats;
    mapping(uint256 replicaJobId => mapping(address provider => bool)) private _seated;
    mapping(uint256 replicaJobId => mapping(address provider => bool)) private _allowlist;

    constructor(IERC20 token_, IJobMarket jobMarket_, IStaking staking_, IModelRegistry registry_, IProviderProfiles profiles_, address owner_)
        Ownable(owner_)
        PullPayments(token_)
    {
        if (
            address(token_) == address(0) || address(jobMarket_) == address(0) || address(staking_) == address(0)
                || address(registry_) == address(0) || address(profiles_) == address(0)
        ) revert ZeroAddress();
        jobMarket = jobMarket_;
        staking = staking_;
        registry = registry_;
        profiles = profiles_;
        terms = jobMarket_.terms();
    }

    // ---------------------------------------------------------------- dApps

    /// @inheritdoc IReplicaMarket
    function post(ReplicaRequest calldata req) external nonReentrant returns (uint256 replicaJobId) {
        (uint32 version, uint96 collateral) = _checkRequest(req);
        replicaJobId = ++_count;
        Constraints calldata c = req.constraints;
        _storeAllowlist(replicaJobId, c.allowlist, req.replicas);
        _jobs[replicaJobId] = ReplicaJob({
            poster: msg.sender,
            modelId: uint32(req.modelId),
            terms: version,
            replicas: req.replicas,
            committed: 0,
            revealed: 0,
            status: ReplicaStatus.Open,
            feePerReplica: uint96(req.feePerReplica),
            collateral: collateral,
            claimBy: req.claimBy,
            revealBy: 0,
            region: c.region,
            executionProviders: c.executionProviders,
            allowlisted: c.allowlist.length != 0,
            sealedBlock: 0
        });
        emit ReplicaJobPosted(
            replicaJobId,
            req.modelId,
            msg.sender,
            req.replicas,
            req.feePerReplica,
            collateral,
            req.claimBy,
            version,
            req.inputHash,
            req.inputURI,
            c
        );
        // Interaction last; the balance check rejects fee-on-transfer tokens.
        token.pullExactly(msg.sender, (req.feePerReplica + _reserveOf(req.feePerReplica, version)) * req.replicas);
    }

    // ---------------------------------------------------------------- providers

    /// @inheritdoc IReplicaMarket
    function commit(uint256 replicaJobId, bytes32 commitment) external {
        ReplicaJob storage j = _open(replicaJobId);
        if (commitment == bytes32(0)) revert ZeroCommitment();
        if (block.timestamp > j.claimBy) revert DeadlinePassed(replicaJobId, j.claimBy, block.timestamp);
        uint256 index = j.committed;
        if (index == j.replicas) revert SeatsFull(replicaJobId);
        if (_seated[replicaJobId][msg.sender]) revert AlreadySeated(replicaJobId, msg.sender);
        if (!_allowed(replicaJobId, j, msg.sender)) revert ProviderNotAllowed(replicaJobId, msg.sender);

        _seated[replicaJobId][msg.sender] = true;
        _seats[replicaJobId][index] = Seat({
            provider: msg.sender,
            commitBlock: uint64(block.number),
            revealed: false,
            commitment: commitment,
            outputRoot: bytes32(0),
            jobId: 0
        });
        j.committed = uint8(index + 1);
        emit ReplicaCommitted(replicaJobId, msg.sender, index, commitment);
        if (index + 1 == j.replicas) {
            (IProtocolTerms.MarketParams memory p,) = terms.termsOf(j.terms);
            uint256 revealBy = block.timestamp + p.revealTimeout;
            j.revealBy = uint64(revealBy);
            j.sealedBlock = uint48(block.number);
            emit RevealsOpened(replicaJobId, revealBy);
        }
        // Reverts for a caller without the provider role or without the free stake.
        staking.lock(msg.sender, j.collateral);
    }

    /// @inheritdoc IReplicaMarket
    function reveal(uint256 replicaJobId, bytes32 outputRoot, bytes32 salt, string calldata outputURI) external {
        ReplicaJob storage j = _open(replicaJobId);
        if (outputRoot == bytes32(0)) revert ZeroOutputRoot();
        if (j.committed < j.replicas && block.timestamp <= j.claimBy) revert RevealsNotOpen(replicaJobId, j.claimBy);
        uint256 revealBy = _revealBy(j);
        if (block.timestamp > revealBy) revert DeadlinePassed(replicaJobId, revealBy, block.timestamp);
        Seat storage s = _seats[replicaJobId][_seatOf(replicaJobId, j, msg.sender)];
        if (s.revealed) revert AlreadyRevealed(replicaJobId, msg.sender);
        if (Commitments.hash(block.chainid, address(this), replicaJobId, msg.sender, outputRoot, salt) != s.commitment) {
            revert CommitmentMismatch(replicaJobId);
        }
        s.revealed = true;
        s.outputRoot = outputRoot;
        j.revealed += 1;
        // Seats left empty at claimBy: the seat set is sealed by the first reveal (the sampling seed comes after).
        if (j.sealedBlock == 0) j.sealedBlock = uint48(block.number);
        emit ReplicaRevealed(replicaJobId, msg.sender, _seatOf(replicaJobId, j, msg.sender), outputRoot, outputURI);
    }

    // ---------------------------------------------------------------- anyone

    /// @inheritdoc IReplicaMarket
    function settle(uint256 replicaJobId) external nonReentrant {
        ReplicaJob storage j = _open(replicaJobId);
        uint256 committed = j.committed;
        address poster = j.poster;
        uint256 fee = j.feePerReplica;
        uint256 reserve = _reserveOf(fee, j.terms);
        if (committed == 0) {
            // Nobody took a seat by claimBy: everything goes back.
            if (block.timestamp <= j.claimBy) revert RevealsNotOver(replicaJobId, j.claimBy, block.timestamp);
            j.status = ReplicaStatus.Expired;
            _credit(poster, (fee + reserve) * j.replicas);
            emit ReplicaJobSettled(replicaJobId, ReplicaStatus.Expired, bytes32(0), false, (fee + reserve) * j.replicas);
            return;
        }
        uint256 revealBy = _revealBy(j);
        bool revealsOpen = committed == j.replicas || block.timestamp > j.claimBy;
        if (!revealsOpen || (j.revealed < committed && block.timestamp <= revealBy)) {
            revert RevealsNotOver(replicaJobId, revealBy, block.timestamp);
        }
        // Agreement: two or more revealed roots, all equal; final unless the job's seed samples it.
        bytes32 agreed = _agreedRoot(replicaJobId, committed, j.revealed);
        bool sampled = agreed != bytes32(0) && _sampled(replicaJobId, j);
        bool paid = agreed != bytes32(0) && !sampled;
        // Every seat not revealed (empty or withheld) has its fee back, and every seat not sent to a committee its
        // committee reserve; revealed seats' fees are paid or go along, a disputed seat's reserve pays its committee.
        uint256 refund = fee * (j.replicas - j.revealed) + reserve * (paid ? j.replicas : j.replicas - j.revealed);
        j.status = paid ? ReplicaStatus.Agreed : ReplicaStatus.Disputed;
        emit ReplicaJobSettled(replicaJobId, j.status, agreed, sampled, refund);

        // 1. Empty seats' fees go back; a seat committed and never revealed loses its whole collateral
        // (withholding once the others' roots are public costs what a wrong result costs): the expiry penalty's
        // share to the poster, as for a withheld sampled JobMarket job, the rest to the audit pool. Not all of it
        // to the poster: a provider posting to its own seats would get its slashed collateral back, and with it
        // whatever verifier penalty it owed on that collateral (Staking's penalty debt).
        _credit(poster, refund + _slashWithheld(replicaJobId, j, committed));
        // 2. Agreed: each revealed seat is paid.
        if (paid) _payAgreed(replicaJobId, j, committed);
        // 3. Otherwise (roots that differ, a lone root, or an agreement the seed sampled) every revealed seat goes
        // to a committee as an ordinary JobMarket job; its fee goes along.
        else _disputeRevealed(replicaJobId, j, committed, reserve);
    }

    // ---------------------------------------------------------------- governance

    /// @inheritdoc IReplicaMarket
    function withdrawProtocolFees(address to) external onlyOwner nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        amount = _protocolFees;
        if (amount == 0) revert NothingToWithdraw(to);
        _protocolFees = 0;
        emit ProtocolFeesWithdrawn(to, amount);
        token.safeTransfer(to, amount);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IReplicaMarket
    function replicaJob(uint256 replicaJobId) external view returns (ReplicaJob memory) {
        return _jobs[replicaJobId];
    }

    /// @inheritdoc IReplicaMarket
    function seat(uint256 replicaJobId, uint256 index) external view returns (Seat memory) {
        return _seats[replicaJobId][index];
    }

    /// @inheritdoc IReplicaMarket
    function revealDeadline(uint256 replicaJobId) external view returns (uint256) {
        ReplicaJob storage j = _jobs[replicaJobId];
        if (j.committed < j.replicas && block.timestamp <= j.claimBy) return 0;
        return _revealBy(j);
    }

    /// @inheritdoc IReplicaMarket
    function allowed(uint256 replicaJobId, address provider) external view returns (bool) {
        return _allowed(replicaJobId, _jobs[replicaJobId], provider);
    }

    /// @inheritdoc IReplicaMarket
    function quote(uint256 feePerReplica, uint256 replicas) external view returns (uint256 total, uint256 reservePerSeat) {
        reservePerSeat = _reserveOf(feePerReplica, jobMarket.termsVersion());
        total = (feePerReplica + reservePerSeat) * replicas;
    }

    /// @inheritdoc IReplicaMarket
    function replicaJobCount() external view returns (uint256) {
        return _count;
    }

    /// @inheritdoc IReplicaMarket
    function protocolFees() external view returns (uint256) {
        return _protocolFees;
    }

    // ---------------------------------------------------------------- internals

    /// @dev What every post must satisfy (the JobMarket's rules for a job, and the seats'); returns the terms
    /// version current now and the model's collateral.
    function _checkRequest(ReplicaRequest calldata req) private view returns (uint32 version, uint96 collateral) {
        if (req.replicas < MIN_REPLICAS || req.replicas > MAX_REPLICAS) {
            revert ReplicaCountInvalid(req.replicas, MIN_REPLICAS, MAX_REPLICAS);
        }
        if (req.modelId > type(uint32).max) revert ModelIdTooLarge(req.modelId);
        bool active;
        uint96 priceFloor;
        (active, priceFloor, collateral) = registry.terms(req.modelId);
        if (!active) revert ModelInactive(req.modelId);
        if (req.feePerReplica < priceFloor) revert FeeBelowFloor(req.feePerReplica, priceFloor);
        if (req.feePerReplica > type(uint96).max) revert FeeTooLarge(req.feePerReplica);
        if (req.inputHash == bytes32(0)) revert MissingInput();
        version = jobMarket.termsVersion();
        (IProtocolTerms.MarketParams memory p,) = terms.termsOf(version);
        uint256 latest = block.timestamp + p.maxClaimDelay;
        if (req.claimBy <= block.timestamp || req.claimBy > latest) revert InvalidClaimBy(req.claimBy, block.timestamp + 1, latest);
        uint8 eps = req.constraints.executionProviders;
        if (eps & ~KNOWN_EXECUTION_PROVIDERS != 0) revert UnknownExecutionProviders(eps);
    }

    /// @dev An allowlist must name at least as many distinct providers as there are seats, and at most MAX_ALLOWLIST.
    function _storeAllowlist(uint256 replicaJobId, address[] calldata list, uint256 replicas) private {
        uint256 listed = list.length;
        if (listed == 0) return;
        if (listed < replicas || listed > MAX_ALLOWLIST) revert AllowlistInvalid(listed, replicas, MAX_ALLOWLIST);
        for (uint256 i; i < listed; ++i) {
            address provider = list[i];
            if (provider == address(0)) revert ZeroAddress();
            if (_allowlist[replicaJobId][provider]) revert AllowlistDuplicate(provider);
            _allowlist[replicaJobId][provider] = true;
        }
    }

    /// @dev What a seat's committee costs the audit pool at most (every seat paid `voterRewardBps` of the fee) under
    /// terms `version`: the poster pays it with the fee and has it back unless that seat goes to a committee.
    function _reserveOf(uint256 feePerReplica, uint32 version) private view returns (uint256) {
        (, IProtocolTerms.VerificationParams memory v) = terms.termsOf(version);
        return feePerReplica * v.committeeSize * v.voterRewardBps / FeeMath.BPS;
    }

    /// @dev The job, which must exist and be Open.
    function _open(uint256 replicaJobId) private view returns (ReplicaJob storage j) {
        j = _jobs[replicaJobId];
        if (j.status == ReplicaStatus.None) revert ReplicaJobNotFound(replicaJobId);
        if (j.status != ReplicaStatus.Open) revert ReplicaJobClosed(replicaJobId, j.status);
    }

    /// @dev Every seat committed: `revealBy` as set then; otherwise the phase started at claimBy.
    function _revealBy(ReplicaJob storage j) private view returns (uint256) {
        if (j.revealBy != 0) return j.revealBy;
        (IProtocolTerms.MarketParams memory p,) = terms.termsOf(j.terms);
        return uint256(j.claimBy) + p.revealTimeout;
    }

    function _allowed(uint256 replicaJobId, ReplicaJob storage j, address provider) private view returns (bool) {
        if (j.allowlisted && !_allowlist[replicaJobId][provider]) return false;
        if (j.region == bytes8(0) && j.executionProviders == 0) return true;
        return profiles.meets(provider, j.region, j.executionProviders);
    }

    function _seatOf(uint256 replicaJobId, ReplicaJob storage j, address provider) private view returns (uint256) {
        uint256 committed = j.committed;
        for (uint256 i; i < committed; ++i) {
            if (_seats[replicaJobId][i].provider == provider) return i;
        }
        revert NotSeated(replicaJobId, provider);
    }

    /// @dev Whether the seed of the block `seedDelay` after the seat set was sealed (the last seat's commit, or the
    /// first reveal after claimBy) samples the job for a committee check (the JobMarket's seed source, sampling rate
    /// and out-of-reach rule, under an id of this market's own). Every seat was fixed before that seed existed, and
    /// no seat can be added after it (an owner of every seat would otherwise re-roll it by committing one more), so
    /// an owner of every seat cannot agree on a made-up result without risking all its collateral.
    function _sampled(uint256 replicaJobId, ReplicaJob storage j) private view returns (bool sampled) {
        uint256 sealedBlock = j.sealedBlock;
        bytes32 seed;
        (seed, sampled) = jobMarket.samplingOf(uint256(keccak256(abi.encode(address(this), replicaJobId))), sealedBlock, j.terms);
        // Zero and not sampled while the seed is in reach: its block is not mined yet, or its randomness not
        // delivered. Out of reach, the market's answer stands (sampled whenever sampling is on).
        if (seed == bytes32(0) && !sampled) {
            (IProtocolTerms.MarketParams memory p,) = terms.termsOf(j.terms);
            uint256 seedBlock = sealedBlock + p.seedDelay;
            if (block.number <= seedBlock + BLOCKHASH_REACH) revert SeedNotReady(replicaJobId, seedBlock, block.number);
        }
    }

    /// @dev The root every revealed seat revealed when at least two did, else zero.
    function _agreedRoot(uint256 replicaJobId, uint256 committed, uint256 revealed) private view returns (bytes32 root) {
        if (revealed < 2) return bytes32(0);
        for (uint256 i; i < committed; ++i) {
            Seat storage s = _seats[replicaJobId][i];
            if (!s.revealed) continue;
            if (root == bytes32(0)) root = s.outputRoot;
            else if (s.outputRoot != root) return bytes32(0);
        }
    }

    /// @dev Slashes the whole collateral of each seat committed and not revealed, to this contract: the expiry
    /// penalty's share of it is returned (the poster's), the rest funds the JobMarket's audit pool.
    function _slashWithheld(uint256 replicaJobId, ReplicaJob storage j, uint256 committed) private returns (uint256 toPoster) {
        uint256 collateral = j.collateral;
        uint256 total;
        for (uint256 i; i < committed; ++i) {
            Seat storage s = _seats[replicaJobId][i];
            if (s.revealed) continue;
            uint256 slashed = staking.slash(s.provider, collateral, collateral, address(this));
            total += slashed;
            emit ReplicaWithheld(replicaJobId, s.provider, i, slashed);
        }
        if (total == 0) return 0;
        (IProtocolTerms.MarketParams memory p,) = terms.termsOf(j.terms);
        uint256 toPool;
        (toPoster, toPool) = Settlement.split(total, p.expiryPenaltyBps);
        if (toPool != 0) {
            token.forceApprove(address(jobMarket), toPool);
            jobMarket.fundAuditPool(toPool);
        }
    }

    /// @dev Pays each revealed seat of an agreed job as the JobMarket pays a finalized job: the fee less the
    /// protocol fee and the audit levy, which funds the JobMarket's audit pool (committee pay).
    function _payAgreed(uint256 replicaJobId, ReplicaJob storage j, uint256 committed) private {
        (IProtocolTerms.MarketParams memory p,) = terms.termsOf(j.terms);
        (uint256 payout, uint256 protocolFee, uint256 levy) = FeeMath.splitFee(j.feePerReplica, p.protocolFeeBps, p.auditLevyBps);
        uint256 levies;
        for (uint256 i; i < committed; ++i) {
            Seat storage s = _seats[replicaJobId][i];
            if (!s.revealed) continue;
            _protocolFees += protocolFee;
            levies += levy;
            _credit(s.provider, payout);
            emit ReplicaPaid(replicaJobId, s.provider, i, payout);
            staking.unlock(s.provider, j.collateral);
        }
        if (levies != 0) {
            token.forceApprove(address(jobMarket), levies);
            jobMarket.fundAuditPool(levies);
        }
    }

    /// @dev Each revealed seat becomes JobMarket job `jobId` (Revealed, its window open) with its fee, and the
    /// BatchMarket has Verification open its committee dispute; its collateral stays locked, now for that job.
    function _disputeRevealed(uint256 replicaJobId, ReplicaJob storage j, uint256 committed, uint256 reserve) private {
        (IProtocolTerms.MarketParams memory p,) = terms.termsOf(j.terms);
        IBatchMarket gateway = IBatchMarket(jobMarket.batchMarket());
        // The committees' pay (from the audit pool, as for every dispute the protocol opens) is what the poster
        // reserved for them: disputes it caused or suffered never drain the auditors' pool.
        uint256 reserves = reserve * j.revealed;
        if (reserves != 0) {
            token.forceApprove(address(jobMarket), reserves);
            jobMarket.fundAuditPool(reserves);
        }
        for (uint256 i; i < committed; ++i) {
            Seat storage s = _seats[replicaJobId][i];
            if (!s.revealed) continue;
            IJobMarket.Job memory job = IJobMarket.Job({
                poster: j.poster,
                modelId: j.modelId,
                terms: j.terms,
                fee: j.feePerReplica,
                collateral: j.collateral,
                callbackGasLimit: 0,
                status: IJobMarket.JobStatus.Revealed,
                deadline: uint32(block.timestamp + p.challengeWindow),
                provider: s.provider,
                commitBlock: s.commitBlock,
                result: s.outputRoot,
                inlineOutput: false,
                sampled: false
            });
            // The fee moves to the JobMarket's escrow first: the imported job is paid or refunded from there.
            token.safeTransfer(address(jobMarket), j.feePerReplica);
            uint256 jobId = gateway.importReplica(job);
            s.jobId = jobId;
            emit ReplicaDisputed(replicaJobId, s.provider, i, jobId);
        }
    }
}
