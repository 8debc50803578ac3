// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import * as Errors from "../../contracts/errors/Errors.sol";
import {IBatchMarket} from "../../contracts/interfaces/IBatchMarket.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IProtocolTerms} from "../../contracts/interfaces/IProtocolTerms.sol";
import {Commitments} from "../../contracts/libraries/Commitments.sol";
import {FeeMath} from "../../contracts/libraries/FeeMath.sol";

import {ProtocolFixture} from "../utils/ProtocolFixture.sol";

/// @notice BatchMarket under fuzzed batch sizes (1..256), fees, collateral, stake and paths (docs/PROTOCOL.md,
/// "Batches"). After every step:
///   - solvency: the BatchMarket's token balance is exactly the deposits + credits + the fees of its open
///     batches' unsplit jobs + protocol fees + the audit levy owed (never less);
///   - conservation: tokens only move between the accounts, the BatchMarket, the JobMarket and Staking;
///   - pay once / slash once: a finalized or expired batch cannot be finalized or expired again, and a split
///     job's fee is in the JobMarket's escrow, not the batch's.
/// Paths: finalized (some jobs split out to be challenged, then finalized in the JobMarket), expired when posted,
/// when claimed (expiry penalty per job), when committed with the seed out of reach (the whole collateral of
/// every unsplit job) or in reach (the whole collateral of each sampled job); and every sampled job split out
/// (the draw checked against JobMarket.samplingOf), revealed and finalized through the JobMarket while the
/// rest of the batch finalizes.
contract BatchMarketFuzzTest is ProtocolFixture {
    address private constant POSTER = address(0xDA99);
    address private constant PROVIDER = address(0x9A0F);
    address private constant KEEPER = address(0x4EE9);
    uint256 private constant BLOCKHASH_REACH = 256;

    struct Case {
        uint256 count;
        uint256 feePerJob;
        uint256 collateral;
        uint256 extraStake;
        uint256 path; // 0 finalized, 1 expired posted, 2 expired claimed, 3 withheld (seed out of reach),
        // 4 sampled jobs split out and revealed through the JobMarket, 5 withheld with the seed in reach
        uint256 splits; // jobs split out after the reveal (path 0)
        uint256 extraDeposit;
    }

    uint256 private _modelId;
    uint256 private _supply; // tokens minted in all: conservation
    uint256 private _escrow; // fees of unsplit jobs of open batches
    mapping(uint256 jobId => bool) private _sampledOut; // split out for its audit, settled in the JobMarket

    function setUp() public {
        _deployProtocol();
    }

    function testFuzz_batchLifecycleKeepsTheBooks(Case memory c) public {
        c.count = bound(c.count, 1, 256);
        c.feePerJob = bound(c.feePerJob, 1 ether, 1000 ether);
        c.collateral = bound(c.collateral, 1 ether, 500 ether);
        c.path = c.path % 6;
        c.splits = bound(c.splits, 0, c.count < 4 ? c.count : 4);
        c.extraDeposit = bound(c.extraDeposit, 0, 100 ether);
        c.extraStake = bound(c.extraStake, 0, 1000 ether);
        // Sampling off for the finalized path (no job is held for an audit); 20% for the sampled paths (the
        // audit levy raised to fund it); the local 5% otherwise.
        if (c.path == 0) {
            IProtocolTerms.MarketParams memory p = _localMarketParams();
            p.samplingPpm = 0;
            _setMarketParams(p);
        } else if (c.path >= 4) {
            IProtocolTerms.VerificationParams memory vp = _localVerificationParams();
            vp.recheckPpm = 0;
            _setVerificationParams(vp);
            IProtocolTerms.MarketParams memory p = _localMarketParams();
            p.samplingPpm = 200_000;
            p.auditLevyBps = 2500;
            _setMarketParams(p);
        }
        _modelId = _registerModel(uint96(c.collateral), 1 ether, "batch model");
        uint256 total = c.count * c.feePerJob;
        _stake(PROVIDER, c.count * c.collateral + c.extraStake, ROLE_PROVIDER);
        _supply += c.count * c.collateral + c.extraStake;
        _deposit(total + c.extraDeposit);

        (uint256 batchId, IBatchMarket.Batch memory b) = _post(c.count, c.feePerJob);
        _check("posted");
        if (c.path == 1) {
            vm.warp(uint256(b.deadline) + 1);
            _expire(batchId, b);
            vm.assertEq(batchMarket.credits(POSTER), total, "refund");
            return;
        }
        b = _claimAndCommit(batchId, b);
        vm.assertEq(staking.account(PROVIDER).locked, c.count * c.collateral, "locked");
        _check("committed");
        IProtocolTerms.MarketParams memory mp = batchMarket.marketTermsOf(b.terms);
        if (c.path == 2 || c.path == 3) {
            uint256 stakeBefore = staking.account(PROVIDER).stake;
            if (c.path == 3) vm.roll(uint256(b.commitBlock) + mp.seedDelay + BLOCKHASH_REACH + 1);
            else vm.warp(uint256(b.deadline) + 1);
            _expire(batchId, b);
            uint256 perJob = c.path == 3 ? c.collateral : FeeMath.share(c.collateral, mp.expiryPenaltyBps);
            vm.assertEq(stakeBefore - staking.account(PROVIDER).stake, c.count * perJob, "penalty");
            vm.assertEq(staking.account(PROVIDER).locked, 0, "unlocked");
            return;
        }
        vm.roll(block.number + mp.seedDelay + 1);
        if (c.path == 5) {
            // Withheld with the seed in reach: the whole collateral of each sampled job, the penalty for the rest.
            uint256 sampledJobs = _popcount(batchMarket.sampledBitmap(b));
            uint256 stakeBefore = staking.account(PROVIDER).stake;
            vm.warp(uint256(b.deadline) + 1);
            _expire(batchId, b);
            uint256 plain = FeeMath.share(c.collateral, mp.expiryPenaltyBps);
            vm.assertEq(
                stakeBefore - staking.account(PROVIDER).stake,
                sampledJobs * c.collateral + (c.count - sampledJobs) * plain,
                "withheld: sampled jobs cost their whole collateral"
            );
            vm.assertEq(staking.account(PROVIDER).locked, 0, "unlocked");
            return;
        }
        uint256 splitSampled;
        if (c.path == 4) splitSampled = _splitSampledJobs(batchId, b);
        b = _reveal(batchId, b);
        _check("revealed");
        uint256 splitRevealed;
        for (uint256 i; i < c.count && splitRevealed < c.splits; ++i) {
            if (batchMarket.splitBitmap(batchId) & (1 << i) != 0) continue;
            _splitRevealed(batchId, b, i);
            ++splitRevealed;
            _check("split");
        }
        vm.warp(uint256(b.deadline) + 1);
        uint256 jobs = c.count - splitRevealed - splitSampled;
        vm.prank(KEEPER);
        batchMarket.finalizeBatch(batchId, b);
        _escrow -= jobs * c.feePerJob;
        (uint256 payout,,) = FeeMath.splitFee(jobs * c.feePerJob, mp.protocolFeeBps, mp.auditLevyBps);
        vm.assertEq(batchMarket.credits(PROVIDER), payout, "paid once, for the unsplit jobs");
        _check("finalized");
        // Pay once.
        b.status = IBatchMarket.BatchStatus.Finalized;
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongBatchStatus.selector, batchId, IBatchMarket.BatchStatus.Finalized));
        batchMarket.finalizeBatch(batchId, b);
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongBatchStatus.selector, batchId, IBatchMarket.BatchStatus.Finalized));
        batchMarket.expireBatch(batchId, b);
        // The split jobs finalize in the JobMarket, each once; then every lock is released.
        uint256 bits = batchMarket.splitBitmap(batchId);
        for (uint256 i; i < c.count; ++i) {
            if (bits & (1 << i) == 0 || _sampledOut[b.firstJobId + i]) continue;
            IJobMarket.Job memory j = _splitJob(b, IJobMarket.JobStatus.Revealed, _root(b.firstJobId + i));
            market.finalize(b.firstJobId + i, j);
        }
        for (uint256 k; k < _pendingFinalize.length; ++k) {
            market.finalize(_pendingFinalize[k], _pendingJobs[_pendingFinalize[k]]);
        }
        vm.assertEq(staking.account(PROVIDER).locked, 0, "every lock released");
        if (batchMarket.auditLevyOwed() != 0) batchMarket.sweepAuditLevy();
        _check("swept");
        if (payout != 0) {
            vm.prank(PROVIDER);
            batchMarket.withdraw();
            _check("withdrawn");
        }
    }

    // ------------------------------------------------------------------ steps

    function _deposit(uint256 amount) private {
        _mint(POSTER, amount);
        _supply += amount;
        vm.startPrank(POSTER);
        token.approve(address(batchMarket), amount);
        batchMarket.deposit(amount);
        vm.stopPrank();
    }

    function _post(uint256 count, uint256 fee) private returns (uint256 batchId, IBatchMarket.Batch memory b) {
        IBatchMarket.BatchRequest memory req;
        req.modelId = _modelId;
        req.feePerJob = fee;
        req.claimBy = uint64(block.timestamp + 600);
        req.inputHashes = new bytes32[](count);
        req.inputURIs = new string[](count);
        for (uint256 i; i < count; ++i) {
            req.inputHashes[i] = keccak256(abi.encode("input", i));
            req.inputURIs[i] = "ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
        }
        uint256 firstJobId = market.jobCount() + 1;
        vm.prank(POSTER);
        batchId = batchMarket.postBatch(req);
        (,, uint96 collateral) = registry.terms(_modelId);
        b = IBatchMarket.Batch({
            poster: POSTER,
            modelId: uint32(_modelId),
            terms: market.termsVersion(),
            feePerJob: uint96(fee),
            collateralPerJob: collateral,
            count: uint16(count),
            firstJobId: uint64(firstJobId),
            status: IBatchMarket.BatchStatus.Posted,
            deadline: uint32(req.claimBy),
            provider: address(0),
            commitBlock: 0,
            result: bytes32(0)
        });
        vm.assertEq(batchMarket.batchHash(batchId), keccak256(abi.encode(b)), "posted state");
        vm.assertEq(market.jobCount(), firstJobId + count - 1, "ids reserved");
        _escrow += count * fee;
    }

    function _claimAndCommit(uint256 batchId, IBatchMarket.Batch memory b) private returns (IBatchMarket.Batch memory) {
        bytes32[] memory leaves = new bytes32[](b.count);
        for (uint256 i; i < b.count; ++i) {
            uint256 jobId = b.firstJobId + i;
            leaves[i] = _leaf(jobId, _commitment(batchId, jobId));
        }
        bytes32 commitmentRoot = _treeRoot(leaves);
        vm.prank(PROVIDER);
        batchMarket.claimAndCommitBatch(batchId, b, commitmentRoot);
        b.status = IBatchMarket.BatchStatus.Committed;
        b.provider = PROVIDER;
        b.deadline = uint32(block.timestamp + batchMarket.marketTermsOf(b.terms).revealTimeout);
        b.commitBlock = uint64(block.number);
        b.result = commitmentRoot;
        vm.assertEq(batchMarket.batchHash(batchId), keccak256(abi.encode(b)), "committed state");
        return b;
    }

    function _reveal(uint256 batchId, IBatchMarket.Batch memory b) private returns (IBatchMarket.Batch memory) {
        bytes32[] memory roots = new bytes32[](b.count);
        bytes32[] memory leaves = new bytes32[](b.count);
        uint256 split = batchMarket.splitBitmap(batchId);
        for (uint256 i; i < b.count; ++i) {
            // A sampled job split out is given by its commitment: its output root stays unpublished.
            roots[i] = split & (1 << i) != 0 ? _commitment(batchId, b.firstJobId + i) : _root(b.firstJobId + i);
            leaves[i] = _leaf(b.firstJobId + i, roots[i]);
        }
        vm.prank(PROVIDER);
        batchMarket.revealBatch(batchId, b, roots, _batchSalt(batchId), "ipfs://outputs");
        b.status = IBatchMarket.BatchStatus.Revealed;
        b.deadline = uint32(block.timestamp + batchMarket.marketTermsOf(b.terms).challengeWindow);
        b.result = _treeRoot(leaves);
        vm.assertEq(batchMarket.batchHash(batchId), keccak256(abi.encode(b)), "revealed state");
        return b;
    }

    function _splitRevealed(uint256 batchId, IBatchMarket.Batch memory b, uint256 index) private {
        bytes32[] memory leaves = new bytes32[](b.count);
        for (uint256 i; i < b.count; ++i) {
            // A sampled job split out before the reveal was revealed by its commitment (see _reveal).
            uint256 id = b.firstJobId + i;
            bytes32 value = _sampledOut[id] ? _commitment(batchId, id) : _root(id);
            leaves[i] = _leaf(b.firstJobId + i, value);
        }
        uint256 jobId = b.firstJobId + index;
        vm.prank(KEEPER);
        batchMarket.splitRevealed(batchId, b, index, _root(jobId), _proof(leaves, index));
        _escrow -= b.feePerJob;
        vm.assertEq(market.jobHash(jobId), keccak256(abi.encode(_splitJob(b, IJobMarket.JobStatus.Revealed, _root(jobId)))), "imported");
    }

    /// @dev Splits out every sampled job, reveals each through the JobMarket (no verifier is staked: no auditor
    /// is drawn and the reveal goes on) and finalizes it there; returns how many.
    function _splitSampledJobs(uint256 batchId, IBatchMarket.Batch memory b) private returns (uint256 n) {
        uint256 sampled = batchMarket.sampledBitmap(b);
        bytes32[] memory leaves = new bytes32[](b.count);
        for (uint256 i; i < b.count; ++i) {
            uint256 jobId = b.firstJobId + i;
            leaves[i] = _leaf(jobId, _commitment(batchId, jobId));
            (, bool s) = market.samplingOf(jobId, b.commitBlock, b.terms);
            vm.assertEq(s, sampled & (1 << i) != 0, "the JobMarket's draw");
        }
        for (uint256 i; i < b.count; ++i) {
            if (sampled & (1 << i) == 0) continue;
            uint256 jobId = b.firstJobId + i;
            vm.prank(KEEPER);
            batchMarket.splitSampled(batchId, b, i, _commitment(batchId, jobId), _proof(leaves, i));
            _escrow -= b.feePerJob;
            _check("split sampled");
            IJobMarket.Job memory j = _splitJob(b, IJobMarket.JobStatus.Committed, _commitment(batchId, jobId));
            // Committed, for its auditor, at the split: its reveal deadline runs from now.
            j.deadline = uint32(block.timestamp + batchMarket.marketTermsOf(b.terms).revealTimeout);
            vm.assertEq(market.jobHash(jobId), keccak256(abi.encode(j)), "imported committed");
            vm.prank(PROVIDER);
            market.reveal(jobId, j, _root(jobId), _saltOf(batchId, jobId), "ipfs://output", "");
            _sampledOut[jobId] = true;
            ++n;
        }
        // Their windows end before the batch's: finalize them there once the window is over (below).
        uint256 end = block.timestamp + batchMarket.marketTermsOf(b.terms).challengeWindow;
        for (uint256 i; i < b.count; ++i) {
            if (sampled & (1 << i) == 0) continue;
            uint256 jobId = b.firstJobId + i;
            IJobMarket.Job memory j = _splitJob(b, IJobMarket.JobStatus.Revealed, _root(jobId));
            j.deadline = uint32(end);
            j.sampled = true;
            _pendingFinalize.push(jobId);
            _pendingJobs[jobId] = j;
        }
    }

    uint256[] private _pendingFinalize;
    mapping(uint256 jobId => IJobMarket.Job) private _pendingJobs;

    function _commitment(uint256 batchId, uint256 jobId) private view returns (bytes32) {
        return Commitments.hash(block.chainid, address(market), jobId, PROVIDER, _root(jobId), _saltOf(batchId, jobId));
    }

    function _popcount(uint256 x) private pure returns (uint256 n) {
        for (; x != 0; x &= x - 1) ++n;
    }

    function _expire(uint256 batchId, IBatchMarket.Batch memory b) private {
        vm.prank(KEEPER);
        batchMarket.expireBatch(batchId, b);
        _escrow -= uint256(b.count) * b.feePerJob;
        _check("expired");
        // Slash once, refund once.
        b.status = IBatchMarket.BatchStatus.Expired;
        vm.expectRevert(abi.encodeWithSelector(Errors.WrongBatchStatus.selector, batchId, IBatchMarket.BatchStatus.Expired));
        batchMarket.expireBatch(batchId, b);
    }

    function _splitJob(IBatchMarket.Batch memory b, IJobMarket.JobStatus status, bytes32 result)
        private
        pure
        returns (IJobMarket.Job memory)
    {
        return IJobMarket.Job({
            poster: b.poster,
            modelId: b.modelId,
            terms: b.terms,
            fee: b.feePerJob,
            collateral: b.collateralPerJob,
            callbackGasLimit: 0,
            status: status,
            deadline: b.deadline,
            provider: b.provider,
            commitBlock: b.commitBlock,
            result: result,
            inlineOutput: false,
            sampled: false
        });
    }

    // ------------------------------------------------------------------ the books

    function _check(string memory when) private view {
        uint256 owed = batchMarket.deposits(POSTER) + batchMarket.credits(POSTER) + batchMarket.credits(PROVIDER)
            + _escrow + batchMarket.protocolFees() + batchMarket.auditLevyOwed();
        vm.assertEq(token.balanceOf(address(batchMarket)), owed, string.concat("solvency, exactly: ", when));
        uint256 held = token.balanceOf(address(batchMarket)) + token.balanceOf(address(market))
            + token.balanceOf(address(staking)) + token.balanceOf(POSTER) + token.balanceOf(PROVIDER)
            + token.balanceOf(KEEPER) + token.balanceOf(address(this));
        vm.assertEq(held, _supply, string.concat("conservation: ", when));
    }

    // ------------------------------------------------------------------ trees

    function _root(uint256 jobId) private pure returns (bytes32) {
        return keccak256(abi.encode("output", jobId));
    }

    function _batchSalt(uint256 batchId) private pure returns (bytes32) {
        return keccak256(abi.encode("batch salt", batchId));
    }

    function _saltOf(uint256 batchId, uint256 jobId) private pure returns (bytes32) {
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
            uint256 sibling = index ^ 1;
            if (sibling < level.length) buffer[n++] = level[sibling];
            index >>= 1;
            level = _up(level);
        }
        proof = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            proof[i] = buffer[i];
        }
    }

    function bound(uint256 x, uint256 min, uint256 max) private pure returns (uint256) {
        return min + x % (max - min + 1);
    }
}
