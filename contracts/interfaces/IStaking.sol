// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IStaking
/// @notice Stake, unbonding, per-job collateral locks and slashing for dinfer providers and verifiers.
/// @dev One account can hold both roles. `stake` includes `locked`: locked collateral is the part of
/// the active stake that backs open jobs and cannot be unbonded until the job ends. Unbonding stake
/// stays slashable until it is withdrawn, and the unbonding period is at least the longest time a job
/// can stay open (enforced with the JobMarket's parameters), so no stake escapes a pending slash.
interface IStaking {
    /// @notice Role bits of an account.
    /// @dev PROVIDER (1): may claim jobs. VERIFIER (2): joins the verifier set for audits and committees.
    function ROLE_PROVIDER() external view returns (uint8);
    function ROLE_VERIFIER() external view returns (uint8);

    /// @notice Governance parameters of staking.
    /// @param unbondingPeriod seconds between an unbonding request and its withdrawal
    /// @param minVerifierStake active stake an account needs to be in the verifier set
    struct StakingParams {
        uint64 unbondingPeriod;
        uint128 minVerifierStake;
    }

    /// @notice An account's balances as seen from outside.
    struct AccountView {
        uint256 stake;
        uint256 locked;
        uint256 unbonding;
        uint256 unbondingEnd;
        uint8 roles;
        bool inVerifierSet;
    }

    event Staked(address indexed account, uint256 amount, uint8 roles);
    event RolesChanged(address indexed account, uint8 roles);
    event UnbondingRequested(address indexed account, uint256 amount, uint256 total, uint256 unbondingEnd);
    event Withdrawn(address indexed account, uint256 amount);
    event Slashed(address indexed account, uint256 requested, uint256 slashed, address indexed recipient);
    event VerifierAdded(address indexed account);
    event VerifierRemoved(address indexed account);
    event ProtocolSet(address jobMarket, address verification);
    event ParamsSet(StakingParams params);

    error ZeroAmount();
    error InvalidRoles(uint8 roles);
    error AmountTooLarge(uint256 amount);
    error TokenTransferMismatch(uint256 expected, uint256 received);
    error InsufficientUnlockedStake(address account, uint256 available, uint256 requested);
    error NothingUnbonding(address account);
    error UnbondingNotFinished(address account, uint256 unbondingEnd, uint256 nowTime);
    error NotProvider(address account);
    error NotProtocol(address caller);
    error ProtocolAlreadySet();
    error ZeroAddress();
    error UnbondingPeriodTooShort(uint256 unbondingPeriod, uint256 required);
    error InvalidParams(string reason);

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

    /// @notice Locks `amount` of a provider's unlocked stake as collateral for a job. JobMarket only.
    function lock(address provider, uint256 amount) external;

    /// @notice Releases `amount` of a provider's locked collateral (capped at what is locked). JobMarket only.
    function unlock(address provider, uint256 amount) external;

    /// @notice Releases `unlockAmount` of locked collateral, then slashes up to `amount` from the
    /// account: from that collateral first, then the rest of the active stake, then unbonding stake.
    /// Capped at what exists; never reverts for lack of stake. Callable only by the protocol contracts.
    /// @return slashed the amount actually taken and sent to `recipient`
    function slash(address account, uint256 unlockAmount, uint256 amount, address recipient)
        external
        returns (uint256 slashed);

    /// @notice Sets the protocol contracts allowed to lock and slash. Owner, once.
    function setProtocol(address jobMarket, address verification) external;

    /// @notice Sets the staking parameters (owner). The unbonding period must cover the market's
    /// longest job lifetime.
    function setParams(StakingParams calldata params) external;

    function params() external view returns (StakingParams memory);
    function account(address account) external view returns (AccountView memory);
    function availableStake(address account) external view returns (uint256);
    function totalStaked() external view returns (uint256);
    function totalUnbonding() external view returns (uint256);
    function verifierCount() external view returns (uint256);
    function verifierAt(uint256 index) external view returns (address);
    function isVerifier(address account) external view returns (bool);
    function jobMarket() external view returns (address);
    function verification() external view returns (address);

    /// @notice Draws a verifier from the set at position `seed % count`, stepping past excluded accounts
    /// and members whose stake is under the current minimum. At most
    /// `excluded.length + 1 + MAX_STALE_PROBES` probes, so O(1) in the size of the set. Returns
    /// address(0) when no eligible verifier was found within those probes.
    function drawVerifier(uint256 seed, address[] calldata excluded) external view returns (address);

    /// @notice Re-checks an account's place in the verifier set against the current minimum stake.
    /// Anyone may call it: after governance raises `minVerifierStake`, keepers evict the members now
    /// under it one by one (no loop over the set).
    function syncVerifier(address account) external;

    error TooManyExcluded(uint256 count, uint256 max);
}
