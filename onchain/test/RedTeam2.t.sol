// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RedTeamBase} from "./utils/RedTeamBase.sol";
import {Console} from "./utils/Console.sol";
import {Books} from "./utils/Books.sol";
import {InferenceMarket} from "../contracts/InferenceMarket.sol";
import {DisputeGame} from "../contracts/DisputeGame.sol";
import {IDisputeGame} from "../contracts/interfaces/IDisputeGame.sol";
import {IModelState} from "../contracts/interfaces/IModelState.sol";
import {IOneStepVerifier} from "../contracts/interfaces/IOneStepVerifier.sol";

/// Cheatcodes newer than PRBTest's Vm interface (same cheatcode address).
interface VmSnapshots {
    function snapshotState() external returns (uint256 snapshotId);
    function revertToState(uint256 snapshotId) external returns (bool success);
}

/// A player contract (an honest challenger's smart wallet, or the liar's) that tries to re-enter the
/// combined calls and the game from its receive() while the market pays it out.
contract ReentrantPlayer {
    InferenceMarket internal immutable market;
    DisputeGame internal immutable game;
    bytes[] internal moves;
    uint256 internal claimId;
    uint256 public attempts;
    uint256 public reentries; // re-entrant calls (or moves) that succeeded

    constructor(InferenceMarket m) {
        market = m;
        game = m.disputeGame();
    }

    function setMoves(bytes[] calldata moves_, uint256 claimId_) external {
        delete moves;
        for (uint256 i = 0; i < moves_.length; ++i) {
            moves.push(moves_[i]);
        }
        claimId = claimId_;
    }

    function challenge(uint256 requestId, uint256 claimId_) external payable returns (uint256) {
        return market.challenge{value: msg.value}(requestId, claimId_);
    }

    function challengeManyAndPlay(uint256[] calldata reqs, uint256[] calldata claims, bytes[] calldata ms)
        external
        payable
        returns (uint256[] memory, bool[] memory)
    {
        return market.challengeManyAndPlay{value: msg.value}(reqs, claims, ms);
    }

    function withdraw() external {
        market.withdraw();
    }

    receive() external payable {
        if (msg.sender != address(market)) return;
        ++attempts;
        uint256[] memory none = new uint256[](0);
        (bool ok,) =
            address(market).call(abi.encodeCall(InferenceMarket.challengeManyAndPlay, (none, none, moves)));
        if (ok) ++reentries;
        uint256[] memory claims = new uint256[](1);
        uint256[] memory amounts = new uint256[](1);
        (claims[0], amounts[0]) = (claimId, 1);
        (ok,) = address(market).call{value: 1}(
            abi.encodeCall(InferenceMarket.topUpAndPlay, (claims, amounts, moves))
        );
        if (ok) ++reentries;
        // The game directly: a move that ends a game needs the market's (guarded) hook.
        bool[] memory done = game.multicall(moves);
        for (uint256 i = 0; i < done.length; ++i) {
            if (done[i]) ++reentries;
        }
    }
}

/// @notice Second red team, against the combined calls `challengeManyAndPlay` / `topUpAndPlay` (the market
/// has `DisputeGame.playFor` run the caller's moves) and the rounded-up burn. A liar controls many accounts
/// and orders transactions freely within a block. The two it found (P5 with several claims, a move
/// dropped for want of gas) are fixed and tested here; `test_resists_*` are attacks the contracts withstood.
contract RedTeam2Test is RedTeamBase {
    VmSnapshots internal constant SNAP = VmSnapshots(address(uint160(uint256(keccak256("hevm cheat code")))));
    /// The longest game at k = 8: 22 dissections and a step, 12 of the 23 moves the defender's.
    uint64 internal constant BIG = type(uint64).max;
    uint64 internal constant SLOW_BLOCK = 25; // the block time MIN_CLOCK_BUDGET is documented to cover

    // sendMove modes: 0 sends and bubbles a revert, 1 sends and records the result, 2 only records data
    uint8 internal moveMode;
    bool internal lastMoveOk;
    bytes internal lastMoveData;

    // ---------------------------------------------------------------------------------------------
    // helpers
    // ---------------------------------------------------------------------------------------------

    function sendMove(DisputeGame g, address from, bytes memory data) internal override {
        if (moveMode == 0) return super.sendMove(g, from, data);
        lastMoveData = data;
        if (moveMode == 2) return;
        vm.prank(from);
        (lastMoveOk,) = address(g).call(data);
    }

    /// The calldata of `a`'s next move in `g` (not sent), and the dissection it leaves.
    function nextMove(uint256 g, Actor memory a, bytes32[] memory cur)
        internal
        returns (bytes memory data, bytes32[] memory next)
    {
        moveMode = 2;
        Outcome memory o;
        bool moved;
        (moved, next) = playMove(game, g, a, cur, game.status(g), o);
        moveMode = 0;
        assertTrue(moved, "the actor has a move");
        data = lastMoveData;
    }

    // ---------------------------------------------------------------------------------------------
    // P5 at the documented block time: one top-up per transaction
    // ---------------------------------------------------------------------------------------------

    /// The documented edge deployment: k = 8, clock 5 minutes (MIN_CLOCK_BUDGET, "covers blocks up to
    /// 25 s"), window 1 minute, the doc's example bonds (B_s = 1 ETH, B_c = 0.1 ETH, a = 0.002 ETH,
    /// β = 50 %), and a model whose runs take 2^64 - 1 steps, so a game is the longest one (23 moves, 12
    /// of them the defender's).
    function deployEdge() internal {
        InferenceMarket.Config memory cfg = InferenceMarket.Config({
            modelState: IModelState(address(modelState)),
            verifier: IOneStepVerifier(address(traceVm)),
            arity: 8,
            clockBudget: 5 minutes,
            challengeWindow: 1 minutes,
            requestTimeout: 1 hours,
            submitterBond: 1 ether,
            challengerBond: 0.1 ether,
            moveAllowance: 0.002 ether,
            burnBps: 5000,
            challengerBurnBps: 2000
        });
        deployMarket(cfg);
        (modelId, token) = registerModel("big", BIG, BIG, FEE, SHARE_BPS);
        commitment = makeCommitment("big", BIG);
    }

    /// An honest claim of the big model staked for exactly one game (the minimum).
    function bigHonestClaim(address who, uint256 id) internal returns (uint256) {
        bytes32 seed = seedFor(INPUT);
        uint256 value = uint256(market.submitterBond()) + market.gameStakeFor(BIG);
        bytes memory output = modelState.outputOf(seed);
        bytes32 finalState = traceVm.stateHash(seed, BIG, BIG);
        vm.prank(who);
        return market.submit{value: value}(id, output, finalState, BIG, abi.encode(seed));
    }

    function bigDissection() internal view returns (bytes32[] memory pts) {
        bytes32 seed = seedFor(INPUT);
        pts = new bytes32[](9);
        for (uint256 j = 0; j < 9; ++j) {
            pts[j] = traceVm.stateHash(seed, game.boundary(0, BIG, j), BIG);
        }
    }

    // schedule state (storage keeps the stack small)
    uint256[] internal sClaims;
    uint256[] internal sGames; // every Sybil game, in creation order
    uint256 internal sTarget; // the last claim's challenger-backed game, which the liar plays
    address internal sTargetSybil;

    /// The server's transaction after the back-run: it tops up every claim (one game's stake each) and
    /// makes its first dissection in every game, in one `topUpAndPlay`.
    function serverTopsUpAndDissects(uint256 stake, bytes32[] memory cur) internal {
        uint256 n = sClaims.length;
        bytes[] memory moves = new bytes[](sGames.length);
        uint256 k;
        for (uint256 j = 0; j < sGames.length; ++j) {
            if (game.status(sGames[j]) == IDisputeGame.Status.AwaitingDissection) {
                moves[k++] = abi.encodeCall(DisputeGame.dissect, (sGames[j], cur));
            }
        }
        assembly ("memory-safe") {
            mstore(moves, k)
        }
        uint256[] memory amounts = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            amounts[i] = stake;
        }
        vm.prank(server);
        bool[] memory ok = market.topUpAndPlay{value: n * stake}(sClaims, amounts, moves);
        for (uint256 i = 0; i < ok.length; ++i) {
            assertTrue(ok[i], "a first dissection failed");
        }
    }

    /// The honest server has `n` pending claims (one per request, each staked for one game, the minimum)
    /// and gets one transaction per block, blocks `blockTime` apart. In one back-run the liar opens two Sybil games against
    /// each claim: the first takes the claim's free stake (claim-backed), the second backs itself, so the
    /// server must top up before its first dissection there. Each block the server sends one
    /// `topUpAndPlay`, topping up the next claim that needs it and carrying every dissection it owes
    /// (those of claims not topped up yet fail and stand alone). The liar stalls in every game but the
    /// last claim's challenger-backed one, where its Sybil lies about the end and answers every honest
    /// move in the back-run of the same block (spending nothing of its clock), always disputing the
    /// longest part. Returns whether the server could make all its moves in that game.
    function runServerSchedule(uint256 n, uint64 blockTime) internal returns (bool serverKeptUp) {
        deployEdge();
        uint256 stake = market.gameStakeFor(BIG);
        for (uint256 i = 0; i < n; ++i) {
            sClaims.push(bigHonestClaim(server, requestAs(requester, INPUT)));
        }
        // Block b: the liar's back-run.
        skipTime(blockTime);
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = market.getClaim(sClaims[i]).requestId;
            sGames.push(challengeAs(sybil(2 * i), id, sClaims[i]));
            address s = sybil(2 * i + 1);
            sGames.push(challengeAs(s, id, sClaims[i]));
            assertEq(
                uint256(market.getGame(sGames[2 * i + 1]).funding),
                uint256(InferenceMarket.Funding.Challenger)
            );
            if (i == n - 1) (sTarget, sTargetSybil) = (sGames[2 * i + 1], s);
        }
        bytes32 seed = seedFor(INPUT);
        Actor memory honest = actorFor(server, honestTrace(seed, BIG));
        Actor memory liarA = actorFor(sTargetSybil, lyingTrace(seed, BIG, BIG, "liar"));
        bytes32[] memory cur = bigDissection();
        uint256 toppedUp;
        serverKeptUp = true;
        for (uint256 b = 0; b < 60 && live(sTarget); ++b) {
            skipTime(blockTime);
            // The server's one transaction of this block.
            if (toppedUp < n) {
                serverTopsUpAndDissects(stake, cur);
                toppedUp = n;
            } else if (game.toMove(sTarget) == server) {
                moveMode = 1;
                Outcome memory o;
                (, cur) = playMove(game, sTarget, honest, cur, game.status(sTarget), o);
                moveMode = 0;
                if (!lastMoveOk) {
                    serverKeptUp = false; // ClockExpired: the server could not make its move
                    break;
                }
            }
            // The liar's back-run: the Sybil answers at once in the game it plays.
            if (live(sTarget) && game.toMove(sTarget) == sTargetSybil) {
                Outcome memory o;
                (, cur) = playMove(game, sTarget, liarA, cur, game.status(sTarget), o);
            }
        }
        if (live(sTarget)) {
            // Anyone (the liar) times out the party that can no longer move.
            DisputeGame.Game memory gm = game.game(sTarget);
            vm.warp(uint256(gm.lastMoveAt) + gm.defenderClock + 1);
            game.timeout(sTarget);
        }
    }

    /// P5 at the documented block time (found by the second red team when `topUpAndPlay` took one claim).
    /// The server has two pending claims; the liar opens, in one back-run, a claim-backed and a
    /// challenger-backed Sybil game against each. Only the submitter may top up, so with one claim per
    /// transaction the server matched the second claim's game a block late and, at 25 s blocks and a
    /// 300 s clock, could not make its 12th move: the honest claim was voided and the liar's accounts
    /// ended 0.4 ETH up. Now `topUpAndPlay` tops up every claim and makes every first dissection in one
    /// transaction, the block after the back-run, and the server wins. Property P5.
    function test_P5_twoClaimsChallengedInOneBlock_allMatchedInOneTransaction() public {
        settleAndAssertP5(runServerSchedule(2, SLOW_BLOCK));
    }

    /// The same at Ethereum's 12 s blocks and the minimum clock with 15 claims (the first red-team run
    /// slashed the server from 15 claims on: 12 n + 132 s against 300 s). Property P5.
    function test_P5_fifteenClaimsChallengedInOneBlock_at12sBlocks() public {
        settleAndAssertP5(runServerSchedule(15, 12));
    }

    /// Settles every game of the schedule (the stalled Sybils lose on time, games of a voided claim are
    /// closed), logs what the liar's Sybils paid and got back, checks the books, then asserts P5.
    function settleAndAssertP5(bool keptUp) internal {
        Console.log("server kept up with the liar (1 = yes)", keptUp ? 1 : 0);
        Console.log("moves in the Sybil's game", game.game(sTarget).moves);
        skipTime(5 minutes + 1);
        for (uint256 j = 0; j < sGames.length; ++j) {
            if (!live(sGames[j])) continue;
            if (
                market.getClaim(market.getGame(sGames[j]).claimId).status
                    == InferenceMarket.ClaimStatus.Voided
            ) {
                market.closeGame(sGames[j]);
            } else {
                game.timeout(sGames[j]);
            }
        }
        uint256 sybilsPaid = sGames.length * (uint256(market.challengerBond()) + market.gameStakeFor(BIG));
        uint256 sybilsGot;
        for (uint256 j = 0; j < sGames.length; ++j) {
            sybilsGot += market.withdrawable(market.getGame(sGames[j]).challenger);
        }
        Console.log("liar's Sybils paid (wei)", sybilsPaid);
        Console.log("liar's Sybils got back (wei)", sybilsGot);
        assertBooksBalance();
        assertTrue(keptUp, "the server ran out of clock in a game it was right in");
        assertEq(
            uint256(game.status(sTarget)), uint256(IDisputeGame.Status.DefenderWon), "the liar won a game"
        );
        assertTrue(
            market.getClaim(sClaims[sClaims.length - 1]).status != InferenceMarket.ClaimStatus.Voided,
            "P5 broken: an honest claim was voided"
        );
    }

    // ---------------------------------------------------------------------------------------------
    // a move dropped for lack of gas, the transaction still succeeding
    // ---------------------------------------------------------------------------------------------

    /// `who` sends `data` to the market with `gasLimit` gas; the state is rolled back. Returns whether the
    /// call succeeded and whether its first carried move did.
    function probeCombined(address who, bytes memory data, uint256 gasLimit)
        internal
        returns (bool success, bool moved)
    {
        uint256 snap = SNAP.snapshotState();
        vm.prank(who);
        (bool s, bytes memory ret) = address(market).call{gas: gasLimit}(data);
        if (s) {
            (, bool[] memory ok) = abi.decode(ret, (uint256[], bool[]));
            moved = ok[0];
        }
        success = s;
        SNAP.revertToState(snap);
    }

    /// The smallest gas limit at which `data` from `who` succeeds (a binary search on success alone).
    function smallestSucceeding(address who, bytes memory data) internal returns (uint256 lo) {
        uint256 hi = 3_000_000;
        lo = 30_000;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            (bool s,) = probeCombined(who, data, mid);
            if (s) hi = mid;
            else lo = mid + 1;
        }
    }

    /// The control for the finding: the same attack on a server with one pending claim. `topUpAndPlay`
    /// matches and dissects in the first block after the challenge, the server makes its 12 moves 25 s
    /// apart (exactly its 300 s clock) and wins; its claim finalizes and the books balance.
    function test_resists_P5_oneClaim_topUpAndPlayKeepsTheClockAt25sBlocks() public {
        bool keptUp = runServerSchedule(1, SLOW_BLOCK);
        assertTrue(keptUp);
        assertEq(uint256(game.status(sTarget)), uint256(IDisputeGame.Status.DefenderWon));
        assertEq(game.game(sTarget).moves, 23);
        // The stalled Sybils lose on time; the claim settles.
        skipTime(5 minutes + 1);
        for (uint256 j = 0; j < sGames.length; ++j) {
            if (live(sGames[j])) game.timeout(sGames[j]);
        }
        uint64 deadline = market.getClaim(sClaims[0]).challengeDeadline;
        if (block.timestamp < deadline) vm.warp(deadline);
        market.finalize(sClaims[0]);
        assertEq(uint256(market.getClaim(sClaims[0]).status), uint256(InferenceMarket.ClaimStatus.Finalized));
        assertBooksBalance();
    }

    bytes internal oogData; // the honest watcher's combined call carrying its winning step
    uint256 internal oogRequest;
    uint256 internal oogClaim;

    function oogAtSmallest() internal returns (bool success, bool moved) {
        uint256 minGas = smallestSucceeding(watcher, oogData);
        (success, moved) = probeCombined(watcher, oogData, minGas);
        Console.log("smallest succeeding call gas", minGas);
        Console.log("  succeeded, step made", (success ? 10 : 0) + (moved ? 1 : 0));
    }

    function oogAfterFrontRun() internal returns (bool success, bool moved) {
        // The honest estimate before the front-run: the smallest limit at which the step is made.
        uint256 lo = 30_000;
        uint256 hi = 3_000_000;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            (, bool m) = probeCombined(watcher, oogData, mid);
            if (m) hi = mid;
            else lo = mid + 1;
        }
        Console.log("call gas the step needs", lo);
        // The liar's front-run: a Sybil game backed by itself makes the void costlier.
        challengeAs(sybil(0), oogRequest, oogClaim);
        (success, moved) = probeCombined(watcher, oogData, (lo * 105) / 100);
        Console.log(
            "after the front-run, 5% margin: succeeded, step made", (success ? 10 : 0) + (moved ? 1 : 0)
        );
    }

    /// A move that runs out of gas reverts the combined call (found by the second red team: `playFor`
    /// swallowed it, the delegatecall failing and the 1/64 of gas kept back finishing the batch, so the
    /// watcher's winning step was dropped from a transaction that succeeded, at the smallest gas limit at
    /// which the call succeeded, or after a front-run that made the void dearer, at the gas it needed
    /// before plus 5 %). Property: a combined call that succeeds made every carried move that was valid.
    function test_outOfGasMove_revertsTheCombinedCall() public {
        oogRequest = requestAs(requester, INPUT);
        oogClaim = falseClaim(liar, oogRequest, 1, 1);
        uint256 g = challengeAs(watcher, oogRequest, oogClaim);
        bytes[] memory moves = new bytes[](1);
        moves[0] = oneStepProofCall(g, INPUT);
        oogData = abi.encodeCall(InferenceMarket.challengeManyAndPlay, (none(), none(), moves));
        (bool s1, bool m1) = oogAtSmallest();
        (bool s2, bool m2) = oogAfterFrontRun();
        assertTrue(!s1 || m1, "the call succeeded at its smallest gas limit but dropped the winning step");
        assertTrue(!s2 || m2, "the front-run made the winning step run out of gas, silently");
    }

    // ---------------------------------------------------------------------------------------------
    // forwarded calldata, other players' moves, transient state
    // ---------------------------------------------------------------------------------------------

    uint256 internal jRequest;
    uint256 internal jClaim;

    /// Calldata that tries to act as the market (the game's owner) from inside `playFor`.
    function ownerJunk(uint256 gW, address as_) internal view returns (bytes[] memory junk) {
        bytes[] memory inner = new bytes[](2);
        inner[0] = abi.encodeCall(DisputeGame.cancel, (gW));
        inner[1] = abi.encodeCall(DisputeGame.create, (liar, as_, bytes32(0), bytes32(0), 5));
        bytes[] memory nested = new bytes[](1);
        nested[0] = abi.encodeCall(DisputeGame.playFor, (as_, inner));
        bytes[] memory deeper = new bytes[](1);
        deeper[0] = abi.encodeCall(DisputeGame.multicall, (nested));
        junk = new bytes[](8);
        junk[0] = abi.encodeCall(DisputeGame.create, (liar, as_, bytes32(0), bytes32(0), 5));
        junk[1] = abi.encodeCall(DisputeGame.cancel, (gW));
        junk[2] = abi.encodeCall(DisputeGame.playFor, (as_, inner));
        junk[3] = abi.encodeCall(DisputeGame.multicall, (inner)); // runs; its calls fail
        junk[4] = abi.encodeCall(DisputeGame.multicall, (nested)); // runs; the nested playFor fails
        junk[5] = abi.encodeCall(DisputeGame.multicall, (deeper)); // runs; so does the deeper one
        junk[6] = abi.encodeCall(DisputeGame.timeout, (gW)); // the clock runs
        junk[7] = abi.encodeCall(DisputeGame.dissect, (gW, honestDissection())); // not the defender
    }

    /// The market's functions (its hooks, `withdraw`, the payable `challenge` and `topUp`) are not the
    /// game's: delegatecalled into the game they fail without a reason, which reverts the whole batch.
    function marketJunk(uint256 gW) internal view returns (bytes[] memory junk) {
        junk = new bytes[](5);
        junk[0] = abi.encodeCall(InferenceMarket.onGameEnded, (gW, false));
        junk[1] = abi.encodeCall(InferenceMarket.onDissect, (gW));
        junk[2] = abi.encodeCall(InferenceMarket.withdraw, ());
        junk[3] = abi.encodeCall(InferenceMarket.challenge, (jRequest, jClaim));
        junk[4] = abi.encodeCall(InferenceMarket.topUp, (jClaim));
    }

    function assertJunkRefused(bool[] memory ok) internal {
        assertEq(ok.length, 8);
        for (uint256 i = 0; i < ok.length; ++i) {
            if (i >= 3 && i <= 5) assertTrue(ok[i], "a multicall itself runs");
            else assertFalse(ok[i], "a forwarded call acted as the owner or another party");
        }
    }

    /// The liar's accounts forward the owner's functions through both combined calls: `create`, `cancel`
    /// of the honest game, `playFor` nested directly and inside one and two levels of `multicall`, the
    /// market's hooks, `withdraw` and the payable `challenge` and `topUp` (not the game's functions:
    /// delegatecalled into the game they fail, and the game receives no value to reuse),
    /// a timeout before the clock ran out, and the defender's dissection sent by a Sybil. Every call that
    /// would act as the market or as another party fails; the honest game is untouched, no game was
    /// created or cancelled, the value paid is booked exactly. In the same transaction the game's
    /// transient player is clear again: the liar's direct dissection counts as its own and the market
    /// creates (a challenge) and cancels (a close) games as before.
    function test_resists_forwardedCalldataCannotActAsTheOwner() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = falseClaim(liar, id, HALT, 3);
        (jRequest, jClaim) = (id, claimId);
        uint256 gW = challengeAs(watcher, id, claimId);
        address s = sybil(0);
        uint256 value = market.challengeValue(claimId);
        uint256 before = address(market).balance;
        bytes[] memory junk = ownerJunk(gW, s);
        vm.prank(s);
        (uint256[] memory gs, bool[] memory ok) =
            market.challengeManyAndPlay{value: value}(one(id), one(claimId), junk);
        assertJunkRefused(ok);
        assertEq(address(market).balance, before + value, "the value was not booked exactly once");
        junk = ownerJunk(gW, liar);
        vm.prank(liar);
        ok = market.topUpAndPlay{value: 1}(one(claimId), one(1), junk);
        assertJunkRefused(ok);
        assertEq(game.gameCount(), gs[0], "a game was created through the forwarded calls");
        bytes[] memory mj = marketJunk(gW);
        for (uint256 i = 0; i < mj.length; ++i) {
            bytes[] memory batch = new bytes[](1);
            batch[0] = mj[i];
            vm.prank(liar);
            vm.expectRevert(abi.encodeWithSelector(DisputeGame.CallFailedWithoutReason.selector, 0));
            market.topUpAndPlay{value: 1}(one(claimId), one(1), batch);
        }
        assertEq(uint256(game.status(gW)), uint256(IDisputeGame.Status.AwaitingDissection));
        assertEq(game.game(gW).moves, 0);
        // Same transaction: the transient player was cleared.
        bytes32[] memory pts = honestDissection();
        pts[pts.length - 1] = market.getClaim(claimId).finalState;
        vm.expectEmit(address(game));
        emit DisputeGame.Dissected(gW, liar, type(uint256).max, 0, HALT, pts);
        vm.prank(liar);
        game.dissect(gW, pts);
        uint256 g3 = challengeAs(challenger, id, claimId);
        assertEq(game.game(g3).challenger, challenger);
        // The Sybil voids the claim; the watcher's game is closed (the market cancels it).
        playMarketGame(gs[0], falseTrace(id, INPUT, HALT, 3), honestFor(INPUT));
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Voided));
        market.closeGame(gW);
        assertEq(uint256(game.status(gW)), uint256(IDisputeGame.Status.Cancelled));
        market.closeGame(g3);
        assertBooksBalance();
    }

    /// A move counts only for the account that called the market. It is the watcher's turn; the liar,
    /// a Sybil (with a challenge of its own) and the liar as submitter (`topUpAndPlay`) carry the
    /// watcher's valid response: each is refused (NotYourMove for the caller), the game and the watcher's
    /// clock unchanged. The watcher's own combined call then makes the same move. Nor can the watcher's
    /// combined call make the liar's move.
    function test_resists_aMoveCountsOnlyForTheCaller() public {
        uint256 id = requestAs(requester, INPUT);
        mClaim = falseClaim(liar, id, HALT, 3);
        mGame = challengeAs(watcher, id, mClaim);
        Actor memory liarA = actorFor(liar, falseTrace(id, INPUT, HALT, 3));
        bytes32[] memory cur = new bytes32[](2);
        cur[0] = market.getRequest(id).initialState;
        cur[1] = market.getClaim(mClaim).finalState;
        Outcome memory o;
        (, cur) = playMove(game, mGame, liarA, cur, game.status(mGame), o); // the liar dissects
        skipTime(12);
        (bytes memory watcherMove, bytes32[] memory next) =
            nextMove(mGame, actorFor(watcher, honestFor(INPUT)), cur);
        bytes[] memory moves = new bytes[](1);
        moves[0] = watcherMove;
        othersCarry(id, moves);

        vm.prank(watcher);
        (, bool[] memory ok) = market.challengeManyAndPlay(none(), none(), moves);
        assertTrue(ok[0], "the watcher's own move");
        // The liar's turn now; the watcher cannot take it through its own combined call.
        (bytes memory liarMove,) = nextMove(mGame, liarA, next);
        moves[0] = liarMove;
        vm.prank(watcher);
        (, ok) = market.challengeManyAndPlay(none(), none(), moves);
        assertFalse(ok[0]);
        assertEq(game.toMove(mGame), liar);
        assertBooksBalance();
    }

    uint256 internal mClaim;
    uint256 internal mGame;

    /// The liar, a Sybil (challenging too) and the liar as submitter carry the watcher's move `moves[0]`.
    function othersCarry(uint256 id, bytes[] memory moves) internal {
        DisputeGame.Game memory beforeG = game.game(mGame);
        vm.prank(liar);
        (, bool[] memory ok) = market.challengeManyAndPlay(none(), none(), moves);
        assertFalse(ok[0]);
        address s = sybil(0);
        uint256 value = market.challengeValue(mClaim);
        vm.prank(s);
        (, ok) = market.challengeManyAndPlay{value: value}(one(id), one(mClaim), moves);
        assertFalse(ok[0]);
        vm.prank(liar);
        ok = market.topUpAndPlay{value: 1}(one(mClaim), one(1), moves);
        assertFalse(ok[0]);
        DisputeGame.Game memory afterG = game.game(mGame);
        assertEq(afterG.moves, beforeG.moves);
        assertEq(afterG.points, beforeG.points);
        assertEq(afterG.challengerClock, beforeG.challengerClock);
        assertEq(afterG.lastMoveAt, beforeG.lastMoveAt);
        assertEq(game.toMove(mGame), watcher);
    }

    // ---------------------------------------------------------------------------------------------
    // front-runs of the honest combined call
    // ---------------------------------------------------------------------------------------------

    struct FrontRun {
        uint256 id;
        uint256 x; // one-step false claim the liar voids in front (its challenge is skipped)
        uint256 y; // false claim whose honest game the liar closes in front (the move fails)
        uint256 z; // fresh false claim (its challenge opens a game)
        uint256 v; // false claim whose honest game nothing touches (the move succeeds)
        uint256 q; // false claim whose liar stalled (the honest timeout; the liar ends it first)
        uint256 gY;
        uint256 gV;
        uint256 gQ;
    }

    /// Everything the liar can put in front of the honest watcher's `challengeManyAndPlay` in the same
    /// block: a Sybil voids one of the claims it challenges (skipped, value credited), the window of
    /// another closes (skipped, credited), the liar ends two of the watcher's games first by timing
    /// itself out (the watcher's own timeouts there fail: the games already ended in its favour, the
    /// claims voided), and a Sybil takes a fresh claim's stake (the watcher's challenge is then backed by
    /// its own). The call does not revert, the valid challenge opens its game, the untouched move is
    /// made, each skipped pair's value is credited exactly, and the books balance.
    function test_resists_frontRunsDoNotRevertTheCombinedCall() public {
        bytes[] memory moves = prepareFrontRunScene();
        FrontRun storage f = fr;
        uint256[] memory reqs = new uint256[](3);
        uint256[] memory claims = new uint256[](3);
        (reqs[0], claims[0]) = (f.id, f.x);
        (reqs[1], claims[1]) = (f.id, f.z);
        (reqs[2], claims[2]) = (f.id, f.y); // window closed: skipped
        uint256 value = market.challengeValue(f.x) + market.challengeValue(f.z) + market.challengeValue(f.y);

        // Front-run: void x, end the watcher's games in y and q first, take z's stake.
        address s0 = sybil(0);
        uint256 gX = challengeAs(s0, f.id, f.x);
        oneStepWin(s0, gX, INPUT);
        vm.prank(liar);
        game.timeout(f.gY); // the liar ends the watcher's game in y first: the watcher wins it
        vm.prank(liar);
        game.timeout(f.gQ);
        challengeAs(sybil(1), f.id, f.z);

        uint256 credit = market.withdrawable(watcher);
        vm.prank(watcher);
        (uint256[] memory gs, bool[] memory ok) =
            market.challengeManyAndPlay{value: value}(reqs, claims, moves);
        assertEq(gs[0], 0, "the voided claim was challenged");
        assertGt(gs[1], 0, "the fresh claim's challenge was refused");
        assertEq(uint256(market.getGame(gs[1]).funding), uint256(InferenceMarket.Funding.Challenger));
        assertEq(gs[2], 0, "the closed window let a challenge in");
        assertFalse(ok[0]);
        assertTrue(ok[1], "the untouched move failed");
        assertFalse(ok[2]);
        assertEq(
            market.withdrawable(watcher) - credit,
            market.challengeValue(f.x) + market.challengeValue(f.y),
            "the skipped pairs were not credited exactly"
        );
        assertEq(uint256(market.getClaim(f.y).status), uint256(InferenceMarket.ClaimStatus.Voided));
        assertEq(uint256(market.getClaim(f.q).status), uint256(InferenceMarket.ClaimStatus.Voided));
        assertBooksBalance();
    }

    FrontRun internal fr;

    /// The claims and games of the front-run scene; returns the watcher's moves, prepared against the
    /// state before the front-run: timeouts in gY and gQ and its response in gV.
    function prepareFrontRunScene() internal returns (bytes[] memory moves) {
        FrontRun storage f = fr;
        f.id = requestAs(requester, INPUT);
        f.y = falseClaim(liar, f.id, HALT, 2);
        f.q = falseClaim(liar, f.id, HALT, 2);
        f.gY = challengeAs(watcher, f.id, f.y);
        f.gQ = challengeAs(watcher, f.id, f.q);
        // y's window closes (the watcher is in it); the liar stalled in gY and gQ past its clock.
        vm.warp(market.getClaim(f.y).challengeDeadline);
        f.x = falseClaim(liar, f.id, 1, 2);
        f.v = falseClaim(liar, f.id, HALT, 2);
        f.z = falseClaim(liar, f.id, HALT, 1);
        f.gV = challengeAs(watcher, f.id, f.v);
        // The liar dissects in gV; the watcher's response is due.
        Actor memory liarV = actorFor(liar, falseTrace(f.id, INPUT, HALT, 3));
        bytes32[] memory cur = new bytes32[](2);
        cur[0] = market.getRequest(f.id).initialState;
        cur[1] = market.getClaim(f.v).finalState;
        Outcome memory o;
        (, cur) = playMove(game, f.gV, liarV, cur, game.status(f.gV), o);
        skipTime(12);
        (bytes memory moveV,) = nextMove(f.gV, actorFor(watcher, honestFor(INPUT)), cur);
        moves = new bytes[](3);
        moves[0] = abi.encodeCall(DisputeGame.timeout, (f.gY));
        moves[1] = moveV;
        moves[2] = abi.encodeCall(DisputeGame.timeout, (f.gQ));
    }

    // ---------------------------------------------------------------------------------------------
    // re-entrancy
    // ---------------------------------------------------------------------------------------------

    /// A player contract re-enters from its receive() while the market pays it (withdraw): it calls
    /// `challengeManyAndPlay` and `topUpAndPlay` (both refused by the market's guard) and the game's
    /// `multicall` with its winning step, which needs the market's guarded `onGameEnded` hook and so
    /// fails. Nothing moved, no game ended; outside the payout the same step through the combined call
    /// wins, and the books balance. (Inside `playFor` itself no account gets control: the moves call only
    /// the verifier and the market's hooks, which burn to address(0) and credit balances.)
    function test_resists_reentrancyFromReceiveIntoTheCombinedCalls() public {
        ReentrantPlayer rp = new ReentrantPlayer(market);
        tracked.push(address(rp));
        vm.deal(address(rp), 10 ether);
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = falseClaim(liar, id, 1, 1);
        uint256 value = market.challengeValue(claimId);
        uint256 g = rp.challenge{value: value}(id, claimId); // claim-backed: its stake is credited back
        bytes[] memory moves = new bytes[](1);
        moves[0] = oneStepProofCall(g, INPUT);
        rp.setMoves(moves, claimId);
        rp.withdraw();
        assertEq(rp.attempts(), 1);
        assertEq(rp.reentries(), 0, "a re-entrant call or move succeeded");
        assertTrue(live(g));
        assertBooksBalance();
        (, bool[] memory ok) = rp.challengeManyAndPlay(none(), none(), moves);
        assertTrue(ok[0]);
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Voided));
        assertBooksBalance();
    }

    // ---------------------------------------------------------------------------------------------
    // top-up drained in front
    // ---------------------------------------------------------------------------------------------

    /// An honest claim by `who` on request `id`, staked for one game.
    function honestClaimOf(address who, uint256 id) internal returns (uint256) {
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint256 value = market.submitterBond() + market.gameStakeFor(HALT);
        vm.prank(who);
        return market.submit{value: value}(id, output, finalState, steps, proof);
    }

    /// A server whose claim has one challenger-backed game to match and a free stake of one game's stake
    /// (returned by a game it won). If it counts on that free stake, the liar's Sybil takes it in front
    /// (a claim-backed challenge) and the dissection is refused (a block lost). If it tops up one stake per
    /// game it matches in this transaction, whatever the free stake, with `topUpAndPlay`, nothing can come
    /// between the top-up and the dissection and a front-run can take only what was there before: the
    /// match succeeds. (Guidance for the submitter agent; the contracts make the robust way possible.)
    function test_resists_topUpAndPlay_frontRunDrainOfTheFreeStake() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 gs = market.gameStakeFor(HALT);
        uint256 claimId = honestClaimOf(server, id);
        uint256 a = challengeAs(sybil(0), id, claimId); // claim-backed
        uint256 c = challengeAs(sybil(1), id, claimId); // backed by itself
        // The server wins game a (the Sybil lies): its stake returns to the claim.
        playMarketGame(a, honestFor(INPUT), falseTrace(id, INPUT, HALT, 3));
        assertEq(market.getClaim(claimId).freeStake, gs);
        skipTime(12);
        // The liar's front-run takes the free stake.
        uint256 d = challengeAs(sybil(2), id, claimId);
        assertEq(uint256(market.getGame(d).funding), uint256(InferenceMarket.Funding.Claim));
        bytes[] memory moves = new bytes[](1);
        moves[0] = abi.encodeCall(DisputeGame.dissect, (c, honestDissection()));
        uint256 snap = SNAP.snapshotState();
        vm.prank(server);
        bool[] memory ok = game.multicall(moves); // counting on the free stake
        assertFalse(ok[0], "the drained free stake still matched");
        SNAP.revertToState(snap);
        vm.prank(server);
        ok = market.topUpAndPlay{value: gs}(one(claimId), one(gs), moves); // one stake per game it matches
        assertTrue(ok[0]);
        assertEq(uint256(market.getGame(c).funding), uint256(InferenceMarket.Funding.Matched));
        assertBooksBalance();
    }

    // ---------------------------------------------------------------------------------------------
    // P2: the burn rounds up, with unmatched games sharing the bounty
    // ---------------------------------------------------------------------------------------------

    /// P2 to the wei over fuzzed bonds (odd ones included) and burn shares: the liar voids its own
    /// one-step claim through a claim-backed Sybil while 0 to 6 other Sybil games back themselves (so the
    /// unburnt part is split into `unmatchedPay` shares and the winner's rest). The liar's accounts lose at
    /// least burnBps of the bond, rounded up: lost * 10,000 >= burnBps * bond. The books balance.
    function testFuzz_resists_P2_burnRoundsUpWithUnmatchedShares(
        uint256 bondSeed,
        uint256 burnSeed,
        uint256 n
    ) public {
        InferenceMarket.Config memory cfg = defaultConfig();
        cfg.burnBps = uint16(bound(burnSeed, 5000, 9999));
        uint256 minBond = (64 * uint256(ALLOWANCE) * 10_000) / (10_000 - cfg.burnBps) + 1;
        cfg.submitterBond = uint96(bound(bondSeed, minBond, minBond + 3 ether));
        deployMarket(cfg);
        (modelId, token) = registerModel("model", HALT, MAX_STEPS, FEE, SHARE_BPS);
        n = bound(n, 0, 6);
        uint256 id = requestAs(requester, INPUT);
        uint256 paid = uint256(market.submitterBond()) + market.gameStakeFor(1);
        uint256 claimId = falseClaim(liar, id, 1, 1);
        address winner = sybil(0);
        paid += market.challengeValue(claimId);
        uint256 gWin = challengeAs(winner, id, claimId);
        uint256[] memory others = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            paid += market.challengeValue(claimId);
            others[i] = challengeAs(sybil(1 + i), id, claimId);
        }
        oneStepWin(winner, gWin, INPUT);
        uint256 recovered = market.withdrawable(liar) + market.withdrawable(winner);
        for (uint256 i = 0; i < n; ++i) {
            market.closeGame(others[i]);
            recovered += market.withdrawable(market.getGame(others[i]).challenger);
        }
        uint256 lost = paid - recovered;
        assertGte(lost * 10_000, uint256(cfg.burnBps) * cfg.submitterBond, "P2: the burn rounded down");
        assertEq(lost, cfg.submitterBond - (uint256(cfg.submitterBond) * (10_000 - cfg.burnBps)) / 10_000);
        assertBooksBalance();
    }
}
