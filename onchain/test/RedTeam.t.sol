// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RedTeamBase} from "./utils/RedTeamBase.sol";
import {Console} from "./utils/Console.sol";
import {Books} from "./utils/Books.sol";
import {InferenceMarket} from "../contracts/InferenceMarket.sol";
import {DisputeGame} from "../contracts/DisputeGame.sol";
import {IDisputeGame} from "../contracts/interfaces/IDisputeGame.sol";

/// A challenger contract that tries to re-enter the market from its receive() during a withdrawal.
contract ReentrantChallenger {
    InferenceMarket internal immutable market;
    uint256 public closeTarget;
    uint256 public reentries; // re-entrant calls that succeeded
    uint256 public attempts;

    constructor(InferenceMarket m) {
        market = m;
    }

    function challenge(uint256 requestId, uint256 claimId) external payable returns (uint256) {
        return market.challenge{value: msg.value}(requestId, claimId);
    }

    function setCloseTarget(uint256 g) external {
        closeTarget = g;
    }

    function withdraw() external {
        market.withdraw();
    }

    receive() external payable {
        if (msg.sender != address(market)) return;
        ++attempts;
        (bool ok,) = address(market).call(abi.encodeCall(InferenceMarket.withdraw, ()));
        if (ok) ++reentries;
        (ok,) = address(market).call(abi.encodeCall(InferenceMarket.closeGame, (closeTarget)));
        if (ok) ++reentries;
        DisputeGame g = market.disputeGame();
        (ok,) = address(g).call(abi.encodeCall(DisputeGame.timeout, (closeTarget)));
        if (ok) ++reentries;
    }
}

/// @notice Red-team tests of the payout properties P1-P6 of docs/SECURITY.md §2 and of the market's
/// books: the two the red team found broken (P1 with a claim every 25 s block, P2 to the wei), fixed,
/// and `test_resists_*`, attacks the contracts withstood (kept as regression tests).
contract RedTeamTest is RedTeamBase {
    // ---------------------------------------------------------------------------------------------
    // helpers
    // ---------------------------------------------------------------------------------------------

    /// One move of `a` in `g` from the current dissection `cur`.
    function move(uint256 g, Actor memory a, bytes32[] memory cur) internal returns (bool, bytes32[] memory) {
        Outcome memory o;
        return playMove(game, g, a, cur, game.status(g), o);
    }

    // ---------------------------------------------------------------------------------------------
    // P1: challenging and moving share one transaction
    // ---------------------------------------------------------------------------------------------

    // State of the duty-cycle schedule (storage, to keep the stack small).
    uint256 internal dId;
    uint256 internal dFirst;
    uint256 internal dG1;
    uint256 internal dNext; // first claim not challenged yet
    uint256 internal dLast; // last claim the honest transaction of this block can see
    bool internal dCombined; // the honest challenger may challenge and move in one transaction
    bool internal dRouting; // sendMove goes out inside challengeManyAndPlay

    /// The watcher's challenge of claims `dNext..dLast` of request `dId`, carrying `moves` in the same
    /// transaction (`challengeManyAndPlay`) when there are any; returns the first game.
    function challengePending(bytes[] memory moves) internal returns (uint256) {
        uint256 n = dLast + 1 - dNext;
        uint256[] memory reqs = new uint256[](n);
        uint256[] memory claims = new uint256[](n);
        uint256 value;
        for (uint256 i = 0; i < n; ++i) {
            reqs[i] = dId;
            claims[i] = dNext + i;
            value += market.challengeValue(claims[i]);
        }
        uint256[] memory gs;
        vm.prank(watcher);
        if (moves.length == 0) {
            gs = market.challengeMany{value: value}(reqs, claims);
        } else {
            bool[] memory ok;
            (gs, ok) = market.challengeManyAndPlay{value: value}(reqs, claims, moves);
            for (uint256 i = 0; i < ok.length; ++i) {
                assertTrue(ok[i], "a move carried by challengeManyAndPlay failed");
            }
        }
        dNext = dLast + 1;
        return gs[0];
    }

    function sendMove(DisputeGame g, address from, bytes memory data) internal override {
        if (!dRouting) return super.sendMove(g, from, data);
        assertEq(from, watcher);
        bytes[] memory moves = new bytes[](1);
        moves[0] = data;
        challengePending(moves);
    }

    /// The schedule of an honest EOA challenger that gets exactly one transaction per block, `blockTime`
    /// seconds apart, against a liar that submits a new false claim (staked for one game) in front of
    /// every honest transaction and answers every honest move in its back-run. The honest challenger
    /// must challenge each claim before its window closes and move in its game. With `combined` it does
    /// both in one `challengeManyAndPlay`; without, it must choose, and whenever a window would close
    /// before its next block it challenges rather than moves. Parameters: k = 8, clock 5 minutes,
    /// window 1 minute (both the constructor's minimums), a model whose `maxSteps` is 2^48; the liar
    /// claims 2^48 steps. Returns the first false claim and its honest game.
    function runDutyCycle(uint64 blockTime, bool combined)
        internal
        returns (uint256 id, uint256 first, uint256 g1)
    {
        InferenceMarket.Config memory cfg = defaultConfig();
        cfg.clockBudget = 5 minutes;
        cfg.challengeWindow = 1 minutes;
        cfg.requestTimeout = 1 hours;
        deployMarket(cfg);
        uint64 steps = uint64(1) << 48;
        (modelId, token) = registerModel("model", HALT, steps, FEE, SHARE_BPS);

        dCombined = combined;
        dId = requestAs(requester, INPUT);
        dFirst = falseClaim(liar, dId, steps, 1);
        dNext = dFirst;
        dLast = dFirst;
        Actor memory liarA = actorFor(liar, falseTrace(dId, INPUT, steps, 500));
        Actor memory honest = actorFor(watcher, honestFor(INPUT));
        bytes32[] memory cur;
        for (uint256 b = 1; b < 200; ++b) {
            skipTime(blockTime);
            if (dG1 != 0 && !live(dG1)) break;
            // Front-run: a fresh false claim, which the honest transaction of this block cannot include.
            uint256 fresh = falseClaim(liar, dId, steps, 1);
            bool stop;
            (stop, cur) = honestTurn(blockTime, honest, cur);
            if (stop) break;
            dLast = fresh;
            // Back-run: the liar answers at once (it spends no time on its own clock).
            if (live(dG1) && game.toMove(dG1) == liar && !moverExpired(dG1)) {
                (, cur) = move(dG1, liarA, cur);
            }
        }
        (id, first, g1) = (dId, dFirst, dG1);
        // Every claim the honest challenger had to challenge so far was challenged in its window.
        for (uint256 c = first; c < dNext; ++c) {
            assertTrue(market.hasChallenged(c, watcher), "a false claim was left unchallenged");
        }
        if (live(g1)) {
            DisputeGame.Game memory gm = game.game(g1);
            uint256 left = game.toMove(g1) == liar ? gm.defenderClock : gm.challengerClock;
            if (block.timestamp <= gm.lastMoveAt + left) vm.warp(gm.lastMoveAt + left + 1);
            game.timeout(g1);
        }
        uint64 deadline = market.getClaim(first).challengeDeadline;
        if (block.timestamp < deadline) vm.warp(deadline);
        // Anyone may try to settle the first false claim now; the callers read the outcome.
        (bool ok,) = address(market).call(abi.encodeCall(InferenceMarket.finalize, (first)));
        ok;
    }

    /// The honest challenger's one transaction of this block. A challenge is due when a window would
    /// close before its next block (or to open its first game); with `dCombined` it carries the block's
    /// move (or the timeout of a stalled liar), without it the move waits. Otherwise it moves (or times
    /// the liar out). Returns true when it can do nothing more (out of time, or the game is over).
    function honestTurn(uint64 blockTime, Actor memory honest, bytes32[] memory cur)
        internal
        returns (bool stop, bytes32[] memory)
    {
        bool mustChallenge =
            dNext <= dLast && market.getClaim(dNext).challengeDeadline <= block.timestamp + blockTime;
        bool mine = dG1 != 0 && game.toMove(dG1) == watcher;
        if (mine && moverExpired(dG1)) return (true, cur); // the honest challenger ran out of time
        bool liarOut = dG1 != 0 && !mine && moverExpired(dG1);
        if (dG1 == 0 || mustChallenge) {
            if (dCombined && mine) {
                dRouting = true;
                bool moved;
                (moved, cur) = move(dG1, honest, cur);
                dRouting = false;
                assertTrue(moved, "the honest challenger always has a move");
            } else if (dCombined && liarOut) {
                bytes[] memory moves = new bytes[](1);
                moves[0] = abi.encodeCall(DisputeGame.timeout, (dG1));
                challengePending(moves);
                return (true, cur);
            } else {
                uint256 gFirst = challengePending(new bytes[](0));
                if (dG1 == 0) {
                    dG1 = gFirst;
                    cur = new bytes32[](2);
                    cur[0] = market.getRequest(dId).initialState;
                    cur[1] = market.getClaim(dFirst).finalState;
                }
            }
        } else if (mine) {
            bool moved;
            (moved, cur) = move(dG1, honest, cur);
            assertTrue(moved, "the honest challenger always has a move");
        } else if (liarOut) {
            game.timeout(dG1); // the liar stalled: the honest challenger wins on time
            return (true, cur);
        }
        return (false, cur);
    }

    /// P1 with one honest transaction per block and blocks 25 s apart (the bound MIN_CLOCK_BUDGET
    /// covers): a liar posting a new false claim every block cannot starve the honest challenger's clock,
    /// since `challengeManyAndPlay` challenges and moves at once. (Found by the red team when challenges
    /// and moves were separate transactions; see the next test.)
    function test_P1_aFalseClaimEveryBlock_challengeAndMoveInOneTransaction() public {
        (uint256 id, uint256 first, uint256 g1) = runDutyCycle(25, true);
        Console.log("false claims the liar posted", market.claimCount());
        Console.log("moves in the honest game", game.game(g1).moves);
        assertEq(uint256(game.status(g1)), uint256(IDisputeGame.Status.ChallengerWon));
        assertEq(uint256(market.getClaim(first).status), uint256(InferenceMarket.ClaimStatus.Voided));
        (bool finalized,,,) = market.result(id);
        assertFalse(finalized, "a false claim finalized");
        assertBooksBalance();
    }

    /// Why the combined call exists: an honest challenger that must choose between challenging and
    /// moving spends every other 25 s block on challenges (a 1-minute window leaves it two blocks per
    /// claim); its moves then come every 50 s, 8 of them (400 s) against a 300 s clock, and it loses on
    /// time. The contracts cannot stop a challenger from playing this way; one that may get only one
    /// transaction into a block must use the combined call.
    function test_P1_separateChallengeAndMoveTransactions_wouldStarveAt25sBlocks() public {
        (, uint256 first, uint256 g1) = runDutyCycle(25, false);
        assertEq(uint256(game.status(g1)), uint256(IDisputeGame.Status.DefenderWon));
        assertEq(uint256(market.getClaim(first).status), uint256(InferenceMarket.ClaimStatus.Finalized));
    }

    /// With 12 s blocks even separate transactions leave the honest challenger enough clock (it
    /// challenges one block in four), so the false claim is voided.
    function test_resists_P1_separateTransactionsAt12sBlocks() public {
        (uint256 id, uint256 first, uint256 g1) = runDutyCycle(12, false);
        assertEq(uint256(game.status(g1)), uint256(IDisputeGame.Status.ChallengerWon));
        assertEq(uint256(market.getClaim(first).status), uint256(InferenceMarket.ClaimStatus.Voided));
        (bool finalized,,,) = market.result(id);
        assertFalse(finalized);
        assertBooksBalance();
    }

    // ---------------------------------------------------------------------------------------------
    // P2: the burn rounds up
    // ---------------------------------------------------------------------------------------------

    /// P2 to the wei: with burnBps = 5,000 and an odd bond, a liar voiding its own claim through a
    /// Sybil loses at least half its bond (the burn rounds up). The red team found it rounding down.
    function test_P2_oddBond_burnRoundsUp() public {
        InferenceMarket.Config memory cfg = defaultConfig();
        cfg.submitterBond = 1 ether + 1;
        cfg.burnBps = 5000;
        deployMarket(cfg);
        (modelId, token) = registerModel("model", HALT, MAX_STEPS, FEE, SHARE_BPS);
        uint256 id = requestAs(requester, INPUT);
        address s = sybil(0);
        uint256 liarPaid = uint256(market.submitterBond()) + market.gameStakeFor(1);
        uint256 claimId = falseClaim(liar, id, 1, 1);
        uint256 sybilPaid = market.challengeValue(claimId);
        uint256 g = challengeAs(s, id, claimId);
        // One-step claim: the Sybil settles the step at once and wins (same transaction in practice).
        oneStepWin(s, g, INPUT);
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Voided));
        uint256 recovered = market.withdrawable(liar) + market.withdrawable(s);
        uint256 lost = liarPaid + sybilPaid - recovered;
        assertBooksBalance();
        assertGte(2 * lost, market.submitterBond(), "P2 broken: the liar lost less than half its bond");
    }

    // ---------------------------------------------------------------------------------------------
    // attacks the contracts resist
    // ---------------------------------------------------------------------------------------------

    /// Timeout racing a late match: the liar never matched the honest game; one second after its clock
    /// ran out it tops up and tries to dissect in one transaction in front of the honest timeout. The
    /// dissection is refused (ClockExpired) and the honest timeout voids the claim.
    function test_resists_lateMatchCannotBeatTheTimeout() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = falseClaim(liar, id, HALT, 1);
        address s = sybil(0);
        challengeAs(s, id, claimId); // front-run: takes the claim's stake
        uint256 paid = market.challengeValue(claimId);
        uint256 g = challengeAs(watcher, id, claimId);
        assertEq(uint256(market.getGame(g).funding), uint256(InferenceMarket.Funding.Challenger));
        uint256 created = block.timestamp;
        // At exactly the clock's end the liar could still move; one second later it cannot.
        vm.warp(created + CLOCK + 1);
        uint256 gs = market.getClaim(claimId).gameStake;
        vm.prank(liar);
        market.topUp{value: gs}(claimId);
        bytes32[] memory pts = honestDissection();
        pts[pts.length - 1] = market.getClaim(claimId).finalState;
        vm.prank(liar);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClockExpired.selector, g, liar));
        game.dissect(g, pts);
        vm.prank(watcher);
        game.timeout(g);
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Voided));
        assertGte(market.withdrawable(watcher), paid + 2 * ALLOWANCE, "P3: the watcher lost");
        market.closeGame(1);
        assertBooksBalance();
    }

    /// A challenger contract re-enters the market (withdraw, closeGame) and the game (timeout) from its
    /// receive() during a withdrawal: every re-entrant call fails, the books balance.
    function test_resists_withdrawReentrancy() public {
        ReentrantChallenger rc = new ReentrantChallenger(market);
        tracked.push(address(rc));
        vm.deal(address(rc), 10 ether);
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = falseClaim(liar, id, HALT, 3);
        uint256 value = market.challengeValue(claimId);
        uint256 gRc = rc.challenge{value: value}(id, claimId);
        uint256 gOther = challengeAs(challenger, id, claimId);
        address s = sybil(0);
        uint256 gS = challengeAs(s, id, claimId);
        // The Sybil voids the claim; the contract's game is closed and paid. Another game of the voided
        // claim stays open: the contract tries to close it re-entrantly.
        playMarketGame(gS, falseTrace(id, INPUT, HALT, 3), honestFor(INPUT));
        rc.setCloseTarget(gOther);
        market.closeGame(gRc);
        uint256 credit = market.withdrawable(address(rc));
        uint256 before = address(rc).balance;
        rc.withdraw();
        assertEq(address(rc).balance, before + credit);
        assertEq(rc.attempts(), 1);
        assertEq(rc.reentries(), 0, "a re-entrant call succeeded");
        assertEq(market.withdrawable(address(rc)), 0);
        market.closeGame(gOther); // outside the withdrawal it works
        assertBooksBalance();
    }

    /// challengeMany with duplicates, an unknown claim, the caller's own claim and a voided claim: each
    /// skipped pair's value is credited back exactly; only the valid pair opens a game.
    function test_resists_challengeManyOddInputs() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 good = falseClaim(liar, id, HALT, 1);
        uint256 own = falseClaim(watcher, id, HALT, 1);
        uint256[] memory reqs = new uint256[](5);
        uint256[] memory claims = new uint256[](5);
        (reqs[0], claims[0]) = (id, good);
        (reqs[1], claims[1]) = (id, good); // duplicate
        (reqs[2], claims[2]) = (id, 999); // unknown
        (reqs[3], claims[3]) = (id, own); // own claim
        (reqs[4], claims[4]) = (id + 1, good); // wrong request
        uint256 total;
        for (uint256 i = 0; i < 5; ++i) {
            total += market.challengeValue(claims[i]);
        }
        vm.prank(watcher);
        uint256[] memory gs = market.challengeMany{value: total}(reqs, claims);
        assertGt(gs[0], 0);
        for (uint256 i = 1; i < 5; ++i) {
            assertEq(gs[i], 0);
        }
        // claim-backed game: the stake of the first pair is back too
        uint256 expected = total - market.challengerBond();
        assertEq(market.withdrawable(watcher), expected, "skipped values not credited exactly");
        assertBooksBalance();
    }

    /// One-step false claim (the challenger moves first, no dissection, no onDissect): the Sybil front-
    /// runs to take the claim's stake, the honest game is backed by the watcher, and the liar's Sybil
    /// voids the claim by stepping in the back-run. The watcher gets its bond, its stake and two
    /// allowances; the liar loses half its bond.
    function test_resists_oneStepSpiteVoid() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 liarPaid = uint256(market.submitterBond()) + market.gameStakeFor(1);
        uint256 claimId = falseClaim(liar, id, 1, 1);
        address s = sybil(0);
        uint256 sybilPaid = market.challengeValue(claimId);
        uint256 gS = challengeAs(s, id, claimId);
        uint256 watcherPaid = market.challengeValue(claimId);
        uint256 gW = challengeAs(watcher, id, claimId);
        assertEq(uint256(market.getGame(gW).funding), uint256(InferenceMarket.Funding.Challenger));
        oneStepWin(s, gS, INPUT);
        market.closeGame(gW);
        assertGte(market.withdrawable(watcher), watcherPaid + 2 * ALLOWANCE, "P3");
        uint256 lost = liarPaid + sybilPaid - market.withdrawable(liar) - market.withdrawable(s);
        assertGte(lost, (uint256(market.submitterBond()) * market.burnBps()) / 10_000, "P2");
        assertBooksBalance();
    }

    /// Top-up race against an honest submitter: Sybil A takes the claim's stake, Sybil B backs its own
    /// game. The server tops up one stake; a Sybil C back-runs the top-up and takes it (claim-backed), so
    /// the server's dissection of B is refused (UnmatchedGame). The server tops up again and dissects;
    /// every Sybil stalls and loses on time. The server is not slashed, profits, and each drain cost the
    /// liar a challenger bond.
    function test_resists_topUpDrainRace() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 gs = market.gameStakeFor(HALT);
        uint256 serverPaid = uint256(market.submitterBond()) + gs;
        uint256 claimId = honestClaim(server, id, 1);
        uint256 a = challengeAs(sybil(0), id, claimId);
        uint256 b = challengeAs(sybil(1), id, claimId);
        skipTime(12);
        vm.prank(server);
        market.topUp{value: gs}(claimId);
        serverPaid += gs;
        uint256 c = challengeAs(sybil(2), id, claimId); // back-run drains the top-up
        assertEq(uint256(market.getGame(c).funding), uint256(InferenceMarket.Funding.Claim));
        skipTime(12);
        bytes32[] memory pts = honestDissection();
        vm.prank(server);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnmatchedGame.selector, b, 0, gs));
        game.dissect(b, pts);
        // The server dissects the claim-backed games in one multicall, then tops up with a margin.
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(DisputeGame.dissect, (a, pts));
        calls[1] = abi.encodeCall(DisputeGame.dissect, (c, pts));
        vm.prank(server);
        bool[] memory ok = game.multicall(calls);
        assertTrue(ok[0] && ok[1]);
        skipTime(12);
        vm.prank(server);
        market.topUp{value: 2 * gs}(claimId);
        serverPaid += 2 * gs;
        skipTime(12);
        vm.prank(server);
        game.dissect(b, pts);
        skipTime(CLOCK + 1);
        vm.startPrank(server);
        game.timeout(a);
        game.timeout(b);
        game.timeout(c);
        vm.stopPrank();
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        if (block.timestamp < deadline) vm.warp(deadline);
        market.finalize(claimId);
        assertEq(market.getRequest(id).settledClaim, claimId);
        assertGte(market.withdrawable(server), serverPaid + 9 * ALLOWANCE, "the honest server lost");
        assertBooksBalance();
    }

    /// After a Sybil voids the claim, the liar keeps playing the watcher's claim-backed game (onDissect
    /// lets a claim-backed game through on a voided claim) and the game then ends by timeout: the game
    /// is only closed, the watcher is paid its bond and stake, and the books balance.
    function test_resists_movesAfterVoid() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = falseClaim(liar, id, HALT, 2);
        uint256 watcherPaid = market.challengeValue(claimId);
        uint256 gW = challengeAs(watcher, id, claimId);
        uint256 gS = challengeAs(sybil(0), id, claimId);
        playMarketGame(gS, falseTrace(id, INPUT, HALT, 3), honestFor(INPUT));
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Voided));
        bytes32[] memory pts = honestDissection();
        pts[pts.length - 1] = market.getClaim(claimId).finalState;
        vm.prank(liar);
        game.dissect(gW, pts); // accepted: the game is claim-backed
        // The watcher stalls (it does not need to play any more); the liar times it out.
        skipTime(CLOCK + 1);
        game.timeout(gW);
        assertTrue(market.getGame(gW).settled);
        assertGte(market.withdrawable(watcher), watcherPaid + 2 * ALLOWANCE, "P3");
        assertEq(market.withdrawable(liar), 0, "the liar got the watcher's bond");
        assertBooksBalance();
    }

    /// DisputeGame.multicall cannot reach the owner-only functions, nor move for someone else.
    function test_resists_multicallAbuse() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = falseClaim(liar, id, HALT, 1);
        uint256 g = challengeAs(watcher, id, claimId);
        bytes[] memory calls = new bytes[](4);
        calls[0] = abi.encodeCall(DisputeGame.create, (watcher, liar, bytes32(0), bytes32(0), 5));
        calls[1] = abi.encodeCall(DisputeGame.cancel, (g));
        calls[2] = abi.encodeCall(DisputeGame.dissect, (g, honestDissection()));
        calls[3] = abi.encodeCall(DisputeGame.timeout, (g));
        vm.prank(watcher);
        bool[] memory ok = game.multicall(calls);
        for (uint256 i = 0; i < 4; ++i) {
            assertFalse(ok[i]);
        }
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotDisputeGame.selector, liar));
        vm.prank(liar);
        market.onDissect(g);
        assertTrue(live(g));
        assertBooksBalance();
    }

    /// The liar voids its own one-step claim and resubmits in the same transaction (keeping the request
    /// busy): the requester cannot cancel, but the new claim is challenged and voided too, each costing
    /// half a bond; after the deadline the requester is refunded by resolvableAt.
    function test_resists_voidResubmitLoop() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 liarPaid;
        uint256 sybilPaid;
        address s = sybil(0);
        uint256 rounds = 3;
        for (uint256 r = 0; r < rounds; ++r) {
            liarPaid += uint256(market.submitterBond()) + market.gameStakeFor(1);
            uint256 claimId = falseClaim(liar, id, 1, 1);
            vm.prank(requester);
            vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimsPending.selector, uint32(1)));
            market.cancel(id);
            sybilPaid += market.challengeValue(claimId);
            uint256 gS = challengeAs(s, id, claimId);
            // watcher's challenge in the same block lands first here; the Sybil voids behind it.
            uint256 gW = challengeAs(watcher, id, claimId);
            oneStepWin(s, gS, INPUT);
            market.closeGame(gW);
            // The requester cannot cancel while a claim is pending (the next round's resubmission
            // lands in the voiding transaction in practice).
        }
        // The loop ended with no pending claim: the requester may cancel at once.
        vm.prank(requester);
        market.cancel(id);
        uint256 lost = liarPaid + sybilPaid - market.withdrawable(liar) - market.withdrawable(s);
        assertGte(lost, rounds * ((uint256(market.submitterBond()) * market.burnBps()) / 10_000), "P2");
        assertBooksBalance();
    }

    /// P4 at the worst timing: an honest claim in the last second before the deadline, a Sybil game
    /// opened in the window's last second, the server dissecting at the last second of its clock and
    /// the Sybil stalling its whole clock. By resolvableAt the game is over and the claim settles.
    function test_resists_P4_worstTiming() public {
        uint256 id = requestAs(requester, INPUT);
        uint64 reqDeadline = market.getRequest(id).deadline;
        vm.warp(reqDeadline - 1);
        uint256 claimId = honestClaim(server, id, 1);
        vm.warp(market.getClaim(claimId).challengeDeadline - 1);
        uint256 g = challengeAs(sybil(0), id, claimId);
        vm.warp(block.timestamp + CLOCK);
        bytes32[] memory pts = honestDissection();
        vm.prank(server);
        game.dissect(g, pts);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(g);
        assertLte(block.timestamp, market.resolvableAt(id));
        market.finalize(claimId);
        (bool finalized,,, bytes32 out) = market.result(id);
        assertTrue(finalized);
        assertEq(out, honestOutputHash());
        assertBooksBalance();
    }

    /// A challenge in the last second of the window is accepted even behind a Sybil that took the stake;
    /// one second later every challenge is refused, so nothing can extend the claim's life.
    function test_resists_challengeAtWindowEdge() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = falseClaim(liar, id, HALT, 1);
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        vm.warp(deadline - 1);
        challengeAs(sybil(0), id, claimId);
        uint256 g = challengeAs(watcher, id, claimId);
        assertGt(g, 0);
        vm.warp(deadline);
        uint256 value = market.challengeValue(claimId);
        address late = sybil(1);
        vm.prank(late);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ChallengeWindowClosed.selector, deadline));
        market.challenge{value: value}(id, claimId);
        assertBooksBalance();
    }
}
