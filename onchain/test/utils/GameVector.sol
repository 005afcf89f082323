// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GamePlayer} from "./GamePlayer.sol";
import {DisputeGame} from "../../contracts/DisputeGame.sol";
import {VmExtra} from "./VmExtra.sol";

/// @title Dissection-game vectors from JSON (format: test/vectors/README.md)
/// @notice A vector holds the honest state hashes at every boundary the game visits on its way to the
/// decisive step, and the one-step proof of that step. The honest player reads its states from the
/// table; the liar agrees with the table up to the decisive step and lies after it.
abstract contract GameVector is GamePlayer {
    struct Vector {
        string path;
        string verifier;
        uint256 arity;
        uint64 steps;
        bytes32 start;
        bytes32 end;
        uint64 decisive;
        uint64[] stateSteps;
        bytes32[] stateHashes;
        bytes proof;
        bytes32 post;
        bool hasMarket;
    }

    function loadVector(string memory path) internal view returns (Vector memory v) {
        string memory json = vm.readFile(path);
        v.path = path;
        require(vm.parseJsonUint(json, ".version") == 1, "unknown vector version");
        v.verifier = vm.parseJsonString(json, ".verifier");
        v.arity = vm.parseJsonUint(json, ".arity");
        v.steps = uint64(vm.parseJsonUint(json, ".steps"));
        v.start = vm.parseJsonBytes32(json, ".start");
        v.end = vm.parseJsonBytes32(json, ".end");
        v.decisive = uint64(vm.parseJsonUint(json, ".decisive_step"));
        uint256[] memory st = vm.parseJsonUintArray(json, ".state_steps");
        v.stateSteps = new uint64[](st.length);
        for (uint256 i = 0; i < st.length; ++i) {
            v.stateSteps[i] = uint64(st[i]);
            if (i > 0) require(st[i] > st[i - 1], "state_steps must ascend");
        }
        v.stateHashes = vm.parseJsonBytes32Array(json, ".state_hashes");
        require(v.stateHashes.length == st.length, "state_steps and state_hashes differ in length");
        v.proof = vm.parseJsonBytes(json, ".proof");
        v.post = vm.parseJsonBytes32(json, ".post");
        v.hasMarket = VmExtra(address(vm)).keyExistsJson(json, ".market");
        require(v.decisive < v.steps, "decisive_step must be below steps");
    }

    /// The honest player's view.
    function honestView(Vector memory v) internal pure returns (Trace memory t) {
        t.lieFrom = NO_LIE;
        t.tableSteps = v.stateSteps;
        t.tableHashes = v.stateHashes;
        t.proofIndex = v.decisive;
        t.proof = v.proof;
    }

    /// A liar that agrees up to the decisive step and lies after it (also about the final state).
    function liarView(Vector memory v, bytes32 salt) internal pure returns (Trace memory t) {
        t = honestView(v);
        t.lieFrom = v.decisive + 1;
        t.lieSalt = salt;
    }

    /// Plays the vector on `g`, which the caller owns: a lying defender against an honest challenger
    /// (`defenderLies`), or the reverse.
    function playVector(DisputeGame g, Vector memory v, bool defenderLies, address d, address c)
        internal
        returns (Outcome memory o)
    {
        Trace memory liar = liarView(v, keccak256(bytes(v.path)));
        bytes32 end = defenderLies ? stateAt(liar, v.steps) : v.end;
        uint256 id = g.create(d, c, v.start, end, v.steps);
        Actor memory honestActor;
        honestActor.trace = honestView(v);
        Actor memory liarActor;
        liarActor.trace = liar;
        honestActor.addr = defenderLies ? c : d;
        liarActor.addr = defenderLies ? d : c;
        o = defenderLies
            ? play(g, id, liarActor, honestActor, v.start, end)
            : play(g, id, honestActor, liarActor, v.start, end);
    }
}
