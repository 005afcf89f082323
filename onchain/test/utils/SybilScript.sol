// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GamePlayer} from "./GamePlayer.sol";
import {DisputeGame} from "../../contracts/DisputeGame.sol";

/// @title The liar's scripted games: a Sybil challenger that loses (or wins) its game on purpose
/// @notice Every finding of the second review rests on one move: a Sybil of the liar opens a game against
/// the liar's own false claim and loses it at once, inside one transaction of the liar's contract. The
/// defender posts honest intermediate hashes with the false end; the Sybil disputes part 0 with made-up
/// hashes; the defender answers part 0 honestly; ... until part 0 is one step, which the Sybil `step`s
/// (or the defender does): the verifier agrees with the honest hash, so the defender wins. Over 1,000
/// steps at k = 8 that is 4 moves. The moves depend only on the trace, so they can be computed before
/// the transaction that makes them.
abstract contract SybilScript is GamePlayer {
    /// One move of a script: made by the game's challenger (the Sybil) or by its defender (the liar).
    struct ScriptedMove {
        bool byChallenger;
        bytes data; // calldata for the DisputeGame
    }

    /// @notice The moves by which a fresh game `id` over `steps` steps, from the honest `start` to the
    /// defender's `end`, ends at once in the defender's favour; `honest` is the true trace.
    function sybilLoss(
        DisputeGame g,
        uint256 id,
        Trace memory honest,
        bytes32 start,
        bytes32 end,
        uint64 steps
    ) internal view returns (ScriptedMove[] memory moves) {
        require(steps > 1, "a one-step game cannot be lost on purpose by the challenger");
        moves = new ScriptedMove[](g.maxMoves(steps) + 1);
        uint256 n;
        uint64 lo = 0;
        uint64 hi = steps;
        bytes32[] memory cur = _honestPoints(g, honest, lo, hi, start);
        cur[cur.length - 1] = end;
        moves[n++] = ScriptedMove(false, abi.encodeCall(DisputeGame.dissect, (id, cur)));
        bool sybilToMove = true;
        while (true) {
            uint64 b = g.boundary(lo, hi, 1);
            if (b - lo == 1) {
                // The party to move settles part 0. The Sybil's step on the honest start verifies to the
                // defender's honest hash: the Sybil loses. The defender's step verifies to a hash other
                // than the Sybil's made-up one: the defender wins.
                (bool ok, bytes memory proof) = proofAt(honest, cur[0], lo);
                require(ok, "the honest trace has the proof");
                moves[n++] =
                    ScriptedMove(sybilToMove, abi.encodeCall(DisputeGame.step, (id, cur, uint256(0), proof)));
                break;
            }
            bytes32[] memory next;
            if (sybilToMove) {
                next = new bytes32[](g.partCount(b - lo) + 1);
                next[0] = cur[0];
                for (uint256 i = 1; i < next.length; ++i) {
                    next[i] = keccak256(abi.encode("made up", id, lo, i));
                }
            } else {
                next = _honestPoints(g, honest, lo, b, cur[0]);
            }
            moves[n++] = ScriptedMove(sybilToMove, abi.encodeCall(DisputeGame.respond, (id, cur, 0, next)));
            cur = next;
            hi = b;
            sybilToMove = !sybilToMove;
        }
        assembly ("memory-safe") {
            mstore(moves, n)
        }
    }

    /// @notice Plays a script with pranks (one account each side), all in the current block.
    function playScript(DisputeGame g, ScriptedMove[] memory moves, address defender, address challenger)
        internal
    {
        for (uint256 i = 0; i < moves.length; ++i) {
            vm.prank(moves[i].byChallenger ? challenger : defender);
            (bool ok, bytes memory ret) = address(g).call(moves[i].data);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
    }

    function _honestPoints(DisputeGame g, Trace memory honest, uint64 lo, uint64 hi, bytes32 first)
        private
        view
        returns (bytes32[] memory pts)
    {
        pts = new bytes32[](g.partCount(hi - lo) + 1);
        for (uint256 i = 0; i < pts.length; ++i) {
            pts[i] = stateAt(honest, g.boundary(lo, hi, i));
        }
        pts[0] = first;
    }
}
