// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MarketFixture} from "./utils/MarketFixture.sol";
import {SybilScript} from "./utils/SybilScript.sol";
import {LiarRig, Puppet} from "./utils/LiarRig.sol";
import {InferenceMarket} from "../contracts/InferenceMarket.sol";
import {DisputeGame} from "../contracts/DisputeGame.sol";
import {IDisputeGame} from "../contracts/interfaces/IDisputeGame.sol";
import {IModelState} from "../contracts/interfaces/IModelState.sol";
import {IOneStepVerifier} from "../contracts/interfaces/IOneStepVerifier.sol";

/// @notice The payout properties of docs/SECURITY.md §2, each against a liar whose contract controls
/// many accounts and makes several calls per transaction (front-run and back-run of the honest call in
/// the same block):
/// - the reviewer's four attacks (sandwich, top-up capture, fee hostage, stalling Sybils), each shown
///   to fail;
/// - P1 a false claim never finalizes while one honest challenger gets one transaction per block;
/// - P2 a liar loses at least half its bond per false claim, and never receives another's deposit;
/// - P3 an honest challenger never ends with a net loss (its deposits and an allowance per transaction);
/// - P4 a request is resolvable by {InferenceMarket.resolvableAt};
/// - P5 an honest submitter is never slashed by Sybils that stall.
/// The `testFuzz_P*` tests also fuzz the deployment parameters over their accepted ranges (P6).
contract EconomicsTest is MarketFixture, SybilScript {
    bytes internal constant INPUT = "an input of the model";
    uint256 internal constant PUPPETS = 24;
    uint256 internal constant BLOCK = 12;

    LiarRig internal rig;
    address internal watcher; // an honest challenger
    address internal server; // an honest submitter
    uint256 internal watcherPaid; // every wei the watcher sent
    uint256 internal watcherTxs; // every transaction the watcher sent (or that ended its game)
    uint256 internal liarPaid; // every wei the liar's accounts sent

    function setUp() public {
        setUpMarket();
        rig = new LiarRig();
        rig.addPuppets(PUPPETS);
        vm.deal(address(rig), 100_000 ether);
        watcher = makeAddr("watcher");
        server = makeAddr("server");
        vm.deal(watcher, 100_000 ether);
        vm.deal(server, 100_000 ether);
    }

    // ---------------------------------------------------------------------------------------------
    // parameters
    // ---------------------------------------------------------------------------------------------

    /// Redeploys the market with parameters drawn from `seed` over the ranges the constructor accepts.
    function deployFuzzed(uint256 seed) internal {
        InferenceMarket.Config memory cfg = InferenceMarket.Config({
            modelState: IModelState(address(modelState)),
            verifier: IOneStepVerifier(address(traceVm)),
            arity: bound(_draw(seed, 0), 8, 32),
            clockBudget: uint64(bound(_draw(seed, 1), 5 minutes, 30 days)),
            challengeWindow: uint64(bound(_draw(seed, 2), 1 minutes, 30 days)),
            requestTimeout: uint64(bound(_draw(seed, 3), 1 hours, 30 days)),
            submitterBond: 0,
            challengerBond: 0,
            moveAllowance: uint96(bound(_draw(seed, 4), 1e9, 1e16)),
            burnBps: uint16(bound(_draw(seed, 5), 5000, 9999)),
            challengerBurnBps: uint16(bound(_draw(seed, 6), 0, 10_000))
        });
        uint256 a = cfg.moveAllowance;
        uint256 minBond = (64 * a * 10_000) / (10_000 - cfg.burnBps) + 1;
        cfg.submitterBond = uint96(bound(_draw(seed, 7), minBond, minBond + 10 ether));
        cfg.challengerBond = uint96(bound(_draw(seed, 8), 25 * a, 25 * a + 10 ether));
        deployMarket(cfg);
        (modelId, token) = registerModel("model", HALT, MAX_STEPS, FEE, SHARE_BPS);
    }

    function _draw(uint256 seed, uint256 i) private pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, i)));
    }

    function bond() internal view returns (uint256) {
        return market.submitterBond();
    }

    function allowance() internal view returns (uint256) {
        return market.moveAllowance();
    }

    function clock() internal view returns (uint256) {
        return game.clockBudget();
    }

    function stakeG() internal view returns (uint256) {
        return market.gameStakeFor(HALT);
    }

    /// The unburnt part of a voided bond.
    function bounty() internal view returns (uint256) {
        return bond() - (bond() * market.burnBps()) / 10_000;
    }

    // ---------------------------------------------------------------------------------------------
    // the liar
    // ---------------------------------------------------------------------------------------------

    function puppet(uint256 i) internal view returns (Puppet) {
        return rig.puppets(i);
    }

    /// The liar's false claim: output, final state and step count of another run.
    function falseResult(uint256 requestId)
        internal
        view
        returns (bytes memory output, bytes32 finalState, bytes memory proof)
    {
        bytes32 evil = keccak256(abi.encode("evil", requestId, HALT));
        output = modelState.outputOf(evil);
        finalState = traceVm.stateHash(evil, HALT, HALT);
        proof = abi.encode(evil);
    }

    function submitCall(uint256 requestId, uint256 games) internal view returns (LiarRig.Call memory c) {
        (bytes memory output, bytes32 finalState, bytes memory proof) = falseResult(requestId);
        c.target = address(market);
        c.value = bond() + games * stakeG();
        c.data = abi.encodeCall(InferenceMarket.submit, (requestId, output, finalState, HALT, proof));
    }

    function challengeCall(uint256 p, uint256 requestId, uint256 claimId)
        internal
        view
        returns (LiarRig.Call memory c)
    {
        c.puppet = puppet(p);
        c.target = address(market);
        c.value = market.challengeValue(claimId);
        c.data = abi.encodeCall(InferenceMarket.challenge, (requestId, claimId));
    }

    function topUpCall(uint256 claimId, uint256 value) internal view returns (LiarRig.Call memory c) {
        c.target = address(market);
        c.value = value;
        c.data = abi.encodeCall(InferenceMarket.topUp, (claimId));
    }

    /// The back-run: puppet `p` loses its fresh game `g` against the rig in one transaction.
    function lossCalls(uint256 g, uint256 p) internal view returns (LiarRig.Call[] memory calls) {
        InferenceMarket.Claim memory cl = market.getClaim(market.getGame(g).claimId);
        ScriptedMove[] memory moves = sybilLoss(
            game, g, honestFor(INPUT), market.getRequest(cl.requestId).initialState, cl.finalState, cl.steps
        );
        calls = new LiarRig.Call[](moves.length);
        for (uint256 i = 0; i < moves.length; ++i) {
            if (moves[i].byChallenger) calls[i].puppet = puppet(p);
            calls[i].target = address(game);
            calls[i].data = moves[i].data;
        }
    }

    function run(LiarRig.Call[] memory calls) internal {
        uint256 value;
        for (uint256 i = 0; i < calls.length; ++i) {
            value += calls[i].value;
        }
        liarPaid += value;
        rig.batch(calls);
    }

    function one(LiarRig.Call memory c) internal pure returns (LiarRig.Call[] memory calls) {
        calls = new LiarRig.Call[](1);
        calls[0] = c;
    }

    /// Everything the liar's accounts can withdraw.
    function liarCredit() internal view returns (uint256 total) {
        total = market.withdrawable(address(rig));
        for (uint256 i = 0; i < PUPPETS; ++i) {
            total += market.withdrawable(address(puppet(i)));
        }
    }

    function requestAndFalseClaim(uint256 games) internal returns (uint256 id, uint256 claimId) {
        id = requestAs(requester, INPUT);
        run(one(submitCall(id, games)));
        claimId = market.claimCount();
    }

    /// Puppet `p` wins game `g` against the rig (which lies from `lieFrom`), all in this block.
    function sybilWins(uint256 g, uint256 requestId, uint64 lieFrom, uint256 p) internal {
        _liarMatches(g);
        Actor memory d = actorFor(address(rig), falseTrace(requestId, INPUT, HALT, lieFrom));
        Actor memory c = actorFor(address(puppet(p)), honestFor(INPUT));
        InferenceMarket.Claim memory cl = market.getClaim(market.getGame(g).claimId);
        Outcome memory o = play(game, g, d, c, market.getRequest(requestId).initialState, cl.finalState);
        assertFalse(o.defenderWon);
        assertFalse(o.byTimeout);
    }

    /// The rig tops up and so matches a challenger-backed game before its first move.
    function _liarMatches(uint256 g) internal {
        InferenceMarket.GameRef memory ref = market.getGame(g);
        InferenceMarket.Claim memory cl = market.getClaim(ref.claimId);
        if (ref.funding == InferenceMarket.Funding.Challenger && cl.freeStake < cl.gameStake) {
            run(one(topUpCall(ref.claimId, cl.gameStake - cl.freeStake)));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // the honest parties
    // ---------------------------------------------------------------------------------------------

    /// The watcher's challenge (one transaction).
    function watcherChallenges(uint256 id, uint256 claimId) internal returns (uint256 g) {
        uint256 value = market.challengeValue(claimId);
        watcherPaid += value;
        ++watcherTxs;
        vm.prank(watcher);
        g = market.challenge{value: value}(id, claimId);
    }

    /// The watcher plays its game `g` to the end against the rig lying from `lieFrom`; the rig matches
    /// and plays when `liarPlays`, else stalls. Counts the watcher's transactions (its moves, and the
    /// timeout that ends a stalled game).
    function watcherPlays(uint256 g, uint256 id, uint64 lieFrom, bool liarPlays) internal {
        if (liarPlays) _liarMatches(g);
        Actor memory d = actorFor(address(rig), falseTrace(id, INPUT, HALT, lieFrom));
        if (!liarPlays) d.strategy = Strategy.Stall;
        Actor memory h = actorFor(watcher, honestFor(INPUT));
        InferenceMarket.Claim memory cl = market.getClaim(market.getGame(g).claimId);
        Outcome memory o = play(game, g, d, h, market.getRequest(id).initialState, cl.finalState);
        assertFalse(o.defenderWon, "the honest challenger lost");
        watcherTxs += o.challengerMoves + (o.byTimeout ? 1 : 0);
    }

    /// Closes the watcher's game of a voided claim (one watcher transaction).
    function watcherCloses(uint256 g) internal {
        ++watcherTxs;
        market.closeGame(g);
    }

    /// P3: the watcher got back everything it sent and an allowance for every transaction.
    function assertWatcherWhole() internal {
        assertGte(
            market.withdrawable(watcher), watcherPaid + watcherTxs * allowance(), "the honest challenger lost"
        );
    }

    /// P2: the liar lost at least half of each voided claim's bond.
    function assertLiarLostHalf(uint256 claims) internal {
        assertGte(liarPaid - liarCredit(), claims * (bond() - bounty()), "the liar recovered too much");
    }

    function assertVoided(uint256 claimId) internal {
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Voided));
    }

    /// The claim is voided, and `finalize` refuses it.
    function assertVoidedForGood(uint256 id, uint256 claimId) internal {
        assertVoided(claimId);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, id, claimId));
        market.finalize(claimId);
    }

    function nextBlock() internal {
        skipTime(BLOCK);
    }

    // ---------------------------------------------------------------------------------------------
    // the reviewer's four attacks
    // ---------------------------------------------------------------------------------------------

    /// Attack 1, the sandwich: a false claim staked for exactly one game. In every block the liar
    /// front-runs the honest challenge with a Sybil challenge (which takes the claim's only stake) and
    /// back-runs it with the Sybil's instant loss (which gives it back). The honest challenge is accepted
    /// all the same (the watcher backs its own game), so the claim cannot finalize when the window
    /// closes; the liar must fund and lose that game, or time out in it.
    function test_attack1_sandwich_theFalseClaimNeverFinalizes() public {
        (uint256 id, uint256 claimId) = requestAndFalseClaim(1);
        uint256 p;
        // The block of the honest challenge.
        run(one(challengeCall(p, id, claimId)));
        uint256 sybilGame = game.gameCount();
        assertEq(market.getClaim(claimId).freeStake, 0, "the front-run took the claim's stake");
        uint256 hGame = watcherChallenges(id, claimId);
        assertEq(uint256(market.getGame(hGame).funding), uint256(InferenceMarket.Funding.Challenger));
        run(lossCalls(sybilGame, p++));
        assertEq(uint256(game.status(sybilGame)), uint256(IDisputeGame.Status.DefenderWon));
        assertEq(market.getClaim(claimId).freeStake, stakeG(), "the back-run gave the stake back");
        // The liar sandwiches every later block too, up to the window's last one.
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        for (uint256 b = 0; b < 5; ++b) {
            nextBlock();
            if (b == 4) vm.warp(deadline - 1);
            run(one(challengeCall(p, id, claimId)));
            run(lossCalls(game.gameCount(), p++));
        }
        // The window closed: the claim cannot settle while the honest game is open.
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GamesOpen.selector, 1));
        market.finalize(claimId);
        // The liar stalls in the honest game and loses it on time.
        watcherPlays(hGame, id, 500, false);
        assertVoidedForGood(id, claimId);
        (bool finalized,,,) = market.result(id);
        assertFalse(finalized);
        assertWatcherWhole();
        assertLiarLostHalf(1);
    }

    /// Attack 2, top-up capture: the liar exhausts its claim in the submitting transaction. A watcher
    /// cannot top up someone else's claim (there is nothing to capture); it challenges, backing its own
    /// game, behind a second Sybil front-run. The liar voids its own claim through its first Sybil in the
    /// same block: the watcher's game closes with its bond, its own stake and two allowances.
    function test_attack2_topUpCapture_theWatcherLosesNothing() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = market.claimCount() + 1;
        LiarRig.Call[] memory calls = new LiarRig.Call[](2);
        calls[0] = submitCall(id, 1);
        calls[1] = challengeCall(0, id, claimId);
        calls[1].value = market.challengerBond() + stakeG();
        run(calls);
        uint256 sybilGame = game.gameCount();
        uint256 gs = stakeG();
        vm.prank(watcher);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotSubmitter.selector, watcher, address(rig)));
        market.topUp{value: gs}(claimId);
        run(one(challengeCall(1, id, claimId))); // front-run
        uint256 hGame = watcherChallenges(id, claimId);
        sybilWins(sybilGame, id, 200, 0); // back-run: the liar voids its own claim
        assertVoided(claimId);
        watcherCloses(hGame);
        assertEq(
            market.withdrawable(watcher),
            market.challengerBond() + stakeG() + 2 * allowance(),
            "watcher's close"
        );
        assertWatcherWhole();
        assertLiarLostHalf(1);
    }

    /// Attack 3, fee hostage: every few hours one liar transaction makes Sybil i lose and Sybil i + 1
    /// challenge, so a game is always open. Challenges end with the window and a game with both clocks:
    /// the honest watcher's game voids the claim, and at `resolvableAt` the requester gets its fee back.
    function test_attack3_feeHostage_theRequestResolvesByItsBound() public {
        (uint256 id, uint256 claimId) = requestAndFalseClaim(1);
        run(one(challengeCall(0, id, claimId)));
        uint256 sybilGame = game.gameCount();
        uint256 hGame = watcherChallenges(id, claimId);
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        uint256 p = 1;
        while (block.timestamp + 6 hours < deadline) {
            skipTime(6 hours - 1);
            // One transaction: Sybil p - 1 loses (the stake comes back), Sybil p takes it again.
            LiarRig.Call[] memory loss = lossCalls(sybilGame, p - 1);
            LiarRig.Call[] memory calls = new LiarRig.Call[](loss.length + 1);
            for (uint256 i = 0; i < loss.length; ++i) {
                calls[i] = loss[i];
            }
            calls[loss.length] = challengeCall(p, id, claimId);
            run(calls);
            sybilGame = game.gameCount();
            assertEq(uint256(market.getGame(sybilGame).funding), uint256(InferenceMarket.Funding.Claim));
            ++p;
        }
        // No Sybil gets in after the window.
        vm.warp(deadline);
        LiarRig.Call[] memory late = one(challengeCall(p, id, claimId));
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ChallengeWindowClosed.selector, deadline));
        rig.batch(late);
        // The liar never plays the honest game; the request is resolvable by its bound.
        watcherPlays(hGame, id, 100, false);
        assertVoided(claimId);
        vm.warp(market.resolvableAt(id));
        if (game.toMove(sybilGame) != address(0)) game.timeout(sybilGame);
        uint256 before = market.withdrawable(requester);
        market.refund(id);
        assertEq(market.withdrawable(requester), before + FEE);
        assertWatcherWhole();
        assertLiarLostHalf(1);
    }

    /// Attack 4, stalling Sybils: an honest claim staked for one game; Sybil A takes it, Sybil B backs
    /// its own game; both stall. The honest submitter dissects A's game, tops up and so matches B's,
    /// and wins both on time. No one can void an honest claim for being exhausted (there is no such
    /// rule any more); it settles within its window and both clocks, and the server profits.
    function test_attack4_stallingSybils_neverSlashTheHonestClaim() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 posted = block.timestamp;
        uint256 paid = bond() + stakeG();
        uint256 claimId = serverSubmits(id, paid);
        LiarRig.Call[] memory calls = new LiarRig.Call[](2);
        calls[0] = challengeCall(0, id, claimId);
        calls[1] = challengeCall(1, id, claimId);
        run(calls);
        uint256 a = game.gameCount() - 1;
        uint256 b = game.gameCount();
        assertEq(uint256(market.getGame(b).funding), uint256(InferenceMarket.Funding.Challenger));
        uint256 serverTxs; // the transactions the Sybil games force on it
        // The server's next block: dissect A; top up and dissect B (matching it).
        nextBlock();
        bytes32[] memory pts = _honestDissection();
        vm.prank(server);
        game.dissect(a, pts);
        uint256 gs = stakeG();
        vm.prank(server);
        market.topUp{value: gs}(claimId);
        paid += gs;
        vm.prank(server);
        game.dissect(b, pts);
        serverTxs += 3;
        // The Sybils stall; the server times them out.
        skipTime(clock() + 1);
        vm.prank(server);
        game.timeout(a);
        vm.prank(server);
        game.timeout(b);
        serverTxs += 2;
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        if (block.timestamp < deadline) vm.warp(deadline);
        assertLte(block.timestamp, posted + market.challengeWindow() + 2 * clock() + 1);
        vm.prank(server);
        market.finalize(claimId);
        assertEq(market.getRequest(id).settledClaim, claimId);
        uint256 cut = (uint256(FEE) * SHARE_BPS) / 10_000;
        // Everything it sent, its fee share (which pays for serving: the submission and the finalize), and
        // an allowance for every transaction the Sybils forced on it.
        assertGte(market.withdrawable(server), paid + cut + serverTxs * allowance(), "the honest server lost");
    }

    /// The server's honest claim of request `id`, paying `value` (its bond and stake).
    function serverSubmits(uint256 id, uint256 value) internal returns (uint256 claimId) {
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        vm.prank(server);
        claimId = market.submit{value: value}(id, output, finalState, steps, proof);
    }

    function _honestDissection() internal view returns (bytes32[] memory pts) {
        bytes32 seed = seedFor(INPUT);
        pts = new bytes32[](game.partCount(HALT) + 1);
        for (uint256 j = 0; j < pts.length; ++j) {
            pts[j] = traceVm.stateHash(seed, game.boundary(0, HALT, j), HALT);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // P1: a false claim never finalizes
    // ---------------------------------------------------------------------------------------------

    /// The liar sandwiches the honest challenge, which lands at any time in the window, and every block
    /// after it up to the window's end; then plays the honest game with any lie (matching it first) or
    /// stalls. Over any accepted parameters the claim is voided and never finalizes.
    function testFuzz_P1_sandwichedEveryBlock_aFalseClaimNeverFinalizes(
        uint256 params,
        uint64 when,
        uint64 lie,
        bool liarPlays,
        uint8 stake
    ) public {
        deployFuzzed(params);
        (uint256 id, uint256 claimId) = requestAndFalseClaim(bound(stake, 1, 3));
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        vm.warp(block.timestamp + bound(when, 0, deadline - block.timestamp - 1));
        // Front-run with as many Sybils as the claim has stake for, so the honest game is backed by
        // the watcher; back-run with their instant losses.
        uint256 p;
        uint256 firstSybil = game.gameCount() + 1;
        while (market.getClaim(claimId).freeStake >= stakeG()) {
            run(one(challengeCall(p++, id, claimId)));
        }
        uint256 hGame = watcherChallenges(id, claimId);
        for (uint256 g = firstSybil; g < hGame; ++g) {
            run(lossCalls(g, g - firstSybil));
        }
        for (uint256 b = 0; b < 3 && block.timestamp + BLOCK < deadline; ++b) {
            nextBlock();
            run(one(challengeCall(p, id, claimId)));
            run(lossCalls(game.gameCount(), p++));
        }
        if (liarPlays) {
            // It must move within its clock: the game ends (with the liar's loss) before or after the
            // window closes.
            watcherPlays(hGame, id, uint64(bound(lie, 1, HALT)), true);
            if (block.timestamp < deadline) vm.warp(deadline);
        } else {
            // The stalled game is still open when the window closes, so the claim cannot settle.
            vm.warp(deadline);
            vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GamesOpen.selector, 1));
            market.finalize(claimId);
            watcherPlays(hGame, id, 1, false);
        }
        assertVoidedForGood(id, claimId);
        assertWatcherWhole();
        assertLiarLostHalf(1);
    }

    /// Many false claims on one request in one transaction: one honest transaction per block still
    /// challenges them all ({InferenceMarket.challengeMany}) and plays all the games (the dispute game's
    /// {DisputeGame.multicall}); none finalizes.
    function test_P1_manyFalseClaims_oneHonestTransactionPerBlock() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 n = 12;
        LiarRig.Call[] memory subs = new LiarRig.Call[](n);
        for (uint256 i = 0; i < n; ++i) {
            subs[i] = submitCall(id, 1);
        }
        run(subs);
        uint256[] memory reqs = new uint256[](n);
        uint256[] memory claims = new uint256[](n);
        uint256 value;
        for (uint256 i = 0; i < n; ++i) {
            reqs[i] = id;
            claims[i] = i + 1;
            value += market.challengeValue(i + 1);
        }
        watcherPaid += value;
        ++watcherTxs;
        vm.prank(watcher);
        uint256[] memory gs = market.challengeMany{value: value}(reqs, claims);
        // The liar plays every game (a lie from step 300); the watcher answers all of them in one
        // transaction per block.
        bytes32[][] memory cur = new bytes32[][](n);
        for (uint256 i = 0; i < n; ++i) {
            cur[i] = new bytes32[](2);
            cur[i][0] = market.getRequest(id).initialState;
            cur[i][1] = market.getClaim(claims[i]).finalState;
        }
        Actor memory liar = actorFor(address(rig), falseTrace(id, INPUT, HALT, 300));
        Actor memory h = actorFor(watcher, honestFor(INPUT));
        for (uint256 round = 0; round < game.maxMoves(HALT); ++round) {
            for (uint256 i = 0; i < n; ++i) {
                if (game.toMove(gs[i]) != address(rig)) continue;
                Outcome memory o;
                (, cur[i]) = playMove(game, gs[i], liar, cur[i], game.status(gs[i]), o);
            }
            nextBlock();
            bytes[] memory moves = new bytes[](n);
            uint256 m;
            for (uint256 i = 0; i < n; ++i) {
                if (game.toMove(gs[i]) != watcher) continue;
                (moves[m++], cur[i]) = _watcherMove(gs[i], h, cur[i]);
            }
            if (m == 0) break;
            assembly ("memory-safe") {
                mstore(moves, m)
            }
            vm.prank(watcher);
            bool[] memory ok = game.multicall(moves);
            for (uint256 i = 0; i < m; ++i) {
                assertTrue(ok[i], "a watcher move failed");
            }
            ++watcherTxs;
        }
        for (uint256 i = 0; i < n; ++i) {
            assertVoided(claims[i]);
        }
        assertWatcherWhole();
        assertLiarLostHalf(n);
    }

    /// The watcher's move in game `g` as calldata, and the dissection it leaves.
    function _watcherMove(uint256 g, Actor memory h, bytes32[] memory cur)
        internal
        view
        returns (bytes memory data, bytes32[] memory next)
    {
        DisputeGame.Game memory gm = game.game(g);
        uint256 part;
        while (cur[part + 1] == stateAt(h.trace, game.boundary(gm.lo, gm.hi, part + 1))) {
            ++part;
        }
        uint64 lo = game.boundary(gm.lo, gm.hi, part);
        uint64 hi = game.boundary(gm.lo, gm.hi, part + 1);
        if (hi - lo == 1) {
            (, bytes memory proof) = proofAt(h.trace, cur[part], lo);
            return (abi.encodeCall(DisputeGame.step, (g, cur, part, proof)), cur);
        }
        next = new bytes32[](game.partCount(hi - lo) + 1);
        for (uint256 i = 0; i < next.length; ++i) {
            next[i] = stateAt(h.trace, game.boundary(lo, hi, i));
        }
        data = abi.encodeCall(DisputeGame.respond, (g, cur, part, next));
    }

    // ---------------------------------------------------------------------------------------------
    // P2: a false claim costs its poster at least half its bond
    // ---------------------------------------------------------------------------------------------

    /// Submit, Sybil challenge and Sybil win, all by the liar in one transaction (the game played in one
    /// block): the liar gets back its stakes but only half of its bond.
    function test_selfVoidInOneTransaction_recoversHalfTheBond() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = market.claimCount() + 1;
        LiarRig.Call[] memory calls = new LiarRig.Call[](2);
        calls[0] = submitCall(id, 2);
        calls[1] = challengeCall(0, id, claimId);
        calls[1].value = market.challengerBond() + stakeG();
        run(calls);
        sybilWins(game.gameCount(), id, 1, 0);
        assertEq(liarPaid - liarCredit(), bond() - bounty(), "the liar loses exactly the burnt part");
    }

    /// Whatever games its accounts open (claim-backed and self-backed, in one transaction, before or
    /// after a sandwiched honest challenge), whether it matches them, and whoever wins first, the liar
    /// loses at least half its bond; the honest watcher loses nothing, so none of its deposits reached
    /// the liar. Over any accepted parameters.
    function testFuzz_P2_liarLosesAtLeastHalf(
        uint256 params,
        uint8 sybils,
        uint8 winnerSeed,
        bool honestJoins,
        uint64 lie,
        uint8 stake
    ) public {
        deployFuzzed(params);
        uint256 n = bound(sybils, 1, 8);
        (uint256 id, uint256 claimId, uint256 firstGame) = _claimWithSybilGames(n, bound(stake, 1, 4));
        uint256 hGame;
        if (honestJoins) hGame = watcherChallenges(id, claimId);
        uint256 w = bound(winnerSeed, 0, n + (honestJoins ? 1 : 0) - 1);
        if (honestJoins && w == n) {
            watcherPlays(hGame, id, uint64(bound(lie, 1, HALT)), winnerSeed % 2 == 0);
        } else {
            sybilWins(firstGame + w, id, uint64(bound(lie, 1, HALT)), w);
        }
        assertVoided(claimId);
        for (uint256 g = firstGame; g <= game.gameCount(); ++g) {
            if (market.getGame(g).settled) continue;
            if (g == hGame) watcherCloses(g);
            else market.closeGame(g);
        }
        assertLiarLostHalf(1);
        if (honestJoins) assertWatcherWhole();
    }

    /// A false claim staked for `games` games and `n` Sybil challenges, all in one liar transaction.
    function _claimWithSybilGames(uint256 n, uint256 games)
        internal
        returns (uint256 id, uint256 claimId, uint256 firstGame)
    {
        id = requestAs(requester, INPUT);
        claimId = market.claimCount() + 1;
        firstGame = game.gameCount() + 1;
        LiarRig.Call[] memory calls = new LiarRig.Call[](1 + n);
        calls[0] = submitCall(id, games);
        for (uint256 i = 0; i < n; ++i) {
            calls[1 + i] = challengeCall(i, id, claimId);
            calls[1 + i].value = market.challengerBond() + stakeG();
        }
        run(calls);
    }

    // ---------------------------------------------------------------------------------------------
    // P3: an honest challenger never loses money
    // ---------------------------------------------------------------------------------------------

    /// The watcher's game is claim-backed or (behind a front-run) backed by itself; the liar matches it
    /// and plays some moves, or never matches it; then the liar voids its own claim through a Sybil in
    /// one block, or the watcher wins. The watcher always gets back what it sent plus an allowance per
    /// transaction. Over any accepted parameters.
    function testFuzz_P3_honestChallengerCutShort_isCovered(
        uint256 params,
        uint8 movesSeed,
        uint64 lie,
        bool frontRun,
        bool liarMatches
    ) public {
        deployFuzzed(params);
        uint64 lieFrom = uint64(bound(lie, 1, HALT));
        (uint256 id, uint256 claimId) = requestAndFalseClaim(2);
        if (frontRun) {
            run(one(challengeCall(0, id, claimId)));
            run(one(challengeCall(1, id, claimId)));
        }
        uint256 hGame = watcherChallenges(id, claimId);
        if (liarMatches || !frontRun) {
            _liarMatches(hGame);
            watcherTxs += _playSome(hGame, id, lieFrom, bound(movesSeed, 0, game.maxMoves(HALT) - 1));
        }
        if (market.getGame(hGame).settled) {
            assertWatcherWhole(); // the watcher won on the merits
            return;
        }
        run(one(challengeCall(2, id, claimId)));
        sybilWins(game.gameCount(), id, lieFrom, 2);
        watcherCloses(hGame);
        assertWatcherWhole();
        assertLiarLostHalf(1);
    }

    /// Plays up to `moves` moves of game `g` (the rig lying from `lieFrom`, the watcher honest); returns
    /// the watcher's moves.
    function _playSome(uint256 g, uint256 id, uint64 lieFrom, uint256 moves) internal returns (uint256 mine) {
        Actor[2] memory sides = [
            actorFor(address(rig), falseTrace(id, INPUT, HALT, lieFrom)), actorFor(watcher, honestFor(INPUT))
        ];
        bytes32[] memory cur = new bytes32[](2);
        cur[0] = market.getRequest(id).initialState;
        cur[1] = market.getClaim(market.getGame(g).claimId).finalState;
        for (uint256 i = 0; i < moves; ++i) {
            uint256 side = game.toMove(g) == sides[0].addr ? 0 : 1;
            bool moved;
            bool stepped;
            (moved, stepped, cur) = _oneMove(g, sides[side], cur);
            if (!moved) break;
            mine += side;
            if (stepped) break;
        }
    }

    function _oneMove(uint256 g, Actor memory a, bytes32[] memory cur)
        internal
        returns (bool moved, bool stepped, bytes32[] memory next)
    {
        Outcome memory o;
        (moved, next) = playMove(game, g, a, cur, game.status(g), o);
        stepped = o.stepped;
    }

    /// The watcher wins first: its bond, its game's stake and the bounty.
    function test_honestChallengerWinsFirst_earnsTheBounty() public {
        (uint256 id, uint256 claimId) = requestAndFalseClaim(2);
        uint256 g = watcherChallenges(id, claimId);
        watcherPlays(g, id, 500, true);
        assertEq(market.withdrawable(watcher), watcherPaid + stakeG() + bounty());
        assertWatcherWhole();
    }

    /// The liar spends its whole clock, a share before every move: the honest challenger still wins,
    /// within both clocks.
    function test_liarSpendsItsWholeClock() public {
        (uint256 id, uint256 claimId) = requestAndFalseClaim(1);
        uint256 start = block.timestamp;
        uint256 g = watcherChallenges(id, claimId);
        Actor memory d = actorFor(address(rig), falseTrace(id, INPUT, HALT, 300));
        d.thinkTime = CLOCK / uint64(game.maxMoves(HALT)); // its whole clock, spread over its moves
        Actor memory h = actorFor(watcher, honestFor(INPUT));
        Outcome memory o =
            play(game, g, d, h, market.getRequest(id).initialState, market.getClaim(claimId).finalState);
        assertFalse(o.defenderWon);
        assertLte(block.timestamp - start, 2 * uint256(CLOCK));
        assertEq(market.withdrawable(watcher), watcherPaid + stakeG() + bounty());
    }

    /// Honest challengers piling onto one false claim: each gets its own game (the last ones backed by
    /// their own stakes, none refused); every one is paid in full when the claim is voided.
    function test_manyHonestChallengers_noneRefused_eachCovered() public {
        (uint256 id, uint256 claimId) = requestAndFalseClaim(2);
        address[] memory hs = new address[](4);
        uint256[] memory gs = new uint256[](4);
        uint256 value = market.challengeValue(claimId);
        for (uint256 i = 0; i < 4; ++i) {
            hs[i] = makeAddr(string.concat("honest ", vm.toString(i)));
            vm.deal(hs[i], 10 ether);
            vm.prank(hs[i]);
            gs[i] = market.challenge{value: value}(id, claimId);
        }
        assertEq(uint256(market.getClaim(claimId).unmatchedGames), 2);
        // The liar plays game 1 (claim-backed) and loses it; the others close.
        playMarketGame(gs[1], falseTrace(id, INPUT, HALT, 42), honestFor(INPUT));
        for (uint256 i = 0; i < 4; ++i) {
            if (i != 1) market.closeGame(gs[i]);
        }
        // Claim-backed: its stake at once, then bond and the claim's stake. The winner also the bounty,
        // less two allowances for each of the two games the liar never matched. Those: their bond,
        // their own stake and the two allowances.
        assertEq(market.withdrawable(hs[0]), value + stakeG());
        assertEq(market.withdrawable(hs[1]), value + stakeG() + bounty() - 2 * 2 * allowance());
        assertEq(market.withdrawable(hs[2]), value + 2 * allowance());
        assertEq(market.withdrawable(hs[3]), value + 2 * allowance());
    }

    // ---------------------------------------------------------------------------------------------
    // P4: no request is held past its bound
    // ---------------------------------------------------------------------------------------------

    /// False and honest claims posted at any time before the deadline, Sybil games opened at any time
    /// (the window's last second included) by the liar's accounts, every game stalled as long as its
    /// clocks allow: at `resolvableAt` anyone can end every game, and the request then settles or is
    /// refunded. Over any accepted parameters.
    function testFuzz_P4_noRequestHeldPastItsBound(uint256 params, uint256 plan, bool honestClaim) public {
        deployFuzzed(params);
        uint256 id = requestAs(requester, INPUT);
        uint256 start = block.timestamp;
        uint256 deadline = market.getRequest(id).deadline;
        // Three claims at sorted times before the deadline; two Sybil games on each, opened in the
        // claim's window's last two seconds. Events run in time order.
        uint256[6] memory at;
        for (uint256 i = 0; i < 3; ++i) {
            at[i] = start + bound(_draw(plan, i), 0, deadline - start - 1);
        }
        _sort3(at);
        for (uint256 i = 0; i < 3; ++i) {
            at[3 + i] = at[i] + market.challengeWindow() - 1 - bound(_draw(plan, 10 + i), 0, 1);
        }
        bool[6] memory done;
        for (uint256 k = 0; k < 6; ++k) {
            uint256 next = 6;
            for (uint256 e = 0; e < 6; ++e) {
                if (!done[e] && (next == 6 || at[e] < at[next])) next = e;
            }
            done[next] = true;
            vm.warp(at[next]);
            if (next < 3) {
                if (honestClaim && next == 1) serverSubmits(id, bond() + stakeG());
                else run(one(submitCall(id, 1)));
            } else {
                _sybilGamesOn(id, next - 2); // claims are numbered in submission order from 1
            }
        }
        vm.warp(market.resolvableAt(id));
        for (uint256 g = 1; g <= game.gameCount(); ++g) {
            if (game.toMove(g) != address(0)) game.timeout(g);
        }
        bool settled;
        for (uint256 c = 1; c <= 3; ++c) {
            if (market.getClaim(c).status != InferenceMarket.ClaimStatus.Pending) continue;
            if (market.getRequest(id).status == InferenceMarket.RequestStatus.Open) {
                market.finalize(c);
                settled = true;
            } else {
                market.release(c);
            }
        }
        if (!settled && market.getRequest(id).status == InferenceMarket.RequestStatus.Open) {
            market.refund(id);
        }
        InferenceMarket.RequestStatus st = market.getRequest(id).status;
        assertTrue(
            st == InferenceMarket.RequestStatus.Finalized || st == InferenceMarket.RequestStatus.Refunded,
            "request still held"
        );
        // The honest server's claim was never voided, and it settled the request unless a claim settled
        // before it.
        if (honestClaim) {
            assertTrue(market.getClaim(2).status != InferenceMarket.ClaimStatus.Voided, "honest claim voided");
            assertEq(uint256(st), uint256(InferenceMarket.RequestStatus.Finalized));
        }
    }

    /// Two Sybil challenges on claim `claimId` in one liar transaction; the honest server answers its
    /// own games at once (matching them), the liar stalls in its own.
    function _sybilGamesOn(uint256 id, uint256 claimId) internal {
        LiarRig.Call[] memory calls = new LiarRig.Call[](2);
        calls[0] = challengeCall(2 * claimId, id, claimId);
        calls[1] = challengeCall(2 * claimId + 1, id, claimId);
        run(calls);
        if (market.getClaim(claimId).submitter != server) return;
        bytes32[] memory pts = _honestDissection();
        for (uint256 g = game.gameCount() - 1; g <= game.gameCount(); ++g) {
            InferenceMarket.Claim memory cl = market.getClaim(claimId);
            if (
                market.getGame(g).funding == InferenceMarket.Funding.Challenger && cl.freeStake < cl.gameStake
            ) {
                vm.prank(server);
                market.topUp{value: cl.gameStake}(claimId);
            }
            vm.prank(server);
            game.dissect(g, pts);
        }
    }

    function _sort3(uint256[6] memory a) internal pure {
        for (uint256 i = 1; i < 3; ++i) {
            for (uint256 j = i; j > 0 && a[j] < a[j - 1]; --j) {
                (a[j], a[j - 1]) = (a[j - 1], a[j]);
            }
        }
    }

    /// With a long clock a single false claim used to block a request outright; claims run side by
    /// side, so the honest one settles at its window's end while the liar's game is still running.
    function test_longClockDoesNotBlock() public {
        InferenceMarket.Config memory cfg = defaultConfig();
        cfg.clockBudget = 300 days;
        deployMarket(cfg);
        (modelId, token) = registerModel("model", HALT, MAX_STEPS, FEE, SHARE_BPS);
        (uint256 id, uint256 liarClaim) = requestAndFalseClaim(2);
        watcherChallenges(id, liarClaim); // the liar will stall for 300 days
        uint256 honestClaim = submitHonest(server, id, INPUT);
        vm.warp(market.getClaim(honestClaim).challengeDeadline);
        market.finalize(honestClaim);
        assertEq(market.getRequest(id).settledClaim, honestClaim);
    }

    /// The reviewer's first review: liar S posts a false claim, honest H challenges, S stalls; just
    /// before S's clock runs out a Sybil challenges and wins in the same block, and the liar resubmits
    /// in the same block. The honest server's claim settles when its window ends; H is paid in full.
    function test_sybilVoidAndResubmit_cannotDelayTheHonestClaim() public {
        (uint256 id, uint256 liarClaim) = requestAndFalseClaim(3);
        uint256 honestClaim = submitHonest(server, id, INPUT);
        uint64 settleAt = market.getClaim(honestClaim).challengeDeadline;
        uint256 hGame = watcherChallenges(id, liarClaim);
        vm.warp(block.timestamp + CLOCK - 1); // S stalls until the last second of its clock
        run(one(challengeCall(0, id, liarClaim)));
        sybilWins(game.gameCount(), id, 600, 0);
        run(one(submitCall(id, 3))); // the resubmission, in the same block as the void
        uint256 liarClaim2 = market.claimCount();
        assertVoided(liarClaim);
        watcherCloses(hGame);
        assertWatcherWhole();
        vm.warp(settleAt);
        market.finalize(honestClaim);
        assertEq(market.getRequest(id).settledClaim, honestClaim);
        // The second false claim is still challengeable and loses like the first.
        uint256 g2 = watcherChallenges(id, liarClaim2);
        watcherPlays(g2, id, 10, true);
        assertVoided(liarClaim2);
        assertWatcherWhole();
    }

    // ---------------------------------------------------------------------------------------------
    // P5: an honest submitter is never slashed by Sybils that stall
    // ---------------------------------------------------------------------------------------------

    /// 1 to 12 Sybil games, opened by the liar's contract in one transaction at any time of the window
    /// (most of them past the claim's stake, so backed by the Sybils), all stalling to the end of their
    /// clocks. The honest server matches each (topping up) and wins each on time; its claim settles by
    /// its window plus both clocks, and it ends with everything it sent, its fee share and an allowance
    /// for every transaction the Sybils forced on it. Over any accepted parameters.
    function testFuzz_P5_stallingSybils_neverSlashAnHonestSubmitter(uint256 params, uint8 sybils, uint32 late)
        public
    {
        deployFuzzed(params);
        uint256 n = bound(sybils, 1, 12);
        uint256 id = requestAs(requester, INPUT);
        uint256 posted = block.timestamp;
        uint256 paid = bond() + stakeG();
        uint256 claimId = serverSubmits(id, paid);
        uint256 serverTxs; // the transactions the Sybil games force on it
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        vm.warp(deadline - 1 - bound(late, 0, deadline - posted - 1));
        uint256 first = game.gameCount() + 1;
        LiarRig.Call[] memory calls = new LiarRig.Call[](n);
        for (uint256 i = 0; i < n; ++i) {
            calls[i] = challengeCall(i, id, claimId);
        }
        run(calls);
        bytes32[] memory pts = _honestDissection();
        for (uint256 g = first; g < first + n; ++g) {
            InferenceMarket.Claim memory cl = market.getClaim(claimId);
            if (
                market.getGame(g).funding == InferenceMarket.Funding.Challenger && cl.freeStake < cl.gameStake
            ) {
                vm.prank(server);
                market.topUp{value: cl.gameStake}(claimId);
                paid += cl.gameStake;
                ++serverTxs;
            }
            vm.prank(server);
            game.dissect(g, pts);
            ++serverTxs;
        }
        skipTime(clock() + 1);
        for (uint256 g = first; g < first + n; ++g) {
            vm.prank(server);
            game.timeout(g);
            ++serverTxs;
        }
        assertLte(block.timestamp, posted + market.challengeWindow() + 2 * clock() + 1);
        if (block.timestamp < deadline) vm.warp(deadline);
        vm.prank(server);
        market.finalize(claimId);
        assertEq(market.getRequest(id).settledClaim, claimId);
        uint256 cut = (uint256(FEE) * SHARE_BPS) / 10_000;
        // Everything it sent, its fee share (which pays for serving: the submission and the finalize), and
        // an allowance for every transaction the Sybils forced on it.
        assertGte(market.withdrawable(server), paid + cut + serverTxs * allowance(), "the honest server lost");
    }
}
