// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../contracts/interfaces/IProtocolTerms.sol";
import {IReplicaMarket} from "../../contracts/interfaces/IReplicaMarket.sol";
import {IStaking} from "../../contracts/interfaces/IStaking.sol";

import {ProtocolFixture} from "../utils/ProtocolFixture.sol";
import {HandlerBase} from "./handlers/HandlerBase.sol";
import {ProtocolHandler} from "./handlers/ProtocolHandler.sol";
import {ReplicaActions} from "./handlers/ReplicaActions.sol";

/// @notice The protocol deployed as ignition/modules/Dinfer.ts does (the ReplicaMarket included), the handler
/// (test/invariant/handlers) bootstrapped over it, and the checks that hold the contracts to the handler's own
/// model: shared by the invariant test (which runs them after every call) and the reachability test (which runs
/// them along scripted scenarios).
abstract contract ProtocolChecks is ProtocolFixture {
    ProtocolHandler internal handler;

    function setUp() public {
        vm.warp(1_800_000_000);
        vm.roll(1_000);
        _deployProtocol();
        _deployReplicaMarket();
        handler = _newHandler();
        handler.bootstrap();
    }

    /// @dev Deploys the test file's concrete handler over the protocol just deployed.
    function _newHandler() internal virtual returns (ProtocolHandler);

    /// @notice Each contract's token balance is exactly what it owes, as the handler's own ledger counts it:
    /// the market the escrow of open jobs, the credits, the protocol fees and the audit pool; Verification
    /// the open bonds, its credits and its treasury; Staking every stake, every unbonding amount and the penalty
    /// debts it collected for its owner; the ReplicaMarket (`_checkReplicaMarketHoldsExactlyWhatItOwes`).
    /// (Nobody donates tokens in these runs: a surplus would be tokens stuck for good.)
    function _checkEachContractHoldsExactlyWhatItOwes() internal view {
        uint256 marketOwes =
            handler.escrow() + handler.marketCreditsTotal() + handler.protocolFees() + handler.auditPool();
        _eq(token.balanceOf(address(market)), marketOwes, "market: escrow + credits + protocol fees + audit pool");
        _eq(market.protocolFees(), handler.protocolFees(), "market: protocol fees");
        _eq(market.auditPool(), handler.auditPool(), "market: audit pool");
        uint256 verificationOwes = handler.bondsOpen() + handler.verificationCreditsTotal() + handler.treasury();
        _eq(token.balanceOf(address(verification)), verificationOwes, "verification: open bonds + credits + treasury");
        _eq(verification.treasury(), handler.treasury(), "verification: treasury");
        (, HandlerBase.StakeModel[] memory stakes,) = handler.stakesModel();
        uint256 staked;
        uint256 unbonding;
        for (uint256 i; i < stakes.length; ++i) {
            staked += stakes[i].stake;
            unbonding += stakes[i].unbonding;
        }
        uint256 collected = handler.collectedDebts();
        uint256 stakingOwes = staked + unbonding + collected;
        _eq(token.balanceOf(address(staking)), stakingOwes, "staking: stake + unbonding + collected debts");
        _eq(staking.totalStaked(), staked, "staking: totalStaked");
        _eq(staking.totalUnbonding(), unbonding, "staking: totalUnbonding");
        _eq(staking.collectedDebts(), collected, "staking: collected penalty debts");
        _checkReplicaMarketHoldsExactlyWhatItOwes();
    }

    /// @notice Every wei the ReplicaMarket holds is owed to someone: the fees and committee reserves of its open
    /// jobs (k x (fee + reserve), read from the jobs it stores, the reserve from their own terms version), the
    /// credits and its protocol fees; so once every job settled and everyone withdrew, nothing is left in it. The
    /// BatchMarket, its gateway to the JobMarket for disputed seats, keeps nothing on the way.
    function _checkReplicaMarketHoldsExactlyWhatItOwes() internal view {
        uint256 n = replicaMarket.replicaJobCount();
        _eq(n, handler.replicaJobCount(), "replica market: job count");
        uint256 open;
        for (uint256 id = 1; id <= n; ++id) {
            IReplicaMarket.ReplicaJob memory j = replicaMarket.replicaJob(id);
            if (j.status != IReplicaMarket.ReplicaStatus.Open) continue;
            open += uint256(j.replicas) * (j.feePerReplica + _reserveOf(j));
        }
        _eq(open, handler.replicaEscrow(), "replica market: escrow = the open jobs' fees and reserves");
        uint256 owes = open + handler.replicaCreditsTotal() + handler.replicaProtocolFees();
        _eq(token.balanceOf(address(replicaMarket)), owes, "replica market: open jobs' fees and reserves + credits + protocol fees");
        _eq(replicaMarket.protocolFees(), handler.replicaProtocolFees(), "replica market: protocol fees");
        _eq(token.balanceOf(address(batchMarket)), 0, "the batch market keeps nothing of the seats it imports");
    }

    /// @notice Nothing is created or lost: every token minted is in a wallet or a contract.
    function _checkTokenSupplyIsConserved() internal view {
        address[] memory all = handler.accounts();
        uint256 total = token.balanceOf(address(market)) + token.balanceOf(address(staking))
            + token.balanceOf(address(verification)) + token.balanceOf(address(replicaMarket))
            + token.balanceOf(address(batchMarket)) + token.balanceOf(address(this));
        for (uint256 i; i < all.length; ++i) total += token.balanceOf(all[i]);
        _eq(total, handler.minted(), "minted = wallets + market + staking + verification + replica market");
        _eq(token.totalSupply(), handler.minted(), "supply = minted");
    }

    /// @notice Every account's credits, in the market, in Verification and in the ReplicaMarket, are what the
    /// handler's ledger says it earned (and did not withdraw).
    function _checkCreditsAreWhatWasEarned() internal view {
        (address[] memory all, uint256[] memory inMarket, uint256[] memory inVerification) = handler.creditsModel();
        for (uint256 i; i < all.length; ++i) {
            _eq(market.credits(all[i]), inMarket[i], "market credits of an account");
            _eq(verification.credits(all[i]), inVerification[i], "verification credits of an account");
        }
        (, uint256[] memory inReplica) = handler.replicaCreditsModel();
        uint256 total;
        for (uint256 i; i < all.length; ++i) {
            _eq(replicaMarket.credits(all[i]), inReplica[i], "replica market credits of an account");
            total += inReplica[i];
        }
        _eq(total, handler.replicaCreditsTotal(), "replica market: every credit is an account's");
    }

    /// @notice Every staker's stake, locks, penalty debt, unbonding, roles and verifier weight are the handler's;
    /// locked never exceeds stake and is exactly the collateral of the staker's claimed, unfinished jobs and open
    /// seats of redundant jobs (a finished job or settled seat locks nothing, a seat sent to a committee locks as
    /// its JobMarket job, and a verifier penalty never takes a job's collateral: what free and unbonding stake
    /// can't pay is a debt owed on it, collected as it comes back, after the job's own slash); the debt never
    /// exceeds the locks, and an account in debt has no free stake (nothing owed can be unbonded or locked
    /// again); the verifier set's total is the sum of the weights (stake less debt).
    function _checkStakeAndLocksMatchTheJobs() internal view {
        (address[] memory all, HandlerBase.StakeModel[] memory stakes, uint256[] memory openCollateral) =
            handler.stakesModel();
        uint256 totalWeight;
        uint256 members;
        for (uint256 i; i < all.length; ++i) {
            IStaking.AccountView memory a = staking.account(all[i]);
            HandlerBase.StakeModel memory s = stakes[i];
            _le(a.locked, a.stake, "locked <= stake");
            _eq(a.locked, openCollateral[i], "locked = collateral of the account's unfinished jobs and open seats");
            _eq(a.stake, s.stake, "stake");
            _eq(a.locked, s.locked, "locked");
            uint256 debt = staking.penaltyDebt(all[i]);
            _eq(debt, s.debt, "penalty debt");
            _le(debt, a.locked, "penalty debt <= locked");
            if (debt != 0) _eq(a.stake, a.locked, "an account in debt has no free stake");
            _eq(a.unbonding, s.unbonding, "unbonding");
            _eq(a.unbondingEnd, s.unbondingEnd, "unbonding end");
            _eq(a.roles, s.roles, "roles");
            _eq(a.verifierWeight, s.weight, "verifier weight (slashes leave it, syncs set it to stake less debt)");
            totalWeight += s.weight;
            if (s.weight != 0) ++members;
        }
        _eq(staking.totalVerifierWeightAt(block.number), totalWeight, "the verifier set's total weight");
        _eq(staking.verifierCount(), members, "the verifier count");
    }

    /// @notice Every job's stored state is the handler's, judged by the terms version it was posted with
    /// (deadlines, sampling, splits all come from it, whatever was set since); statuses only moved forward
    /// (the handler records a failure otherwise); a finished job's escrow left exactly once, an open job's
    /// not at all.
    function _checkJobsFollowTheirOwnTerms() internal view {
        HandlerBase.JobDigest[] memory jobs = handler.jobsModel();
        _eq(market.jobCount(), jobs.length, "job count");
        uint32 version = handler.termsVersion();
        for (uint256 i; i < jobs.length; ++i) {
            _eq(market.jobHash(i + 1), jobs[i].stateHash, "stored job state = the model's");
            _eq(jobs[i].terms, jobs[i].postedUnder, "a job keeps the terms version current at its post");
            _le(jobs[i].terms, version, "a job's version exists");
            bool finished = uint8(jobs[i].status) >= uint8(IJobMarket.JobStatus.Finalized);
            _eq(jobs[i].payouts, finished ? 1 : 0, "a finished job's escrow left once, an open job's never");
        }
        _eq(market.jobHash(jobs.length + 1), bytes32(0), "no job beyond jobCount");
    }

    /// @notice Every terms version set is kept as set, and the current one is the market's.
    function _checkTermsVersionsAreKept() internal view {
        uint32 version = handler.termsVersion();
        _eq(terms.termsVersion(), version, "terms version");
        _eq(market.termsVersion(), version, "the market adopted the current version");
        for (uint32 v = 1; v <= version; ++v) {
            (IProtocolTerms.MarketParams memory mp, IProtocolTerms.VerificationParams memory vp) = terms.termsOf(v);
            _eq(keccak256(abi.encode(mp)), keccak256(abi.encode(handler.marketTerms(v))), "a version's market half");
            _eq(keccak256(abi.encode(vp)), keccak256(abi.encode(handler.verificationTerms(v))), "its verification half");
        }
    }

    /// @notice Nobody loses stake twice for one job (the provider at expiry or settlement, an auditor for a
    /// missed, unrevealed or wrong audit, a voter for its seats: observed from Staking's balances around each
    /// call, less a penalty debt for other jobs that the job's collateral paid on its way back); a dispute
    /// resolves once; an audit is paid once.
    function _checkNobodySlashedTwicePerJob() internal view {
        HandlerBase.JobDigest[] memory jobs = handler.jobsModel();
        for (uint256 i; i < jobs.length; ++i) {
            _le(jobs[i].maxSlashesOfOne, 1, "an account lost stake twice for one job");
            _le(jobs[i].resolutions, 1, "a dispute resolved twice");
            _le(jobs[i].auditRewards, 1, "an audit paid twice");
        }
    }

    /// @notice No stake is lost without a cause: what each staker paid in, less what it withdrew and what it
    /// still holds (active and unbonding), is exactly what the model took from it, slash by slash and penalty by
    /// penalty (a penalty's debt once collected), each for something the handler saw happen (for a redundant
    /// job's seat, with the ReplicaWithheld and Staking Slashed events reputation reads: ReplicaActions checks
    /// them around each call).
    function _checkStakeLostOnlyForACause() internal view {
        (address[] memory all, uint256[] memory deposited, uint256[] memory withdrawn, uint256[] memory lost) =
            handler.stakeFlows();
        for (uint256 i; i < all.length; ++i) {
            IStaking.AccountView memory a = staking.account(all[i]);
            uint256 kept = withdrawn[i] + a.stake + a.unbonding;
            _le(kept, deposited[i], "an account holds more stake than it paid in");
            if (kept <= deposited[i]) _eq(deposited[i] - kept, lost[i], "stake lost on-chain = the slashes the model saw");
        }
    }

    /// @notice Each redundant job pays as the terms it was posted under say, to the wei, once:
    ///   - the split: what the poster paid (k x (fee + reserve)) = what its seats were paid + protocol fee +
    ///     levy to the audit pool + committee reserve use (to the pool) + the disputed seats' fees (to the
    ///     JobMarket's escrow, with them) + the refund; each part as the rule gives it from the job's state (Agreed:
    ///     every revealed seat the fee less the protocol fee and levy; Disputed: the revealed seats' fees and
    ///     reserves go along; every unrevealed seat's fee and every reserve not used back; a withheld seat's whole
    ///     collateral out of Staking, to the poster); an open job moved nothing yet;
    ///   - pay once: a job settles once; a seat is paid at most once, a seat sent to a committee is not also paid
    ///     or released by the ReplicaMarket (its JobMarket job carries it), and every JobMarket job imported maps
    ///     back to exactly one seat;
    ///   - collateral: each seat's was locked once, and released (unlocked or slashed) exactly once by the
    ///     ReplicaMarket unless its JobMarket job took it over.
    /// The flows are what the handler observed moving around the calls (`jobs`: handler.replicasModel()); the
    /// stored jobs and seats are the model's.
    function _checkRedundantJobsPayOnceAsSplit(ReplicaActions.ReplicaDigest[] memory jobs) internal view {
        for (uint256 i; i < jobs.length; ++i) {
            IReplicaMarket.ReplicaJob memory j = replicaMarket.replicaJob(i + 1);
            _eq(keccak256(abi.encode(j)), jobs[i].stateHash, "stored redundant job = the model's");
            uint256 payout = _checkSplit(j, jobs[i]);
            _checkSeats(i + 1, j, jobs[i], payout);
        }
    }

    /// @dev What a settled redundant job's parts must be, by the rule, from its stored state and terms.
    struct Parts {
        uint256 posted;
        uint256 seatPay;
        uint256 protocolFee;
        uint256 levy;
        uint256 reserveUse;
        uint256 forwarded;
        uint256 refund;
        uint256 slashed;
        uint256 slashToPool;
    }

    /// @dev Returns a seat's payout on agreement (the fee less the protocol fee and the levy).
    function _checkSplit(IReplicaMarket.ReplicaJob memory j, ReplicaActions.ReplicaDigest memory d)
        internal
        view
        returns (uint256 payout)
    {
        ReplicaActions.Split memory s = d.split;
        Parts memory e;
        uint256 reserve;
        (e, payout, reserve) = _parts(j);
        _eq(d.reserve, reserve, "a seat's reserve: committeeSize x voterRewardBps of the fee");
        _eq(s.posted, e.posted, "a redundant job's poster paid k x (fee + reserve)");
        bool settled = j.status != IReplicaMarket.ReplicaStatus.Open;
        _eq(d.settles, settled ? 1 : 0, "a redundant job settles once, an open one not yet");
        if (!settled) {
            uint256 moved = s.seatPay + s.protocolFee + s.toPool + s.forwarded + s.refund + s.slashed;
            _eq(moved, 0, "nothing left an open redundant job");
            return payout;
        }
        _eq(s.seatPay, e.seatPay, "split: the agreed seats' payouts");
        _eq(s.protocolFee, e.protocolFee, "split: the agreed seats' protocol fees");
        _eq(
            s.toPool,
            e.levy + e.reserveUse + e.slashToPool,
            "split: the agreed seats' levy, the disputed seats' reserves and the withheld collateral past the poster's share to the pool"
        );
        _eq(s.forwarded, e.forwarded, "split: the disputed seats' fees to the JobMarket's escrow");
        _eq(s.refund, e.refund, "split: unrevealed seats' fees and unused reserves back");
        _eq(s.slashed, e.slashed, "split: each withheld seat's whole collateral slashed");
        _eq(
            s.posted,
            s.seatPay + s.protocolFee + e.levy + e.reserveUse + s.forwarded + s.refund,
            "posted = seats paid + protocol fee + levy + reserve use + disputed fees + refund, to the wei"
        );
    }

    /// @dev The rule's parts for a settled job (Agreed: each revealed seat paid; Disputed or Expired: the revealed
    /// seats' fees and reserves go to the JobMarket with them), a seat's payout, and a seat's reserve.
    function _parts(IReplicaMarket.ReplicaJob memory j) internal view returns (Parts memory e, uint256 payout, uint256 reserve) {
        IProtocolTerms.MarketParams memory p = handler.marketTerms(j.terms);
        uint256 fee = j.feePerReplica;
        uint256 k = j.replicas;
        uint256 n = j.revealed;
        reserve = _reserveOf(j);
        uint256 protocolFee = fee * p.protocolFeeBps / BPS;
        uint256 levy = fee * p.auditLevyBps / BPS;
        payout = fee - protocolFee - levy;
        bool paid = j.status == IReplicaMarket.ReplicaStatus.Agreed;
        e.posted = k * (fee + reserve);
        e.seatPay = paid ? n * payout : 0;
        e.protocolFee = paid ? n * protocolFee : 0;
        e.levy = paid ? n * levy : 0;
        e.reserveUse = paid ? 0 : n * reserve;
        e.forwarded = paid ? 0 : n * fee;
        e.refund = fee * (k - n) + reserve * (k - (paid ? 0 : n));
        e.slashed = (uint256(j.committed) - n) * j.collateral;
        // The withheld collateral past the poster's share (the expiry penalty's) funds the audit pool.
        e.slashToPool = e.slashed - e.slashed * p.expiryPenaltyBps / BPS;
    }

    /// @dev Each seat, as the ReplicaMarket stores it (whether it revealed, its JobMarket job), against what the
    /// handler saw move for it.
    function _checkSeats(uint256 id, IReplicaMarket.ReplicaJob memory j, ReplicaActions.ReplicaDigest memory d, uint256 payout)
        internal
        view
    {
        bool settled = j.status != IReplicaMarket.ReplicaStatus.Open;
        bool paid = j.status == IReplicaMarket.ReplicaStatus.Agreed;
        _eq(d.seats.length, j.committed, "a seat per commit");
        for (uint256 i; i < d.seats.length; ++i) {
            ReplicaActions.SeatDigest memory s = d.seats[i];
            IReplicaMarket.Seat memory seat = replicaMarket.seat(id, i);
            _eq(keccak256(abi.encode(seat)), s.stateHash, "stored seat = the model's");
            _eq(s.locks, 1, "a seat's collateral locked once");
            _le(s.paidCount, 1, "a seat paid twice");
            if (!settled) {
                _eq(s.releases + s.paidCount + seat.jobId + s.slashed, 0, "an open job's seat: nothing released, paid or sent");
                continue;
            }
            if (seat.jobId != 0) {
                _eq(s.paidCount + s.releases + s.slashed, 0, "a seat sent to a committee is not also paid or released");
                _eq(handler.seatOfJob(seat.jobId), (id << 8 | i) + 1, "an imported JobMarket job is exactly one seat");
                IJobMarket.Job memory job = handler.jobState(seat.jobId);
                _true(job.provider == seat.provider && job.fee == j.feePerReplica, "an imported job carries its seat");
                _eq(job.collateral, j.collateral, "an imported job carries its seat's collateral");
                continue;
            }
            _eq(s.releases, 1, "a seat's collateral released (unlocked or slashed) exactly once");
            if (seat.revealed) {
                _true(paid, "a revealed seat of a disputed job went to a committee");
                _eq(s.paid, payout, "an agreed seat is paid the fee less the protocol fee and the levy");
                _eq(s.slashed, 0, "an agreed seat loses nothing");
            } else {
                _eq(s.paidCount, 0, "a withheld seat is paid nothing");
                _eq(s.slashed, j.collateral, "a withheld seat loses its whole collateral");
            }
        }
    }

    /// @notice The rational attacker: a made-up root never earns more than an honest one. Per seat whose outcome
    /// is final (settled by the ReplicaMarket, or its JobMarket job finished after its committee, which votes
    /// the truth), its net gain (paid, less stake lost, as observed) against what an honest seat of its job earns
    /// (the fee less the protocol fee and the levy): an honest revealed seat earns exactly that; a made-up one at
    /// most that, and nothing from the ReplicaMarket beside a revealed honest root; a withheld one loses its
    /// collateral. Summed per behaviour over the run, made-up roots never out-earn honest ones on the same seats.
    /// How a seat behaved is read from the ReplicaMarket (revealed, and which root).
    function _checkMadeUpRootsNeverOutearnHonestOnes(ReplicaActions.ReplicaDigest[] memory jobs) internal view {
        int256[3] memory net;
        int256[3] memory honestPay;
        for (uint256 i; i < jobs.length; ++i) {
            IReplicaMarket.ReplicaJob memory j = replicaMarket.replicaJob(i + 1);
            if (j.status == IReplicaMarket.ReplicaStatus.Open) continue;
            (, uint256 payout,) = _parts(j);
            IReplicaMarket.Seat[] memory seats = new IReplicaMarket.Seat[](j.committed);
            uint8[] memory behaviour = new uint8[](j.committed);
            bytes32 honest = handler.honestRoot(i + 1);
            bool honestRevealed;
            for (uint256 s; s < seats.length; ++s) {
                seats[s] = replicaMarket.seat(i + 1, s);
                behaviour[s] = !seats[s].revealed ? WITHHELD : (seats[s].outputRoot == honest ? HONEST : MADE_UP);
                if (behaviour[s] == HONEST) honestRevealed = true;
            }
            for (uint256 s; s < seats.length; ++s) {
                (bool final_, int256 gain) = _netGain(jobs[i].seats[s], seats[s].jobId, j.collateral, int256(payout));
                if (!final_) continue;
                uint8 b = behaviour[s];
                net[b] += gain;
                honestPay[b] += int256(payout);
                if (b == HONEST) _true(gain == int256(payout), "an honest revealed seat earns exactly an honest payout");
                if (b == MADE_UP) {
                    _true(gain <= int256(payout), "a made-up root earned more than an honest one");
                    _true(jobs[i].seats[s].paidCount == 0 || !honestRevealed, "the ReplicaMarket paid a made-up root beside an honest one");
                }
                if (b == WITHHELD) _true(gain < 0, "a withheld seat gained");
            }
        }
        _true(net[HONEST] == honestPay[HONEST], "honest seats, summed: exactly their payouts");
        _true(net[MADE_UP] <= honestPay[MADE_UP], "made-up roots, summed, out-earned honest ones on the same seats");
        _true(net[WITHHELD] <= 0, "withheld seats, summed, gained");
    }

    /// @dev A settled seat's net gain: what the ReplicaMarket paid it, less the stake it lost there (observed);
    /// sent to a committee (`jobId`, as the ReplicaMarket stores it), the payout once its JobMarket job is
    /// Finalized, less its collateral once Slashed (not final before).
    function _netGain(ReplicaActions.SeatDigest memory seat, uint256 jobId, uint256 collateral, int256 payout)
        internal
        view
        returns (bool final_, int256 gain)
    {
        gain = int256(seat.paid) - int256(seat.slashed);
        if (jobId == 0) return (true, gain);
        IJobMarket.JobStatus status = handler.jobState(jobId).status;
        if (status == IJobMarket.JobStatus.Finalized) return (true, gain + payout);
        if (status == IJobMarket.JobStatus.Slashed) return (true, gain - int256(collateral));
        return (false, 0);
    }

    /// @dev A seat's committee reserve under the job's own terms version (IReplicaMarket.quote).
    function _reserveOf(IReplicaMarket.ReplicaJob memory j) internal view returns (uint256) {
        IProtocolTerms.VerificationParams memory v = handler.verificationTerms(j.terms);
        return uint256(j.feePerReplica) * v.committeeSize * v.voterRewardBps / BPS;
    }

    /// @dev Every action did what the spec says (after each, the job's stored state, audit and dispute are the
    /// model's), every valid action was accepted, and every attack was refused with the error the spec names.
    function _checkEveryActionAsSpecified() internal view {
        if (handler.failures() != 0) vm.assertEq(handler.failures(), 0, handler.firstFailure());
        if (handler.unexpectedReverts() != 0) vm.assertEq(handler.unexpectedReverts(), 0, handler.firstUnexpectedRevert());
    }

    function _checkAll() internal view {
        _checkEachContractHoldsExactlyWhatItOwes();
        _checkTokenSupplyIsConserved();
        _checkCreditsAreWhatWasEarned();
        _checkStakeAndLocksMatchTheJobs();
        _checkJobsFollowTheirOwnTerms();
        _checkTermsVersionsAreKept();
        _checkNobodySlashedTwicePerJob();
        _checkStakeLostOnlyForACause();
        ReplicaActions.ReplicaDigest[] memory replicaJobs = handler.replicasModel();
        _checkRedundantJobsPayOnceAsSplit(replicaJobs);
        _checkMadeUpRootsNeverOutearnHonestOnes(replicaJobs);
        _checkEveryActionAsSpecified();
    }

    // ================================================================== helpers

    uint256 private constant BPS = 10_000;
    /// @dev How a seat behaved (ReplicaActions' behaviours).
    uint8 private constant HONEST = 0;
    uint8 private constant MADE_UP = 1;
    uint8 private constant WITHHELD = 2;

    // Checks that call the cheatcode (which prints both values) only when they fail: an invariant runs after
    // every call of every run, and most of its time would otherwise go to passing assertions.

    function _eq(uint256 a, uint256 b, string memory what) internal pure {
        if (a != b) vm.assertEq(a, b, what);
    }

    function _eq(bytes32 a, bytes32 b, string memory what) internal pure {
        if (a != b) vm.assertEq(a, b, what);
    }

    function _le(uint256 a, uint256 b, string memory what) internal pure {
        if (a > b) vm.assertLe(a, b, what);
    }

    function _true(bool ok, string memory what) internal pure {
        if (!ok) vm.assertTrue(ok, what);
    }
}
