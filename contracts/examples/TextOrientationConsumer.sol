// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IDinferConsumer} from "../interfaces/IDinferConsumer.sol";
import {IJobMarket} from "../interfaces/IJobMarket.sol";
import {IVerification} from "../interfaces/IVerification.sol";
import {Float32PairBlob} from "./Float32PairBlob.sol";

/// @title TextOrientationConsumer
/// @notice An example dApp: asks the dinfer network whether a line of text is upside down, using the
/// PaddleOCR text-orientation classifier (ppocr mobile v2.0 cls), and keeps the answer on-chain.
///
/// How to use it:
/// 1. Turn a text-line crop into the model's input, a `[1, 3, 48, 192]` float32 tensor named `x`
///    (`offchain/sdk/image.ts` `imageToClsInput`), encode it as a tensor blob and upload it somewhere
///    providers can fetch it (110,621 bytes: too big to post inline).
/// 2. Approve this contract for `fee` and call `requestOrientation(sha256(blob), uri, fee, claimBy)`.
///    The fee is pulled from the caller and escrowed in the JobMarket, with this contract as the poster.
/// 3. When a provider's result is final, the market calls `onJobResult` with the output blob, which holds
///    one float32 tensor `[1, 2]`: the probabilities of 0 and 180 degrees. The contract stores the more
///    probable orientation (`orientationOf`) and emits `OrientationResolved`, or records why the output
///    was unusable (`OrientationFailed`).
/// 4. If the job expires or its provider is slashed, anyone may call `refund` and the fee goes back to
///    the requester.
///
/// @dev Trust: the JobMarket (only it may call `onJobResult`, and it checks the output against the
/// committed root before the call) and the token. This contract approves the market for its whole token
/// balance, which only ever holds fees in flight and refunds not yet claimed.
/// Known weaknesses, acceptable for an example:
/// - A callback that fails (out of gas, with `callbackGasLimit` set too low) leaves the request Pending
///   for good: the market records `CallbackFailed`, the job is Finalized and cannot be refunded. Inside
///   a real finalize the callback uses about 12,700 gas (11,000 to 12,900 over the outcomes; measured by
///   `test/contracts/examples.test.ts`): give it a wide margin.
/// - The compensation a poster gets beside the refund (the expiry penalty when a provider goes silent, the
///   finder's share of a slash, which Verification credits) is collected into this contract by `refund`
///   and stays there: `refund` returns exactly the fee, which is the part every failed job is known to
///   have credited.
/// - A result is the provider's, final after the challenge window: the contract takes whatever the
///   protocol finalized and does not re-check it.
contract TextOrientationConsumer is IDinferConsumer, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice A request's place in its life. Numbered in order; only moves forward.
    enum RequestStatus {
        None,
        Pending,
        Resolved,
        Failed,
        Refunded
    }

    /// @notice Why a finalized output gave no orientation.
    /// @param NoInlineOutput the market delivered no output bytes (cannot happen for this contract's jobs,
    /// which are posted with `inlineOutput`: the provider must reveal inline; kept as a guard)
    /// @param MalformedBlob not one float32 tensor of two elements (the event says which field)
    /// @param WrongOutputName a tensor with another name than the model's output
    /// @param NotAProbability a value that is negative, infinite or NaN
    enum Failure {
        None,
        NoInlineOutput,
        MalformedBlob,
        WrongOutputName,
        NotAProbability
    }

    /// @notice One job's request and, once final, its answer. One storage slot (28 of 32 bytes), written
    /// once at the request and once by the callback.
    /// @param requester who paid the fee; refunds go to it
    /// @param status see RequestStatus
    /// @param degrees 0 or 180 once Resolved
    /// @param confidenceBits the IEEE 754 float32 bits of the winning class's probability
    /// @param failure why the request Failed
    struct Request {
        address requester; // 20 bytes
        RequestStatus status; // 1
        uint16 degrees; // 2
        uint32 confidenceBits; // 4
        Failure failure; // 1
    }

    /// @notice The model's labels by output column: 0 and 180 degrees.
    uint16 public constant UPRIGHT = 0;
    uint16 public constant UPSIDE_DOWN = 180;

    IJobMarket public immutable market;
    IERC20 public immutable token;
    /// @notice The registry id of the cls model this contract asks for.
    uint256 public immutable modelId;
    /// @notice Gas the market gives `onJobResult`; at most the market's `callbackGasLimit` parameter.
    uint32 public immutable callbackGasLimit;
    /// @notice keccak256 of the model's output name ("softmax_0.tmp_0" for the ppocr cls export).
    bytes32 public immutable outputNameHash;

    mapping(uint256 jobId => Request) private _requests;

    /// @notice A request was posted as job `jobId`, its fee escrowed in the market.
    event OrientationRequested(
        uint256 indexed jobId, address indexed requester, uint256 fee, bytes32 inputHash, string inputURI
    );
    /// @notice The job's output was read: the text is at `degrees`, with probability `confidenceBits`
    /// (float32 bits).
    event OrientationResolved(uint256 indexed jobId, address indexed requester, uint16 degrees, uint32 confidenceBits);
    /// @notice The job was finalized but its output gave no orientation; `blobStatus` is the decoder's
    /// verdict when `failure` is MalformedBlob, else Ok.
    event OrientationFailed(
        uint256 indexed jobId, address indexed requester, Failure failure, Float32PairBlob.Status blobStatus
    );
    /// @notice The fee of a job that expired or was slashed went back to its requester.
    event FeeRefunded(uint256 indexed jobId, address indexed requester, uint256 amount);

    error ZeroAddress();
    error ZeroCallbackGasLimit();
    error NotMarket(address caller);
    error RequestNotPending(uint256 jobId, RequestStatus status);
    error OrientationNotResolved(uint256 jobId, RequestStatus status);
    error JobStateMismatch(uint256 jobId);
    error JobNotFailed(uint256 jobId, IJobMarket.JobStatus status);

    /// @param market_ the JobMarket
    /// @param token_ the market's token (fees are paid in it)
    /// @param modelId_ the registry id of the ppocr cls model
    /// @param callbackGasLimit_ gas for `onJobResult`, which uses about 12,700: 50,000 leaves a wide margin
    /// @param outputName the model's output tensor name, "softmax_0.tmp_0" for the ppocr cls export
    constructor(
        IJobMarket market_,
        IERC20 token_,
        uint256 modelId_,
        uint32 callbackGasLimit_,
        string memory outputName
    ) {
        if (address(market_) == address(0) || address(token_) == address(0)) revert ZeroAddress();
        if (callbackGasLimit_ == 0) revert ZeroCallbackGasLimit();
        market = market_;
        token = token_;
        modelId = modelId_;
        callbackGasLimit = callbackGasLimit_;
        outputNameHash = keccak256(bytes(outputName));
        // One approval for good instead of one per request: this contract holds no funds of its own.
        token_.forceApprove(address(market_), type(uint256).max);
    }

    // ---------------------------------------------------------------- requests

    /// @notice Posts a text-orientation job for an input blob already uploaded, paid by the caller.
    /// @dev The caller must have approved this contract for `fee`. The market checks the rest (the model is
    /// active, the fee meets its floor, `claimBy` is in range, the callback gas is allowed).
    /// @param inputHash SHA-256 of the input tensor blob (its blob id) (one float32 tensor `x` of `[1, 3, 48, 192]`)
    /// @param inputURI where providers fetch the blob
    /// @param fee the job's fee, pulled from the caller
    /// @param claimBy the last second a provider may claim the job
    /// @return jobId the market's job id, the key of every view here
    function requestOrientation(bytes32 inputHash, string calldata inputURI, uint256 fee, uint64 claimBy)
        external
        nonReentrant
        returns (uint256 jobId)
    {
        token.safeTransferFrom(msg.sender, address(this), fee);
        jobId = market.postJob(
            IJobMarket.JobRequest({
                modelId: modelId,
                fee: fee,
                claimBy: claimBy,
                inputHash: inputHash,
                inputURI: inputURI,
                inlineInput: "",
                callbackGasLimit: callbackGasLimit,
                // The callback decodes the output itself: a reveal by URI alone would leave it nothing.
                inlineOutput: true
            })
        );
        // After the call: the id is the market's to give. The market is trusted and this function is
        // nonReentrant, so nothing can observe the job before its request is stored.
        _requests[jobId] = Request({
            requester: msg.sender,
            status: RequestStatus.Pending,
            degrees: 0,
            confidenceBits: 0,
            failure: Failure.None
        });
        emit OrientationRequested(jobId, msg.sender, fee, inputHash, inputURI);
    }

    /// @inheritdoc IDinferConsumer
    /// @dev Never reverts on a bad output: it records a Failure instead, so an unusable result is visible
    /// on-chain rather than lost as a `CallbackFailed`. Reverts only for a caller other than the market and
    /// for a job this contract did not post or already settled (neither can come from the market).
    function onJobResult(uint256 jobId, bytes32, bytes calldata inlineOutput) external {
        if (msg.sender != address(market)) revert NotMarket(msg.sender);
        Request memory request = _requests[jobId];
        if (request.status != RequestStatus.Pending) revert RequestNotPending(jobId, request.status);

        (Failure failure, Float32PairBlob.Status blobStatus, uint16 degrees, uint32 confidenceBits) =
            _readOutput(inlineOutput);
        if (failure != Failure.None) {
            request.status = RequestStatus.Failed;
            request.failure = failure;
            _requests[jobId] = request;
            emit OrientationFailed(jobId, request.requester, failure, blobStatus);
            return;
        }
        request.status = RequestStatus.Resolved;
        request.degrees = degrees;
        request.confidenceBits = confidenceBits;
        _requests[jobId] = request;
        emit OrientationResolved(jobId, request.requester, degrees, confidenceBits);
    }

    /// @notice Returns the fee of a job that ended without a result (Expired or Slashed) to its requester.
    /// Anyone may call it; the money goes to the requester.
    /// @param job the job's current state, as rebuilt from the market's events (`offchain/chain/jobs.ts`)
    /// @return amount the fee refunded
    function refund(uint256 jobId, IJobMarket.Job calldata job) external nonReentrant returns (uint256 amount) {
        Request storage request = _requests[jobId];
        RequestStatus status = request.status;
        if (status != RequestStatus.Pending) revert RequestNotPending(jobId, status);
        if (market.jobHash(jobId) != keccak256(abi.encode(job))) revert JobStateMismatch(jobId);
        if (job.status != IJobMarket.JobStatus.Expired && job.status != IJobMarket.JobStatus.Slashed) {
            revert JobNotFailed(jobId, job.status);
        }

        request.status = RequestStatus.Refunded;
        address requester = request.requester;
        amount = job.fee;
        emit FeeRefunded(jobId, requester, amount);

        // The market credited this contract at least the fee when the job failed. Credits are per account,
        // not per job, so whichever refund comes first withdraws them all and later ones pay from the
        // balance.
        if (market.credits(address(this)) != 0) market.withdraw();
        // A slashed provider's finder share, when no auditor found the fault, is credited to the poster by
        // Verification: collected too, so that nothing stays owed to this contract there.
        IVerification verification = IVerification(market.verification());
        if (verification.credits(address(this)) != 0) verification.withdraw();
        token.safeTransfer(requester, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice The orientation found for job `jobId`: 0 (upright) or 180 (upside down).
    function orientationOf(uint256 jobId) external view returns (uint16 degrees) {
        Request memory request = _requests[jobId];
        if (request.status != RequestStatus.Resolved) revert OrientationNotResolved(jobId, request.status);
        return request.degrees;
    }

    /// @notice Everything recorded for job `jobId` (all zero for a job this contract did not post).
    function requestOf(uint256 jobId) external view returns (Request memory) {
        return _requests[jobId];
    }

    // ---------------------------------------------------------------- internals

    /// @dev The orientation in an output blob, or why there is none. Ties go to 0 degrees, like
    /// `offchain/sdk/image.ts` readClsOutput.
    function _readOutput(bytes calldata output)
        private
        view
        returns (Failure failure, Float32PairBlob.Status blobStatus, uint16 degrees, uint32 confidenceBits)
    {
        if (output.length == 0) return (Failure.NoInlineOutput, Float32PairBlob.Status.Ok, 0, 0);
        (Float32PairBlob.Status status, bytes calldata name, uint32 upright, uint32 flipped) =
            Float32PairBlob.decode(output);
        if (status != Float32PairBlob.Status.Ok) return (Failure.MalformedBlob, status, 0, 0);
        if (keccak256(name) != outputNameHash) return (Failure.WrongOutputName, status, 0, 0);
        (bool uprightOk, uint32 uprightKey) = Float32PairBlob.orderKey(upright);
        (bool flippedOk, uint32 flippedKey) = Float32PairBlob.orderKey(flipped);
        if (!uprightOk || !flippedOk) return (Failure.NotAProbability, status, 0, 0);
        return flippedKey > uprightKey
            ? (Failure.None, status, UPSIDE_DOWN, flippedKey)
            : (Failure.None, status, UPRIGHT, uprightKey);
    }
}
