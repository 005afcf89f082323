// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GamePlayer} from "../utils/GamePlayer.sol";
import {TraceVM} from "../utils/TraceVM.sol";
import {TraceModelState} from "../utils/TraceModelState.sol";
import {ModelState} from "../../contracts/vm/ModelState.sol";
import {InferenceMarket} from "../../contracts/InferenceMarket.sol";
import {ModelRegistry} from "../../contracts/ModelRegistry.sol";
import {DisputeGame} from "../../contracts/DisputeGame.sol";
import {RevenueShare} from "../../contracts/RevenueShare.sol";
import {IDisputeGame} from "../../contracts/interfaces/IDisputeGame.sol";
import {IModelState} from "../../contracts/interfaces/IModelState.sol";
import {IOneStepVerifier} from "../../contracts/interfaces/IOneStepVerifier.sol";

/// A revenue-share holder that can neither call nor receive ETH (an AMM pair): only {RevenueShare.expire}
/// gets its share of a snapshot back to the other holders.
contract StuckHolder {}

/// @title Random actors on one market: requests, honest and false claims, honest and lying challengers,
/// game moves, timeouts, settlement, withdrawals, revenue snapshots, claims (own, for others, to others
/// by a claimer), expiries, burns and forced ETH
/// @notice Every action picks its actor and target from the fuzzer's numbers and skips what cannot
/// apply, so most calls do something. Ghost variables record what left or entered the system. Checks
/// inside actions count {violations} instead of reverting (a reverting action is discarded by the
/// invariant runner, so a `require` there could never fail a run); an invariant asserts there are none.
contract MarketHandler is GamePlayer {
    uint64 public constant HALT = 200;
    uint64 public constant MAX_STEPS = 1000;
    uint96 public constant FEE = 1 ether;
    uint16 public constant SHARE_BPS = 2500;
    uint64 public constant CLOCK = 1 days;
    uint64 public constant WINDOW = 2 days;
    uint96 public constant SUBMITTER_BOND = 3 ether;
    uint96 public constant CHALLENGER_BOND = 2 ether;
    uint256 public constant MAX_REQUESTS = 12;
    uint32 public constant CLAIM_WINDOW = 7 days;

    InferenceMarket public market;
    DisputeGame public game;
    RevenueShare public token;
    TraceModelState public modelState;
    bytes32 public modelId;
    ModelState.Commitment internal commitment;

    address[] public requesters;
    address[] public submitters;
    address[] public challengers;
    address[] public holders; // three accounts, then a StuckHolder
    address[] public claimers; // whom holders may name with setClaimer
    address public payee; // receives what claimers claim with claimTo

    uint256[] public requestIds;
    mapping(uint256 requestId => bytes) internal inputOf;

    /// How a claim was made: 0 honest, 1 another output (lying from `lieFrom`), 2 a wrong step count.
    struct ClaimPlan {
        uint256 mode;
        uint64 lieFrom;
        bytes32 evil;
    }

    mapping(uint256 claimId => ClaimPlan) internal plans;

    struct GamePlan {
        bool challengerHonest;
        uint64 lieFrom;
    }

    mapping(uint256 gameId => GamePlan) internal gamePlans;
    mapping(uint256 gameId => bytes32[]) internal points;

    // ghosts
    uint256 public ethIn; // fees, bonds and forced ETH sent in
    uint256 public withdrawn; // pulled from the market
    uint256 public tokenPaidOut; // claims and redemptions paid by the token
    uint256 public forcedToMarket;
    uint256 public forcedToToken;
    uint256 public honestLostOnTheMerits; // games an honest party lost by a verified step
    uint256 public steppedGames;
    mapping(uint256 snapshotId => uint256) public claimedAt;
    mapping(uint256 snapshotId => mapping(address holder => uint256)) public claimedBy;
    mapping(uint256 snapshotId => uint256) public expiredRemainder;
    uint256 public violations; // failed checks inside actions (see the contract's notice)
    string public lastViolation;
    mapping(bytes32 action => uint256) public calls;

    constructor() {
        traceVm = new TraceVM();
        modelState = new TraceModelState(traceVm);
        market = new InferenceMarket(
            InferenceMarket.Config({
                modelState: IModelState(address(modelState)),
                verifier: IOneStepVerifier(address(traceVm)),
                arity: 8,
                clockBudget: CLOCK,
                challengeWindow: WINDOW,
                requestTimeout: 4 days,
                submitterBond: SUBMITTER_BOND,
                challengerBond: CHALLENGER_BOND,
                burnBps: 1500
            })
        );
        game = market.disputeGame();
        for (uint256 i = 0; i < 3; ++i) {
            string memory n = vm.toString(i);
            requesters.push(makeAddr(string.concat("requester ", n)));
            submitters.push(makeAddr(string.concat("submitter ", n)));
            challengers.push(makeAddr(string.concat("challenger ", n)));
            holders.push(makeAddr(string.concat("holder ", n)));
        }
        holders.push(address(new StuckHolder()));
        claimers.push(makeAddr("claimer 0"));
        claimers.push(makeAddr("claimer 1"));
        payee = makeAddr("payee");
        commitment.codeRoot = "invariant model";
        commitment.memorySize = 1 << 16;
        commitment.globalsRoot = bytes32(uint256(HALT));
        commitment.inputSize = 64;
        commitment.outputOffset = 1024;
        commitment.outputSize = 32;
        modelId = modelState.modelId(commitment);
        token = RevenueShare(
            payable(market.registry()
                    .register(
                        modelId,
                        commitment,
                        new bytes32[](0),
                        ModelRegistry.Terms({maxSteps: MAX_STEPS, fee: FEE, submitterShareBps: SHARE_BPS}),
                        ModelRegistry.ShareTerms({
                        name: "Inv",
                        symbol: "INV",
                        holder: holders[0],
                        supply: 1000e18,
                        claimableBps: 7000,
                        snapshotInterval: 1 hours,
                        claimWindow: CLAIM_WINDOW
                    })
                    ))
        );
        // A quarter of the shares sits in a contract that can neither claim nor be paid, as in a pair.
        vm.prank(holders[0]);
        require(token.transfer(holders[3], 250e18), "transfer");
    }

    // ---------------------------------------------------------------------------------------------
    // views for the invariants
    // ---------------------------------------------------------------------------------------------

    function requestCount() external view returns (uint256) {
        return requestIds.length;
    }

    function actors() external view returns (address[] memory all) {
        all = new address[](12);
        for (uint256 i = 0; i < 3; ++i) {
            all[i] = requesters[i];
            all[3 + i] = submitters[i];
            all[6 + i] = challengers[i];
            all[9 + i] = holders[i];
        }
    }

    function holderList() external view returns (address[] memory) {
        return holders;
    }

    // ---------------------------------------------------------------------------------------------
    // actions
    // ---------------------------------------------------------------------------------------------

    function request(uint256 who, uint256 inputSeed) public {
        if (requestIds.length >= MAX_REQUESTS) return;
        address r = requesters[who % 3];
        bytes memory input = abi.encode(inputSeed % 5);
        vm.deal(r, FEE);
        ethIn += FEE;
        vm.prank(r);
        uint256 id = market.request{value: FEE}(modelId, input);
        requestIds.push(id);
        inputOf[id] = input;
        ++calls["request"];
    }

    function submit(uint256 reqSeed, uint256 who, uint256 mode, uint256 stepsSeed, uint256 lieSeed) public {
        uint256 id = _find(reqSeed, InferenceMarket.RequestStatus.Open, true);
        if (id == 0) {
            if (requestIds.length >= MAX_REQUESTS) return;
            request(who, reqSeed);
            id = requestIds[requestIds.length - 1];
        }
        mode = mode % 3;
        bytes32 seed = modelState.seedOf(commitment, inputOf[id]);
        ClaimPlan memory p;
        p.mode = mode;
        uint64 steps = HALT;
        bytes32 runSeed = seed;
        if (mode == 1) {
            steps = uint64(bound(stepsSeed, 1, MAX_STEPS));
            runSeed = keccak256(abi.encode("evil", id, stepsSeed));
            p.evil = runSeed;
            p.lieFrom = uint64(bound(lieSeed, 1, steps));
        } else if (mode == 2) {
            steps = uint64(bound(stepsSeed, 1, MAX_STEPS));
            if (steps == HALT) steps = HALT + 1;
            p.lieFrom = steps;
        }
        plans[_post(id, submitters[who % 3], runSeed, steps)] = p;
        ++calls["submit"];
    }

    /// A new request served honestly and settled unchallenged after the window: revenue for the token
    /// in most runs (through the other actions alone it arrives in few).
    function earn(uint256 who, uint256 inputSeed) external {
        if (requestIds.length >= MAX_REQUESTS) return;
        request(who, inputSeed);
        uint256 id = requestIds[requestIds.length - 1];
        _post(id, submitters[who % 3], modelState.seedOf(commitment, inputOf[id]), HALT); // plan: honest
        skipTime(WINDOW);
        market.finalize(id);
        ++calls["earn"];
    }

    function challenge(uint256 reqSeed, uint256 who, bool honest, uint256 lieSeed) external {
        uint256 id = _find(reqSeed, InferenceMarket.RequestStatus.Claimed, true);
        if (id == 0) {
            submit(reqSeed, who, lieSeed, reqSeed >> 64, lieSeed);
            id = _find(reqSeed, InferenceMarket.RequestStatus.Claimed, true);
            if (id == 0) return;
        }
        InferenceMarket.Request memory r = market.getRequest(id);
        InferenceMarket.Claim memory c = market.getClaim(r.activeClaim);
        address ch = challengers[who % 3];
        if (market.hasChallenged(r.activeClaim, ch)) return;
        vm.deal(ch, CHALLENGER_BOND);
        ethIn += CHALLENGER_BOND;
        vm.prank(ch);
        uint256 g = market.challenge{value: CHALLENGER_BOND}(id, r.activeClaim);
        gamePlans[g] = GamePlan({challengerHonest: honest, lieFrom: uint64(bound(lieSeed, 1, c.steps))});
        points[g].push(r.initialState);
        points[g].push(c.finalState);
        ++calls["challenge"];
    }

    /// The party to move in a random live game moves by its plan.
    function move(uint256 gameSeed) external {
        uint256 g = _liveGame(gameSeed);
        if (g == 0) return;
        IDisputeGame.Status st = game.status(g);
        bool defenderMoves = game.toMove(g) == game.game(g).defender;
        (uint256 dc, uint256 cc) = game.clocks(g);
        if ((defenderMoves ? dc : cc) == 0) return; // out of time: only a timeout helps
        (bool moved, bool stepped) = _playOne(g, defenderMoves, st);
        if (!moved) return;
        ++calls["move"];
        if (stepped) _checkMerits(g, defenderMoves);
    }

    function _playOne(uint256 g, bool defenderMoves, IDisputeGame.Status st)
        private
        returns (bool moved, bool stepped)
    {
        (Actor memory mover,) = _actorFor(g, defenderMoves);
        Outcome memory o;
        bytes32[] memory next;
        (moved, next) = playMove(game, g, mover, points[g], st, o);
        if (moved) points[g] = next;
        stepped = o.stepped;
    }

    /// After a verified step: the honest side (if any) must have won.
    function _checkMerits(uint256 g, bool defenderMoved) private {
        ++steppedGames;
        bool defenderWon = game.status(g) == IDisputeGame.Status.DefenderWon;
        (, bool defenderHonest) = _actorFor(g, true);
        (, bool challengerHonest) = _actorFor(g, false);
        if ((defenderHonest && !defenderWon) || (challengerHonest && defenderWon)) ++honestLostOnTheMerits;
        defenderMoved; // the responder may be either side
    }

    function timeout(uint256 gameSeed, uint256 wait) external {
        uint256 g = _liveGame(gameSeed);
        if (g == 0) return;
        skipTime(bound(wait, 0, CLOCK));
        DisputeGame.Game memory gm = game.game(g);
        bool defenderMoves = game.toMove(g) == gm.defender;
        uint256 left = defenderMoves ? gm.defenderClock : gm.challengerClock;
        if (now_() - gm.lastMoveAt <= left) return;
        game.timeout(g);
        ++calls["timeout"];
    }

    function closeGame(uint256 gameSeed) external {
        uint256 n = game.gameCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 g = 1 + ((gameSeed + i) % n);
            InferenceMarket.GameRef memory ref = market.getGame(g);
            if (ref.settled || market.getClaim(ref.claimId).status != InferenceMarket.ClaimStatus.Voided) {
                continue;
            }
            market.closeGame(g);
            ++calls["closeGame"];
            return;
        }
    }

    function finalize(uint256 reqSeed) external {
        uint256 n = requestIds.length;
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = requestIds[(reqSeed + i) % n];
            InferenceMarket.Request memory r = market.getRequest(id);
            if (r.status != InferenceMarket.RequestStatus.Claimed) continue;
            InferenceMarket.Claim memory c = market.getClaim(r.activeClaim);
            if (now_() < c.challengeDeadline || c.openGames != 0) continue;
            market.finalize(id);
            ++calls["finalize"];
            return;
        }
    }

    function refund(uint256 reqSeed) external {
        uint256 id = _find(reqSeed, InferenceMarket.RequestStatus.Open, false);
        if (id == 0 || now_() < market.getRequest(id).deadline) return;
        market.refund(id);
        ++calls["refund"];
    }

    function withdraw(uint256 who) external {
        address[] memory all = this.actors();
        for (uint256 i = 0; i < all.length; ++i) {
            address a = all[(who + i) % all.length];
            uint256 amount = market.withdrawable(a);
            if (amount == 0) continue;
            uint256 before = a.balance;
            vm.prank(a);
            market.withdraw();
            _check(a.balance - before == amount, "withdraw paid a different amount");
            withdrawn += amount;
            ++calls["withdraw"];
            return;
        }
    }

    function warp(uint256 secs) external {
        skipTime(bound(secs, 1, 2 days));
        ++calls["warp"];
    }

    function snapshot() public {
        if (now_() < token.lastSnapshotAt() + token.snapshotInterval() || token.pendingRevenue() == 0) {
            return;
        }
        if (token.totalSupply() == 0) return;
        token.snapshot();
        skipTime(1);
        ++calls["snapshot"];
    }

    /// Claims something claimable (scanning holders and snapshots), snapshotting first when possible.
    function claim(uint256 who, uint256 snapSeed) external {
        snapshot();
        (uint256 id, address h, uint256 amount) = _findClaimable(who, snapSeed, 3);
        if (amount == 0) return;
        uint256 before = h.balance;
        vm.prank(h);
        token.claim(id);
        _check(h.balance - before == amount, "claim paid a different amount");
        _booked(id, h, amount);
        ++calls["claim"];
    }

    /// A stranger claims for a holder, the StuckHolder included: paid to the holder, or reverted with
    /// nothing booked when the holder refuses ETH.
    function claimFor(uint256 who, uint256 snapSeed, uint256 callerSeed) external {
        snapshot();
        (uint256 id, address h, uint256 amount) = _findClaimable(who, snapSeed, holders.length);
        if (amount == 0) return;
        address caller = challengers[callerSeed % 3];
        uint256 before = h.balance;
        uint256 reserve = token.claimReserve();
        vm.prank(caller);
        try token.claimFor(h, id) {
            _check(h.code.length == 0, "claimFor paid a holder that refuses ETH");
            _check(h.balance - before == amount, "claimFor paid a different amount");
            _booked(id, h, amount);
            ++calls["claimFor"];
        } catch (bytes memory err) {
            _check(
                keccak256(err)
                    == keccak256(abi.encodeWithSelector(RevenueShare.TransferFailed.selector, h, amount)),
                "claimFor reverted for another reason"
            );
            _check(
                !token.hasClaimed(h, id) && token.claimReserve() == reserve, "refused claimFor booked a claim"
            );
            ++calls["claimForRefused"];
        }
    }

    /// A holder names one of the claimers, or nobody.
    function setClaimer(uint256 who, uint256 claimerSeed) external {
        address h = holders[who % 3];
        address c = claimerSeed % 3 == 2 ? address(0) : claimers[claimerSeed % 2];
        vm.prank(h);
        token.setClaimer(c);
        ++calls["setClaimer"];
    }

    /// A claimer (its holder's, or the wrong one, which must be refused) claims a holder's share to the
    /// payee.
    function claimTo(uint256 who, uint256 snapSeed, uint256 callerSeed) external {
        snapshot();
        (uint256 id, address h, uint256 amount) = _findClaimable(who, snapSeed, 3);
        if (amount == 0) return;
        address caller = claimers[callerSeed % 2];
        uint256 before = payee.balance;
        vm.prank(caller);
        try token.claimTo(h, id, payee) {
            _check(token.claimerOf(h) == caller, "claimTo by a non-claimer");
            _check(payee.balance - before == amount, "claimTo paid a different amount");
            _booked(id, h, amount);
            ++calls["claimTo"];
        } catch (bytes memory err) {
            _check(token.claimerOf(h) != caller, "claimTo refused to the claimer");
            _check(
                keccak256(err)
                    == keccak256(abi.encodeWithSelector(RevenueShare.NotClaimer.selector, caller, h)),
                "claimTo reverted for another reason"
            );
            ++calls["claimToRefused"];
        }
    }

    /// Waits until a snapshot not yet expired is past its deadline (at most a claim window), checks that
    /// it can no longer be claimed, and expires it: exactly its unclaimed rest returns to pendingRevenue.
    function expire(uint256 snapSeed) external {
        uint256 count = token.snapshotCount();
        for (uint256 j = 0; j < count; ++j) {
            uint256 id = 1 + ((snapSeed % count + j) % count);
            (uint256 deadline, uint256 unclaimed, bool expired) = token.claimStatus(id);
            if (expired) continue;
            if (now_() <= deadline) skipTime(deadline + 1 - now_());
            _checkClaimsClosed(id, deadline);
            uint256 pending = token.pendingRevenue();
            uint256 remainder = token.expire(id);
            _check(remainder == unclaimed, "expire returned another amount than claimStatus");
            _check(
                remainder == token.snapshotInfo(id).revenue - claimedAt[id], "expire returned a claimed part"
            );
            _check(token.pendingRevenue() == pending + remainder, "expire did not refill pendingRevenue");
            expiredRemainder[id] = remainder;
            try token.expire(id) {
                _check(false, "expired twice");
            } catch {}
            ++calls["expire"];
            return;
        }
    }

    function burn(uint256 who, uint256 amount) external {
        address h = holders[who % 3];
        uint256 bal = token.balanceOf(h);
        if (bal == 0) return;
        amount = bound(amount, 1, bal);
        uint256 expected = token.redeemableOnBurn(amount);
        uint256 before = h.balance;
        vm.prank(h);
        token.burn(amount);
        _check(h.balance - before == expected, "burn paid a different amount");
        tokenPaidOut += expected;
        ++calls["burn"];
    }

    function transferShares(uint256 from, uint256 to, uint256 amount) external {
        address f = holders[from % holders.length];
        uint256 bal = token.balanceOf(f);
        if (bal == 0) return;
        amount = bound(amount, 1, bal);
        vm.prank(f); // the StuckHolder trades too (a pair's shares move with swaps)
        require(token.transfer(holders[to % holders.length], amount), "transfer");
        ++calls["transfer"];
    }

    /// ETH forced in without a call (selfdestruct, coinbase): never counted by the contracts.
    function forceSend(uint96 amount, bool toToken) external {
        amount = uint96(bound(amount, 1, 10 ether));
        address target = toToken ? address(token) : address(market);
        vm.deal(target, target.balance + amount);
        if (toToken) forcedToToken += amount;
        else forcedToMarket += amount;
        ethIn += amount;
        ++calls["forceSend"];
    }

    // ---------------------------------------------------------------------------------------------
    // internals
    // ---------------------------------------------------------------------------------------------

    /// The handler's clock (the fuzzer moves it with `warp`, `timeout` and `expire`).
    function now_() internal view returns (uint256) {
        return block.timestamp;
    }

    /// `s` bonds and submits the run of `runSeed` halted at `steps` for request `id`.
    function _post(uint256 id, address s, bytes32 runSeed, uint64 steps) private returns (uint256 claimId) {
        vm.deal(s, SUBMITTER_BOND);
        ethIn += SUBMITTER_BOND;
        bytes memory output = modelState.outputOf(runSeed);
        bytes32 finalState = traceVm.stateHash(runSeed, steps, steps);
        vm.prank(s);
        claimId = market.submit{value: SUBMITTER_BOND}(id, output, finalState, steps, abi.encode(runSeed));
    }

    /// Counts a failed check (see the contract's notice).
    function _check(bool ok, string memory what) private {
        if (ok) return;
        ++violations;
        lastViolation = what;
    }

    /// Books a claim of `amount` for `h` at snapshot `id` in the ghosts.
    function _booked(uint256 id, address h, uint256 amount) private {
        claimedAt[id] += amount;
        claimedBy[id][h] += amount;
        tokenPaidOut += amount;
    }

    /// A snapshot (from a random start) and one of the first `n` holders (from a random start) with
    /// something to claim now; amount 0 when none.
    function _findClaimable(uint256 who, uint256 snapSeed, uint256 n)
        private
        view
        returns (uint256 id, address h, uint256 amount)
    {
        uint256 count = token.snapshotCount();
        for (uint256 j = 0; j < count; ++j) {
            id = 1 + ((snapSeed % count + j) % count);
            for (uint256 i = 0; i < n; ++i) {
                h = holders[(who % n + i) % n];
                amount = token.claimableRevenue(h, id);
                if (amount != 0) return (id, h, amount);
            }
        }
        return (0, address(0), 0);
    }

    /// Past snapshot `id`'s deadline, a holder with an unclaimed share must be refused.
    function _checkClaimsClosed(uint256 id, uint256 deadline) private {
        _check(now_() > deadline, "not past the deadline");
        for (uint256 i = 0; i < 3; ++i) {
            address h = holders[i];
            if (token.hasClaimed(h, id) || token.balanceOfAt(h, id) == 0) continue;
            _check(token.claimableRevenue(h, id) == 0, "claimable after the deadline");
            vm.prank(h);
            try token.claim(id) {
                _check(false, "claimed after the deadline");
            } catch (bytes memory err) {
                _check(
                    keccak256(err)
                        == keccak256(
                            abi.encodeWithSelector(RevenueShare.ClaimWindowClosed.selector, id, deadline)
                        ),
                    "late claim reverted for another reason"
                );
            }
            return;
        }
    }

    /// The first request (from a random start) in `status`; for `live`, one still accepting its next
    /// step (submissions before the deadline, challenges within the window). 0 when none.
    function _find(uint256 seed, InferenceMarket.RequestStatus status, bool live)
        private
        view
        returns (uint256)
    {
        uint256 n = requestIds.length;
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = requestIds[(seed + i) % n];
            InferenceMarket.Request memory r = market.getRequest(id);
            if (r.status != status) continue;
            if (live && status == InferenceMarket.RequestStatus.Open && now_() >= r.deadline) {
                continue;
            }
            if (
                live && status == InferenceMarket.RequestStatus.Claimed
                    && now_() >= market.getClaim(r.activeClaim).challengeDeadline
            ) continue;
            return id;
        }
        return 0;
    }

    /// A live game (from a random start), 0 when none.
    function _liveGame(uint256 seed) private view returns (uint256) {
        uint256 n = game.gameCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 g = 1 + ((seed + i) % n);
            IDisputeGame.Status st = game.status(g);
            if (st == IDisputeGame.Status.AwaitingDissection || st == IDisputeGame.Status.AwaitingResponse) {
                return g;
            }
        }
        return 0;
    }

    /// The actor (and whether it is honest) for one side of game `g`.
    function _actorFor(uint256 g, bool defenderSide) private view returns (Actor memory a, bool honest) {
        InferenceMarket.GameRef memory ref = market.getGame(g);
        InferenceMarket.Claim memory c = market.getClaim(ref.claimId);
        bytes32 seed = modelState.seedOf(commitment, inputOf[c.requestId]);
        a.strategy = Strategy.Follow;
        if (defenderSide) {
            a.addr = c.submitter;
            ClaimPlan memory p = plans[ref.claimId];
            if (p.mode == 0) {
                a.trace = honestTrace(seed, HALT);
                honest = true;
            } else if (p.mode == 1) {
                a.trace = withEnd(lyingTrace(seed, HALT, p.lieFrom, p.evil), c.steps, c.finalState);
            } else {
                a.trace = withEnd(honestTrace(seed, HALT), c.steps, c.finalState);
            }
        } else {
            a.addr = ref.challenger;
            GamePlan memory gp = gamePlans[g];
            honest = gp.challengerHonest;
            a.trace = honest ? honestTrace(seed, HALT) : lyingTrace(seed, HALT, gp.lieFrom, bytes32(g));
        }
    }
}
