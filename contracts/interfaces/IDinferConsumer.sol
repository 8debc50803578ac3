// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IDinferConsumer
/// @notice Implemented by contracts that post jobs and want the result delivered on-chain.
interface IDinferConsumer {
    /// @notice Called by the JobMarket when a job the consumer posted is finalized.
    /// @dev Runs with the gas limit the consumer asked for at post time (capped by the protocol). A revert
    /// or out-of-gas here is recorded (`CallbackFailed`) and never undoes the finalization. Only the
    /// JobMarket may call it: check `msg.sender`.
    /// @param jobId the finalized job
    /// @param outputRoot the output root the provider revealed (docs/PROTOCOL.md section 5)
    /// @param inlineOutput the output blob when it was revealed inline (one chunk), else empty
    function onJobResult(uint256 jobId, bytes32 outputRoot, bytes calldata inlineOutput) external;
}
