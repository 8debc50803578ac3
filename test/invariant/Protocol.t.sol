// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {console} from "hardhat/console.sol";

import {DinferTestToken} from "../../contracts/DinferTestToken.sol";
import {JobMarket} from "../../contracts/JobMarket.sol";
import {ModelRegistry} from "../../contracts/ModelRegistry.sol";
import {Staking} from "../../contracts/Staking.sol";
import {Verification} from "../../contracts/Verification.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {IStaking} from "../../contracts/interfaces/IStaking.sol";
import {IVerification} from "../../contracts/interfaces/IVerification.sol";
import {Commitments} from "../../contracts/libraries/Commitments.sol";
import {FeeMath} from "../../contracts/libraries/FeeMath.sol";
import {OutputRoot} from "../../contracts/libraries/OutputRoot.sol";

import {MockConsumer} from "../utils/MockConsumer.sol";
import {ProtocolFixture} from "../utils/ProtocolFixture.sol";
import {TestBase, Vm} from "../utils/Vm.sol";

// The handler lives in this file, not in its own: the invariant runner needs the handler's artifact (its
// ABI) and Hardhat writes artifacts only for the test files it is asked to run, so a lone
// `npx hardhat test solidity test/invariant/Protocol.t.sol` on a fresh checkout would not find it.

/// @notice Drives the whole protocol through random, valid actions: dApps post, providers stake, unbond,
/// withdraw, claim, commit, reveal; keepers finalize and expire; disputes open and settle; everyone
/// withdraws. Also tries a few actions that must fail (stale states, wrong callers, early calls).
///
/// The market stores only each job's hash, so the handler keeps each job's struct. It rebuilds it from the
/// market's events the way `offchain/chain/jobs.ts` does (never from its own intentions), then checks it
/// against `market.jobHash`. Ghost totals are also taken from events; the expected effects of each action
/// (credits, fees, stake and balance deltas, deadlines) are checked right after it and any mismatch is
/// recorded in `failures`, which an invariant asserts to be zero.
///
/// Two modes. `judges`: the handler holds the verification role itself (Staking.setProtocol and
/// JobMarket.setVerification point at it), opens disputes and settles them with either verdict, slashing
/// to TREASURY, and pays audit rewards. Otherwise: the real Verification contract holds the role, sampling
/// is on, the providers and the auditor accounts are staked verifiers, and the handler plays every
/// verification role: drawn auditors commit blind (or miss, and are penalized), reveal agreeing or
/// disagreeing; challengers post bonds; keepers draw committees; members commit and reveal votes (or stay
/// silent); disputes resolve by majority, tie or no quorum. The audits and disputes are rebuilt from
/// Verification's events too and checked against its views.
contract ProtocolHandler is TestBase {
    // ------------------------------------------------------------------ setup

    enum Action {
        Post,
        Stake,
        Unbond,
        WithdrawStake,
        SetRoles,
        Claim,
        Commit,
        Reveal,
        Finalize,
        Expire,
        Dispute,
        Settle,
        WithdrawCredits,
        WithdrawFees,
        AuditReward,
        Warp,
        Advance,
        Attack,
        SetParams,
        CommitAudit,
        RevealAudit,
        PenalizeAuditor,
        DrawCommittee,
        CommitVote,
        RevealVote
    }

    uint256 internal constant ACTIONS = 25; // checked against the enum in the constructor
    uint256 internal constant STATUSES = 9;
    uint256 internal constant ATTACKS = 11;
    uint8 internal constant PROVIDER = 1;
    uint8 internal constant VERIFIER = 2;
    address public constant TREASURY = address(0x7EA5);
    address internal constant KEEPER = address(0x4EE9);

    DinferTestToken public immutable token;
    Staking public immutable staking;
    ModelRegistry public immutable registry;
    JobMarket public immutable market;
    Verification public immutable verification;
    MockConsumer public immutable consumer;
    address public immutable owner;
    /// @dev True: this handler is the verification role. False: the Verification contract is.
    bool public immutable judges;

    address[] internal _providers;
    address[] internal _dapps; // EOAs, then the consumer contract
    address[] internal _auditors; // audit reward recipients and challengers
    uint256[] internal _models;

    // ------------------------------------------------------------------ the jobs as rebuilt from events

    uint256 public jobCount;
    mapping(uint256 jobId => IJobMarket.Job) internal _jobs;
    /// @dev The state before the job's last transition: replaying it must always fail.
    mapping(uint256 jobId => IJobMarket.Job) internal _previous;
    mapping(uint256 jobId => bytes32) internal _roots;
    mapping(uint256 jobId => bytes32) internal _salts;
    mapping(uint256 jobId => bytes) internal _outputs;
    mapping(uint256 jobId => uint256) internal _bonds; // open challenge bonds (Verification mode)

    // ------------------------------------------------------------------ audits and disputes rebuilt from events

    /// @dev A dispute as Verification's events tell it (Verification mode).
    struct DisputeModel {
        address challenger;
        uint256 bond;
        IVerification.DisputeState state;
        uint256 openedAt;
        uint256 openedBlock;
        uint256 commitBy;
        uint256 revealBy;
        bool byAuditor;
        address[] committee;
        uint256 commits;
        uint256 correct;
        uint256 wrong;
    }

    mapping(uint256 jobId => IVerification.AuditState) internal _auditState;
    mapping(uint256 jobId => address) internal _auditor;
    mapping(uint256 jobId => bytes32) internal _auditRoots; // what the auditor committed to
    mapping(uint256 jobId => DisputeModel) internal _disputes;
    /// @dev Committed votes (1 ProviderCorrect, 2 ProviderWrong; 0 none) and whether they were revealed.
    mapping(uint256 jobId => mapping(address voter => uint256)) internal _votes;
    mapping(uint256 jobId => mapping(address voter => bool)) internal _voteRevealed;

    // ------------------------------------------------------------------ ghosts

    uint256 public ghostMinted; // every token minted, to anyone
    uint256 public ghostEscrow; // fees of jobs posted and not yet paid out or refunded
    uint256 public ghostCredited; // market credits ever created (Credited events + finalize payouts)
    uint256 public ghostWithdrawn; // market credits ever withdrawn
    uint256 public ghostProtocolFeesAccrued;
    uint256 public ghostProtocolFeesWithdrawn;
    uint256 public ghostAuditLevied;
    uint256 public ghostAuditPaid;
    uint256 public ghostBondsOpen; // bonds of unresolved challenges
    uint256 public ghostVerificationCredited;
    uint256 public ghostVerificationWithdrawn;
    uint256 public ghostSlashedToTreasury;
    mapping(uint256 jobId => uint256) public payCount; // escrow paid out or refunded (events)
    /// @dev Staking.Slashed events of the job's provider during the job's calls.
    mapping(uint256 jobId => uint256) public slashCount;
    /// @dev Staking.Slashed events per account during the job's calls, and the most any one account got.
    mapping(uint256 jobId => mapping(address account => uint256)) public slashesOf;
    mapping(uint256 jobId => uint256) public maxSlashesOfOne;
    uint256 public ghostTreasuryCredited; // Verification's treasury
    uint256 public ghostTreasuryWithdrawn;
    mapping(uint256 jobId => uint256) public challengesOpened; // ChallengeOpened events
    mapping(uint256 jobId => uint256) public disputesResolved; // DisputeResolved events
    mapping(uint256 jobId => uint256) public bondPayouts; // resolutions of a dispute that held a bond
    mapping(uint256 jobId => uint256) public auditRewards; // AuditRewardPaid events during the job's calls
    mapping(uint256 jobId => uint256) public auditorPenalties; // AuditorPenalized events
    bool public ghostWentBackwards;

    uint256 public failures;
    string public firstFailure;
    uint256 public unexpectedReverts;
    string public firstUnexpectedRevert;

    // ------------------------------------------------------------------ coverage

    uint256[ACTIONS] public calls;
    uint256[ACTIONS] public done;
    uint256[STATUSES] public entered; // transitions into each status
    uint256[STATUSES] public expiredFrom;
    uint256 public faultedSettlements;
    uint256 public upheldSettlements;
    uint256 public callbacksDelivered;
    uint256 public callbacksFailed;
    uint256[ATTACKS] public attacksTried; // by kind (see attack)
    // Verification mode: what the audits and disputes went through.
    uint256 public auditsCommitted;
    uint256 public auditsAgreed;
    uint256 public auditsDisagreed;
    uint256 public auditorsMissed;
    uint256 public lateAudits;
    uint256 public auditorsPenalized;
    uint256 public committeesDrawn;
    uint256 public votesCommitted;
    uint256 public votesRevealed;
    uint256 public committeeFaulted; // resolved by a ProviderWrong majority
    uint256 public committeeUpheld; // resolved by a ProviderCorrect majority
    uint256 public noMajority; // resolved by a tie or no quorum
    uint256 public treasuryWithdrawals;

    // ------------------------------------------------------------------ clock

    uint256 internal _now;
    uint256 internal _block;
    uint256 internal _focus; // the job the current call is about (attributes Staking.Slashed events)

    constructor(
        DinferTestToken token_,
        Staking staking_,
        ModelRegistry registry_,
        JobMarket market_,
        Verification verification_,
        address owner_,
        bool judges_
    ) {
        token = token_;
        staking = staking_;
        registry = registry_;
        market = market_;
        verification = verification_;
        owner = owner_;
        judges = judges_;
        require(uint256(type(Action).max) + 1 == ACTIONS, "ACTIONS");
        require(uint256(type(IJobMarket.JobStatus).max) + 1 == STATUSES, "STATUSES");
        consumer = new MockConsumer(market_, token_);
        _now = block.timestamp;
        _block = block.number;
        for (uint256 i; i < 4; ++i) {
            _providers.push(address(uint160(0x9A0F00 + i)));
            _dapps.push(address(uint160(0xDA9900 + i)));
        }
        // Verification mode: six verifiers, so that a committee of three remains without the challenger and
        // the auditor.
        for (uint256 i; i < (judges_ ? 4 : 6); ++i) {
            _auditors.push(address(uint160(0xA0D100 + i)));
        }
        _dapps.push(address(consumer));
    }

    /// @notice Called once by the test's setUp (after the wiring): models, stakes, and a few jobs in every
    /// open status, so that a 32-call run can reach every transition.
    function bootstrap() external {
        _models.push(_register(100 ether, 1 ether, "model-a"));
        _models.push(_register(7, 0, "model-b")); // odd and tiny: every share rounds
        _models.push(_register(123_456_789_123_456_789_123, 10 ether, "model-c"));
        // Verification mode: providers only provide and the auditor accounts (challengers too) are the
        // verifiers. A verifier penalty on an account that also backs jobs can eat into their collateral
        // (Staking keeps locked <= stake), which the collateral invariants below do not model.
        for (uint256 i; i < _providers.length; ++i) {
            _stake(_providers[i], 400 ether, judges ? PROVIDER | VERIFIER : PROVIDER);
        }
        if (!judges) {
            for (uint256 i; i < _auditors.length; ++i) {
                _stake(_auditors[i], 200 ether, VERIFIER);
            }
        }
        for (uint256 i; i < 12; ++i) {
            // Jobs 1, 4, 7, 10 come from the consumer contract, asking for a callback (accepted).
            _post(i, i, 5 ether + i * 1 ether + i, 300 + i * 200, i | 1 << 8);
        }
        // 10 claimed, 8 committed, 6 revealed, 2 disputed; the rest stay posted.
        for (uint256 id = 1; id <= 10; ++id) _claim(id, id);
        for (uint256 id = 1; id <= 8; ++id) _commit(id, keccak256(abi.encode("bootstrap", id)), id % 2 == 0);
        _rollBlocks(uint256(market.params().seedDelay) + 1);
        // A sampled reveal may wait out its auditor's deadline: jobs 1 and 2 are disputed right away.
        for (uint256 id = 1; id <= 6; ++id) {
            _reveal(id);
            if (id <= 2) _dispute(id, id);
        }
        // The fuzzer's runs count from here.
        for (uint256 i; i < ACTIONS; ++i) {
            calls[i] = 0;
            done[i] = 0;
        }
        for (uint256 i; i < STATUSES; ++i) entered[i] = 0;
    }

    // ================================================================== fuzzed actions

    function postJob(uint256 dappSeed, uint256 modelSeed, uint256 fee, uint256 claimDelay, uint256 flags) external {
        _begin(Action.Post);
        _post(dappSeed, modelSeed, fee, claimDelay, flags);
    }

    function stake(uint256 actorSeed, uint256 amount, uint256 roles) external {
        _begin(Action.Stake);
        amount = amount % 8 == 0 ? _bound(amount, 1, 1_000_000 ether) : _bound(amount, 1, 300 ether);
        if (judges) {
            _stake(_providers[actorSeed % _providers.length], amount, uint8(_bound(roles, 1, 3)));
        } else if (roles % 2 == 0) {
            // Verification mode: a verifier tops up (penalties wear its stake down).
            _stake(_auditors[actorSeed % _auditors.length], _bound(amount, 1, 300 ether), VERIFIER);
        } else {
            _stake(_providers[actorSeed % _providers.length], amount, PROVIDER);
        }
    }

    function requestUnbond(uint256 actorSeed, uint256 amount) external {
        _begin(Action.Unbond);
        address who = _providers[actorSeed % _providers.length];
        IStaking.AccountView memory a = staking.account(who);
        uint256 available = a.stake > a.locked ? a.stake - a.locked : 0;
        if (available == 0) return;
        amount = _bound(amount, 1, available);
        uint256 totalStaked = staking.totalStaked();
        uint256 totalUnbonding = staking.totalUnbonding();
        if (!_exec(who, address(staking), abi.encodeCall(IStaking.requestUnbond, (amount)), "requestUnbond")) return;
        IStaking.AccountView memory b = staking.account(who);
        _check(b.stake == a.stake - amount, "unbond: stake");
        _check(b.unbonding == a.unbonding + amount, "unbond: unbonding");
        _check(b.unbondingEnd == _now + staking.params().unbondingPeriod, "unbond: end");
        _check(staking.totalStaked() == totalStaked - amount, "unbond: totalStaked");
        _check(staking.totalUnbonding() == totalUnbonding + amount, "unbond: totalUnbonding");
        _done(Action.Unbond);
    }

    /// @dev Waiting out the unbonding period jumps the clock by hours (every open job's deadline passes),
    /// so only one call in four does it; the others withdraw what is already due.
    function withdrawStake(uint256 actorSeed, uint256 waitOut) external {
        _begin(Action.WithdrawStake);
        address who;
        IStaking.AccountView memory a;
        for (uint256 i; i < _providers.length; ++i) {
            who = _providers[(actorSeed % _providers.length + i) % _providers.length];
            a = staking.account(who);
            if (a.unbonding != 0) break;
        }
        if (a.unbonding == 0) return;
        if (_now < a.unbondingEnd) {
            if (waitOut % 4 != 0) return;
            _warpTo(a.unbondingEnd);
        }
        uint256 balance = token.balanceOf(who);
        uint256 totalUnbonding = staking.totalUnbonding();
        if (!_exec(who, address(staking), abi.encodeCall(IStaking.withdraw, ()), "withdrawStake")) return;
        _check(token.balanceOf(who) == balance + a.unbonding, "withdrawStake: paid the unbonding amount");
        _check(staking.account(who).unbonding == 0, "withdrawStake: unbonding cleared");
        _check(staking.totalUnbonding() + a.unbonding == totalUnbonding, "withdrawStake: totalUnbonding");
        _done(Action.WithdrawStake);
    }

    function setRoles(uint256 actorSeed, uint256 roles) external {
        _begin(Action.SetRoles);
        address who = _providers[actorSeed % _providers.length];
        // Verification mode: a provider leaves or rejoins the provider role, never the verifier set.
        uint8 next = judges ? uint8(roles % 4) : uint8(roles % 2);
        if (_exec(who, address(staking), abi.encodeCall(IStaking.setRoles, (next)), "setRoles")) {
            _done(Action.SetRoles);
        }
    }

    function claim(uint256 jobSeed, uint256 providerSeed) external {
        _begin(Action.Claim);
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Posted), true);
        if (id != 0) _claim(id, providerSeed);
    }

    function commit(uint256 jobSeed, bytes32 outputSeed, bool inlineOutput) external {
        _begin(Action.Commit);
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Claimed), true);
        if (id != 0) _commit(id, outputSeed, inlineOutput);
    }

    function reveal(uint256 jobSeed) external {
        _begin(Action.Reveal);
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Committed), true);
        if (id != 0) _reveal(id);
    }

    function finalize(uint256 jobSeed) external {
        _begin(Action.Finalize);
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Revealed), false);
        if (id != 0) _finalize(id);
    }

    /// @dev Expires a job whose deadline passed; one call in four waits for a live job's deadline instead
    /// (that jump expires others too, so it stays rare).
    function expire(uint256 jobSeed, uint256 wait) external {
        _begin(Action.Expire);
        uint256 mask = _bit(IJobMarket.JobStatus.Posted) | _bit(IJobMarket.JobStatus.Claimed)
            | _bit(IJobMarket.JobStatus.Committed);
        uint256 id = _pickExpired(jobSeed, mask);
        if (id == 0 && wait % 4 == 0) id = _pick(jobSeed, mask, false);
        if (id != 0) _expire(id);
    }

    function dispute(uint256 jobSeed, uint256 challengerSeed) external {
        _begin(Action.Dispute);
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Revealed), true);
        if (id != 0) _dispute(id, challengerSeed);
    }

    function settle(uint256 jobSeed, bool providerFaulted) external {
        _begin(Action.Settle);
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Disputed), false);
        if (id != 0) _settle(id, providerFaulted);
    }

    /// @notice Someone with credits (market, or Verification's bond credits) withdraws them.
    function withdrawCredits(uint256 actorSeed) external {
        _begin(Action.WithdrawCredits);
        address[] memory everyone = accounts();
        for (uint256 i; i < everyone.length; ++i) {
            address who = everyone[(actorSeed % everyone.length + i) % everyone.length];
            if (market.credits(who) != 0) {
                _withdrawMarketCredits(who);
                return;
            }
            if (!judges && verification.credits(who) != 0) {
                _withdrawVerificationCredits(who);
                return;
            }
        }
    }

    function withdrawProtocolFees() external {
        _begin(Action.WithdrawFees);
        if (!judges) _withdrawTreasury();
        uint256 fees = market.protocolFees();
        if (fees == 0) return;
        uint256 balance = token.balanceOf(TREASURY);
        bytes memory data = abi.encodeCall(IJobMarket.withdrawProtocolFees, (TREASURY));
        if (!_exec(owner, address(market), data, "withdrawProtocolFees")) return;
        _check(token.balanceOf(TREASURY) == balance + fees, "withdrawProtocolFees: treasury paid");
        _check(market.protocolFees() == 0, "withdrawProtocolFees: zeroed");
        _done(Action.WithdrawFees);
    }

    /// @notice The verification role pays an auditor from the audit levy pool (judge mode only).
    function payAuditReward(uint256 actorSeed, uint256 amount) external {
        _begin(Action.AuditReward);
        uint256 pool = market.auditPool();
        if (!judges || pool == 0) return;
        address to = _auditors[actorSeed % _auditors.length];
        amount = _bound(amount, 1, pool);
        uint256 credits = market.credits(to);
        bytes memory data = abi.encodeCall(IJobMarket.payAuditReward, (to, amount));
        if (!_exec(address(this), address(market), data, "payAuditReward")) return;
        _check(market.credits(to) == credits + amount, "payAuditReward: credited");
        _check(market.auditPool() == pool - amount, "payAuditReward: pool");
        _done(Action.AuditReward);
    }

    function warp(uint256 secondsAhead, uint256 blocksAhead) external {
        _begin(Action.Warp);
        // Mostly short steps (open jobs' deadlines are minutes away), sometimes up to a quarter hour.
        uint256 maxStep = secondsAhead % 4 == 0 ? 900 : 60;
        _warpTo(_now + _bound(secondsAhead >> 2, 0, maxStep));
        _rollBlocks(_bound(blocksAhead, 0, 8));
        _done(Action.Warp);
    }

    /// @notice Moves one open job one step along its lifecycle, whatever its status.
    function advance(uint256 jobSeed, uint256 choice) external {
        _begin(Action.Advance);
        uint256 open = _bit(IJobMarket.JobStatus.Posted) | _bit(IJobMarket.JobStatus.Claimed)
            | _bit(IJobMarket.JobStatus.Committed) | _bit(IJobMarket.JobStatus.Revealed)
            | _bit(IJobMarket.JobStatus.Disputed);
        uint256 id = _pick(jobSeed, open, false);
        if (id == 0) {
            _post(choice, choice >> 8, choice >> 16, choice >> 32, choice >> 48);
            return;
        }
        IJobMarket.Job memory job = _jobs[id];
        bool live = _now <= job.deadline;
        if (job.status == IJobMarket.JobStatus.Disputed) {
            if (judges) _settle(id, choice % 2 == 0);
            else _advanceDispute(id, choice);
        } else if (job.status == IJobMarket.JobStatus.Revealed) {
            if (!judges && live && _auditPending(id) && choice % 3 != 2) _revealAudit(id, choice % 4 == 0);
            else if (live && choice % 3 == 0) _dispute(id, choice);
            else _finalize(id);
        } else if (!live || choice % 8 == 0) {
            _expire(id);
        } else if (job.status == IJobMarket.JobStatus.Posted) {
            _claim(id, choice);
        } else if (job.status == IJobMarket.JobStatus.Claimed) {
            _commit(id, bytes32(choice), choice % 2 == 0);
        } else {
            _reveal(id);
        }
        _done(Action.Advance);
    }

    /// @notice Tries something that must fail, on a job it applies to; a success is a protocol failure.
    function attack(uint256 jobSeed, uint256 kind) external {
        _begin(Action.Attack);
        kind %= ATTACKS;
        address intruder = _providers[(jobSeed >> 128) % _providers.length];
        if (kind == 7) {
            _attackUnbondLocked(jobSeed);
            return;
        }
        uint256 id = _attackTarget(jobSeed, kind);
        if (id == 0) return;
        IJobMarket.Job memory job = _jobs[id];
        if (intruder == job.provider) intruder = _providers[((jobSeed >> 128) + 1) % _providers.length];
        ++attacksTried[kind];

        if (kind == 0) {
            // A job's previous state is never accepted again (no double claim, pay or refund).
            IJobMarket.Job memory stale = _previous[id];
            _mustFail(KEEPER, abi.encodeCall(IJobMarket.expire, (id, stale)), "replayed state: expire");
            _mustFail(KEEPER, abi.encodeCall(IJobMarket.finalize, (id, stale)), "replayed state: finalize");
            _mustFail(intruder, abi.encodeCall(IJobMarket.claim, (id, stale)), "replayed state: claim");
            if (judges) {
                bytes memory settleCall =
                    abi.encodeCall(IJobMarket.settleDispute, (id, stale, true, TREASURY, bytes("")));
                _mustFail(address(this), settleCall, "replayed state: settleDispute");
            }
        } else if (kind == 1) {
            // Claiming twice, or a finished job.
            _mustFail(intruder, abi.encodeCall(IJobMarket.claim, (id, job)), "claim of a claimed or finished job");
        } else if (kind == 2) {
            // Only the job's provider may commit or reveal.
            bytes memory commitCall = abi.encodeCall(IJobMarket.commit, (id, job, keccak256("x")));
            _mustFail(intruder, commitCall, "commit by another provider");
            _rollTo(uint256(job.commitBlock) + market.params().seedDelay + 1);
            bytes memory data = abi.encodeCall(IJobMarket.reveal, (id, job, _roots[id], _salts[id], "", _outputs[id]));
            _mustFail(intruder, data, "reveal by another provider");
        } else if (kind == 3) {
            // A reveal that does not open the commitment.
            _rollTo(uint256(job.commitBlock) + market.params().seedDelay + 1);
            bytes32 wrongSalt = bytes32(uint256(_salts[id]) ^ 1);
            bytes memory data = abi.encodeCall(IJobMarket.reveal, (id, job, _roots[id], wrongSalt, "", _outputs[id]));
            _mustFail(job.provider, data, "reveal with the wrong salt");
            data = abi.encodeCall(IJobMarket.reveal, (id, job, keccak256(abi.encode(_roots[id])), _salts[id], "", ""));
            _mustFail(job.provider, data, "reveal of another root");
        } else if (kind == 4) {
            // Nothing ends before its deadline.
            _mustFail(KEEPER, abi.encodeCall(IJobMarket.expire, (id, job)), "expire before the deadline");
            _mustFail(KEEPER, abi.encodeCall(IJobMarket.finalize, (id, job)), "finalize before the window ends");
        } else if (kind == 5) {
            // Only the verification role opens and settles disputes and pays audit rewards.
            _mustFail(intruder, abi.encodeCall(IJobMarket.openDispute, (id, job)), "openDispute by a stranger");
            bytes memory settleCall = abi.encodeCall(IJobMarket.settleDispute, (id, job, true, intruder, bytes("")));
            _mustFail(intruder, settleCall, "settleDispute by a stranger");
            bytes memory payCall = abi.encodeCall(IJobMarket.payAuditReward, (intruder, 1));
            _mustFail(intruder, payCall, "payAuditReward by a stranger");
        } else if (kind == 6) {
            // A finished job can't be expired, finalized, disputed or settled again.
            _mustFail(KEEPER, abi.encodeCall(IJobMarket.expire, (id, job)), "expire of a finished job");
            _mustFail(KEEPER, abi.encodeCall(IJobMarket.finalize, (id, job)), "finalize of a finished job");
            if (judges) {
                bytes memory disputeCall = abi.encodeCall(IJobMarket.openDispute, (id, job));
                _mustFail(address(this), disputeCall, "dispute of a finished job");
                bytes memory settleCall =
                    abi.encodeCall(IJobMarket.settleDispute, (id, job, true, TREASURY, bytes("")));
                _mustFail(address(this), settleCall, "settle of a finished job");
            }
        } else if (kind == 8) {
            // The challenge window is closed.
            _mustFail(address(this), abi.encodeCall(IJobMarket.openDispute, (id, job)), "dispute after the window");
        } else if (kind == 9) {
            _attackForgedOutput(id, job);
        } else {
            // A revealed result is never expired away (refund + penalty) once its reveal deadline is gone:
            // it is finalized, or disputed and settled.
            if (_now <= job.deadline) _warpTo(uint256(job.deadline) + 1);
            _mustFail(KEEPER, abi.encodeCall(IJobMarket.expire, (id, job)), "expire of a revealed or disputed job");
        }
        _done(Action.Attack);
    }

    /// @dev The job an attack of `kind` applies to (0: none).
    function _attackTarget(uint256 seed, uint256 kind) internal returns (uint256) {
        uint256 all = 0x1fe; // Posted..Slashed
        uint256 revealedOrDisputed = _bit(IJobMarket.JobStatus.Revealed) | _bit(IJobMarket.JobStatus.Disputed);
        if (kind <= 1) return _pick(seed, all & ~_bit(IJobMarket.JobStatus.Posted), false);
        if (kind == 2) {
            return _pick(seed, _bit(IJobMarket.JobStatus.Claimed) | _bit(IJobMarket.JobStatus.Committed), false);
        }
        if (kind == 3) return _pick(seed, _bit(IJobMarket.JobStatus.Committed), true);
        if (kind == 4) return _pick(seed, all & ~_bit(IJobMarket.JobStatus.Disputed) & ~_finished(), true);
        if (kind == 5) return _pick(seed, revealedOrDisputed, false);
        if (kind == 6) return _pick(seed, _finished(), false);
        if (kind == 8) {
            if (!judges) return 0;
            uint256 late = _pickExpired(seed, _bit(IJobMarket.JobStatus.Revealed));
            if (late != 0) return late;
            // Else wait out a revealed job's challenge window.
            late = _pick(seed, _bit(IJobMarket.JobStatus.Revealed), false);
            if (late != 0) _warpTo(uint256(_jobs[late].deadline) + 1);
            return late;
        }
        if (kind == 9) return _pickInlineCallback(seed);
        uint256 id = _pickExpired(seed, revealedOrDisputed);
        return id != 0 ? id : _pick(seed, revealedOrDisputed, false);
    }

    function _finished() internal pure returns (uint256) {
        return _bit(IJobMarket.JobStatus.Finalized) | _bit(IJobMarket.JobStatus.Expired)
            | _bit(IJobMarket.JobStatus.Slashed);
    }

    /// @dev A revealed or disputed job with an inline output and a consumer callback.
    function _pickInlineCallback(uint256 seed) internal returns (uint256) {
        uint256 n = jobCount;
        uint256 mask = _bit(IJobMarket.JobStatus.Revealed) | _bit(IJobMarket.JobStatus.Disputed);
        for (uint256 i; i < n; ++i) {
            uint256 id = (seed % n + i) % n + 1;
            IJobMarket.Job storage j = _jobs[id];
            if ((mask >> uint8(j.status)) & 1 == 0 || !j.inlineOutput || j.callbackGasLimit == 0) continue;
            _focus = id;
            return id;
        }
        return 0;
    }

    /// @dev The consumer only ever receives the output the provider revealed, on finalize as after an upheld
    /// dispute; and a keeper can't finalize an inline-output job while withholding the output.
    function _attackForgedOutput(uint256 id, IJobMarket.Job memory job) internal {
        bytes memory forged = abi.encodePacked(_outputs[id], uint8(1));
        if (job.status == IJobMarket.JobStatus.Revealed) {
            if (_now <= job.deadline) _warpTo(uint256(job.deadline) + 1);
            bytes memory finalizeCall = abi.encodeCall(IJobMarket.finalizeWithOutput, (id, job, forged));
            _mustFail(KEEPER, finalizeCall, "forged output on finalize");
            _mustFail(KEEPER, abi.encodeCall(IJobMarket.finalize, (id, job)), "inline output withheld on finalize");
        } else if (judges) {
            bytes memory data = abi.encodeCall(IJobMarket.settleDispute, (id, job, false, TREASURY, forged));
            _mustFail(address(this), data, "forged output on an upheld dispute");
        } else {
            _warpToResolvable(id);
            bytes memory data = abi.encodeCall(IVerification.resolve, (id, job, forged));
            _mustFailAt(address(verification), KEEPER, data, "forged output on a resolved challenge");
        }
    }

    /// @dev Locked collateral can't be unbonded.
    function _attackUnbondLocked(uint256 seed) internal {
        for (uint256 i; i < _providers.length; ++i) {
            address who = _providers[(seed % _providers.length + i) % _providers.length];
            IStaking.AccountView memory a = staking.account(who);
            if (a.locked == 0) continue;
            ++attacksTried[7];
            bytes memory data = abi.encodeCall(IStaking.requestUnbond, (a.stake - a.locked + 1));
            _mustFailAt(address(staking), who, data, "unbonding of locked stake");
            _done(Action.Attack);
            return;
        }
    }

    /// @notice The owner changes the market parameters mid-flight (always valid ones).
    function setMarketParams(uint256 seed) external {
        _begin(Action.SetParams);
        uint256 protocolFeeBps = _bound(seed, 0, 5000);
        uint256 auditLevyBps = _bound(seed >> 16, 0, 5000 - protocolFeeBps);
        IJobMarket.MarketParams memory p = IJobMarket.MarketParams({
            maxClaimDelay: uint24(_bound(seed >> 32, 60, 3600)),
            commitTimeout: uint32(_bound(seed >> 48, 30, 600)),
            revealTimeout: uint32(_bound(seed >> 64, 30, 600)),
            challengeWindow: uint32(_bound(seed >> 80, 10, 600)),
            disputeDuration: uint32(_bound(seed >> 96, 60, 1800)),
            callbackGasLimit: 500_000,
            protocolFeeBps: uint16(protocolFeeBps),
            auditLevyBps: uint16(auditLevyBps),
            expiryPenaltyBps: uint16(_bound(seed >> 112, 0, 10_000)),
            seedDelay: uint8(_bound(seed >> 128, 1, 8)),
            // Verification mode samples none, half or all of the jobs; the judge has no auditors.
            samplingPpm: judges ? 0 : uint24(((seed >> 136) % 3) * 500_000)
        });
        if (_exec(owner, address(market), abi.encodeCall(IJobMarket.setParams, (p)), "setParams")) {
            _done(Action.SetParams);
        }
    }

    /// @notice Runs one action chosen by `seed` (for sequence tests that are not driven by the fuzzer).
    function step(uint256 seed) external {
        // The judge has no use for the verification actions (they are the last six): it keeps its sequence.
        uint256 a = seed % (judges ? ACTIONS - 6 : ACTIONS);
        uint256 s = uint256(keccak256(abi.encode(seed)));
        if (a == uint256(Action.Post)) this.postJob(s, s >> 8, s >> 16, s >> 80, s >> 144);
        else if (a == uint256(Action.Stake)) this.stake(s, s >> 8, s >> 200);
        else if (a == uint256(Action.Unbond)) this.requestUnbond(s, s >> 8);
        else if (a == uint256(Action.WithdrawStake)) this.withdrawStake(s, s >> 8);
        else if (a == uint256(Action.SetRoles)) this.setRoles(s, s >> 8);
        else if (a == uint256(Action.Claim)) this.claim(s, s >> 8);
        else if (a == uint256(Action.Commit)) this.commit(s, bytes32(s >> 8), s % 2 == 0);
        else if (a == uint256(Action.Reveal)) this.reveal(s);
        else if (a == uint256(Action.Finalize)) this.finalize(s);
        else if (a == uint256(Action.Expire)) this.expire(s, s >> 8);
        else if (a == uint256(Action.Dispute)) this.dispute(s, s >> 8);
        else if (a == uint256(Action.Settle)) this.settle(s, s % 2 == 0);
        else if (a == uint256(Action.WithdrawCredits)) this.withdrawCredits(s);
        else if (a == uint256(Action.WithdrawFees)) this.withdrawProtocolFees();
        else if (a == uint256(Action.AuditReward)) this.payAuditReward(s, s >> 8);
        else if (a == uint256(Action.Warp)) this.warp(s, s >> 8);
        else if (a == uint256(Action.Advance)) this.advance(s, s >> 8);
        else if (a == uint256(Action.Attack)) this.attack(s, s >> 8);
        else if (a == uint256(Action.SetParams)) this.setMarketParams(s);
        else if (a == uint256(Action.CommitAudit)) this.commitAudit(s, s % 3 != 0);
        else if (a == uint256(Action.RevealAudit)) this.revealAudit(s, s % 3 == 0);
        else if (a == uint256(Action.PenalizeAuditor)) this.penalizeAuditor(s, s >> 8);
        else if (a == uint256(Action.DrawCommittee)) this.drawCommittee(s);
        else if (a == uint256(Action.CommitVote)) this.commitVote(s, s >> 8);
        else this.revealVote(s);
    }

    // ================================================================== verification (Verification mode)

    /// @notice The drawn auditor of a committed, sampled job commits blind (a verifier not drawn can't).
    function commitAudit(uint256 jobSeed, bool agree) external {
        _begin(Action.CommitAudit);
        if (judges) return;
        uint256 id = _pick(jobSeed, _bit(IJobMarket.JobStatus.Committed), true);
        if (id != 0 && _commitBlindAudit(id, agree, jobSeed)) _done(Action.CommitAudit);
    }

    /// @notice An auditor reveals its audit (a late auditor commits first): Agree, or Disagree.
    function revealAudit(uint256 jobSeed, bool disagree) external {
        _begin(Action.RevealAudit);
        if (judges) return;
        uint256 n = jobCount;
        for (uint256 i; i < n; ++i) {
            uint256 id = (jobSeed % n + i) % n + 1;
            if (!_auditPending(id)) continue;
            _revealAudit(id, disagree);
            return;
        }
    }

    /// @notice Anyone penalizes an auditor that missed its audit; one call in four waits out a pending
    /// audit's window to do so.
    function penalizeAuditor(uint256 jobSeed, uint256 wait) external {
        _begin(Action.PenalizeAuditor);
        if (judges) return;
        uint256 n = jobCount;
        uint256 waitFor;
        for (uint256 i; i < n; ++i) {
            uint256 id = (jobSeed % n + i) % n + 1;
            IVerification.AuditState state = _auditState[id];
            if (state == IVerification.AuditState.Missed) return _penalize(id);
            bool open = state == IVerification.AuditState.Drawn || state == IVerification.AuditState.Committed;
            if (!open || !_revealedOnce(_jobs[id].status)) continue;
            if (_now > _jobs[id].deadline) return _penalize(id);
            if (waitFor == 0) waitFor = id;
        }
        if (waitFor == 0 || wait % 4 != 0) return;
        _warpTo(uint256(_jobs[waitFor].deadline) + 1);
        _penalize(waitFor);
    }

    /// @notice A keeper draws the committee of an open dispute.
    function drawCommittee(uint256 jobSeed) external {
        _begin(Action.DrawCommittee);
        if (judges) return;
        uint256 id = _pickDispute(jobSeed, IVerification.DisputeState.Open);
        if (id != 0 && _draw(id)) _done(Action.DrawCommittee);
    }

    /// @notice A committee member commits its vote.
    function commitVote(uint256 jobSeed, uint256 voteSeed) external {
        _begin(Action.CommitVote);
        if (judges) return;
        uint256 id = _pickDispute(jobSeed, IVerification.DisputeState.Voting);
        if (id != 0 && _commitVote(id, voteSeed)) _done(Action.CommitVote);
    }

    /// @notice A committee member reveals its vote (waiting out the commit phase if needed).
    function revealVote(uint256 jobSeed) external {
        _begin(Action.RevealVote);
        if (judges) return;
        uint256 id = _pickDispute(jobSeed, IVerification.DisputeState.Voting);
        if (id != 0 && _revealVote(id, jobSeed)) _done(Action.RevealVote);
    }

    /// @dev Returns whether an audit was committed.
    function _commitBlindAudit(uint256 id, bool agree, uint256 seed) internal returns (bool) {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id];
        address auditor = _blindAuditor(id, job);
        if (auditor == address(0)) return false;
        bytes32 root = agree ? _roots[id] : keccak256(abi.encode("audit", _roots[id]));
        bytes32 c = _auditCommitment(id, auditor, root);
        bytes memory data = abi.encodeCall(IVerification.commitAudit, (id, job, c));
        address other = _auditors[seed % _auditors.length];
        if (other == auditor) other = _auditors[(seed % _auditors.length + 1) % _auditors.length];
        _mustFailAt(address(verification), other, data, "audit commitment by a verifier not drawn");
        if (!_exec(auditor, address(verification), data, "commitAudit")) return false;
        _auditRoots[id] = root;
        IVerification.Audit memory a = verification.audit(id);
        _check(a.auditor == auditor && a.commitment == c, "commitAudit: recorded");
        _check(auditor != job.provider, "commitAudit: the provider never audits itself");
        ++auditsCommitted;
        _verifyStored(id, "commitAudit");
        return true;
    }

    /// @dev The auditor that may commit blind to committed job `id` now (zero: none may).
    function _blindAuditor(uint256 id, IJobMarket.Job memory job) internal returns (address auditor) {
        _rollTo(uint256(job.commitBlock) + market.params().seedDelay + 1);
        if (_auditState[id] != IVerification.AuditState.None) return address(0);
        (bytes32 sampling, bool sampled) = market.samplingOf(id, job.commitBlock);
        if (!sampled || sampling == bytes32(0)) return address(0);
        auditor = verification.auditorOf(id, job);
        if (_now > verification.auditCommitBy(job)) return address(0);
    }

    function _auditCommitment(uint256 id, address auditor, bytes32 root) internal view returns (bytes32) {
        return Commitments.hash(block.chainid, address(market), id, auditor, root, _auditSalt(id));
    }

    /// @dev The job's audit can be revealed now: committed (or drawn late), job revealed, window open.
    function _auditPending(uint256 id) internal view returns (bool) {
        IVerification.AuditState state = _auditState[id];
        IJobMarket.Job storage j = _jobs[id];
        bool revealed = j.status == IJobMarket.JobStatus.Revealed || j.status == IJobMarket.JobStatus.Disputed;
        bool open = state == IVerification.AuditState.Committed || state == IVerification.AuditState.Drawn;
        return open && revealed && _now <= j.deadline;
    }

    function _revealAudit(uint256 id, bool disagree) internal {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id];
        address auditor = _auditor[id];
        if (_auditState[id] == IVerification.AuditState.Drawn) {
            // A late audit (stale seed) commits now, having seen the provider's root.
            bytes32 late = disagree ? keccak256(abi.encode("audit", _roots[id])) : _roots[id];
            bytes memory commitCall =
                abi.encodeCall(IVerification.commitAudit, (id, job, _auditCommitment(id, auditor, late)));
            if (!_exec(auditor, address(verification), commitCall, "commitAudit (late)")) return;
            _auditRoots[id] = late;
            ++auditsCommitted;
        }
        bytes32 root = _auditRoots[id];
        IVerification.Verdict verdict = disagree ? IVerification.Verdict.Disagree : IVerification.Verdict.Agree;
        bool agrees = !disagree || root == job.result; // equal roots are an agreement whatever the verdict
        uint256 pool = market.auditPool();
        uint256 credits = market.credits(auditor);
        bytes memory data =
            abi.encodeCall(IVerification.revealAudit, (id, job, root, _auditSalt(id), verdict, "ipfs://audit"));
        _mustFailAt(address(verification), KEEPER, data, "audit revealed by another account");
        if (!_exec(auditor, address(verification), data, "revealAudit")) return;
        if (agrees) {
            uint256 reward = verification.params().auditReward;
            if (pool < reward) reward = pool;
            _check(market.credits(auditor) == credits + reward, "revealAudit: reward credited");
            _check(market.auditPool() == pool - reward, "revealAudit: paid from the audit pool");
            _check(_auditState[id] == IVerification.AuditState.Agreed, "revealAudit: agreed");
            ++auditsAgreed;
        } else {
            _check(_auditState[id] == IVerification.AuditState.Disagreed, "revealAudit: disagreed");
            if (job.status == IJobMarket.JobStatus.Revealed) {
                DisputeModel storage m = _disputes[id];
                bool auditorsDispute = m.challenger == auditor && m.byAuditor && m.bond == 0;
                _check(_jobs[id].status == IJobMarket.JobStatus.Disputed && auditorsDispute, "revealAudit: a dispute");
            }
            ++auditsDisagreed;
        }
        _verifyStored(id, "revealAudit");
        _done(Action.RevealAudit);
    }

    function _revealedOnce(IJobMarket.JobStatus s) internal pure returns (bool) {
        return s == IJobMarket.JobStatus.Revealed || s == IJobMarket.JobStatus.Disputed
            || s == IJobMarket.JobStatus.Finalized || s == IJobMarket.JobStatus.Slashed;
    }

    function _penalize(uint256 id) internal {
        _focus = id;
        address auditor = _auditor[id];
        IStaking.AccountView memory a = staking.account(auditor);
        uint256 available = a.stake + a.unbonding;
        uint256 penalty = verification.params().auditorPenalty;
        uint256 taken = penalty < available ? penalty : available;
        uint256 treasury = verification.treasury();
        uint256 held = token.balanceOf(address(verification));
        bytes memory data = abi.encodeCall(IVerification.penalizeAuditor, (id, _jobs[id]));
        if (!_exec(KEEPER, address(verification), data, "penalizeAuditor")) return;
        IStaking.AccountView memory b = staking.account(auditor);
        _check(b.stake + b.unbonding + taken == available, "penalizeAuditor: taken from the auditor's stake");
        _check(verification.treasury() == treasury + taken, "penalizeAuditor: to the treasury");
        _check(token.balanceOf(address(verification)) == held + taken, "penalizeAuditor: received");
        _mustFailAt(address(verification), KEEPER, data, "auditor penalized twice");
        ++auditorsPenalized;
        _verifyStored(id, "penalizeAuditor");
        _done(Action.PenalizeAuditor);
    }

    function _pickDispute(uint256 seed, IVerification.DisputeState state) internal returns (uint256) {
        uint256 n = jobCount;
        for (uint256 i; i < n; ++i) {
            uint256 id = (seed % n + i) % n + 1;
            if (_disputes[id].state != state || _jobs[id].status != IJobMarket.JobStatus.Disputed) continue;
            _focus = id;
            return id;
        }
        return 0;
    }

    /// @dev Draws the committee once its seed block is mined, or checks that a draw too late is refused.
    function _draw(uint256 id) internal returns (bool) {
        _focus = id;
        DisputeModel storage m = _disputes[id];
        _rollTo(m.openedBlock + market.params().seedDelay + 1);
        IVerification.VerificationParams memory p = verification.params();
        uint256 end = m.openedAt + market.params().disputeDuration;
        uint256 voting = uint256(p.voteCommitTimeout) + p.voteRevealTimeout;
        bytes memory data = abi.encodeCall(IVerification.drawCommittee, (id));
        if (end < voting || _now > end - voting) {
            _mustFailAt(address(verification), KEEPER, data, "committee drawn too late to vote in time");
            return false;
        }
        if (!_exec(KEEPER, address(verification), data, "drawCommittee")) return false;
        address[] memory committee = verification.dispute(id).committee;
        uint256 size = committee.length;
        _check(size <= p.committeeSize && (size == 0 || size % 2 == 1), "drawCommittee: an odd committee");
        for (uint256 i; i < size; ++i) {
            address member = committee[i];
            bool excluded = member == _jobs[id].provider || member == m.challenger || member == _auditor[id];
            _check(!excluded && staking.isVerifier(member), "drawCommittee: an eligible member");
            for (uint256 k; k < i; ++k) _check(committee[k] != member, "drawCommittee: distinct members");
        }
        if (size != 0) {
            _check(m.commitBy == _now + p.voteCommitTimeout, "drawCommittee: voteCommitBy");
            _check(m.revealBy == m.commitBy + p.voteRevealTimeout, "drawCommittee: voteRevealBy");
            ++committeesDrawn;
        }
        _verifyStored(id, "drawCommittee");
        return true;
    }

    /// @dev A member that has not committed commits ProviderCorrect or ProviderWrong; a second commitment
    /// by it must fail.
    function _commitVote(uint256 id, uint256 seed) internal returns (bool) {
        DisputeModel storage m = _disputes[id];
        if (_now > m.commitBy) return false;
        uint256 size = m.committee.length;
        for (uint256 i; i < size; ++i) {
            address member = m.committee[(seed % size + i) % size];
            if (_votes[id][member] != 0) continue;
            uint256 vote = (seed >> 8) % 2 + 1;
            bytes memory data = abi.encodeCall(IVerification.commitVote, (id, _voteHash(id, member, vote)));
            if (!_exec(member, address(verification), data, "commitVote")) return false;
            _votes[id][member] = vote;
            (bytes32 commitment,) = verification.voteOf(id, member);
            _check(commitment == _voteHash(id, member, vote), "commitVote: recorded");
            _mustFailAt(address(verification), member, data, "vote committed twice");
            ++votesCommitted;
            _verifyStored(id, "commitVote");
            return true;
        }
        return false;
    }

    /// @dev A member that committed reveals; the commit phase is waited out when needed. A second reveal
    /// must fail.
    function _revealVote(uint256 id, uint256 seed) internal returns (bool) {
        DisputeModel storage m = _disputes[id];
        uint256 size = m.committee.length;
        for (uint256 i; i < size; ++i) {
            address member = m.committee[(seed % size + i) % size];
            uint256 vote = _votes[id][member];
            if (vote == 0 || _voteRevealed[id][member]) continue;
            if (m.commits < size && _now <= m.commitBy) _warpTo(m.commitBy + 1);
            if (_now > m.revealBy) return false;
            bytes memory data =
                abi.encodeCall(IVerification.revealVote, (id, IVerification.Vote(vote), _voteSalt(id, member)));
            if (!_exec(member, address(verification), data, "revealVote")) return false;
            (, IVerification.Vote revealed) = verification.voteOf(id, member);
            _check(uint256(revealed) == vote, "revealVote: the committed vote");
            _mustFailAt(address(verification), member, data, "vote revealed twice");
            ++votesRevealed;
            _verifyStored(id, "revealVote");
            return true;
        }
        return false;
    }

    /// @dev One step of a dispute: draw, a vote committed or revealed, or the resolution; some members stay
    /// silent.
    function _advanceDispute(uint256 id, uint256 choice) internal {
        DisputeModel storage m = _disputes[id];
        if (m.state == IVerification.DisputeState.Open) {
            if (choice % 4 != 0 && _draw(id)) return;
        } else if (m.state == IVerification.DisputeState.Voting) {
            if (choice % 5 != 0 && _commitVote(id, choice >> 4)) return;
            if (choice % 5 != 1 && _revealVote(id, choice >> 4)) return;
        }
        _resolve(id, _jobs[id]);
    }

    /// @dev The owner withdraws Verification's treasury (penalties, shares of slashes and bonds) to TREASURY.
    function _withdrawTreasury() internal {
        uint256 amount = verification.treasury();
        if (amount == 0) return;
        uint256 balance = token.balanceOf(TREASURY);
        bytes memory data = abi.encodeCall(IVerification.withdrawTreasury, (TREASURY));
        if (!_exec(owner, address(verification), data, "withdrawTreasury")) return;
        _check(token.balanceOf(TREASURY) == balance + amount, "withdrawTreasury: paid");
        _check(verification.treasury() == 0, "withdrawTreasury: zeroed");
        ++treasuryWithdrawals;
    }

    function _auditSalt(uint256 id) internal pure returns (bytes32) {
        return keccak256(abi.encode("audit salt", id));
    }

    function _voteSalt(uint256 id, address voter) internal pure returns (bytes32) {
        return keccak256(abi.encode("vote salt", id, voter));
    }

    function _voteHash(uint256 id, address voter, uint256 vote) internal view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(verification), id, voter, uint8(vote), _voteSalt(id, voter)));
    }

    // ================================================================== views for the invariants

    function providers() external view returns (address[] memory) {
        return _providers;
    }

    function auditors() external view returns (address[] memory) {
        return _auditors;
    }

    /// @notice Every account that ever stakes: the providers, then the auditor accounts.
    function stakers() external view returns (address[] memory all) {
        all = new address[](_providers.length + _auditors.length);
        for (uint256 i; i < _providers.length; ++i) all[i] = _providers[i];
        for (uint256 i; i < _auditors.length; ++i) all[_providers.length + i] = _auditors[i];
    }

    /// @notice Every account that can hold tokens or credits in this system, contracts excluded.
    function accounts() public view returns (address[] memory all) {
        all = new address[](_providers.length + _dapps.length + _auditors.length + 3);
        uint256 n;
        for (uint256 i; i < _providers.length; ++i) all[n++] = _providers[i];
        for (uint256 i; i < _dapps.length; ++i) all[n++] = _dapps[i];
        for (uint256 i; i < _auditors.length; ++i) all[n++] = _auditors[i];
        all[n++] = TREASURY;
        all[n++] = KEEPER;
        all[n++] = address(this);
    }

    function jobState(uint256 jobId) external view returns (IJobMarket.Job memory) {
        return _jobs[jobId];
    }

    /// @notice Every job's state (index 0 is job 1), with its pay and slash counts: one call per check.
    /// @dev Per job: the most Staking.Slashed events one account got, and Verification's events that must
    /// happen at most once.
    struct JobCounts {
        uint256 maxSlashesOfOne;
        uint256 challenges;
        uint256 resolutions;
        uint256 bondPayouts;
        uint256 auditRewards;
        uint256 auditorPenalties;
    }

    function jobCounts() external view returns (JobCounts[] memory counts) {
        uint256 n = jobCount;
        counts = new JobCounts[](n);
        for (uint256 i; i < n; ++i) {
            uint256 id = i + 1;
            counts[i] = JobCounts(
                maxSlashesOfOne[id],
                challengesOpened[id],
                disputesResolved[id],
                bondPayouts[id],
                auditRewards[id],
                auditorPenalties[id]
            );
        }
    }

    function allJobs()
        external
        view
        returns (IJobMarket.Job[] memory jobs, uint256[] memory pays, uint256[] memory slashes)
    {
        uint256 n = jobCount;
        jobs = new IJobMarket.Job[](n);
        pays = new uint256[](n);
        slashes = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            jobs[i] = _jobs[i + 1];
            pays[i] = payCount[i + 1];
            slashes[i] = slashCount[i + 1];
        }
    }

    // ================================================================== lifecycle steps

    function _post(uint256 dappSeed, uint256 modelSeed, uint256 fee, uint256 claimDelay, uint256 flags) internal {
        // One post in three comes from the consumer contract (callbacks), the rest from EOAs.
        address dapp = dappSeed % 3 == 0 ? address(consumer) : _dapps[(dappSeed >> 2) % (_dapps.length - 1)];
        uint256 modelId = _models[modelSeed % _models.length];
        (, uint96 floor,) = registry.terms(modelId);
        fee = flags % 16 == 0 ? _bound(fee, floor, 1_000_000 ether) : _bound(fee, floor, floor + 500 ether);
        uint256 maxDelay = market.params().maxClaimDelay;
        claimDelay = (flags >> 4) % 2 == 0 ? _bound(claimDelay, 1, maxDelay < 300 ? maxDelay : 300)
            : _bound(claimDelay, 1, maxDelay);

        IJobMarket.JobRequest memory req;
        req.modelId = modelId;
        req.fee = fee;
        req.claimBy = uint64(_now + claimDelay);
        if ((flags >> 5) % 2 == 0) {
            req.inlineInput = abi.encodePacked("DTN1", flags, dappSeed); // a small inline input
        } else {
            req.inputHash = keccak256(abi.encode("input", flags));
            req.inputURI = "ipfs://input";
        }
        if (dapp == address(consumer)) {
            // Half the consumer's jobs accept their callback; a quarter revert, a quarter burn all the gas.
            uint256 mode = (flags >> 6) % 4;
            consumer.setMode(mode < 2 ? MockConsumer.Mode.Accept : MockConsumer.Mode(mode - 1));
            req.callbackGasLimit = (flags >> 8) % 4 == 0 ? 0 : uint32(_bound(flags >> 10, 150_000, 400_000));
        }

        _mint(dapp, fee);
        uint256 before = jobCount;
        bool ok;
        if (dapp == address(consumer)) {
            ok = _exec(address(this), address(consumer), abi.encodeCall(MockConsumer.post, (req)), "post via consumer");
        } else {
            vm.prank(dapp);
            token.approve(address(market), fee);
            ok = _exec(dapp, address(market), abi.encodeCall(IJobMarket.postJob, (req)), "postJob");
        }
        if (!ok) return;
        uint256 id = jobCount;
        _check(id == before + 1 && market.jobCount() == id, "post: one new job");
        IJobMarket.Job memory j = _jobs[id];
        _check(j.poster == dapp && j.fee == fee && j.deadline == req.claimBy, "post: poster, fee, claimBy");
        (,, uint96 collateral) = registry.terms(modelId);
        _check(j.collateral == collateral && j.modelId == modelId, "post: model terms");
        _check(j.callbackGasLimit == req.callbackGasLimit, "post: callback gas");
        _verifyStored(id, "post");
        _done(Action.Post);
    }

    function _stake(address who, uint256 amount, uint8 roles) internal {
        _mint(who, amount);
        vm.prank(who);
        token.approve(address(staking), amount);
        IStaking.AccountView memory a = staking.account(who);
        uint256 totalStaked = staking.totalStaked();
        if (!_exec(who, address(staking), abi.encodeCall(IStaking.stake, (amount, roles)), "stake")) return;
        IStaking.AccountView memory b = staking.account(who);
        _check(b.stake == a.stake + amount && b.locked == a.locked, "stake: account");
        _check(b.roles == roles, "stake: roles");
        _check(staking.totalStaked() == totalStaked + amount, "stake: totalStaked");
        _done(Action.Stake);
    }

    function _claim(uint256 id, uint256 providerSeed) internal {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id];
        address provider = _claimant(providerSeed, job.collateral);
        uint256 locked = staking.account(provider).locked;
        if (!_exec(provider, address(market), abi.encodeCall(IJobMarket.claim, (id, job)), "claim")) return;
        IJobMarket.Job memory j = _jobs[id];
        _check(j.status == IJobMarket.JobStatus.Claimed && j.provider == provider, "claim: provider");
        _check(j.deadline == _now + market.params().commitTimeout, "claim: commitBy");
        _check(staking.account(provider).locked == locked + job.collateral, "claim: collateral locked");
        _verifyStored(id, "claim");
        _done(Action.Claim);
    }

    /// @dev A provider that can claim a job of `collateral`; tops one up when none can.
    function _claimant(uint256 seed, uint256 collateral) internal returns (address) {
        for (uint256 i; i < _providers.length; ++i) {
            address p = _providers[(seed % _providers.length + i) % _providers.length];
            IStaking.AccountView memory a = staking.account(p);
            if (a.roles & PROVIDER != 0 && a.stake >= a.locked + collateral) return p;
        }
        address chosen = _providers[seed % _providers.length];
        IStaking.AccountView memory c = staking.account(chosen);
        uint256 missing = c.stake >= c.locked + collateral ? 0 : c.locked + collateral - c.stake;
        _stake(chosen, missing + 1 ether, c.roles | PROVIDER);
        return chosen;
    }

    function _commit(uint256 id, bytes32 outputSeed, bool inlineOutput) internal {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id];
        bytes32 root;
        if (inlineOutput) {
            bytes memory output = abi.encodePacked("DTN1", outputSeed, id);
            _outputs[id] = output;
            root = OutputRoot.leaf(0, output);
        } else {
            delete _outputs[id];
            root = keccak256(abi.encode(outputSeed, id));
        }
        bytes32 salt = keccak256(abi.encode("salt", job.provider, id));
        _roots[id] = root;
        _salts[id] = salt;
        bytes32 commitment = Commitments.hash(block.chainid, address(market), id, job.provider, root, salt);
        bytes memory data = abi.encodeCall(IJobMarket.commit, (id, job, commitment));
        if (!_exec(job.provider, address(market), data, "commit")) return;
        IJobMarket.Job memory j = _jobs[id];
        _check(j.status == IJobMarket.JobStatus.Committed && j.result == commitment, "commit: commitment");
        _check(j.deadline == _now + market.params().revealTimeout, "commit: revealBy");
        _check(j.commitBlock == _block, "commit: block");
        _verifyStored(id, "commit");
        _done(Action.Commit);
    }

    function _reveal(uint256 id) internal {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id];
        _rollTo(uint256(job.commitBlock) + market.params().seedDelay + 1);
        RevealAudit memory audit;
        if (!judges) audit = _beforeSampledReveal(id, job);
        bytes memory output = _outputs[id];
        bytes memory data = abi.encodeCall(IJobMarket.reveal, (id, job, _roots[id], _salts[id], "ipfs://out", output));
        if (!_exec(job.provider, address(market), data, "reveal")) return;
        IJobMarket.Job memory j = _jobs[id];
        _check(j.status == IJobMarket.JobStatus.Revealed && j.result == _roots[id], "reveal: output root");
        _check(j.deadline == _now + market.params().challengeWindow, "reveal: challenge end");
        _check(j.inlineOutput == (output.length != 0), "reveal: inline flag");
        if (!judges) _checkRevealedAudit(id, audit);
        _verifyStored(id, "reveal");
        _done(Action.Reveal);
    }

    /// @dev What the reveal of a job should do to its audit, worked out just before it.
    struct RevealAudit {
        bool sampled;
        bool fresh; // the seed is readable
        bool committed; // the auditor committed blind
        address auditor; // drawn from the fresh seed (zero: nobody eligible)
    }

    /// @dev A sampled job's reveal waits for its auditor: mostly the auditor commits blind first, else the
    /// provider waits out auditCommitBy and the auditor misses (a reveal before that must fail). Now and
    /// then the provider waits until its seed is out of reach (257 blocks): the job is sampled and audited
    /// late, after the reveal.
    function _beforeSampledReveal(uint256 id, IJobMarket.Job memory job) internal returns (RevealAudit memory r) {
        uint256 coin = uint256(keccak256(abi.encode("audit", id, _block)));
        if (coin % 7 == 3 && _auditState[id] == IVerification.AuditState.None) _rollBlocks(257);
        bytes32 seed;
        (seed, r.sampled) = market.samplingOf(id, job.commitBlock);
        r.fresh = seed != bytes32(0);
        r.committed = _auditState[id] == IVerification.AuditState.Committed;
        if (!r.sampled || !r.fresh || r.committed) return r;
        r.auditor = verification.auditorOf(id, job);
        if (r.auditor == address(0)) return r;
        uint256 commitBy = verification.auditCommitBy(job);
        if (_now > commitBy) return r;
        if (coin % 3 != 0 && _commitBlindAudit(id, coin % 2 == 0, coin)) {
            r.committed = true;
            return r;
        }
        bytes memory early = abi.encodeCall(IJobMarket.reveal, (id, job, _roots[id], _salts[id], "ipfs://out", _outputs[id]));
        _mustFail(job.provider, early, "reveal before the auditor's deadline");
        _warpTo(commitBy + 1);
    }

    /// @dev The reveal recorded the audit as worked out: a blind commitment stands, a drawn auditor that did
    /// not commit missed, a stale seed draws a late auditor.
    function _checkRevealedAudit(uint256 id, RevealAudit memory r) internal {
        IVerification.Audit memory a = verification.audit(id);
        _check(_jobs[id].sampled == r.sampled, "reveal: sampled as samplingOf said");
        if (r.committed) {
            _check(a.state == IVerification.AuditState.Committed, "reveal: the blind commitment stands");
        } else if (r.sampled && r.fresh && r.auditor != address(0)) {
            _check(a.state == IVerification.AuditState.Missed && a.auditor == r.auditor, "reveal: the auditor missed");
            ++auditorsMissed;
        } else if (r.sampled && !r.fresh) {
            bool drawn = a.state == IVerification.AuditState.Drawn;
            _check(drawn || a.state == IVerification.AuditState.None, "reveal: a late audit");
            if (drawn) {
                _check(a.auditor != _jobs[id].provider, "reveal: a late auditor is not the provider");
                ++lateAudits;
            }
        } else {
            _check(a.state == IVerification.AuditState.None, "reveal: no audit");
        }
    }

    struct PaySnapshot {
        uint256 providerCredits;
        uint256 protocolFees;
        uint256 auditPool;
        uint256 locked;
        uint256 stake;
        uint256 payout;
        uint256 protocolFee;
        uint256 auditLevy;
    }

    function _finalize(uint256 id) internal {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id];
        if (_now <= job.deadline) _warpTo(uint256(job.deadline) + 1);
        PaySnapshot memory s = _paySnapshot(job);
        uint256 deliveries = consumer.deliveries();
        bytes memory data = job.inlineOutput
            ? abi.encodeCall(IJobMarket.finalizeWithOutput, (id, job, _outputs[id]))
            : abi.encodeCall(IJobMarket.finalize, (id, job));
        if (!_exec(KEEPER, address(market), data, "finalize")) return;
        _checkPaid(id, job, s, "finalize");
        _checkCallback(id, job, deliveries, "finalize");
        _done(Action.Finalize);
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
            ++callbacksDelivered;
            _check(consumer.delivered(id) == job.result, string.concat(what, ": callback got the output root"));
            bytes32 outputHash = keccak256(_outputs[id]);
            _check(consumer.deliveredOutput(id) == outputHash, string.concat(what, ": callback got the output"));
        } else {
            ++callbacksFailed;
            bool accepts = consumer.modeOf(id) == MockConsumer.Mode.Accept;
            _check(!accepts, string.concat(what, ": accepting consumer not called"));
        }
    }

    /// @dev What a keeper or the verification role hands the market for the consumer: the revealed inline
    /// output when there is one.
    function _deliverable(uint256 id, IJobMarket.Job memory job) internal view returns (bytes memory) {
        return job.inlineOutput ? _outputs[id] : bytes("");
    }

    function _paySnapshot(IJobMarket.Job memory job) internal view returns (PaySnapshot memory s) {
        s.providerCredits = market.credits(job.provider);
        s.protocolFees = market.protocolFees();
        s.auditPool = market.auditPool();
        IStaking.AccountView memory a = staking.account(job.provider);
        s.locked = a.locked;
        s.stake = a.stake;
        IJobMarket.MarketParams memory p = market.params();
        (s.payout, s.protocolFee, s.auditLevy) = FeeMath.splitFee(job.fee, p.protocolFeeBps, p.auditLevyBps);
    }

    /// @dev The job's result stands: the provider is paid, the protocol takes its shares, collateral is back.
    function _checkPaid(uint256 id, IJobMarket.Job memory job, PaySnapshot memory s, string memory what) internal {
        IJobMarket.Job memory j = _jobs[id];
        _check(j.status == IJobMarket.JobStatus.Finalized, string.concat(what, ": finalized"));
        _check(market.credits(job.provider) == s.providerCredits + s.payout, string.concat(what, ": payout"));
        _check(market.protocolFees() == s.protocolFees + s.protocolFee, string.concat(what, ": protocol fee"));
        _check(market.auditPool() == s.auditPool + s.auditLevy, string.concat(what, ": audit levy"));
        IStaking.AccountView memory a = staking.account(job.provider);
        _check(a.locked + job.collateral == s.locked, string.concat(what, ": collateral unlocked"));
        _check(a.stake == s.stake, string.concat(what, ": stake untouched"));
        ghostProtocolFeesAccrued += s.protocolFee;
        ghostAuditLevied += s.auditLevy;
        _verifyStored(id, what);
    }

    function _expire(uint256 id) internal {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id];
        if (_now <= job.deadline) _warpTo(uint256(job.deadline) + 1);
        bool claimed = job.status != IJobMarket.JobStatus.Posted;
        uint256 penalty = claimed ? FeeMath.share(job.collateral, market.params().expiryPenaltyBps) : 0;
        uint256 posterCredits = market.credits(job.poster);
        IStaking.AccountView memory a = claimed ? staking.account(job.provider) : staking.account(address(0));
        uint256 marketBalance = token.balanceOf(address(market));
        if (!_exec(KEEPER, address(market), abi.encodeCall(IJobMarket.expire, (id, job)), "expire")) return;
        _check(_jobs[id].status == IJobMarket.JobStatus.Expired, "expire: expired");
        _check(market.credits(job.poster) == posterCredits + job.fee + penalty, "expire: refund + penalty credited");
        _check(token.balanceOf(address(market)) == marketBalance + penalty, "expire: penalty reaches the market");
        if (claimed) {
            IStaking.AccountView memory b = staking.account(job.provider);
            // The penalty is at most the job's own collateral: the active stake always covers it.
            _check(b.stake + penalty == a.stake, "expire: penalty taken from the stake");
            _check(b.unbonding == a.unbonding, "expire: unbonding untouched");
            _check(b.locked + job.collateral == a.locked, "expire: collateral released");
        }
        ++expiredFrom[uint8(job.status)];
        _verifyStored(id, "expire");
        _done(Action.Expire);
    }

    function _dispute(uint256 id, uint256 challengerSeed) internal {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id];
        bool ok;
        if (judges) {
            bytes memory data = abi.encodeCall(IJobMarket.openDispute, (id, job));
            ok = _exec(address(this), address(market), data, "openDispute");
        } else {
            address challenger = _auditors[challengerSeed % _auditors.length];
            uint256 bond = verification.params().challengeBond;
            _mint(challenger, bond);
            vm.prank(challenger);
            token.approve(address(verification), bond);
            uint256 held = token.balanceOf(address(verification));
            bytes memory data = abi.encodeCall(IVerification.challenge, (id, job));
            ok = _exec(challenger, address(verification), data, "challenge");
            if (ok) _check(token.balanceOf(address(verification)) == held + bond, "challenge: bond held");
        }
        if (!ok) return;
        _check(_jobs[id].status == IJobMarket.JobStatus.Disputed, "dispute: disputed");
        _verifyStored(id, "dispute");
        _done(Action.Dispute);
    }

    function _settle(uint256 id, bool providerFaulted) internal {
        _focus = id;
        IJobMarket.Job memory job = _jobs[id];
        if (!judges) {
            _resolve(id, job);
            return;
        }
        if (!providerFaulted) {
            PaySnapshot memory s = _paySnapshot(job);
            uint256 deliveries = consumer.deliveries();
            bytes memory upheld =
                abi.encodeCall(IJobMarket.settleDispute, (id, job, false, TREASURY, _deliverable(id, job)));
            if (!_exec(address(this), address(market), upheld, "settleDispute(upheld)")) return;
            _checkPaid(id, job, s, "settle upheld");
            _checkCallback(id, job, deliveries, "settle upheld");
            ++upheldSettlements;
            _done(Action.Settle);
            return;
        }
        uint256 posterCredits = market.credits(job.poster);
        uint256 treasury = token.balanceOf(TREASURY);
        IStaking.AccountView memory a = staking.account(job.provider);
        bytes memory data = abi.encodeCall(IJobMarket.settleDispute, (id, job, true, TREASURY, bytes("")));
        if (!_exec(address(this), address(market), data, "settleDispute(faulted)")) return;
        IStaking.AccountView memory b = staking.account(job.provider);
        _check(_jobs[id].status == IJobMarket.JobStatus.Slashed, "settle faulted: slashed");
        _check(market.credits(job.poster) == posterCredits + job.fee, "settle faulted: poster refunded");
        // Unbonding can't shelter stake behind an open job: the whole collateral is always there.
        _check(token.balanceOf(TREASURY) == treasury + job.collateral, "settle faulted: whole collateral slashed");
        _check(b.stake + job.collateral == a.stake, "settle faulted: stake");
        _check(b.locked + job.collateral == a.locked, "settle faulted: lock released");
        _check(b.unbonding == a.unbonding, "settle faulted: unbonding untouched");
        ghostSlashedToTreasury += job.collateral;
        ++faultedSettlements;
        _verifyStored(id, "settle faulted");
        _done(Action.Settle);
    }

    /// @dev Verification mode: resolves once the vote (or, without a committee, the dispute duration) is
    /// over. The verdict is the majority of the votes the handler revealed; the settlement is checked
    /// against it, and Verification ends up owing exactly what it received plus the bond it held.
    function _resolve(uint256 id, IJobMarket.Job memory job) internal {
        _warpToResolvable(id);
        DisputeModel storage m = _disputes[id];
        bool faulted = m.wrong > m.correct;
        bool overturned = !faulted && m.correct > m.wrong;
        ResolveSnapshot memory r = _resolveSnapshot(id, job);
        PaySnapshot memory s = _paySnapshot(job);
        uint256 deliveries = consumer.deliveries();
        bytes memory data = abi.encodeCall(IVerification.resolve, (id, job, _deliverable(id, job)));
        if (!_exec(KEEPER, address(verification), data, "resolve")) return;

        if (faulted) {
            IStaking.AccountView memory b = staking.account(job.provider);
            _check(_jobs[id].status == IJobMarket.JobStatus.Slashed, "resolve faulted: slashed");
            _check(market.credits(job.poster) == r.posterCredits + job.fee, "resolve faulted: poster refunded");
            _check(b.stake + job.collateral == r.providerStake, "resolve faulted: the whole collateral slashed");
            _check(verification.credits(r.challenger) >= r.challengerCredits + r.bond, "resolve faulted: bond back");
            ++faultedSettlements;
            ++committeeFaulted;
        } else {
            _checkPaid(id, job, s, "resolve");
            _checkCallback(id, job, deliveries, "resolve");
            uint256 back = overturned ? 0 : r.bond;
            _check(verification.credits(r.challenger) == r.challengerCredits + back, "resolve upheld: bond back or lost");
            ++upheldSettlements;
            if (overturned) ++committeeUpheld;
            else ++noMajority;
        }
        uint256 arrived = token.balanceOf(address(verification)) - r.held;
        uint256 owed = _verificationOwed();
        _check(owed == r.owed + arrived + r.bond, "resolve: Verification owes what arrived and the bond it held");
        _check(verification.dispute(id).state == IVerification.DisputeState.Resolved, "resolve: resolved");
        _check(verification.dispute(id).providerFaulted == faulted, "resolve: the majority's verdict");
        _mustFailAt(address(verification), KEEPER, data, "dispute resolved twice");
        _verifyStored(id, "resolve");
        _done(Action.Settle);
    }

    struct ResolveSnapshot {
        address challenger;
        uint256 bond;
        uint256 challengerCredits;
        uint256 posterCredits;
        uint256 providerStake;
        uint256 held;
        uint256 owed;
    }

    function _resolveSnapshot(uint256 id, IJobMarket.Job memory job) internal view returns (ResolveSnapshot memory r) {
        DisputeModel storage m = _disputes[id];
        r.challenger = m.challenger;
        r.bond = m.bond;
        r.challengerCredits = verification.credits(m.challenger);
        r.posterCredits = market.credits(job.poster);
        r.providerStake = staking.account(job.provider).stake;
        r.held = token.balanceOf(address(verification));
        r.owed = _verificationOwed();
    }

    /// @dev What Verification owes: every account's credits and the treasury.
    function _verificationOwed() internal view returns (uint256 owed) {
        address[] memory everyone = accounts();
        for (uint256 i; i < everyone.length; ++i) {
            owed += verification.credits(everyone[i]);
        }
        owed += verification.treasury();
    }

    /// @dev Moves the clock to where `resolve` is allowed: past the vote reveal deadline (unless every
    /// member revealed), or, without a committee, past the dispute duration.
    function _warpToResolvable(uint256 id) internal {
        DisputeModel storage m = _disputes[id];
        if (m.state == IVerification.DisputeState.Open) {
            uint256 at = m.openedAt + market.params().disputeDuration;
            if (_now <= at) _warpTo(at + 1);
        } else if (m.state == IVerification.DisputeState.Voting) {
            if (m.correct + m.wrong < m.committee.length && _now <= m.revealBy) _warpTo(m.revealBy + 1);
        }
    }

    function _withdrawMarketCredits(address who) internal {
        uint256 amount = market.credits(who);
        uint256 balance = token.balanceOf(who);
        bool ok = who == address(consumer)
            ? _exec(address(this), address(consumer), abi.encodeCall(MockConsumer.withdraw, ()), "consumer withdraw")
            : _exec(who, address(market), abi.encodeCall(IJobMarket.withdraw, ()), "withdraw");
        if (!ok) return;
        _check(token.balanceOf(who) == balance + amount, "withdraw: paid the credits");
        _check(market.credits(who) == 0, "withdraw: credits zeroed");
        _done(Action.WithdrawCredits);
    }

    function _withdrawVerificationCredits(address who) internal {
        uint256 amount = verification.credits(who);
        uint256 balance = token.balanceOf(who);
        if (!_exec(who, address(verification), abi.encodeCall(IVerification.withdraw, ()), "bond withdraw")) return;
        _check(token.balanceOf(who) == balance + amount, "bond withdraw: paid");
        _done(Action.WithdrawCredits);
    }

    // ================================================================== calls and events

    /// @dev One call that the handler expects to succeed. A revert is recorded as unexpected (an action the
    /// protocol should allow was refused: a liveness failure or a handler bug); the events are folded in.
    function _exec(address sender, address target, bytes memory data, string memory what) internal returns (bool ok) {
        vm.recordLogs();
        vm.prank(sender);
        bytes memory ret;
        (ok, ret) = target.call(data);
        if (!ok) {
            _discardLogs();
            ++unexpectedReverts;
            if (bytes(firstUnexpectedRevert).length == 0) {
                firstUnexpectedRevert =
                    string.concat(what, " reverted, job ", vm.toString(_focus), ", data ", _hex(ret));
            }
            return false;
        }
        _fold(vm.getRecordedLogs());
    }

    /// @dev A call to the market that must revert; if it goes through, its events are folded in (so the
    /// model stays true) and the success is recorded as a failure.
    function _mustFail(address sender, bytes memory data, string memory what) internal {
        _mustFailAt(address(market), sender, data, what);
    }

    function _mustFailAt(address target, address sender, bytes memory data, string memory what) internal {
        vm.recordLogs();
        vm.prank(sender);
        (bool ok,) = target.call(data);
        if (!ok) {
            _discardLogs();
            return;
        }
        _fold(vm.getRecordedLogs());
        _fail(string.concat("attack succeeded: ", what));
    }

    function _discardLogs() internal {
        vm.getRecordedLogs();
    }

    /// @dev Applies the market's (and Verification's and Staking's) events, as offchain/chain/jobs.ts does.
    function _fold(Vm.Log[] memory logs) internal {
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.topics.length == 0) continue;
            if (log.emitter == address(market)) _foldMarket(log);
            else if (log.emitter == address(staking)) _foldStaking(log);
            else if (log.emitter == address(verification)) _foldVerification(log);
        }
    }

    function _foldMarket(Vm.Log memory log) internal {
        bytes32 t = log.topics[0];
        if (t == IJobMarket.Credited.selector) {
            (uint256 amount) = abi.decode(log.data, (uint256));
            ghostCredited += amount;
            return;
        }
        if (t == IJobMarket.Withdrawal.selector) {
            ghostWithdrawn += abi.decode(log.data, (uint256));
            return;
        }
        if (t == IJobMarket.ProtocolFeesWithdrawn.selector) {
            ghostProtocolFeesWithdrawn += abi.decode(log.data, (uint256));
            return;
        }
        if (t == IJobMarket.AuditRewardPaid.selector) {
            ghostAuditPaid += abi.decode(log.data, (uint256));
            ++auditRewards[_focus];
            return;
        }
        if (t == IJobMarket.JobPosted.selector) {
            _foldPosted(log);
            return;
        }
        if (log.topics.length < 2) return;
        uint256 id = uint256(log.topics[1]);
        IJobMarket.Job memory j = _jobs[id];
        IJobMarket.JobStatus next;
        if (t == IJobMarket.JobClaimed.selector) {
            next = IJobMarket.JobStatus.Claimed;
            j.provider = address(uint160(uint256(log.topics[2])));
            j.deadline = uint32(abi.decode(log.data, (uint256)));
        } else if (t == IJobMarket.ResultCommitted.selector) {
            next = IJobMarket.JobStatus.Committed;
            j.provider = address(uint160(uint256(log.topics[2])));
            (bytes32 commitment, uint256 revealBy) = abi.decode(log.data, (bytes32, uint256));
            j.result = commitment;
            j.deadline = uint32(revealBy);
            j.commitBlock = uint64(_block);
        } else if (t == IJobMarket.ResultRevealed.selector) {
            next = IJobMarket.JobStatus.Revealed;
            (bytes32 root, uint256 challengeEnd,, bytes memory inlineOutput, bool sampled) =
                abi.decode(log.data, (bytes32, uint256, string, bytes, bool));
            j.result = root;
            j.deadline = uint32(challengeEnd);
            j.inlineOutput = inlineOutput.length != 0;
            j.sampled = sampled;
        } else if (t == IJobMarket.JobDisputed.selector) {
            next = IJobMarket.JobStatus.Disputed;
        } else if (t == IJobMarket.JobFinalized.selector) {
            next = IJobMarket.JobStatus.Finalized;
            ghostCredited += abi.decode(log.data, (uint256)); // the payout, credited without a Credited event
            _paid(id, j);
        } else if (t == IJobMarket.JobExpired.selector) {
            next = IJobMarket.JobStatus.Expired;
            _paid(id, j);
        } else if (t == IJobMarket.DisputeSettled.selector) {
            if (log.topics[2] == bytes32(0)) return; // upheld: JobFinalized follows
            next = IJobMarket.JobStatus.Slashed;
            _paid(id, j);
        } else {
            return; // CallbackFailed and others change no state
        }
        if (uint8(next) <= uint8(j.status)) ghostWentBackwards = true;
        _previous[id] = _jobs[id];
        j.status = next;
        _jobs[id] = j;
        ++entered[uint8(next)];
    }

    function _foldPosted(Vm.Log memory log) internal {
        uint256 id = uint256(log.topics[1]);
        if (id != jobCount + 1) _fail("post: job ids not sequential");
        jobCount = id;
        (uint256 fee, uint256 collateral, uint256 claimBy, uint32 callbackGasLimit,,,) =
            abi.decode(log.data, (uint256, uint256, uint256, uint32, bytes32, string, bytes));
        _jobs[id] = IJobMarket.Job({
            poster: address(uint160(uint256(log.topics[3]))),
            modelId: uint32(uint256(log.topics[2])),
            fee: uint96(fee),
            collateral: uint96(collateral),
            callbackGasLimit: callbackGasLimit,
            status: IJobMarket.JobStatus.Posted,
            deadline: uint32(claimBy),
            provider: address(0),
            commitBlock: 0,
            result: bytes32(0),
            inlineOutput: false,
            sampled: false
        });
        ghostEscrow += fee;
        ++entered[uint8(IJobMarket.JobStatus.Posted)];
    }

    /// @dev The job's escrow left: paid to the provider or refunded to the poster.
    function _paid(uint256 id, IJobMarket.Job memory j) internal {
        ++payCount[id];
        // Never underflow here: a revert would roll back the very call that paid twice and hide it.
        if (ghostEscrow < j.fee) _fail("escrow paid out beyond what was posted");
        ghostEscrow = ghostEscrow < j.fee ? 0 : ghostEscrow - j.fee;
    }

    function _foldStaking(Vm.Log memory log) internal {
        if (log.topics[0] != IStaking.Slashed.selector) return;
        address account = address(uint160(uint256(log.topics[1])));
        uint256 n = ++slashesOf[_focus][account];
        if (n > maxSlashesOfOne[_focus]) maxSlashesOfOne[_focus] = n;
        if (account == _jobs[_focus].provider) ++slashCount[_focus];
    }

    /// @dev Rebuilds audits and disputes from Verification's events, as a verifier daemon does.
    function _foldVerification(Vm.Log memory log) internal {
        bytes32 t = log.topics[0];
        if (t == IVerification.Credited.selector) {
            ghostVerificationCredited += abi.decode(log.data, (uint256));
            return;
        }
        if (t == IVerification.Withdrawal.selector) {
            ghostVerificationWithdrawn += abi.decode(log.data, (uint256));
            return;
        }
        if (t == IVerification.TreasuryCredited.selector) {
            ghostTreasuryCredited += abi.decode(log.data, (uint256));
            return;
        }
        if (t == IVerification.TreasuryWithdrawn.selector) {
            ghostTreasuryWithdrawn += abi.decode(log.data, (uint256));
            return;
        }
        if (log.topics.length < 2) return;
        uint256 id = uint256(log.topics[1]);
        DisputeModel storage m = _disputes[id];
        if (t == IVerification.ChallengeOpened.selector) {
            (uint256 bond, bool byAuditor) = abi.decode(log.data, (uint256, bool));
            ++challengesOpened[id];
            m.challenger = address(uint160(uint256(log.topics[2])));
            m.bond = bond;
            m.state = IVerification.DisputeState.Open;
            m.openedAt = _now;
            m.openedBlock = _block;
            m.byAuditor = byAuditor;
            _bonds[id] = bond;
            ghostBondsOpen += bond;
        } else if (t == IVerification.CommitteeDrawn.selector) {
            (address[] memory committee, uint256 commitBy, uint256 revealBy) =
                abi.decode(log.data, (address[], uint256, uint256));
            if (committee.length == 0) return;
            m.committee = committee;
            m.commitBy = commitBy;
            m.revealBy = revealBy;
            m.state = IVerification.DisputeState.Voting;
        } else if (t == IVerification.VoteCommitted.selector) {
            ++m.commits;
        } else if (t == IVerification.VoteRevealed.selector) {
            address voter = address(uint160(uint256(log.topics[2])));
            IVerification.Vote vote = abi.decode(log.data, (IVerification.Vote));
            _voteRevealed[id][voter] = true;
            if (vote == IVerification.Vote.ProviderCorrect) ++m.correct;
            else ++m.wrong;
        } else if (t == IVerification.DisputeResolved.selector) {
            bool open = m.state == IVerification.DisputeState.Open || m.state == IVerification.DisputeState.Voting;
            if (!open) _fail("dispute resolved twice or never opened");
            ++disputesResolved[id];
            if (_bonds[id] != 0) ++bondPayouts[id];
            ghostBondsOpen -= _bonds[id] <= ghostBondsOpen ? _bonds[id] : ghostBondsOpen;
            _bonds[id] = 0;
            m.state = IVerification.DisputeState.Resolved;
        } else if (t == IVerification.AuditorDrawn.selector) {
            (, bool late) = abi.decode(log.data, (uint256, bool));
            _auditor[id] = address(uint160(uint256(log.topics[2])));
            _auditState[id] = late ? IVerification.AuditState.Drawn : IVerification.AuditState.Missed;
        } else if (t == IVerification.AuditCommitted.selector) {
            _auditor[id] = address(uint160(uint256(log.topics[2])));
            _auditState[id] = IVerification.AuditState.Committed;
        } else if (t == IVerification.AuditRevealed.selector) {
            (, IVerification.Verdict verdict,) = abi.decode(log.data, (bytes32, IVerification.Verdict, string));
            _auditState[id] =
                verdict == IVerification.Verdict.Agree ? IVerification.AuditState.Agreed : IVerification.AuditState.Disagreed;
        } else if (t == IVerification.AuditorPenalized.selector) {
            _auditState[id] = IVerification.AuditState.Penalized;
            ++auditorPenalties[id];
        }
    }

    /// @dev The audit and the dispute rebuilt from events are what Verification holds.
    function _verifyVerification(uint256 id, string memory what) internal {
        IVerification.Audit memory a = verification.audit(id);
        _check(a.state == _auditState[id] && a.auditor == _auditor[id], string.concat(what, ": audit rebuilt from events"));
        IVerification.Dispute memory d = verification.dispute(id);
        DisputeModel storage m = _disputes[id];
        bool same = d.state == m.state && d.challenger == m.challenger && d.bond == m.bond && d.byAuditor == m.byAuditor
            && d.openedAt == m.openedAt && d.openedBlock == m.openedBlock && d.voteCommitBy == m.commitBy
            && d.voteRevealBy == m.revealBy && d.committee.length == m.committee.length;
        _check(same, string.concat(what, ": dispute rebuilt from events"));
    }

    /// @dev The struct rebuilt from events is what the market stored.
    function _verifyStored(uint256 id, string memory what) internal {
        _check(market.jobHash(id) == keccak256(abi.encode(_jobs[id])), string.concat(what, ": stored job hash"));
        if (!judges) _verifyVerification(id, what);
    }

    // ================================================================== helpers

    function _begin(Action a) internal {
        ++calls[uint256(a)];
        _focus = 0;
        // A new block for every action; the clock stays where the handler last put it.
        vm.warp(_now);
        _rollBlocks(1);
    }

    function _done(Action a) internal {
        ++done[uint256(a)];
    }

    function _pick(uint256 seed, uint256 mask, bool live) internal returns (uint256) {
        uint256 n = jobCount;
        for (uint256 i; i < n; ++i) {
            uint256 id = (seed % n + i) % n + 1;
            IJobMarket.Job storage j = _jobs[id];
            if ((mask >> uint8(j.status)) & 1 == 0) continue;
            if (live && _now > j.deadline) continue;
            _focus = id;
            return id;
        }
        return 0;
    }

    /// @dev Like _pick, among jobs whose deadline has passed.
    function _pickExpired(uint256 seed, uint256 mask) internal returns (uint256) {
        uint256 n = jobCount;
        for (uint256 i; i < n; ++i) {
            uint256 id = (seed % n + i) % n + 1;
            IJobMarket.Job storage j = _jobs[id];
            if ((mask >> uint8(j.status)) & 1 == 0 || _now <= j.deadline) continue;
            _focus = id;
            return id;
        }
        return 0;
    }

    function _bit(IJobMarket.JobStatus s) internal pure returns (uint256) {
        return 1 << uint8(s);
    }

    function _warpTo(uint256 t) internal {
        if (t < _now) return;
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
        ghostMinted += amount;
    }

    function _register(uint96 collateral, uint96 floor, string memory name) internal returns (uint256) {
        return registry.register(
            IModelRegistry.ModelSpec({
                modelHash: keccak256(bytes(name)),
                uri: string.concat("ipfs://", name),
                runtime: "onnxruntime-node@1.30.0",
                tolerance: IModelRegistry.Tolerance(IModelRegistry.ToleranceKind.Argmax, -1, 0, 0),
                minCollateral: collateral,
                priceFloor: floor
            })
        );
    }

    function _check(bool ok, string memory what) internal {
        if (!ok) _fail(what);
    }

    function _fail(string memory what) internal {
        ++failures;
        if (bytes(firstFailure).length == 0) firstFailure = string.concat(what, " (job ", vm.toString(_focus), ")");
    }

    function _hex(bytes memory data) internal pure returns (string memory s) {
        bytes memory digits = "0123456789abcdef";
        uint256 n = data.length < 68 ? data.length : 68;
        bytes memory out = new bytes(2 + 2 * n);
        out[0] = "0";
        out[1] = "x";
        for (uint256 i; i < n; ++i) {
            out[2 + 2 * i] = digits[uint8(data[i]) >> 4];
            out[3 + 2 * i] = digits[uint8(data[i]) & 15];
        }
        s = string(out);
    }
}

/// @notice Protocol-wide invariants under random sequences of every user action (ProtocolHandler).
/// Runs and depth: hardhat.config.ts `test.solidity.invariant` (256 x 32).
abstract contract ProtocolInvariantBase is ProtocolFixture {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    ProtocolHandler internal handler;

    function _setUpProtocol(bool handlerJudges) internal {
        _deployProtocol();
        handler = new ProtocolHandler(token, staking, registry, market, verification, address(this), handlerJudges);
        _wire(handlerJudges ? address(handler) : address(verification));
        if (!handlerJudges) {
            // The real Verification audits: half the jobs are sampled (setMarketParams varies it).
            IJobMarket.MarketParams memory p = market.params();
            p.samplingPpm = 500_000;
            market.setParams(p);
        }
        handler.bootstrap();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory s = new bytes4[](25);
        s[0] = ProtocolHandler.postJob.selector;
        s[1] = ProtocolHandler.stake.selector;
        s[2] = ProtocolHandler.requestUnbond.selector;
        s[3] = ProtocolHandler.withdrawStake.selector;
        s[4] = ProtocolHandler.setRoles.selector;
        s[5] = ProtocolHandler.claim.selector;
        s[6] = ProtocolHandler.commit.selector;
        s[7] = ProtocolHandler.reveal.selector;
        s[8] = ProtocolHandler.finalize.selector;
        s[9] = ProtocolHandler.expire.selector;
        s[10] = ProtocolHandler.dispute.selector;
        s[11] = ProtocolHandler.settle.selector;
        s[12] = ProtocolHandler.withdrawCredits.selector;
        s[13] = ProtocolHandler.withdrawProtocolFees.selector;
        s[14] = ProtocolHandler.payAuditReward.selector;
        s[15] = ProtocolHandler.warp.selector;
        s[16] = ProtocolHandler.advance.selector;
        s[17] = ProtocolHandler.attack.selector;
        s[18] = ProtocolHandler.setMarketParams.selector;
        s[19] = ProtocolHandler.commitAudit.selector;
        s[20] = ProtocolHandler.revealAudit.selector;
        s[21] = ProtocolHandler.penalizeAuditor.selector;
        s[22] = ProtocolHandler.drawCommittee.selector;
        s[23] = ProtocolHandler.commitVote.selector;
        s[24] = ProtocolHandler.revealVote.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), s);
    }

    // ------------------------------------------------------------------ invariants

    /// @notice Every token the market and staking owe is there: escrow of open jobs, credits, protocol fees,
    /// the audit pool; active and unbonding stake. No one donates tokens in these runs, so the balances
    /// are exactly what is owed (a surplus would be tokens stuck for good).
    function invariant_solvency() public view {
        uint256 marketBalance = token.balanceOf(address(market));
        uint256 stakingBalance = token.balanceOf(address(staking));
        uint256 escrow = _openEscrow();
        uint256 credits = _sumMarketCredits();
        uint256 owedByMarket = escrow + credits + market.protocolFees() + market.auditPool();
        uint256 owedByStaking = staking.totalStaked() + staking.totalUnbonding();

        _ge(marketBalance + stakingBalance, owedByMarket + owedByStaking, "system solvent");
        _ge(marketBalance, owedByMarket, "market >= escrow + credits + protocolFees + auditPool");
        _ge(stakingBalance, owedByStaking, "staking >= totalStaked + totalUnbonding");
        _eq(marketBalance, owedByMarket, "market holds exactly what it owes");
        _eq(stakingBalance, owedByStaking, "staking holds exactly its totals");

        _eq(escrow, handler.ghostEscrow(), "escrow of open jobs = fees posted - fees paid out or refunded");
        _eq(credits, handler.ghostCredited() - handler.ghostWithdrawn(), "credits = credited - withdrawn");

        // The Verification contract holds the open challenge bonds, its credits and its treasury: what it
        // receives (slashes, penalties) is owed at once, and nobody donates in these runs.
        uint256 verificationCredits = _sumVerificationCredits();
        _eq(
            verificationCredits,
            handler.ghostVerificationCredited() - handler.ghostVerificationWithdrawn(),
            "verification credits = credited - withdrawn"
        );
        _eq(
            verification.treasury(),
            handler.ghostTreasuryCredited() - handler.ghostTreasuryWithdrawn(),
            "verification treasury = credited - withdrawn"
        );
        uint256 owedByVerification = handler.ghostBondsOpen() + verificationCredits + verification.treasury();
        _ge(token.balanceOf(address(verification)), owedByVerification, "verification >= bonds + credits + treasury");
        _eq(token.balanceOf(address(verification)), owedByVerification, "verification holds exactly what it owes");
    }

    /// @notice Nothing is created or lost: every token minted is in someone's wallet or a contract.
    function invariant_conservation() public view {
        address[] memory everyone = handler.accounts();
        uint256 total = token.balanceOf(address(market)) + token.balanceOf(address(staking))
            + token.balanceOf(address(verification)) + token.balanceOf(address(this));
        for (uint256 i; i < everyone.length; ++i) {
            total += token.balanceOf(everyone[i]);
        }
        _eq(total, handler.ghostMinted(), "minted = wallets + market + staking + verification + treasury");
        _eq(token.totalSupply(), handler.ghostMinted(), "supply = minted");
    }

    /// @notice Each provider's locked stake is exactly the collateral of its open claimed jobs (so finished
    /// jobs lock nothing), and never more than its stake. Stake and unbonding add up to Staking's totals.
    function invariant_lockedMatchesOpenCollateral() public view {
        address[] memory providers = handler.providers();
        (IJobMarket.Job[] memory jobs,,) = handler.allJobs();
        uint256[] memory backing = new uint256[](providers.length);
        uint256 openCollateral;
        for (uint256 i; i < jobs.length; ++i) {
            if (!_locks(jobs[i].status)) continue;
            openCollateral += jobs[i].collateral;
            for (uint256 p; p < providers.length; ++p) {
                if (jobs[i].provider == providers[p]) backing[p] += jobs[i].collateral;
            }
        }
        uint256 lockedSum;
        uint256 stakeSum;
        uint256 unbondingSum;
        for (uint256 p; p < providers.length; ++p) {
            IStaking.AccountView memory a = staking.account(providers[p]);
            _le(a.locked, a.stake, "locked <= stake");
            _eq(a.locked, backing[p], "provider's locked = collateral of its open claimed jobs");
            lockedSum += a.locked;
            stakeSum += a.stake;
            unbondingSum += a.unbonding;
        }
        // Verification mode: the auditor accounts stake too (as verifiers only: they lock nothing).
        address[] memory auditors = handler.auditors();
        for (uint256 i; i < auditors.length; ++i) {
            IStaking.AccountView memory a = staking.account(auditors[i]);
            _eq(a.locked, 0, "a verifier that never claims locks nothing");
            stakeSum += a.stake;
            unbondingSum += a.unbonding;
        }
        _eq(lockedSum, openCollateral, "sum locked = collateral of Claimed..Disputed jobs");
        _eq(stakeSum, staking.totalStaked(), "sum of stakes = totalStaked");
        _eq(unbondingSum, staking.totalUnbonding(), "sum of unbonding = totalUnbonding");
    }

    /// @notice Every finished job's escrow left exactly once (paid or refunded), open jobs' not at all; no
    /// job slashes its provider twice; an upheld result never costs its provider anything.
    function invariant_escrowPaidExactlyOnce() public view {
        (IJobMarket.Job[] memory jobs, uint256[] memory pays, uint256[] memory slashes) = handler.allJobs();
        for (uint256 i; i < jobs.length; ++i) {
            IJobMarket.Job memory j = jobs[i];
            if (uint8(j.status) >= uint8(IJobMarket.JobStatus.Finalized)) {
                _eq(pays[i], 1, "a finished job's escrow is paid exactly once");
            } else {
                _eq(pays[i], 0, "an open job's escrow is untouched");
            }
            _le(slashes[i], 1, "no job slashes its provider twice");
            if (j.status == IJobMarket.JobStatus.Slashed) _eq(slashes[i], 1, "a faulted job slashes its provider once");
            if (j.status == IJobMarket.JobStatus.Expired && j.provider == address(0)) {
                _eq(slashes[i], 0, "an unclaimed job penalizes nobody");
            }
            if (uint8(j.status) <= uint8(IJobMarket.JobStatus.Finalized)) {
                _eq(slashes[i], 0, "open and finalized jobs never slash their provider");
            }
        }
    }

    /// @notice Job states only move forward (events folded in order, each transition to a higher status),
    /// and the states rebuilt from events are exactly what the market stores.
    function invariant_jobStatusOnlyMovesForward() public view {
        _true(!handler.ghostWentBackwards(), "a job went back to an earlier status");
        (IJobMarket.Job[] memory jobs,,) = handler.allJobs();
        _eq(market.jobCount(), jobs.length, "job count");
        for (uint256 i; i < jobs.length; ++i) {
            _true(jobs[i].status != IJobMarket.JobStatus.None, "every posted job has a status");
            _eq(market.jobHash(i + 1), keccak256(abi.encode(jobs[i])), "stored hash = state rebuilt from events");
        }
        _eq(market.jobHash(jobs.length + 1), bytes32(0), "no job beyond jobCount");
    }

    /// @notice Protocol fees and the audit pool are exactly what finalizations accrued less what was
    /// withdrawn or paid out.
    function invariant_feeAccounting() public view {
        _eq(
            market.protocolFees(),
            handler.ghostProtocolFeesAccrued() - handler.ghostProtocolFeesWithdrawn(),
            "protocolFees = accrued - withdrawn"
        );
        _eq(
            market.auditPool(), handler.ghostAuditLevied() - handler.ghostAuditPaid(), "auditPool = levied - paid"
        );
    }

    /// @notice Nobody is slashed twice for one job (the provider at expiry or settlement, an auditor for a
    /// missed audit or an overturned Disagree, each voter for its vote); each job has at most one challenge,
    /// one resolution and so one bond payout, one audit reward and one auditor penalty; audit rewards never
    /// exceed the audit levy that finalized jobs accrued.
    function invariant_verificationHappensOnce() public view {
        ProtocolHandler.JobCounts[] memory counts = handler.jobCounts();
        for (uint256 i; i < counts.length; ++i) {
            ProtocolHandler.JobCounts memory c = counts[i];
            _le(c.maxSlashesOfOne, 1, "nobody slashed twice for one job");
            _le(c.challenges, 1, "one dispute per job");
            _le(c.resolutions, c.challenges, "a dispute resolves at most once, and only after it opened");
            _le(c.bondPayouts, 1, "a bond is paid out at most once");
            _le(c.auditRewards, 1, "one audit reward per job");
            _le(c.auditorPenalties, 1, "one auditor penalty per job");
        }
        _le(handler.ghostAuditPaid(), handler.ghostAuditLevied(), "audit rewards <= audit levy accrued");
        if (!_handlerJudges()) {
            uint256 open;
            for (uint256 i; i < counts.length; ++i) open += counts[i].challenges - counts[i].resolutions;
            (IJobMarket.Job[] memory jobs,,) = handler.allJobs();
            uint256 disputed;
            for (uint256 i; i < jobs.length; ++i) {
                if (jobs[i].status == IJobMarket.JobStatus.Disputed) ++disputed;
            }
            _eq(open, disputed, "an open dispute for every disputed job, and only for them");
        }
    }

    /// @notice The verifier set is exactly the accounts with the verifier role and enough active stake.
    function invariant_verifierSetMatchesStake() public view {
        address[] memory providers = handler.stakers();
        uint256 minStake = staking.params().minVerifierStake;
        uint256 eligible;
        for (uint256 p; p < providers.length; ++p) {
            IStaking.AccountView memory a = staking.account(providers[p]);
            bool shouldBe = a.roles & staking.ROLE_VERIFIER() != 0 && a.stake >= minStake;
            _eq(staking.isVerifier(providers[p]), shouldBe, "verifier set membership");
            if (shouldBe) ++eligible;
        }
        _eq(staking.verifierCount(), eligible, "verifier count");
    }

    /// @notice Every action's checked effects held (credits, fees, stake and balance deltas, deadlines), no
    /// action that must fail went through, and no valid action was refused.
    function invariant_actionsBehaveAsSpecified() public view {
        uint256 failures = handler.failures();
        if (failures != 0) vm.assertEq(failures, 0, handler.firstFailure());
        uint256 refused = handler.unexpectedReverts();
        if (refused != 0) vm.assertEq(refused, 0, handler.firstUnexpectedRevert());
    }

    // ------------------------------------------------------------------ reachability

    /// @notice The handler reaches every status and every kind of ending in a long deterministic sequence,
    /// with all the invariants checked along the way.
    function test_handlerReachesEveryState() public {
        // Every kind of attack on the bootstrap jobs (one in every open status), then a long sequence.
        for (uint256 kind; kind < 11; ++kind) {
            handler.attack(uint256(keccak256(abi.encode("attack", kind))), kind);
        }
        // Verification mode has six more actions and longer job lives (audits, committees): a longer run.
        uint256 steps = _handlerJudges() ? 600 : 1200;
        for (uint256 i; i < steps; ++i) {
            uint256 seed = uint256(keccak256(abi.encode("sequence", i)));
            // Every other step moves some job along its lifecycle, so many reach an end; every fifth is
            // an attack, the kinds in turn.
            if (i % 5 == 4) handler.attack(seed, (i / 5) % 11);
            else if (i % 2 == 0) handler.advance(seed, seed >> 8);
            else handler.step(seed);
            if (i % 50 == 49) _checkAll();
        }
        _checkAll();
        _logCoverage();
        for (uint256 s = uint8(IJobMarket.JobStatus.Posted); s <= uint8(IJobMarket.JobStatus.Finalized); ++s) {
            vm.assertGt(handler.entered(s), 0, string.concat("reached status ", vm.toString(s)));
        }
        vm.assertGt(handler.entered(uint8(IJobMarket.JobStatus.Expired)), 0, "reached Expired");
        vm.assertGt(handler.expiredFrom(uint8(IJobMarket.JobStatus.Posted)), 0, "expired unclaimed");
        vm.assertGt(handler.expiredFrom(uint8(IJobMarket.JobStatus.Claimed)), 0, "expired after a missed commit");
        vm.assertGt(handler.expiredFrom(uint8(IJobMarket.JobStatus.Committed)), 0, "expired after a missed reveal");
        vm.assertGt(handler.done(uint256(ProtocolHandler.Action.Finalize)), 0, "finalized after the window");
        vm.assertGt(handler.upheldSettlements(), 0, "dispute upheld");
        vm.assertGt(handler.done(uint256(ProtocolHandler.Action.WithdrawCredits)), 0, "credits withdrawn");
        vm.assertGt(handler.done(uint256(ProtocolHandler.Action.WithdrawStake)), 0, "stake withdrawn");
        vm.assertGt(handler.done(uint256(ProtocolHandler.Action.Unbond)), 0, "unbonding requested");
        vm.assertGt(handler.done(uint256(ProtocolHandler.Action.WithdrawFees)), 0, "protocol fees withdrawn");
        vm.assertGt(handler.done(uint256(ProtocolHandler.Action.SetParams)), 0, "parameters changed");
        for (uint256 kind; kind < 11; ++kind) {
            if (kind == 8 && !_handlerJudges()) continue; // the handler opens disputes only as the judge
            vm.assertGt(handler.attacksTried(kind), 0, string.concat("attack tried: kind ", vm.toString(kind)));
        }
        vm.assertGt(handler.callbacksDelivered(), 0, "consumer callback delivered");
        vm.assertGt(handler.callbacksFailed(), 0, "failing consumer callback survived");
        _assertModeSpecificCoverage();
    }

    function _assertModeSpecificCoverage() internal view virtual;

    function _handlerJudges() internal view returns (bool) {
        return handler.judges();
    }

    function _checkAll() internal view {
        invariant_solvency();
        invariant_conservation();
        invariant_lockedMatchesOpenCollateral();
        invariant_escrowPaidExactlyOnce();
        invariant_jobStatusOnlyMovesForward();
        invariant_feeAccounting();
        invariant_verifierSetMatchesStake();
        invariant_verificationHappensOnce();
        invariant_actionsBehaveAsSpecified();
    }

    /// @dev One summary per run: what the sequence did (successful actions), how jobs ended, attacks tried.
    function _logCoverage() internal view {
        string[25] memory names = [
            "post", "stake", "unbond", "withdrawStake", "setRoles", "claim", "commit", "reveal", "finalize", "expire",
            "dispute", "settle", "withdrawCredits", "withdrawFees", "auditReward", "warp", "advance", "attack",
            "setParams", "commitAudit", "revealAudit", "penalizeAuditor", "drawCommittee", "commitVote", "revealVote"
        ];
        string memory line = "  done:";
        for (uint256 i; i < names.length; ++i) {
            line = string.concat(line, " ", names[i], "=", vm.toString(handler.done(i)));
        }
        console.log(line);
        console.log(
            string.concat(
                "  jobs=",
                vm.toString(handler.jobCount()),
                " expired from posted/claimed/committed=",
                string.concat(
                    vm.toString(handler.expiredFrom(1)), "/", vm.toString(handler.expiredFrom(2)), "/",
                    vm.toString(handler.expiredFrom(3))
                ),
                " settled faulted/upheld=",
                string.concat(vm.toString(handler.faultedSettlements()), "/", vm.toString(handler.upheldSettlements())),
                " callbacks delivered/failed=",
                string.concat(vm.toString(handler.callbacksDelivered()), "/", vm.toString(handler.callbacksFailed()))
            )
        );
        if (!_handlerJudges()) {
            console.log(
                string.concat(
                    "  audits committed/agreed/disagreed/missed/late/penalized=",
                    string.concat(
                        vm.toString(handler.auditsCommitted()), "/", vm.toString(handler.auditsAgreed()), "/",
                        vm.toString(handler.auditsDisagreed()), "/", vm.toString(handler.auditorsMissed()), "/",
                        vm.toString(handler.lateAudits()), "/", vm.toString(handler.auditorsPenalized())
                    ),
                    " committees=",
                    vm.toString(handler.committeesDrawn()),
                    " votes committed/revealed=",
                    string.concat(vm.toString(handler.votesCommitted()), "/", vm.toString(handler.votesRevealed())),
                    " verdicts faulted/upheld/none=",
                    string.concat(
                        vm.toString(handler.committeeFaulted()), "/", vm.toString(handler.committeeUpheld()), "/",
                        vm.toString(handler.noMajority())
                    )
                )
            );
        }
        line = "  attacks tried by kind:";
        for (uint256 kind; kind < 11; ++kind) {
            line = string.concat(line, " ", vm.toString(handler.attacksTried(kind)));
        }
        console.log(line);
    }

    // ------------------------------------------------------------------ helpers

    // Checks that call the cheatcode (which prints both values) only when they fail: an invariant runs
    // after every call of every run, and most of its time would otherwise go to passing assertions.

    function _eq(uint256 a, uint256 b, string memory what) internal pure {
        if (a != b) vm.assertEq(a, b, what);
    }

    function _eq(bytes32 a, bytes32 b, string memory what) internal pure {
        if (a != b) vm.assertEq(a, b, what);
    }

    function _eq(bool a, bool b, string memory what) internal pure {
        if (a != b) vm.assertEq(a, b, what);
    }

    function _le(uint256 a, uint256 b, string memory what) internal pure {
        if (a > b) vm.assertLe(a, b, what);
    }

    function _ge(uint256 a, uint256 b, string memory what) internal pure {
        if (a < b) vm.assertGe(a, b, what);
    }

    function _true(bool ok, string memory what) internal pure {
        if (!ok) vm.assertTrue(ok, what);
    }

    /// @dev Statuses whose collateral is locked: claimed and not yet ended.
    function _locks(IJobMarket.JobStatus s) internal pure returns (bool) {
        return uint8(s) >= uint8(IJobMarket.JobStatus.Claimed) && uint8(s) <= uint8(IJobMarket.JobStatus.Disputed);
    }

    function _openEscrow() internal view returns (uint256 escrow) {
        (IJobMarket.Job[] memory jobs,,) = handler.allJobs();
        for (uint256 i; i < jobs.length; ++i) {
            if (uint8(jobs[i].status) < uint8(IJobMarket.JobStatus.Finalized)) escrow += jobs[i].fee;
        }
    }

    function _sumMarketCredits() internal view returns (uint256 sum) {
        address[] memory everyone = handler.accounts();
        for (uint256 i; i < everyone.length; ++i) {
            sum += market.credits(everyone[i]);
        }
    }

    function _sumVerificationCredits() internal view returns (uint256 sum) {
        address[] memory everyone = handler.accounts();
        for (uint256 i; i < everyone.length; ++i) {
            sum += verification.credits(everyone[i]);
        }
    }
}

/// @notice The handler holds the verification role: disputes settle with either verdict, a faulted
/// provider is slashed to the treasury, audit rewards come out of the levy pool.
/// @dev fail-on-revert: the handler makes every protocol call itself and classifies its outcome (expected,
/// refused, attack succeeded), so a revert of a handler call can only be a handler bug, and would roll back
/// (and hide) whatever that call did.
/// forge-config: default.invariant.fail-on-revert = true
contract ProtocolInvariantTest is ProtocolInvariantBase {
    function setUp() public {
        _setUpProtocol(true);
    }

    function _assertModeSpecificCoverage() internal view override {
        vm.assertGt(handler.entered(uint8(IJobMarket.JobStatus.Slashed)), 0, "reached Slashed");
        vm.assertGt(handler.faultedSettlements(), 0, "provider slashed");
        vm.assertGt(handler.ghostSlashedToTreasury(), 0, "slash reached the treasury");
        vm.assertGt(handler.done(uint256(ProtocolHandler.Action.AuditReward)), 0, "audit reward paid");
    }
}

/// @notice The real Verification contract holds the role: sampled jobs are audited blind (or the auditor
/// misses and is penalized), disagreeing audits and bonded challenges open disputes, committees are drawn and
/// vote, and disputes resolve by majority, tie or no quorum.
/// forge-config: default.invariant.fail-on-revert = true
contract ProtocolWithVerificationInvariantTest is ProtocolInvariantBase {
    function setUp() public {
        _setUpProtocol(false);
    }

    function _assertModeSpecificCoverage() internal view override {
        vm.assertGt(handler.ghostVerificationCredited(), 0, "verification credits");
        vm.assertGt(handler.ghostVerificationWithdrawn(), 0, "verification credits withdrawn");
        vm.assertGt(handler.auditsCommitted(), 0, "audit committed blind");
        vm.assertGt(handler.auditsAgreed(), 0, "audit agreed");
        vm.assertGt(handler.auditsDisagreed(), 0, "audit disagreed");
        vm.assertGt(handler.auditorsMissed(), 0, "auditor missed its commit");
        vm.assertGt(handler.lateAudits(), 0, "late audit after a stale seed");
        vm.assertGt(handler.auditorsPenalized(), 0, "auditor penalized");
        vm.assertGt(handler.ghostAuditPaid(), 0, "audit reward paid");
        vm.assertGt(handler.committeesDrawn(), 0, "committee drawn");
        vm.assertGt(handler.votesCommitted(), 0, "vote committed");
        vm.assertGt(handler.votesRevealed(), 0, "vote revealed");
        vm.assertGt(handler.committeeFaulted(), 0, "provider slashed by a committee");
        vm.assertGt(handler.committeeUpheld(), 0, "provider upheld by a committee");
        vm.assertGt(handler.noMajority(), 0, "tie or no quorum");
        vm.assertGt(handler.ghostTreasuryCredited(), 0, "treasury credited");
        vm.assertGt(handler.treasuryWithdrawals(), 0, "treasury withdrawn");
    }
}
