// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GameHarness} from "./utils/GameHarness.sol";
import {TraceVM} from "./utils/TraceVM.sol";
import {DisputeGame} from "../contracts/DisputeGame.sol";
import {IDisputeGame} from "../contracts/interfaces/IDisputeGame.sol";
import {IOneStepVerifier} from "../contracts/interfaces/IOneStepVerifier.sol";

/// @notice Unit tests of every DisputeGame function and revert path.
contract DisputeGameTest is GameHarness {
    bytes32 internal constant SEED = keccak256("seed");
    uint64 internal constant H = 100; // honest halting step

    bytes32 internal start;
    bytes32 internal honestEnd;

    event GameCreated(
        uint256 indexed gameId,
        address indexed defender,
        address indexed challenger,
        bytes32 start,
        bytes32 end,
        uint64 steps
    );
    event Dissected(
        uint256 indexed gameId, address indexed mover, uint256 part, uint64 lo, uint64 hi, bytes32[] points
    );
    event StepVerified(
        uint256 indexed gameId,
        address indexed mover,
        uint64 index,
        bytes32 preState,
        bytes32 assertedPost,
        bytes32 verifiedPost
    );
    event GameEnded(uint256 indexed gameId, bool defenderWon, bool byTimeout);
    event GameCancelled(uint256 indexed gameId);

    function setUp() public {
        setUpGame(8);
        start = traceVm.stateHash(SEED, 0, H);
        honestEnd = traceVm.stateHash(SEED, H, H);
    }

    // ---------------------------------------------------------------------------------------------
    // helpers
    // ---------------------------------------------------------------------------------------------

    function honestPoints(uint64 lo, uint64 hi) internal view returns (bytes32[] memory pts) {
        uint256 m = game.partCount(hi - lo);
        pts = new bytes32[](m + 1);
        for (uint256 i = 0; i <= m; ++i) {
            pts[i] = traceVm.stateHash(SEED, game.boundary(lo, hi, i), H);
        }
    }

    function lies(bytes32 first, uint256 n, bytes32 salt) internal pure returns (bytes32[] memory pts) {
        pts = new bytes32[](n);
        pts[0] = first;
        for (uint256 i = 1; i < n; ++i) {
            pts[i] = keccak256(abi.encode(salt, i));
        }
    }

    function proofFor(uint64 i) internal pure returns (bytes memory) {
        return abi.encode(SEED, i, H);
    }

    /// An honest claim over H steps, dissected by the defender.
    function openDissected() internal returns (uint256 id, bytes32[] memory pts) {
        id = open(SEED, H, honestEnd, H);
        pts = honestPoints(0, H);
        vm.prank(defender);
        game.dissect(id, pts);
    }

    // ---------------------------------------------------------------------------------------------
    // constructor
    // ---------------------------------------------------------------------------------------------

    function test_constructor_storesParameters() public {
        assertEq(game.owner(), address(this));
        assertEq(address(game.verifier()), address(traceVm));
        assertEq(game.arity(), 8);
        assertEq(uint256(game.clockBudget()), uint256(CLOCK));
        assertEq(game.gameCount(), 0);
    }

    function testFuzz_constructor_rejectsArityOutOfRange(uint256 arity) public {
        vm.assume(arity < 8 || arity > 32);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ArityOutOfRange.selector, arity));
        new DisputeGame(address(this), IOneStepVerifier(address(traceVm)), arity, CLOCK);
    }

    function testFuzz_constructor_acceptsArityInRange(uint256 arity) public {
        arity = bound(arity, 8, 32);
        DisputeGame g = new DisputeGame(address(this), IOneStepVerifier(address(traceVm)), arity, CLOCK);
        assertEq(g.arity(), arity);
    }

    function test_constructor_rejectsZeroClock() public {
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClockOutOfRange.selector, uint64(0)));
        new DisputeGame(address(this), IOneStepVerifier(address(traceVm)), 8, 0);
    }

    function testFuzz_constructor_rejectsHugeClock(uint64 clock) public {
        clock = uint64(bound(clock, uint256(type(uint40).max) + 1, type(uint64).max));
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClockOutOfRange.selector, clock));
        new DisputeGame(address(this), IOneStepVerifier(address(traceVm)), 8, clock);
    }

    // ---------------------------------------------------------------------------------------------
    // create
    // ---------------------------------------------------------------------------------------------

    function test_create_opensGameAwaitingDissection() public {
        vm.expectEmit(address(game));
        emit GameCreated(1, defender, challenger, start, honestEnd, H);
        uint256 id = open(SEED, H, honestEnd, H);
        assertEq(id, 1);
        assertEq(game.gameCount(), 1);
        DisputeGame.Game memory g = game.game(id);
        assertEq(g.defender, defender);
        assertEq(g.challenger, challenger);
        assertEq(uint256(g.defenderClock), uint256(CLOCK));
        assertEq(uint256(g.challengerClock), uint256(CLOCK));
        assertEq(uint256(g.lo), 0);
        assertEq(uint256(g.hi), uint256(H));
        assertEq(uint256(g.lastMoveAt), block.timestamp);
        assertTrue(g.defenderAsserts);
        assertEq(uint256(g.moves), 0);
        assertEq(g.points, keccak256(abi.encodePacked(start, honestEnd)));
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.AwaitingDissection));
        assertEq(game.toMove(id), defender);
    }

    function test_create_singleStepGameAwaitsChallengerStep() public {
        uint256 id = game.create(defender, challenger, start, traceVm.stateHash(SEED, 1, H), 1);
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.AwaitingResponse));
        assertEq(game.toMove(id), challenger);
    }

    function test_create_revertsForNonOwner() public {
        vm.prank(defender);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotOwner.selector, defender));
        game.create(defender, challenger, start, honestEnd, H);
    }

    function test_create_revertsForZeroSteps() public {
        vm.expectRevert(DisputeGame.ZeroSteps.selector);
        game.create(defender, challenger, start, honestEnd, 0);
    }

    function test_create_revertsForBadParties() public {
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.BadParties.selector, address(0), challenger));
        game.create(address(0), challenger, start, honestEnd, H);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.BadParties.selector, defender, address(0)));
        game.create(defender, address(0), start, honestEnd, H);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.BadParties.selector, defender, defender));
        game.create(defender, defender, start, honestEnd, H);
    }

    // ---------------------------------------------------------------------------------------------
    // cancel
    // ---------------------------------------------------------------------------------------------

    function test_cancel_endsLiveGameWithoutCallback() public {
        uint256 id = open(SEED, H, honestEnd, H);
        vm.expectEmit(address(game));
        emit GameCancelled(id);
        game.cancel(id);
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.Cancelled));
        assertEq(endedCalls[id], 0);
        assertEq(game.toMove(id), address(0));
        bytes32[] memory pts = honestPoints(0, H);
        vm.prank(defender);
        vm.expectRevert(
            abi.encodeWithSelector(DisputeGame.WrongStatus.selector, id, IDisputeGame.Status.Cancelled)
        );
        game.dissect(id, pts);
        vm.expectRevert(
            abi.encodeWithSelector(DisputeGame.WrongStatus.selector, id, IDisputeGame.Status.Cancelled)
        );
        game.timeout(id);
    }

    function test_cancel_revertsForNonOwner() public {
        uint256 id = open(SEED, H, honestEnd, H);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotOwner.selector, challenger));
        game.cancel(id);
    }

    function test_cancel_revertsForUnknownGame() public {
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.UnknownGame.selector, 7));
        game.cancel(7);
    }

    function test_cancel_revertsForEndedGame() public {
        uint256 id = open(SEED, H, honestEnd, H);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(id);
        vm.expectRevert(
            abi.encodeWithSelector(DisputeGame.WrongStatus.selector, id, IDisputeGame.Status.ChallengerWon)
        );
        game.cancel(id);
    }

    // ---------------------------------------------------------------------------------------------
    // dissect
    // ---------------------------------------------------------------------------------------------

    function test_dissect_recordsPointsAndPassesTheMove() public {
        uint256 id = open(SEED, H, honestEnd, H);
        bytes32[] memory pts = honestPoints(0, H);
        vm.warp(block.timestamp + 100);
        vm.expectEmit(address(game));
        emit Dissected(id, defender, type(uint256).max, 0, H, pts);
        vm.prank(defender);
        game.dissect(id, pts);
        DisputeGame.Game memory g = game.game(id);
        assertEq(g.points, keccak256(abi.encodePacked(pts)));
        assertEq(uint256(g.moves), 1);
        assertEq(uint256(g.defenderClock), uint256(CLOCK) - 100);
        assertEq(uint256(g.challengerClock), uint256(CLOCK));
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.AwaitingResponse));
        assertEq(game.toMove(id), challenger);
    }

    function test_dissect_revertsForUnknownGame() public {
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.UnknownGame.selector, 3));
        game.dissect(3, new bytes32[](9));
    }

    function test_dissect_revertsWhenNotAwaitingDissection() public {
        (uint256 id, bytes32[] memory pts) = openDissected();
        vm.prank(defender);
        vm.expectRevert(
            abi.encodeWithSelector(DisputeGame.WrongStatus.selector, id, IDisputeGame.Status.AwaitingResponse)
        );
        game.dissect(id, pts);
    }

    function test_dissect_revertsForChallenger() public {
        uint256 id = open(SEED, H, honestEnd, H);
        bytes32[] memory pts = honestPoints(0, H);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotYourMove.selector, challenger, defender));
        game.dissect(id, pts);
    }

    function test_dissect_revertsAfterClockExpired() public {
        uint256 id = open(SEED, H, honestEnd, H);
        bytes32[] memory pts = honestPoints(0, H);
        vm.warp(block.timestamp + CLOCK + 1);
        vm.prank(defender);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClockExpired.selector, id, defender));
        game.dissect(id, pts);
    }

    function test_dissect_allowedWithExactlyZeroClockLeft() public {
        uint256 id = open(SEED, H, honestEnd, H);
        bytes32[] memory pts = honestPoints(0, H);
        vm.warp(block.timestamp + CLOCK);
        vm.prank(defender);
        game.dissect(id, pts);
        assertEq(uint256(game.game(id).defenderClock), 0);
    }

    function test_dissect_revertsForWrongPointCount() public {
        uint256 id = open(SEED, H, honestEnd, H);
        vm.prank(defender);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.WrongPointCount.selector, 8, 9));
        game.dissect(id, new bytes32[](8));
    }

    function test_dissect_revertsWhenEndPointsChange() public {
        uint256 id = open(SEED, H, honestEnd, H);
        bytes32[] memory pts = honestPoints(0, H);
        pts[8] = keccak256("other end");
        vm.prank(defender);
        vm.expectRevert(DisputeGame.PointsMismatch.selector);
        game.dissect(id, pts);
        pts = honestPoints(0, H);
        pts[0] = keccak256("other start");
        vm.prank(defender);
        vm.expectRevert(DisputeGame.PointsMismatch.selector);
        game.dissect(id, pts);
    }

    /// The owner's hook sees the first move and can refuse it (the market does until the defender's
    /// side of a challenger-backed game is funded); the move then changes nothing.
    function test_dissect_refusedByTheOwner() public {
        uint256 id = open(SEED, H, honestEnd, H);
        bytes32[] memory pts = honestPoints(0, H);
        dissectRefused[id] = true;
        vm.prank(defender);
        vm.expectRevert(bytes("dissection refused by the owner"));
        game.dissect(id, pts);
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.AwaitingDissection));
        assertEq(uint256(game.game(id).moves), 0);
        dissectRefused[id] = false;
        vm.prank(defender);
        game.dissect(id, pts);
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.AwaitingResponse));
    }

    // ---------------------------------------------------------------------------------------------
    // multicall
    // ---------------------------------------------------------------------------------------------

    /// One transaction moves in several games as their party, each call standing alone: a call into an
    /// ended game fails without undoing the others.
    function test_multicall_movesInSeveralGamesAndKeepsTheOthersWhenOneFails() public {
        uint256 ended = open(SEED, H, honestEnd, H);
        bytes32[] memory pts = honestPoints(0, H);
        vm.prank(defender);
        game.dissect(ended, pts);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(ended); // the challenger stalled
        uint256 a = open(SEED, H, honestEnd, H);
        uint256 b = open(SEED, H, honestEnd, H);
        uint256 c = open(SEED, H, honestEnd, H);
        bytes[] memory calls = new bytes[](4);
        calls[0] = abi.encodeCall(DisputeGame.dissect, (a, pts));
        calls[1] = abi.encodeCall(DisputeGame.dissect, (ended, pts));
        calls[2] = abi.encodeCall(DisputeGame.dissect, (b, pts));
        calls[3] = abi.encodeCall(DisputeGame.dissect, (c, pts));
        vm.prank(defender);
        bool[] memory ok = game.multicall(calls);
        assertTrue(ok[0]);
        assertFalse(ok[1]);
        assertTrue(ok[2]);
        assertTrue(ok[3]);
        assertEq(uint256(game.status(a)), uint256(IDisputeGame.Status.AwaitingResponse));
        assertEq(uint256(game.status(b)), uint256(IDisputeGame.Status.AwaitingResponse));
        assertEq(uint256(game.status(ended)), uint256(IDisputeGame.Status.DefenderWon));
    }

    /// Calls keep the real caller: another account's move, and the owner's functions, are refused.
    function test_multicall_keepsTheCaller() public {
        uint256 id = open(SEED, H, honestEnd, H);
        bytes[] memory calls = new bytes[](3);
        calls[0] = abi.encodeCall(DisputeGame.dissect, (id, honestPoints(0, H)));
        calls[1] = abi.encodeCall(DisputeGame.create, (defender, challenger, start, honestEnd, H));
        calls[2] = abi.encodeCall(DisputeGame.cancel, (id));
        vm.prank(challenger);
        bool[] memory ok = game.multicall(calls);
        assertFalse(ok[0]);
        assertFalse(ok[1]);
        assertFalse(ok[2]);
        assertEq(game.gameCount(), 1);
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.AwaitingDissection));
    }

    // ---------------------------------------------------------------------------------------------
    // playFor
    // ---------------------------------------------------------------------------------------------

    /// The owner plays for a party: its moves count as that party's (events name it), each call standing
    /// alone; another party's move fails.
    function test_playFor_movesAsThePlayer() public {
        uint256 a = open(SEED, H, honestEnd, H);
        uint256 b = open(SEED, H, honestEnd, H);
        bytes32[] memory pts = honestPoints(0, H);
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(DisputeGame.dissect, (a, pts));
        calls[1] = abi.encodeCall(DisputeGame.dissect, (b, pts));
        vm.expectEmit(address(game));
        emit DisputeGame.Dissected(a, defender, type(uint256).max, 0, H, pts);
        bool[] memory ok = game.playFor(defender, calls); // this test is the owner
        assertTrue(ok[0]);
        assertTrue(ok[1]);
        assertEq(uint256(game.status(a)), uint256(IDisputeGame.Status.AwaitingResponse));
        // The challenger's turn now: the defender's player cannot take it.
        ok = game.playFor(defender, calls);
        assertFalse(ok[0]);
        assertFalse(ok[1]);
        assertEq(uint256(game.game(a).moves), 1);
    }

    /// While the owner plays for someone its own privileges are suspended: forwarded calls cannot create
    /// or cancel games, nor nest another playFor. Outside it they work again.
    function test_playFor_suspendsTheOwnersPrivileges() public {
        uint256 id = open(SEED, H, honestEnd, H);
        bytes[] memory inner = new bytes[](1);
        inner[0] = abi.encodeCall(DisputeGame.cancel, (id));
        bytes[] memory calls = new bytes[](4);
        calls[0] = abi.encodeCall(DisputeGame.create, (defender, challenger, start, honestEnd, H));
        calls[1] = abi.encodeCall(DisputeGame.cancel, (id));
        calls[2] = abi.encodeCall(DisputeGame.playFor, (defender, inner));
        calls[3] = abi.encodeCall(DisputeGame.multicall, (inner));
        bool[] memory ok = game.playFor(defender, calls);
        assertFalse(ok[0]);
        assertFalse(ok[1]);
        assertFalse(ok[2]);
        assertTrue(ok[3]); // the multicall runs; the cancel inside it fails (the game stays live)
        assertEq(game.gameCount(), 1);
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.AwaitingDissection));
        game.cancel(id);
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.Cancelled));
    }

    /// A call that fails without a reason (out of gas, or not a function of the game) reverts the whole
    /// batch: a transaction that succeeds never dropped a move for want of gas (the out-of-gas case, with
    /// a front-run that makes the move dearer: `RedTeam2.t.sol`, `test_outOfGasMove_revertsTheCombinedCall`).
    function test_multicall_aCallFailingWithoutAReasonRevertsTheBatch() public {
        uint256 id = open(SEED, H, honestEnd, H);
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(DisputeGame.dissect, (id, honestPoints(0, H)));
        calls[1] = hex"deadbeef";
        vm.prank(defender);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.CallFailedWithoutReason.selector, 1));
        game.multicall(calls);
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.AwaitingDissection));
    }

    function test_playFor_reverts() public {
        bytes[] memory calls = new bytes[](0);
        vm.prank(defender);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotOwner.selector, defender));
        game.playFor(defender, calls);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.BadParties.selector, address(0), address(0)));
        game.playFor(address(0), calls);
    }

    // ---------------------------------------------------------------------------------------------
    // respond
    // ---------------------------------------------------------------------------------------------

    function test_respond_narrowsAndSwapsRoles() public {
        (uint256 id, bytes32[] memory pts) = openDissected();
        // The challenger disputes part 3 = [37, 50] with its own (lying) hashes.
        uint64 a = game.boundary(0, H, 3);
        uint64 b = game.boundary(0, H, 4);
        assertEq(uint256(a), 37);
        assertEq(uint256(b), 50);
        bytes32[] memory mine = lies(pts[3], game.partCount(b - a) + 1, "c");
        vm.expectEmit(address(game));
        emit Dissected(id, challenger, 3, a, b, mine);
        vm.prank(challenger);
        game.respond(id, pts, 3, mine);
        DisputeGame.Game memory g = game.game(id);
        assertEq(uint256(g.lo), uint256(a));
        assertEq(uint256(g.hi), uint256(b));
        assertFalse(g.defenderAsserts);
        assertEq(uint256(g.moves), 2);
        assertEq(g.points, keccak256(abi.encodePacked(mine)));
        assertEq(game.toMove(id), defender);
    }

    function test_respond_revertsWhileAwaitingDissection() public {
        uint256 id = open(SEED, H, honestEnd, H);
        vm.prank(challenger);
        vm.expectRevert(
            abi.encodeWithSelector(
                DisputeGame.WrongStatus.selector, id, IDisputeGame.Status.AwaitingDissection
            )
        );
        game.respond(id, new bytes32[](2), 0, new bytes32[](9));
    }

    function test_respond_revertsForUnknownGame() public {
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.UnknownGame.selector, 5));
        game.respond(5, new bytes32[](2), 0, new bytes32[](9));
    }

    function test_respond_revertsForWrongMover() public {
        (uint256 id, bytes32[] memory pts) = openDissected();
        vm.prank(defender);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotYourMove.selector, defender, challenger));
        game.respond(id, pts, 0, new bytes32[](9));
    }

    function test_respond_revertsAfterClockExpired() public {
        (uint256 id, bytes32[] memory pts) = openDissected();
        vm.warp(block.timestamp + CLOCK + 1);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClockExpired.selector, id, challenger));
        game.respond(id, pts, 0, new bytes32[](9));
    }

    function test_respond_revertsForWrongCurrentPointCount() public {
        (uint256 id,) = openDissected();
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.WrongPointCount.selector, 3, 9));
        game.respond(id, new bytes32[](3), 0, new bytes32[](9));
    }

    function test_respond_revertsForForgedCurrentPoints() public {
        (uint256 id, bytes32[] memory pts) = openDissected();
        pts[4] = keccak256("forged");
        vm.prank(challenger);
        vm.expectRevert(DisputeGame.PointsMismatch.selector);
        game.respond(id, pts, 3, new bytes32[](9));
    }

    function test_respond_revertsForPartOutOfRange() public {
        (uint256 id, bytes32[] memory pts) = openDissected();
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.PartOutOfRange.selector, 8, 8));
        game.respond(id, pts, 8, new bytes32[](9));
    }

    function test_respond_revertsForSingleStepPart() public {
        // 9 steps in 8 parts: part 0 spans one step.
        uint64 n = 9;
        uint256 id = game.create(defender, challenger, start, traceVm.stateHash(SEED, n, H), n);
        bytes32[] memory pts = honestPoints(0, n);
        vm.prank(defender);
        game.dissect(id, pts);
        vm.prank(challenger);
        vm.expectRevert(DisputeGame.SingleStepPart.selector);
        game.respond(id, pts, 0, new bytes32[](2));
    }

    function test_respond_revertsForWrongNewPointCount() public {
        (uint256 id, bytes32[] memory pts) = openDissected();
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.WrongPointCount.selector, 5, 9));
        game.respond(id, pts, 3, lies(pts[3], 5, "c"));
    }

    function test_respond_revertsWhenStartChanges() public {
        (uint256 id, bytes32[] memory pts) = openDissected();
        bytes32[] memory mine = lies(keccak256("not the start"), 9, "c");
        vm.prank(challenger);
        vm.expectRevert(DisputeGame.PointsMismatch.selector);
        game.respond(id, pts, 3, mine);
    }

    function test_respond_revertsWhenEndIsNotDisputed() public {
        (uint256 id, bytes32[] memory pts) = openDissected();
        bytes32[] memory mine = lies(pts[3], 9, "c");
        mine[8] = pts[4];
        vm.prank(challenger);
        vm.expectRevert(DisputeGame.EndNotDisputed.selector);
        game.respond(id, pts, 3, mine);
    }

    function testFuzz_respond_partIndex(uint256 part) public {
        (uint256 id, bytes32[] memory pts) = openDissected();
        if (part >= 8) {
            vm.prank(challenger);
            vm.expectRevert(abi.encodeWithSelector(DisputeGame.PartOutOfRange.selector, part, 8));
            game.respond(id, pts, part, new bytes32[](9));
            return;
        }
        uint64 a = game.boundary(0, H, part);
        uint64 b = game.boundary(0, H, part + 1);
        bytes32[] memory mine = lies(pts[part], game.partCount(b - a) + 1, "fuzz");
        vm.prank(challenger);
        game.respond(id, pts, part, mine);
        assertEq(uint256(game.game(id).lo), uint256(a));
        assertEq(uint256(game.game(id).hi), uint256(b));
    }

    function testFuzz_unknownGameIdsRevert(uint256 id) public {
        vm.assume(id != 0);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.UnknownGame.selector, id));
        game.timeout(id);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.UnknownGame.selector, id));
        game.cancel(id);
    }

    // ---------------------------------------------------------------------------------------------
    // step
    // ---------------------------------------------------------------------------------------------

    /// A game narrowed to the single step [s, s+1], challenger to move, defender asserting `post`.
    function openSingle(uint64 s, bytes32 post) internal returns (uint256 id, bytes32[] memory pts) {
        bytes32 pre = traceVm.stateHash(SEED, s, H);
        id = game.create(defender, challenger, pre, post, 1);
        pts = new bytes32[](2);
        pts[0] = pre;
        pts[1] = post;
    }

    function test_step_asserterWinsWhenVerifierAgrees() public {
        bytes32 post = traceVm.stateHash(SEED, 6, H);
        (uint256 id, bytes32[] memory pts) = openSingle(5, post);
        vm.expectEmit(address(game));
        emit StepVerified(id, challenger, 0, pts[0], post, post);
        vm.expectEmit(address(game));
        emit GameEnded(id, true, false);
        vm.prank(challenger);
        game.step(id, pts, 0, proofFor(5));
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.DefenderWon));
        assertEq(endedCalls[id], 1);
        assertTrue(endedDefenderWon[id]);
        assertEq(uint256(game.game(id).moves), 1);
    }

    function test_step_responderWinsWhenVerifierDisagrees() public {
        bytes32 post = keccak256("wrong post-state");
        (uint256 id, bytes32[] memory pts) = openSingle(5, post);
        vm.expectEmit(address(game));
        emit GameEnded(id, false, false);
        vm.prank(challenger);
        game.step(id, pts, 0, proofFor(5));
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.ChallengerWon));
        assertEq(endedCalls[id], 1);
        assertFalse(endedDefenderWon[id]);
    }

    function test_step_defenderAsResponderWins() public {
        // Defender dissects honestly; the challenger lies on [0, 13] down to one step; the defender steps.
        (uint256 id, bytes32[] memory pts) = openDissected();
        uint64 b = game.boundary(0, H, 1); // 12
        bytes32[] memory mine = lies(pts[0], game.partCount(b) + 1, "c");
        vm.prank(challenger);
        game.respond(id, pts, 0, mine);
        // Part 0 of [0, 12] in 8 parts is [0, 1].
        assertEq(uint256(game.boundary(0, b, 1)), 1);
        vm.prank(defender);
        game.step(id, mine, 0, proofFor(0));
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.DefenderWon));
        assertTrue(endedDefenderWon[id]);
    }

    function test_step_haltedStateIsAFixedPoint() public {
        // Claimed: the halted state stays halted. The verifier returns it unchanged.
        bytes32 halted = traceVm.stateHash(SEED, H, H);
        bytes32[] memory pts = new bytes32[](2);
        pts[0] = halted;
        pts[1] = halted;
        uint256 id = game.create(defender, challenger, halted, halted, 1);
        vm.prank(challenger);
        game.step(id, pts, 0, proofFor(H));
        assertTrue(endedDefenderWon[id]);
    }

    function test_step_revertsForMultiStepPart() public {
        (uint256 id, bytes32[] memory pts) = openDissected();
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotSingleStep.selector, 12));
        game.step(id, pts, 0, proofFor(0));
    }

    function test_step_revertsForTooLongProof() public {
        (uint256 id, bytes32[] memory pts) = openSingle(5, keccak256("x"));
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ProofTooLong.selector, 16_385));
        game.step(id, pts, 0, new bytes(16_385));
    }

    function test_step_bubblesVerifierRevert() public {
        (uint256 id, bytes32[] memory pts) = openSingle(5, keccak256("x"));
        vm.prank(challenger);
        vm.expectRevert(TraceVM.BadProof.selector);
        game.step(id, pts, 0, proofFor(6)); // opens state 6, not the pre-state 5
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.AwaitingResponse));
    }

    function test_step_revertsForWrongMover() public {
        (uint256 id, bytes32[] memory pts) = openSingle(5, keccak256("x"));
        vm.prank(defender);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotYourMove.selector, defender, challenger));
        game.step(id, pts, 0, proofFor(5));
    }

    function test_step_revertsAfterGameEnded() public {
        (uint256 id, bytes32[] memory pts) = openSingle(5, keccak256("x"));
        vm.prank(challenger);
        game.step(id, pts, 0, proofFor(5));
        vm.prank(challenger);
        vm.expectRevert(
            abi.encodeWithSelector(DisputeGame.WrongStatus.selector, id, IDisputeGame.Status.ChallengerWon)
        );
        game.step(id, pts, 0, proofFor(5));
    }

    // ---------------------------------------------------------------------------------------------
    // timeout
    // ---------------------------------------------------------------------------------------------

    function test_timeout_defenderLosesWhenSilent() public {
        uint256 id = open(SEED, H, honestEnd, H);
        vm.warp(block.timestamp + CLOCK + 1);
        vm.expectEmit(address(game));
        emit GameEnded(id, false, true);
        game.timeout(id);
        assertEq(uint256(game.status(id)), uint256(IDisputeGame.Status.ChallengerWon));
        assertFalse(endedDefenderWon[id]);
    }

    function test_timeout_challengerLosesWhenSilent() public {
        (uint256 id,) = openDissected();
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(id);
        assertTrue(endedDefenderWon[id]);
    }

    function test_timeout_revertsWhileClockRuns() public {
        uint256 id = open(SEED, H, honestEnd, H);
        vm.warp(block.timestamp + CLOCK);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClockRunning.selector, id, 0));
        game.timeout(id);
    }

    function test_timeout_revertsForUnknownGame() public {
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.UnknownGame.selector, 9));
        game.timeout(9);
    }

    function test_timeout_revertsAfterEnd() public {
        uint256 id = open(SEED, H, honestEnd, H);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(id);
        vm.expectRevert(
            abi.encodeWithSelector(DisputeGame.WrongStatus.selector, id, IDisputeGame.Status.ChallengerWon)
        );
        game.timeout(id);
    }

    /// Chess clocks: time used on earlier moves counts; each party's budget is its own.
    function testFuzz_timeout_chessClocks(uint32 d1, uint32 c1, uint32 d2) public {
        d1 = uint32(bound(d1, 0, CLOCK));
        c1 = uint32(bound(c1, 0, CLOCK));
        d2 = uint32(bound(d2, 0, CLOCK * 2));
        uint256 id = open(SEED, H, honestEnd, H);
        vm.warp(block.timestamp + d1);
        bytes32[] memory pts = honestPoints(0, H);
        vm.prank(defender);
        game.dissect(id, pts);
        vm.warp(block.timestamp + c1);
        bytes32[] memory mine = lies(pts[3], 9, "c");
        vm.prank(challenger);
        game.respond(id, pts, 3, mine);
        (uint256 dc, uint256 cc) = game.clocks(id);
        assertEq(dc, CLOCK - d1);
        assertEq(cc, CLOCK - c1);
        vm.warp(block.timestamp + d2);
        if (d2 > CLOCK - d1) {
            game.timeout(id);
            assertFalse(endedDefenderWon[id]);
        } else {
            vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClockRunning.selector, id, CLOCK - d1 - d2));
            game.timeout(id);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // views
    // ---------------------------------------------------------------------------------------------

    function test_views_unknownGame() public {
        assertEq(uint256(game.status(42)), uint256(IDisputeGame.Status.None));
        assertEq(game.toMove(42), address(0));
        (uint256 dc, uint256 cc) = game.clocks(42);
        assertEq(dc + cc, 0);
    }

    function test_clocks_chargeTheRunningClock() public {
        uint256 id = open(SEED, H, honestEnd, H);
        vm.warp(block.timestamp + 500);
        (uint256 dc, uint256 cc) = game.clocks(id);
        assertEq(dc, CLOCK - 500);
        assertEq(cc, CLOCK);
        vm.warp(block.timestamp + 2 * CLOCK);
        (dc,) = game.clocks(id);
        assertEq(dc, 0);
    }

    function testFuzz_partCount(uint256 len) public {
        len = bound(len, 1, type(uint64).max);
        assertEq(game.partCount(len), len < 8 ? len : 8);
    }

    /// Parts are non-empty, cover [lo, hi], and span floor(L/m) or ceil(L/m) steps.
    function testFuzz_boundary_partsTileTheSegment(uint64 lo, uint64 len, uint8 arity) public {
        arity = uint8(bound(arity, 8, 32));
        len = uint64(bound(len, 1, type(uint64).max));
        lo = uint64(bound(lo, 0, type(uint64).max - len));
        DisputeGame g = new DisputeGame(address(this), IOneStepVerifier(address(traceVm)), arity, CLOCK);
        uint64 hi = lo + len;
        uint256 m = g.partCount(len);
        assertEq(uint256(g.boundary(lo, hi, 0)), uint256(lo));
        assertEq(uint256(g.boundary(lo, hi, m)), uint256(hi));
        uint256 fl = len / m;
        uint256 cl = (len + m - 1) / m;
        for (uint256 i = 0; i < m; ++i) {
            uint256 part = g.boundary(lo, hi, i + 1) - g.boundary(lo, hi, i);
            assertTrue(part >= 1 && part >= fl && part <= cl, "part size");
        }
    }

    function testFuzz_maxMoves_isCeilLogPlusOne(uint64 steps, uint8 arity) public {
        arity = uint8(bound(arity, 8, 32));
        steps = uint64(bound(steps, 1, type(uint64).max));
        DisputeGame g = new DisputeGame(address(this), IOneStepVerifier(address(traceVm)), arity, CLOCK);
        assertEq(g.maxMoves(steps), ceilLog(arity, steps) + 1);
    }

    function test_maxMoves_examples() public {
        DisputeGame g16 = new DisputeGame(address(this), IOneStepVerifier(address(traceVm)), 16, CLOCK);
        assertEq(g16.maxMoves(1), 1);
        assertEq(g16.maxMoves(16), 2);
        assertEq(g16.maxMoves(17), 3);
        assertEq(g16.maxMoves(uint64(1) << 30), 9);
        assertEq(g16.maxMoves(type(uint64).max), 17);
        assertEq(game.maxMoves(type(uint64).max), 23);
    }
}
