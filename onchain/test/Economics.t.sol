// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MarketFixture} from "./utils/MarketFixture.sol";
import {InferenceMarket} from "../contracts/InferenceMarket.sol";
import {DisputeGame} from "../contracts/DisputeGame.sol";
import {IDisputeGame} from "../contracts/interfaces/IDisputeGame.sol";

/// An account of the liar's that only forwards calls: the liar's Sybil challenger.
contract Puppet {
    address internal immutable owner;

    constructor() {
        owner = msg.sender;
    }

    function exec(address target, bytes calldata data) external payable returns (bytes memory) {
        require(msg.sender == owner, "not the owner");
        (bool ok, bytes memory ret) = target.call{value: msg.value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {}
}

/// The liar's contract: it is the submitter of the false claims and drives its Sybil puppets, so a
/// whole sequence of moves by several of the liar's accounts happens in one transaction.
contract LiarRig {
    /// One call by the rig itself (`puppet` = address(0)) or by one of its puppets.
    struct Call {
        Puppet puppet;
        address target;
        uint256 value;
        bytes data;
    }

    Puppet[] public puppets;

    function addPuppets(uint256 n) external {
        for (uint256 i = 0; i < n; ++i) {
            puppets.push(new Puppet());
        }
    }

    function batch(Call[] calldata calls) external payable {
        for (uint256 i = 0; i < calls.length; ++i) {
            Call calldata c = calls[i];
            if (address(c.puppet) == address(0)) {
                (bool ok, bytes memory ret) = c.target.call{value: c.value}(c.data);
                if (!ok) {
                    assembly ("memory-safe") {
                        revert(add(ret, 32), mload(ret))
                    }
                }
            } else {
                c.puppet.exec{value: c.value}(c.target, c.data);
            }
        }
    }

    receive() external payable {}
}

/// @notice The incentive properties of docs/SECURITY.md, each against the Sybil strategies of a liar
/// that controls several accounts, including sequences that happen within one transaction:
/// 1. no request can be blocked; 2. a false claim always costs its poster at least half its bond;
/// 3. an honest challenger never loses money.
contract EconomicsTest is MarketFixture {
    bytes internal constant INPUT = "an input of the model";

    LiarRig internal rig;
    address internal watcher; // an honest challenger
    address internal server; // an honest submitter

    function setUp() public {
        setUpMarket();
        rig = new LiarRig();
        rig.addPuppets(6);
        vm.deal(address(rig), 1000 ether);
        watcher = makeAddr("watcher");
        server = makeAddr("server");
        vm.deal(watcher, 100 ether);
        vm.deal(server, 100 ether);
    }

    // ---------------------------------------------------------------------------------------------
    // helpers
    // ---------------------------------------------------------------------------------------------

    function puppet(uint256 i) internal view returns (Puppet) {
        return rig.puppets(i);
    }

    /// The liar's false claim: output, final state and step count of another run.
    function falseResult(uint256 requestId, uint64 steps)
        internal
        view
        returns (bytes memory output, bytes32 finalState, bytes memory proof)
    {
        bytes32 evil = keccak256(abi.encode("evil", requestId, steps));
        output = modelState.outputOf(evil);
        finalState = traceVm.stateHash(evil, steps, steps);
        proof = abi.encode(evil);
    }

    function submitCall(uint256 requestId, uint256 games) internal view returns (LiarRig.Call memory c) {
        (bytes memory output, bytes32 finalState, bytes memory proof) = falseResult(requestId, HALT);
        c.target = address(market);
        c.value = claimValue(HALT, games);
        c.data = abi.encodeCall(InferenceMarket.submit, (requestId, output, finalState, HALT, proof));
    }

    function challengeCall(uint256 p, uint256 requestId, uint256 claimId)
        internal
        view
        returns (LiarRig.Call memory c)
    {
        c.puppet = puppet(p);
        c.target = address(market);
        c.value = CHALLENGER_BOND;
        c.data = abi.encodeCall(InferenceMarket.challenge, (requestId, claimId));
    }

    function run(LiarRig.Call[] memory calls) internal {
        rig.batch(calls);
    }

    function one(LiarRig.Call memory c) internal pure returns (LiarRig.Call[] memory calls) {
        calls = new LiarRig.Call[](1);
        calls[0] = c;
    }

    /// Everything the liar's accounts can withdraw.
    function liarCredit() internal view returns (uint256 total) {
        total = market.withdrawable(address(rig));
        for (uint256 i = 0; i < 6; ++i) {
            total += market.withdrawable(address(puppet(i)));
        }
    }

    /// Plays game `g` of the liar's false claim in the current block: the liar's defender lies from
    /// `lieFrom`, the Sybil challenger follows the honest trace and wins by the verified step.
    function sybilWins(uint256 g, uint256 requestId, uint64 lieFrom, uint256 p) internal {
        Actor memory d = actorFor(address(rig), falseTrace(requestId, INPUT, HALT, lieFrom));
        Actor memory c = actorFor(address(puppet(p)), honestFor(INPUT));
        InferenceMarket.Claim memory cl = market.getClaim(market.getGame(g).claimId);
        Outcome memory o = play(game, g, d, c, market.getRequest(requestId).initialState, cl.finalState);
        assertFalse(o.defenderWon);
        assertFalse(o.byTimeout);
    }

    /// Plays up to `moves` moves of the watcher's game `g` against the liar (lying from `lieFrom`);
    /// returns the watcher's moves.
    function playSome(uint256 g, uint256 id, uint64 lieFrom, uint256 moves) internal returns (uint256) {
        Actor[2] memory sides = [
            actorFor(address(rig), falseTrace(id, INPUT, HALT, lieFrom)), actorFor(watcher, honestFor(INPUT))
        ];
        bytes32[] memory cur = new bytes32[](2);
        cur[0] = market.getRequest(id).initialState;
        cur[1] = market.getClaim(market.getGame(g).claimId).finalState;
        return playSides(g, sides, cur, moves);
    }

    function playSides(uint256 g, Actor[2] memory sides, bytes32[] memory cur, uint256 moves)
        internal
        returns (uint256 mine)
    {
        for (uint256 i = 0; i < moves; ++i) {
            uint256 side = game.toMove(g) == sides[0].addr ? 0 : 1;
            Outcome memory o;
            bool moved;
            (moved, cur) = playMove(game, g, sides[side], cur, game.status(g), o);
            if (!moved) break;
            mine += side;
            if (o.stepped) break;
        }
    }

    function requestAndFalseClaim(uint256 games) internal returns (uint256 id, uint256 claimId) {
        id = requestAs(requester, INPUT);
        run(one(submitCall(id, games)));
        claimId = market.claimCount();
    }

    // ---------------------------------------------------------------------------------------------
    // 1. no request can be blocked
    // ---------------------------------------------------------------------------------------------

    /// The reviewer's sequence: liar S posts a false claim, honest H challenges, S stalls; just before
    /// S's clock runs out a Sybil challenges and wins in the same block, and the liar resubmits a new
    /// false claim in the same block. Meanwhile the honest server's own claim, posted with S's first
    /// claim, settles the request when its window ends, and H is paid for every transaction.
    function test_sybilVoidAndResubmit_cannotDelayTheHonestClaim() public {
        (uint256 id, uint256 liarClaim) = requestAndFalseClaim(3);
        uint256 honestClaim = submitHonest(server, id, INPUT);
        uint64 settleAt = market.getClaim(honestClaim).challengeDeadline;
        uint256 hGame = challengeAs(watcher, id, liarClaim);
        vm.warp(block.timestamp + CLOCK - 1); // S stalls until the last second of its clock
        run(one(challengeCall(0, id, liarClaim)));
        sybilWins(game.gameCount(), id, 600, 0);
        run(one(submitCall(id, 3))); // the resubmission, in the same block as the void
        uint256 liarClaim2 = market.claimCount();
        assertEq(uint256(market.getClaim(liarClaim).status), uint256(InferenceMarket.ClaimStatus.Voided));
        // H's game is closed: its bond back and the game's whole stake.
        market.closeGame(hGame);
        assertEq(market.withdrawable(watcher), CHALLENGER_BOND + stakeOf(HALT));
        assertGte(stakeOf(HALT), 2 * ALLOWANCE); // its challenge and its close
        // The honest claim settles at the end of its window, whatever the liar's second claim does.
        vm.warp(settleAt);
        market.finalize(honestClaim);
        assertEq(uint256(market.getRequest(id).status), uint256(InferenceMarket.RequestStatus.Finalized));
        assertEq(market.getRequest(id).settledClaim, honestClaim);
        // The second false claim is still challengeable and loses like the first.
        uint256 g2 = challengeAs(watcher, id, liarClaim2);
        playMarketGame(g2, falseTrace(id, INPUT, HALT, 10), honestFor(INPUT));
        assertEq(uint256(market.getClaim(liarClaim2).status), uint256(InferenceMarket.ClaimStatus.Voided));
    }

    /// The liar's last move and its next false claim in one transaction: its Sybil's winning `step`
    /// voids the claim and the rig resubmits at once. The honest watcher's game is still paid in full,
    /// and the honest claim posted meanwhile settles on time.
    function test_voidAndResubmitInOneTransaction() public {
        (uint256 id, uint256 liarClaim) = requestAndFalseClaim(2);
        uint256 honestClaim = submitHonest(server, id, INPUT);
        uint256 hGame = challengeAs(watcher, id, liarClaim);
        run(one(challengeCall(0, id, liarClaim)));
        uint256 g = game.gameCount();
        // Play the Sybil game up to the Sybil's winning step.
        Actor[2] memory sides = [
            actorFor(address(rig), falseTrace(id, INPUT, HALT, 329)), // a lie the Sybil settles by `step`
            actorFor(address(puppet(0)), honestFor(INPUT))
        ];
        bytes32[] memory cur = new bytes32[](2);
        cur[0] = market.getRequest(id).initialState;
        cur[1] = market.getClaim(liarClaim).finalState;
        uint256 part;
        bytes memory proof;
        (cur, part, proof) = playUntilStep(g, sides, cur);
        LiarRig.Call[] memory calls = new LiarRig.Call[](2);
        calls[0].puppet = puppet(0);
        calls[0].target = address(game);
        calls[0].data = abi.encodeCall(DisputeGame.step, (g, cur, part, proof));
        calls[1] = submitCall(id, 2);
        run(calls);
        assertEq(uint256(market.getClaim(liarClaim).status), uint256(InferenceMarket.ClaimStatus.Voided));
        assertEq(
            uint256(market.getClaim(market.claimCount()).status), uint256(InferenceMarket.ClaimStatus.Pending)
        );
        market.closeGame(hGame);
        assertEq(market.withdrawable(watcher), CHALLENGER_BOND + stakeOf(HALT));
        vm.warp(market.getClaim(honestClaim).challengeDeadline);
        market.finalize(honestClaim);
        assertEq(market.getRequest(id).settledClaim, honestClaim);
    }

    /// Plays game `g` until its challenger (sides[1], following its trace) is to settle a one-step part;
    /// returns the dissection then, the part and its proof.
    function playUntilStep(uint256 g, Actor[2] memory sides, bytes32[] memory cur)
        internal
        returns (bytes32[] memory, uint256 part, bytes memory proof)
    {
        for (uint256 i = 0; i < 2 * game.maxMoves(HALT); ++i) {
            uint256 side = game.toMove(g) == sides[0].addr ? 0 : 1;
            if (side == 1) {
                bool found;
                (found, part, proof) = singleStepPart(g, sides[1].trace, cur);
                if (found) return (cur, part, proof);
            }
            cur = moveOnce(g, sides[side], cur);
        }
        revert("no step reached");
    }

    function moveOnce(uint256 g, Actor memory a, bytes32[] memory cur)
        internal
        returns (bytes32[] memory next)
    {
        Outcome memory o;
        bool moved;
        (moved, next) = playMove(game, g, a, cur, game.status(g), o);
        require(moved, "both sides move");
    }

    /// The first part of `cur` that trace `t` disputes, if it is a single step, with its proof.
    function singleStepPart(uint256 g, Trace memory t, bytes32[] memory cur)
        internal
        view
        returns (bool, uint256 part, bytes memory proof)
    {
        if (game.status(g) != IDisputeGame.Status.AwaitingResponse) return (false, 0, "");
        DisputeGame.Game memory gm = game.game(g);
        while (part + 1 < cur.length && cur[part + 1] == stateAt(t, game.boundary(gm.lo, gm.hi, part + 1))) {
            ++part;
        }
        uint64 lo = game.boundary(gm.lo, gm.hi, part);
        if (game.boundary(gm.lo, gm.hi, part + 1) - lo != 1) return (false, 0, "");
        bool ok;
        (ok, proof) = proofAt(t, cur[part], lo);
        require(ok, "the honest trace has the proof");
        return (true, part, proof);
    }

    /// With a long clock a single false claim used to block a request outright; now claims run side by
    /// side, so the honest one settles at its window's end while the liar's game is still running.
    function test_longClockDoesNotBlock() public {
        InferenceMarket.Config memory cfg = defaultConfig();
        cfg.clockBudget = 300 days;
        deployMarket(cfg);
        (modelId, token) = registerModel("model", HALT, MAX_STEPS, FEE, SHARE_BPS);
        (uint256 id, uint256 liarClaim) = requestAndFalseClaim(2);
        challengeAs(watcher, id, liarClaim); // the liar will stall for 300 days
        uint256 honestClaim = submitHonest(server, id, INPUT);
        vm.warp(market.getClaim(honestClaim).challengeDeadline);
        market.finalize(honestClaim);
        assertEq(market.getRequest(id).settledClaim, honestClaim);
    }

    /// Sybil challengers open games against the honest claim in the window's last second and stall
    /// until the last second of their clocks: the claim settles by its window plus one clock.
    function testFuzz_sybilGamesDelayTheHonestClaimByAtMostOneClock(uint8 sybils, uint32 late) public {
        uint256 n = bound(sybils, 1, STAKED_GAMES - 1); // the stake covers them all (exhaustion: below)
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitHonest(server, id, INPUT);
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        vm.warp(deadline - 1 - bound(late, 0, WINDOW - 1));
        uint256 first = game.gameCount() + 1;
        LiarRig.Call[] memory calls = new LiarRig.Call[](n);
        for (uint256 i = 0; i < n; ++i) {
            calls[i] = challengeCall(i, id, claimId);
        }
        run(calls); // all in one transaction
        bytes32[] memory pts = new bytes32[](ARITY + 1);
        for (uint256 j = 0; j <= ARITY; ++j) {
            pts[j] = traceVm.stateHash(seedFor(INPUT), game.boundary(0, HALT, j), HALT);
        }
        for (uint256 g = first; g < first + n; ++g) {
            vm.prank(server);
            game.dissect(g, pts);
        }
        vm.warp(block.timestamp + CLOCK + 1);
        for (uint256 g = first; g < first + n; ++g) {
            game.timeout(g);
        }
        assertLte(block.timestamp, uint256(deadline) + CLOCK + 1);
        if (block.timestamp < deadline) vm.warp(deadline);
        market.finalize(claimId);
        assertEq(market.getRequest(id).settledClaim, claimId);
        // Each Sybil game paid the server its two transactions and most of the Sybil's bond.
        uint256 perGame = CHALLENGER_BOND - ((CHALLENGER_BOND - 2 * ALLOWANCE) * CHALLENGER_BURN_BPS) / 10_000;
        uint256 cut = (uint256(FEE) * SHARE_BPS) / 10_000;
        assertEq(market.withdrawable(server), n * perGame + cut + claimValue(HALT, STAKED_GAMES));
    }

    /// Exhausting the honest claim's stake with Sybil games: the server tops up in the next block and
    /// loses only the time the claim refused challenges (here one block), which the window gets back.
    function test_exhaustingTheHonestClaim_costsTheLiarBondsAndDelaysByTheTopUpTime() public {
        uint256 id = requestAs(requester, INPUT);
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint256 value = claimValue(HALT, 2);
        vm.prank(server);
        uint256 claimId = market.submit{value: value}(id, output, finalState, steps, proof);
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        LiarRig.Call[] memory calls = new LiarRig.Call[](2);
        calls[0] = challengeCall(0, id, claimId);
        calls[1] = challengeCall(1, id, claimId);
        run(calls);
        assertGt(uint256(market.getClaim(claimId).exhaustedSince), 0);
        vm.warp(block.timestamp + 12); // the server's next block
        uint256 gs = stakeOf(HALT);
        vm.prank(server);
        market.topUp{value: 4 * gs}(claimId);
        assertEq(uint256(market.getClaim(claimId).challengeDeadline), uint256(deadline) + 12);
    }

    // ---------------------------------------------------------------------------------------------
    // 2. a false claim always costs its poster
    // ---------------------------------------------------------------------------------------------

    /// Submit, Sybil challenge and Sybil win, all by the liar in one transaction (the game played in one
    /// block): the liar gets back its stakes but only half of its bond.
    function test_selfVoidInOneTransaction_recoversHalfTheBond() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = market.claimCount() + 1;
        LiarRig.Call[] memory calls = new LiarRig.Call[](2);
        calls[0] = submitCall(id, 2);
        calls[1] = challengeCall(0, id, claimId);
        uint256 spent = calls[0].value + calls[1].value;
        run(calls);
        sybilWins(game.gameCount(), id, 1, 0);
        uint256 back = liarCredit();
        assertEq(spent - back, SUBMITTER_BOND / 2, "the liar loses exactly the burnt half of its bond");
        assertLte(back - 2 * stakeOf(HALT) - CHALLENGER_BOND, SUBMITTER_BOND / 2);
    }

    /// A claim whose stake the liar exhausts itself, in the transaction that submits it: honest
    /// challengers are refused (their call reverts before spending anything but its gas), the claim
    /// cannot settle, and unless topped up it is voided after the top-up period, the caller taking the
    /// unburnt half of the bond.
    function test_selfExhaustedClaim_isVoidedAfterTheTopUpPeriod() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = market.claimCount() + 1;
        LiarRig.Call[] memory calls = new LiarRig.Call[](2);
        calls[0] = submitCall(id, 1);
        calls[1] = challengeCall(0, id, claimId);
        run(calls);
        vm.prank(watcher);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.StakeExhausted.selector, claimId, 0, stakeOf(HALT))
        );
        market.challenge{value: CHALLENGER_BOND}(id, claimId);
        // The window passes while exhausted: it is extended, so the claim cannot settle.
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GamesOpen.selector, 1));
        market.finalize(claimId);
        assertGte(block.timestamp, uint256(market.getClaim(claimId).exhaustedSince) + TOP_UP);
        vm.prank(watcher);
        market.voidExhausted(claimId);
        assertEq(market.withdrawable(watcher), SUBMITTER_BOND / 2);
        // The request is open again for honest claims.
        uint256 honest = submitHonest(server, id, INPUT);
        vm.warp(block.timestamp + WINDOW);
        market.finalize(honest);
    }

    /// The exhausting liar tops up just before the deadline to keep its claim alive: the window got
    /// back the whole time it refused challenges, so the honest watcher can still challenge and win.
    function test_selfExhaustedClaim_toppedUpLate_isStillChallengeable() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = market.claimCount() + 1;
        LiarRig.Call[] memory calls = new LiarRig.Call[](2);
        calls[0] = submitCall(id, 1);
        calls[1] = challengeCall(0, id, claimId);
        run(calls);
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        vm.warp(block.timestamp + TOP_UP - 1);
        LiarRig.Call memory top;
        top.target = address(market);
        top.value = stakeOf(HALT);
        top.data = abi.encodeCall(InferenceMarket.topUp, (claimId));
        run(one(top));
        assertEq(uint256(market.getClaim(claimId).challengeDeadline), uint256(deadline) + TOP_UP - 1);
        vm.warp(deadline); // the original window's end: still open
        uint256 g = challengeAs(watcher, id, claimId);
        playMarketGame(g, falseTrace(id, INPUT, HALT, 77), honestFor(INPUT));
        assertEq(market.withdrawable(watcher), CHALLENGER_BOND + stakeOf(HALT) + SUBMITTER_BOND / 2);
    }

    /// Whatever games its accounts open, in any order and in one transaction, and whoever wins first,
    /// the liar never gets back more than half its bond (plus the stakes of its own Sybil games), and
    /// an honest challenger in the mix never loses money.
    function testFuzz_liarRecoversAtMostHalf(uint8 sybils, uint8 winnerSeed, bool honestJoins, uint64 lie)
        public
    {
        uint256 n = bound(sybils, 1, 5);
        uint64 lieFrom = uint64(bound(lie, 1, HALT));
        uint256 games = n + (honestJoins ? 1 : 0);
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = market.claimCount() + 1;
        uint256 firstGame = game.gameCount() + 1;
        LiarRig.Call[] memory calls = new LiarRig.Call[](1 + n);
        calls[0] = submitCall(id, games);
        for (uint256 i = 0; i < n; ++i) {
            calls[1 + i] = challengeCall(i, id, claimId);
        }
        uint256 spent = calls[0].value + n * CHALLENGER_BOND;
        run(calls);
        uint256 hGame;
        if (honestJoins) hGame = challengeAs(watcher, id, claimId);
        uint256 w = bound(winnerSeed, 0, games - 1);
        if (honestJoins && w == n) {
            playMarketGame(hGame, falseTrace(id, INPUT, HALT, lieFrom), honestFor(INPUT));
        } else {
            sybilWins(firstGame + w, id, lieFrom, w);
        }
        for (uint256 g = firstGame; g <= game.gameCount(); ++g) {
            if (!market.getGame(g).settled) market.closeGame(g);
        }
        uint256 back = liarCredit();
        assertLte(back, spent - SUBMITTER_BOND / 2, "the liar recovered more than half its bond");
        if (honestJoins) {
            // The watcher's transactions: the challenge, at most five moves, and the game's end.
            assertGte(market.withdrawable(watcher), CHALLENGER_BOND + 7 * ALLOWANCE, "watcher lost money");
            assertGte(spent - back, SUBMITTER_BOND / 2 + stakeOf(HALT), "the watcher's stake is the liar's");
        } else {
            assertEq(spent - back, SUBMITTER_BOND / 2);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // 3. an honest challenger never loses money
    // ---------------------------------------------------------------------------------------------

    /// The liar lets H play some moves, then voids its claim through a Sybil in one block: H's game
    /// closes with H's bond and a stake that covers every transaction H sent.
    function testFuzz_honestChallengerCutShort_isCoveredForEveryTransaction(uint8 movesSeed, uint64 lie)
        public
    {
        uint64 lieFrom = uint64(bound(lie, 1, HALT));
        (uint256 id, uint256 claimId) = requestAndFalseClaim(2);
        uint256 hGame = challengeAs(watcher, id, claimId);
        uint256 watcherTxs = 1 + playSome(hGame, id, lieFrom, bound(movesSeed, 0, game.maxMoves(HALT) - 1));
        if (market.getGame(hGame).settled) return; // H already won on the merits
        run(one(challengeCall(0, id, claimId)));
        sybilWins(game.gameCount(), id, lieFrom, 0);
        market.closeGame(hGame);
        ++watcherTxs; // the close
        assertGte(market.withdrawable(watcher), CHALLENGER_BOND + watcherTxs * ALLOWANCE);
    }

    /// H wins first: its bond, its game's stake and the unburnt half of the bond as the bounty.
    function test_honestChallengerWinsFirst_earnsTheBounty() public {
        (uint256 id, uint256 claimId) = requestAndFalseClaim(2);
        uint256 g = challengeAs(watcher, id, claimId);
        playMarketGame(g, falseTrace(id, INPUT, HALT, 500), honestFor(INPUT));
        assertEq(market.withdrawable(watcher), CHALLENGER_BOND + stakeOf(HALT) + SUBMITTER_BOND / 2);
    }

    /// The liar spends its whole clock, a share before every move: the honest challenger still wins,
    /// within both clocks.
    function test_liarSpendsItsWholeClock() public {
        (uint256 id, uint256 claimId) = requestAndFalseClaim(1);
        uint256 start = block.timestamp;
        uint256 g = challengeAs(watcher, id, claimId);
        Actor memory d = actorFor(address(rig), falseTrace(id, INPUT, HALT, 300));
        d.thinkTime = CLOCK / uint64(game.maxMoves(HALT)); // its whole clock, spread over its moves
        Actor memory h = actorFor(watcher, honestFor(INPUT));
        Outcome memory o =
            play(game, g, d, h, market.getRequest(id).initialState, market.getClaim(claimId).finalState);
        assertFalse(o.defenderWon);
        assertLte(block.timestamp - start, 2 * uint256(CLOCK));
        assertEq(market.withdrawable(watcher), CHALLENGER_BOND + stakeOf(HALT) + SUBMITTER_BOND / 2);
    }

    /// Honest challengers piling onto one false claim: each gets its own funded game until the stake
    /// runs out; the next one is refused (nothing spent but the reverted call), and every admitted one
    /// is paid in full when the claim is voided.
    function test_manyHonestChallengers_eachAdmittedOneIsCovered() public {
        (uint256 id, uint256 claimId) = requestAndFalseClaim(3);
        address[] memory hs = new address[](3);
        uint256[] memory gs = new uint256[](3);
        for (uint256 i = 0; i < 3; ++i) {
            hs[i] = makeAddr(string.concat("honest ", vm.toString(i)));
            vm.deal(hs[i], 10 ether);
            gs[i] = challengeAs(hs[i], id, claimId);
        }
        address late = makeAddr("late");
        vm.deal(late, 10 ether);
        vm.prank(late);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.StakeExhausted.selector, claimId, 0, stakeOf(HALT))
        );
        market.challenge{value: CHALLENGER_BOND}(id, claimId);
        playMarketGame(gs[1], falseTrace(id, INPUT, HALT, 42), honestFor(INPUT));
        market.closeGame(gs[0]);
        market.closeGame(gs[2]);
        for (uint256 i = 0; i < 3; ++i) {
            uint256 bounty = i == 1 ? SUBMITTER_BOND / 2 : 0;
            assertEq(market.withdrawable(hs[i]), CHALLENGER_BOND + stakeOf(HALT) + bounty);
        }
    }
}
