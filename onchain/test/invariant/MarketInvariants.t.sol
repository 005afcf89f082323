// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {TestBase} from "../utils/TestBase.sol";
import {InvariantBase} from "../utils/InvariantBase.sol";
import {MarketHandler} from "./MarketHandler.sol";
import {Console} from "../utils/Console.sol";
import {Books} from "../utils/Books.sol";
import {InferenceMarket} from "../../contracts/InferenceMarket.sol";
import {DisputeGame} from "../../contracts/DisputeGame.sol";
import {RevenueShare} from "../../contracts/RevenueShare.sol";

/// @notice Invariants of the market, its games and the revenue-share token under random sequences of
/// requests, honest and false claims, challenges by honest and lying challengers, moves, timeouts,
/// settlements, withdrawals, snapshots, claims (own, for others, to others by a claimer), expiries of
/// snapshots past their claim deadline, burns, share transfers (also to a holder that can neither call
/// nor receive ETH) and force-sent ETH.
contract MarketInvariantsTest is TestBase, InvariantBase {
    MarketHandler internal handler;
    InferenceMarket internal market;
    DisputeGame internal game;
    RevenueShare internal token;

    function setUp() public {
        handler = new MarketHandler();
        market = handler.market();
        game = handler.game();
        token = handler.token();
        targetContract(address(handler));
        // Repeated selectors are drawn more often: moves, challenges and time drive the games.
        bytes4[32] memory weighted = [
            MarketHandler.request.selector,
            MarketHandler.submit.selector,
            MarketHandler.submit.selector,
            MarketHandler.challenge.selector,
            MarketHandler.challenge.selector,
            MarketHandler.watch.selector,
            MarketHandler.watch.selector,
            MarketHandler.topUp.selector,
            MarketHandler.sandwich.selector,
            MarketHandler.sandwich.selector,
            MarketHandler.cancel.selector,
            MarketHandler.move.selector,
            MarketHandler.move.selector,
            MarketHandler.move.selector,
            MarketHandler.move.selector,
            MarketHandler.timeout.selector,
            MarketHandler.closeGame.selector,
            MarketHandler.finalize.selector,
            MarketHandler.earn.selector,
            MarketHandler.refund.selector,
            MarketHandler.withdraw.selector,
            MarketHandler.warp.selector,
            MarketHandler.warp.selector,
            MarketHandler.snapshot.selector,
            MarketHandler.claim.selector,
            MarketHandler.claimFor.selector,
            MarketHandler.setClaimer.selector,
            MarketHandler.claimTo.selector,
            MarketHandler.expire.selector,
            MarketHandler.burn.selector,
            MarketHandler.transferShares.selector,
            MarketHandler.forceSend.selector
        ];
        bytes4[] memory sel = new bytes4[](weighted.length);
        for (uint256 i = 0; i < weighted.length; ++i) {
            sel[i] = weighted[i];
        }
        targetSelector(FuzzSelector({addr: address(handler), selectors: sel}));
    }

    // One campaign per group (forge runs a campaign per invariant function); every check runs after
    // every call of every run.

    /// Money: balances, conservation, revenue, snapshot claims and expiries, slashed bonds, the
    /// handler's own checks.
    function invariant_accounting() public {
        check_balancesEqualLiabilities();
        check_conservation();
        check_revenueEqualsFinalizedFeesMinusShares();
        check_noClaimAboveShare();
        check_slashedBondsAreBurntOrPaid();
        check_snapshotsAccountedFor();
        check_handlerChecksHeld();
    }

    /// Games: the move bound, the merits of verified steps, the market's and the games' bookkeeping.
    function invariant_games() public {
        check_gamesWithinMoveBound();
        check_honestNeverLosesAVerifiedStep();
        check_gameBookkeeping();
    }

    /// The honest actors: no false claim finalizes (the watcher challenges each), the watcher never
    /// loses money, the server's claims settle in time, and every request is resolvable by its bound.
    function invariant_honestActors() public {
        check_noFalseClaimFinalizes();
        check_honestChallengerNeverLosesMoney();
        check_serverClaimsSettleInTime();
        check_requestsResolvableByTheirBound();
    }

    /// The market holds exactly the escrowed fees, the bonds and stakes of pending claims and live games,
    /// and the pending withdrawals (plus whatever was forced in, which no one can take); the token holds
    /// exactly its unclaimed revenue.
    function check_balancesEqualLiabilities() internal {
        uint256 owed = Books.liabilities(market);
        address[] memory all = handler.actors();
        for (uint256 i = 0; i < all.length; ++i) {
            owed += market.withdrawable(all[i]);
        }
        assertEq(address(market).balance, owed + handler.forcedToMarket(), "market balance");
        assertEq(
            address(token).balance,
            token.pendingRevenue() + token.redeemReserve() + token.claimReserve() + handler.forcedToToken(),
            "token balance"
        );
    }

    /// Burns and bounties are what each settlement should have caused, and every slashed bond was split
    /// exactly into its burnt part and its bounty.
    function check_slashedBondsAreBurntOrPaid() internal {
        uint256 voided;
        uint256 claims = market.claimCount();
        for (uint256 c = 1; c <= claims; ++c) {
            if (market.getClaim(c).status == InferenceMarket.ClaimStatus.Voided) ++voided;
        }
        uint256 bond = market.submitterBond();
        uint256 bondBurn = (bond * market.burnBps()) / 10_000;
        assertEq(market.totalSlashed(), voided * bond, "slashed bonds");
        assertEq(
            market.totalSlashed(),
            handler.expectedBounties() + voided * bondBurn,
            "slashed = bounties + burnt"
        );
        assertEq(market.totalBurned(), handler.expectedBurn(), "burnt");
    }

    /// P1: no false claim ever settled a request (the watcher challenges each in time).
    function check_noFalseClaimFinalizes() internal {
        uint256 claims = market.claimCount();
        for (uint256 c = 1; c <= claims; ++c) {
            if (market.getClaim(c).status == InferenceMarket.ClaimStatus.Finalized) {
                assertFalse(handler.isFalseClaim(c), "a false claim finalized");
            }
        }
    }

    /// P3: the honest watcher, which challenges false claims and plays on time, got back at least what it
    /// paid (bond and stake) and one allowance per transaction in every game that ended.
    function check_honestChallengerNeverLosesMoney() internal {
        uint256 spent;
        uint256 n = handler.watcherGameCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 g = handler.watcherGames(i);
            if (!market.getGame(g).settled) continue;
            uint256 stake = market.getClaim(market.getGame(g).claimId).gameStake;
            spent += market.challengerBond() + stake + handler.watcherTxs(g) * market.moveAllowance();
        }
        address w = handler.watcher();
        assertGte(handler.withdrawnBy(w) + market.withdrawable(w), spent, "watcher lost money");
    }

    /// A request the honest server claimed can be settled (its claim finalized, or released when another
    /// claim settled first) once the window and the longest game have passed; the claim is never voided.
    function check_serverClaimsSettleInTime() internal {
        uint256 n = handler.requestCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = handler.requestIds(i);
            uint256 c = handler.serverClaim(id);
            if (c == 0) continue;
            InferenceMarket.Claim memory cl = market.getClaim(c);
            assertTrue(cl.status != InferenceMarket.ClaimStatus.Voided, "honest server's claim voided");
            if (cl.status != InferenceMarket.ClaimStatus.Pending || block.timestamp < handler.serverBound(id))
            {
                continue;
            }
            assertEq(uint256(cl.openGames), 0, "server claim still in games past its bound");
            assertGte(block.timestamp, uint256(cl.challengeDeadline), "server claim window past its bound");
        }
    }

    /// P4: once a request is past `resolvableAt`, every live game of its claims can be timed out (the
    /// party to move has used up its clock), so anyone can bring each claim to its end.
    function check_requestsResolvableByTheirBound() internal {
        uint256 games = game.gameCount();
        for (uint256 g = 1; g <= games; ++g) {
            uint8 st = uint8(game.status(g));
            if (st != 1 && st != 2) continue;
            uint256 requestId = market.getClaim(market.getGame(g).claimId).requestId;
            if (block.timestamp < market.resolvableAt(requestId)) continue;
            DisputeGame.Game memory gm = game.game(g);
            uint256 left = game.toMove(g) == gm.defender ? gm.defenderClock : gm.challengerClock;
            assertGt(block.timestamp - gm.lastMoveAt, left, "a game outlives its request's bound");
        }
    }

    /// Every wei that came in is held, was paid out, or was burnt.
    function check_conservation() internal {
        assertEq(
            handler.ethIn(),
            address(market).balance + address(token).balance + handler.withdrawn() + handler.tokenPaidOut()
                + market.totalBurned(),
            "conservation"
        );
    }

    /// Revenue deposited equals the fees of finalized requests minus the submitters' shares, and the
    /// token never paid out more than it received.
    function check_revenueEqualsFinalizedFeesMinusShares() internal {
        uint256 expected;
        uint256 n = market.requestCount();
        for (uint256 id = 1; id <= n; ++id) {
            InferenceMarket.Request memory r = market.getRequest(id);
            if (r.status == InferenceMarket.RequestStatus.Finalized) {
                expected += r.fee - (uint256(r.fee) * r.submitterShareBps) / 10_000;
            }
        }
        assertEq(token.totalDeposited(), expected, "revenue");
        assertLte(handler.tokenPaidOut(), token.totalDeposited(), "paid out more than deposited");
    }

    /// Nobody claims more than their share of a snapshot, and claims never exceed its revenue.
    function check_noClaimAboveShare() internal {
        uint256 snaps = token.snapshotCount();
        address[] memory hs = handler.holderList();
        for (uint256 s = 1; s <= snaps; ++s) {
            uint256 revenue = token.snapshotInfo(s).revenue;
            uint256 supply = token.totalSupplyAt(s);
            uint256 total;
            for (uint256 i = 0; i < hs.length; ++i) {
                uint256 got = handler.claimedBy(s, hs[i]);
                assertLte(got, (token.balanceOfAt(hs[i], s) * revenue) / supply, "claimed above share");
                total += got;
            }
            assertEq(total, handler.claimedAt(s));
            assertLte(total, revenue, "claims above snapshot revenue");
        }
    }

    /// Each snapshot's books: its `claimed` is what the handler saw paid out of it; an expired one
    /// returned exactly the rest; the claim reserve is exactly what the snapshots not expired still owe.
    function check_snapshotsAccountedFor() internal {
        uint256 snaps = token.snapshotCount();
        uint256 owed;
        for (uint256 s = 1; s <= snaps; ++s) {
            RevenueShare.Snapshot memory info = token.snapshotInfo(s);
            assertEq(uint256(info.claimed), handler.claimedAt(s), "claimed");
            (, uint256 unclaimed, bool expired) = token.claimStatus(s);
            assertEq(expired, info.expired);
            if (expired) {
                assertEq(unclaimed, 0);
                assertEq(handler.claimedAt(s) + handler.expiredRemainder(s), info.revenue, "expired rest");
            } else {
                assertEq(unclaimed, info.revenue - info.claimed);
                owed += unclaimed;
            }
        }
        assertEq(token.claimReserve(), owed, "claim reserve");
    }

    /// No check inside the handler's actions failed (claims paid exactly, refused claims booked nothing,
    /// no claim after a deadline, no second expiry).
    function check_handlerChecksHeld() internal {
        assertEq(handler.violations(), 0, handler.lastViolation());
    }

    /// Every game stays within ceil(log_k N) + 1 moves.
    function check_gamesWithinMoveBound() internal {
        uint256 games = game.gameCount();
        for (uint256 g = 1; g <= games; ++g) {
            uint64 steps = market.getClaim(market.getGame(g).claimId).steps;
            assertLte(game.game(g).moves, game.maxMoves(steps), "move bound");
        }
    }

    /// An honest party never loses a game on the merits (only by running out of time).
    function check_honestNeverLosesAVerifiedStep() internal {
        assertEq(handler.honestLostOnTheMerits(), 0);
    }

    /// Settled and live games agree between the market and the game contract.
    function check_gameBookkeeping() internal {
        uint256 games = game.gameCount();
        for (uint256 g = 1; g <= games; ++g) {
            InferenceMarket.GameRef memory ref = market.getGame(g);
            uint8 st = uint8(game.status(g));
            bool live = st == 1 || st == 2;
            assertEq(ref.settled, !live, "settled flag");
        }
        uint256 claims = market.claimCount();
        uint256[] memory pending = new uint256[](market.requestCount() + 1);
        for (uint256 c = 1; c <= claims; ++c) {
            InferenceMarket.Claim memory cl = market.getClaim(c);
            if (cl.status == InferenceMarket.ClaimStatus.Finalized) assertEq(uint256(cl.openGames), 0);
            if (cl.status == InferenceMarket.ClaimStatus.Pending) ++pending[cl.requestId];
        }
        for (uint256 id = 1; id < pending.length; ++id) {
            assertEq(uint256(market.getRequest(id).liveClaims), pending[id], "live claims");
        }
    }

    /// Reports how much each run exercised (shown with -vv), so a weak handler is noticed.
    function afterInvariant() public view {
        string[26] memory names = [
            "request",
            "serverSubmit",
            "submit",
            "challenge",
            "watch",
            "topUp",
            "sandwich",
            "cancel",
            "release",
            "move",
            "timeout",
            "closeGame",
            "finalize",
            "earn",
            "refund",
            "withdraw",
            "snapshot",
            "claim",
            "claimFor",
            "claimForRefused",
            "setClaimer",
            "claimTo",
            "claimToRefused",
            "expire",
            "burn",
            "forceSend"
        ];
        for (uint256 i = 0; i < names.length; ++i) {
            Console.log(names[i], handler.calls(bytes32(bytes(names[i]))));
        }
        Console.log("steppedGames", handler.steppedGames());
    }
}
