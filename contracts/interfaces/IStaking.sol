// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IStaking
/// @notice Stake, unbonding, per-job collateral locks, slashing and penalties for dinfer providers and
/// verifiers, and the verifier set that audits and committees are drawn from (docs/PROTOCOL.md, "Staking").
/// @dev One account can hold both roles. `stake` includes `locked`: locked collateral is the part of
/// the active stake that backs open jobs and cannot be unbonded until the job ends. Unbonding stake
/// stays slashable until it is withdrawn, and the unbonding period is at least the longest time a job
/// can stay open (enforced with the JobMarket's terms), so no stake escapes a pending slash.
///
/// The verifier set is stake-weighted and frozen per block: every change of a verifier's weight is
/// recorded as a checkpoint at the block it happens in, and a draw reads the set as it was at a past
/// `snapshotBlock` (the commit block of the job being audited or disputed), which the protocol fixes before
/// the draw's seed exists. Nobody's later transaction changes a draw once its seed is known, and an
/// account's chance is its share of the verifier stake, so splitting stake over many accounts buys no
/// extra chance.
interface IStaking {
    /// @notice The provider role bit (1): the account may claim jobs.
    /// @return the bit
    function ROLE_PROVIDER() external view returns (uint8);

    /// @notice The verifier role bit (2): the account joins the verifier set for audits and committees.
    /// @return the bit
    function ROLE_VERIFIER() external view returns (uint8);

    /// @notice Governance parameters of staking.
    /// @param unbondingPeriod seconds between an unbonding request and its withdrawal
    /// @param minVerifierStake active stake an account needs to be in the verifier set; at least the
    /// market's challenge bond, which an overturned auditor's stake must be able to pay
    struct StakingParams {
        uint64 unbondingPeriod;
        uint128 minVerifierStake;
    }

    /// @notice An account's balances as seen from outside.
    /// @param verifierWeight the account's weight in the verifier set now (its active stake less its penalty
    /// debt while it holds the verifier role with at least `minVerifierStake` of it, else zero)
    struct AccountView {
        uint256 stake;
        uint256 locked;
        uint256 unbonding;
        uint256 unbondingEnd;
        uint8 roles;
        bool inVerifierSet;
        uint256 verifierWeight;
    }

    event Staked(address indexed account, uint256 amount, uint8 roles);
    event RolesChanged(address indexed account, uint8 roles);
    event UnbondingRequested(address indexed account, uint256 amount, uint256 total, uint256 unbondingEnd);
    event Withdrawn(address indexed account, uint256 amount);
    /// @dev A job slash (`slash`) or a verifier penalty (`penalize`): `requested` what the protocol asked
    /// for, `slashed` what was taken and sent to `recipient`.
    event Slashed(address indexed account, uint256 requested, uint256 slashed, address indexed recipient);
    /// @dev The part of a penalty no free or unbonding stake could pay: `amount` more owed out of the
    /// account's locked collateral, `debt` owed in all.
    event PenaltyDeferred(address indexed account, uint256 amount, uint256 debt);
    /// @dev A penalty debt met free stake: `paid` collected (`collectedDebts`), `writtenOff`
    /// dropped because a slash took the collateral it was owed from, `debt` still owed.
    event PenaltyDebtSettled(address indexed account, uint256 paid, uint256 writtenOff, uint256 debt);
    event CollectedDebtsWithdrawn(address indexed to, uint256 amount);
    event VerifierAdded(address indexed account, uint256 slot);
    event VerifierRemoved(address indexed account, uint256 slot);
    /// @dev Draws with a snapshot at or after `blockNumber` see the new weight.
    event VerifierWeightSet(address indexed account, uint256 weight, uint256 blockNumber);
    event ProtocolSet(address jobMarket, address verification);
    event BatchMarketSet(address batchMarket);
    event ReplicaMarketSet(address replicaMarket);
    event ParamsSet(StakingParams params);

    /// @notice Deposits `amount` tokens as active stake and sets the account's role bits.
    /// @dev Fee-on-transfer tokens are rejected: the received amount must equal `amount`.
    function stake(uint256 amount, uint8 roles) external;

    /// @notice Changes the account's role bits (join or leave the provider role and the verifier set).
    function setRoles(uint8 roles) external;

    /// @notice Moves `amount` of unlocked active stake into unbonding. A new request adds to the
    /// pending amount and restarts the unbonding clock for the whole amount.
    function requestUnbond(uint256 amount) external;

    /// @notice Withdraws the whole unbonding amount once its period has passed.
    function withdraw() external returns (uint256 amount);

    /// @notice Locks `amount` of a provider's unlocked stake as collateral for a job. JobMarket or BatchMarket only.
    function lock(address provider, uint256 amount) external;

    /// @notice Releases `amount` of a provider's locked collateral (capped at what is locked); a penalty debt
    /// is paid from it first. A market only.
    function unlock(address provider, uint256 amount) external;

    /// @notice A job's slash: releases `unlockAmount` of locked collateral (the job's), then takes up to
    /// `amount` from the account: from that collateral first, then the rest of the active stake, then
    /// unbonding stake. Capped at what exists; never reverts for lack of stake. Protocol contracts only.
    /// @return slashed the amount actually taken and sent to `recipient`
    function slash(address account, uint256 unlockAmount, uint256 amount, address recipient)
        external
        returns (uint256 slashed);

    /// @notice A verifier's penalty (an absent or overturned auditor, an absent or minority voter): takes
    /// up to `amount` from the account's unlocked active stake, then its unbonding stake. What is still
    /// missing becomes a penalty debt on the collateral locked for the account's own jobs as a provider,
    /// capped at that collateral: not taken now (each job's slash must find its collateral first), but
    /// collected (`collectedDebts`, the owner's) as soon as stake is free again (a job's collateral coming
    /// back, new stake), and written down by what a slash takes. Never reverts for lack of stake.
    /// Protocol contracts only.
    /// @return taken the amount taken now and sent to `recipient` (a debt is paid later, see `PenaltyDebtSettled`)
    function penalize(address account, uint256 amount, address recipient) external returns (uint256 taken);

    /// @notice What the account still owes of its verifier penalties (see `penalize`); always at most its
    /// locked collateral, and while it is above zero the account has no free stake.
    /// @param account the staker
    /// @return the debt
    function penaltyDebt(address account) external view returns (uint256);

    /// @notice Penalty debts collected and not yet withdrawn by the owner (held by this contract beside
    /// `totalStaked` and `totalUnbonding`).
    /// @return the amount
    function collectedDebts() external view returns (uint256);

    /// @notice Owner: withdraws the collected penalty debts to `to` (the protocol's treasury).
    /// @return amount what was sent
    function withdrawCollectedDebts(address to) external returns (uint256 amount);

    /// @notice Sets the protocol contracts allowed to lock and slash. Owner, once.
    function setProtocol(address jobMarket, address verification) external;

    /// @notice Sets the staking parameters (owner). The unbonding period must cover the market's
    /// longest job lifetime, and the minimum verifier stake its challenge bond.
    function setParams(StakingParams calldata params) external;

    /// @notice Owner, once: the BatchMarket, which locks, unlocks and slashes collateral like the JobMarket.
    /// @param batchMarket its address
    function setBatchMarket(address batchMarket) external;

    /// @notice The BatchMarket (zero until set).
    /// @return its address
    function batchMarket() external view returns (address);

    /// @notice Owner, once: the ReplicaMarket (redundant jobs), which locks, unlocks and slashes collateral like the
    /// JobMarket.
    /// @param replicaMarket its address
    function setReplicaMarket(address replicaMarket) external;

    /// @notice The ReplicaMarket (zero until set).
    /// @return its address
    function replicaMarket() external view returns (address);

    /// @notice The staking parameters in force.
    /// @return the unbonding period and the minimum verifier stake
    function params() external view returns (StakingParams memory);

    /// @notice Everything about one account's stake: active, locked, unbonding and its release time, roles
    /// and its weight in the verifier set.
    /// @param account the staker
    /// @return the account's stake, as one struct
    function account(address account) external view returns (AccountView memory);

    /// @notice What `account` can lock as collateral or unbond now: its active stake less what open jobs lock.
    /// @param account the staker
    /// @return the unlocked active stake
    function availableStake(address account) external view returns (uint256);

    /// @notice All active stake (locked collateral included, unbonding stake not).
    /// @return the sum over all accounts
    function totalStaked() external view returns (uint256);

    /// @notice All stake waiting out its unbonding period (still slashable).
    /// @return the sum over all accounts
    function totalUnbonding() external view returns (uint256);

    /// @notice The market allowed to lock, unlock and slash (zero until `setProtocol`).
    /// @return the JobMarket's address
    function jobMarket() external view returns (address);

    /// @notice The Verification contract allowed to slash and penalize (zero until `setProtocol`).
    /// @return the Verification contract's address
    function verification() external view returns (address);

    // ---------------------------------------------------------------- the verifier set

    /// @notice How many accounts are in the verifier set now (weight above zero).
    /// @return the member count
    function verifierCount() external view returns (uint256);

    /// @notice How many slots the verifier set has used; `verifierAt(slot)` for each (zero: a free slot).
    /// @return the slot count
    function verifierSlotCount() external view returns (uint256);

    /// @notice The account in verifier slot `slot` now (zero when the slot is free).
    /// @param slot a slot below `verifierSlotCount()`
    /// @return the slot's member, or zero
    function verifierAt(uint256 slot) external view returns (address);

    /// @notice Whether `account` is in the verifier set now (its weight is above zero).
    /// @param account the staker
    /// @return true for a member
    function isVerifier(address account) external view returns (bool);

    /// @notice An account's weight in draws with snapshot `blockNumber` (its weight after that block's
    /// transactions), zero when it was not in the set then.
    /// @param account the staker
    /// @param blockNumber the snapshot block
    /// @return the weight
    function verifierWeightAt(address account, uint256 blockNumber) external view returns (uint256);

    /// @notice The whole verifier set's weight in draws with snapshot `blockNumber`.
    /// @param blockNumber the snapshot block
    /// @return the sum of the members' weights
    function totalVerifierWeightAt(uint256 blockNumber) external view returns (uint256);

    /// @notice Draws a verifier with probability proportional to its weight among the members of the set as it
    /// was at the end of block `snapshotBlock` (at most the current block) that are not `excluded`: the excluded
    /// members' ranges are cut out of the cumulative weights, `seed % remainingWeight` picks a point of what is
    /// left, and its member wins. O(log MAX_VERIFIERS) reads, plus as many per excluded member. Returns
    /// address(0) when no member is left.
    /// @param seed the draw's randomness
    /// @param snapshotBlock the block whose verifier set is drawn from
    /// @param excluded members that may not be drawn (at most MAX_EXCLUDED)
    /// @return the drawn member, or zero
    function drawVerifier(uint256 seed, uint256 snapshotBlock, address[] calldata excluded)
        external
        view
        returns (address);

    /// @notice Re-reads an account's verifier weight from its stake, roles and the current minimum. Anyone
    /// may call it: after a slash or penalty (which leave the weight as it was, so that settling a job never
    /// pays for a re-weighting) and after governance raises `minVerifierStake`, keepers bring members to
    /// their stake one by one (no loop over the set). Draws whose snapshot is already past are unchanged.
    function syncVerifier(address account) external;
}
