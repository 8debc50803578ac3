// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchMarket} from "../../contracts/BatchMarket.sol";
import {DinferTestToken} from "../../contracts/DinferTestToken.sol";
import {JobMarket} from "../../contracts/JobMarket.sol";
import {ModelRegistry} from "../../contracts/ModelRegistry.sol";
import {ProtocolTerms} from "../../contracts/ProtocolTerms.sol";
import {ProviderProfiles} from "../../contracts/ProviderProfiles.sol";
import {ReplicaMarket} from "../../contracts/ReplicaMarket.sol";
import {Staking} from "../../contracts/Staking.sol";
import {Verification} from "../../contracts/Verification.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {IProtocolTerms} from "../../contracts/interfaces/IProtocolTerms.sol";
import {IRandomness} from "../../contracts/interfaces/IRandomness.sol";
import {IStaking} from "../../contracts/interfaces/IStaking.sol";
import {Commitments} from "../../contracts/libraries/Commitments.sol";

import {TestBase} from "./Vm.sol";

/// @notice Deploys and wires the protocol the way `ignition/modules/Dinfer.ts` does, with the parameters of
/// `ignition/parameters/local.json` and the test contract as owner: Staking, ModelRegistry, ProtocolTerms,
/// JobMarket (blockhash randomness), Verification, BatchMarket; then `staking.setProtocol(market, verification)`,
/// `market.setVerification(verification)`, `terms.setMarket(market)`, and the batch market set in the market
/// and in Staking. Also the few job steps the fuzz
/// tests share, each returning the job's state as the market must now store it (and checking that it does).
abstract contract ProtocolFixture is TestBase {
    uint8 internal constant ROLE_PROVIDER = 1;
    uint8 internal constant ROLE_VERIFIER = 2;

    DinferTestToken internal token;
    Staking internal staking;
    ModelRegistry internal registry;
    ProtocolTerms internal terms;
    JobMarket internal market;
    Verification internal verification;
    BatchMarket internal batchMarket;
    /// @dev Zero unless `_deployReplicaMarket` ran.
    ProviderProfiles internal profiles;
    ReplicaMarket internal replicaMarket;

    function _deployProtocol() internal {
        token = new DinferTestToken();
        staking = new Staking(token, address(this), _localStakingParams());
        registry = new ModelRegistry();
        terms = new ProtocolTerms(staking, address(this), _localMarketParams(), _localVerificationParams());
        market = new JobMarket(token, staking, registry, IRandomness(address(0)), terms, address(this));
        verification = new Verification(token, market, staking, address(this));
        staking.setProtocol(address(market), address(verification));
        market.setVerification(address(verification));
        terms.setMarket(address(market));
        batchMarket = new BatchMarket(token, market, staking, registry, address(this));
        market.setBatchMarket(address(batchMarket));
        staking.setBatchMarket(address(batchMarket));
    }

    /// @dev After `_deployProtocol`: ProviderProfiles and the ReplicaMarket (redundant jobs), the test contract as
    /// owner, set in Staking and in the BatchMarket (its gateway for disputed seats) as the ignition module does.
    function _deployReplicaMarket() internal {
        profiles = new ProviderProfiles();
        replicaMarket = new ReplicaMarket(token, market, staking, registry, profiles, address(this));
        staking.setReplicaMarket(address(replicaMarket));
        batchMarket.setReplicaMarket(address(replicaMarket));
    }

    // ------------------------------------------------------------------ ignition/parameters/local.json

    function _localStakingParams() internal pure returns (IStaking.StakingParams memory) {
        return IStaking.StakingParams({unbondingPeriod: 7200, minVerifierStake: 100 ether});
    }

    function _localMarketParams() internal pure returns (IProtocolTerms.MarketParams memory) {
        return IProtocolTerms.MarketParams({
            maxClaimDelay: 3600,
            commitTimeout: 300,
            revealTimeout: 180,
            challengeWindow: 60,
            disputeDuration: 600,
            callbackGasLimit: 500_000,
            protocolFeeBps: 200,
            auditLevyBps: 700,
            expiryPenaltyBps: 1000,
            seedDelay: 2,
            samplingPpm: 50_000
        });
    }

    function _localVerificationParams() internal pure returns (IProtocolTerms.VerificationParams memory) {
        return IProtocolTerms.VerificationParams({
            challengeBond: 50 ether,
            auditorPenalty: 5 ether,
            voterPenalty: 2 ether,
            auditCommitTimeout: 90,
            voteCommitTimeout: 120,
            voteRevealTimeout: 120,
            committeeSize: 3,
            challengerRewardBps: 4000,
            providerRewardBps: 5000,
            auditRewardBps: 10_000,
            voterRewardBps: 10_000,
            recheckPpm: 100_000
        });
    }

    // ------------------------------------------------------------------ accounts and models

    function _registerModel(uint96 collateral, uint96 priceFloor, string memory name) internal returns (uint256) {
        return registry.register(
            IModelRegistry.ModelSpec({
                modelHash: keccak256(bytes(name)),
                uri: string.concat("ipfs://", name),
                runtime: "onnxruntime-node@1.30.0",
                tolerance: IModelRegistry.Tolerance(IModelRegistry.ToleranceKind.Argmax, -1, 0, 0),
                minCollateral: collateral,
                priceFloor: priceFloor,
                nonFiniteInputs: false
            })
        );
    }

    /// @dev Mints any amount (the faucet gives at most FAUCET_LIMIT per call).
    function _mint(address to, uint256 amount) internal {
        uint256 limit = token.FAUCET_LIMIT();
        for (uint256 left = amount; left != 0;) {
            uint256 chunk = left < limit ? left : limit;
            token.mint(to, chunk);
            left -= chunk;
        }
    }

    function _stake(address who, uint256 amount, uint8 roles) internal {
        _mint(who, amount);
        vm.startPrank(who);
        token.approve(address(staking), amount);
        staking.stake(amount, roles);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ job steps

    /// @dev Posts a job with an input by URI; returns its id and posted state.
    function _postJob(address poster, uint256 modelId, uint256 fee)
        internal
        returns (uint256 jobId, IJobMarket.Job memory job)
    {
        _mint(poster, fee);
        IJobMarket.JobRequest memory req;
        req.modelId = modelId;
        req.fee = fee;
        req.claimBy = uint64(block.timestamp + 600);
        req.inputHash = keccak256(abi.encode("input", market.jobCount()));
        req.inputURI = "ipfs://input";
        vm.startPrank(poster);
        token.approve(address(market), fee);
        jobId = market.postJob(req);
        vm.stopPrank();
        (,, uint96 collateral) = registry.terms(modelId);
        job = IJobMarket.Job({
            poster: poster,
            modelId: uint32(modelId),
            terms: market.termsVersion(),
            fee: uint96(fee),
            collateral: collateral,
            callbackGasLimit: 0,
            status: IJobMarket.JobStatus.Posted,
            deadline: uint32(req.claimBy),
            provider: address(0),
            commitBlock: 0,
            result: bytes32(0),
            inlineOutput: false,
            sampled: false
        });
        _assertStored(jobId, job, "posted");
    }

    function _claim(uint256 jobId, IJobMarket.Job memory job, address provider)
        internal
        returns (IJobMarket.Job memory)
    {
        vm.prank(provider);
        market.claim(jobId, job);
        job.status = IJobMarket.JobStatus.Claimed;
        job.provider = provider;
        (IProtocolTerms.MarketParams memory p,) = terms.termsOf(job.terms);
        job.deadline = uint32(block.timestamp + p.commitTimeout);
        _assertStored(jobId, job, "claimed");
        return job;
    }

    /// @dev Claims and commits to `root` (salt derived from the job id) in one transaction.
    function _claimAndCommit(uint256 jobId, IJobMarket.Job memory job, address provider, bytes32 root)
        internal
        returns (IJobMarket.Job memory)
    {
        bytes32 commitment = Commitments.hash(block.chainid, address(market), jobId, provider, root, _salt(jobId));
        vm.prank(provider);
        market.claimAndCommit(jobId, job, commitment);
        return _committed(jobId, job, provider, commitment);
    }

    function _commit(uint256 jobId, IJobMarket.Job memory job, bytes32 root) internal returns (IJobMarket.Job memory) {
        bytes32 commitment = Commitments.hash(block.chainid, address(market), jobId, job.provider, root, _salt(jobId));
        vm.prank(job.provider);
        market.commit(jobId, job, commitment);
        return _committed(jobId, job, job.provider, commitment);
    }

    function _committed(uint256 jobId, IJobMarket.Job memory job, address provider, bytes32 commitment)
        private
        view
        returns (IJobMarket.Job memory)
    {
        (IProtocolTerms.MarketParams memory p,) = terms.termsOf(job.terms);
        job.status = IJobMarket.JobStatus.Committed;
        job.provider = provider;
        job.deadline = uint32(block.timestamp + p.revealTimeout);
        job.commitBlock = uint64(block.number);
        job.result = commitment;
        _assertStored(jobId, job, "committed");
        return job;
    }

    /// @dev Reveals `root` by URI (the seed block must be mined and the auditor done).
    function _reveal(uint256 jobId, IJobMarket.Job memory job, bytes32 root) internal returns (IJobMarket.Job memory) {
        (IProtocolTerms.MarketParams memory p,) = terms.termsOf(job.terms);
        (, bool sampled) = market.samplingOf(jobId, job.commitBlock, job.terms);
        vm.prank(job.provider);
        market.reveal(jobId, job, root, _salt(jobId), "ipfs://output", "");
        job.status = IJobMarket.JobStatus.Revealed;
        job.deadline = uint32(block.timestamp + p.challengeWindow);
        job.result = root;
        job.sampled = sampled;
        return job;
    }

    /// @dev The salt the job steps commit with (a worker derives it from a secret; any fixed value does here).
    function _salt(uint256 jobId) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", jobId));
    }

    function _auditCommitment(uint256 jobId, address auditor, bytes32 root) internal view returns (bytes32) {
        return Commitments.hash(block.chainid, address(market), jobId, auditor, root, _salt(jobId));
    }

    function _assertStored(uint256 jobId, IJobMarket.Job memory job, string memory what) internal view {
        vm.assertEq(market.jobHash(jobId), keccak256(abi.encode(job)), string.concat("stored state: ", what));
    }

    /// @dev Owner: a new terms version with these market parameters (the verification half kept).
    function _setMarketParams(IProtocolTerms.MarketParams memory p) internal {
        terms.setParams(p);
    }

    function _setVerificationParams(IProtocolTerms.VerificationParams memory p) internal {
        terms.setVerificationParams(p);
    }
}
