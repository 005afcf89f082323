// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {TestBase} from "./TestBase.sol";
import {TraceVM} from "./TraceVM.sol";
import {DisputeGame} from "../../contracts/DisputeGame.sol";
import {IDisputeGame} from "../../contracts/interfaces/IDisputeGame.sol";

/// @title Actors that play dissection games from their view of the trace
/// @notice A {Trace} says which state hash an actor believes is at each step, and which one-step proofs
/// it can produce. It is either a {TraceVM} run (seed, halt) or a table of hashes (from a JSON vector made
/// by the Rust machine) plus the one proof the vector carries. States from `lieFrom` on are replaced by
/// lies, and `endState` (when non-zero) overrides the state at `endIndex`: that is how dishonest claims
/// (another output, a wrong step count) are built.
///
/// {play} runs a game to the end: the party to move acts by its {Strategy}; a party that cannot or will
/// not move is timed out.
abstract contract GamePlayer is TestBase {
    uint64 internal constant NO_LIE = type(uint64).max;

    /// @notice An actor's view of the trace.
    struct Trace {
        bytes32 seed; // TraceVM mode
        uint64 halt; // TraceVM mode
        uint64 lieFrom; // states at steps >= lieFrom are lies (NO_LIE: none)
        bytes32 lieSalt;
        uint64 endIndex; // overridden state position (with endState != 0)
        bytes32 endState;
        uint64[] tableSteps; // table mode when non-empty: ascending steps
        bytes32[] tableHashes;
        uint64 proofIndex; // table mode: the step whose proof is known
        bytes proof;
    }

    /// @notice How an actor plays.
    enum Strategy {
        Follow, // names the first part it disagrees with and posts its own trace
        Stall, // never moves
        Garbage // random parts and random hashes
    }

    /// @notice A player.
    struct Actor {
        address addr;
        Trace trace;
        Strategy strategy;
        uint256 rand; // randomness for Garbage
        uint64 thinkTime; // seconds spent before each move
    }

    /// @notice How a game ended.
    struct Outcome {
        bool defenderWon;
        bool byTimeout;
        bool stepped;
        uint64 decisiveStep; // the step index settled by the verifier (when stepped)
        uint256 moves;
        uint256 defenderMoves;
        uint256 challengerMoves;
    }

    TraceVM internal traceVm;

    // ------------------------------------------------------------------------------------------------
    // Traces
    // ------------------------------------------------------------------------------------------------

    function honestTrace(bytes32 seed, uint64 halt) internal pure returns (Trace memory t) {
        t.seed = seed;
        t.halt = halt;
        t.lieFrom = NO_LIE;
    }

    /// @dev A trace equal to the honest one before `lieFrom`, lying from there on.
    function lyingTrace(bytes32 seed, uint64 halt, uint64 lieFrom, bytes32 salt)
        internal
        pure
        returns (Trace memory t)
    {
        t = honestTrace(seed, halt);
        t.lieFrom = lieFrom;
        t.lieSalt = salt;
    }

    function withEnd(Trace memory t, uint64 endIndex, bytes32 endState) internal pure returns (Trace memory) {
        t.endIndex = endIndex;
        t.endState = endState;
        return t;
    }

    function lieAt(bytes32 salt, uint64 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("lie", salt, i));
    }

    function stateAt(Trace memory t, uint64 i) internal view returns (bytes32) {
        if (t.endState != bytes32(0) && i == t.endIndex) return t.endState;
        if (i >= t.lieFrom) return lieAt(t.lieSalt, i);
        if (t.tableSteps.length != 0) return _lookup(t, i);
        return traceVm.stateHash(t.seed, i, t.halt);
    }

    /// @dev The proof this trace can give for state `i` with hash `pre`, if any.
    function proofAt(Trace memory t, bytes32 pre, uint64 i)
        internal
        view
        returns (bool ok, bytes memory proof)
    {
        if (t.tableSteps.length != 0) {
            if (i == t.proofIndex && t.proof.length != 0) return (true, t.proof);
            return (false, "");
        }
        if (t.endState != bytes32(0) && i == t.endIndex) return (false, "");
        if (i >= t.lieFrom) return (false, "");
        uint64 j = i < t.halt ? i : t.halt;
        if (traceVm.stateHash(t.seed, j, t.halt) != pre) return (false, "");
        return (true, abi.encode(t.seed, j, t.halt));
    }

    function _lookup(Trace memory t, uint64 i) private pure returns (bytes32) {
        uint256 lo = 0;
        uint256 hi = t.tableSteps.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (t.tableSteps[mid] < i) lo = mid + 1;
            else hi = mid;
        }
        require(lo < t.tableSteps.length && t.tableSteps[lo] == i, "trace table lacks a step the game needs");
        return t.tableHashes[lo];
    }

    // ------------------------------------------------------------------------------------------------
    // Playing
    // ------------------------------------------------------------------------------------------------

    /// @notice Plays game `id` to its end. `start` and `end` are the game's committed end points.
    function play(DisputeGame g, uint256 id, Actor memory d, Actor memory c, bytes32 start, bytes32 end)
        internal
        returns (Outcome memory o)
    {
        bytes32[] memory cur = new bytes32[](2);
        cur[0] = start;
        cur[1] = end;
        uint256 bound_ = g.maxMoves(g.game(id).hi) + 2;
        for (uint256 iter = 0; iter <= bound_; ++iter) {
            IDisputeGame.Status st = g.status(id);
            if (st != IDisputeGame.Status.AwaitingDissection && st != IDisputeGame.Status.AwaitingResponse) {
                break;
            }
            bool defenderMoves = g.toMove(id) == d.addr;
            Actor memory a = defenderMoves ? d : c;
            bool moved;
            (moved, cur) = playMove(g, id, a, cur, st, o);
            if (!moved) {
                _timeOut(g, id);
                o.byTimeout = true;
                break;
            }
            ++o.moves;
            if (defenderMoves) ++o.defenderMoves;
            else ++o.challengerMoves;
        }
        IDisputeGame.Status fin = g.status(id);
        require(
            fin == IDisputeGame.Status.DefenderWon || fin == IDisputeGame.Status.ChallengerWon,
            "game did not end"
        );
        o.defenderWon = fin == IDisputeGame.Status.DefenderWon;
        assertEq(o.moves, g.game(id).moves, "driver and contract disagree on the move count");
    }

    /// @notice One move of actor `a` (the party to move) from the current dissection `cur`; returns
    /// false when it does not move (stalls, too slow, or has nothing it can honestly dispute or prove).
    function playMove(
        DisputeGame g,
        uint256 id,
        Actor memory a,
        bytes32[] memory cur,
        IDisputeGame.Status st,
        Outcome memory o
    ) internal returns (bool, bytes32[] memory) {
        if (a.strategy == Strategy.Stall) return (false, cur);
        if (a.thinkTime != 0) {
            (uint256 dc, uint256 cc) = g.clocks(id);
            if (a.thinkTime > (a.addr == g.game(id).defender ? dc : cc)) return (false, cur); // too slow
            vm.warp(block.timestamp + a.thinkTime);
        }
        DisputeGame.Game memory gm = g.game(id);
        if (st == IDisputeGame.Status.AwaitingDissection) {
            bytes32[] memory pts = _points(g, a, gm.lo, gm.hi, cur[0], cur[1], false);
            sendMove(g, a.addr, abi.encodeCall(DisputeGame.dissect, (id, pts)));
            return (true, pts);
        }
        return _respond(g, id, a, cur, gm, o);
    }

    function _respond(
        DisputeGame g,
        uint256 id,
        Actor memory a,
        bytes32[] memory cur,
        DisputeGame.Game memory gm,
        Outcome memory o
    ) private returns (bool, bytes32[] memory) {
        uint256 part;
        if (a.strategy == Strategy.Follow) {
            bool found;
            (found, part) = _firstDisputed(g, a.trace, cur, gm.lo, gm.hi);
            if (!found) return (false, cur); // agrees with everything: cannot dispute honestly
        } else {
            a.rand = uint256(keccak256(abi.encode(a.rand)));
            part = a.rand % (cur.length - 1);
        }
        uint64 lo = g.boundary(gm.lo, gm.hi, part);
        uint64 hi = g.boundary(gm.lo, gm.hi, part + 1);
        if (hi - lo == 1) {
            (bool ok, bytes memory proof) = proofAt(a.trace, cur[part], lo);
            if (!ok || a.strategy == Strategy.Garbage) return (false, cur);
            sendMove(g, a.addr, abi.encodeCall(DisputeGame.step, (id, cur, part, proof)));
            o.stepped = true;
            o.decisiveStep = lo;
            return (true, cur);
        }
        bytes32[] memory next = _points(g, a, lo, hi, cur[part], cur[part + 1], true);
        sendMove(g, a.addr, abi.encodeCall(DisputeGame.respond, (id, cur, part, next)));
        return (true, next);
    }

    /// @notice Sends one move (calldata for `g`) as `from`, bubbling up a revert. Tests that carry moves
    /// in other transactions (a market call that also challenges) override it.
    function sendMove(DisputeGame g, address from, bytes memory data) internal virtual {
        vm.prank(from);
        (bool ok, bytes memory ret) = address(g).call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    /// @dev The actor's dissection of [lo, hi]: its first point is `first`; for a response the last must
    /// differ from `disputed`, for the first dissection it must equal it.
    function _points(
        DisputeGame g,
        Actor memory a,
        uint64 lo,
        uint64 hi,
        bytes32 first,
        bytes32 last,
        bool response
    ) private view returns (bytes32[] memory pts) {
        uint256 m = g.partCount(hi - lo);
        pts = new bytes32[](m + 1);
        for (uint256 i = 0; i <= m; ++i) {
            uint64 x = g.boundary(lo, hi, i);
            if (a.strategy == Strategy.Garbage) pts[i] = keccak256(abi.encode("garbage", a.rand, x));
            else pts[i] = stateAt(a.trace, x);
        }
        pts[0] = first;
        if (!response) pts[m] = last;
        else if (pts[m] == last) pts[m] = keccak256(abi.encode("differs", last));
    }

    function _firstDisputed(DisputeGame g, Trace memory t, bytes32[] memory cur, uint64 lo, uint64 hi)
        private
        view
        returns (bool, uint256)
    {
        uint256 m = cur.length - 1;
        for (uint256 j = 0; j < m; ++j) {
            if (cur[j + 1] != stateAt(t, g.boundary(lo, hi, j + 1))) return (true, j);
        }
        return (false, 0);
    }

    function _timeOut(DisputeGame g, uint256 id) internal {
        (uint256 dc, uint256 cc) = g.clocks(id);
        uint256 left = g.toMove(id) == g.game(id).defender ? dc : cc;
        vm.warp(block.timestamp + left + 1);
        g.timeout(id);
    }
}
