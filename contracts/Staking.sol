// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IStaking} from "./interfaces/IStaking.sol";

interface IUnbondingRequirement {
    /// @notice The shortest unbonding period that still covers every open job's lifetime.
    function requiredUnbondingPeriod() external view returns (uint256);
}

/// @title Staking
/// @notice Holds provider and verifier stake; the JobMarket locks collateral per job and the protocol
/// contracts slash it.
/// @dev Trust: the owner sets parameters and, once, the two protocol contracts. Those contracts are
/// trusted to lock, unlock and slash correctly; nobody else can move stake.
contract Staking is IStaking, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    uint8 public constant ROLE_PROVIDER = 1;
    uint8 public constant ROLE_VERIFIER = 2;
    uint8 private constant ALL_ROLES = ROLE_PROVIDER | ROLE_VERIFIER;
    uint256 public constant MAX_EXCLUDED = 16;
    /// @dev Extra probes a draw may spend stepping past members left under a raised minimum.
    uint256 public constant MAX_STALE_PROBES = 8;

    /// @dev Written together on every lock/unlock: one slot.
    struct Account {
        uint112 stake; // active stake, locked collateral included
        uint112 locked; // collateral backing open jobs, <= stake
        uint8 roles;
        uint24 reserved;
    }

    /// @dev Written together on unbonding and verifier-set changes: one slot.
    struct Exit {
        uint112 unbonding;
        uint40 unbondingEnd;
        uint32 verifierSlot; // index in _verifiers plus one; 0 = not in the set
    }

    IERC20 public immutable token;

    address public jobMarket;
    address public verification;
    StakingParams private _params;
    uint256 public totalStaked;
    uint256 public totalUnbonding;

    mapping(address account => Account) private _accounts;
    mapping(address account => Exit) private _exits;
    address[] private _verifiers;

    modifier onlyMarket() {
        if (msg.sender != jobMarket) revert NotProtocol(msg.sender);
        _;
    }

    modifier onlyProtocol() {
        if (msg.sender != jobMarket && msg.sender != verification) revert NotProtocol(msg.sender);
        _;
    }

    constructor(IERC20 token_, address owner_, StakingParams memory params_) Ownable(owner_) {
        if (address(token_) == address(0)) revert ZeroAddress();
        token = token_;
        _setParams(params_);
    }

    // ---------------------------------------------------------------- stakers

    /// @inheritdoc IStaking
    function stake(uint256 amount, uint8 roles) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (roles == 0 || roles & ~ALL_ROLES != 0) revert InvalidRoles(roles);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert TokenTransferMismatch(amount, received);

        Account storage acct = _accounts[msg.sender];
        uint256 newStake = uint256(acct.stake) + amount;
        if (newStake > type(uint112).max) revert AmountTooLarge(amount);
        acct.stake = uint112(newStake);
        acct.roles = roles;
        totalStaked += amount;
        emit Staked(msg.sender, amount, roles);
        _syncVerifier(msg.sender);
    }

    /// @inheritdoc IStaking
    function setRoles(uint8 roles) external {
        if (roles & ~ALL_ROLES != 0) revert InvalidRoles(roles);
        _accounts[msg.sender].roles = roles;
        emit RolesChanged(msg.sender, roles);
        _syncVerifier(msg.sender);
    }

    /// @inheritdoc IStaking
    function requestUnbond(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Account storage acct = _accounts[msg.sender];
        uint256 available = uint256(acct.stake) - acct.locked;
        if (amount > available) revert InsufficientUnlockedStake(msg.sender, available, amount);

        acct.stake -= uint112(amount);
        Exit storage exit_ = _exits[msg.sender];
        uint256 total = uint256(exit_.unbonding) + amount;
        uint256 end = block.timestamp + _params.unbondingPeriod;
        exit_.unbonding = uint112(total); // total <= original stake, fits
        exit_.unbondingEnd = end.toUint40();
        totalStaked -= amount;
        totalUnbonding += amount;
        emit UnbondingRequested(msg.sender, amount, total, end);
        _syncVerifier(msg.sender);
    }

    /// @inheritdoc IStaking
    function withdraw() external nonReentrant returns (uint256 amount) {
        Exit storage exit_ = _exits[msg.sender];
        amount = exit_.unbonding;
        if (amount == 0) revert NothingUnbonding(msg.sender);
        if (block.timestamp < exit_.unbondingEnd) {
            revert UnbondingNotFinished(msg.sender, exit_.unbondingEnd, block.timestamp);
        }
        exit_.unbonding = 0;
        exit_.unbondingEnd = 0;
        totalUnbonding -= amount;
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- protocol

    /// @inheritdoc IStaking
    function lock(address provider, uint256 amount) external onlyMarket {
        Account storage acct = _accounts[provider];
        if (acct.roles & ROLE_PROVIDER == 0) revert NotProvider(provider);
        uint256 available = uint256(acct.stake) - acct.locked;
        if (amount > available) revert InsufficientUnlockedStake(provider, available, amount);
        // No event: the market's JobClaimed says who locked what (it runs on every job; logs cost gas).
        acct.locked += uint112(amount);
    }

    /// @inheritdoc IStaking
    function unlock(address provider, uint256 amount) external onlyMarket {
        _unlock(_accounts[provider], amount);
    }

    /// @inheritdoc IStaking
    function slash(address account_, uint256 unlockAmount, uint256 amount, address recipient)
        external
        onlyProtocol
        nonReentrant
        returns (uint256 slashed)
    {
        if (recipient == address(0)) revert ZeroAddress();
        Account storage acct = _accounts[account_];
        // 1. Release the job's collateral so the slash consumes it first.
        if (unlockAmount != 0) _unlock(acct, unlockAmount);
        // 2. Take from the active stake (that collateral, then the rest).
        uint256 fromStake = amount < acct.stake ? amount : acct.stake;
        acct.stake -= uint112(fromStake);
        // 3. Other jobs' locks can't exceed what is left: keep locked <= stake.
        if (acct.locked > acct.stake) acct.locked = acct.stake;
        // 4. Then from unbonding stake, which stays slashable until withdrawn.
        Exit storage exit_ = _exits[account_];
        uint256 rest = amount - fromStake;
        uint256 fromUnbonding = rest < exit_.unbonding ? rest : exit_.unbonding;
        exit_.unbonding -= uint112(fromUnbonding);
        totalStaked -= fromStake;
        totalUnbonding -= fromUnbonding;
        slashed = fromStake + fromUnbonding;
        emit Slashed(account_, amount, slashed, recipient);
        _syncVerifier(account_);
        // 5. Interaction last.
        if (slashed != 0) token.safeTransfer(recipient, slashed);
    }

    // ---------------------------------------------------------------- governance

    /// @inheritdoc IStaking
    function setProtocol(address jobMarket_, address verification_) external onlyOwner {
        if (jobMarket != address(0)) revert ProtocolAlreadySet();
        if (jobMarket_ == address(0) || verification_ == address(0)) revert ZeroAddress();
        jobMarket = jobMarket_;
        verification = verification_;
        emit ProtocolSet(jobMarket_, verification_);
    }

    /// @inheritdoc IStaking
    function setParams(StakingParams calldata params_) external onlyOwner {
        _setParams(params_);
    }

    function _setParams(StakingParams memory p) private {
        if (p.unbondingPeriod == 0 || p.unbondingPeriod > 365 days) revert InvalidParams("unbondingPeriod");
        if (p.minVerifierStake == 0) revert InvalidParams("minVerifierStake");
        if (jobMarket != address(0)) {
            uint256 required = IUnbondingRequirement(jobMarket).requiredUnbondingPeriod();
            if (p.unbondingPeriod < required) revert UnbondingPeriodTooShort(p.unbondingPeriod, required);
        }
        _params = p;
        emit ParamsSet(p);
    }

    // ---------------------------------------------------------------- views

    function params() external view returns (StakingParams memory) {
        return _params;
    }

    function account(address account_) external view returns (AccountView memory v) {
        Account memory a = _accounts[account_];
        Exit memory e = _exits[account_];
        v = AccountView(a.stake, a.locked, e.unbonding, e.unbondingEnd, a.roles, e.verifierSlot != 0);
    }

    function availableStake(address account_) external view returns (uint256) {
        Account memory a = _accounts[account_];
        return uint256(a.stake) - a.locked;
    }

    function verifierCount() external view returns (uint256) {
        return _verifiers.length;
    }

    function verifierAt(uint256 index) external view returns (address) {
        return _verifiers[index];
    }

    function isVerifier(address account_) external view returns (bool) {
        return _exits[account_].verifierSlot != 0;
    }

    /// @inheritdoc IStaking
    function drawVerifier(uint256 seed, address[] calldata excluded) external view returns (address) {
        if (excluded.length > MAX_EXCLUDED) revert TooManyExcluded(excluded.length, MAX_EXCLUDED);
        uint256 n = _verifiers.length;
        if (n == 0) return address(0);
        uint256 start = seed % n;
        uint256 probes = excluded.length + 1 + MAX_STALE_PROBES;
        if (probes > n) probes = n;
        uint256 minStake = _params.minVerifierStake;
        for (uint256 i; i < probes; ++i) {
            address candidate = _verifiers[(start + i) % n];
            // A raised minimum leaves members under it until someone calls syncVerifier: never draw them.
            if (_accounts[candidate].stake < minStake) continue;
            if (!_contains(excluded, candidate)) return candidate;
        }
        return address(0);
    }

    /// @inheritdoc IStaking
    function syncVerifier(address account_) external {
        _syncVerifier(account_);
    }

    // ---------------------------------------------------------------- internals

    function _unlock(Account storage acct, uint256 amount) private {
        // Saturating: a slash may already have consumed this job's lock (see slash step 3).
        uint256 released = amount < acct.locked ? amount : acct.locked;
        // No event: JobFinalized, JobExpired and DisputeSettled say which job's collateral came back.
        acct.locked -= uint112(released);
    }

    /// @dev Keeps the verifier set equal to {accounts with the verifier role and enough active stake}.
    /// O(1): swap-and-pop removal.
    function _syncVerifier(address account_) private {
        Account memory a = _accounts[account_];
        Exit storage exit_ = _exits[account_];
        bool eligible = a.roles & ROLE_VERIFIER != 0 && a.stake >= _params.minVerifierStake;
        bool member = exit_.verifierSlot != 0;
        if (eligible && !member) {
            _verifiers.push(account_);
            exit_.verifierSlot = uint32(_verifiers.length);
            emit VerifierAdded(account_);
        } else if (!eligible && member) {
            uint256 index = exit_.verifierSlot - 1;
            address last = _verifiers[_verifiers.length - 1];
            _verifiers[index] = last;
            _exits[last].verifierSlot = uint32(index + 1);
            _verifiers.pop();
            exit_.verifierSlot = 0;
            emit VerifierRemoved(account_);
        }
    }

    function _contains(address[] calldata list, address item) private pure returns (bool) {
        for (uint256 i; i < list.length; ++i) {
            if (list[i] == item) return true;
        }
        return false;
    }
}
