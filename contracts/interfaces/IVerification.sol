// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IJobMarket} from "./IJobMarket.sol";

/// @title IVerification
/// @notice Challenges and disputes over revealed results (DESIGN section 5).
/// @dev This version holds challenges with a bond and the dispute lifecycle. Committee votes and audits
/// (DESIGN section 5) are not in it yet: every dispute resolves as "no quorum", which upholds the
/// provider and returns the bond, as DESIGN prescribes for a dispute nobody judged. Until committees
/// exist a challenge therefore costs its bond's capital for `disputeDuration` and nothing more.
interface IVerification {
    struct VerificationParams {
        uint96 challengeBond;
    }

    struct Dispute {
        address challenger;
        uint96 bond;
        uint64 openedAt;
        bool resolved;
    }

    event ChallengeOpened(uint256 indexed jobId, address indexed challenger, uint256 bond);
    event DisputeResolved(uint256 indexed jobId, bool indexed providerFaulted, uint256 slashed);
    event Credited(address indexed account, uint256 amount);
    event Withdrawal(address indexed account, uint256 amount);
    event ParamsSet(VerificationParams params);

    error DisputeExists(uint256 jobId);
    error NoDispute(uint256 jobId);
    error DisputeStillOpen(uint256 jobId, uint256 resolvableAt, uint256 nowTime);
    error TokenTransferMismatch(uint256 expected, uint256 received);
    error NothingToWithdraw(address account);
    error InvalidParams(string reason);
    error ZeroAddress();
    error NotMarket(address caller);

    /// @notice JobMarket only, from `reveal` of a sampled job (`job` is its state as committed, `seed` its
    /// sampling seed, zero when out of reach). Reverts to hold the reveal while the drawn auditor may still
    /// commit blind; records the audit so it can be settled after the reveal.
    function onSampledReveal(uint256 jobId, IJobMarket.Job calldata job, bytes32 seed) external;

    /// @notice Challenges a revealed job inside its challenge window, posting the bond. `job` is the
    /// job's state as revealed (see IJobMarket.Job).
    function challenge(uint256 jobId, IJobMarket.Job calldata job) external;

    /// @notice Resolves a dispute once its duration has passed. Anyone may call. `job` is the job's
    /// current state (status Disputed); `inlineOutput` is the revealed inline output when the consumer
    /// wants a callback with it (else empty).
    function resolve(uint256 jobId, IJobMarket.Job calldata job, bytes calldata inlineOutput) external;

    function withdraw() external returns (uint256 amount);
    function setParams(VerificationParams calldata params) external;
    function params() external view returns (VerificationParams memory);
    function dispute(uint256 jobId) external view returns (Dispute memory);
    function credits(address account) external view returns (uint256);
}
