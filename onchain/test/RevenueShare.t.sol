// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {TestBase} from "./utils/TestBase.sol";
import {RevenueShare} from "../contracts/RevenueShare.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// Claims and, while receiving, tries to claim or burn again.
contract GreedyHolder {
    RevenueShare internal immutable token;
    uint256 internal snapshotId;
    bytes public reentryError;

    constructor(RevenueShare token_) {
        token = token_;
    }

    function claim(uint256 id) external {
        snapshotId = id;
        token.claim(id);
    }

    receive() external payable {
        try token.claim(snapshotId) {}
        catch (bytes memory err) {
            reentryError = err;
        }
    }
}

/// A holder without a receive function.
contract MuteHolder {
    function claim(RevenueShare token, uint256 id) external {
        token.claim(id);
    }
}

/// @notice Unit tests of the ERC-7641 revenue-share token.
contract RevenueShareTest is TestBase {
    uint256 internal constant SUPPLY = 1000e18;
    uint256 internal constant BPS = 8000;
    uint256 internal constant INTERVAL = 1 days;

    RevenueShare internal token;
    address internal alice;
    address internal bob;
    address internal carol;

    event RevenueDeposited(uint256 amount, uint256 toSnapshots, uint256 toReserve);
    event SnapshotTaken(uint256 indexed snapshotId, uint256 blockNumber, uint256 revenue);
    event RevenueClaimed(address indexed account, uint256 indexed snapshotId, uint256 amount);
    event Redeemed(address indexed account, uint256 tokens, uint256 amount);

    function setUp() public {
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        carol = makeAddr("carol");
        vm.deal(address(this), 1_000_000 ether);
        token = new RevenueShare("Rev", "REV", alice, SUPPLY, address(this), BPS, INTERVAL);
    }

    function deposit(uint256 amount) internal {
        token.depositRevenue{value: amount}();
    }

    /// Deposit, wait for the interval, snapshot, move to the next block.
    function depositAndSnapshot(uint256 amount) internal returns (uint256 id) {
        deposit(amount);
        vm.warp(token.lastSnapshotAt() + INTERVAL);
        id = token.snapshot();
        skipTime(1);
    }

    // ---------------------------------------------------------------------------------------------
    // constructor and deposits
    // ---------------------------------------------------------------------------------------------

    function test_constructor() public {
        assertEq(token.totalSupply(), SUPPLY);
        assertEq(token.balanceOf(alice), SUPPLY);
        assertEq(token.market(), address(this));
        assertEq(token.claimableBps(), BPS);
        assertEq(token.snapshotInterval(), INTERVAL);
        assertEq(token.lastSnapshotAt(), block.timestamp);
        assertEq(token.balanceAtBlock(alice, block.number), SUPPLY);
        assertEq(token.supplyAtBlock(block.number), SUPPLY);
        assertEq(token.snapshotCount(), 0);
    }

    function test_constructor_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.SupplyOutOfRange.selector, 0));
        new RevenueShare("R", "R", alice, 0, address(this), BPS, INTERVAL);
        uint256 tooMuch = uint256(type(uint208).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.SupplyOutOfRange.selector, tooMuch));
        new RevenueShare("R", "R", alice, tooMuch, address(this), BPS, INTERVAL);
        vm.expectRevert(RevenueShare.ZeroAddress.selector);
        new RevenueShare("R", "R", address(0), SUPPLY, address(this), BPS, INTERVAL);
        vm.expectRevert(RevenueShare.ZeroAddress.selector);
        new RevenueShare("R", "R", alice, SUPPLY, address(0), BPS, INTERVAL);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.ClaimableBpsOutOfRange.selector, 10_001));
        new RevenueShare("R", "R", alice, SUPPLY, address(this), 10_001, INTERVAL);
        vm.expectRevert(
            abi.encodeWithSelector(RevenueShare.SnapshotIntervalOutOfRange.selector, 365 days + 1)
        );
        new RevenueShare("R", "R", alice, SUPPLY, address(this), BPS, 365 days + 1);
    }

    function test_receive_refusesPlainTransfers() public {
        (bool ok, bytes memory err) = address(token).call{value: 1 ether}("");
        assertFalse(ok);
        assertEq(
            keccak256(err), keccak256(abi.encodeWithSelector(RevenueShare.NotMarket.selector, address(this)))
        );
    }

    function testFuzz_depositRevenue_splits(uint128 amount, uint16 bps) public {
        bps = uint16(bound(bps, 0, 10_000));
        RevenueShare t = new RevenueShare("R", "R", alice, SUPPLY, address(this), bps, INTERVAL);
        uint256 toSnapshots = (uint256(amount) * bps) / 10_000;
        vm.deal(address(this), amount);
        vm.expectEmit(address(t));
        emit RevenueDeposited(amount, toSnapshots, amount - toSnapshots);
        t.depositRevenue{value: amount}();
        assertEq(t.pendingRevenue(), toSnapshots);
        assertEq(t.redeemReserve(), amount - toSnapshots);
        assertEq(t.totalDeposited(), amount);
        assertEq(address(t).balance, amount);
    }

    function test_depositRevenue_onlyMarket() public {
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NotMarket.selector, alice));
        token.depositRevenue{value: 1 ether}();
    }

    // ---------------------------------------------------------------------------------------------
    // snapshot
    // ---------------------------------------------------------------------------------------------

    function test_snapshot_assignsPendingRevenue() public {
        deposit(10 ether);
        vm.warp(block.timestamp + INTERVAL);
        vm.expectEmit(address(token));
        emit SnapshotTaken(1, block.number, 8 ether);
        uint256 id = token.snapshot();
        assertEq(id, 1);
        assertEq(token.snapshotCount(), 1);
        assertEq(token.pendingRevenue(), 0);
        assertEq(token.claimReserve(), 8 ether);
        assertEq(token.redeemReserve(), 2 ether);
        assertEq(token.lastSnapshotAt(), block.timestamp);
        RevenueShare.Snapshot memory s = token.snapshotInfo(1);
        assertEq(uint256(s.blockNumber), block.number);
        assertEq(s.revenue, 8 ether);
    }

    function testFuzz_snapshot_tooSoon(uint256 wait) public {
        deposit(1 ether);
        wait = bound(wait, 0, INTERVAL - 1);
        vm.warp(block.timestamp + wait);
        vm.expectRevert(
            abi.encodeWithSelector(RevenueShare.SnapshotTooSoon.selector, token.lastSnapshotAt() + INTERVAL)
        );
        token.snapshot();
    }

    function test_snapshot_needsNewRevenue() public {
        vm.warp(block.timestamp + INTERVAL);
        vm.expectRevert(RevenueShare.NoNewRevenue.selector);
        token.snapshot();
    }

    function test_snapshot_needsHolders() public {
        vm.prank(alice);
        token.burn(SUPPLY);
        deposit(1 ether);
        vm.warp(block.timestamp + INTERVAL);
        vm.expectRevert(RevenueShare.NoSupply.selector);
        token.snapshot();
    }

    // ---------------------------------------------------------------------------------------------
    // claim
    // ---------------------------------------------------------------------------------------------

    function test_claim_proRata() public {
        vm.prank(alice);
        assertTrue(token.transfer(bob, SUPPLY / 4));
        skipTime(1);
        uint256 id = depositAndSnapshot(10 ether); // 8 ether to snapshots
        assertEq(token.claimableRevenue(alice, id), 6 ether);
        assertEq(token.claimableRevenue(bob, id), 2 ether);
        assertEq(token.claimableRevenue(carol, id), 0);
        uint256 before = bob.balance;
        vm.expectEmit(address(token));
        emit RevenueClaimed(bob, id, 2 ether);
        vm.prank(bob);
        token.claim(id);
        assertEq(bob.balance - before, 2 ether);
        assertTrue(token.hasClaimed(bob, id));
        assertEq(token.claimableRevenue(bob, id), 0);
        assertEq(token.claimReserve(), 6 ether);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NothingToClaim.selector, id));
        token.claim(id);
    }

    function test_claim_revertsForUnknownSnapshot() public {
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, 0));
        token.claim(0);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, 1));
        token.claim(1);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, 1));
        token.claimableRevenue(alice, 1);
    }

    function test_claim_notInTheSnapshotBlock() public {
        deposit(10 ether);
        vm.warp(block.timestamp + INTERVAL);
        uint256 id = token.snapshot();
        assertEq(token.claimableRevenue(alice, id), 0);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.SnapshotNotFinal.selector, id));
        token.claim(id);
        skipTime(1);
        assertEq(token.claimableRevenue(alice, id), 8 ether);
    }

    function test_claim_revertsForNonHolder() public {
        uint256 id = depositAndSnapshot(1 ether);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NothingToClaim.selector, id));
        token.claim(id);
    }

    /// Snapshot timing: balances count as they stand at the end of the snapshot's block, so moving tokens
    /// in and out within the block (a flash loan) earns nothing, and moves after it change nothing.
    function test_snapshot_sameBlockMovesDoNotCount() public {
        deposit(10 ether);
        vm.warp(block.timestamp + INTERVAL);
        vm.prank(alice);
        assertTrue(token.transfer(bob, SUPPLY / 2)); // "borrowed"
        uint256 id = token.snapshot();
        vm.prank(bob);
        assertTrue(token.transfer(alice, SUPPLY / 2)); // "repaid" in the same block
        skipTime(1);
        assertEq(token.claimableRevenue(bob, id), 0);
        assertEq(token.claimableRevenue(alice, id), 8 ether);
        vm.prank(alice);
        assertTrue(token.transfer(carol, SUPPLY)); // later moves do not matter
        assertEq(token.claimableRevenue(alice, id), 8 ether);
        assertEq(token.claimableRevenue(carol, id), 0);
    }

    function test_claim_reentrancyIsBlocked() public {
        GreedyHolder g = new GreedyHolder(token);
        vm.prank(alice);
        assertTrue(token.transfer(address(g), SUPPLY / 2));
        skipTime(1);
        uint256 id = depositAndSnapshot(10 ether);
        g.claim(id);
        assertEq(address(g).balance, 4 ether);
        assertEq(
            keccak256(g.reentryError()),
            keccak256(abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector))
        );
    }

    function test_claim_revertsWhenReceiverRefuses() public {
        MuteHolder m = new MuteHolder();
        vm.prank(alice);
        assertTrue(token.transfer(address(m), SUPPLY / 2));
        skipTime(1);
        uint256 id = depositAndSnapshot(10 ether);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.TransferFailed.selector, address(m), 4 ether));
        m.claim(token, id);
        assertFalse(token.hasClaimed(address(m), id));
    }

    /// Nobody claims more than their share; all claims together never exceed the snapshot's revenue.
    function testFuzz_claim_neverMoreThanShare(uint96 rev, uint256 toBob, uint256 toCarol) public {
        toBob = bound(toBob, 0, SUPPLY);
        toCarol = bound(toCarol, 0, SUPPLY - toBob);
        vm.startPrank(alice);
        assertTrue(token.transfer(bob, toBob));
        assertTrue(token.transfer(carol, toCarol));
        vm.stopPrank();
        skipTime(1);
        rev = uint96(bound(rev, 2, type(uint96).max));
        vm.deal(address(this), rev);
        deposit(rev);
        vm.warp(block.timestamp + INTERVAL);
        uint256 id = token.snapshot();
        skipTime(1);
        uint256 revenue = token.snapshotInfo(id).revenue;
        address[3] memory hs = [alice, bob, carol];
        uint256 total;
        for (uint256 i = 0; i < 3; ++i) {
            uint256 c = token.claimableRevenue(hs[i], id);
            assertLte(c, (token.balanceOfAt(hs[i], id) * revenue) / token.totalSupplyAt(id));
            if (c > 0) {
                vm.prank(hs[i]);
                token.claim(id);
            }
            total += c;
        }
        assertLte(total, revenue);
        assertLt(revenue - total, 3); // rounding dust only
        assertEq(
            address(token).balance, token.claimReserve() + token.redeemReserve() + token.pendingRevenue()
        );
    }

    // ---------------------------------------------------------------------------------------------
    // burn and redeem
    // ---------------------------------------------------------------------------------------------

    function test_burn_redeemsShareOfUnassignedPool() public {
        vm.prank(alice);
        assertTrue(token.transfer(bob, SUPPLY / 4));
        deposit(10 ether); // 8 pending, 2 reserve
        assertEq(token.redeemableOnBurn(SUPPLY / 4), 2.5 ether);
        uint256 before = bob.balance;
        vm.expectEmit(address(token));
        emit Redeemed(bob, SUPPLY / 4, 2.5 ether);
        vm.prank(bob);
        token.burn(SUPPLY / 4);
        assertEq(bob.balance - before, 2.5 ether);
        assertEq(token.totalSupply(), (SUPPLY * 3) / 4);
        assertEq(token.pendingRevenue(), 6 ether);
        assertEq(token.redeemReserve(), 1.5 ether);
        // The next snapshot distributes the rest to the remaining holders: bob is not paid twice.
        vm.warp(block.timestamp + INTERVAL);
        uint256 id = token.snapshot();
        skipTime(1);
        assertEq(token.claimableRevenue(bob, id), 0);
        assertEq(token.claimableRevenue(alice, id), 6 ether);
    }

    function test_burn_sameBlockAsSnapshotNoDoubleDip() public {
        vm.prank(alice);
        assertTrue(token.transfer(bob, SUPPLY / 2));
        deposit(10 ether);
        vm.warp(block.timestamp + INTERVAL);
        vm.prank(bob);
        token.burn(SUPPLY / 2); // takes half of pending (4) and reserve (1)
        uint256 id = token.snapshot(); // same block
        skipTime(1);
        assertEq(token.claimableRevenue(bob, id), 0);
        assertEq(token.claimableRevenue(alice, id), 4 ether);
        assertEq(bob.balance, 5 ether);
    }

    function test_burn_allTakesEverythingUnassigned() public {
        deposit(10 ether);
        vm.prank(alice);
        token.burn(SUPPLY);
        assertEq(alice.balance, 10 ether);
        assertEq(token.totalSupply(), 0);
        assertEq(token.redeemableOnBurn(1), 0);
    }

    function test_burn_reverts() public {
        vm.prank(alice);
        vm.expectRevert(RevenueShare.ZeroAmount.selector);
        token.burn(0);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, bob, 0, 1));
        token.burn(1);
    }

    function testFuzz_redeemableOnBurn(uint128 rev, uint256 amount) public {
        vm.deal(address(this), rev);
        deposit(rev);
        amount = bound(amount, 0, SUPPLY * 2);
        uint256 expected = amount == 0
            ? 0
            : ((amount > SUPPLY ? SUPPLY : amount) * token.redeemReserve()) / SUPPLY
                + ((amount > SUPPLY ? SUPPLY : amount) * token.pendingRevenue()) / SUPPLY;
        assertEq(token.redeemableOnBurn(amount), expected);
        assertLte(token.redeemableOnBurn(amount), rev);
    }

    /// ETH forced into the token (selfdestruct, coinbase) is not revenue.
    function test_forceSentEth_isNotRevenue() public {
        deposit(10 ether);
        vm.deal(address(token), address(token).balance + 5 ether);
        assertEq(token.redeemableOnBurn(SUPPLY), 10 ether);
        vm.warp(block.timestamp + INTERVAL);
        uint256 id = token.snapshot();
        assertEq(token.snapshotInfo(id).revenue, 8 ether);
    }

    function testFuzz_claim_unknownSnapshotIds(uint256 id) public {
        depositAndSnapshot(1 ether);
        vm.assume(id != 1);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, id));
        token.claimableRevenue(alice, id);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, id));
        token.claim(id);
    }

    function testFuzz_burn_paysExactlyRedeemable(uint96 rev, uint256 amount) public {
        vm.deal(address(this), rev);
        deposit(rev);
        amount = bound(amount, 1, SUPPLY);
        uint256 expected = token.redeemableOnBurn(amount);
        uint256 reserves = token.redeemReserve() + token.pendingRevenue();
        vm.prank(alice);
        token.burn(amount);
        assertEq(alice.balance, expected);
        assertEq(token.redeemReserve() + token.pendingRevenue(), reserves - expected);
        assertEq(token.totalSupply(), SUPPLY - amount);
        assertEq(
            address(token).balance, token.claimReserve() + token.redeemReserve() + token.pendingRevenue()
        );
    }

    function testFuzz_constructor_supply(uint256 supply) public {
        if (supply == 0 || supply > type(uint208).max) {
            vm.expectRevert(abi.encodeWithSelector(RevenueShare.SupplyOutOfRange.selector, supply));
            new RevenueShare("R", "R", alice, supply, address(this), BPS, INTERVAL);
        } else {
            RevenueShare t = new RevenueShare("R", "R", alice, supply, address(this), BPS, INTERVAL);
            assertEq(t.totalSupply(), supply);
        }
    }

    function test_views_unknownSnapshot() public {
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, 3));
        token.snapshotInfo(3);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, 3));
        token.balanceOfAt(alice, 3);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, 3));
        token.totalSupplyAt(3);
    }

    function test_views_history() public {
        uint256 b0 = block.number;
        skipTime(1);
        vm.prank(alice);
        assertTrue(token.transfer(bob, 10));
        assertEq(token.balanceAtBlock(bob, b0), 0);
        assertEq(token.balanceAtBlock(bob, block.number), 10);
        assertEq(token.balanceAtBlock(alice, b0), SUPPLY);
        assertEq(token.supplyAtBlock(b0), SUPPLY);
    }
}
