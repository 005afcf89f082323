// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GameHarness} from "./utils/GameHarness.sol";

/// @notice Actor tests of the dissection game on the TraceVM, independent of WASM: honest and dishonest
/// players on both sides. The honest side must win every game, within the move bound.
contract GameActorsTest is GameHarness {
    bytes32 internal constant SEED = keccak256("honest run");
    bytes32 internal constant EVIL = keccak256("another run");

    function setUp() public {
        setUpGame(8);
    }

    function start(uint64 halt) internal view returns (bytes32) {
        return traceVm.stateHash(SEED, 0, halt);
    }

    // ---------------------------------------------------------------------------------------------
    // scenarios
    // ---------------------------------------------------------------------------------------------

    /// The defender claims its (lying) trace's state at `n`; the honest challenger must win at the first
    /// wrong step.
    function lyingDefender(uint64 halt, uint64 n, uint64 lieFrom, bytes32 end)
        internal
        returns (Outcome memory o)
    {
        Trace memory liar = withEnd(lyingTrace(SEED, halt, lieFrom, "defender lies"), n, end);
        uint256 id = open(SEED, halt, end, n);
        o = play(
            game, id, actor(defender, liar), actor(challenger, honestTrace(SEED, halt)), stateAt(liar, 0), end
        );
        assertFalse(o.defenderWon, "honest challenger must win");
        assertFalse(endedDefenderWon[id]);
        assertEq(endedCalls[id], 1);
        assertLte(o.moves, game.maxMoves(n), "move bound");
    }

    /// The defender's claim is true; the challenger lies from `lieFrom`; the defender must win.
    function lyingChallenger(uint64 halt, uint64 lieFrom) internal returns (Outcome memory o) {
        bytes32 end = traceVm.stateHash(SEED, halt, halt);
        uint256 id = open(SEED, halt, end, halt);
        Trace memory liar = lyingTrace(SEED, halt, lieFrom, "challenger lies");
        o = play(
            game, id, actor(defender, honestTrace(SEED, halt)), actor(challenger, liar), stateAt(liar, 0), end
        );
        assertTrue(o.defenderWon, "honest defender must win");
        assertTrue(endedDefenderWon[id]);
        assertEq(endedCalls[id], 1);
        assertLte(o.moves, game.maxMoves(halt), "move bound");
    }

    // ---------------------------------------------------------------------------------------------
    // dishonest defender, honest challenger
    // ---------------------------------------------------------------------------------------------

    function test_lieAtFirstStep_challengerWins() public {
        uint64 h = 1000;
        Outcome memory o = lyingDefender(h, h, 1, traceVm.stateHash(EVIL, h, h));
        assertTrue(o.stepped && !o.byTimeout);
        assertEq(uint256(o.decisiveStep), 0);
    }

    function test_lieAtLastStep_challengerWins() public {
        uint64 h = 1000;
        Outcome memory o = lyingDefender(h, h, h, traceVm.stateHash(EVIL, h, h));
        assertTrue(o.stepped);
        assertEq(uint256(o.decisiveStep), h - 1);
    }

    function test_lieInTheMiddle_challengerWins() public {
        uint64 h = 1000;
        Outcome memory o = lyingDefender(h, h, 437, traceVm.stateHash(EVIL, h, h));
        assertTrue(o.stepped);
        assertEq(uint256(o.decisiveStep), 436);
    }

    function test_singleStepClaim_lie_challengerWins() public {
        Outcome memory o = lyingDefender(1, 1, 1, traceVm.stateHash(EVIL, 1, 1));
        assertEq(o.moves, 1);
        assertEq(uint256(o.decisiveStep), 0);
    }

    function testFuzz_lyingDefender_challengerWins(uint64 halt, uint64 lieFrom, uint8 arity) public {
        setUpGame(bound(arity, 8, 32));
        halt = uint64(bound(halt, 1, 1 << 40));
        lieFrom = uint64(bound(lieFrom, 1, halt));
        Outcome memory o = lyingDefender(halt, halt, lieFrom, traceVm.stateHash(EVIL, halt, halt));
        assertTrue(o.stepped);
        assertEq(uint256(o.decisiveStep), uint256(lieFrom - 1));
    }

    // ---------------------------------------------------------------------------------------------
    // wrong step counts (the claimed final state is halted at another step)
    // ---------------------------------------------------------------------------------------------

    /// Claims "halted after n < H steps" with the honest output: state n is still running honestly.
    function test_claimsTooFewSteps_challengerWins() public {
        uint64 h = 5000;
        uint64 n = 3000;
        Outcome memory o = lyingDefender(h, n, n, traceVm.stateHash(SEED, n, n));
        assertEq(uint256(o.decisiveStep), n - 1);
    }

    /// Claims "halted after n > H steps": honestly the run halted at H and stayed there (fixed point),
    /// so the claimed state, halted with step counter n, differs at step n.
    function test_claimsTooManySteps_challengerWins() public {
        uint64 h = 5000;
        uint64 n = 7000;
        Outcome memory o = lyingDefender(h, n, n, traceVm.stateHash(SEED, n, n));
        assertEq(uint256(o.decisiveStep), n - 1);
    }

    function testFuzz_wrongStepCount_challengerWins(uint64 halt, uint64 n) public {
        halt = uint64(bound(halt, 1, 1 << 32));
        n = uint64(bound(n, 1, 1 << 33));
        vm.assume(n != halt);
        Outcome memory o = lyingDefender(halt, n, n, traceVm.stateHash(SEED, n, n));
        assertEq(uint256(o.decisiveStep), uint256(n - 1));
    }

    /// A claimed step count beyond the honest halt, with lies before the halt too.
    function testFuzz_tooManyStepsAndEarlierLie_challengerWins(uint64 halt, uint64 extra, uint64 lieFrom)
        public
    {
        halt = uint64(bound(halt, 2, 1 << 30));
        extra = uint64(bound(extra, 1, 1 << 30));
        uint64 n = halt + extra;
        lieFrom = uint64(bound(lieFrom, 1, n));
        Outcome memory o = lyingDefender(halt, n, lieFrom, traceVm.stateHash(EVIL, n, n));
        assertEq(uint256(o.decisiveStep), uint256(lieFrom - 1));
    }

    // ---------------------------------------------------------------------------------------------
    // honest defender, dishonest challenger
    // ---------------------------------------------------------------------------------------------

    function test_challengerLiesAtFirstStep_defenderWins() public {
        Outcome memory o = lyingChallenger(1000, 1);
        assertTrue(o.stepped);
        assertEq(uint256(o.decisiveStep), 0);
    }

    function test_challengerLiesAtLastStep_defenderWins() public {
        Outcome memory o = lyingChallenger(1000, 1000);
        assertEq(uint256(o.decisiveStep), 999);
    }

    function testFuzz_lyingChallenger_defenderWins(uint64 halt, uint64 lieFrom, uint8 arity) public {
        setUpGame(bound(arity, 8, 32));
        halt = uint64(bound(halt, 1, 1 << 40));
        lieFrom = uint64(bound(lieFrom, 1, halt));
        lyingChallenger(halt, lieFrom);
    }

    /// A challenger that agrees with a true claim has nothing to dispute: it can only run out of time.
    function test_challengerWithHonestTraceCannotWinAgainstTruth() public {
        uint64 h = 777;
        bytes32 end = traceVm.stateHash(SEED, h, h);
        uint256 id = open(SEED, h, end, h);
        Outcome memory o = play(
            game,
            id,
            actor(defender, honestTrace(SEED, h)),
            actor(challenger, honestTrace(SEED, h)),
            start(h),
            end
        );
        assertTrue(o.defenderWon && o.byTimeout);
    }

    // ---------------------------------------------------------------------------------------------
    // garbage players
    // ---------------------------------------------------------------------------------------------

    function testFuzz_garbageChallenger_defenderWins(uint64 halt, uint256 rand) public {
        halt = uint64(bound(halt, 1, 1 << 40));
        bytes32 end = traceVm.stateHash(SEED, halt, halt);
        uint256 id = open(SEED, halt, end, halt);
        Outcome memory o = play(
            game,
            id,
            actor(defender, honestTrace(SEED, halt)),
            actor(challenger, honestTrace(SEED, halt), Strategy.Garbage, rand),
            start(halt),
            end
        );
        assertTrue(o.defenderWon);
        assertLte(o.moves, game.maxMoves(halt));
    }

    function testFuzz_garbageDefender_challengerWins(uint64 halt, uint64 n, uint256 rand) public {
        halt = uint64(bound(halt, 1, 1 << 40));
        n = uint64(bound(n, 1, 1 << 40));
        bytes32 end = traceVm.stateHash(EVIL, n, n);
        uint256 id = open(SEED, halt, end, n);
        Outcome memory o = play(
            game,
            id,
            actor(defender, honestTrace(SEED, halt), Strategy.Garbage, rand),
            actor(challenger, honestTrace(SEED, halt)),
            traceVm.stateHash(SEED, 0, halt),
            end
        );
        assertFalse(o.defenderWon);
        assertLte(o.moves, game.maxMoves(n));
    }

    // ---------------------------------------------------------------------------------------------
    // timeouts
    // ---------------------------------------------------------------------------------------------

    function test_defenderNeverMoves_challengerWinsOnTime() public {
        uint64 h = 1000;
        bytes32 end = traceVm.stateHash(SEED, h, h);
        uint256 id = open(SEED, h, end, h);
        Outcome memory o = play(
            game,
            id,
            actor(defender, honestTrace(SEED, h), Strategy.Stall, 0),
            actor(challenger, honestTrace(SEED, h)),
            start(h),
            end
        );
        assertTrue(!o.defenderWon && o.byTimeout);
        assertEq(o.moves, 0);
    }

    function test_challengerNeverMoves_defenderWinsOnTime() public {
        uint64 h = 1000;
        bytes32 end = traceVm.stateHash(SEED, h, h);
        uint256 id = open(SEED, h, end, h);
        Outcome memory o = play(
            game,
            id,
            actor(defender, honestTrace(SEED, h)),
            actor(challenger, lyingTrace(SEED, h, 10, "x"), Strategy.Stall, 0),
            start(h),
            end
        );
        assertTrue(o.defenderWon && o.byTimeout);
        assertEq(o.moves, 1);
    }

    /// An honest defender that spends more than its budget loses: time matters as much as truth.
    function test_slowHonestDefender_losesOnTime() public {
        uint64 h = 100;
        bytes32 end = traceVm.stateHash(SEED, h, h);
        uint256 id = open(SEED, h, end, h);
        Actor memory d = actor(defender, honestTrace(SEED, h));
        d.thinkTime = CLOCK / 2 + 1; // two moves exhaust the clock
        Outcome memory o = play(
            game, id, d, actor(challenger, lyingTrace(SEED, h, 5, "x")), traceVm.stateHash(SEED, 0, h), end
        );
        assertTrue(!o.defenderWon && o.byTimeout);
    }

    /// Honest players that use almost all their budget still win: the clock is per party, not per move.
    function testFuzz_slowHonestChallengerStillWins(uint64 halt, uint64 lieFrom) public {
        halt = uint64(bound(halt, 2, 1 << 40));
        lieFrom = uint64(bound(lieFrom, 1, halt));
        bytes32 end = traceVm.stateHash(EVIL, halt, halt);
        uint256 id = open(SEED, halt, end, halt);
        Actor memory c = actor(challenger, honestTrace(SEED, halt));
        c.thinkTime = uint64(CLOCK / game.maxMoves(halt));
        Actor memory d = actor(defender, withEnd(lyingTrace(SEED, halt, lieFrom, "d"), halt, end));
        d.thinkTime = uint64(CLOCK / game.maxMoves(halt));
        Outcome memory o = play(game, id, d, c, traceVm.stateHash(SEED, 0, halt), end);
        assertTrue(!o.defenderWon && !o.byTimeout);
    }

    // ---------------------------------------------------------------------------------------------
    // move bound: N = 2^30, k = 16 ends in at most 9 moves
    // ---------------------------------------------------------------------------------------------

    function test_twoToThe30Steps_k16_atMostNineMoves() public {
        setUpGame(16);
        uint64 n = uint64(1) << 30;
        assertEq(game.maxMoves(n), 9);
        uint64[5] memory lies = [uint64(1), n / 3, n / 2 + 12_345, n - 1, n];
        for (uint256 i = 0; i < lies.length; ++i) {
            Outcome memory o = lyingDefender(n, n, lies[i], traceVm.stateHash(EVIL, n, n));
            assertLte(o.moves, 9, "lying defender: more than 9 moves");
            // Including the challenge that opened the game: ceil(log_16 2^30) + 2 = 10 transactions.
            assertLte(o.moves + 1, ceilLog(16, n) + 2);
            o = lyingChallenger(n, lies[i]);
            assertLte(o.moves, 9, "lying challenger: more than 9 moves");
        }
    }

    function testFuzz_twoToThe30Steps_k16_atMostNineMoves(uint64 lieFrom, bool defenderLies) public {
        setUpGame(16);
        uint64 n = uint64(1) << 30;
        lieFrom = uint64(bound(lieFrom, 1, n));
        Outcome memory o = defenderLies
            ? lyingDefender(n, n, lieFrom, traceVm.stateHash(EVIL, n, n))
            : lyingChallenger(n, lieFrom);
        assertLte(o.moves, 9);
    }

    /// The bound for every arity and length: moves <= ceil(log_k N) + 1 (+ 1 for the opening challenge).
    function testFuzz_moveBound(uint64 n, uint64 lieFrom, uint8 arity, bool defenderLies) public {
        uint256 k = bound(arity, 8, 32);
        setUpGame(k);
        n = uint64(bound(n, 1, type(uint64).max - 1));
        lieFrom = uint64(bound(lieFrom, 1, n));
        Outcome memory o = defenderLies
            ? lyingDefender(n, n, lieFrom, traceVm.stateHash(EVIL, n, n))
            : lyingChallenger(n, lieFrom);
        assertLte(o.moves, ceilLog(k, n) + 1);
    }
}
