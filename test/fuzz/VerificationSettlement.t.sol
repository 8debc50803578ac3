// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

import {JobMarket} from "../../contracts/JobMarket.sol";
import {ModelRegistry} from "../../contracts/ModelRegistry.sol";
import {Staking} from "../../contracts/Staking.sol";
import {Verification} from "../../contracts/Verification.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IRandomness} from "../../contracts/interfaces/IRandomness.sol";
import {IVerification} from "../../contracts/interfaces/IVerification.sol";
import {Commitments} from "../../contracts/libraries/Commitments.sol";

import {ProtocolFixture} from "../utils/ProtocolFixture.sol";

/// @notice A whole dispute on the real contracts, under random parameters, collateral, bond, committee size,
/// votes and challenger (a bonded challenger or a disagreeing auditor): the settlement pays out exactly what
/// came in (the provider's slash, a forfeited bond or auditor stake, the voters' penalties), in the shares
/// the parameters say, and Verification's balance stays exactly its credits plus its treasury.
contract VerificationSettlementFuzzTest is ProtocolFixture {
    uint256 private constant BPS = 10_000;
    uint256 private constant VERIFIERS = 15;
    uint256 private constant VERIFIER_STAKE = 200 ether;
    uint256 private constant JOB = 1;
    address private constant PROVIDER = address(0x9A0F);
    address private constant DAPP = address(0xDA99);
    address private constant CHALLENGER = address(0xC4A1);
    address private constant KEEPER = address(0x4EE9);
    uint256 private constant FEE = 10 ether;

    /// @dev What the fuzzer draws; bounded in `_bounded`.
    struct Case {
        uint256 collateral;
        uint256 bond;
        uint256 voterPenalty;
        uint256 challengerRewardBps;
        uint256 voterRewardBps;
        uint256 providerRewardBps;
        uint256 committeeSize;
        /// two bits per member: 0 silent, 1 ProviderCorrect, 2 ProviderWrong, 3 committed and never revealed
        uint256 votes;
        bool byAuditor;
    }

    struct Tally {
        uint256 correct;
        uint256 wrong;
        uint256 penalized;
        IVerification.Vote majority;
    }

    IJobMarket.Job private _job;
    address[] private _everyone;

    function setUp() public {
        vm.warp(1_800_000_000);
        _deployProtocol();
        _wire(address(verification));
        for (uint256 i; i < VERIFIERS; ++i) {
            address v = address(uint160(0x7E000 + i));
            _stake(v, VERIFIER_STAKE, 2);
            _everyone.push(v);
        }
        _everyone.push(PROVIDER);
        _everyone.push(CHALLENGER);
        _everyone.push(DAPP);
    }

    function testFuzz_resolve_paysOutExactlyWhatCameIn(Case memory c) public {
        _bounded(c);
        _openDispute(c);
        address[] memory committee = _drawAndVote(c);
        Tally memory t = _tally(c.votes, committee.length);
        Before memory b = _before();

        vm.warp(uint256(verification.dispute(JOB).voteRevealBy) + 1);
        vm.prank(KEEPER);
        verification.resolve(JOB, _job, "");

        Expected memory e = _expected(c, t);
        _checkTotals(c, b, e);
        _checkShares(c, b, e, t, committee);
        _job.status = e.faulted ? IJobMarket.JobStatus.Slashed : IJobMarket.JobStatus.Finalized;
        _assertStored("settled");
    }

    struct Before {
        address challenger;
        uint256 bond;
        uint256 treasury;
        uint256 credits;
        uint256 held;
        uint256 challengerCredits;
        uint256 providerCredits;
        uint256 challengerStake;
    }

    struct Expected {
        bool faulted;
        /// the committee upheld the provider by a majority: the challenger's bond or stake is forfeited
        bool overturned;
        /// what is split: the collateral when faulted, challengeBond when overturned, else nothing
        uint256 amount;
        uint256 lead;
        uint256 majorityVoters;
        uint256 perVoter;
        uint256 penalties;
        /// tokens that reach Verification during resolve
        uint256 arrived;
    }

    function _before() private view returns (Before memory b) {
        IVerification.Dispute memory d = verification.dispute(JOB);
        b.challenger = d.challenger;
        b.bond = d.bond;
        b.treasury = verification.treasury();
        b.credits = _sumCredits();
        b.held = token.balanceOf(address(verification));
        b.challengerCredits = verification.credits(d.challenger);
        b.providerCredits = verification.credits(PROVIDER);
        b.challengerStake = staking.account(d.challenger).stake;
    }

    /// @dev The expected settlement, stated from the interface's NatSpec with the shares as plain floors.
    function _expected(Case memory c, Tally memory t) private pure returns (Expected memory e) {
        e.faulted = t.wrong > t.correct;
        e.overturned = !e.faulted && t.majority == IVerification.Vote.ProviderCorrect;
        if (e.faulted) {
            e.amount = c.collateral;
            e.lead = e.amount * c.challengerRewardBps / BPS;
            e.majorityVoters = t.wrong;
        } else if (e.overturned) {
            e.amount = c.bond;
            e.lead = e.amount * c.providerRewardBps / BPS;
            e.majorityVoters = t.correct;
        }
        if (e.majorityVoters != 0) e.perVoter = e.amount * c.voterRewardBps / BPS / e.majorityVoters;
        e.penalties = t.penalized * c.voterPenalty;
        e.arrived = e.penalties + (e.faulted || (e.overturned && c.byAuditor) ? e.amount : 0);
    }

    /// @dev Verification received exactly the slash and the penalties, and now owes them and the bond.
    function _checkTotals(Case memory c, Before memory b, Expected memory e) private view {
        vm.assertEq(b.bond, c.byAuditor ? 0 : c.bond, "the bond held");
        uint256 held = token.balanceOf(address(verification));
        vm.assertEq(held, b.held + e.arrived, "received the slash and the penalties");
        uint256 owed = _sumCredits() + verification.treasury();
        vm.assertEq(owed, b.credits + b.treasury + e.arrived + b.bond, "owes what arrived and the bond");
        vm.assertEq(held, owed, "held = owed");
        vm.assertEq(
            verification.treasury(),
            b.treasury + e.amount - e.lead - e.perVoter * e.majorityVoters + e.penalties,
            "treasury: the rest and the penalties"
        );
    }

    function _checkShares(Case memory c, Before memory b, Expected memory e, Tally memory t, address[] memory committee)
        private
        view
    {
        uint256 bondBack = e.overturned ? 0 : b.bond;
        if (e.faulted) {
            vm.assertEq(verification.credits(b.challenger), b.challengerCredits + e.lead + bondBack, "challenger: share + bond");
            vm.assertEq(verification.credits(PROVIDER), b.providerCredits, "faulted provider: nothing");
        } else {
            vm.assertEq(verification.credits(b.challenger), b.challengerCredits + bondBack, "challenger: bond back or lost");
            vm.assertEq(verification.credits(PROVIDER), b.providerCredits + e.lead, "provider: its share of the bond");
        }
        if (c.byAuditor) {
            uint256 taken = e.overturned ? c.bond : 0;
            vm.assertEq(staking.account(b.challenger).stake, b.challengerStake - taken, "auditor slashed iff overturned");
        }
        for (uint256 i; i < committee.length; ++i) {
            uint256 v = (c.votes >> (2 * i)) & 3;
            bool inMajority = e.majorityVoters != 0 && v == uint256(t.majority);
            vm.assertEq(verification.credits(committee[i]), inMajority ? e.perVoter : 0, "voter share");
            bool penalized = v == 0 || v == 3 || (t.majority != IVerification.Vote.None && !inMajority);
            uint256 expectedStake = VERIFIER_STAKE - (penalized ? c.voterPenalty : 0);
            vm.assertEq(staking.account(committee[i]).stake, expectedStake, "voter penalty");
        }
    }

    // ------------------------------------------------------------------ scenario

    function _bounded(Case memory c) private {
        c.collateral = _bound(c.collateral, 1, 1_000_000 ether);
        c.bond = _bound(c.bond, 1, VERIFIER_STAKE); // an auditor's stake always covers it
        c.voterPenalty = _bound(c.voterPenalty, 0, VERIFIER_STAKE / 2);
        c.challengerRewardBps = _bound(c.challengerRewardBps, 0, BPS - 1);
        c.voterRewardBps = _bound(c.voterRewardBps, 0, BPS - c.challengerRewardBps);
        c.providerRewardBps = _bound(c.providerRewardBps, 0, BPS - 1 < BPS - c.voterRewardBps ? BPS - 1 : BPS - c.voterRewardBps);
        c.committeeSize = _bound(c.committeeSize, 0, 6) * 2 + 1;
        IVerification.VerificationParams memory p = _localVerificationParams();
        p.challengeBond = uint96(c.bond);
        p.voterPenalty = uint96(c.voterPenalty);
        p.challengerRewardBps = uint16(c.challengerRewardBps);
        p.voterRewardBps = uint16(c.voterRewardBps);
        p.providerRewardBps = uint16(c.providerRewardBps);
        p.committeeSize = uint8(c.committeeSize);
        verification.setParams(p);
        if (c.byAuditor) {
            IJobMarket.MarketParams memory mp = market.params();
            mp.samplingPpm = 1_000_000;
            market.setParams(mp);
        }
    }

    /// @dev Post, claim and commit, reveal; then a bonded challenge, or a blind audit that disagrees.
    function _openDispute(Case memory c) private {
        uint256 modelId = _registerModel(uint96(c.collateral), 0, keccak256("model"));
        _stake(PROVIDER, c.collateral, 1);
        _mint(DAPP, FEE);
        vm.prank(DAPP);
        token.approve(address(market), FEE);
        IJobMarket.JobRequest memory req;
        req.modelId = modelId;
        req.fee = FEE;
        req.claimBy = uint64(block.timestamp + 600);
        req.inputHash = keccak256("input");
        req.inputURI = "ipfs://input";
        vm.prank(DAPP);
        market.postJob(req);
        _job = IJobMarket.Job(DAPP, uint32(modelId), uint96(FEE), uint96(c.collateral), 0, IJobMarket.JobStatus.Posted,
            uint32(req.claimBy), address(0), 0, bytes32(0), false, false);

        bytes32 root = keccak256("output");
        bytes32 salt = keccak256("salt");
        bytes32 commitment = Commitments.hash(block.chainid, address(market), JOB, PROVIDER, root, salt);
        vm.prank(PROVIDER);
        market.claimAndCommit(JOB, _job, commitment);
        _job.status = IJobMarket.JobStatus.Committed;
        _job.provider = PROVIDER;
        _job.deadline = uint32(block.timestamp + market.params().revealTimeout);
        _job.commitBlock = uint64(block.number);
        _job.result = commitment;
        _assertStored("commit");
        vm.roll(block.number + market.params().seedDelay + 1);
        vm.warp(block.timestamp + 1);

        address auditor;
        bytes32 auditRoot = keccak256("another output");
        if (c.byAuditor) {
            auditor = verification.auditorOf(JOB, _job);
            vm.prank(auditor);
            verification.commitAudit(
                JOB, _job, Commitments.hash(block.chainid, address(market), JOB, auditor, auditRoot, salt)
            );
        }
        vm.prank(PROVIDER);
        market.reveal(JOB, _job, root, salt, "ipfs://output", "");
        _job.status = IJobMarket.JobStatus.Revealed;
        _job.deadline = uint32(block.timestamp + market.params().challengeWindow);
        _job.result = root;
        _job.sampled = c.byAuditor;
        _assertStored("reveal");

        if (c.byAuditor) {
            vm.prank(auditor);
            verification.revealAudit(JOB, _job, auditRoot, salt, IVerification.Verdict.Disagree, "");
        } else {
            _mint(CHALLENGER, c.bond);
            vm.prank(CHALLENGER);
            token.approve(address(verification), c.bond);
            vm.prank(CHALLENGER);
            verification.challenge(JOB, _job);
        }
        _job.status = IJobMarket.JobStatus.Disputed;
        _assertStored("dispute");
    }

    function _drawAndVote(Case memory c) private returns (address[] memory committee) {
        vm.roll(block.number + market.params().seedDelay + 1);
        vm.prank(KEEPER);
        verification.drawCommittee(JOB);
        committee = verification.dispute(JOB).committee;
        vm.assertEq(committee.length, c.committeeSize, "a full committee: enough eligible verifiers");
        for (uint256 i; i < committee.length; ++i) {
            uint256 v = (c.votes >> (2 * i)) & 3;
            if (v == 0) continue;
            vm.prank(committee[i]);
            verification.commitVote(JOB, _voteHash(committee[i], v == 3 ? 1 : v));
        }
        vm.warp(uint256(verification.dispute(JOB).voteCommitBy) + 1);
        for (uint256 i; i < committee.length; ++i) {
            uint256 v = (c.votes >> (2 * i)) & 3;
            if (v != 1 && v != 2) continue;
            vm.prank(committee[i]);
            verification.revealVote(JOB, IVerification.Vote(v), keccak256(abi.encode("salt", committee[i])));
        }
    }

    function _tally(uint256 votes, uint256 members) private pure returns (Tally memory t) {
        for (uint256 i; i < members; ++i) {
            uint256 v = (votes >> (2 * i)) & 3;
            if (v == 1) ++t.correct;
            else if (v == 2) ++t.wrong;
        }
        t.majority = t.wrong > t.correct
            ? IVerification.Vote.ProviderWrong
            : (t.correct > t.wrong ? IVerification.Vote.ProviderCorrect : IVerification.Vote.None);
        for (uint256 i; i < members; ++i) {
            uint256 v = (votes >> (2 * i)) & 3;
            bool silent = v == 0 || v == 3;
            if (silent || (t.majority != IVerification.Vote.None && v != uint256(t.majority))) ++t.penalized;
        }
    }

    function _voteHash(address voter, uint256 vote) private view returns (bytes32) {
        bytes32 salt = keccak256(abi.encode("salt", voter));
        return keccak256(abi.encode(block.chainid, address(verification), JOB, voter, uint8(vote), salt));
    }

    function _sumCredits() private view returns (uint256 sum) {
        for (uint256 i; i < _everyone.length; ++i) sum += verification.credits(_everyone[i]);
    }

    function _assertStored(string memory what) private view {
        vm.assertEq(market.jobHash(JOB), keccak256(abi.encode(_job)), what);
    }

    function _stake(address who, uint256 amount, uint8 roles) private {
        _mint(who, amount);
        vm.prank(who);
        token.approve(address(staking), amount);
        vm.prank(who);
        staking.stake(amount, roles);
    }

    function _mint(address to, uint256 amount) private {
        for (uint256 left = amount; left != 0;) {
            uint256 chunk = left < 1_000_000 ether ? left : 1_000_000 ether;
            token.mint(to, chunk);
            left -= chunk;
        }
    }
}

/// @notice TEST ONLY: burns 1% of each transfer between two accounts while `feeOn` (mints are exact), so a
/// job can be posted and revealed before the challenge meets the fee.
contract ToggleFeeToken is ERC20 {
    bool public feeOn;

    constructor() ERC20("toggle-fee test token", "TFT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFee(bool on) external {
        feeOn = on;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (!feeOn || from == address(0) || to == address(0)) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = value / 100;
        super._update(from, to, value - fee);
        super._update(from, address(0), fee);
    }
}

/// @notice A challenge bond must arrive whole: a fee-on-transfer token is refused with TokenTransferMismatch.
contract VerificationBondTokenTest is ProtocolFixture {
    function test_challenge_refusesABondThatArrivesShort() public {
        vm.warp(1_800_000_000);
        ToggleFeeToken fot = new ToggleFeeToken();
        Staking s = new Staking(fot, address(this), _localStakingParams());
        ModelRegistry r = new ModelRegistry();
        JobMarket m = new JobMarket(fot, s, r, IRandomness(address(0)), address(this), _localMarketParams());
        Verification v = new Verification(fot, m, s, address(this), _localVerificationParams());
        s.setProtocol(address(m), address(v));
        m.setVerification(address(v));
        registry = r;
        uint256 modelId = _registerModel(100 ether, 1 ether, keccak256("model"));

        address provider = address(0x9A0F);
        address dapp = address(0xDA99);
        address challenger = address(0xC4A1);
        fot.mint(provider, 1000 ether);
        vm.prank(provider);
        fot.approve(address(s), 1000 ether);
        vm.prank(provider);
        s.stake(1000 ether, 1);
        fot.mint(dapp, 10 ether);
        vm.prank(dapp);
        fot.approve(address(m), 10 ether);
        IJobMarket.JobRequest memory req;
        req.modelId = modelId;
        req.fee = 10 ether;
        req.claimBy = uint64(block.timestamp + 600);
        req.inputHash = keccak256("input");
        vm.prank(dapp);
        m.postJob(req);
        IJobMarket.Job memory job = IJobMarket.Job(dapp, uint32(modelId), 10 ether, 100 ether, 0,
            IJobMarket.JobStatus.Posted, uint32(req.claimBy), address(0), 0, bytes32(0), false, false);
        bytes32 root = keccak256("output");
        bytes32 commitment = Commitments.hash(block.chainid, address(m), 1, provider, root, bytes32(0));
        vm.prank(provider);
        m.claimAndCommit(1, job, commitment);
        job.status = IJobMarket.JobStatus.Committed;
        job.provider = provider;
        job.deadline = uint32(block.timestamp + 300);
        job.commitBlock = uint64(block.number);
        job.result = commitment;
        vm.roll(block.number + 3);
        vm.prank(provider);
        m.reveal(1, job, root, bytes32(0), "", "");
        job.status = IJobMarket.JobStatus.Revealed;
        job.deadline = uint32(block.timestamp + 60);
        job.result = root;
        vm.assertEq(m.jobHash(1), keccak256(abi.encode(job)), "revealed job");

        fot.setFee(true);
        uint256 bond = v.params().challengeBond;
        fot.mint(challenger, bond);
        vm.prank(challenger);
        fot.approve(address(v), bond);
        vm.expectRevert(abi.encodeWithSelector(IVerification.TokenTransferMismatch.selector, bond, bond - bond / 100));
        vm.prank(challenger);
        v.challenge(1, job);
        vm.assertEq(fot.balanceOf(address(v)), 0, "nothing kept");
        vm.assertEq(uint256(v.dispute(1).state), uint256(IVerification.DisputeState.None), "no dispute");
    }
}
