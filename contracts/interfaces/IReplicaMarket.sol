// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IPullPayments} from "./IPullPayments.sol";

/// @title IReplicaMarket
/// @notice Redundant jobs: one input run by `replicas` (2..5) distinct providers, each committing its output root
/// blind before any reveals, for dApps whose jobs matter more than one provider's word. See docs/PROTOCOL.md,
/// "Redundant jobs".
/// @dev Lifecycle. Every deadline is inclusive, as in the JobMarket.
///
///   Open --commit (one seat each, until all seats or claimBy)--> Revealing --reveals--> settle
///     |                                                                      +-- >= 2 revealed, all equal -> Agreed (paid)
///     v                                                                      +-- otherwise -> Disputed
///   Expired (nobody committed by claimBy: full refund)
///
/// - The poster pays, per seat, the fee and a committee reserve (`quote`: what a committee of the seat costs the
///   audit pool, `committeeSize x voterRewardBps` of the fee). A seat that goes to a committee funds the audit pool
///   with its reserve; every other seat's reserve comes back at settle. So redundant jobs pay for the committees
///   they cause, and nobody drains the auditors' pool with disputes of their own jobs.
/// - Seats are taken by `commit` (the provider ran the job first): its commitment is
///   `Commitments.hash(chainId, replicaMarket, jobId, provider, outputRoot, salt)` and the model's collateral (as
///   at post) is locked from its free stake. A provider holds at most one seat of a job.
/// - Reveals open once every seat is committed (`revealBy` = that time + `revealTimeout`), or after `claimBy`
///   with the seats committed by then (`revealBy` = claimBy + `revealTimeout`; the fees of empty seats go back
///   to the poster at `settle`). Nobody reveals while a seat can still be taken: no output is public before
///   every result is fixed.
/// - `settle` (anyone), once every committed seat revealed or after `revealBy`:
///   1. A seat committed and never revealed is slashed its whole collateral (`expiryPenaltyBps` of it to the
///      poster, the rest to the JobMarket's audit pool) and its fee refunded: withholding a result once the
///      others are public costs what a wrong result costs.
///   2. At least two revealed roots, all equal: the job is Agreed; each revealed seat is paid the fee less the
///      protocol fee and the audit levy (which goes to the JobMarket's audit pool), its collateral unlocked;
///      unless the seed of the block `seedDelay` after the last seat's commit samples it (the JobMarket's
///      `samplingPpm`, seed source and out-of-reach rule): then it goes to committees as in 3, so that one owner
///      of every seat cannot agree with itself on a made-up result for free. The seat set is sealed at the last
///      commit, or at the first reveal after claimBy (`sealedBlock`): no seat can be added after it to re-roll.
///   3. Anything else (roots that differ, or a lone revealed root): every revealed seat becomes an ordinary
///      JobMarket job, Revealed with its root, and a committee dispute is opened on it at once
///      (`IVerification.DisputeReason.Replicas`, no bond, no auditor draw): the committee re-runs the job and
///      judges each seat against the model's tolerance. A faulted seat is slashed and its fee refunded to the
///      poster; an upheld seat is paid as on finalize. Roots that differ only within tolerance (different
///      hardware) are all upheld; the committee's pay comes from the audit pool, as for any protocol dispute.
/// - Constraints bound into the job when posted: an allowlist of providers (checked at commit), a region and
///   execution providers (checked against the provider's self-declared `IProviderProfiles` profile at commit),
///   and a minimum reputation (in parts per million of the off-chain rule, docs/PROTOCOL.md "Reputation"):
///   the chain cannot compute that one, so it is carried in the job for workers to honour, not enforced.
/// Trust: the owner withdraws protocol fees. An agreement is checked only at the sampling rate: a dApp whose k
/// seats could all be one owner's accounts can narrow who takes them (allowlist, minimum reputation).
interface IReplicaMarket is IPullPayments {
    enum ReplicaStatus {
        None,
        Open,
        Agreed,
        Disputed,
        Expired
    }

    /// @notice Who may take a seat.
    /// @param allowlist the only providers that may (empty: any staked provider); at most `MAX_ALLOWLIST`
    /// @param region the region a provider's profile must declare (zero: any)
    /// @param executionProviders a provider's profile must declare one of these (bitmask, 1 CPU, 2 GPU; zero: any)
    /// @param minReputationPpm the least reputation a provider should have (carried, not enforced on-chain)
    struct Constraints {
        address[] allowlist;
        bytes8 region;
        uint8 executionProviders;
        uint32 minReputationPpm;
    }

    /// @notice What a dApp posts.
    /// @param modelId a registered, active model
    /// @param feePerReplica each seat's fee, at least the model's price floor; `replicas` times it is pulled
    /// @param claimBy the last second a seat may be committed
    /// @param replicas how many providers run it, 2..MAX_REPLICAS
    /// @param inputHash SHA-256 of the input tensor blob (its blob id) (non-zero)
    /// @param inputURI where the input blob can be fetched
    struct ReplicaRequest {
        uint256 modelId;
        uint256 feePerReplica;
        uint64 claimBy;
        uint8 replicas;
        bytes32 inputHash;
        string inputURI;
        Constraints constraints;
    }

    /// @notice A redundant job's state (storage layout, three slots).
    struct ReplicaJob {
        address poster;
        uint32 modelId;
        uint32 terms;
        uint8 replicas;
        uint8 committed;
        uint8 revealed;
        ReplicaStatus status;
        uint96 feePerReplica;
        uint96 collateral;
        uint64 claimBy;
        /// the end of the reveal phase; zero until every seat is committed (then claimBy + revealTimeout applies)
        uint64 revealBy;
        bytes8 region;
        uint8 executionProviders;
        bool allowlisted;
        /// the block the seat set was sealed in (the last seat's commit, or the first reveal after claimBy): the
        /// sampling seed is that of the block `seedDelay` after it; zero until then
        uint48 sealedBlock;
    }

    /// @notice One seat of a redundant job.
    /// @param jobId zero unless the seat went to a committee dispute: its JobMarket job
    struct Seat {
        address provider;
        uint64 commitBlock;
        bool revealed;
        bytes32 commitment;
        bytes32 outputRoot;
        uint256 jobId;
    }

    event ReplicaJobPosted(
        uint256 indexed replicaJobId,
        uint256 indexed modelId,
        address indexed poster,
        uint256 replicas,
        uint256 feePerReplica,
        uint256 collateral,
        uint256 claimBy,
        uint32 terms,
        bytes32 inputHash,
        string inputURI,
        Constraints constraints
    );
    event ReplicaCommitted(uint256 indexed replicaJobId, address indexed provider, uint256 seat, bytes32 commitment);
    /// @dev `revealBy`: emitted when the last seat is committed (reveals open).
    event RevealsOpened(uint256 indexed replicaJobId, uint256 revealBy);
    event ReplicaRevealed(
        uint256 indexed replicaJobId, address indexed provider, uint256 seat, bytes32 outputRoot, string outputURI
    );
    /// @dev A seat committed and never revealed: `slashed` of its collateral went to the poster.
    event ReplicaWithheld(uint256 indexed replicaJobId, address indexed provider, uint256 seat, uint256 slashed);
    event ReplicaPaid(uint256 indexed replicaJobId, address indexed provider, uint256 seat, uint256 payout);
    /// @dev The seat went to a committee as JobMarket job `jobId` (Revealed, disputed at once).
    event ReplicaDisputed(uint256 indexed replicaJobId, address indexed provider, uint256 seat, uint256 indexed jobId);
    /// @dev `outputRoot` the root every revealed seat agreed on (zero if they did not); `sampled` the agreement was
    /// sampled for a committee check (then Disputed); `refund` what the poster got back at once (the fees of empty
    /// and withheld seats, the reserves of seats not sent to a committee; everything when Expired), beside a withheld
    /// seat's slashed collateral (`ReplicaWithheld`).
    event ReplicaJobSettled(
        uint256 indexed replicaJobId, ReplicaStatus status, bytes32 outputRoot, bool sampled, uint256 refund
    );
    event ProtocolFeesWithdrawn(address indexed to, uint256 amount);

    /// @notice Posts a redundant job, pulling `replicas x (feePerReplica + reserve)` into escrow (see `quote`).
    /// @return replicaJobId its id (sequential from 1)
    function post(ReplicaRequest calldata request) external returns (uint256 replicaJobId);

    /// @notice A staked provider (allowed by the constraints, holding no seat of this job yet) takes the next
    /// seat with its commitment, while seats are free and until `claimBy`; locks the collateral.
    function commit(uint256 replicaJobId, bytes32 commitment) external;

    /// @notice A seat's provider reveals its output root (and where the output is served) once reveals are
    /// open and until `revealBy`.
    function reveal(uint256 replicaJobId, bytes32 outputRoot, bytes32 salt, string calldata outputURI) external;

    /// @notice Anyone: settles a job whose reveals are over (every committed seat revealed, or `revealBy`
    /// passed), or expires one nobody committed to by `claimBy`. See the contract's description.
    function settle(uint256 replicaJobId) external;

    /// @notice Owner: withdraws the accrued protocol fees.
    function withdrawProtocolFees(address to) external returns (uint256 amount);

    /// @notice A redundant job's state.
    function replicaJob(uint256 replicaJobId) external view returns (ReplicaJob memory);

    /// @notice A seat (index < the job's `committed`).
    function seat(uint256 replicaJobId, uint256 index) external view returns (Seat memory);

    /// @notice When the reveal phase ends: zero while seats can still be taken.
    function revealDeadline(uint256 replicaJobId) external view returns (uint256);

    /// @notice Whether `provider` may take a seat of the job under its constraints (allowlist and profile; not
    /// stake, which `commit` checks by locking).
    function allowed(uint256 replicaJobId, address provider) external view returns (bool);

    /// @notice What posting costs now: `total` = replicas x (feePerReplica + `reservePerSeat`), the reserve being
    /// what a seat's committee may cost the audit pool (`committeeSize x voterRewardBps` of the fee). A seat's
    /// reserve comes back to the poster at settle unless that seat goes to a committee.
    function quote(uint256 feePerReplica, uint256 replicas) external view returns (uint256 total, uint256 reservePerSeat);

    /// @notice Number of redundant jobs posted.
    function replicaJobCount() external view returns (uint256);

    /// @notice Protocol fees accrued and not withdrawn.
    function protocolFees() external view returns (uint256);
}
