// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GameVector} from "./utils/GameVector.sol";
import {TraceVM} from "./utils/TraceVM.sol";
import {Console} from "./utils/Console.sol";
import {ModelState} from "../contracts/vm/ModelState.sol";
import {Vm} from "@prb/test/Vm.sol";
import {DisputeGame} from "../contracts/DisputeGame.sol";
import {InferenceMarket} from "../contracts/InferenceMarket.sol";
import {ModelRegistry} from "../contracts/ModelRegistry.sol";
import {ModelStateAdapter} from "../contracts/ModelStateAdapter.sol";
import {OneStepVerifier} from "../contracts/vm/OneStepVerifier.sol";
import {IDisputeGameOwner} from "../contracts/interfaces/IDisputeGame.sol";
import {IModelState} from "../contracts/interfaces/IModelState.sol";
import {IOneStepVerifier} from "../contracts/interfaces/IOneStepVerifier.sol";

/// @notice Games played from JSON vectors: the committed TraceVM vector, and every vector the Rust
/// machine wrote for a real fixture (`verifier: "opml"`), with the real OneStepVerifier and, when the
/// vector carries the model commitment, through the whole market with the real ModelState.
contract FixtureGameTest is GameVector, IDisputeGameOwner {
    string internal constant DIR = "test/vectors";

    address internal defender;
    address internal challenger;
    DisputeGame internal game;

    function setUp() public {
        traceVm = new TraceVM();
        defender = makeAddr("defender");
        challenger = makeAddr("challenger");
    }

    function onGameEnded(uint256, bool) external view {
        require(msg.sender == address(game), "callback from elsewhere");
    }

    function onDissect(uint256) external view {
        require(msg.sender == address(game), "callback from elsewhere");
    }

    function gameFor(Vector memory v, IOneStepVerifier verifier) internal returns (DisputeGame) {
        game = new DisputeGame(address(this), verifier, v.arity, 7 days);
        return game;
    }

    /// Both scenarios of one vector: the honest side wins at the decisive step, within the move bound.
    function checkVector(Vector memory v, IOneStepVerifier verifier) internal {
        assertEq(verifier.step(stateAt(honestView(v), v.decisive), v.proof), v.post, "vector proof");
        DisputeGame g = gameFor(v, verifier);
        Outcome memory o = playVector(g, v, true, defender, challenger);
        assertFalse(o.defenderWon, "honest challenger must win");
        assertTrue(o.stepped && !o.byTimeout);
        assertEq(uint256(o.decisiveStep), uint256(v.decisive));
        assertLte(o.moves, g.maxMoves(v.steps));
        o = playVector(g, v, false, defender, challenger);
        assertTrue(o.defenderWon, "honest defender must win");
        assertFalse(o.byTimeout);
        assertLte(o.moves, g.maxMoves(v.steps));
    }

    function test_traceVector_honestSideWins() public {
        Vector memory v = loadVector(string.concat(DIR, "/trace_game.json"));
        assertEq(v.verifier, "trace-vm");
        checkVector(v, IOneStepVerifier(address(traceVm)));
    }

    function test_traceVector_tamperedProofIsRejected() public {
        Vector memory v = loadVector(string.concat(DIR, "/trace_game.json"));
        v.proof[20] ^= 0x01; // inside the seed word
        bytes32 pre = stateAt(honestView(v), v.decisive);
        vm.expectRevert(TraceVM.BadProof.selector);
        traceVm.step(pre, v.proof);
    }

    /// Every `*.game.json` vector with `verifier: "opml"` (written by vm/tests/chain_vectors.rs for a real fixture)
    /// is played with the real one-step verifier; with a `market` section also through the market.
    function test_opmlVectors_honestSideWins() public {
        Vm.DirEntry[] memory entries = vm.readDir(DIR);
        uint256 played;
        for (uint256 i = 0; i < entries.length; ++i) {
            if (entries[i].isDir || !_endsWith(entries[i].path, ".game.json")) continue;
            Vector memory v = loadVector(entries[i].path);
            if (keccak256(bytes(v.verifier)) != keccak256("opml")) continue;
            Console.log(string.concat("playing ", entries[i].path));
            IOneStepVerifier verifier = IOneStepVerifier(address(new OneStepVerifier()));
            checkVector(v, verifier);
            if (v.hasMarket) {
                _playThroughMarket(v, verifier);
                Console.log("  and through the market with the real ModelState");
            }
            ++played;
        }
        // vm/tests/chain_vectors.rs writes three (`just contracts`)
        assertGte(played, 3, "real-fixture game vectors missing from test/vectors");
    }

    // ---------------------------------------------------------------------------------------------
    // the whole market with the real commitment scheme
    // ---------------------------------------------------------------------------------------------

    function _commitment(string memory json) internal pure returns (ModelState.Commitment memory c) {
        c.codeRoot = vm.parseJsonBytes32(json, ".market.commitment.code_root");
        c.memoryRoot = vm.parseJsonBytes32(json, ".market.commitment.memory_root");
        c.memorySize = uint64(vm.parseJsonUint(json, ".market.commitment.memory_size"));
        c.globalsRoot = vm.parseJsonBytes32(json, ".market.commitment.globals_root");
        c.entryPc = uint32(vm.parseJsonUint(json, ".market.commitment.entry_pc"));
        c.entryLocals = uint32(vm.parseJsonUint(json, ".market.commitment.entry_locals"));
        c.inputOffset = uint32(vm.parseJsonUint(json, ".market.commitment.input_offset"));
        c.inputSize = uint64(vm.parseJsonUint(json, ".market.commitment.input_size"));
        c.outputOffset = uint32(vm.parseJsonUint(json, ".market.commitment.output_offset"));
        c.outputSize = uint64(vm.parseJsonUint(json, ".market.commitment.output_size"));
    }

    /// Register, request, submit the honest result (output checked against the final state), let a
    /// liar challenge, play the game to the verified step, finalize.
    function _playThroughMarket(Vector memory v, IOneStepVerifier verifier) internal {
        string memory json = vm.readFile(v.path);
        ModelStateAdapter states = new ModelStateAdapter();
        InferenceMarket market = _market(v, verifier, states);
        bytes32 modelId = _register(market, states, json);
        (uint256 rid, uint256 gid) = _claimAndChallenge(market, modelId, v, json);
        _playMarketGame(market, gid, v);
        vm.warp(block.timestamp + 1 days);
        market.finalize(market.getGame(gid).claimId);
        assertEq(uint256(market.getRequest(rid).status), uint256(InferenceMarket.RequestStatus.Finalized));
    }

    function _playMarketGame(InferenceMarket market, uint256 gid, Vector memory v) internal {
        Actor memory d;
        d.addr = defender;
        d.trace = honestView(v);
        Actor memory ch;
        ch.addr = challenger;
        ch.trace = liarView(v, "market liar");
        Outcome memory o = play(market.disputeGame(), gid, d, ch, v.start, v.end);
        assertTrue(o.defenderWon && !o.byTimeout, "honest submitter must win");
    }

    function _market(Vector memory v, IOneStepVerifier verifier, ModelStateAdapter states)
        internal
        returns (InferenceMarket)
    {
        return new InferenceMarket(
            InferenceMarket.Config({
                modelState: IModelState(address(states)),
                verifier: verifier,
                arity: v.arity,
                clockBudget: 1 days,
                challengeWindow: 1 days,
                requestTimeout: 2 days,
                submitterBond: 1 ether,
                challengerBond: 1 ether,
                moveAllowance: 0.001 ether,
                burnBps: 5000,
                challengerBurnBps: 1000
            })
        );
    }

    function _register(InferenceMarket market, ModelStateAdapter states, string memory json)
        internal
        returns (bytes32 modelId)
    {
        ModelState.Commitment memory c = _commitment(json);
        modelId = states.modelId(c);
        market.registry()
            .register(
                modelId,
                c,
                vm.parseJsonBytes32Array(json, ".market.input_siblings"),
                ModelRegistry.Terms({
                maxSteps: uint64(vm.parseJsonUint(json, ".market.max_steps")),
                fee: 1 ether,
                submitterShareBps: 5000
            }),
                ModelRegistry.ShareTerms({
                name: "Fixture",
                symbol: "FIX",
                holder: address(this),
                supply: 1e18,
                claimableBps: 10_000,
                snapshotInterval: 1 hours,
                claimWindow: 30 days
            })
            );
    }

    function _claimAndChallenge(InferenceMarket market, bytes32 modelId, Vector memory v, string memory json)
        internal
        returns (uint256 rid, uint256 gid)
    {
        vm.deal(address(this), 10 ether);
        rid = market.request{value: 1 ether}(modelId, vm.parseJsonBytes(json, ".market.input"));
        assertEq(market.getRequest(rid).initialState, v.start, "initial state derived on-chain");
        bytes memory output = vm.parseJsonBytes(json, ".market.output");
        bytes memory outputProof = vm.parseJsonBytes(json, ".market.output_proof");
        vm.deal(defender, 10 ether);
        uint256 value = 1 ether + market.gameStakeFor(v.steps);
        vm.prank(defender);
        uint256 claimId = market.submit{value: value}(rid, output, v.end, v.steps, outputProof);
        vm.deal(challenger, 10 ether);
        uint256 challengeValue = market.challengeValue(claimId);
        vm.prank(challenger);
        gid = market.challenge{value: challengeValue}(rid, claimId);
    }

    function _endsWith(string memory s, string memory suffix) internal pure returns (bool) {
        bytes memory a = bytes(s);
        bytes memory b = bytes(suffix);
        if (b.length > a.length) return false;
        for (uint256 i = 0; i < b.length; ++i) {
            if (a[a.length - b.length + i] != b[i]) return false;
        }
        return true;
    }
}
