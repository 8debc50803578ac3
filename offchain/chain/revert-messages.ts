/**
 * A sentence for every custom error the protocol's contracts can revert with: what went wrong, in
 * tokens, status names and dates rather than wei, enum numbers and unix seconds, and what to do
 * about it. `describeRevert` is what the CLI prints for a `ContractRevertError`; the drift test
 * (test/offchain/revert-messages.test.ts) fails when a compiled ABI gains an error with no sentence here.
 *
 * Arguments come in ABI order, as viem decodes them. Every error is declared once, in
 * contracts/errors/Errors.sol, so one name has one signature whichever contract reverts with it.
 */
import {
  AUDIT_STATE_NAMES,
  DISPUTE_STATE_NAMES,
  enumName,
  formatDate,
  formatDuration,
  formatTokens,
  formatWhen,
  JOB_STATUS_NAMES,
  plainTokens,
  TOLERANCE_KIND_NAMES,
} from "./format.js";

type Args = readonly unknown[];
type Sentence = (args: Args) => string;

const big = (value: unknown): bigint => {
  try {
    return BigInt(value as bigint | number | string);
  } catch {
    return 0n;
  }
};
const tokens = (value: unknown) => formatTokens(big(value));
const str = (value: unknown) => String(value);
const status = (value: unknown) => enumName(JOB_STATUS_NAMES, value);
/** IBatchMarket.BatchStatus. */
const BATCH_STATUS_NAMES = ["None", "Posted", "Claimed", "Committed", "Revealed", "Finalized", "Expired"] as const;
/** TextOrientationConsumer.RequestStatus (contracts/examples). */
const REQUEST_STATUS_NAMES = ["None", "Pending", "Resolved", "Failed", "Refunded"] as const;

/** What each job status means for an action that needed another one. */
const STATUS_HINT: Record<string, string> = {
  None: "it does not exist",
  Posted: "it is waiting for a provider to claim it",
  Claimed: "its provider has not committed a result yet",
  Committed: "its provider has committed but not revealed the result",
  Revealed: "its result is revealed and the challenge window may be open",
  Disputed: "it is under dispute until the committee resolves it",
  Finalized: "it is final: its result, payment and collateral are settled",
  Expired: "it expired: its fee was refunded",
  Slashed: "its provider was slashed: the dispute is settled",
};

const jobStatus = (jobId: unknown, value: unknown) => {
  const name = status(value);
  return `job ${str(jobId)} is ${name}${STATUS_HINT[name] ? ` (${STATUS_HINT[name]})` : ""}`;
};

export const REVERT_SENTENCES: Readonly<Record<string, Sentence>> = {
  // ------------------------------------------------------------------ JobMarket
  JobNotFound: ([jobId]) => `job ${str(jobId)} does not exist: check the id (\`dinfer job get <jobId>\`)`,
  JobMismatch: ([jobId]) => `the job data sent for job ${str(jobId)} does not match the job on chain: read the job again from the chain and retry`,
  WrongStatus: ([jobId, s]) => `${jobStatus(jobId, s)}, and this action needs another status: see \`dinfer job get ${str(jobId)}\``,
  DeadlinePassed: ([jobId, deadline, now]) => `job ${str(jobId)}'s deadline passed at ${formatWhen(big(deadline), big(now))}: it is too late for this step`,
  DeadlineNotPassed: ([jobId, deadline, now]) => `job ${str(jobId)}'s deadline has not passed yet: try again after ${formatWhen(big(deadline), big(now))}`,
  NotJobProvider: ([jobId, caller]) => `${str(caller)} is not the provider that claimed job ${str(jobId)}: only that provider's key can do this`,
  SignedJobUsed: ([jobId]) => `this signed request was posted already, as job ${str(jobId)}: a request is posted once (sign a new one with another salt)`,
  BadJobSignature: ([poster]) =>
    `the signature is not ${str(poster)}'s for this request on this market and chain: the poster must sign exactly the request posted (any change, another market or chain voids it)`,
  CollateralBelowSigned: ([collateral, minCollateral]) =>
    `the model's collateral is now ${tokens(collateral)}, below the ${tokens(minCollateral)} the poster signed for: the request cannot be posted until the model asks that much again`,
  NotPoster: ([caller]) => `${str(caller)} did not sign this request: only its poster can cancel it`,
  SignedJobForAnotherProvider: ([provider, caller]) =>
    `the signed request names provider ${str(provider)}, not ${str(caller)}: only that provider may post it`,
  ModelInactive: ([modelId]) => `model ${str(modelId)} does not accept jobs: it is not registered or its owner deactivated it (\`dinfer model show ${str(modelId)}\`)`,
  FeeBelowFloor: ([fee, floor]) => `the fee ${tokens(fee)} is below the model's price floor of ${tokens(floor)}: post with a fee of at least ${plainTokens(big(floor))}`,
  FeeTooLarge: ([fee]) => `the fee ${tokens(fee)} is larger than the market accepts: post a smaller fee`,
  InvalidClaimBy: ([claimBy, earliest, latest]) =>
    `the claim deadline ${formatDate(big(claimBy))} is outside what the market allows (${formatDate(big(earliest))} to ${formatDate(big(latest))}): pick one in that range`,
  MissingInput: () => "the job has no input: give an inline input or an input URI",
  InputTooLarge: ([length, max]) => `the inline input is ${str(length)} bytes, over the ${str(max)}-byte limit: upload it to a blob server and post its URI instead (--upload)`,
  InputHashMismatch: () => "the input hash does not match the inline input's bytes: post the hash of the bytes you send",
  InputUriWithInlineInput: () => "a job takes its input inline or by URI, not both: leave one out",
  CallbackGasTooHigh: ([requested, max]) => `the callback gas ${str(requested)} is over the market's limit of ${str(max)}: ask for less`,
  CallbackNeedsContract: ([poster]) => `a result callback goes to a contract, and ${str(poster)} is not one: post without a callback, or from your consumer contract`,
  ZeroCommitment: () => "the commitment is zero: commit the hash the protocol defines (docs/PROTOCOL.md)",
  SeedNotReady: ([jobId, seedBlock, currentBlock]) =>
    `job ${str(jobId)}'s random seed comes from block ${str(seedBlock)}, which is not mined yet${currentBlock === undefined ? "" : ` (now ${str(currentBlock)})`}: wait a few blocks and retry`,
  SeedOutOfReach: ([jobId, seedBlock, lastRevealBlock]) =>
    `job ${str(jobId)}'s seed block ${str(seedBlock)} is out of reach (reveals were due by block ${str(lastRevealBlock)}): the reveal came too late and the job can only expire`,
  CommitmentMismatch: ([jobId]) => `the reveal for job ${str(jobId)} does not match its commitment: reveal the output root and salt that were committed`,
  ZeroOutputRoot: () => "the output root is zero: reveal the root of the real output",
  OutputTooLarge: ([length, max]) => `the inline output is ${str(length)} bytes, over the ${str(max)}-byte limit: serve it from a blob server and reveal its URI`,
  OutputRootMismatch: () => "the inline output does not hash to the revealed output root: reveal the bytes that were committed",
  InlineOutputRequired: ([jobId]) => `job ${str(jobId)} requires its output inline (in the reveal): reveal it inline`,
  InsufficientGasForCallback: ([required, available]) => `the transaction has ${str(available)} gas left for the dApp's callback, which needs ${str(required)}: send it with a higher gas limit`,
  ModelIdTooLarge: ([modelId]) => `model id ${str(modelId)} is too large: check the id (\`dinfer model show <id>\`)`,
  TokenTransferMismatch: ([expected, received]) =>
    `the token transferred ${tokens(received)} where ${tokens(expected)} was expected: fee-on-transfer tokens are not supported`,
  NothingToWithdraw: ([account]) => `${str(account)} has no credits to withdraw here`,
  NotVerification: ([caller]) => `${str(caller)} is not the Verification contract: only it may call this`,
  VerificationAlreadySet: () => "the Verification contract is already set; it is set once, at deployment",
  NotTerms: ([caller]) => `${str(caller)} is not the ProtocolTerms contract: only it may call this`,
  NotBatchMarket: ([caller]) => `${str(caller)} is not the BatchMarket contract: only it may call this`,
  BatchMarketAlreadySet: () => "the BatchMarket contract is already set; it is set once, at deployment",
  JobNotReserved: ([jobId]) => `job ${str(jobId)} is not a batch job waiting to be split out: it was never reserved, or it was split out already`,
  ZeroAmount: () => "the amount is zero: give an amount above zero",

  // ------------------------------------------------------------------ BatchMarket
  BatchNotFound: ([batchId]) => `batch ${str(batchId)} does not exist: check the id`,
  BatchMismatch: ([batchId]) => `the batch data sent for batch ${str(batchId)} does not match the batch on chain: read it again from the chain and retry`,
  WrongBatchStatus: ([batchId, s]) =>
    `batch ${str(batchId)} is ${enumName(BATCH_STATUS_NAMES, s)}, and this action needs another status`,
  BatchSizeInvalid: ([count, max]) => `a batch holds 1 to ${str(max)} jobs, not ${str(count)}: split the jobs into several batches`,
  LengthMismatch: ([expected, given]) => `${str(given)} entries were given where ${str(expected)} were expected: send one per job`,
  InsufficientDeposit: ([account, available, required]) =>
    `${str(account)}'s deposit holds ${tokens(available)}, and this needs ${tokens(required)}: deposit more first`,
  BatchDeadlinePassed: ([batchId, deadline, now]) => `batch ${str(batchId)}'s deadline passed at ${formatWhen(big(deadline), big(now))}: it is too late for this step`,
  BatchDeadlineNotPassed: ([batchId, deadline, now]) => `batch ${str(batchId)}'s deadline has not passed yet: try again after ${formatWhen(big(deadline), big(now))}`,
  NotBatchProvider: ([batchId, caller]) => `${str(caller)} is not the provider that claimed batch ${str(batchId)}: only that provider's key can do this`,
  JobIndexOutOfRange: ([batchId, index, count]) => `batch ${str(batchId)} has ${str(count)} jobs: there is no job at index ${str(index)}`,
  JobAlreadySplit: ([batchId, jobId]) => `job ${str(jobId)} of batch ${str(batchId)} was already split out: it is an ordinary job of the market now (\`dinfer job get ${str(jobId)}\`)`,
  InvalidProof: ([batchId, jobId]) => `the proof for job ${str(jobId)} does not lead to batch ${str(batchId)}'s root: check the leaf value, the job's index and the batch`,
  SampledJobNotSplit: ([batchId, jobId]) => `job ${str(jobId)} of batch ${str(batchId)} is sampled for an audit: split it out (splitSampled) and reveal it in the market before revealing the batch`,
  BatchCommitmentMismatch: ([batchId]) => `the reveal for batch ${str(batchId)} does not match its commitment root: reveal the output roots and salts that were committed, in job order`,
  BatchSeedNotReady: ([batchId, seedBlock, currentBlock]) =>
    `batch ${str(batchId)}'s random seed comes from block ${str(seedBlock)}, which is not mined yet (now ${str(currentBlock)}): wait a few blocks and retry`,
  BatchSeedOutOfReach: ([batchId, seedBlock, lastRevealBlock]) =>
    `batch ${str(batchId)}'s seed block ${str(seedBlock)} is out of reach (reveals were due by block ${str(lastRevealBlock)}): the batch can only expire`,
  ZeroAddress: () => "an address given is the zero address: give a real one",

  // ------------------------------------------------------------------ Staking
  InvalidRoles: ([roles]) => `role bits ${str(roles)} are not valid: use provider (1), verifier (2) or both (3)`,
  AmountTooLarge: ([amount]) => `the amount ${tokens(amount)} is too large for the staking contract: use a smaller amount`,
  InsufficientUnlockedStake: ([account, available, requested]) =>
    `${str(account)} has ${tokens(available)} of stake not locked by open jobs, less than the ${tokens(requested)} asked for: ask for at most ${plainTokens(big(available))}, or wait for its jobs to end (\`dinfer provider status\`)`,
  NothingUnbonding: ([account]) => `${str(account)} has nothing unbonding: start with \`dinfer provider unbond <amount>\``,
  UnbondingNotFinished: ([account, end, now]) =>
    `${str(account)}'s unbonding stake is withdrawable at ${formatWhen(big(end), big(now))}: withdraw after that`,
  NotProvider: ([account]) => `${str(account)} does not hold the provider role: stake with \`dinfer provider stake <tokens> --roles provider\``,
  NotProtocol: ([caller]) => `${str(caller)} is not a protocol contract: only the market and Verification may call this`,
  ProtocolAlreadySet: () => "the protocol contracts are already set; they are set once, at deployment",
  UnbondingPeriodTooShort: ([period, required]) =>
    `an unbonding period of ${formatDuration(big(period))} is shorter than the ${formatDuration(big(required))} a job can stay open: set at least that`,
  MinVerifierStakeBelowBond: ([minStake, bond]) =>
    `a minimum verifier stake of ${tokens(minStake)} is below the challenge bond of ${tokens(bond)}: set it to at least the bond`,
  InvalidParams: ([reason]) => `the parameters are not valid: ${str(reason)}`,
  TooManyExcluded: ([count, max]) => `${str(count)} verifiers are excluded from the draw, over the limit of ${str(max)}`,
  VerifierSetFull: ([max]) => `the verifier set is full (${str(max)} members): stake more than the smallest member to be drawn, or wait for a slot`,
  SnapshotInFuture: ([snapshotBlock, currentBlock]) => `snapshot block ${str(snapshotBlock)} is after the current block ${str(currentBlock)}: wait for it to be mined`,
  CheckpointUnorderedInsertion: () => "a verifier weight checkpoint went back in time (an internal error of the staking contract): report it",

  // ------------------------------------------------------------------ ModelRegistry
  ModelNotFound: ([modelId]) => `model ${str(modelId)} does not exist in the registry: check the id, or register it with \`dinfer model register\``,
  NotModelOwner: ([modelId, caller]) => `${str(caller)} does not own model ${str(modelId)}: use the owner's key`,
  EmptyModelHash: () => "the model hash is empty: register the sha256 of the .onnx file (`dinfer model register --file` computes it)",
  ModelHashChanged: () => "a model's file (its hash) is frozen: register the new file as a new model",
  ToleranceChanged: ([modelId]) => `model ${str(modelId)}'s tolerance is frozen: register a new model to change it`,
  RuntimeChanged: ([modelId]) => `model ${str(modelId)}'s runtime is frozen: register a new model to change it`,
  NonFiniteInputsChanged: ([modelId]) => `model ${str(modelId)}'s non-finite inputs opt-in is frozen: register a new model to change it`,
  EmptyUri: () => "the model URI is empty: give a URI providers can fetch the file from (--uri)",
  InvalidTolerance: ([kind]) =>
    `the ${enumName(TOLERANCE_KIND_NAMES, kind)} tolerance is not valid: use allclose:<absTol>:<relTol> with tolerances above zero, argmax:<axis> or exact`,
  ZeroCollateral: () => "the collateral is zero: give a collateral above zero (--collateral)",
  TooManyModels: () => "the registry holds as many models as it can: no more can be registered",

  // ------------------------------------------------------------------ Verification
  NotMarket: ([caller]) => `${str(caller)} is not the JobMarket: only the market may call this`,
  WrongJobStatus: ([jobId, s]) => `${jobStatus(jobId, s)}, and this step needs another status: see \`dinfer job get ${str(jobId)}\``,
  NotSampled: ([jobId]) => `job ${str(jobId)} was not sampled for an audit`,
  NotAuditor: ([jobId, caller]) => `${str(caller)} is not the auditor drawn for job ${str(jobId)}`,
  AuditPending: ([jobId, commitBy]) => `job ${str(jobId)}'s auditor may still commit until ${formatDate(big(commitBy))}: try again after that`,
  AuditClosed: ([jobId]) => `job ${str(jobId)}'s audit is closed: it is too late for this step`,
  WrongAuditState: ([jobId, state]) => `job ${str(jobId)}'s audit is ${enumName(AUDIT_STATE_NAMES, state)}, and this step needs another state`,
  AuditCommitmentMismatch: ([jobId]) => `the audit reveal for job ${str(jobId)} does not match its commitment: reveal the root and salt that were committed`,
  DisputeExists: ([jobId]) => `job ${str(jobId)} is already disputed: follow the dispute (\`dinfer audit ${str(jobId)} --model <id>=<path>\`)`,
  NoDispute: ([jobId]) => `job ${str(jobId)} has no dispute`,
  WrongDisputeState: ([jobId, state]) => `job ${str(jobId)}'s dispute is ${enumName(DISPUTE_STATE_NAMES, state)}, and this step needs another state`,
  CommitteeSeedNotReady: ([jobId, seedBlock]) => `the committee for job ${str(jobId)} is drawn from block ${str(seedBlock)}, not mined yet: wait a few blocks and retry`,
  NotCommitteeMember: ([jobId, caller]) => `${str(caller)} is not on job ${str(jobId)}'s dispute committee`,
  VoteAlreadyCommitted: ([jobId, voter]) => `${str(voter)} already committed a vote on job ${str(jobId)}`,
  VoteAlreadyRevealed: ([jobId, voter]) => `${str(voter)} already revealed its vote on job ${str(jobId)}`,
  VoteCommitmentMismatch: ([jobId, voter]) => `${str(voter)}'s vote reveal on job ${str(jobId)} does not match its commitment: reveal the vote and salt that were committed`,
  InvalidVote: () => "the vote is not valid: vote ProviderCorrect, ProviderWrong or AuditorWrong",
  VotingClosed: ([jobId, deadline, now]) => `voting on job ${str(jobId)} closed at ${formatWhen(big(deadline), big(now))}`,
  VotingStillOpen: ([jobId, deadline, now]) => `voting on job ${str(jobId)} is open until ${formatWhen(big(deadline), big(now))}: try again after that`,
  DisputeStillOpen: ([jobId, resolvableAt, now]) => `job ${str(jobId)}'s dispute can be resolved from ${formatWhen(big(resolvableAt), big(now))}: try again after that`,

  // ------------------------------------------------------------------ ProviderProfiles
  InvalidRegion: ([region]) =>
    `the region ${str(region)} is not a region name: give up to 8 visible ASCII characters, no spaces (e.g. --region eu-west), or none`,
  UnknownExecutionProviders: ([bits]) => `the execution providers bitmask ${str(bits)} holds unknown bits: declare cpu (1), gpu (2) or both (--ep cpu,gpu)`,
  TooManyProfileModels: ([count, max]) => `the profile lists ${str(count)} models, over the limit of ${str(max)}: list the ${str(max)} you serve most`,
  UnsortedProfileModels: ([index, modelId]) =>
    `model id ${str(modelId)} at position ${str(index)} of the profile is zero, repeated or out of order: list each model id once, from 1, in ascending order (\`dinfer provider profile set\` sorts them)`,
  ModelsWithoutCapacity: ([count]) => `the profile lists ${str(count)} models with a capacity of 0: give the number of jobs it runs at once (--capacity)`,
  ModelsWithoutExecutionProvider: ([count]) => `the profile lists ${str(count)} models but no execution provider: declare what it runs them on (--ep cpu, gpu or cpu,gpu)`,
  RecordUriWithoutHash: () => "the profile's record URI comes without its hash: give the record's file too (--record-file) so that its keccak256 pins it",
  RecordHashWithoutUri: ([hash]) => `the profile's record hash ${str(hash)} comes without a URI: give where the record is (--record-uri), or neither`,
  ProfileNotFound: ([provider]) => `${str(provider)} has no provider profile: there is nothing to clear (\`dinfer provider profile show\`)`,

  // ------------------------------------------------------------------ ReplicaMarket
  ReplicaJobNotFound: ([id]) => `redundant job ${str(id)} does not exist: check the id (ReplicaJobPosted events list them)`,
  ReplicaJobClosed: ([id, status]) => `redundant job ${str(id)} is already settled (status ${str(status)}): nothing more can be done on it`,
  ReplicaCountInvalid: ([replicas, min, max]) => `${str(replicas)} replicas asked for: a redundant job has ${str(min)} to ${str(max)} (--replicas)`,
  AllowlistInvalid: ([length, replicas, max]) =>
    `the allowlist names ${str(length)} providers for ${str(replicas)} seats: name at least one per seat and at most ${str(max)}`,
  AllowlistDuplicate: ([provider]) => `${str(provider)} is named twice in the allowlist: name each provider once`,
  SeatsFull: ([id]) => `every seat of redundant job ${str(id)} is taken: look for another job`,
  AlreadySeated: ([id, provider]) => `${str(provider)} already holds a seat of redundant job ${str(id)}: a provider takes one seat per job`,
  ProviderNotAllowed: ([id, provider]) =>
    `${str(provider)} does not meet redundant job ${str(id)}'s constraints (its allowlist, or the region or execution providers its profile must declare): \`dinfer provider profile show\` says what yours declares`,
  RevealsNotOpen: ([id, claimBy]) =>
    `redundant job ${str(id)} still has free seats until ${str(claimBy)}: reveals open once every seat is committed or claimBy has passed`,
  NotSeated: ([id, caller]) => `${str(caller)} holds no seat of redundant job ${str(id)}: only a seat's provider reveals it`,
  AlreadyRevealed: ([id, provider]) => `${str(provider)} already revealed its seat of redundant job ${str(id)}`,
  RevealsNotOver: ([id, revealBy, now]) =>
    `redundant job ${str(id)} cannot be settled yet: its seats may commit or reveal until ${formatWhen(big(revealBy), big(now))}; try again after that`,
  NotReplicaMarket: ([caller]) => `${str(caller)} is not the ReplicaMarket contract: only it may import a disputed seat`,

  // ------------------------------------------------------------------ ProtocolTerms
  UnknownTerms: ([version]) => `protocol terms version ${str(version)} does not exist: \`dinfer terms\` shows the current one`,
  MarketAlreadySet: () => "the market is already set; it is set once, at deployment",
  MarketNotSet: () => "the market is not set yet: finish the deployment",

  // ------------------------------------------------------------------ the example consumer (contracts/examples)
  ZeroCallbackGasLimit: () => "the callback gas limit is zero: give the gas the consumer's callback needs",
  RequestNotPending: ([jobId, s]) => `the consumer's request for job ${str(jobId)} is ${enumName(REQUEST_STATUS_NAMES, s)}, not Pending: it was already settled`,
  OrientationNotResolved: ([jobId, s]) => `the consumer's request for job ${str(jobId)} is ${enumName(REQUEST_STATUS_NAMES, s)}: no orientation yet, wait for the job to finalize`,
  JobStateMismatch: ([jobId]) => `the job data sent for job ${str(jobId)} does not match the market's: read the job again from the chain and retry`,
  JobNotFailed: ([jobId, s]) => `${jobStatus(jobId, s)}: only an Expired or Slashed job is refunded`,

  // ------------------------------------------------------------------ DinferTestToken and OpenZeppelin
  FaucetLimit: ([requested, limit]) => `the test token's faucet gives at most ${tokens(limit)} a call, and ${tokens(requested)} was asked: mint ${plainTokens(big(limit))} or less at a time`,
  ERC20InsufficientBalance: ([sender, balance, needed]) =>
    `${str(sender)} holds ${tokens(balance)}, less than the ${tokens(needed)} needed: get more tokens (on the devnet: \`dinfer token mint <amount>\`)`,
  ERC20InsufficientAllowance: ([spender, allowance, needed]) =>
    `the allowance for ${str(spender)} is ${tokens(allowance)}, less than the ${tokens(needed)} needed: approve at least that much first`,
  ERC20InvalidApprover: ([approver]) => `${str(approver)} cannot approve (the zero address)`,
  ERC20InvalidReceiver: ([receiver]) => `${str(receiver)} cannot receive tokens (the zero address)`,
  ERC20InvalidSender: ([sender]) => `${str(sender)} cannot send tokens (the zero address)`,
  ERC20InvalidSpender: ([spender]) => `${str(spender)} cannot be approved (the zero address)`,
  ERC2612ExpiredSignature: ([deadline]) => `the permit signature expired at ${formatDate(big(deadline))}: sign a new one`,
  ERC2612InvalidSigner: ([signer, owner]) => `the permit was signed by ${str(signer)}, not by the owner ${str(owner)}: sign it with the owner's key`,
  InvalidAccountNonce: ([account, nonce]) => `the permit nonce for ${str(account)} is stale (current ${str(nonce)}): sign a new permit`,
  ECDSAInvalidSignature: () => "the signature is not valid: sign again",
  ECDSAInvalidSignatureLength: ([length]) => `the signature is ${str(length)} bytes, not 65: sign again`,
  ECDSAInvalidSignatureS: () => "the signature's s value is out of range: sign again with a standard signer",
  InvalidShortString: () => "a short string is not valid (an internal error of the token): report it",
  StringTooLong: () => "a string is too long for the token's short string (an internal error of the token): report it",
  OwnableUnauthorizedAccount: ([account]) => `${str(account)} is not the contract's owner: use the owner's key`,
  OwnableInvalidOwner: ([owner]) => `${str(owner)} cannot own the contract (the zero address)`,
  ReentrancyGuardReentrantCall: () => "the contract was re-entered during a call (a token or callback calling back): that is refused",
  SafeERC20FailedOperation: ([token]) => `the token ${str(token)} refused a transfer: check the balance and allowance`,
  SafeCastOverflowedUintDowncast: ([bits, value]) => `the value ${str(value)} does not fit in ${str(bits)} bits: use a smaller value`,
  // OpenZeppelin Address (JobMarket.multicall delegates each call to the market itself).
  AddressEmptyCode: ([target]) => `${str(target)} has no contract code: check the address (a multicall only reaches the market itself)`,
  FailedCall: () => "a call inside the multicall failed without a reason: send its calls one by one to see which",
};

export type DescribeRevertParameters = {
  /** The decoded error's name; undefined when the revert carried no data the ABIs know. */
  errorName: string | undefined;
  args: readonly unknown[];
};

/**
 * One sentence for a revert, ending with the contract's own name for it in parentheses
 * ("... (FeeBelowFloor)") so that it can be looked up in the interfaces; reason strings and panics as
 * the contract gave them.
 */
export function describeRevert({ errorName, args }: DescribeRevertParameters): string {
  if (errorName === undefined) return "the contract refused the call without a reason";
  if (errorName === "Error") return `the contract refused the call: ${str(args[0])}`;
  if (errorName === "Panic") return `the contract failed (panic code ${str(args[0])}): report it with the command you ran`;
  const sentence = REVERT_SENTENCES[errorName];
  return sentence ? `${sentence(args)} (${errorName})` : `the contract refused the call with ${errorName}(${args.map(str).join(", ")})`;
}
