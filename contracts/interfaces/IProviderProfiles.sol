// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IProviderProfiles
/// @notice What each provider says it offers: the region it runs in, its execution providers (CPU, GPU),
/// the models it serves and how many jobs it runs at once, with an optional fuller record (JSON) pinned by
/// its hash. Markets read it to match a job's requirements to providers (`meets`); dApps and the CLI read
/// it to pick one.
/// @dev A profile is self-declared: the chain cannot prove that a provider has a GPU, runs in the region
/// it names, or can serve the models it lists. Nothing here is collateral or a promise the protocol
/// enforces. Markets use a profile only to match; what keeps it honest is the rest of the protocol: a
/// provider that claims work it cannot do misses deadlines and loses reputation, one that returns wrong
/// results is audited and slashed. Anyone may set, replace or clear its own profile, at any time, with no
/// owner and no fee; a matching decision made on an earlier profile is not revisited.
interface IProviderProfiles {
    /// @notice A provider's declaration. Everything but `updatedAt` is what the provider set.
    /// @param region where it runs: visible ASCII (0x21 to 0x7e, no spaces) from the first byte, zero-padded on
    /// the right, e.g. "eu-west"; zero: not declared. Matching compares bytes: "EU-West" is not "eu-west"
    /// @param executionProviders bitmask of EP_CPU (1) and EP_GPU (2)
    /// @param capacity how many jobs it runs at once; at least 1 when it lists models
    /// @param updatedAt block timestamp of the last `setProfile`; zero: no profile
    /// @param models the model ids it serves, strictly ascending (at most MAX_MODELS = 64; ids from 1)
    /// @param recordURI optional fuller record (JSON) ...
    /// @param recordHash ... content-addressed: keccak256 of its bytes (zero with an empty URI)
    struct Profile {
        bytes8 region; // ASCII, zero-padded, e.g. "eu-west"; zero: not declared
        uint8 executionProviders; // bitmask: EP_CPU = 1, EP_GPU = 2
        uint32 capacity; // jobs it runs at once
        uint64 updatedAt; // block timestamp of the last set
        uint32[] models; // model ids it serves (at most MAX_MODELS = 64)
        string recordURI; // optional fuller record (JSON) ...
        bytes32 recordHash; // ... content-addressed: keccak256 of its bytes (zero with an empty URI)
    }

    /// @notice A provider set (or replaced) its profile.
    event ProfileSet(
        address indexed provider,
        bytes8 region,
        uint8 executionProviders,
        uint32 capacity,
        uint32[] models,
        string recordURI,
        bytes32 recordHash
    );

    /// @notice A provider removed its profile.
    event ProfileCleared(address indexed provider);

    /// @notice Sets the caller's profile, replacing the one it had (no field is kept from it).
    /// @dev Reverts with InvalidRegion for a region that is not visible ASCII followed by zero padding,
    /// UnknownExecutionProviders for bits other than EP_CPU and EP_GPU, TooManyProfileModels above
    /// MAX_MODELS, UnsortedProfileModels for a zero, repeated or out-of-order model id,
    /// ModelsWithoutCapacity or ModelsWithoutExecutionProvider when it lists models it could not run,
    /// RecordUriWithoutHash or RecordHashWithoutUri when only half of the record is given. Model ids
    /// are not checked against the ModelRegistry: a listed model may be unknown or inactive.
    /// @param region where it runs (zero: not declared)
    /// @param executionProviders bitmask of EP_CPU (1) and EP_GPU (2)
    /// @param capacity jobs it runs at once
    /// @param models model ids it serves, strictly ascending
    /// @param recordURI where its fuller record is (empty: none)
    /// @param recordHash keccak256 of the record's bytes (zero exactly when the URI is empty)
    function setProfile(
        bytes8 region,
        uint8 executionProviders,
        uint32 capacity,
        uint32[] calldata models,
        string calldata recordURI,
        bytes32 recordHash
    ) external;

    /// @notice Removes the caller's profile: from now on it meets only the query that asks for nothing.
    /// @dev Reverts with ProfileNotFound when the caller has none.
    function clearProfile() external;

    /// @notice A provider's profile.
    /// @param provider the provider
    /// @return the profile (`updatedAt` zero and every field empty: none set)
    function profileOf(address provider) external view returns (Profile memory);

    /// @notice Whether `provider` declared `region` (zero: any region) and at least one of the execution
    /// providers in `executionProviders` (zero: any). A provider with no profile meets only (0, 0).
    /// @dev A profile with no declared region meets only a zero `region`. Bits of `executionProviders`
    /// beyond EP_CPU and EP_GPU match nothing (no profile holds them).
    /// @param provider the provider
    /// @param region the region asked for (zero: any)
    /// @param executionProviders the execution providers acceptable, as a bitmask (zero: any)
    /// @return whether the provider's profile satisfies both
    function meets(address provider, bytes8 region, uint8 executionProviders) external view returns (bool);
}
