// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DinferTestToken} from "../../contracts/DinferTestToken.sol";
import {JobMarket} from "../../contracts/JobMarket.sol";
import {ModelRegistry} from "../../contracts/ModelRegistry.sol";
import {Staking} from "../../contracts/Staking.sol";
import {Verification} from "../../contracts/Verification.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {IRandomness} from "../../contracts/interfaces/IRandomness.sol";
import {IStaking} from "../../contracts/interfaces/IStaking.sol";
import {IVerification} from "../../contracts/interfaces/IVerification.sol";

import {TestBase} from "./Vm.sol";

/// @notice Deploys the protocol the way `ignition/modules/DinferLocal.ts` does, with the parameters of
/// `ignition/parameters/local.json`, the test contract as owner. The wiring is left to the test, which
/// decides who holds the verification role (the real Verification contract, or a handler that plays it).
abstract contract ProtocolFixture is TestBase {
    DinferTestToken internal token;
    Staking internal staking;
    ModelRegistry internal registry;
    JobMarket internal market;
    Verification internal verification;

    function _deployProtocol() internal {
        token = new DinferTestToken();
        staking = new Staking(token, address(this), _localStakingParams());
        registry = new ModelRegistry();
        market = new JobMarket(token, staking, registry, IRandomness(address(0)), address(this), _localMarketParams());
        verification = new Verification(token, market, staking, address(this), _localVerificationParams());
    }

    /// @dev What `deployProtocol` does after the deployments, with `verificationRole` in place of the
    /// Verification contract when a test plays that role itself.
    function _wire(address verificationRole) internal {
        staking.setProtocol(address(market), verificationRole);
        market.setVerification(verificationRole);
    }

    function _localStakingParams() internal pure returns (IStaking.StakingParams memory) {
        return IStaking.StakingParams({unbondingPeriod: 7200, minVerifierStake: 100 ether});
    }

    function _localMarketParams() internal pure returns (IJobMarket.MarketParams memory) {
        return IJobMarket.MarketParams({
            maxClaimDelay: 3600,
            commitTimeout: 300,
            revealTimeout: 300,
            challengeWindow: 60,
            disputeDuration: 600,
            callbackGasLimit: 500_000,
            protocolFeeBps: 200,
            auditLevyBps: 300,
            expiryPenaltyBps: 1000,
            seedDelay: 2,
            samplingPpm: 0
        });
    }

    function _localVerificationParams() internal pure returns (IVerification.VerificationParams memory) {
        return IVerification.VerificationParams({
            challengeBond: 50 ether,
            auditReward: 1 ether,
            auditorPenalty: 5 ether,
            voterPenalty: 2 ether,
            auditCommitTimeout: 120,
            voteCommitTimeout: 120,
            voteRevealTimeout: 120,
            committeeSize: 3,
            challengerRewardBps: 4000,
            voterRewardBps: 3000,
            providerRewardBps: 5000
        });
    }

    function _registerModel(uint96 collateral, uint96 priceFloor, bytes32 modelHash) internal returns (uint256) {
        return registry.register(
            IModelRegistry.ModelSpec({
                modelHash: modelHash,
                uri: "ipfs://model",
                runtime: "onnxruntime-node@1.30.0",
                tolerance: IModelRegistry.Tolerance(IModelRegistry.ToleranceKind.Allclose, 0, 1e6, 1e6),
                minCollateral: collateral,
                priceFloor: priceFloor
            })
        );
    }
}
