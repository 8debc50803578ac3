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
/// to TREASURY, and pays audit rewards. Otherwise: the real Verification contract holds the role, and
/// disputes are challenges with a bond, resolved after the dispute duration (provider upheld, bond back).
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
        SetParams
    }

    uint256 internal constant ACTIONS = 19; // checked against the enum in the constructor
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
    mapping(uint256 jobId => uint256) public slashCount; // Staking.Slashed events during the job's calls
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
        for (uint256 i; i < _providers.length; ++i) {
            _stake(_providers[i], 400 ether, PROVIDER | VERIFIER);
        }
        for (uint256 i; i < 12; ++i) {
            // Jobs 1, 4, 7, 10 come from the consumer contract, asking for a callback (accepted).
            _post(i, i, 5 ether + i * 1 ether + i, 300 + i * 200, i | 1 << 8);
        }
        // 10 claimed, 8 committed, 6 revealed, 2 disputed; the rest stay posted.
        for (uint256 id = 1; id <= 10; ++id) _claim(id, id);
        for (uint256 id = 1; id <= 8; ++id) _commit(id, keccak256(abi.encode("bootstrap", id)), id % 2 == 0);
        _rollBlocks(uint256(market.params().seedDelay) + 1);
        for (uint256 id = 1; id <= 6; ++id) _reveal(id);
        for (uint256 id = 1; id <= 2; ++id) _dispute(id, id);
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
        _stake(_providers[actorSeed % _providers.length], amount, uint8(_bound(roles, 1, 3)));
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
        if (_exec(who, address(staking), abi.encodeCall(IStaking.setRoles, (uint8(roles % 4))), "setRoles")) {
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
            _settle(id, choice % 2 == 0);
        } else if (job.status == IJobMarket.JobStatus.Revealed) {
            if (live && choice % 3 == 0) _dispute(id, choice);
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
            uint256 resolvableAt = uint256(verification.dispute(id).openedAt) + market.params().disputeDuration;
            if (_now <= resolvableAt) _warpTo(resolvableAt + 1);
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
            samplingPpm: 0
        });
        if (_exec(owner, address(market), abi.encodeCall(IJobMarket.setParams, (p)), "setParams")) {
            _done(Action.SetParams);
        }
    }

    /// @notice Runs one action chosen by `seed` (for sequence tests that are not driven by the fuzzer).
    function step(uint256 seed) external {
        uint256 a = seed % ACTIONS;
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
        else this.setMarketParams(s);
    }

    // ================================================================== views for the invariants

    function providers() external view returns (address[] memory) {
        return _providers;
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
        bytes memory output = _outputs[id];
        bytes memory data = abi.encodeCall(IJobMarket.reveal, (id, job, _roots[id], _salts[id], "ipfs://out", output));
        if (!_exec(job.provider, address(market), data, "reveal")) return;
        IJobMarket.Job memory j = _jobs[id];
        _check(j.status == IJobMarket.JobStatus.Revealed && j.result == _roots[id], "reveal: output root");
        _check(j.deadline == _now + market.params().challengeWindow, "reveal: challenge end");
        _check(j.inlineOutput == (output.length != 0), "reveal: inline flag");
        _verifyStored(id, "reveal");
        _done(Action.Reveal);
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

    /// @dev Verification mode: the dispute resolves after its duration, upholding the provider.
    function _resolve(uint256 id, IJobMarket.Job memory job) internal {
        IVerification.Dispute memory d = verification.dispute(id);
        uint256 resolvableAt = uint256(d.openedAt) + market.params().disputeDuration;
        if (_now <= resolvableAt) _warpTo(resolvableAt + 1);
        PaySnapshot memory s = _paySnapshot(job);
        uint256 challengerCredits = verification.credits(d.challenger);
        uint256 deliveries = consumer.deliveries();
        bytes memory data = abi.encodeCall(IVerification.resolve, (id, job, _deliverable(id, job)));
        if (!_exec(KEEPER, address(verification), data, "resolve")) return;
        _checkPaid(id, job, s, "resolve");
        _checkCallback(id, job, deliveries, "resolve");
        _check(verification.credits(d.challenger) == challengerCredits + d.bond, "resolve: bond back");
        _check(verification.dispute(id).state == IVerification.DisputeState.Resolved, "resolve: resolved");
        ++upheldSettlements;
        _done(Action.Settle);
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
        ++slashCount[_focus];
    }

    function _foldVerification(Vm.Log memory log) internal {
        bytes32 t = log.topics[0];
        if (t == IVerification.ChallengeOpened.selector) {
            uint256 bond = abi.decode(log.data, (uint256));
            _bonds[uint256(log.topics[1])] = bond;
            ghostBondsOpen += bond;
        } else if (t == IVerification.DisputeResolved.selector) {
            uint256 id = uint256(log.topics[1]);
            if (_bonds[id] == 0) _fail("dispute resolved twice or without a bond");
            ghostBondsOpen -= _bonds[id];
            _bonds[id] = 0;
        } else if (t == IVerification.Credited.selector) {
            ghostVerificationCredited += abi.decode(log.data, (uint256));
        } else if (t == IVerification.Withdrawal.selector) {
            ghostVerificationWithdrawn += abi.decode(log.data, (uint256));
        }
    }

    /// @dev The struct rebuilt from events is what the market stored.
    function _verifyStored(uint256 id, string memory what) internal {
        _check(market.jobHash(id) == keccak256(abi.encode(_jobs[id])), string.concat(what, ": stored job hash"));
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
        handler.bootstrap();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory s = new bytes4[](19);
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

        // The Verification contract holds the open challenge bonds and its credits (bonds returned).
        uint256 verificationCredits = _sumVerificationCredits();
        _eq(
            verificationCredits,
            handler.ghostVerificationCredited() - handler.ghostVerificationWithdrawn(),
            "verification credits = credited - withdrawn"
        );
        _eq(
            token.balanceOf(address(verification)),
            handler.ghostBondsOpen() + verificationCredits,
            "verification holds the open bonds and its credits"
        );
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
            _le(slashes[i], 1, "no job slashed twice");
            if (j.status == IJobMarket.JobStatus.Slashed) _eq(slashes[i], 1, "a faulted job slashes once");
            if (j.status == IJobMarket.JobStatus.Expired && j.provider == address(0)) {
                _eq(slashes[i], 0, "an unclaimed job penalizes nobody");
            }
            if (uint8(j.status) <= uint8(IJobMarket.JobStatus.Finalized)) {
                _eq(slashes[i], 0, "open and finalized jobs never slash");
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

    /// @notice The verifier set is exactly the accounts with the verifier role and enough active stake.
    function invariant_verifierSetMatchesStake() public view {
        address[] memory providers = handler.providers();
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
        for (uint256 i; i < 600; ++i) {
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
        invariant_actionsBehaveAsSpecified();
    }

    /// @dev One summary per run: what the sequence did (successful actions), how jobs ended, attacks tried.
    function _logCoverage() internal view {
        string[19] memory names = [
            "post", "stake", "unbond", "withdrawStake", "setRoles", "claim", "commit", "reveal", "finalize", "expire",
            "dispute", "settle", "withdrawCredits", "withdrawFees", "auditReward", "warp", "advance", "attack",
            "setParams"
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

/// @notice The real Verification contract holds the role: disputes are bonded challenges, resolved after
/// the dispute duration (no committee yet: the provider is upheld and the bond returned).
/// forge-config: default.invariant.fail-on-revert = true
contract ProtocolWithVerificationInvariantTest is ProtocolInvariantBase {
    function setUp() public {
        _setUpProtocol(false);
    }

    function _assertModeSpecificCoverage() internal view override {
        vm.assertGt(handler.ghostVerificationCredited(), 0, "challenge bonds returned");
        vm.assertGt(handler.ghostVerificationWithdrawn(), 0, "returned bonds withdrawn");
    }
}
