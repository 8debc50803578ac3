// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BatchMarket} from "../../contracts/BatchMarket.sol";
import {DinferTestToken} from "../../contracts/DinferTestToken.sol";
import {JobMarket} from "../../contracts/JobMarket.sol";
import {Staking} from "../../contracts/Staking.sol";
import {IBatchMarket} from "../../contracts/interfaces/IBatchMarket.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../contracts/interfaces/IProtocolTerms.sol";
import {Commitments} from "../../contracts/libraries/Commitments.sol";

import {ProtocolFixture} from "../utils/ProtocolFixture.sol";
import {TestBase} from "../utils/Vm.sol";

/// @notice Random sequences of batch actions (post 1..256 jobs, claim and commit, reveal, split a revealed job
/// out, finalize, expire, settle split jobs in the JobMarket, deposit, withdraw, sweep) against the books the
/// handler keeps (docs/PROTOCOL.md, "Batches"), sampling off:
///   - solvency, exactly: the BatchMarket holds its deposits + credits + its open batches' unsplit fees +
///     protocol fees + the audit levy owed;
///   - conservation: every token minted is held by an actor, the BatchMarket, the JobMarket or Staking;
///   - pay once, slash once: no batch is finalized or expired twice (the handler tries), and the provider's
///     locked collateral is exactly that of its open jobs, batched or split out.
contract BatchMarketInvariantTest is ProtocolFixture {
    BatchHandler internal handler;

    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    function setUp() public {
        vm.warp(1_800_000_000);
        vm.roll(1_000);
        _deployProtocol();
        IProtocolTerms.MarketParams memory p = _localMarketParams();
        p.samplingPpm = 0;
        _setMarketParams(p);
        uint256 modelId = _registerModel(10 ether, 1 ether, "batch model");
        handler = new BatchHandler(token, market, staking, batchMarket, modelId);
        handler.bootstrap();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory s = new bytes4[](9);
        s[0] = handler.post.selector;
        s[1] = handler.claimAndCommit.selector;
        s[2] = handler.reveal.selector;
        s[3] = handler.splitRevealed.selector;
        s[4] = handler.finalize.selector;
        s[5] = handler.expire.selector;
        s[6] = handler.withdrawAll.selector;
        s[7] = handler.withdrawDeposit.selector;
        s[8] = handler.sweep.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), s);
    }

    function invariant_solvency() public view {
        vm.assertEq(token.balanceOf(address(batchMarket)), handler.owedByBatchMarket(), "the BatchMarket holds what it owes");
    }

    function invariant_conservation() public view {
        vm.assertEq(handler.held(), handler.minted(), "every token is somewhere");
    }

    function invariant_payOnceSlashOnce() public view {
        vm.assertEq(handler.settledTwice(), 0, "a batch settled twice");
        vm.assertEq(staking.account(handler.PROVIDER()).locked, handler.lockedModel(), "locked collateral");
    }
}

/// @dev Drives the BatchMarket as a poster, a provider and a keeper, keeping its own books.
contract BatchHandler is TestBase {
    address public constant POSTER = address(0xDA99);
    address public constant PROVIDER = address(0x9A0F);
    address public constant KEEPER = address(0x4EE9);
    uint256 private constant COLLATERAL = 10 ether;

    DinferTestToken private immutable _token;
    JobMarket private immutable _market;
    Staking private immutable _staking;
    BatchMarket private immutable _batches;
    uint256 private immutable _modelId;

    uint256 public minted;
    uint256 public escrow; // unsplit fees of open batches
    uint256 public lockedModel;
    uint256 public settledTwice;

    uint256[] private _ids;
    mapping(uint256 batchId => IBatchMarket.Batch) private _state;
    /// @dev Split jobs revealed in the JobMarket and not yet finalized there.
    uint256[] private _splitJobs;
    mapping(uint256 jobId => IJobMarket.Job) private _jobs;

    constructor(DinferTestToken token_, JobMarket market_, Staking staking_, BatchMarket batches_, uint256 modelId_) {
        _token = token_;
        _market = market_;
        _staking = staking_;
        _batches = batches_;
        _modelId = modelId_;
    }

    function bootstrap() external {
        _mintTo(PROVIDER, 10_000 ether);
        vm.startPrank(PROVIDER);
        _token.approve(address(_staking), 10_000 ether);
        _staking.stake(10_000 ether, 1);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ actions

    function post(uint256 count, uint256 fee) external {
        count = _bound(count, 1, 256);
        fee = _bound(fee, 1 ether, 20 ether);
        uint256 total = count * fee;
        uint256 available = _batches.deposits(POSTER);
        if (available < total) {
            _mintTo(POSTER, total - available);
            vm.startPrank(POSTER);
            _token.approve(address(_batches), total - available);
            _batches.deposit(total - available);
            vm.stopPrank();
        }
        IBatchMarket.BatchRequest memory req;
        req.modelId = _modelId;
        req.feePerJob = fee;
        req.claimBy = uint64(block.timestamp + 600);
        req.inputHashes = new bytes32[](count);
        req.inputURIs = new string[](count);
        for (uint256 i; i < count; ++i) {
            req.inputHashes[i] = keccak256(abi.encode(i));
            req.inputURIs[i] = "ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
        }
        uint256 firstJobId = _market.jobCount() + 1;
        vm.prank(POSTER);
        uint256 batchId = _batches.postBatch(req);
        _ids.push(batchId);
        _state[batchId] = IBatchMarket.Batch({
            poster: POSTER,
            modelId: uint32(_modelId),
            terms: _market.termsVersion(),
            feePerJob: uint96(fee),
            collateralPerJob: uint96(COLLATERAL),
            count: uint16(count),
            firstJobId: uint64(firstJobId),
            status: IBatchMarket.BatchStatus.Posted,
            deadline: uint32(req.claimBy),
            provider: address(0),
            commitBlock: 0,
            result: bytes32(0)
        });
        escrow += total;
    }

    function claimAndCommit(uint256 seed) external {
        (uint256 batchId, IBatchMarket.Batch memory b) = _pick(seed, IBatchMarket.BatchStatus.Posted);
        if (batchId == 0 || block.timestamp > b.deadline) return;
        if (_staking.availableStake(PROVIDER) < uint256(b.count) * COLLATERAL) return;
        bytes32[] memory leaves = new bytes32[](b.count);
        for (uint256 i; i < b.count; ++i) {
            uint256 jobId = b.firstJobId + i;
            leaves[i] = _leaf(jobId, Commitments.hash(block.chainid, address(_market), jobId, PROVIDER, _root(jobId), _salt(batchId, jobId)));
        }
        bytes32 commitmentRoot = _treeRoot(leaves);
        vm.prank(PROVIDER);
        _batches.claimAndCommitBatch(batchId, b, commitmentRoot);
        b.status = IBatchMarket.BatchStatus.Committed;
        b.provider = PROVIDER;
        b.deadline = uint32(block.timestamp + _batches.marketTermsOf(b.terms).revealTimeout);
        b.commitBlock = uint64(block.number);
        b.result = commitmentRoot;
        _state[batchId] = b;
        lockedModel += uint256(b.count) * COLLATERAL;
    }

    function reveal(uint256 seed) external {
        (uint256 batchId, IBatchMarket.Batch memory b) = _pick(seed, IBatchMarket.BatchStatus.Committed);
        if (batchId == 0 || block.timestamp > b.deadline) return;
        uint256 seedBlock = uint256(b.commitBlock) + _batches.marketTermsOf(b.terms).seedDelay;
        if (block.number > seedBlock + 256) return;
        if (block.number <= seedBlock) vm.roll(seedBlock + 1);
        bytes32[] memory roots = new bytes32[](b.count);
        bytes32[] memory leaves = new bytes32[](b.count);
        for (uint256 i; i < b.count; ++i) {
            roots[i] = _root(b.firstJobId + i);
            leaves[i] = _leaf(b.firstJobId + i, roots[i]);
        }
        vm.prank(PROVIDER);
        _batches.revealBatch(batchId, b, roots, _batchSalt(batchId), "ipfs://outputs");
        b.status = IBatchMarket.BatchStatus.Revealed;
        b.deadline = uint32(block.timestamp + _batches.marketTermsOf(b.terms).challengeWindow);
        b.result = _treeRoot(leaves);
        _state[batchId] = b;
    }

    function splitRevealed(uint256 seed, uint256 index) external {
        (uint256 batchId, IBatchMarket.Batch memory b) = _pick(seed, IBatchMarket.BatchStatus.Revealed);
        if (batchId == 0 || block.timestamp > b.deadline) return;
        index = index % b.count;
        if (_batches.splitBitmap(batchId) & (1 << index) != 0) return;
        bytes32[] memory leaves = new bytes32[](b.count);
        for (uint256 i; i < b.count; ++i) {
            leaves[i] = _leaf(b.firstJobId + i, _root(b.firstJobId + i));
        }
        uint256 jobId = b.firstJobId + index;
        vm.prank(KEEPER);
        _batches.splitRevealed(batchId, b, index, _root(jobId), _proof(leaves, index));
        escrow -= b.feePerJob;
        _jobs[jobId] = IJobMarket.Job({
            poster: b.poster,
            modelId: b.modelId,
            terms: b.terms,
            fee: b.feePerJob,
            collateral: b.collateralPerJob,
            callbackGasLimit: 0,
            status: IJobMarket.JobStatus.Revealed,
            deadline: b.deadline,
            provider: b.provider,
            commitBlock: b.commitBlock,
            result: _root(jobId),
            inlineOutput: false,
            sampled: false
        });
        _splitJobs.push(jobId);
    }

    function finalize(uint256 seed) external {
        (uint256 batchId, IBatchMarket.Batch memory b) = _pick(seed, IBatchMarket.BatchStatus.Revealed);
        if (batchId == 0) return;
        if (block.timestamp <= b.deadline) vm.warp(uint256(b.deadline) + 1);
        uint256 jobs = b.count - _popcount(_batches.splitBitmap(batchId));
        vm.prank(KEEPER);
        _batches.finalizeBatch(batchId, b);
        escrow -= jobs * b.feePerJob;
        lockedModel -= jobs * COLLATERAL;
        _state[batchId].status = IBatchMarket.BatchStatus.Finalized;
        _settleAgain(batchId);
        // Split jobs whose window is over finalize in the JobMarket, once each.
        for (uint256 k = _splitJobs.length; k > 0; --k) {
            uint256 jobId = _splitJobs[k - 1];
            if (block.timestamp <= _jobs[jobId].deadline) continue;
            _market.finalize(jobId, _jobs[jobId]);
            lockedModel -= COLLATERAL;
            _splitJobs[k - 1] = _splitJobs[_splitJobs.length - 1];
            _splitJobs.pop();
        }
    }

    function expire(uint256 seed, uint256 which) external {
        IBatchMarket.BatchStatus from = IBatchMarket.BatchStatus(1 + which % 3);
        (uint256 batchId, IBatchMarket.Batch memory b) = _pick(seed, from);
        if (batchId == 0) return;
        if (block.timestamp <= b.deadline) vm.warp(uint256(b.deadline) + 1);
        vm.prank(KEEPER);
        _batches.expireBatch(batchId, b);
        escrow -= uint256(b.count) * b.feePerJob;
        if (from != IBatchMarket.BatchStatus.Posted) lockedModel -= uint256(b.count) * COLLATERAL;
        _state[batchId].status = IBatchMarket.BatchStatus.Expired;
        _settleAgain(batchId);
    }

    function withdrawAll() external {
        address[3] memory who = [POSTER, PROVIDER, KEEPER];
        for (uint256 i; i < 3; ++i) {
            if (_batches.credits(who[i]) != 0) {
                vm.prank(who[i]);
                _batches.withdraw();
            }
            if (_market.credits(who[i]) != 0) {
                vm.prank(who[i]);
                _market.withdraw();
            }
        }
    }

    function withdrawDeposit(uint256 amount) external {
        uint256 available = _batches.deposits(POSTER);
        if (available == 0) return;
        amount = _bound(amount, 1, available);
        vm.prank(POSTER);
        _batches.withdrawDeposit(amount);
    }

    function sweep() external {
        if (_batches.auditLevyOwed() == 0) return;
        _batches.sweepAuditLevy();
    }

    // ------------------------------------------------------------------ books

    function owedByBatchMarket() external view returns (uint256) {
        return _batches.deposits(POSTER) + _batches.credits(POSTER) + _batches.credits(PROVIDER)
            + _batches.credits(KEEPER) + escrow + _batches.protocolFees() + _batches.auditLevyOwed();
    }

    function held() external view returns (uint256) {
        return _token.balanceOf(address(_batches)) + _token.balanceOf(address(_market)) + _token.balanceOf(address(_staking))
            + _token.balanceOf(POSTER) + _token.balanceOf(PROVIDER) + _token.balanceOf(KEEPER) + _token.balanceOf(address(this));
    }

    // ------------------------------------------------------------------ helpers

    /// @dev A second finalize or expire of a settled batch must revert; a success is counted.
    function _settleAgain(uint256 batchId) private {
        IBatchMarket.Batch memory b = _state[batchId];
        try _batches.finalizeBatch(batchId, b) {
            ++settledTwice;
        } catch {}
        try _batches.expireBatch(batchId, b) {
            ++settledTwice;
        } catch {}
    }

    function _pick(uint256 seed, IBatchMarket.BatchStatus status)
        private
        view
        returns (uint256 batchId, IBatchMarket.Batch memory b)
    {
        uint256 n = _ids.length;
        for (uint256 k; k < n; ++k) {
            uint256 id = _ids[(seed + k) % n];
            if (_state[id].status == status) return (id, _state[id]);
        }
    }

    function _mintTo(address to, uint256 amount) private {
        uint256 limit = _token.FAUCET_LIMIT();
        for (uint256 left = amount; left != 0;) {
            uint256 chunk = left < limit ? left : limit;
            _token.mint(to, chunk);
            left -= chunk;
        }
        minted += amount;
    }

    function _root(uint256 jobId) private pure returns (bytes32) {
        return keccak256(abi.encode("output", jobId));
    }

    function _batchSalt(uint256 batchId) private pure returns (bytes32) {
        return keccak256(abi.encode("batch salt", batchId));
    }

    function _salt(uint256 batchId, uint256 jobId) private pure returns (bytes32) {
        return keccak256(abi.encode(_batchSalt(batchId), jobId));
    }

    function _leaf(uint256 jobId, bytes32 value) private pure returns (bytes32) {
        return keccak256(abi.encode(jobId, value));
    }

    function _pair(bytes32 a, bytes32 b) private pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    function _treeRoot(bytes32[] memory leaves) private pure returns (bytes32) {
        bytes32[] memory level = leaves;
        while (level.length > 1) level = _up(level);
        return level[0];
    }

    function _up(bytes32[] memory level) private pure returns (bytes32[] memory next) {
        next = new bytes32[]((level.length + 1) / 2);
        for (uint256 i; i + 1 < level.length; i += 2) {
            next[i / 2] = _pair(level[i], level[i + 1]);
        }
        if (level.length % 2 == 1) next[next.length - 1] = level[level.length - 1];
    }

    function _proof(bytes32[] memory leaves, uint256 index) private pure returns (bytes32[] memory proof) {
        bytes32[] memory buffer = new bytes32[](16);
        uint256 n;
        bytes32[] memory level = leaves;
        while (level.length > 1) {
            if ((index ^ 1) < level.length) buffer[n++] = level[index ^ 1];
            index >>= 1;
            level = _up(level);
        }
        proof = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            proof[i] = buffer[i];
        }
    }

    function _popcount(uint256 x) private pure returns (uint256 n) {
        for (; x != 0; x &= x - 1) ++n;
    }
}
