// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DinferTestToken} from "../../../contracts/DinferTestToken.sol";
import {JobMarket} from "../../../contracts/JobMarket.sol";
import {ModelRegistry} from "../../../contracts/ModelRegistry.sol";
import {ProtocolTerms} from "../../../contracts/ProtocolTerms.sol";
import {ReplicaMarket} from "../../../contracts/ReplicaMarket.sol";
import {Staking} from "../../../contracts/Staking.sol";
import {Verification} from "../../../contracts/Verification.sol";
import {IJobMarket} from "../../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../../contracts/interfaces/IProtocolTerms.sol";
import {IProviderProfiles} from "../../../contracts/interfaces/IProviderProfiles.sol";
import {IStaking} from "../../../contracts/interfaces/IStaking.sol";
import {IVerification} from "../../../contracts/interfaces/IVerification.sol";

import {MockConsumer} from "../../utils/MockConsumer.sol";
import {TestBase, Vm} from "../../utils/Vm.sol";

/// @notice What every handler file shares: the deployed protocol, the actors, the clock, and the handler's own
/// model of the whole protocol (each job's state, each audit and dispute, every credit, pool, stake and lock),
/// kept from what the handler did and what docs/PROTOCOL.md says it does, never from the contracts' events or
/// state. The one thing read from the contracts is who a stake-weighted draw names (the auditor, the seats),
/// checked against the spec's seeds and exclusions. The invariants compare the model with the contracts.
/// @dev A handler call never reverts: a call the protocol should allow but refuses is recorded in
/// `unexpectedReverts`, an attack that goes through or reverts with another error than the one the spec
/// names is recorded in `failures`; one invariant asserts both are zero, with the first message.
abstract contract HandlerBase is TestBase {
    // ------------------------------------------------------------------ the protocol

    uint8 internal constant PROVIDER = 1;
    uint8 internal constant VERIFIER = 2;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant PPM = 1_000_000;
    uint256 internal constant BLOCKHASH_REACH = 256;
    /// @dev Staking's parameters are not changed in these runs (ignition/parameters/local.json).
    uint256 internal constant MIN_VERIFIER_STAKE = 100 ether;
    uint256 internal constant UNBONDING_PERIOD = 7200;
    address public constant TREASURY = address(0x7EA5);
    address internal constant KEEPER = address(0x4EE9);
    address internal constant WATCHDOG = address(0x3A7C);

    DinferTestToken public immutable token;
    Staking public immutable staking;
    ModelRegistry public immutable registry;
    ProtocolTerms public immutable terms;
    JobMarket public immutable market;
    Verification public immutable verification;
    MockConsumer public immutable consumer;
    address public immutable owner;
    /// @dev Redundant jobs (ReplicaActions): the ReplicaMarket Staking trusts, and the profiles it matches.
    ReplicaMarket public immutable replicaMarket;
    IProviderProfiles public immutable profiles;

    // ------------------------------------------------------------------ actors

    /// @dev Providers 0-1 only provide; 2-3 hold both roles (their penalties as verifiers never take the
    /// collateral of their own jobs: what free and unbonding stake can't pay is owed on it, a penalty debt,
    /// collected as it comes back, after each job's own slash).
    address[] internal _providers;
    /// @dev Verifier-only accounts; verifier 0 also posts jobs (so it must never sit on their committees).
    address[] internal _verifiers;
    /// @dev EOAs, then the consumer contract, then verifier 0.
    address[] internal _posters;
    uint256[] internal _models;
    /// @dev Each model's collateral and price floor, as the handler registered them.
    mapping(uint256 modelId => uint256) internal _collateralOf;
    mapping(uint256 modelId => uint256) internal _floorOf;

    // ------------------------------------------------------------------ the model

    struct StakeModel {
        uint256 stake;
        uint256 locked;
        /// the penalty debt: what the account's penalties could not take from free or unbonding stake, owed out
        /// of its locked collateral (never more than `locked`) and collected as stake comes free
        uint256 debt;
        uint256 unbonding;
        uint256 unbondingEnd;
        uint8 roles;
        /// the verifier weight as last written (stake/unbond/setRoles/sync); slashes leave it
        uint256 weight;
    }

    struct JobModel {
        IJobMarket.Job job; // the state the market must store
        IJobMarket.Job previous; // the state before the last transition: a replay must fail
        bytes32 root; // the provider's output root (from its commit)
        bytes32 salt;
        bytes output; // the inline output, when the provider reveals inline
        uint256 committedAt;
        uint32 postedUnder; // the terms version current at the post
        uint256 payouts; // times the escrow left (paid or refunded)
    }

    struct AuditModel {
        address auditor;
        IVerification.AuditState state;
        uint64 commitBlock;
        bytes32 commitment;
        bytes32 root; // what the auditor committed to
        bytes32 revealedRoot;
        address drawn; // the auditor as first drawn: every later draw of the job must name it again
        bool drawChecked;
    }

    struct DisputeModel {
        address challenger;
        uint96 bond;
        IVerification.DisputeState state;
        IVerification.DisputeReason reason;
        uint64 openedBlock;
        uint64 openedAt;
        uint64 seedBlock;
        uint64 voteCommitBy;
        uint64 voteRevealBy;
        IVerification.Vote outcome;
        bool providerFaulted;
        address[] seats;
        address[] voters; // distinct members
        uint256 commits;
        uint256 correct; // revealed votes, per seat
        uint256 wrong;
        uint256 auditorWrong;
    }

    struct Ballot {
        uint256 seats;
        uint256 planned; // the vote committed (1..3), 0 if none
        bool revealed;
    }

    mapping(address account => StakeModel) internal _stakes;
    mapping(uint256 jobId => JobModel) internal _jobs;
    mapping(uint256 jobId => AuditModel) internal _audits;
    mapping(uint256 jobId => DisputeModel) internal _disputes;
    mapping(uint256 jobId => mapping(address voter => Ballot)) internal _ballots;
    uint256 public jobCount;

    mapping(uint32 version => IProtocolTerms.MarketParams) internal _mp;
    mapping(uint32 version => IProtocolTerms.VerificationParams) internal _vp;
    uint32 public termsVersion;

    // The ledger: what each contract owes, as the handler's own running totals.
    mapping(address account => uint256) internal _marketCredits;
    mapping(address account => uint256) internal _verificationCredits;
    uint256 public marketCreditsTotal;
    uint256 public verificationCreditsTotal;
    uint256 public escrow;
    uint256 public protocolFees;
    uint256 public auditPool;
    uint256 public treasury;
    uint256 public bondsOpen;
    uint256 public minted;

    /// @dev Stake an account lost (slash or penalty) during calls about a job: per job and account, and the
    /// most any one account lost that way for the job. Observed from Staking's balances around each call, less
    /// the penalty debt Staking says it collected from the account in that call (PenaltyDebtSettled): a debt
    /// paid as a job's collateral comes back is the account's penalty for another job, not a loss for this one.
    mapping(uint256 jobId => mapping(address account => uint256)) public slashesOf;
    mapping(uint256 jobId => uint256) public maxSlashesOfOne;
    mapping(uint256 jobId => uint256) public resolutions;
    mapping(uint256 jobId => uint256) public auditRewards;
    /// @dev Penalty debts collected (out of the accounts' stake, held by Staking for its owner) and not yet
    /// withdrawn, as the model counts them.
    uint256 public collectedDebts;

    /// @dev The ReplicaMarket's ledger (ReplicaActions): the escrow of open redundant jobs (k x (fee + reserve)),
    /// credits, protocol fees; and per provider the collateral its open seats lock (a seat sent to a committee
    /// hands its lock to its JobMarket job, which `stakesModel` counts from then on).
    mapping(address account => uint256) internal _replicaCredits;
    uint256 public replicaCreditsTotal;
    uint256 public replicaEscrow;
    uint256 public replicaProtocolFees;
    mapping(address provider => uint256) internal _seatCollateral;
    /// @dev What the right verdict on a JobMarket job imported from a redundant job's seat is: 1 its root is the
    /// honest one, 2 it is made up; 0 for every other job. Committees of such seats vote it (honest majority).
    mapping(uint256 jobId => uint8) internal _truth;

    /// @dev Every account's stake in and out, and what the model took from it (each slash or penalty applied
    /// for a cause the handler saw happen, and each penalty debt collected): Staking's figures must add up to it.
    mapping(address account => uint256) internal _deposited;
    mapping(address account => uint256) internal _withdrawn;
    mapping(address account => uint256) internal _lost;

    // ------------------------------------------------------------------ outcomes and coverage

    /// @dev How often each named path was taken (see `_reach`); the reachability test reads it.
    mapping(bytes32 what => uint256) internal _reached;

    uint256 public failures;
    string public firstFailure;
    uint256 public unexpectedReverts;
    string public firstUnexpectedRevert;

    // ------------------------------------------------------------------ the clock

    uint256 internal _now;
    uint256 internal _block;
    uint256 internal _focus; // the job the current call is about

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
    ) {
        token = token_;
        staking = staking_;
        registry = registry_;
        terms = terms_;
        market = market_;
        verification = verification_;
        owner = owner_;
        consumer = new MockConsumer(market_, token_);
        replicaMarket = ReplicaMarket(staking_.replicaMarket());
        profiles = replicaMarket.profiles();
        termsVersion = 1;
        _mp[1] = firstMarket;
        _vp[1] = firstVerification;
        _now = block.timestamp;
        _block = block.number;
        for (uint256 i; i < 4; ++i) _providers.push(address(uint160(0x9A0F00 + i)));
        for (uint256 i; i < 6; ++i) _verifiers.push(address(uint160(0xA0D100 + i)));
        _posters.push(address(0xDA9900));
        _posters.push(address(0xDA9901));
        _posters.push(address(consumer));
        _posters.push(_verifiers[0]);
    }

    // ================================================================== views for the invariants

    /// @notice Every account that ever stakes.
    function stakers() public view returns (address[] memory all) {
        all = new address[](_providers.length + _verifiers.length);
        for (uint256 i; i < _providers.length; ++i) all[i] = _providers[i];
        for (uint256 i; i < _verifiers.length; ++i) all[_providers.length + i] = _verifiers[i];
    }

    /// @notice Every account that can hold tokens or credits, the protocol contracts excluded.
    function accounts() public view returns (address[] memory all) {
        address[] memory s = stakers();
        all = new address[](s.length + 7);
        for (uint256 i; i < s.length; ++i) all[i] = s[i];
        uint256 n = s.length;
        all[n++] = _posters[0];
        all[n++] = _posters[1];
        all[n++] = address(consumer);
        all[n++] = WATCHDOG;
        all[n++] = KEEPER;
        all[n++] = TREASURY;
        all[n++] = address(this);
    }

    /// @notice Every account's credits in the market and in Verification, as the model has them.
    function creditsModel() external view returns (address[] memory all, uint256[] memory inMarket, uint256[] memory inVerification) {
        all = accounts();
        inMarket = new uint256[](all.length);
        inVerification = new uint256[](all.length);
        for (uint256 i; i < all.length; ++i) {
            inMarket[i] = _marketCredits[all[i]];
            inVerification[i] = _verificationCredits[all[i]];
        }
    }

    /// @notice Every staker's position as the model has it, and the collateral of its claimed, unfinished jobs
    /// and of its open seats of redundant jobs.
    function stakesModel()
        external
        view
        returns (address[] memory all, StakeModel[] memory stakes, uint256[] memory openCollateral)
    {
        all = stakers();
        stakes = new StakeModel[](all.length);
        openCollateral = new uint256[](all.length);
        for (uint256 i; i < all.length; ++i) {
            stakes[i] = _stakes[all[i]];
            openCollateral[i] = _seatCollateral[all[i]];
        }
        for (uint256 id = 1; id <= jobCount; ++id) {
            IJobMarket.Job storage j = _jobs[id].job;
            bool locks = uint8(j.status) >= uint8(IJobMarket.JobStatus.Claimed)
                && uint8(j.status) <= uint8(IJobMarket.JobStatus.Disputed);
            if (!locks) continue;
            for (uint256 i; i < all.length; ++i) {
                if (j.provider == all[i]) openCollateral[i] += j.collateral;
            }
        }
    }

    /// @notice Every staker's stake paid in, withdrawn, and lost to the slashes and penalties the model applied.
    function stakeFlows()
        external
        view
        returns (address[] memory all, uint256[] memory deposited, uint256[] memory withdrawn, uint256[] memory lost)
    {
        all = stakers();
        deposited = new uint256[](all.length);
        withdrawn = new uint256[](all.length);
        lost = new uint256[](all.length);
        for (uint256 i; i < all.length; ++i) {
            deposited[i] = _deposited[all[i]];
            withdrawn[i] = _withdrawn[all[i]];
            lost[i] = _lost[all[i]];
        }
    }

    /// @notice Every account's ReplicaMarket credits, as the model has them.
    function replicaCreditsModel() external view returns (address[] memory all, uint256[] memory credits) {
        all = accounts();
        credits = new uint256[](all.length);
        for (uint256 i; i < all.length; ++i) credits[i] = _replicaCredits[all[i]];
    }

    /// @notice One job as the invariants read it.
    struct JobDigest {
        bytes32 stateHash; // keccak256(abi.encode(job)) of the model's state
        IJobMarket.JobStatus status;
        uint32 terms;
        uint32 postedUnder;
        uint256 payouts;
        uint256 maxSlashesOfOne;
        uint256 resolutions;
        uint256 auditRewards;
    }

    function jobsModel() external view returns (JobDigest[] memory jobs) {
        jobs = new JobDigest[](jobCount);
        for (uint256 i; i < jobCount; ++i) {
            uint256 id = i + 1;
            JobModel storage m = _jobs[id];
            jobs[i] = JobDigest({
                stateHash: keccak256(abi.encode(m.job)),
                status: m.job.status,
                terms: m.job.terms,
                postedUnder: m.postedUnder,
                payouts: m.payouts,
                maxSlashesOfOne: maxSlashesOfOne[id],
                resolutions: resolutions[id],
                auditRewards: auditRewards[id]
            });
        }
    }

    /// @notice A job's state as the model has it.
    function jobState(uint256 jobId) external view returns (IJobMarket.Job memory) {
        return _jobs[jobId].job;
    }

    function marketTerms(uint32 version) external view returns (IProtocolTerms.MarketParams memory) {
        return _mp[version];
    }

    function verificationTerms(uint32 version) external view returns (IProtocolTerms.VerificationParams memory) {
        return _vp[version];
    }

    // ================================================================== the model: staking

    /// @dev An account's verifier weight as Staking writes it: its own stake (its stake less its penalty debt,
    /// which is already owed) while it holds the verifier role with at least the minimum of it, else zero.
    function _syncModel(address who) internal {
        StakeModel storage s = _stakes[who];
        uint256 own = s.stake - s.debt;
        bool eligible = s.roles & VERIFIER != 0 && own >= MIN_VERIFIER_STAKE;
        s.weight = eligible ? own : 0;
    }

    /// @dev A job's slash (IStaking.slash): release `unlockAmount` of the locks, take from the active stake
    /// (that collateral first), keep locked <= stake, then take from unbonding; then, the job's slash done, a
    /// penalty debt is settled from what it left.
    function _slashModel(address who, uint256 unlockAmount, uint256 amount) internal returns (uint256 taken) {
        StakeModel storage s = _stakes[who];
        s.locked -= unlockAmount < s.locked ? unlockAmount : s.locked;
        uint256 fromStake = amount < s.stake ? amount : s.stake;
        s.stake -= fromStake;
        if (s.locked > s.stake) s.locked = s.stake;
        uint256 rest = amount - fromStake;
        uint256 fromUnbonding = rest < s.unbonding ? rest : s.unbonding;
        s.unbonding -= fromUnbonding;
        taken = fromStake + fromUnbonding;
        _lost[who] += taken;
        _settleDebtModel(who);
    }

    /// @dev A verifier's penalty (IStaking.penalize): free stake, then unbonding, both taken now; what is still
    /// missing is owed on the locked collateral, a debt (never more than what is locked): the collateral itself
    /// stays whole for its jobs' slashes.
    function _penalizeModel(address who, uint256 amount) internal returns (uint256 taken) {
        StakeModel storage s = _stakes[who];
        uint256 free = s.stake - s.locked;
        uint256 fromStake = amount < free ? amount : free;
        s.stake -= fromStake;
        uint256 rest = amount - fromStake;
        uint256 fromUnbonding = rest < s.unbonding ? rest : s.unbonding;
        s.unbonding -= fromUnbonding;
        taken = fromStake + fromUnbonding;
        _lost[who] += taken;
        uint256 owed = amount - taken;
        uint256 room = s.locked - s.debt;
        uint256 added = owed < room ? owed : room;
        if (added != 0) {
            s.debt += added;
            _reach("penalty deferred to a debt");
        }
    }

    /// @dev A market's release of collateral (IStaking.unlock), capped at what is locked; a debt is paid from it.
    function _unlockModel(address who, uint256 amount) internal {
        StakeModel storage s = _stakes[who];
        s.locked -= amount < s.locked ? amount : s.locked;
        _settleDebtModel(who);
    }

    /// @dev Whenever stake comes free (an unlock, after a slash, a deposit), a penalty debt is paid from the free
    /// stake (stake - locked), the payment lost to the account and collected for Staking's owner; whatever is
    /// still owed beyond the locked collateral is written off (a slash took the collateral it was owed on).
    function _settleDebtModel(address who) internal {
        StakeModel storage s = _stakes[who];
        if (s.debt == 0) return;
        uint256 free = s.stake - s.locked;
        uint256 paid = s.debt < free ? s.debt : free;
        s.stake -= paid;
        s.debt -= paid;
        collectedDebts += paid;
        _lost[who] += paid;
        if (paid != 0) _reach("penalty debt collected");
        if (s.debt > s.locked) {
            s.debt = s.locked;
            _reach("penalty debt written off");
        }
    }

    // ================================================================== the model: the market

    /// @dev Moves a job to `next`, which must be a later status; keeps the state it left (replays must fail).
    function _transition(uint256 id, IJobMarket.JobStatus next) internal {
        JobModel storage m = _jobs[id];
        if (uint8(next) <= uint8(m.job.status)) _fail("a job went back to an earlier status");
        m.previous = m.job;
        m.job.status = next;
    }

    function _creditMarket(address to, uint256 amount) internal {
        _marketCredits[to] += amount;
        marketCreditsTotal += amount;
    }

    function _creditVerification(address to, uint256 amount) internal {
        _verificationCredits[to] += amount;
        verificationCreditsTotal += amount;
    }

    /// @dev The escrow leaves the market: to the provider (paid) or back to the poster (refund).
    function _releaseEscrow(uint256 id) internal {
        JobModel storage m = _jobs[id];
        ++m.payouts;
        escrow -= m.job.fee;
    }

    /// @dev A job whose result stands: the provider's payout, the protocol fee, the audit levy, the
    /// collateral back (docs/PROTOCOL.md "Jobs", finalize).
    function _payJobModel(uint256 id) internal {
        IJobMarket.Job storage j = _jobs[id].job;
        IProtocolTerms.MarketParams storage p = _mp[j.terms];
        uint256 protocolFee = uint256(j.fee) * p.protocolFeeBps / BPS;
        uint256 levy = uint256(j.fee) * p.auditLevyBps / BPS;
        _creditMarket(j.provider, j.fee - protocolFee - levy);
        protocolFees += protocolFee;
        auditPool += levy;
        _unlockModel(j.provider, j.collateral);
        _releaseEscrow(id);
        _transition(id, IJobMarket.JobStatus.Finalized);
    }

    /// @dev Pays from the audit pool, as much as it holds.
    function _payFromPoolModel(address to, uint256 amount) internal returns (uint256 paid) {
        paid = amount < auditPool ? amount : auditPool;
        auditPool -= paid;
        _creditMarket(to, paid);
    }

    /// @dev The sampling rule (docs/PROTOCOL.md "Formats", Sampling), with a seed out of reach counting as
    /// sampled. Before the seed block is mined: not sampled.
    function _sampledModel(uint256 id) internal view returns (bool) {
        IJobMarket.Job storage j = _jobs[id].job;
        IProtocolTerms.MarketParams storage p = _mp[j.terms];
        uint256 seedBlock = uint256(j.commitBlock) + p.seedDelay;
        if (_block <= seedBlock || p.samplingPpm == 0) return false;
        if (_block > seedBlock + BLOCKHASH_REACH) return true;
        return uint256(keccak256(abi.encode(blockhash(seedBlock), id))) % PPM < p.samplingPpm;
    }

    function _seedBlock(uint256 id) internal view returns (uint256) {
        IJobMarket.Job storage j = _jobs[id].job;
        return uint256(j.commitBlock) + _mp[j.terms].seedDelay;
    }

    /// @dev The last second the job's auditor may commit blind: the commit time plus auditCommitTimeout,
    /// below the reveal deadline.
    function _auditCommitBy(uint256 id) internal view returns (uint256 commitBy) {
        JobModel storage m = _jobs[id];
        commitBy = m.committedAt + _vp[m.job.terms].auditCommitTimeout;
        uint256 deadline = m.job.deadline;
        if (commitBy >= deadline) commitBy = deadline - 1;
    }

    // ================================================================== the model: disputes

    function _openDisputeModel(uint256 id, address challenger, uint96 bond, IVerification.DisputeReason reason)
        internal
    {
        DisputeModel storage d = _disputes[id];
        if (d.state != IVerification.DisputeState.None) _fail("a second dispute for one job");
        d.challenger = challenger;
        d.bond = bond;
        d.state = IVerification.DisputeState.Open;
        d.reason = reason;
        d.openedBlock = uint64(_block);
        d.openedAt = uint64(_now);
        // A committed, unrevealed audit may be revealed until the draw, no earlier than its recheck seed allows:
        // the committee's seed block comes seedDelay after the later of this block and seedDelay past that seed.
        uint256 seedDelay = _mp[_jobs[id].job.terms].seedDelay;
        uint256 from = _block;
        AuditModel storage a = _audits[id];
        if (a.state == IVerification.AuditState.Committed && a.commitBlock + 2 * seedDelay > from) from = a.commitBlock + 2 * seedDelay;
        d.seedBlock = uint64(from + seedDelay);
        bondsOpen += bond;
    }

    /// @dev An auditor's penalty into the treasury.
    function _penalizeAuditorModel(uint256 id, uint256 amount) internal {
        treasury += amount == 0 ? 0 : _penalizeModel(_audits[id].auditor, amount);
    }

    /// @dev An absent auditor's penalty (missed, or committed and never revealed): `penalty`, but at least what
    /// the committee that replaces it costs the audit pool (voterRewardBps of the fee per seat), so that skipping
    /// an audit to seat one's own accounts on that committee never pays.
    function _absentAuditorPenalty(uint256 id, uint256 penalty) internal view returns (uint256) {
        IJobMarket.Job storage j = _jobs[id].job;
        IProtocolTerms.VerificationParams storage v = _vp[j.terms];
        uint256 committeePay = uint256(j.fee) * v.voterRewardBps / BPS * v.committeeSize;
        return committeePay > penalty ? committeePay : penalty;
    }

    // ================================================================== calls

    /// @dev One call the handler expects to succeed. A revert is recorded as unexpected (the protocol refused
    /// what it should allow, or the model is wrong).
    function _exec(address sender, address target, bytes memory data, string memory what) internal returns (bool ok) {
        vm.prank(sender);
        bytes memory ret;
        (ok, ret) = target.call(data);
        if (!ok) {
            ++unexpectedReverts;
            if (bytes(firstUnexpectedRevert).length == 0) {
                firstUnexpectedRevert = string.concat(what, " reverted, job ", vm.toString(_focus), ": ", _hex(ret));
            }
        }
    }

    /// @dev `_exec` for a call about job `_focus` that may take stake (reveal, finalize, expire, resolve): any
    /// staker's stake lost during it is counted against the job, but for a penalty debt it paid in the call
    /// (the collateral of a job coming back pays penalties earned elsewhere).
    function _execSlashing(address sender, address target, bytes memory data, string memory what)
        internal
        returns (bool ok)
    {
        uint256[] memory before = _stakeSnapshot();
        vm.recordLogs();
        ok = _exec(sender, target, data, what);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        if (ok) _countSlashes(before, logs);
    }

    /// @dev A call that must revert with exactly `expected` (a custom error with its arguments). Going through
    /// is a failure (the attack worked); another revert reason is a failure too (the attack was stopped by
    /// the wrong check, or by accident).
    function _expectRevert(address target, address sender, bytes memory data, bytes memory expected, string memory what)
        internal
    {
        vm.prank(sender);
        (bool ok, bytes memory ret) = target.call(data);
        if (ok) return _fail(string.concat("attack went through: ", what));
        if (keccak256(ret) != keccak256(expected)) {
            _fail(string.concat("wrong revert: ", what, ": got ", _hex(ret), ", want ", _hex(expected)));
        }
    }

    /// @dev As `_expectRevert`, checking only the error's selector (for errors whose arguments the handler
    /// cannot know exactly, such as InvalidParams' reason).
    function _expectRevertSelector(address target, address sender, bytes memory data, bytes4 selector, string memory what)
        internal
    {
        vm.prank(sender);
        (bool ok, bytes memory ret) = target.call(data);
        if (ok) return _fail(string.concat("attack went through: ", what));
        if (ret.length < 4 || bytes4(ret) != selector) {
            _fail(string.concat("wrong revert: ", what, ": got ", _hex(ret), ", want ", _hex(abi.encodePacked(selector))));
        }
    }

    function _stakeSnapshot() internal view returns (uint256[] memory held) {
        address[] memory all = stakers();
        held = new uint256[](all.length);
        for (uint256 i; i < all.length; ++i) {
            (uint256 stake,, uint256 unbonding) = _onChainStake(all[i]);
            held[i] = stake + unbonding;
        }
    }

    function _countSlashes(uint256[] memory before, Vm.Log[] memory logs) internal {
        address[] memory all = stakers();
        for (uint256 i; i < all.length; ++i) {
            (uint256 stake,, uint256 unbonding) = _onChainStake(all[i]);
            if (stake + unbonding + _debtPaidIn(logs, all[i]) >= before[i]) continue;
            uint256 n = ++slashesOf[_focus][all[i]];
            if (n > maxSlashesOfOne[_focus]) maxSlashesOfOne[_focus] = n;
        }
    }

    /// @dev The penalty debt Staking collected from `who` in the calls that emitted `logs` (PenaltyDebtSettled).
    function _debtPaidIn(Vm.Log[] memory logs, address who) internal view returns (uint256 paid) {
        bytes32 topic1 = bytes32(uint256(uint160(who)));
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory l = logs[i];
            if (l.emitter != address(staking) || l.topics.length != 2) continue;
            if (l.topics[0] != IStaking.PenaltyDebtSettled.selector || l.topics[1] != topic1) continue;
            (uint256 p,,) = abi.decode(l.data, (uint256, uint256, uint256));
            paid += p;
        }
    }

    function _onChainStake(address who) internal view returns (uint256 stake, uint256 locked, uint256 unbonding) {
        (stake, locked, unbonding,,,,) = _accountOf(who);
    }

    function _accountOf(address who)
        internal
        view
        returns (uint256, uint256, uint256, uint256, uint8, bool, uint256)
    {
        IStaking.AccountView memory a = staking.account(who);
        return (a.stake, a.locked, a.unbonding, a.unbondingEnd, a.roles, a.inVerifierSet, a.verifierWeight);
    }

    // ================================================================== helpers

    function reached(string memory what) external view returns (uint256) {
        return _reached[keccak256(bytes(what))];
    }

    function _reach(string memory what) internal {
        ++_reached[keccak256(bytes(what))];
    }

    /// @dev Every fuzzed action starts in a new block, at the clock the handler last set.
    function _begin() internal {
        _focus = 0;
        vm.warp(_now);
        _rollBlocks(1);
    }

    function _check(bool ok, string memory what) internal {
        if (!ok) _fail(what);
    }

    function _fail(string memory what) internal {
        ++failures;
        if (bytes(firstFailure).length == 0) firstFailure = string.concat(what, " (job ", vm.toString(_focus), ")");
    }

    /// @dev The job's stored state, its audit and its dispute are the model's. Run after every action about a
    /// job: only such an action changes them (the invariants check every job's stored state after every call).
    function _checkStored(uint256 id, string memory what) internal {
        _check(market.jobHash(id) == keccak256(abi.encode(_jobs[id].job)), string.concat(what, ": stored job state"));
        AuditModel storage ma = _audits[id];
        IVerification.Audit memory a = verification.audit(id);
        bool sameAudit = a.auditor == ma.auditor && a.state == ma.state && a.commitBlock == ma.commitBlock
            && a.commitment == ma.commitment && a.outputRoot == ma.revealedRoot;
        _check(sameAudit, string.concat(what, ": audit"));
        DisputeModel storage md = _disputes[id];
        IVerification.Dispute memory d = verification.dispute(id);
        bool sameDispute = d.challenger == md.challenger && d.bond == md.bond && d.state == md.state
            && d.reason == md.reason && d.openedBlock == md.openedBlock && d.openedAt == md.openedAt
            && d.seedBlock == md.seedBlock && d.voteCommitBy == md.voteCommitBy && d.voteRevealBy == md.voteRevealBy
            && d.outcome == md.outcome && d.providerFaulted == md.providerFaulted
            && keccak256(abi.encode(d.committee)) == keccak256(abi.encode(md.seats));
        _check(sameDispute, string.concat(what, ": dispute"));
    }

    function _warpTo(uint256 t) internal {
        if (t <= _now) return;
        _now = t;
        vm.warp(t);
    }

    function _rollBlocks(uint256 n) internal {
        _block += n;
        vm.roll(_block);
    }

    function _rollTo(uint256 b) internal {
        if (b > _block) {
            _block = b;
            vm.roll(b);
        }
    }

    function _mint(address to, uint256 amount) internal {
        uint256 limit = token.FAUCET_LIMIT();
        for (uint256 left = amount; left != 0;) {
            uint256 chunk = left < limit ? left : limit;
            token.mint(to, chunk);
            left -= chunk;
        }
        minted += amount;
    }

    function _bit(IJobMarket.JobStatus s) internal pure returns (uint256) {
        return 1 << uint8(s);
    }

    /// @dev A job whose status is in `mask` (and, if `live`, whose deadline has not passed), from `seed`.
    function _pick(uint256 seed, uint256 mask, bool live) internal returns (uint256) {
        uint256 n = jobCount;
        for (uint256 i; i < n; ++i) {
            uint256 id = (seed % n + i) % n + 1;
            IJobMarket.Job storage j = _jobs[id].job;
            if ((mask >> uint8(j.status)) & 1 == 0) continue;
            if (live && _now > j.deadline) continue;
            _focus = id;
            return id;
        }
        return 0;
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    function _hex(bytes memory data) internal pure returns (string memory) {
        bytes memory digits = "0123456789abcdef";
        uint256 n = data.length < 100 ? data.length : 100;
        bytes memory out = new bytes(2 + 2 * n);
        out[0] = "0";
        out[1] = "x";
        for (uint256 i; i < n; ++i) {
            out[2 + 2 * i] = digits[uint8(data[i]) >> 4];
            out[3 + 2 * i] = digits[uint8(data[i]) & 15];
        }
        return string(out);
    }
}
