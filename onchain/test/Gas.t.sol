// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GamePlayer} from "./utils/GamePlayer.sol";
import {TraceVM} from "./utils/TraceVM.sol";
import {Console} from "./utils/Console.sol";
import {ModelState} from "../contracts/vm/ModelState.sol";
import {DisputeGame} from "../contracts/DisputeGame.sol";
import {OneStepVerifier} from "../contracts/vm/OneStepVerifier.sol";
import {InferenceMarket} from "../contracts/InferenceMarket.sol";
import {ModelRegistry} from "../contracts/ModelRegistry.sol";
import {ModelStateAdapter} from "../contracts/ModelStateAdapter.sol";
import {RevenueShare} from "../contracts/RevenueShare.sol";
import {IDisputeGameOwner} from "../contracts/interfaces/IDisputeGame.sol";
import {IModelState} from "../contracts/interfaces/IModelState.sol";
import {IOneStepVerifier} from "../contracts/interfaces/IOneStepVerifier.sol";
import {MemoryTree} from "./utils/MemoryTree.sol";

/// @notice Gas of every protocol operation, printed with `-vv` and bounded by assertions. Run with
/// `forge test --isolate --match-path test/Gas.t.sol -vv` for the numbers in docs/BENCHMARKS.md: each
/// call is then its own transaction (base cost, calldata, cold storage included). The market uses the production ModelStateAdapter on a 64 KiB memory with a 1 KiB input
/// region; the game runs on the TraceVM, so `step` shows the game's own cost plus a trivial verifier.
contract GasTest is GamePlayer, IDisputeGameOwner {
    uint64 internal constant MEM = 1 << 16; // 2048 leaves, depth 11
    uint64 internal constant IN_SIZE = 1024; // 32 leaves
    uint32 internal constant OUT_OFF = 4096;
    uint64 internal constant OUT_SIZE = 64;

    DisputeGame internal standalone;

    function onGameEnded(uint256, bool) external {}

    function onDissect(uint256) external {}

    receive() external payable {}

    function measure(string memory label, uint256 before, uint256 bound_)
        internal
        view
        returns (uint256 used)
    {
        used = before - gasleft();
        Console.log(label, used);
        require(used <= bound_, string.concat(label, ": gas above its bound"));
    }

    function commitment(bytes32 memRoot) internal pure returns (ModelState.Commitment memory c) {
        c = ModelState.Commitment({
            codeRoot: keccak256("code"),
            memoryRoot: memRoot,
            memorySize: MEM,
            globalsRoot: keccak256("globals"),
            entryPc: 1,
            entryLocals: 4,
            inputOffset: 0,
            inputSize: IN_SIZE,
            outputOffset: OUT_OFF,
            outputSize: OUT_SIZE
        });
    }

    /// A halted final state with `output`, and its output proof.
    function finalState(ModelState.Commitment memory c, bytes memory output)
        internal
        pure
        returns (bytes32 state, bytes memory proof)
    {
        bytes memory image = new bytes(MEM);
        for (uint256 i = 0; i < output.length; ++i) {
            image[OUT_OFF + i] = output[i];
        }
        bytes32[][] memory levels = MemoryTree.tree(image);
        bytes memory h = abi.encodePacked(
            uint8(1),
            uint32(0),
            uint64(5000),
            c.codeRoot,
            c.memorySize,
            levels[levels.length - 1][0],
            c.globalsRoot,
            bytes32(0),
            bytes32(0),
            uint32(0), // frame depth
            uint32(0) // stack depth
        );
        state = keccak256(abi.encodePacked(bytes1(0x0b), h));
        proof = abi.encodePacked(h, MemoryTree.siblings(levels, 1, OUT_OFF / OUT_SIZE));
    }

    InferenceMarket internal market;
    ModelStateAdapter internal states;
    RevenueShare internal token;
    bytes32 internal modelId;
    ModelState.Commitment internal com;

    function test_gasTable() public {
        traceVm = new TraceVM();
        _register();
        (, uint256 rid2) = _requestAndSubmit();
        _challengeAndSettle(rid2);
        _revenue();
        _gameMoves();
    }

    function _register() internal {
        states = new ModelStateAdapter();
        market = new InferenceMarket(
            InferenceMarket.Config({
                modelState: IModelState(address(states)),
                verifier: IOneStepVerifier(address(traceVm)),
                arity: 16,
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
        bytes32[][] memory levels = MemoryTree.tree(new bytes(MEM));
        com = commitment(levels[levels.length - 1][0]);
        bytes32[] memory inSib = MemoryTree.siblings(levels, 5, 0);
        modelId = states.modelId(com);
        ModelRegistry.Terms memory terms =
            ModelRegistry.Terms({maxSteps: 1 << 40, fee: 1 ether, submitterShareBps: 2000});
        ModelRegistry.ShareTerms memory share = ModelRegistry.ShareTerms({
            name: "Gas",
            symbol: "GAS",
            holder: address(this),
            supply: 1e24,
            claimableBps: 8000,
            snapshotInterval: 1 hours,
            claimWindow: 30 days
        });
        ModelRegistry registry = market.registry();
        uint256 g0 = gasleft();
        token = RevenueShare(payable(registry.register(modelId, com, inSib, terms, share)));
        measure("register (deploys the token)", g0, 2_500_000);
        // Two more holders: one paid through claimFor (a fresh account: the 25k new-account charge), one
        // through claimTo by this contract as its claimer.
        require(token.transfer(makeAddr("holder for"), 1e21), "transfer");
        require(token.transfer(makeAddr("holder to"), 1e21), "transfer");
        vm.prank(makeAddr("holder to"));
        token.setClaimer(address(this));
    }

    function _requestAndSubmit() internal returns (uint256 rid, uint256 rid2) {
        vm.deal(address(this), 100 ether);
        bytes memory input = new bytes(IN_SIZE);
        for (uint256 i = 0; i < input.length; ++i) {
            input[i] = keccak256(abi.encode(i))[0];
        }
        uint256 g0 = gasleft();
        rid = market.request{value: 1 ether}(modelId, input);
        measure("request (1 KiB input)", g0, 800_000);
        g0 = gasleft();
        rid2 = market.request{value: 1 ether}(modelId, hex"01");
        measure("request (1-byte input)", g0, 400_000);
        bytes memory output = abi.encodePacked(keccak256("out0"), keccak256("out1"));
        (bytes32 fin, bytes memory proof) = finalState(com, output);
        uint256 value = 1 ether + 4 * market.gameStakeFor(5000);
        g0 = gasleft();
        market.submit{value: value}(rid, output, fin, 5000, proof);
        measure("submit", g0, 400_000);
        market.submit{value: value}(rid2, output, fin, 5000, proof);
        g0 = gasleft();
        market.topUp{value: market.gameStakeFor(5000)}(1);
        measure("topUp", g0, 100_000);
        uint256 rid3 = market.request{value: 1 ether}(modelId, hex"02");
        g0 = gasleft();
        market.cancel(rid3);
        measure("cancel", g0, 100_000);
    }

    function _challengeAndSettle(uint256 rid2) internal {
        address ch = makeAddr("challenger");
        vm.deal(ch, 10 ether);
        uint256 value = market.challengeValue(2);
        vm.prank(ch);
        uint256 g0 = gasleft();
        uint256 gid = market.challenge{value: value}(rid2, 2);
        measure("challenge (opens a game the claim backs)", g0, 400_000);
        _challengerBackedGame(ch);
        // The defender never dissects: the game ends on time and the market settles the bonds.
        DisputeGame game = market.disputeGame();
        vm.warp(block.timestamp + 1 days + 1);
        g0 = gasleft();
        game.timeout(gid);
        measure("timeout (ends the game, settles bonds)", g0, 200_000);
        vm.warp(block.timestamp + 1 days);
        g0 = gasleft();
        market.finalize(1);
        measure("finalize", g0, 200_000);
    }

    /// A claim staked for one game: the second challenge backs its own game, and the defender's first
    /// move matches it from a top-up.
    function _challengerBackedGame(address ch) internal {
        uint256 rid = market.request{value: 1 ether}(modelId, hex"03");
        bytes memory output = abi.encodePacked(keccak256("out0"), keccak256("out1"));
        (bytes32 fin, bytes memory proof) = finalState(com, output);
        uint256 stake = market.gameStakeFor(5000);
        uint256 claimId = market.submit{value: 1 ether + stake}(rid, output, fin, 5000, proof);
        address ch2 = makeAddr("second challenger");
        vm.deal(ch2, 10 ether);
        vm.prank(ch);
        market.challenge{value: 1 ether + stake}(rid, claimId);
        vm.prank(ch2);
        uint256 g0 = gasleft();
        uint256 gid = market.challenge{value: 1 ether + stake}(rid, claimId);
        measure("challenge (opens a game the challenger backs)", g0, 400_000);
        market.topUp{value: stake}(claimId);
        DisputeGame game = market.disputeGame();
        bytes32[] memory pts = new bytes32[](17);
        pts[0] = market.getRequest(rid).initialState;
        for (uint256 i = 1; i < 16; ++i) {
            pts[i] = keccak256(abi.encode("point", i));
        }
        pts[16] = fin;
        g0 = gasleft();
        game.dissect(gid, pts);
        measure("dissect (k = 16) that matches a challenger-backed game", g0, 200_000);
        _combinedCalls(ch2, gid, claimId, pts, stake);
    }

    /// The calls that carry moves: the challenger of `gid` challenges a new claim and responds in `gid`
    /// in one transaction; the defender matches a new challenger-backed game and dissects it in one.
    function _combinedCalls(address ch2, uint256 gid, uint256 claimId, bytes32[] memory pts, uint256 stake)
        internal
    {
        uint256[] memory reqs = new uint256[](1);
        uint256[] memory claims = new uint256[](1);
        reqs[0] = market.request{value: 1 ether}(modelId, hex"04");
        claims[0] = _claim(reqs[0], stake);
        bytes32[] memory mine = new bytes32[](17);
        mine[0] = pts[0];
        for (uint256 i = 1; i < 17; ++i) {
            mine[i] = keccak256(abi.encode("mine", i));
        }
        bytes[] memory moves = new bytes[](1);
        moves[0] = abi.encodeCall(DisputeGame.respond, (gid, pts, 0, mine));
        vm.prank(ch2);
        uint256 g0 = gasleft();
        (, bool[] memory ok) = market.challengeManyAndPlay{value: 1 ether + stake}(reqs, claims, moves);
        measure("challengeManyAndPlay (a challenge and a respond)", g0, 500_000);
        require(ok[0], "respond inside challengeManyAndPlay");
        address ch3 = makeAddr("third challenger");
        vm.deal(ch3, 10 ether);
        uint256 rid = market.getClaim(claimId).requestId;
        vm.prank(ch3);
        uint256 gid3 = market.challenge{value: 1 ether + stake}(rid, claimId);
        moves[0] = abi.encodeCall(DisputeGame.dissect, (gid3, pts));
        g0 = gasleft();
        uint256[] memory amounts = new uint256[](1);
        (claims[0], amounts[0]) = (claimId, stake);
        ok = market.topUpAndPlay{value: stake}(claims, amounts, moves);
        measure("topUpAndPlay (a top-up and a matching dissect)", g0, 300_000);
        require(ok[0], "dissect inside topUpAndPlay");
    }

    /// A claim (by this contract) on request `rid`, staked for one game.
    function _claim(uint256 rid, uint256 stake) internal returns (uint256) {
        bytes memory output = abi.encodePacked(keccak256("out0"), keccak256("out1"));
        (bytes32 fin, bytes memory proof) = finalState(com, output);
        return market.submit{value: 1 ether + stake}(rid, output, fin, 5000, proof);
    }

    function _revenue() internal {
        vm.warp(block.timestamp + 1 hours);
        uint256 g0 = gasleft();
        uint256 snap = token.snapshot();
        measure("snapshot", g0, 200_000);
        vm.roll(block.number + 1);
        g0 = gasleft();
        token.claim(snap);
        measure("claim", g0, 150_000);
        g0 = gasleft();
        token.claimFor(makeAddr("holder for"), snap);
        measure("claimFor", g0, 150_000);
        g0 = gasleft();
        token.claimTo(makeAddr("holder to"), snap, address(this));
        measure("claimTo", g0, 150_000);
        g0 = gasleft();
        token.burn(1e21);
        measure("burn (redeem)", g0, 150_000);
        vm.warp(block.timestamp + token.claimWindow() + 1);
        g0 = gasleft();
        token.expire(snap);
        measure("expire", g0, 100_000);
        g0 = gasleft();
        market.withdraw();
        measure("withdraw", g0, 150_000);
    }

    /// A whole game over 2^30 steps with k = 16 (a lying defender, an honest challenger), then the exact
    /// gas of each kind of move.
    function _gameMoves() internal {
        standalone = new DisputeGame(address(this), IOneStepVerifier(address(traceVm)), 16, 1 days);
        bytes32 seed = keccak256("gas run");
        uint64 n = uint64(1) << 30;
        Trace memory liar = withEnd(lyingTrace(seed, n, n / 3, "l"), n, keccak256("false end"));
        Actor memory d;
        d.addr = makeAddr("d");
        d.trace = liar;
        Actor memory c;
        c.addr = makeAddr("c");
        c.trace = honestTrace(seed, n);
        bytes32 start = stateAt(c.trace, 0);
        uint256 id = standalone.create(d.addr, c.addr, start, liar.endState, n);
        Outcome memory o = play(standalone, id, d, c, start, liar.endState);
        require(!o.defenderWon && o.moves <= 9, "2^30 steps, k = 16: honest challenger within 9 moves");
        Console.log("moves of the 2^30-step game", o.moves);
        _exactMoveGas();
    }

    /// Exact gas of dissect, respond and step calls, measured around the contract call only.
    function _exactMoveGas() internal {
        DisputeGame g = new DisputeGame(address(this), IOneStepVerifier(address(traceVm)), 16, 1 days);
        bytes32 seed = keccak256("exact");
        uint64 n = uint64(1) << 30;
        address d = makeAddr("d");
        address c = makeAddr("c");
        uint256 id = g.create(d, c, traceVm.stateHash(seed, 0, n), keccak256("lie"), n);
        bytes32[] memory pts = new bytes32[](17);
        for (uint256 i = 0; i <= 16; ++i) {
            pts[i] = traceVm.stateHash(seed, g.boundary(0, n, i), n);
        }
        pts[16] = keccak256("lie");
        vm.prank(d);
        uint256 g0 = gasleft();
        g.dissect(id, pts);
        measure("dissect (k = 16)", g0, 150_000);
        uint64 a = g.boundary(0, n, 15);
        uint64 b = n;
        bytes32[] memory mine = new bytes32[](17);
        for (uint256 i = 0; i <= 16; ++i) {
            mine[i] = traceVm.stateHash(seed, g.boundary(a, b, i), n);
        }
        vm.prank(c);
        g0 = gasleft();
        g.respond(id, pts, 15, mine);
        measure("respond (k = 16)", g0, 150_000);
        _stepGas(g, seed, d, c);
    }

    function _stepGas(DisputeGame g, bytes32 seed, address d, address c) internal {
        uint64 n = uint64(1) << 30;
        bytes32[] memory two = new bytes32[](2);
        two[0] = traceVm.stateHash(seed, 7, n);
        two[1] = keccak256("lie");
        uint256 one = g.create(d, c, two[0], two[1], 1);
        bytes memory proof = abi.encode(seed, uint64(7), n);
        vm.prank(c);
        uint256 g0 = gasleft();
        g.step(one, two, 0, proof);
        measure("step (game + TraceVM verifier + owner callback)", g0, 150_000);
        uint256 idle = g.create(d, c, two[0], two[1], 1);
        vm.warp(block.timestamp + 1 days + 1);
        g0 = gasleft();
        g.timeout(idle);
        measure("timeout (game contract only)", g0, 150_000);
        _realStepGas(d, c);
    }

    /// A step settled by the real OneStepVerifier on a real fixture's proof (908 bytes, local.get).
    function _realStepGas(address d, address c) internal {
        string memory json = vm.readFile("test/vectors/logreg_digits_step4321.game.json");
        bytes memory proof = vm.parseJsonBytes(json, ".proof");
        bytes32[] memory steps = vm.parseJsonBytes32Array(json, ".state_hashes");
        uint256[] memory at = vm.parseJsonUintArray(json, ".state_steps");
        bytes32 pre;
        for (uint256 i = 0; i < at.length; ++i) {
            if (at[i] == 4321) pre = steps[i];
        }
        DisputeGame g =
            new DisputeGame(address(this), IOneStepVerifier(address(new OneStepVerifier())), 16, 1 days);
        bytes32[] memory two = new bytes32[](2);
        two[0] = pre;
        two[1] = keccak256("lie");
        uint256 one = g.create(d, c, two[0], two[1], 1);
        vm.prank(c);
        uint256 g0 = gasleft();
        g.step(one, two, 0, proof);
        measure("step with the real OneStepVerifier (908-byte proof)", g0, 400_000);
    }
}
