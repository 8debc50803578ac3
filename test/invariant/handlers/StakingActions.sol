// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import * as Errors from "../../../contracts/errors/Errors.sol";
import {IStaking} from "../../../contracts/interfaces/IStaking.sol";

import {VerificationActions} from "./VerificationActions.sol";

/// @notice Stakers: stake (any roles: providers, verifiers, both), unbond, withdraw, change roles, and anyone's
/// `syncVerifier`. The model follows docs/PROTOCOL.md "Staking and the verifier set".
abstract contract StakingActions is VerificationActions {
    function stake(uint256 actorSeed, uint256 amount, uint256 roles) external {
        _begin();
        address[] memory all = stakers();
        address who = all[actorSeed % all.length];
        amount = amount % 8 == 0 ? _bound(amount, 1, 1_000_000 ether) : _bound(amount, 1, 300 ether);
        _stake(who, amount, uint8(_bound(roles, 1, 3)));
        _reach("stake");
    }

    function requestUnbond(uint256 actorSeed, uint256 amount) external {
        _begin();
        address[] memory all = stakers();
        address who = all[actorSeed % all.length];
        StakeModel storage s = _stakes[who];
        uint256 available = s.stake - s.locked;
        if (available == 0) return;
        // Now and then everything that is free: the account is left with only its locked collateral.
        amount = amount % 4 == 0 ? available : _bound(amount, 1, available);
        if (!_exec(who, address(staking), abi.encodeCall(IStaking.requestUnbond, (amount)), "requestUnbond")) return;
        s.stake -= amount;
        s.unbonding += amount;
        s.unbondingEnd = _now + UNBONDING_PERIOD;
        _syncModel(who);
        _reach("unbond");
    }

    /// @dev Waiting out the unbonding period jumps the clock by two hours (every open job's deadline passes),
    /// so only one call in eight does it; the others withdraw what is already due, if any.
    function withdrawStake(uint256 actorSeed, uint256 waitOut) external {
        _begin();
        address[] memory all = stakers();
        address who;
        for (uint256 i; i < all.length; ++i) {
            address candidate = all[(actorSeed % all.length + i) % all.length];
            if (_stakes[candidate].unbonding != 0) {
                who = candidate;
                break;
            }
        }
        if (who == address(0)) return;
        StakeModel storage s = _stakes[who];
        bytes memory data = abi.encodeCall(IStaking.withdraw, ());
        if (_now < s.unbondingEnd) {
            bytes memory early =
                abi.encodeWithSelector(Errors.UnbondingNotFinished.selector, who, s.unbondingEnd, _now);
            _expectRevert(address(staking), who, data, early, "withdrawal before the unbonding period");
            if (waitOut % 8 != 0) return;
            _warpTo(s.unbondingEnd);
        }
        if (!_exec(who, address(staking), data, "withdrawStake")) return;
        _withdrawn[who] += s.unbonding;
        s.unbonding = 0;
        s.unbondingEnd = 0;
        _reach("stake withdrawn");
    }

    function setRoles(uint256 actorSeed, uint256 roles) external {
        _begin();
        address[] memory all = stakers();
        address who = all[actorSeed % all.length];
        uint8 next = uint8(roles % 4);
        if (!_exec(who, address(staking), abi.encodeCall(IStaking.setRoles, (next)), "setRoles")) return;
        _stakes[who].roles = next;
        _syncModel(who);
        _reach("roles changed");
    }

    /// @notice Anyone brings a member's weight to its stake (after a slash or penalty, which leave it).
    function syncVerifier(uint256 actorSeed) external {
        _begin();
        address[] memory all = stakers();
        address who = all[actorSeed % all.length];
        if (!_exec(KEEPER, address(staking), abi.encodeCall(IStaking.syncVerifier, (who)), "syncVerifier")) return;
        uint256 before = _stakes[who].weight;
        _syncModel(who);
        if (_stakes[who].weight != before) _reach("verifier re-weighted after a slash");
    }
}
