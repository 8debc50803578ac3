// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ProtocolVersionStub
/// @notice TEST ONLY: stands in for the JobMarket of a deployment of another protocol version (it reports
/// `version` as `PROTOCOL_VERSION`), so tests can check that the daemons refuse to start against it.
contract ProtocolVersionStub {
    uint256 public immutable PROTOCOL_VERSION;

    constructor(uint256 version) {
        PROTOCOL_VERSION = version;
    }
}
