/**
 * The public entry of the `@dinfer/sdk` package (packages/sdk, built by `npm run build:sdk`): what a
 * dApp imports to post inference jobs, wait for their verified results and build or read the tensor
 * blobs they carry. Inside this repository, import the modules themselves; this file exists only so
 * the package has one front door, and what it names is the package's whole public surface.
 *
 * Nothing here may reach a daemon, the CLI, onnxruntime or a logger (packages/sdk/build.ts checks
 * the compiled import graph): the package depends on viem
 * only (hashes come from node:crypto), with sharp an optional peer for the image helpers.
 */

// The client: post, wait, fetch, read.
export {
  createDinferClient,
  type ClientBatchJobParameters,
  type ClientBatchJobResult,
  type ClientJobResult,
  type ClientPostJobsOptions,
  type ClientWaitForResultsOptions,
  type ClientPostJobParameters,
  type ClientPostJobReturnType,
  type ClientPostReplicatedJobParameters,
  type ClientReplicatedResult,
  type ClientWaitForReplicatedResultOptions,
  type ClientWaitForResultOptions,
  type CreateDinferClientParameters,
  type DinferClient,
} from "./client.js";
export { checkedFee, jobInputBlob, type CheckedFeeParameters, type JobInput } from "./job-input.js";
export { connectDinfer, type ConnectDinferParameters, type ConnectDinferReturnType } from "./connect.js";

// The client's building blocks.
export {
  fetchOutput,
  INLINE_INPUT_MAX,
  postedJobId,
  cancelSignedJob,
  postJob,
  posterInputHolder,
  postSignedJob,
  waitForResult,
  type JobResult,
  type PostJobParameters,
  type PostJobReturnType,
  type PostSignedJobParameters,
  type PostSignedJobReturnType,
  type WaitForResultParameters,
} from "./jobs.js";
export {
  decodeSignedJob,
  encodeSignedJob,
  isSignedJobId,
  signedJobDigest,
  signedJobId,
  signedJobArg,
  signJob,
  type SignedJob,
  type SignedJobDomain,
} from "../chain/signed-jobs.js";
export {
  deposit,
  depositBalance,
  groupJobs,
  MAX_BATCH,
  postedBatches,
  postJobs,
  waitForResults,
  withdrawDeposit,
  type BatchJobRequest,
  type BatchJobResult,
  type DepositBalanceParameters,
  type DepositParameters,
  type PostedBatchJob,
  type PostJobsParameters,
  type PostJobsReturnType,
  type WaitForResultsParameters,
  type WithdrawDepositParameters,
} from "./batches.js";
// Redundant jobs: one input run by k providers, the majority's output.
export {
  MAX_REPLICAS,
  MIN_REPLICAS,
  postedReplicaJobId,
  postReplicatedJob,
  replicaConstraints,
  replicaJobCost,
  waitForReplicatedResult,
  type PostReplicatedJobParameters,
  type PostReplicatedJobReturnType,
  type ReplicaConstraintsInput,
  type ReplicaJobCostParameters,
  type ReplicaJobCostReturnType,
  type ReplicatedJobFailure,
  type ReplicatedResult,
  type WaitForReplicatedResultParameters,
} from "./replicas.js";
export { uploadBlob, type UploadBlobParameters, type UploadBlobReturnType } from "../storage/upload.js";
// What posts and reads `ipfs://` blobs: a dApp brings its own IPFS node (in this repository,
// offchain/storage/ipfs.ts `startIpfsNode`, which needs helia and libp2p: the package does not carry them).
export { ipfsUriOf, parseIpfsUri, type CatIpfsParameters, type IpfsBlobPublisher, type IpfsBlobReader, type IpfsUri } from "../storage/ipfs-uri.js";
// Whether what others chose (output locations, a model's URI) is read on private hosts: the daemons' rule, the client's default.
export { allowsPrivateHosts, DEVNET_CHAIN_ID } from "../storage/host-policy.js";

// The input check a post makes (from the registry's record of the model and its ONNX file).
export {
  checkInputFits,
  describeInputs,
  JobInputError,
  MAX_MODEL_BYTES,
  ModelUnavailableError,
  readModelInputs,
  type CheckInputFitsParameters,
  type ModelInputs,
  type ModelSource,
  type ReadModelInputsParameters,
} from "./input-check.js";

// A dApp's view of its jobs.
export { accountHistory, jobVerification, listJobs, type AccountHistory, type HistoryEntry, type JobVerification, type ListJobsParameters } from "./activity.js";
export {
  foldReputation,
  formatReputation,
  formatScore,
  nextScore,
  providerReputation,
  readReputation,
  REPUTATION_RULE,
  type ProviderReputation,
  type ReputationCounters,
  type ReputationOutcome,
} from "./reputation.js";
export {
  decodeExecutionProviders,
  decodeRegion,
  encodeExecutionProviders,
  encodeRegion,
  EXECUTION_PROVIDER_BITS,
  formatProfile,
  MAX_PROFILE_MODELS,
  ProfileInputError,
  profileArgs,
  readProfile,
  type ExecutionProviderName,
  type ProfileArgsParameters,
  type ProviderProfile,
  type ReadProfileParameters,
} from "../chain/profiles.js";
export { JobProgress, reportProgress, type JobProgressUpdate, type ReportProgressParameters } from "./progress.js";

// A model that takes an image's bytes (uint8) and normalizes them itself: a quarter of a float input's bytes.
export { ImageInputError, withImageInput, type WithImageInputParameters } from "../inference/image-input.js";
// A model that quantizes a float output to bytes (uint8) itself: a quarter of a float result's bytes, judged at one step.
export {
  BYTE_OUTPUT_TOLERANCE,
  BYTE_OUTPUT_TOLERANCE_ON_CHAIN,
  ByteOutputError,
  PROBABILITY_SCALE,
  withByteOutput,
  type WithByteOutputParameters,
} from "../inference/byte-output.js";

// Images for the PaddleOCR models (needs sharp) and readers for their outputs.
export {
  CLS_LABELS,
  DET_MEAN_BGR,
  DET_STD_BGR,
  ImageError,
  imageToClsInput,
  imageToDetInput,
  readClsOutput,
  readDetOutput,
  type ClsLabel,
  type ClsPrediction,
  type DetMapStats,
  type ImageSource,
  type ImageToClsInputParameters,
  type DetInputDtype,
  type ImageToDetInputParameters,
  type ImageToDetInputReturnType,
  type ReadDetOutputParameters,
} from "./image.js";

// DTN1 tensor blobs (docs/PROTOCOL.md section 5) and the output root.
export {
  blobId,
  decodeTensorBlob,
  DTYPES,
  encodeTensorBlob,
  tensorFromArray,
  tensorToArray,
  validateTensor,
  type DecodeTensorBlobOptions,
  type DType,
  type EncodeTensorBlobOptions,
  type ElementFor,
  type Tensor,
  type TensorFromArrayParameters,
  type TypedArrayFor,
} from "../codec/tensor.js";
export { outputRoot } from "../codec/merkle.js";

// The chain: addresses, ABIs, job state, terms, the transaction sender.
export {
  batchMarketAbi,
  dinferTestTokenAbi,
  jobMarketAbi,
  modelRegistryAbi,
  protocolAbis,
  protocolTermsAbi,
  providerProfilesAbi,
  pullPaymentsAbi,
  replicaMarketAbi,
  stakingAbi,
  verificationAbi,
  type ContractName,
} from "../chain/abis.js";
export { abiOf } from "../chain/artifacts.js";
export { loadDeployment, parseDeployment, type Deployment, type LoadDeploymentParameters } from "../chain/deployment.js";
export {
  assertProtocolVersion,
  PROTOCOL_VERSION,
  ProtocolVersionError,
  readProtocolVersion,
  type AssertProtocolVersionParameters,
  type ReadProtocolVersionParameters,
} from "../chain/protocol-version.js";
export {
  BatchStatus,
  batchJob,
  batchJobs,
  readBatch,
  type Batch,
  type BatchJob,
  type BatchJobStatus,
  type BatchRecord,
  type ReadBatchParameters,
} from "../chain/batches.js";
export { JobStatus, readJob, type Job, type JobRecord, type ReadJobParameters } from "../chain/jobs.js";
export {
  findReplicaOfJob,
  majorityRoot,
  readReplicaJob,
  REPLICA_STATUS_NAMES,
  ReplicaStatus,
  type ReadReplicaJobParameters,
  type ReplicaConstraints,
  type ReplicaOfJob,
  type ReplicaRecord,
  type ReplicaSeat,
} from "../chain/replicas.js";
export { TxSender, type SenderLogger, type SendParameters, type SendReturnType, type TxSenderParameters } from "../chain/sender.js";
export { TermsReader, type MarketTerms, type Terms, type VerificationTerms } from "../chain/terms.js";
export { formatTokens, JOB_STATUS_NAMES, TOKEN_DECIMALS, TOKEN_SYMBOL } from "../chain/format.js";

// Errors: every one the SDK throws on purpose extends DinferError and carries a stable `code`.
export { CodecError, DinferError, NonRetryableError, RetryableError } from "../errors.js";
export { PrivateHostRefusedError, type PrivateHostRefusedErrorParameters } from "../storage/errors.js";
export { ContractRevertError, NodeRejectedError } from "../chain/errors.js";
