// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IStaking} from "./interfaces/IStaking.sol";
import {IVerification} from "./interfaces/IVerification.sol";

/// @title Verification
/// @notice Challenges with a bond and the dispute lifecycle around the JobMarket's dispute hooks.
/// @dev Trust: the owner sets the bond. The market trusts this contract to open and settle disputes.
contract Verification is IVerification, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    IERC20 public immutable token;
    IJobMarket public immutable market;
    /// @dev Slashes go through the market's settlement today; committee and audit penalties (which
    /// slash verifiers directly) use this.
    IStaking public immutable staking;

    VerificationParams private _params;
    mapping(uint256 jobId => Dispute) private _disputes;
    mapping(address account => uint256) public credits;

    constructor(IERC20 token_, IJobMarket market_, IStaking staking_, address owner_, VerificationParams memory params_)
        Ownable(owner_)
    {
        if (address(token_) == address(0) || address(market_) == address(0) || address(staking_) == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        market = market_;
        staking = staking_;
        _setParams(params_);
    }

    /// @inheritdoc IVerification
    function onSampledReveal(uint256, IJobMarket.Job calldata, bytes32) external view {
        if (msg.sender != address(market)) revert NotMarket(msg.sender);
    }

    /// @inheritdoc IVerification
    function challenge(uint256 jobId, IJobMarket.Job calldata job) external nonReentrant {
        if (_disputes[jobId].challenger != address(0)) revert DisputeExists(jobId);
        uint96 bond = _params.challengeBond;
        _disputes[jobId] = Dispute(msg.sender, bond, uint64(block.timestamp), false);
        emit ChallengeOpened(jobId, msg.sender, bond);
        // Reverts unless the job is revealed and inside its challenge window.
        market.openDispute(jobId, job);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), bond);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != bond) revert TokenTransferMismatch(bond, received);
    }

    /// @inheritdoc IVerification
    function resolve(uint256 jobId, IJobMarket.Job calldata job, bytes calldata inlineOutput) external nonReentrant {
        Dispute storage d = _disputes[jobId];
        if (d.challenger == address(0) || d.resolved) revert NoDispute(jobId);
        uint256 resolvableAt = uint256(d.openedAt) + market.params().disputeDuration;
        if (block.timestamp <= resolvableAt) revert DisputeStillOpen(jobId, resolvableAt, block.timestamp);

        // No committee has judged the result: no quorum upholds the provider and returns the bond.
        d.resolved = true;
        _credit(d.challenger, d.bond);
        emit DisputeResolved(jobId, false, 0);
        market.settleDispute(jobId, job, false, address(this), inlineOutput);
    }

    /// @inheritdoc IVerification
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        credits[msg.sender] = 0;
        emit Withdrawal(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IVerification
    function setParams(VerificationParams calldata params_) external onlyOwner {
        _setParams(params_);
    }

    function params() external view returns (VerificationParams memory) {
        return _params;
    }

    function dispute(uint256 jobId) external view returns (Dispute memory) {
        return _disputes[jobId];
    }

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        credits[account] += amount;
        emit Credited(account, amount);
    }

    function _setParams(VerificationParams memory p) private {
        if (p.challengeBond == 0) revert InvalidParams("challengeBond");
        _params = p;
        emit ParamsSet(p);
    }
}
