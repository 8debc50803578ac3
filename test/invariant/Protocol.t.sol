// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DinferTestToken} from "../../contracts/DinferTestToken.sol";
import {JobMarket} from "../../contracts/JobMarket.sol";
import {ModelRegistry} from "../../contracts/ModelRegistry.sol";
import {ProtocolTerms} from "../../contracts/ProtocolTerms.sol";
import {Staking} from "../../contracts/Staking.sol";
import {Verification} from "../../contracts/Verification.sol";
import {IProtocolTerms} from "../../contracts/interfaces/IProtocolTerms.sol";

import {ProtocolChecks} from "./ProtocolChecks.sol";
import {ProtocolHandler} from "./handlers/ProtocolHandler.sol";
import {ReplicaActions} from "./handlers/ReplicaActions.sol";

/// @notice Protocol-wide invariants under random sequences of every role's actions on the real contracts
/// (ProtocolHandler): dApps post, providers (some also verifiers) claim, commit, reveal or go silent, drawn
/// auditors commit blind and reveal or miss, anyone challenges, keepers draw committees, members vote or stay
/// silent, disputes resolve, governance sets new terms mid-run, everyone withdraws, and attacks are tried;
/// among them redundant jobs (ReplicaMarket): k seats taken blind with honest, made-up or withheld roots,
/// revealed, settled, and their disputed seats judged by committees as JobMarket jobs.
/// The handler keeps its own model of what every contract owes and stores; the invariants hold the contracts
/// to it. Runs and depth: hardhat.config.ts `test.solidity.invariant` (256 x 32).
/// @dev fail-on-revert: the handler makes every protocol call itself and classifies its outcome, so a revert
/// of a handler call can only be a handler bug (and would roll back, and hide, what that call did).
/// forge-config: default.invariant.fail-on-revert = true
contract ProtocolInvariantTest is ProtocolChecks {

    function _newHandler() internal override returns (ProtocolHandler) {
        return new InvariantHandler(
            token, staking, registry, terms, market, verification, address(this), _localMarketParams(), _localVerificationParams()
        );
    }
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory s = new bytes4[](30);
        s[0] = handler.postJob.selector;
        s[1] = handler.claim.selector;
        s[2] = handler.commit.selector;
        s[3] = handler.reveal.selector;
        s[4] = handler.finalize.selector;
        s[5] = handler.expire.selector;
        s[6] = handler.commitAudit.selector;
        s[7] = handler.revealAudit.selector;
        s[8] = handler.challenge.selector;
        s[9] = handler.drawCommittee.selector;
        s[10] = handler.commitVote.selector;
        s[11] = handler.revealVote.selector;
        s[12] = handler.resolve.selector;
        s[13] = handler.stake.selector;
        s[14] = handler.requestUnbond.selector;
        s[15] = handler.withdrawStake.selector;
        s[16] = handler.setRoles.selector;
        s[17] = handler.syncVerifier.selector;
        s[18] = handler.setMarketParams.selector;
        s[19] = handler.setVerificationParams.selector;
        s[20] = handler.withdrawFees.selector;
        s[21] = handler.fundAuditPool.selector;
        s[22] = handler.withdrawCredits.selector;
        s[23] = handler.advance.selector;
        s[24] = handler.attack.selector;
        s[25] = handler.postReplicated.selector;
        s[26] = handler.commitSeat.selector;
        s[27] = handler.revealSeats.selector;
        s[28] = handler.settleReplicated.selector;
        s[29] = handler.advanceReplicated.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), s);
    }

    // ================================================================== invariants
    // Three invariant functions, each running a group of named checks: an invariant runs after every call
    // of every run, and each function costs a call of its own.

    /// @notice Every token is where the handler's ledger says: each contract (the ReplicaMarket included: its
    /// open jobs' fees and reserves, credits, protocol fees) holds exactly what it owes, the supply is conserved,
    /// every account's credits are what it earned.
    function invariant_tokensAreAccountedFor() public view {
        _checkEachContractHoldsExactlyWhatItOwes();
        _checkTokenSupplyIsConserved();
        _checkCreditsAreWhatWasEarned();
    }

    /// @notice Stake, locks, jobs and terms follow the rules: locked <= stake and exactly the open jobs' and
    /// seats' collateral, no stake lost without a cause, every job stored as the model has it and judged by its
    /// own terms version, every version kept as set, nobody slashed twice for a job; every redundant job split
    /// to the wei as its terms say and paid once, each seat's collateral released once, and a made-up root never
    /// out-earning an honest one.
    function invariant_stakeJobsAndTermsFollowTheRules() public view {
        _checkStakeAndLocksMatchTheJobs();
        _checkStakeLostOnlyForACause();
        _checkJobsFollowTheirOwnTerms();
        _checkTermsVersionsAreKept();
        _checkNobodySlashedTwicePerJob();
        ReplicaActions.ReplicaDigest[] memory replicaJobs = handler.replicasModel();
        _checkRedundantJobsPayOnceAsSplit(replicaJobs);
        _checkMadeUpRootsNeverOutearnHonestOnes(replicaJobs);
    }


    /// @notice Every action did what the spec says, every valid action was accepted, and every attack was
    /// refused with the error the spec names.
    function invariant_everyActionAsSpecified() public view {
        _checkEveryActionAsSpecified();
    }
}

/// @notice The handler this file deploys (see ProtocolHandler: its artifact must come from this file).
contract InvariantHandler is ProtocolHandler {
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
    ) ProtocolHandler(token_, staking_, registry_, terms_, market_, verification_, owner_, firstMarket, firstVerification) {}
}
