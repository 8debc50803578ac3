// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {DinferTestToken} from "../../contracts/DinferTestToken.sol";
import {Staking} from "../../contracts/Staking.sol";
import * as Errors from "../../contracts/errors/Errors.sol";
import {IStaking} from "../../contracts/interfaces/IStaking.sol";

import {TestBase} from "../utils/Vm.sol";

/// @notice The stake-weighted verifier draw (`Staking.drawVerifier`, docs/PROTOCOL.md "Staking and the verifier
/// set") under random stakes: a draw's chance is the account's share of the verifier stake, splitting stake
/// over many accounts buys nothing, and a draw at a past snapshot block is frozen against every later stake,
/// unbonding, role change, penalty and `syncVerifier`.
/// @dev Two kinds of check. Exact: with the excluded members' ranges cut out of the cumulative weights (slots
/// in order), the point `seed % remainingWeight` must land in the drawn member's range, so every member that
/// is not excluded owns exactly its weight's worth of points. Statistical: over N seeds, each account's draw
/// count is within 5 standard deviations (`5 * sqrt(N p (1 - p)) + 1`) of `N p`, with `p = weight /
/// totalWeight`; a correct draw fails one such check with probability below 1e-6.
contract VerifierDrawFuzzTest is TestBase {
    address private constant MARKET = address(0x3A2C);
    address private constant VERIFICATION = address(0x7E51F1);
    uint256 private constant MIN_STAKE = 100 ether;
    uint8 private constant PROVIDER = 1;
    uint8 private constant VERIFIER = 2;

    DinferTestToken private token;
    Staking private staking;

    function setUp() public {
        vm.roll(100);
        token = new DinferTestToken();
        staking = _newStaking();
    }

    // ------------------------------------------------------------------ proportional to stake

    /// @notice Every draw lands on the account whose slice of the cumulative weights holds its point.
    function testFuzz_draw_pointLandsOnTheAccountOwningItsSlice(uint256[6] memory stakes, uint256 seed) public {
        // Some below the minimum stake: they stay out of the set.
        for (uint256 i; i < 6; ++i) stakes[i] = _bound(stakes[i], i == 0 ? MIN_STAKE : 1 ether, 5000 ether);
        address[] memory accounts = _stakeAll(staking, stakes, 0xA000);
        uint256 snapshot = block.number;
        vm.roll(block.number + 1);
        vm.assertEq(staking.totalVerifierWeightAt(snapshot), _eligibleSum(stakes), "total = the eligible stake");
        for (uint256 i; i < 6; ++i) {
            uint256 expected = stakes[i] >= MIN_STAKE ? stakes[i] : 0;
            vm.assertEq(staking.verifierWeightAt(accounts[i], snapshot), expected, "weight = stake, if eligible");
        }
        _assertDrawsOwnTheirPoints(staking, snapshot, seed, 48);
    }

    /// @notice With any accounts excluded (repeated, non-members, or holding most of the weight), the draw is
    /// exact over the members left and never fails while one is left: a provider's own verifier stake buys it
    /// no escape from its audit.
    function testFuzz_draw_exclusionsCutTheirRangesOut(uint256[6] memory stakes, uint256 excludedBits, uint256 seed)
        public
    {
        for (uint256 i; i < 6; ++i) stakes[i] = _bound(stakes[i], 1 ether, 5000 ether);
        // Now and then one account holds nearly all the weight.
        if (seed % 3 == 0) stakes[seed % 6] = 1_000_000 ether;
        address[] memory accounts = _stakeAll(staking, stakes, 0xA000);
        uint256 snapshot = block.number;
        vm.roll(block.number + 1);
        address[] memory excluded = new address[](_bound(excludedBits >> 8, 0, 8));
        for (uint256 i; i < excluded.length; ++i) {
            uint256 pick = (excludedBits >> (16 + 4 * i)) % 8;
            // Indices 6 and 7: an account that never staked (not a member): it cuts nothing.
            excluded[i] = pick < 6 ? accounts[pick] : address(uint160(0xFFFF0 + pick));
        }
        _assertDrawsOwnTheirPoints(staking, snapshot, seed, 24, excluded);
    }

    /// @notice The points at the edges of an excluded member's range: the last point before it belongs to the
    /// member before, the first point after the cut to the member after; never the excluded one.
    function testFuzz_draw_edgesOfAnExcludedRange(uint256[6] memory stakes, uint256 pick) public {
        for (uint256 i; i < 6; ++i) stakes[i] = _bound(stakes[i], MIN_STAKE, 5000 ether);
        address[] memory accounts = _stakeAll(staking, stakes, 0xA000);
        uint256 snapshot = block.number;
        vm.roll(block.number + 1);
        uint256 cut = 1 + pick % 4; // one of the accounts in the middle of the slots
        address[] memory excluded = new address[](1);
        excluded[0] = accounts[cut];
        // With every account staked once in slot order, the cut account's range starts (in the remaining
        // weight) where the weights of the accounts before it end.
        uint256 start;
        for (uint256 i; i < cut; ++i) start += stakes[i];
        vm.assertEq(staking.drawVerifier(start - 1, snapshot, excluded), accounts[cut - 1], "the last point before the cut");
        vm.assertEq(staking.drawVerifier(start, snapshot, excluded), accounts[cut + 1], "the first point after the cut");
    }

    /// forge-config: default.fuzz.runs = 8
    function testFuzz_draw_frequencyIsProportionalToStake(uint256[4] memory raw, uint256 seed) public {
        uint256[6] memory stakes;
        for (uint256 i; i < 4; ++i) stakes[i] = _bound(raw[i], MIN_STAKE, 5000 ether);
        address[] memory accounts = _stakeAll(staking, stakes, 0xB000);
        uint256 snapshot = block.number;
        vm.roll(block.number + 1);
        uint256 n = 800;
        uint256[] memory counts = _drawCounts(staking, accounts, snapshot, seed, n);
        uint256 total = staking.totalVerifierWeightAt(snapshot);
        for (uint256 i; i < 4; ++i) _assertNear(counts[i], n, stakes[i], total, "an account's draws follow its stake");
    }

    /// @notice Splitting one account's stake over `k` accounts leaves the group's chance exactly the one
    /// account's: the same total weight, and the parts' weights sum to the whole.
    /// forge-config: default.fuzz.runs = 8
    function testFuzz_draw_splittingStakeBuysNothing(uint256 whole, uint256 k, uint256[3] memory raw, uint256 seed)
        public
    {
        k = _bound(k, 2, 8);
        whole = _bound(whole, k * MIN_STAKE, k * 2000 ether);
        uint256[6] memory others;
        for (uint256 i; i < 3; ++i) others[i] = _bound(raw[i], MIN_STAKE, 5000 ether);

        // A: one account with the whole stake, beside the others.
        Staking one = staking;
        _stakeAll(one, others, 0xC000);
        _stakeOne(one, address(0xC0FFEE), whole, VERIFIER);
        // B: the same others, and the whole stake split over k accounts.
        Staking split = _newStaking();
        _stakeAll(split, others, 0xC000);
        address[] memory parts = new address[](k);
        for (uint256 i; i < k; ++i) {
            parts[i] = address(uint160(0xD000 + i));
            _stakeOne(split, parts[i], i == k - 1 ? whole - (k - 1) * (whole / k) : whole / k, VERIFIER);
        }
        uint256 snapshot = block.number;
        vm.roll(block.number + 1);

        uint256 total = one.totalVerifierWeightAt(snapshot);
        vm.assertEq(split.totalVerifierWeightAt(snapshot), total, "the same total weight");
        uint256 partsWeight;
        for (uint256 i; i < k; ++i) partsWeight += split.verifierWeightAt(parts[i], snapshot);
        vm.assertEq(partsWeight, whole, "the parts weigh what the whole did");
        vm.assertEq(one.verifierWeightAt(address(0xC0FFEE), snapshot), whole, "the whole account's weight");
        _assertSplitDrawsLikeTheWhole(one, split, parts, snapshot, seed);
    }

    /// @dev Over the same seeds, the whole account and the group of parts are each drawn in proportion to
    /// the same stake; and each part owns exactly its weight's worth of points.
    function _assertSplitDrawsLikeTheWhole(
        Staking one,
        Staking split,
        address[] memory parts,
        uint256 snapshot,
        uint256 seed
    ) private view {
        uint256 total = one.totalVerifierWeightAt(snapshot);
        uint256 whole = one.verifierWeightAt(address(0xC0FFEE), snapshot);
        uint256 n = 600;
        address[] memory single = new address[](1);
        single[0] = address(0xC0FFEE);
        uint256 wholeDraws = _drawCounts(one, single, snapshot, seed, n)[0];
        uint256[] memory partDraws = _drawCounts(split, parts, snapshot, seed, n);
        uint256 groupDraws;
        for (uint256 i; i < parts.length; ++i) groupDraws += partDraws[i];
        _assertNear(wholeDraws, n, whole, total, "one account: drawn in proportion to its stake");
        _assertNear(groupDraws, n, whole, total, "k accounts: drawn together in proportion to the same stake");
        _assertDrawsOwnTheirPoints(split, snapshot, seed, 24);
    }

    /// @dev `count` draws at `snapshot`, each the owner of its point among the members not excluded.
    function _assertDrawsOwnTheirPoints(Staking s, uint256 snapshot, uint256 seed, uint256 count) private view {
        _assertDrawsOwnTheirPoints(s, snapshot, seed, count, new address[](0));
    }

    function _assertDrawsOwnTheirPoints(
        Staking s,
        uint256 snapshot,
        uint256 seed,
        uint256 count,
        address[] memory excluded
    ) private view {
        uint256 remaining = _remainingWeight(s, snapshot, excluded);
        for (uint256 k; k < count; ++k) {
            uint256 drawSeed = uint256(keccak256(abi.encode(seed, k)));
            address drawn = s.drawVerifier(drawSeed, snapshot, excluded);
            if (remaining == 0) {
                vm.assertEq(drawn, address(0), "nobody left: nobody drawn");
                continue;
            }
            vm.assertEq(drawn, _ownerOfPoint(s, drawSeed % remaining, snapshot, excluded), "the owner of its point");
            vm.assertGe(s.verifierWeightAt(drawn, snapshot), MIN_STAKE, "only eligible verifiers are drawn");
            vm.assertFalse(_contains(excluded, drawn), "never an excluded account");
        }
    }

    // ------------------------------------------------------------------ frozen per block

    /// @notice Draws and weights at a past snapshot block do not move, whatever happens in later blocks:
    /// stakes, unbonding, role changes, penalties, slashes, syncs, new members, members leaving.
    function testFuzz_draw_pastSnapshotIsFrozen(uint256[6] memory stakes, uint256 opsSeed, uint256 seed) public {
        for (uint256 i; i < 6; ++i) stakes[i] = _bound(stakes[i], MIN_STAKE, 3000 ether);
        address[] memory accounts = _stakeAll(staking, stakes, 0xE000);
        uint256 snapshot = block.number;
        address[] memory excluded = new address[](1);
        excluded[0] = accounts[opsSeed % 6];

        uint256 draws = 24;
        address[] memory before = new address[](draws);
        for (uint256 k; k < draws; ++k) before[k] = staking.drawVerifier(_seed(seed, k), snapshot, excluded);
        uint256 total = staking.totalVerifierWeightAt(snapshot);
        uint256[] memory weights = new uint256[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) weights[i] = staking.verifierWeightAt(accounts[i], snapshot);

        for (uint256 step; step < 10; ++step) {
            vm.roll(block.number + 1 + (opsSeed >> (8 * step)) % 3);
            _randomChange(accounts, uint256(keccak256(abi.encode(opsSeed, step))));
        }

        vm.assertEq(staking.totalVerifierWeightAt(snapshot), total, "total weight at the snapshot unchanged");
        for (uint256 i; i < accounts.length; ++i) {
            vm.assertEq(staking.verifierWeightAt(accounts[i], snapshot), weights[i], "a weight at the snapshot unchanged");
        }
        for (uint256 k; k < draws; ++k) {
            vm.assertEq(staking.drawVerifier(_seed(seed, k), snapshot, excluded), before[k], "draw at the snapshot");
            vm.assertTrue(before[k] != excluded[0], "an excluded account is never drawn");
        }
        // The present is the sum of the current weights.
        uint256 now_;
        for (uint256 i; i < accounts.length; ++i) now_ += staking.account(accounts[i]).verifierWeight;
        now_ += staking.account(address(0xE0E0)).verifierWeight;
        vm.assertEq(staking.totalVerifierWeightAt(block.number), now_, "the current total follows the changes");
    }

    // ------------------------------------------------------------------ edges

    function test_draw_emptySetDrawsNobody() public {
        _stakeOne(staking, address(0xF001), 1000 ether, PROVIDER); // a provider is not a verifier
        _stakeOne(staking, address(0xF002), MIN_STAKE - 1, VERIFIER); // below the minimum
        vm.assertEq(staking.totalVerifierWeightAt(block.number), 0, "nobody eligible");
        vm.assertEq(staking.drawVerifier(1, block.number, new address[](0)), address(0), "nobody drawn");
    }

    function test_draw_everyoneExcludedDrawsNobody() public {
        address[] memory excluded = new address[](2);
        excluded[0] = address(0xF001);
        excluded[1] = address(0xF002);
        _stakeOne(staking, excluded[0], 1000 ether, VERIFIER);
        _stakeOne(staking, excluded[1], 500 ether, VERIFIER | PROVIDER);
        for (uint256 s; s < 8; ++s) {
            vm.assertEq(staking.drawVerifier(s, block.number, excluded), address(0), "every member excluded");
        }
    }

    function test_draw_refusesAFutureSnapshotAndTooManyExclusions() public {
        _stakeOne(staking, address(0xF001), 1000 ether, VERIFIER);
        vm.expectRevert(abi.encodeWithSelector(Errors.SnapshotInFuture.selector, block.number + 1, block.number));
        staking.drawVerifier(1, block.number + 1, new address[](0));
        vm.expectRevert(abi.encodeWithSelector(Errors.TooManyExcluded.selector, 17, 16));
        staking.drawVerifier(1, block.number, new address[](17));
    }

    // ------------------------------------------------------------------ helpers

    function _newStaking() private returns (Staking s) {
        s = new Staking(token, address(this), IStaking.StakingParams(7200, uint128(MIN_STAKE)));
        s.setProtocol(MARKET, VERIFICATION);
    }

    /// @dev One later change, on a random account: stake more, unbond, change roles, be penalized or slashed,
    /// be synced, or a new member joins.
    function _randomChange(address[] memory accounts, uint256 r) private {
        address who = accounts[r % accounts.length];
        uint256 kind = (r >> 8) % 7;
        IStaking.AccountView memory a = staking.account(who);
        if (kind == 0) {
            _stakeOne(staking, who, _bound(r >> 16, 1, 2000 ether), VERIFIER | uint8((r >> 80) % 2));
        } else if (kind == 1 && a.stake > a.locked) {
            vm.prank(who);
            staking.requestUnbond(_bound(r >> 16, 1, a.stake - a.locked));
        } else if (kind == 2) {
            vm.prank(who);
            staking.setRoles(uint8((r >> 16) % 4));
        } else if (kind == 3) {
            vm.prank(VERIFICATION);
            staking.penalize(who, _bound(r >> 16, 0, 3000 ether), address(0xDEAD));
            if ((r >> 96) % 2 == 0) staking.syncVerifier(who);
        } else if (kind == 4) {
            vm.prank(MARKET);
            staking.slash(who, 0, _bound(r >> 16, 0, 3000 ether), address(0xDEAD));
            staking.syncVerifier(who);
        } else if (kind == 5) {
            _stakeOne(staking, address(0xE0E0), _bound(r >> 16, MIN_STAKE, 4000 ether), VERIFIER);
        } else {
            staking.syncVerifier(who);
        }
    }

    /// @dev Stakes each nonzero entry (an account with less than the minimum stays out of the set); returns
    /// the accounts, in order.
    function _stakeAll(Staking s, uint256[6] memory stakes, uint160 base) private returns (address[] memory accounts) {
        accounts = new address[](6);
        for (uint256 i; i < 6; ++i) {
            accounts[i] = address(base + uint160(i));
            if (stakes[i] == 0) continue;
            // One account in three also provides: the roles do not change its weight.
            _stakeOne(s, accounts[i], stakes[i], i % 3 == 0 ? VERIFIER | PROVIDER : VERIFIER);
        }
    }

    function _stakeOne(Staking s, address who, uint256 amount, uint8 roles) private {
        token.mint(who, amount);
        vm.startPrank(who);
        token.approve(address(s), amount);
        s.stake(amount, roles);
        vm.stopPrank();
    }

    /// @dev How often each of `accounts` is drawn over `n` seeds at `snapshot`.
    function _drawCounts(Staking s, address[] memory accounts, uint256 snapshot, uint256 seed, uint256 n)
        private
        view
        returns (uint256[] memory counts)
    {
        counts = new uint256[](accounts.length);
        address[] memory none = new address[](0);
        for (uint256 k; k < n; ++k) {
            address drawn = s.drawVerifier(_seed(seed, k), snapshot, none);
            for (uint256 i; i < accounts.length; ++i) {
                if (drawn == accounts[i]) ++counts[i];
            }
        }
    }

    /// @dev The member whose slice of the cumulative weights at `snapshot` (slots in order, the excluded
    /// members' slices cut out) holds `point`.
    function _ownerOfPoint(Staking s, uint256 point, uint256 snapshot, address[] memory excluded)
        private
        view
        returns (address)
    {
        uint256 slots = s.verifierSlotCount();
        uint256 cumulative;
        for (uint256 slot; slot < slots; ++slot) {
            address owner = s.verifierAt(slot);
            if (owner == address(0) || _contains(excluded, owner)) continue;
            cumulative += s.verifierWeightAt(owner, snapshot);
            if (point < cumulative) return owner;
        }
        return address(0);
    }

    function _remainingWeight(Staking s, uint256 snapshot, address[] memory excluded) private view returns (uint256 w) {
        w = s.totalVerifierWeightAt(snapshot);
        for (uint256 i; i < excluded.length; ++i) {
            if (!_contains(_prefixOf(excluded, i), excluded[i])) w -= s.verifierWeightAt(excluded[i], snapshot);
        }
    }

    function _prefixOf(address[] memory list, uint256 n) private pure returns (address[] memory prefix) {
        prefix = new address[](n);
        for (uint256 i; i < n; ++i) prefix[i] = list[i];
    }

    function _contains(address[] memory list, address who) private pure returns (bool) {
        for (uint256 i; i < list.length; ++i) {
            if (list[i] == who) return true;
        }
        return false;
    }

    /// @dev |count - n w / total| <= 5 sqrt(n p (1 - p)) + 1, in integers: both sides scaled by total.
    function _assertNear(uint256 count, uint256 n, uint256 weight, uint256 total, string memory what) private pure {
        uint256 expectedScaled = n * weight; // n p, times total
        uint256 bound = 5 * _sqrt(n * weight * (total - weight)) + total; // 5 sqrt(n p (1 - p)) + 1, times total
        uint256 countScaled = count * total;
        uint256 diff = countScaled > expectedScaled ? countScaled - expectedScaled : expectedScaled - countScaled;
        if (diff > bound) _failNear(count, n, expectedScaled / total, what);
    }

    function _failNear(uint256 count, uint256 n, uint256 expected, string memory what) private pure {
        string memory counts = string.concat(vm.toString(count), " of ", vm.toString(n));
        vm.assertEq(count, expected, string.concat(what, ": drawn ", counts, ", beyond 5 sigma of the expected"));
    }

    function _eligibleSum(uint256[6] memory stakes) private pure returns (uint256 sum) {
        for (uint256 i; i < 6; ++i) {
            if (stakes[i] >= MIN_STAKE) sum += stakes[i];
        }
    }

    function _seed(uint256 seed, uint256 k) private pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, "draw", k)));
    }

    function _sqrt(uint256 x) private pure returns (uint256 y) {
        if (x == 0) return 0;
        y = x;
        uint256 z = (x + 1) / 2;
        while (z < y) {
            y = z;
            z = (x / z + z) / 2;
        }
    }
}
