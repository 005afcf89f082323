// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {TestBase} from "./utils/TestBase.sol";
import {RevenueShare} from "../contracts/RevenueShare.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// Claims and, while receiving, tries to claim again: with {claim} (mode 0), {claimFor} (1) or
/// {claimTo} (2).
contract GreedyHolder {
    RevenueShare internal immutable token;
    uint256 internal snapshotId;
    uint256 internal mode;
    bytes public reentryError;

    constructor(RevenueShare token_) {
        token = token_;
    }

    function claim(uint256 id) external {
        snapshotId = id;
        token.claim(id);
    }

    function setMode(uint256 id, uint256 mode_) external {
        snapshotId = id;
        mode = mode_;
    }

    receive() external payable {
        if (mode == 0) {
            try token.claim(snapshotId) {}
            catch (bytes memory err) {
                reentryError = err;
            }
        } else if (mode == 1) {
            try token.claimFor(address(this), snapshotId) {}
            catch (bytes memory err) {
                reentryError = err;
            }
        } else {
            try token.claimTo(address(this), snapshotId, address(this)) {}
            catch (bytes memory err) {
                reentryError = err;
            }
        }
    }
}

/// A holder without a receive function (an AMM pair, say), which can make the calls it is told to.
contract MuteHolder {
    function claim(RevenueShare token, uint256 id) external {
        token.claim(id);
    }

    function setClaimer(RevenueShare token, address claimer) external {
        token.setClaimer(claimer);
    }
}

/// A holder that accepts ETH but never calls the token (an escrow without a claim function).
contract PassiveVault {
    receive() external payable {}
}

/// @notice Unit tests of the ERC-7641 revenue-share token.
contract RevenueShareTest is TestBase {
    uint256 internal constant SUPPLY = 1000e18;
    uint256 internal constant BPS = 8000;
    uint256 internal constant INTERVAL = 1 days;
    uint256 internal constant WINDOW = 30 days;

    RevenueShare internal token;
    address internal alice;
    address internal bob;
    address internal carol;

    function setUp() public {
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        carol = makeAddr("carol");
        vm.deal(address(this), 1_000_000 ether);
        token = new RevenueShare("Rev", "REV", alice, SUPPLY, address(this), BPS, INTERVAL, WINDOW);
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

    function deadlineOf(uint256 id) internal view returns (uint256 deadline) {
        (deadline,,) = token.claimStatus(id);
    }

    /// The books: the balance is exactly the three reserves (nothing is force-sent in these tests), and
    /// the claim reserve is exactly what the snapshots not expired still owe.
    function assertBooks() internal {
        assertEq(
            address(token).balance,
            token.pendingRevenue() + token.redeemReserve() + token.claimReserve(),
            "balance = reserves"
        );
        uint256 owed;
        for (uint256 id = 1; id <= token.snapshotCount(); ++id) {
            (, uint256 unclaimed,) = token.claimStatus(id);
            owed += unclaimed;
        }
        assertEq(token.claimReserve(), owed, "claim reserve = unclaimed");
    }

    /// Gives bob and carol fuzzed parts of alice's tokens, deposits a fuzzed revenue (at least 1 wei for
    /// the snapshot) and snapshots it.
    function splitAndSnapshot(uint96 rev, uint256 toBob, uint256 toCarol)
        internal
        returns (uint256 id, uint256 revenue)
    {
        toBob = bound(toBob, 0, SUPPLY);
        toCarol = bound(toCarol, 0, SUPPLY - toBob);
        vm.startPrank(alice);
        assertTrue(token.transfer(bob, toBob));
        assertTrue(token.transfer(carol, toCarol));
        vm.stopPrank();
        skipTime(1);
        rev = uint96(bound(rev, 2, type(uint96).max));
        vm.deal(address(this), rev);
        id = depositAndSnapshot(rev);
        revenue = token.snapshotInfo(id).revenue;
    }

    /// Gives `who` `amount` of alice's tokens and moves to the next block.
    function give(address who, uint256 amount) internal {
        vm.prank(alice);
        assertTrue(token.transfer(who, amount));
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
        assertEq(token.claimWindow(), WINDOW);
        assertEq(token.lastSnapshotAt(), block.timestamp);
        assertEq(token.balanceAtBlock(alice, block.number), SUPPLY);
        assertEq(token.supplyAtBlock(block.number), SUPPLY);
        assertEq(token.snapshotCount(), 0);
    }

    function test_constructor_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.SupplyOutOfRange.selector, 0));
        new RevenueShare("R", "R", alice, 0, address(this), BPS, INTERVAL, WINDOW);
        uint256 tooMuch = uint256(type(uint208).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.SupplyOutOfRange.selector, tooMuch));
        new RevenueShare("R", "R", alice, tooMuch, address(this), BPS, INTERVAL, WINDOW);
        vm.expectRevert(RevenueShare.ZeroAddress.selector);
        new RevenueShare("R", "R", address(0), SUPPLY, address(this), BPS, INTERVAL, WINDOW);
        vm.expectRevert(RevenueShare.ZeroAddress.selector);
        new RevenueShare("R", "R", alice, SUPPLY, address(0), BPS, INTERVAL, WINDOW);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.ClaimableBpsOutOfRange.selector, 10_001));
        new RevenueShare("R", "R", alice, SUPPLY, address(this), 10_001, INTERVAL, WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(RevenueShare.SnapshotIntervalOutOfRange.selector, 365 days + 1)
        );
        new RevenueShare("R", "R", alice, SUPPLY, address(this), BPS, 365 days + 1, WINDOW);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.ClaimWindowOutOfRange.selector, 7 days - 1));
        new RevenueShare("R", "R", alice, SUPPLY, address(this), BPS, INTERVAL, 7 days - 1);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.ClaimWindowOutOfRange.selector, 365 days + 1));
        new RevenueShare("R", "R", alice, SUPPLY, address(this), BPS, INTERVAL, 365 days + 1);
    }

    function testFuzz_constructor_claimWindow(uint256 window) public {
        if (window < 7 days || window > 365 days) {
            vm.expectRevert(abi.encodeWithSelector(RevenueShare.ClaimWindowOutOfRange.selector, window));
            new RevenueShare("R", "R", alice, SUPPLY, address(this), BPS, INTERVAL, window);
        } else {
            RevenueShare t = new RevenueShare("R", "R", alice, SUPPLY, address(this), BPS, INTERVAL, window);
            assertEq(t.claimWindow(), window);
        }
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
        RevenueShare t = new RevenueShare("R", "R", alice, SUPPLY, address(this), bps, INTERVAL, WINDOW);
        uint256 toSnapshots = (uint256(amount) * bps) / 10_000;
        vm.deal(address(this), amount);
        vm.expectEmit(address(t));
        emit RevenueShare.RevenueDeposited(amount, toSnapshots, amount - toSnapshots);
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
        emit RevenueShare.SnapshotTaken(1, block.number, 8 ether);
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
        assertEq(s.claimed, 0);
        assertEq(uint256(s.claimDeadline), block.timestamp + WINDOW);
        assertFalse(s.expired);
        (uint256 deadline, uint256 unclaimed, bool expired) = token.claimStatus(1);
        assertEq(deadline, block.timestamp + WINDOW);
        assertEq(unclaimed, 8 ether);
        assertFalse(expired);
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
        emit RevenueShare.RevenueClaimed(bob, id, 2 ether);
        vm.prank(bob);
        token.claim(id);
        assertEq(bob.balance - before, 2 ether);
        assertTrue(token.hasClaimed(bob, id));
        assertEq(token.claimableRevenue(bob, id), 0);
        assertEq(token.claimReserve(), 6 ether);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NothingToClaim.selector, bob, id));
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
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NothingToClaim.selector, carol, id));
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
        (uint256 id, uint256 revenue) = splitAndSnapshot(rev, toBob, toCarol);
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
    // claim deadline and expiry
    // ---------------------------------------------------------------------------------------------

    function test_claim_atTheDeadlineSucceeds() public {
        uint256 id = depositAndSnapshot(10 ether);
        uint256 deadline = deadlineOf(id);
        assertEq(deadline, token.lastSnapshotAt() + WINDOW);
        vm.warp(deadline);
        assertEq(token.claimableRevenue(alice, id), 8 ether);
        vm.prank(alice);
        token.claim(id);
        assertEq(alice.balance, 8 ether);
        assertBooks();
    }

    function test_claim_afterTheDeadlineReverts() public {
        give(bob, SUPPLY / 4);
        uint256 id = depositAndSnapshot(10 ether);
        uint256 deadline = deadlineOf(id);
        vm.warp(deadline + 1);
        assertEq(token.claimableRevenue(alice, id), 0);
        bytes memory closed = abi.encodeWithSelector(RevenueShare.ClaimWindowClosed.selector, id, deadline);
        vm.prank(alice);
        vm.expectRevert(closed);
        token.claim(id);
        vm.prank(carol);
        vm.expectRevert(closed);
        token.claimFor(bob, id);
        vm.prank(bob);
        vm.expectRevert(closed);
        token.claimTo(bob, id, carol);
        assertEq(token.claimReserve(), 8 ether);
        assertFalse(token.hasClaimed(alice, id));
    }

    function test_expire_returnsTheRemainderToPendingRevenue() public {
        give(bob, SUPPLY / 4);
        uint256 id = depositAndSnapshot(10 ether); // 8 ether: alice 6, bob 2
        vm.prank(bob);
        token.claim(id);
        uint256 deadline = deadlineOf(id);
        vm.warp(deadline + 1);
        vm.expectEmit(address(token));
        emit RevenueShare.SnapshotExpired(id, 6 ether);
        vm.prank(carol); // anyone
        assertEq(token.expire(id), 6 ether);
        assertEq(token.pendingRevenue(), 6 ether);
        assertEq(token.claimReserve(), 0);
        assertEq(token.redeemReserve(), 2 ether);
        (uint256 d, uint256 unclaimed, bool expired) = token.claimStatus(id);
        assertEq(d, deadline);
        assertEq(unclaimed, 0);
        assertTrue(expired);
        RevenueShare.Snapshot memory s = token.snapshotInfo(id);
        assertTrue(s.expired);
        assertEq(s.claimed, 2 ether);
        assertEq(s.revenue, 8 ether);
        // The remainder counts for redemptions until the next snapshot assigns it.
        assertEq(token.redeemableOnBurn(SUPPLY / 4), (2 ether + 6 ether) / 4);
        assertBooks();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.ClaimWindowClosed.selector, id, deadline));
        token.claim(id);
    }

    function test_expire_revertsUpToTheDeadline() public {
        uint256 id = depositAndSnapshot(10 ether);
        uint256 deadline = deadlineOf(id);
        bytes memory open = abi.encodeWithSelector(RevenueShare.ClaimWindowOpen.selector, id, deadline);
        vm.expectRevert(open);
        token.expire(id);
        vm.warp(deadline);
        vm.expectRevert(open);
        token.expire(id);
        vm.warp(deadline + 1);
        assertEq(token.expire(id), 8 ether);
    }

    function test_expire_revertsTheSecondTime() public {
        uint256 id = depositAndSnapshot(10 ether);
        vm.warp(deadlineOf(id) + 1);
        token.expire(id);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.AlreadyExpired.selector, id));
        token.expire(id);
        assertEq(token.pendingRevenue(), 8 ether);
    }

    function test_expire_revertsForUnknownSnapshot() public {
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, 0));
        token.expire(0);
        depositAndSnapshot(1 ether);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, 2));
        token.expire(2);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, 2));
        token.claimStatus(2);
    }

    /// Rounding dust is part of the remainder: three thirds of 10 wei pay 3 wei each, 1 wei returns.
    function test_expire_returnsRoundingDust() public {
        vm.startPrank(alice);
        assertTrue(token.transfer(bob, SUPPLY / 3));
        assertTrue(token.transfer(carol, SUPPLY / 3));
        vm.stopPrank();
        skipTime(1);
        uint256 id = depositAndSnapshot(13); // 10 wei to the snapshot
        address[3] memory hs = [alice, bob, carol];
        for (uint256 i = 0; i < 3; ++i) {
            vm.prank(hs[i]);
            token.claim(id);
            assertEq(hs[i].balance, 3);
        }
        (, uint256 unclaimed,) = token.claimStatus(id);
        assertEq(unclaimed, 1);
        vm.warp(deadlineOf(id) + 1);
        assertEq(token.expire(id), 1);
        assertEq(token.claimReserve(), 0);
        assertBooks();
    }

    function test_expire_fullyClaimedReturnsNothing() public {
        give(bob, SUPPLY / 4);
        uint256 id = depositAndSnapshot(10 ether);
        vm.prank(alice);
        token.claim(id);
        vm.prank(bob);
        token.claim(id);
        vm.warp(deadlineOf(id) + 1);
        vm.expectEmit(address(token));
        emit RevenueShare.SnapshotExpired(id, 0);
        assertEq(token.expire(id), 0);
        assertEq(token.pendingRevenue(), 0);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.AlreadyExpired.selector, id));
        token.expire(id);
    }

    /// The part of a holder that can neither claim nor be paid (an AMM pair) goes back to the pool at
    /// expiry and the next snapshot distributes it pro rata to the holders of that snapshot, without a
    /// new deposit.
    function test_expire_thenNextSnapshotDistributesTheRemainderProRata() public {
        MuteHolder pair = new MuteHolder();
        give(address(pair), SUPPLY / 4);
        uint256 id = depositAndSnapshot(10 ether); // 8 ether: alice 6, pair 2
        vm.prank(alice);
        token.claim(id);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.TransferFailed.selector, address(pair), 2 ether));
        token.claimFor(address(pair), id);
        vm.warp(deadlineOf(id) + 1);
        assertEq(token.expire(id), 2 ether);
        give(bob, SUPPLY / 4); // the next snapshot: alice 1/2, bob 1/4, pair 1/4
        uint256 id2 = token.snapshot();
        skipTime(1);
        assertEq(token.snapshotInfo(id2).revenue, 2 ether);
        assertEq(token.claimableRevenue(alice, id2), 1 ether);
        assertEq(token.claimableRevenue(bob, id2), 0.5 ether);
        assertEq(token.claimableRevenue(address(pair), id2), 0.5 ether);
        vm.prank(bob);
        token.claim(id2);
        assertEq(bob.balance, 0.5 ether);
        assertEq(token.pendingRevenue(), 0);
        assertBooks();
    }

    /// Just before, at and after the deadline: claims work up to and including it, expiry only after.
    function testFuzz_claimWindow_timing(uint256 wait) public {
        give(bob, SUPPLY / 4);
        uint256 id = depositAndSnapshot(10 ether);
        uint256 deadline = deadlineOf(id);
        uint256 t = bound(wait, block.timestamp, deadline + 2 * WINDOW);
        vm.warp(t);
        if (t <= deadline) {
            assertEq(token.claimableRevenue(bob, id), 2 ether);
            vm.expectRevert(abi.encodeWithSelector(RevenueShare.ClaimWindowOpen.selector, id, deadline));
            token.expire(id);
            vm.prank(bob);
            token.claim(id);
            assertEq(bob.balance, 2 ether);
        } else {
            assertEq(token.claimableRevenue(bob, id), 0);
            vm.prank(bob);
            vm.expectRevert(abi.encodeWithSelector(RevenueShare.ClaimWindowClosed.selector, id, deadline));
            token.claim(id);
            assertEq(token.expire(id), 8 ether);
            assertEq(token.pendingRevenue(), 8 ether);
        }
        assertBooks();
    }

    /// Whatever was claimed, by whichever path, expiry returns exactly the rest and the next snapshot
    /// distributes it pro rata.
    function testFuzz_expire_returnsExactlyTheUnclaimed(
        uint96 rev,
        uint256 toBob,
        uint256 toCarol,
        uint256 claims,
        uint256 late
    ) public {
        (uint256 id, uint256 revenue) = splitAndSnapshot(rev, toBob, toCarol);
        uint256 paid = claimAll(id, claims);
        vm.warp(deadlineOf(id) + 1 + bound(late, 0, 365 days));
        uint256 pendingBefore = token.pendingRevenue();
        assertEq(token.expire(id), revenue - paid);
        assertEq(token.pendingRevenue(), pendingBefore + revenue - paid);
        assertEq(token.claimReserve(), 0);
        assertBooks();
        if (revenue == paid) return;
        uint256 id2 = token.snapshot();
        skipTime(1);
        address[3] memory hs = [alice, bob, carol];
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(
                token.claimableRevenue(hs[i], id2),
                Math.mulDiv(token.balanceOfAt(hs[i], id2), revenue - paid, token.totalSupplyAt(id2))
            );
        }
    }

    /// Claims the share of each of alice, bob and carol that has one, each by the path chosen by two
    /// bits of `paths` (claim, claimFor by a stranger, claimTo by its claimer to a payee, or not at
    /// all), checks each payout and returns their sum.
    function claimAll(uint256 id, uint256 paths) internal returns (uint256 paid) {
        address[3] memory hs = [alice, bob, carol];
        address stranger = makeAddr("stranger");
        address payee = makeAddr("payee");
        for (uint256 i = 0; i < 3; ++i) {
            uint256 amount = token.claimableRevenue(hs[i], id);
            uint256 path = (paths >> (2 * i)) % 4;
            if (amount == 0 || path == 3) continue;
            address receiver = path == 2 ? payee : hs[i];
            uint256 before = receiver.balance;
            if (path == 0) {
                vm.prank(hs[i]);
                token.claim(id);
            } else if (path == 1) {
                vm.prank(stranger);
                token.claimFor(hs[i], id);
            } else {
                vm.prank(hs[i]);
                token.setClaimer(stranger);
                vm.prank(stranger);
                token.claimTo(hs[i], id, payee);
            }
            assertEq(receiver.balance - before, amount, "paid the share");
            assertTrue(token.hasClaimed(hs[i], id));
            paid += amount;
        }
        (, uint256 unclaimed,) = token.claimStatus(id);
        assertEq(unclaimed, token.snapshotInfo(id).revenue - paid);
    }

    // ---------------------------------------------------------------------------------------------
    // claims on behalf of an account
    // ---------------------------------------------------------------------------------------------

    function test_claimFor_paysTheAccount() public {
        give(bob, SUPPLY / 4);
        uint256 id = depositAndSnapshot(10 ether);
        vm.expectEmit(address(token));
        emit RevenueShare.RevenueClaimedFor(bob, id, carol, 2 ether);
        vm.prank(carol);
        token.claimFor(bob, id);
        assertEq(bob.balance, 2 ether);
        assertEq(carol.balance, 0);
        assertTrue(token.hasClaimed(bob, id));
        assertEq(token.claimReserve(), 6 ether);
        assertBooks();
    }

    /// A contract that accepts ETH but has no way to call the token is paid through {claimFor}.
    function test_claimFor_paysAContractThatCannotCall() public {
        PassiveVault vault = new PassiveVault();
        give(address(vault), SUPPLY / 2);
        uint256 id = depositAndSnapshot(10 ether);
        token.claimFor(address(vault), id);
        assertEq(address(vault).balance, 4 ether);
        assertBooks();
    }

    function test_claimFor_toAContractThatRejectsEthRevertsWithoutLoss() public {
        MuteHolder m = new MuteHolder();
        give(address(m), SUPPLY / 2);
        uint256 id = depositAndSnapshot(10 ether);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.TransferFailed.selector, address(m), 4 ether));
        token.claimFor(address(m), id);
        assertFalse(token.hasClaimed(address(m), id));
        assertEq(token.claimableRevenue(address(m), id), 4 ether);
        assertEq(token.claimReserve(), 8 ether);
        (, uint256 unclaimed,) = token.claimStatus(id);
        assertEq(unclaimed, 8 ether);
        assertEq(address(token).balance, 10 ether);
        assertBooks();
    }

    function test_claimFor_reverts() public {
        deposit(10 ether);
        vm.warp(block.timestamp + INTERVAL);
        uint256 id = token.snapshot();
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.SnapshotNotFinal.selector, id));
        token.claimFor(alice, id);
        skipTime(1);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, id + 1));
        token.claimFor(alice, id + 1);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NothingToClaim.selector, carol, id));
        token.claimFor(carol, id);
        token.claimFor(alice, id);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NothingToClaim.selector, alice, id));
        token.claimFor(alice, id);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NothingToClaim.selector, alice, id));
        token.claim(id);
    }

    function test_setClaimer_setsReplacesAndRevokes() public {
        assertEq(token.claimerOf(alice), address(0));
        vm.expectEmit(address(token));
        emit RevenueShare.ClaimerSet(alice, bob);
        vm.prank(alice);
        token.setClaimer(bob);
        assertEq(token.claimerOf(alice), bob);
        vm.prank(alice);
        token.setClaimer(carol);
        assertEq(token.claimerOf(alice), carol);
        uint256 id = depositAndSnapshot(10 ether);
        vm.prank(bob); // replaced
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NotClaimer.selector, bob, alice));
        token.claimTo(alice, id, bob);
        vm.expectEmit(address(token));
        emit RevenueShare.ClaimerSet(alice, address(0));
        vm.prank(alice);
        token.setClaimer(address(0));
        assertEq(token.claimerOf(alice), address(0));
        vm.prank(carol); // revoked
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NotClaimer.selector, carol, alice));
        token.claimTo(alice, id, carol);
    }

    function test_claimTo_byTheClaimerPaysTheRecipient() public {
        give(bob, SUPPLY / 4);
        uint256 id = depositAndSnapshot(10 ether);
        vm.prank(alice);
        token.setClaimer(bob);
        address payee = makeAddr("payee");
        vm.expectEmit(address(token));
        emit RevenueShare.RevenueClaimedTo(alice, id, payee, bob, 6 ether);
        vm.prank(bob);
        token.claimTo(alice, id, payee);
        assertEq(payee.balance, 6 ether);
        assertEq(alice.balance, 0);
        assertEq(bob.balance, 0);
        assertTrue(token.hasClaimed(alice, id));
        assertFalse(token.hasClaimed(bob, id)); // the claimer's own share is untouched
        assertEq(token.claimableRevenue(bob, id), 2 ether);
        assertBooks();
    }

    function test_claimTo_byTheAccountPaysTheRecipient() public {
        uint256 id = depositAndSnapshot(10 ether);
        vm.expectEmit(address(token));
        emit RevenueShare.RevenueClaimedTo(alice, id, carol, alice, 8 ether);
        vm.prank(alice);
        token.claimTo(alice, id, carol);
        assertEq(carol.balance, 8 ether);
        assertBooks();
    }

    /// A contract that cannot receive ETH but can make a call (an escrow with an owner) names a claimer,
    /// which then claims its share to an address that can receive.
    function test_claimTo_getsTheShareOfAContractThatRejectsEth() public {
        MuteHolder escrow = new MuteHolder();
        give(address(escrow), SUPPLY / 2);
        uint256 id = depositAndSnapshot(10 ether);
        escrow.setClaimer(token, bob);
        vm.prank(bob);
        token.claimTo(address(escrow), id, bob);
        assertEq(bob.balance, 4 ether);
        assertTrue(token.hasClaimed(address(escrow), id));
        assertBooks();
    }

    function test_claimTo_byNonClaimerReverts() public {
        give(bob, SUPPLY / 4);
        uint256 id = depositAndSnapshot(10 ether);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NotClaimer.selector, carol, alice));
        token.claimTo(alice, id, carol);
        // A claimer of one account is nobody's claimer for another.
        vm.prank(alice);
        token.setClaimer(carol);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NotClaimer.selector, carol, bob));
        token.claimTo(bob, id, carol);
        assertEq(token.claimReserve(), 8 ether);
        assertFalse(token.hasClaimed(alice, id));
        assertFalse(token.hasClaimed(bob, id));
    }

    function test_claimTo_reverts() public {
        deposit(10 ether);
        vm.warp(block.timestamp + INTERVAL);
        uint256 id = token.snapshot();
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.SnapshotNotFinal.selector, id));
        token.claimTo(alice, id, bob);
        skipTime(1);
        vm.expectRevert(RevenueShare.ZeroRecipient.selector);
        token.claimTo(alice, id, address(0));
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.UnknownSnapshot.selector, id + 1));
        token.claimTo(alice, id + 1, bob);
        MuteHolder mute = new MuteHolder();
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.TransferFailed.selector, address(mute), 8 ether));
        token.claimTo(alice, id, address(mute));
        assertFalse(token.hasClaimed(alice, id));
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.TransferFailed.selector, address(token), 8 ether));
        token.claimTo(alice, id, address(token));
        token.claimTo(alice, id, bob);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NothingToClaim.selector, alice, id));
        token.claimTo(alice, id, bob);
        vm.stopPrank();
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(RevenueShare.NothingToClaim.selector, carol, id));
        token.claimTo(carol, id, bob);
        assertBooks();
    }

    function test_claimForAndClaimTo_reentrancyIsBlocked() public {
        GreedyHolder g = new GreedyHolder(token);
        give(address(g), SUPPLY / 2);
        uint256 id = depositAndSnapshot(10 ether);
        bytes memory guard =
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        g.setMode(id, 1); // on receipt, claimFor again
        token.claimFor(address(g), id);
        assertEq(address(g).balance, 4 ether);
        assertEq(keccak256(g.reentryError()), keccak256(guard));
        uint256 id2 = depositAndSnapshot(10 ether);
        g.setMode(id2, 2); // on receipt, claimTo again
        vm.prank(address(g));
        token.claimTo(address(g), id2, address(g));
        assertEq(address(g).balance, 8 ether);
        assertEq(keccak256(g.reentryError()), keccak256(guard));
        assertBooks();
    }

    /// Every holder claims by any path: each is paid exactly its share, and the snapshot never pays more
    /// than its revenue.
    function testFuzz_claimPaths_payExactlyTheShare(uint96 rev, uint256 toBob, uint256 toCarol, uint256 paths)
        public
    {
        (uint256 id, uint256 revenue) = splitAndSnapshot(rev, toBob, toCarol);
        uint256 paid = claimAll(id, paths);
        assertLte(paid, revenue);
        assertEq(token.claimReserve(), revenue - paid);
        assertBooks();
    }

    /// A supply near 2^208 times any revenue exceeds 2^256: claims and burns still pay (mulDiv), so no
    /// revenue is locked by an overflow.
    function testFuzz_largeSupply_claimAndBurnPay(uint256 supply, uint96 rev, uint256 toBob) public {
        supply = bound(supply, 1 << 128, type(uint208).max);
        RevenueShare t = new RevenueShare("R", "R", alice, supply, address(this), BPS, INTERVAL, WINDOW);
        toBob = bound(toBob, 1, supply);
        vm.prank(alice);
        assertTrue(t.transfer(bob, toBob));
        skipTime(1);
        rev = uint96(bound(rev, 1 ether, type(uint96).max));
        vm.deal(address(this), uint256(rev) * 2);
        t.depositRevenue{value: rev}();
        vm.warp(block.timestamp + INTERVAL);
        uint256 id = t.snapshot();
        skipTime(1);
        uint256 revenue = t.snapshotInfo(id).revenue;
        uint256 share = Math.mulDiv(toBob, revenue, supply);
        assertEq(t.claimableRevenue(bob, id), share);
        if (share != 0) {
            vm.prank(bob);
            t.claim(id);
            assertEq(bob.balance, share);
        }
        t.depositRevenue{value: rev}();
        uint256 redeem = t.redeemableOnBurn(toBob);
        assertEq(
            redeem,
            Math.mulDiv(toBob, t.redeemReserve(), supply) + Math.mulDiv(toBob, t.pendingRevenue(), supply)
        );
        vm.prank(bob);
        t.burn(toBob);
        assertEq(bob.balance, share + redeem);
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
        emit RevenueShare.Redeemed(bob, SUPPLY / 4, 2.5 ether);
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
            new RevenueShare("R", "R", alice, supply, address(this), BPS, INTERVAL, WINDOW);
        } else {
            RevenueShare t = new RevenueShare("R", "R", alice, supply, address(this), BPS, INTERVAL, WINDOW);
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
