// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../contracts/interfaces/IProtocolTerms.sol";
import {IStaking} from "../../contracts/interfaces/IStaking.sol";

import {ProtocolFixture} from "../utils/ProtocolFixture.sol";
import {HandlerBase} from "./handlers/HandlerBase.sol";
import {ProtocolHandler} from "./handlers/ProtocolHandler.sol";

/// @notice The protocol deployed as ignition/modules/Dinfer.ts does, the handler (test/invariant/handlers)
/// bootstrapped over it, and the checks that hold the contracts to the handler's own model: shared by the
/// invariant test (which runs them after every call) and the reachability test (which runs them along
/// scripted scenarios).
abstract contract ProtocolChecks is ProtocolFixture {
    ProtocolHandler internal handler;

    function setUp() public {
        vm.warp(1_800_000_000);
        vm.roll(1_000);
        _deployProtocol();
        handler = _newHandler();
        handler.bootstrap();
    }

    /// @dev Deploys the test file's concrete handler over the protocol just deployed.
    function _newHandler() internal virtual returns (ProtocolHandler);

    /// @notice Each contract's token balance is exactly what it owes, as the handler's own ledger counts it:
    /// the market the escrow of open jobs, the credits, the protocol fees and the audit pool; Verification
    /// the open bonds, its credits and its treasury; Staking every stake and every unbonding amount. (Nobody
    /// donates tokens in these runs: a surplus would be tokens stuck for good.)
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
        _eq(token.balanceOf(address(staking)), staked + unbonding, "staking: stake + unbonding");
        _eq(staking.totalStaked(), staked, "staking: totalStaked");
        _eq(staking.totalUnbonding(), unbonding, "staking: totalUnbonding");
    }

    /// @notice Nothing is created or lost: every token minted is in a wallet or a contract.
    function _checkTokenSupplyIsConserved() internal view {
        address[] memory all = handler.accounts();
        uint256 total = token.balanceOf(address(market)) + token.balanceOf(address(staking))
            + token.balanceOf(address(verification)) + token.balanceOf(address(this));
        for (uint256 i; i < all.length; ++i) total += token.balanceOf(all[i]);
        _eq(total, handler.minted(), "minted = wallets + market + staking + verification");
        _eq(token.totalSupply(), handler.minted(), "supply = minted");
    }

    /// @notice Every account's credits, in the market and in Verification, are what the handler's ledger says
    /// it earned (and did not withdraw).
    function _checkCreditsAreWhatWasEarned() internal view {
        (address[] memory all, uint256[] memory inMarket, uint256[] memory inVerification) = handler.creditsModel();
        for (uint256 i; i < all.length; ++i) {
            _eq(market.credits(all[i]), inMarket[i], "market credits of an account");
            _eq(verification.credits(all[i]), inVerification[i], "verification credits of an account");
        }
    }

    /// @notice Every staker's stake, locks, unbonding, roles and verifier weight are the handler's; locked never
    /// exceeds stake and is exactly the collateral of the staker's claimed, unfinished jobs (a finished job
    /// locks nothing, and a verifier penalty never reaches a job's collateral); the verifier set's total is the
    /// sum of the weights.
    function _checkStakeAndLocksMatchTheJobs() internal view {
        (address[] memory all, HandlerBase.StakeModel[] memory stakes, uint256[] memory openCollateral) =
            handler.stakesModel();
        uint256 totalWeight;
        uint256 members;
        for (uint256 i; i < all.length; ++i) {
            IStaking.AccountView memory a = staking.account(all[i]);
            HandlerBase.StakeModel memory s = stakes[i];
            _le(a.locked, a.stake, "locked <= stake");
            _eq(a.locked, openCollateral[i], "locked = collateral of the account's claimed, unfinished jobs");
            _eq(a.stake, s.stake, "stake");
            _eq(a.locked, s.locked, "locked");
            _eq(a.unbonding, s.unbonding, "unbonding");
            _eq(a.unbondingEnd, s.unbondingEnd, "unbonding end");
            _eq(a.roles, s.roles, "roles");
            _eq(a.verifierWeight, s.weight, "verifier weight (slashes leave it, syncs set it)");
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
    /// call); a dispute resolves once; an audit is paid once.
    function _checkNobodySlashedTwicePerJob() internal view {
        HandlerBase.JobDigest[] memory jobs = handler.jobsModel();
        for (uint256 i; i < jobs.length; ++i) {
            _le(jobs[i].maxSlashesOfOne, 1, "an account lost stake twice for one job");
            _le(jobs[i].resolutions, 1, "a dispute resolved twice");
            _le(jobs[i].auditRewards, 1, "an audit paid twice");
        }
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
        _checkEveryActionAsSpecified();
    }

    // ================================================================== helpers

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
