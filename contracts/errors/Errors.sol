// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IBatchMarket} from "../interfaces/IBatchMarket.sol";
import {IJobMarket} from "../interfaces/IJobMarket.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IReplicaMarket} from "../interfaces/IReplicaMarket.sol";
import {IVerification} from "../interfaces/IVerification.sol";

// Every custom error of the protocol's contracts, each declared once, so that one name is one signature
// and one selector whichever contract reverts with it. A contract's ABI lists the errors it can revert
// with. offchain/chain/revert-messages.ts has a sentence for each (its drift test reads the ABIs).

// ---------------------------------------------------------------- shared

error ZeroAddress();
error ZeroAmount();
error ZeroCommitment();
error ZeroOutputRoot();
error InvalidParams(string reason);
/// @dev The state passed for a job is not the one the market holds (its hash differs).
error JobMismatch(uint256 jobId);
/// @dev The seed of `seedBlock` is not known yet (the block is not mined, or its randomness not delivered).
error SeedNotReady(uint256 jobId, uint256 seedBlock, uint256 currentBlock);
/// @dev A token delivered less than was transferred (fee-on-transfer tokens are refused).
error TokenTransferMismatch(uint256 expected, uint256 received);
/// @dev A pull payment with nothing owed.
error NothingToWithdraw(address account);

// ---------------------------------------------------------------- JobMarket

error JobNotFound(uint256 jobId);
error WrongStatus(uint256 jobId, IJobMarket.JobStatus status);
error DeadlinePassed(uint256 jobId, uint256 deadline, uint256 nowTime);
error DeadlineNotPassed(uint256 jobId, uint256 deadline, uint256 nowTime);
error NotJobProvider(uint256 jobId, address caller);
/// @dev A signed job request posted a second time (its job, whatever became of it, holds the id).
error SignedJobUsed(uint256 jobId);
/// @dev A signed job request whose signature is not its poster's.
error BadJobSignature(address poster);
/// @dev A signed job request whose model's collateral fell below what its poster signed for.
error CollateralBelowSigned(uint256 collateral, uint256 minCollateral);
/// @dev Only a signed request's poster may cancel it.
error NotPoster(address caller);
/// @dev A signed job request that names another provider than the caller.
error SignedJobForAnotherProvider(address provider, address caller);
error ModelInactive(uint256 modelId);
error FeeBelowFloor(uint256 fee, uint256 floor);
error FeeTooLarge(uint256 fee);
error InvalidClaimBy(uint256 claimBy, uint256 earliest, uint256 latest);
error MissingInput();
error InputTooLarge(uint256 length, uint256 max);
error InputHashMismatch(bytes32 given, bytes32 computed);
error InputUriWithInlineInput();
error CallbackGasTooHigh(uint256 requested, uint256 max);
error CallbackNeedsContract(address poster);
/// @dev The sampling seed went out of reach before the reveal: the job can only expire (as sampled).
error SeedOutOfReach(uint256 jobId, uint256 seedBlock, uint256 lastRevealBlock);
error CommitmentMismatch(uint256 jobId);
error OutputTooLarge(uint256 length, uint256 max);
error OutputRootMismatch(bytes32 given, bytes32 computed);
error InlineOutputRequired(uint256 jobId);
error InsufficientGasForCallback(uint256 required, uint256 available);
error ModelIdTooLarge(uint256 modelId);
error NotVerification(address caller);
error VerificationAlreadySet();
error NotTerms(address caller);
error NotBatchMarket(address caller);
error BatchMarketAlreadySet();
/// @dev Only ids reserved for a batch (at or below jobCount, with no state yet) can be imported, each once.
error JobNotReserved(uint256 jobId);

// ---------------------------------------------------------------- BatchMarket

error BatchNotFound(uint256 batchId);
error BatchMismatch(uint256 batchId);
error WrongBatchStatus(uint256 batchId, IBatchMarket.BatchStatus status);
error BatchSizeInvalid(uint256 count, uint256 max);
error LengthMismatch(uint256 expected, uint256 given);
error InsufficientDeposit(address account, uint256 available, uint256 required);
error BatchDeadlinePassed(uint256 batchId, uint256 deadline, uint256 nowTime);
error BatchDeadlineNotPassed(uint256 batchId, uint256 deadline, uint256 nowTime);
error NotBatchProvider(uint256 batchId, address caller);
error JobIndexOutOfRange(uint256 batchId, uint256 index, uint256 count);
error JobAlreadySplit(uint256 batchId, uint256 jobId);
/// @dev The leaf and proof do not lead to the batch's commitment or result root.
error InvalidProof(uint256 batchId, uint256 jobId);
/// @dev A sampled job must be split out (and audited through the JobMarket) before its batch is revealed.
error SampledJobNotSplit(uint256 batchId, uint256 jobId);
error BatchCommitmentMismatch(uint256 batchId);
error BatchSeedNotReady(uint256 batchId, uint256 seedBlock, uint256 currentBlock);
error BatchSeedOutOfReach(uint256 batchId, uint256 seedBlock, uint256 lastRevealBlock);

// ---------------------------------------------------------------- Verification

error NotMarket(address caller);
error WrongJobStatus(uint256 jobId, IJobMarket.JobStatus status);
error NotSampled(uint256 jobId);
error NotAuditor(uint256 jobId, address caller);
error AuditPending(uint256 jobId, uint256 auditCommitBy);
error AuditClosed(uint256 jobId);
error WrongAuditState(uint256 jobId, IVerification.AuditState state);
error AuditCommitmentMismatch(uint256 jobId);
error DisputeExists(uint256 jobId);
error NoDispute(uint256 jobId);
error WrongDisputeState(uint256 jobId, IVerification.DisputeState state);
error CommitteeSeedNotReady(uint256 jobId, uint256 seedBlock);
error NotCommitteeMember(uint256 jobId, address caller);
error VoteAlreadyCommitted(uint256 jobId, address voter);
error VoteAlreadyRevealed(uint256 jobId, address voter);
error VoteCommitmentMismatch(uint256 jobId, address voter);
error InvalidVote();
error VotingClosed(uint256 jobId, uint256 deadline, uint256 nowTime);
error VotingStillOpen(uint256 jobId, uint256 deadline, uint256 nowTime);
error DisputeStillOpen(uint256 jobId, uint256 resolvableAt, uint256 nowTime);

// ---------------------------------------------------------------- Staking

error InvalidRoles(uint8 roles);
error AmountTooLarge(uint256 amount);
error InsufficientUnlockedStake(address account, uint256 available, uint256 requested);
error NothingUnbonding(address account);
error UnbondingNotFinished(address account, uint256 unbondingEnd, uint256 nowTime);
error NotProvider(address account);
error NotProtocol(address caller);
error ProtocolAlreadySet();
error UnbondingPeriodTooShort(uint256 unbondingPeriod, uint256 required);
error MinVerifierStakeBelowBond(uint256 minVerifierStake, uint256 challengeBond);
error TooManyExcluded(uint256 count, uint256 max);
error VerifierSetFull(uint256 max);
error SnapshotInFuture(uint256 snapshotBlock, uint256 currentBlock);

// ---------------------------------------------------------------- ModelRegistry

error ModelNotFound(uint256 modelId);
error NotModelOwner(uint256 modelId, address caller);
error EmptyModelHash();
error ModelHashChanged(bytes32 registered, bytes32 given);
/// @dev What a job is judged by never changes under it: a new tolerance or runtime is a new model.
error ToleranceChanged(uint256 modelId);
error RuntimeChanged(uint256 modelId);
error NonFiniteInputsChanged(uint256 modelId);
error EmptyUri();
error InvalidTolerance(IModelRegistry.ToleranceKind kind);
error ZeroCollateral();
error TooManyModels();

// ---------------------------------------------------------------- ProviderProfiles

/// @dev A region is visible ASCII (0x21 to 0x7e) from its first byte, zero-padded on the right.
error InvalidRegion(bytes8 region);
/// @dev Execution provider bits other than EP_CPU (1) and EP_GPU (2).
error UnknownExecutionProviders(uint8 executionProviders);
error TooManyProfileModels(uint256 count, uint256 max);
/// @dev A profile's model ids are strictly ascending from 1: `modelId` at `index` is zero, repeated or out of order.
error UnsortedProfileModels(uint256 index, uint32 modelId);
/// @dev A profile that lists models must run at least one job at once.
error ModelsWithoutCapacity(uint256 modelCount);
/// @dev A profile that lists models must declare what it runs them on.
error ModelsWithoutExecutionProvider(uint256 modelCount);
error RecordUriWithoutHash();
error RecordHashWithoutUri(bytes32 recordHash);
error ProfileNotFound(address provider);

// ---------------------------------------------------------------- ProtocolTerms

error UnknownTerms(uint256 version);
error MarketAlreadySet();
error MarketNotSet();

// ---------------------------------------------------------------- DinferTestToken

error FaucetLimit(uint256 requested, uint256 limit);

// ---------------------------------------------------------------- ReplicaMarket

error ReplicaJobNotFound(uint256 replicaJobId);
error ReplicaJobClosed(uint256 replicaJobId, IReplicaMarket.ReplicaStatus status);
error ReplicaCountInvalid(uint256 replicas, uint256 min, uint256 max);
/// @dev An allowlist longer than the most, or with fewer providers than seats (the job could never fill).
error AllowlistInvalid(uint256 length, uint256 replicas, uint256 max);
error AllowlistDuplicate(address provider);
error SeatsFull(uint256 replicaJobId);
error AlreadySeated(uint256 replicaJobId, address provider);
error ProviderNotAllowed(uint256 replicaJobId, address provider);
error RevealsNotOpen(uint256 replicaJobId, uint256 claimBy);
error NotSeated(uint256 replicaJobId, address caller);
error AlreadyRevealed(uint256 replicaJobId, address provider);
error RevealsNotOver(uint256 replicaJobId, uint256 revealBy, uint256 nowTime);
error NotReplicaMarket(address caller);
