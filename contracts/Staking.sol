// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";

import {
    AmountTooLarge,
    InsufficientUnlockedStake,
    InvalidParams,
    InvalidRoles,
    MinVerifierStakeBelowBond,
    NotProtocol,
    NotProvider,
    NothingToWithdraw,
    NothingUnbonding,
    ProtocolAlreadySet,
    SnapshotInFuture,
    TooManyExcluded,
    UnbondingNotFinished,
    UnbondingPeriodTooShort,
    VerifierSetFull,
    ZeroAddress,
    ZeroAmount
} from "./errors/Errors.sol";
import {IStaking} from "./interfaces/IStaking.sol";
import {TokenPull} from "./libraries/TokenPull.sol";

/// @dev What Staking needs from the protocol's terms (IProtocolTerms implements it).
interface IStakeRequirements {
    /// @notice The shortest unbonding period that still covers every job's lifetime, under any terms.
    /// @return the period in seconds
    function requiredUnbondingPeriod() external view returns (uint256);

    /// @notice The largest challenge bond of any terms: what an overturned auditor's stake must cover.
    /// @return the bond
    function requiredVerifierStake() external view returns (uint256);
}

/// @dev The market names the terms contract.
interface ITermsHolder {
    /// @notice The protocol's terms.
    /// @return the terms contract
    function terms() external view returns (IStakeRequirements);
}

/// @title Staking
/// @notice Holds provider and verifier stake; the JobMarket locks collateral per job and the protocol
/// contracts slash it. Keeps the stake-weighted verifier set, frozen per block for draws.
/// @dev Trust: the owner sets parameters and, once, the two protocol contracts. Those contracts are
/// trusted to lock, unlock, slash and penalize correctly; nobody else can move stake.
///
/// The verifier set is a Fenwick tree of weights over `MAX_VERIFIERS` slots in which every node, every
/// slot's owner and every member's (slot, weight) are checkpointed by block (OpenZeppelin Checkpoints): a
/// draw descends the tree as it was at its snapshot block, O(log MAX_VERIFIERS) reads, and a weight change
/// writes O(log MAX_VERIFIERS) checkpoints. Slots are reused (a free list), so the tree never grows past its
/// size. Excluded accounts are cut out of the cumulative weights exactly (their ranges are skipped), so a
/// draw never fails because the excluded accounts hold most of the weight.
contract Staking is IStaking, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using TokenPull for IERC20;
    using SafeCast for uint256;
    using Checkpoints for Checkpoints.Trace208;

    /// @inheritdoc IStaking
    uint8 public constant ROLE_PROVIDER = 1;
    /// @inheritdoc IStaking
    uint8 public constant ROLE_VERIFIER = 2;
    uint8 private constant ALL_ROLES = ROLE_PROVIDER | ROLE_VERIFIER;
    /// @notice Most accounts in the verifier set at once (a power of two: the tree's size).
    uint256 public constant MAX_VERIFIERS = 1024;
    /// @notice Most accounts one draw may exclude.
    uint256 public constant MAX_EXCLUDED = 16;
    /// @dev A membership checkpoint packs the member's slot plus one above its weight (uint112).
    uint256 private constant WEIGHT_BITS = 112;
    uint256 private constant WEIGHT_MASK = (1 << WEIGHT_BITS) - 1;

    /// @dev Written together on every lock/unlock: one slot.
    struct Account {
        uint112 stake; // active stake, locked collateral included
        uint112 locked; // collateral backing open jobs, <= stake
        uint8 roles;
        bool inDebt; // a penalty debt is recorded in `_debts` (read only when set, so locks pay nothing for it)
        uint16 reserved;
    }

    /// @dev Written together on unbonding and verifier-set changes: one slot.
    struct Exit {
        uint112 unbonding;
        uint40 unbondingEnd;
        uint32 verifierSlot; // slot in the verifier tree plus one; 0 = not in the set
        uint72 reserved;
    }

    /// @notice The token staked.
    IERC20 public immutable token;

    /// @inheritdoc IStaking
    address public jobMarket;
    /// @inheritdoc IStaking
    address public verification;
    StakingParams private _params;
    /// @inheritdoc IStaking
    uint256 public totalStaked;
    /// @inheritdoc IStaking
    uint256 public totalUnbonding;

    mapping(address account => Account) private _accounts;
    mapping(address account => Exit) private _exits;

    /// @dev The verifier set. `_tree[i]` (1-based) holds the weight of slots (i - lowbit(i), i], so the top
    /// node `_tree[MAX_VERIFIERS]` holds the total; every value is checkpointed at the block it changed in.
    mapping(uint256 node => Checkpoints.Trace208) private _tree;
    mapping(uint256 slot => Checkpoints.Trace208) private _slotOwners;
    /// @dev Each account's membership over time: (slot + 1) << 112 | weight, zero while not a member.
    mapping(address account => Checkpoints.Trace208) private _memberships;
    uint256[] private _freeSlots;
    /// @inheritdoc IStaking
    uint256 public verifierSlotCount;
    /// @inheritdoc IStaking
    uint256 public verifierCount;

    /// @inheritdoc IStaking
    address public batchMarket;
    /// @inheritdoc IStaking
    address public replicaMarket;

    /// @dev The part of each penalty that found no free or unbonding stake: owed out of the account's locked
    /// collateral, paid as soon as stake is free (see `_settleDebt`). Always <= the account's `locked`.
    mapping(address account => uint256) private _debts;
    /// @inheritdoc IStaking
    uint256 public collectedDebts;

    /// @dev The JobMarket or the BatchMarket: both lock collateral for their jobs (one `locked` per account, so a
    /// batch job split out into the JobMarket keeps its lock as it is).
    modifier onlyMarket() {
        if (msg.sender != jobMarket && !_isOtherMarket()) revert NotProtocol(msg.sender);
        _;
    }

    modifier onlyProtocol() {
        if (msg.sender != jobMarket && msg.sender != verification && !_isOtherMarket()) revert NotProtocol(msg.sender);
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
        token.pullExactly(msg.sender, amount);

        Account storage acct = _accounts[msg.sender];
        uint256 newStake = uint256(acct.stake) + amount;
        if (newStake > type(uint112).max) revert AmountTooLarge(amount);
        acct.stake = uint112(newStake);
        acct.roles = roles;
        totalStaked += amount;
        emit Staked(msg.sender, amount, roles);
        if (acct.inDebt) _settleDebt(msg.sender, acct);
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
        // No event: the market's JobClaimed / ResultCommitted say who locked what (it runs on every job).
        acct.locked += uint112(amount);
    }

    /// @inheritdoc IStaking
    function unlock(address provider, uint256 amount) external onlyMarket {
        Account storage acct = _accounts[provider];
        _unlock(acct, amount);
        // Collateral that comes back pays a penalty debt first.
        if (acct.inDebt) _settleDebt(provider, acct);
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
        slashed = fromStake + _takeUnbonding(account_, amount - fromStake);
        totalStaked -= fromStake;
        // 5. A penalty debt comes after the job's slash: from what the slash left free, the rest written
        // down to what is still locked. Before the transfer, so that no state is left to settle after it.
        if (acct.inDebt) _settleDebt(account_, acct);
        _afterSlash(account_, amount, slashed, recipient);
    }

    /// @inheritdoc IStaking
    function penalize(address account_, uint256 amount, address recipient)
        external
        onlyProtocol
        nonReentrant
        returns (uint256 taken)
    {
        if (recipient == address(0)) revert ZeroAddress();
        Account storage acct = _accounts[account_];
        // 1. From the unlocked active stake.
        uint256 free = uint256(acct.stake) - acct.locked;
        uint256 fromStake = amount < free ? amount : free;
        acct.stake -= uint112(fromStake);
        // 2. Then from unbonding stake.
        taken = fromStake + _takeUnbonding(account_, amount - fromStake);
        totalStaked -= fromStake;
        // 3. The rest is owed out of the collateral locked for the account's own jobs: not taken now (each of
        // those jobs' slashes must find its collateral), but paid as it comes back (`_settleDebt`). Capped at
        // what is locked, so a verifier's weight (its whole stake) is never more than its penalties can reach.
        uint256 rest = amount - taken;
        if (rest != 0) {
            uint256 debt = acct.inDebt ? _debts[account_] : 0;
            uint256 room = uint256(acct.locked) - debt;
            uint256 added = rest < room ? rest : room;
            if (added != 0) {
                _debts[account_] = debt + added;
                acct.inDebt = true;
                emit PenaltyDeferred(account_, added, debt + added);
            }
        }
        _afterSlash(account_, amount, taken, recipient);
    }

    // ---------------------------------------------------------------- governance

    /// @inheritdoc IStaking
    function withdrawCollectedDebts(address to) external onlyOwner nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        amount = collectedDebts;
        if (amount == 0) revert NothingToWithdraw(to);
        collectedDebts = 0;
        emit CollectedDebtsWithdrawn(to, amount);
        token.safeTransfer(to, amount);
    }

    /// @inheritdoc IStaking
    function setProtocol(address jobMarket_, address verification_) external onlyOwner {
        if (jobMarket != address(0)) revert ProtocolAlreadySet();
        if (jobMarket_ == address(0) || verification_ == address(0)) revert ZeroAddress();
        jobMarket = jobMarket_;
        verification = verification_;
        emit ProtocolSet(jobMarket_, verification_);
    }

    /// @inheritdoc IStaking
    function setBatchMarket(address batchMarket_) external onlyOwner {
        if (batchMarket != address(0)) revert ProtocolAlreadySet();
        if (batchMarket_ == address(0)) revert ZeroAddress();
        batchMarket = batchMarket_;
        emit BatchMarketSet(batchMarket_);
    }

    /// @inheritdoc IStaking
    function setReplicaMarket(address replicaMarket_) external onlyOwner {
        if (replicaMarket != address(0)) revert ProtocolAlreadySet();
        if (replicaMarket_ == address(0)) revert ZeroAddress();
        replicaMarket = replicaMarket_;
        emit ReplicaMarketSet(replicaMarket_);
    }

    /// @inheritdoc IStaking
    function setParams(StakingParams calldata params_) external onlyOwner {
        _setParams(params_);
    }

    function _setParams(StakingParams memory p) private {
        if (p.unbondingPeriod == 0 || p.unbondingPeriod > 365 days) revert InvalidParams("unbondingPeriod");
        if (p.minVerifierStake == 0) revert InvalidParams("minVerifierStake");
        if (jobMarket != address(0)) {
            IStakeRequirements terms = ITermsHolder(jobMarket).terms();
            uint256 required = terms.requiredUnbondingPeriod();
            if (p.unbondingPeriod < required) revert UnbondingPeriodTooShort(p.unbondingPeriod, required);
            uint256 bond = terms.requiredVerifierStake();
            if (p.minVerifierStake < bond) revert MinVerifierStakeBelowBond(p.minVerifierStake, bond);
        }
        _params = p;
        emit ParamsSet(p);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IStaking
    function params() external view returns (StakingParams memory) {
        return _params;
    }

    /// @inheritdoc IStaking
    function account(address account_) external view returns (AccountView memory v) {
        Account memory a = _accounts[account_];
        Exit memory e = _exits[account_];
        uint256 weight = _weightOf(account_);
        v = AccountView(a.stake, a.locked, e.unbonding, e.unbondingEnd, a.roles, weight != 0, weight);
    }

    /// @inheritdoc IStaking
    function availableStake(address account_) external view returns (uint256) {
        Account memory a = _accounts[account_];
        return uint256(a.stake) - a.locked;
    }

    /// @inheritdoc IStaking
    function penaltyDebt(address account_) external view returns (uint256) {
        return _accounts[account_].inDebt ? _debts[account_] : 0;
    }

    /// @inheritdoc IStaking
    function verifierAt(uint256 slot) external view returns (address) {
        return address(uint160(_slotOwners[slot].latest()));
    }

    /// @inheritdoc IStaking
    function isVerifier(address account_) external view returns (bool) {
        return _weightOf(account_) != 0;
    }

    /// @inheritdoc IStaking
    function verifierWeightAt(address account_, uint256 blockNumber) external view returns (uint256) {
        return _memberships[account_].upperLookupRecent(blockNumber.toUint48()) & WEIGHT_MASK;
    }

    /// @inheritdoc IStaking
    function totalVerifierWeightAt(uint256 blockNumber) external view returns (uint256) {
        return _tree[MAX_VERIFIERS].upperLookupRecent(blockNumber.toUint48());
    }

    /// @inheritdoc IStaking
    function drawVerifier(uint256 seed, uint256 snapshotBlock, address[] calldata excluded)
        external
        view
        returns (address)
    {
        if (excluded.length > MAX_EXCLUDED) revert TooManyExcluded(excluded.length, MAX_EXCLUDED);
        if (snapshotBlock > block.number) revert SnapshotInFuture(snapshotBlock, block.number);
        uint48 key = uint48(snapshotBlock);
        // 1. The excluded members' ranges of the cumulative weights at the snapshot, sorted by start.
        (uint256[] memory starts, uint256[] memory widths, uint256 cut) = _excludedRanges(excluded, key);
        uint256 total = _tree[MAX_VERIFIERS].upperLookupRecent(key) - cut;
        if (total == 0) return address(0);
        // 2. A point of the remaining weight, mapped back past each excluded range before it.
        uint256 point = seed % total;
        for (uint256 i; i < starts.length; ++i) {
            if (point >= starts[i]) point += widths[i];
        }
        return address(uint160(_slotOwners[_find(point, key)].upperLookupRecent(key)));
    }

    /// @inheritdoc IStaking
    function syncVerifier(address account_) external {
        _syncVerifier(account_);
    }

    // ---------------------------------------------------------------- internals

    /// @dev The caller is the batch market or the replica market, once set (an unset one is no caller's address,
    /// not even zero's).
    function _isOtherMarket() private view returns (bool) {
        if (msg.sender == address(0)) return false;
        return msg.sender == batchMarket || msg.sender == replicaMarket;
    }

    function _unlock(Account storage acct, uint256 amount) private {
        // Saturating: a slash may already have consumed this job's lock (see slash step 3).
        uint256 released = amount < acct.locked ? amount : acct.locked;
        // No event: JobFinalized, JobExpired and DisputeSettled say which job's collateral came back.
        acct.locked -= uint112(released);
    }

    /// @dev Collects an account's penalty debt from its free stake (stake - locked), and writes what is left
    /// down to its locked collateral (a slash took the rest). No transfer: a market's unlock stays cheap. Keeps
    /// debt <= locked, and free stake zero while a debt is left: nothing owed can be unbonded or locked again.
    function _settleDebt(address account_, Account storage acct) private {
        uint256 debt = _debts[account_];
        uint256 free = uint256(acct.stake) - acct.locked;
        uint256 paid = debt < free ? debt : free;
        uint256 left = debt - paid;
        uint256 writtenOff = left > acct.locked ? left - acct.locked : 0;
        if (paid == 0 && writtenOff == 0) return;
        left -= writtenOff;
        _debts[account_] = left;
        if (left == 0) acct.inDebt = false;
        acct.stake -= uint112(paid);
        totalStaked -= paid;
        collectedDebts += paid;
        emit PenaltyDebtSettled(account_, paid, writtenOff, left);
    }

    /// @dev Takes up to `amount` from the account's unbonding stake; returns what it took.
    function _takeUnbonding(address account_, uint256 amount) private returns (uint256 taken) {
        if (amount == 0) return 0;
        Exit storage exit_ = _exits[account_];
        taken = amount < exit_.unbonding ? amount : exit_.unbonding;
        exit_.unbonding -= uint112(taken);
        totalUnbonding -= taken;
    }

    /// @dev The shared end of a slash and a penalty. A member's verifier weight is not written here (that
    /// costs a checkpoint per tree level, which the party settling a job or dispute should not pay): it
    /// follows the stake that is left at the next `syncVerifier`, which keepers call on `Slashed` events.
    function _afterSlash(address account_, uint256 requested, uint256 taken, address recipient) private {
        emit Slashed(account_, requested, taken, recipient);
        if (taken != 0) token.safeTransfer(recipient, taken);
    }

    /// @dev The account's weight in the verifier set now.
    function _weightOf(address account_) private view returns (uint256) {
        return _memberships[account_].latest() & WEIGHT_MASK;
    }

    /// @dev The cumulative-weight ranges [start, start + width) of the excluded accounts that were members at
    /// snapshot `key`, sorted by start (duplicates once), and their total width.
    function _excludedRanges(address[] calldata excluded, uint48 key)
        private
        view
        returns (uint256[] memory starts, uint256[] memory widths, uint256 cut)
    {
        starts = new uint256[](excluded.length);
        widths = new uint256[](excluded.length);
        uint256 count;
        for (uint256 i; i < excluded.length; ++i) {
            uint256 membership = _memberships[excluded[i]].upperLookupRecent(key);
            if (membership == 0) continue;
            uint256 start = _prefix((membership >> WEIGHT_BITS) - 1, key);
            uint256 width = membership & WEIGHT_MASK;
            // Members' ranges are disjoint and non-empty: an equal start is the same member listed twice.
            if (_contains(starts, count, start)) continue;
            // Insertion in start order.
            uint256 j = count;
            while (j != 0 && starts[j - 1] > start) {
                starts[j] = starts[j - 1];
                widths[j] = widths[j - 1];
                --j;
            }
            starts[j] = start;
            widths[j] = width;
            cut += width;
            ++count;
        }
        assembly ("memory-safe") {
            mstore(starts, count)
            mstore(widths, count)
        }
    }

    /// @dev Keeps an account's weight in the verifier set equal to its active stake while it holds the
    /// verifier role with at least the minimum stake, else zero.
    function _syncVerifier(address account_) private {
        Account memory a = _accounts[account_];
        // A penalty debt is stake already owed: it weighs nothing.
        uint256 own = a.inDebt ? uint256(a.stake) - _debts[account_] : a.stake;
        bool eligible = a.roles & ROLE_VERIFIER != 0 && own >= _params.minVerifierStake;
        uint256 weight = eligible ? own : 0;
        uint256 current = _weightOf(account_);
        if (weight == current) return;

        Exit storage exit_ = _exits[account_];
        uint48 key = uint48(block.number);
        uint256 slot;
        // 1. A new member takes a free slot (or the next one).
        if (exit_.verifierSlot == 0) {
            uint256 freeCount = _freeSlots.length;
            if (freeCount != 0) {
                slot = _freeSlots[freeCount - 1];
                _freeSlots.pop();
            } else {
                slot = verifierSlotCount;
                if (slot == MAX_VERIFIERS) revert VerifierSetFull(MAX_VERIFIERS);
                verifierSlotCount = slot + 1;
            }
            exit_.verifierSlot = uint32(slot + 1);
            _slotOwners[slot].push(key, uint160(account_));
            ++verifierCount;
            emit VerifierAdded(account_, slot);
        } else {
            slot = exit_.verifierSlot - 1;
        }
        // 2. Every tree node covering the slot (the top one is the total) moves by the difference, as of
        // this block.
        for (uint256 node = slot + 1; node <= MAX_VERIFIERS; node += node & (~node + 1)) {
            Checkpoints.Trace208 storage trace = _tree[node];
            trace.push(key, uint208(trace.latest() + weight - current));
        }
        _memberships[account_].push(key, weight == 0 ? 0 : uint208((slot + 1) << WEIGHT_BITS | weight));
        emit VerifierWeightSet(account_, weight, block.number);
        // 3. A member whose weight fell to zero frees its slot (draws at earlier snapshots still see it).
        if (weight == 0) {
            _slotOwners[slot].push(key, 0);
            _freeSlots.push(slot);
            exit_.verifierSlot = 0;
            --verifierCount;
            emit VerifierRemoved(account_, slot);
        }
    }

    /// @dev The slot whose cumulative weight range holds `point` (< the total weight) at snapshot `key`:
    /// the Fenwick descent, one checkpoint read per level.
    function _find(uint256 point, uint48 key) private view returns (uint256 slot) {
        for (uint256 step = MAX_VERIFIERS / 2; step != 0; step >>= 1) {
            uint256 value = _tree[slot + step].upperLookupRecent(key);
            if (value <= point) {
                slot += step;
                point -= value;
            }
        }
    }

    /// @dev Sum of the weights of slots [0, count) at snapshot `key`.
    function _prefix(uint256 count, uint48 key) private view returns (uint256 sum) {
        for (uint256 node = count; node != 0; node -= node & (~node + 1)) {
            sum += _tree[node].upperLookupRecent(key);
        }
    }

    function _contains(uint256[] memory list, uint256 count, uint256 item) private pure returns (bool) {
        for (uint256 i; i < count; ++i) {
            if (list[i] == item) return true;
        }
        return false;
    }
}
