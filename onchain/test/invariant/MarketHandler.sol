// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GamePlayer} from "../utils/GamePlayer.sol";
import {SybilScript} from "../utils/SybilScript.sol";
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
/// sandwiches of the honest challenge, game moves, timeouts, top-ups, settlement, cancellations,
/// withdrawals, revenue snapshots, claims (own, for others, to others by a claimer), expiries, burns and
/// forced ETH
/// @notice Every action picks its actor and target from the fuzzer's numbers and skips what cannot
/// apply, so most calls do something. Ghost variables record what left or entered the system. Checks
/// inside actions count {violations} instead of reverting (a reverting action is discarded by the
/// invariant runner, so a `require` there could never fail a run); an invariant asserts there are none.
///
/// Two actors always play correctly and on time, as the protocol asks of honest parties: the `server`
/// (an honest submitter that claims every other request, defends its games and tops up to match the
/// games challengers back themselves) and the `watcher` (an honest challenger of every false claim).
/// Their duties run before time moves, and after it for timeouts, so they never miss a clock: that is
/// P1's premise, one honest transaction per block. Liars match the games backed by their challengers
/// or not, as their plan says. The invariants check that no false claim finalizes, that the server's
/// requests settle in time, that every request is resolvable by its bound and that the watcher never
/// loses money.
contract MarketHandler is GamePlayer, SybilScript {
    uint64 public constant HALT = 200;
    uint64 public constant MAX_STEPS = 1000;
    uint96 public constant FEE = 1 ether;
    uint16 public constant SHARE_BPS = 2500;
    uint64 public constant CLOCK = 1 days;
    uint64 public constant WINDOW = 2 days;
    uint96 public constant SUBMITTER_BOND = 3 ether;
    uint96 public constant CHALLENGER_BOND = 2 ether;
    uint96 public constant ALLOWANCE = 0.01 ether;
    uint16 public constant BURN_BPS = 6000;
    uint16 public constant CHALLENGER_BURN_BPS = 1500;
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
    address public server;
    address public watcher;

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
    uint256 public ethIn; // fees, bonds, stakes and forced ETH sent in
    uint256 public withdrawn; // pulled from the market
    mapping(address account => uint256) public withdrawnBy;
    uint256 public tokenPaidOut; // claims and redemptions paid by the token
    uint256 public forcedToMarket;
    uint256 public forcedToToken;
    uint256 public honestLostOnTheMerits; // games an honest party lost by a verified step
    uint256 public steppedGames;
    uint256 public expectedBurn; // burns predicted from each settlement, checked against the market
    uint256 public expectedBounties; // unburnt parts of voided bonds
    mapping(uint256 snapshotId => uint256) public claimedAt;
    mapping(uint256 snapshotId => mapping(address holder => uint256)) public claimedBy;
    mapping(uint256 snapshotId => uint256) public expiredRemainder;
    uint256 public violations; // failed checks inside actions (see the contract's notice)
    string public lastViolation;
    mapping(bytes32 action => uint256) public calls;

    /// The server's claim of each request and when it was posted.
    mapping(uint256 requestId => uint256) public serverClaim;
    mapping(uint256 requestId => uint256) public serverPostedAt;
    /// The watcher's games and its transactions in each (challenge, moves, and one timeout or close).
    uint256[] public watcherGames;
    mapping(uint256 gameId => uint256) public watcherTxs;

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
                moveAllowance: ALLOWANCE,
                burnBps: BURN_BPS,
                challengerBurnBps: CHALLENGER_BURN_BPS
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
        server = makeAddr("server");
        watcher = makeAddr("watcher");
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
        all = new address[](14);
        for (uint256 i = 0; i < 3; ++i) {
            all[i] = requesters[i];
            all[3 + i] = submitters[i];
            all[6 + i] = challengers[i];
            all[9 + i] = holders[i];
        }
        all[12] = server;
        all[13] = watcher;
    }

    function holderList() external view returns (address[] memory) {
        return holders;
    }

    function watcherGameCount() external view returns (uint256) {
        return watcherGames.length;
    }

    /// Whether claim `claimId` claimed something else than the honest run.
    function isFalseClaim(uint256 claimId) external view returns (bool) {
        return plans[claimId].mode != 0;
    }

    /// The latest moment the server's claim of `requestId` may still be unsettleable: its window plus
    /// the longest game (both clocks) for a game opened in the window's last second.
    function serverBound(uint256 requestId) external view returns (uint256) {
        return serverPostedAt[requestId] + WINDOW + 2 * CLOCK;
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
        // The server claims every other request at once, staked for every game anyone can open.
        if (inputSeed % 2 == 0) _serverSubmit(id);
    }

    function submit(uint256 reqSeed, uint256 who, uint256 mode, uint256 stepsSeed, uint256 lieSeed) public {
        uint256 id = _openRequest(reqSeed);
        if (id == 0) {
            if (requestIds.length >= MAX_REQUESTS) return;
            request(who, reqSeed | 1);
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
        // 1 to 3 games of stake: past it, challengers back their own games and the submitter matches them.
        uint256 value = SUBMITTER_BOND + (1 + (lieSeed >> 128) % 3) * market.gameStakeFor(steps);
        address s = submitters[who % 3];
        vm.deal(s, value);
        ethIn += value;
        bytes memory output = modelState.outputOf(runSeed);
        bytes32 finalState = traceVm.stateHash(runSeed, steps, steps);
        vm.prank(s);
        uint256 claimId = market.submit{value: value}(id, output, finalState, steps, abi.encode(runSeed));
        plans[claimId] = p;
        ++calls["submit"];
    }

    /// A new request served honestly and settled unchallenged after the window: revenue for the token
    /// in most runs (through the other actions alone it arrives in few).
    function earn(uint256 who, uint256 inputSeed) external {
        if (requestIds.length >= MAX_REQUESTS) return;
        request(who, inputSeed | 1);
        uint256 id = requestIds[requestIds.length - 1];
        bytes32 seed = modelState.seedOf(commitment, inputOf[id]);
        uint256 value = SUBMITTER_BOND + market.gameStakeFor(HALT);
        address s = submitters[who % 3];
        vm.deal(s, value);
        ethIn += value;
        vm.prank(s);
        uint256 claimId = market.submit{value: value}(
            id, modelState.outputOf(seed), traceVm.stateHash(seed, HALT, HALT), HALT, abi.encode(seed)
        ); // plan: honest
        _duties();
        skipTime(WINDOW);
        _duties();
        if (!_survived(claimId)) return;
        if (market.getRequest(id).status != InferenceMarket.RequestStatus.Open) return;
        market.finalize(claimId);
        ++calls["earn"];
    }

    function challenge(uint256 claimSeed, uint256 who, bool honest, uint256 lieSeed) external {
        uint256 claimId = _challengeable(claimSeed, challengers[who % 3]);
        if (claimId == 0) return;
        uint256 g = _challengeAs(challengers[who % 3], claimId);
        InferenceMarket.Claim memory c = market.getClaim(claimId);
        gamePlans[g] = GamePlan({challengerHonest: honest, lieFrom: uint64(bound(lieSeed, 1, c.steps))});
        ++calls["challenge"];
    }

    /// The watcher challenges a false claim it has not challenged yet.
    function watch(uint256 claimSeed) external {
        uint256 claimId = _watchable(claimSeed);
        if (claimId == 0) return;
        _watcherChallenges(claimId);
        ++calls["watch"];
    }

    /// The liar sandwiches the watcher's challenge of its false claim in one block: one of its accounts
    /// challenges in front (taking the claim's stake when there is one), the watcher's challenge lands
    /// (backed by the watcher when the stake is gone), and the Sybil loses its game at once behind it
    /// (giving the stake back), the liar matching it first if it must.
    /// When no false claim waits for the watcher, the liar posts one first (another output, lying from a
    /// random step), as the attack begins.
    function sandwich(uint256 claimSeed, uint256 who) external {
        uint256 claimId = _watchable(claimSeed);
        if (claimId == 0) {
            submit(claimSeed, who, 1, HALT, claimSeed >> 64);
            claimId = market.claimCount();
            if (_watchable(claimId - 1) != claimId) return;
        }
        InferenceMarket.Claim memory c = market.getClaim(claimId);
        address sybil = challengers[who % 3];
        if (c.steps < 2 || market.hasChallenged(claimId, sybil)) return;
        uint256 sg = _challengeAs(sybil, claimId);
        gamePlans[sg] = GamePlan({challengerHonest: false, lieFrom: 1});
        _watcherChallenges(claimId);
        if (market.getGame(sg).funding == InferenceMarket.Funding.Challenger) {
            _topUpToMatch(c.submitter, claimId);
        }
        bytes32 seed = modelState.seedOf(commitment, inputOf[c.requestId]);
        ScriptedMove[] memory moves = sybilLoss(
            game,
            sg,
            honestTrace(seed, HALT),
            market.getRequest(c.requestId).initialState,
            c.finalState,
            c.steps
        );
        playScript(game, moves, c.submitter, sybil);
        _check(game.status(sg) == IDisputeGame.Status.DefenderWon, "the scripted Sybil did not lose");
        _expectSettlement(sg, true);
        ++calls["sandwich"];
    }

    /// The party to move in a random live game moves by its plan.
    function move(uint256 gameSeed) external {
        uint256 g = _liveGame(gameSeed);
        if (g == 0) return;
        if (_moveIfAble(g)) ++calls["move"];
    }

    function timeout(uint256 gameSeed, uint256 wait) external {
        _duties();
        uint256 g = _liveGame(gameSeed);
        if (g == 0) return;
        skipTime(bound(wait, 0, CLOCK));
        _duties();
        if (market.getGame(g).settled) return; // a duty ended it
        if (_timeoutIfDue(g)) ++calls["timeout"];
    }

    function closeGame(uint256 gameSeed) external {
        uint256 n = game.gameCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 g = 1 + ((gameSeed % n + i) % n);
            if (_closeIfVoided(g)) {
                ++calls["closeGame"];
                return;
            }
        }
    }

    function topUp(uint256 claimSeed, uint96 amount) external {
        uint256 n = market.claimCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 claimId = 1 + ((claimSeed % n + i) % n);
            InferenceMarket.Claim memory c = market.getClaim(claimId);
            if (c.status != InferenceMarket.ClaimStatus.Pending) continue;
            uint256 value = bound(amount, 1, 2 * c.gameStake);
            vm.deal(c.submitter, value);
            ethIn += value;
            vm.prank(c.submitter);
            market.topUp{value: value}(claimId);
            ++calls["topUp"];
            return;
        }
    }

    function finalize(uint256 claimSeed) external {
        uint256 n = market.claimCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 claimId = 1 + ((claimSeed % n + i) % n);
            if (!_survived(claimId)) continue;
            InferenceMarket.Claim memory c = market.getClaim(claimId);
            if (market.getRequest(c.requestId).status == InferenceMarket.RequestStatus.Open) {
                market.finalize(claimId);
                ++calls["finalize"];
            } else {
                market.release(claimId);
                ++calls["release"];
            }
            return;
        }
    }

    function refund(uint256 reqSeed) external {
        uint256 id = _requestWithoutClaims(reqSeed);
        if (id == 0 || now_() < market.getRequest(id).deadline) return;
        market.refund(id);
        ++calls["refund"];
    }

    function cancel(uint256 reqSeed) external {
        uint256 id = _requestWithoutClaims(reqSeed);
        if (id == 0) return;
        vm.prank(market.getRequest(id).requester);
        market.cancel(id);
        ++calls["cancel"];
    }

    function withdraw(uint256 who) external {
        address[] memory all = this.actors();
        for (uint256 i = 0; i < all.length; ++i) {
            address a = all[(who % all.length + i) % all.length];
            uint256 amount = market.withdrawable(a);
            if (amount == 0) continue;
            uint256 before = a.balance;
            vm.prank(a);
            market.withdraw();
            _check(a.balance - before == amount, "withdraw paid a different amount");
            withdrawn += amount;
            withdrawnBy[a] += amount;
            ++calls["withdraw"];
            return;
        }
    }

    function warp(uint256 secs) external {
        _duties();
        skipTime(bound(secs, 1, 2 days));
        _duties();
        ++calls["warp"];
    }

    function snapshot() public {
        if (now_() < token.lastSnapshotAt() + token.snapshotInterval() || token.pendingRevenue() == 0) {
            return;
        }
        if (token.totalSupply() == 0) return;
        token.snapshot();
        _duties();
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
            if (now_() <= deadline) {
                _duties();
                skipTime(deadline + 1 - now_());
                _duties();
            }
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
    // the honest actors' duties
    // ---------------------------------------------------------------------------------------------

    /// What the server and the watcher do whenever they look: challenge every false claim (watcher),
    /// move in their games when it is their turn (the server matching a challenger-backed game first),
    /// time out opponents that ran out, close their games of voided claims.
    function _duties() internal {
        uint256 claimsSeen = market.claimCount();
        for (uint256 c = 1; c <= claimsSeen; ++c) {
            if (_watchable(c - 1) == c) _watcherChallenges(c);
        }
        uint256 n = game.gameCount();
        for (uint256 g = 1; g <= n; ++g) {
            InferenceMarket.GameRef memory ref = market.getGame(g);
            if (ref.settled) continue;
            bool mine = ref.challenger == watcher || market.getClaim(ref.claimId).submitter == server;
            if (!mine) continue;
            if (_closeIfVoided(g)) continue;
            if (_timeoutIfDue(g)) continue;
            address toMove = game.toMove(g);
            if (toMove == watcher || toMove == server) _moveIfAble(g);
        }
    }

    /// The submitter of `claimId` tops it up to one game's stake, so its next dissection matches.
    function _topUpToMatch(address submitter_, uint256 claimId) internal {
        InferenceMarket.Claim memory c = market.getClaim(claimId);
        if (c.freeStake >= c.gameStake) return;
        uint256 value = c.gameStake - c.freeStake;
        vm.deal(submitter_, value);
        ethIn += value;
        vm.prank(submitter_);
        market.topUp{value: value}(claimId);
    }

    /// The watcher's challenge of `claimId`: the challenge and the timeout or close that ends its part
    /// are two of its transactions; its moves are counted as they happen.
    function _watcherChallenges(uint256 claimId) internal {
        // P1: a pending claim in its window never refuses the honest challenge, whatever came before it
        // in the block. A refusal is counted, not reverted (a reverted action would be discarded).
        InferenceMarket.Claim memory c = market.getClaim(claimId);
        uint256 value = market.challengeValue(claimId);
        vm.deal(watcher, value);
        vm.prank(watcher);
        uint256 g;
        try market.challenge{value: value}(c.requestId, claimId) returns (uint256 id) {
            g = id;
        } catch {
            _check(false, "the honest challenge was refused");
            return;
        }
        ethIn += value;
        points[g].push(market.getRequest(c.requestId).initialState);
        points[g].push(c.finalState);
        gamePlans[g] = GamePlan({challengerHonest: true, lieFrom: 0});
        watcherGames.push(g);
        watcherTxs[g] = 2;
    }

    /// A false claim (from a random start) the watcher may challenge now and has not, 0 when none.
    function _watchable(uint256 seed) internal view returns (uint256) {
        uint256 n = market.claimCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 claimId = 1 + ((seed % n + i) % n);
            if (plans[claimId].mode != 0 && _challengeable(claimId - 1, watcher) == claimId) return claimId;
        }
        return 0;
    }

    function _serverSubmit(uint256 id) internal {
        bytes32 seed = modelState.seedOf(commitment, inputOf[id]);
        // Every account that could challenge, plus one.
        uint256 value = SUBMITTER_BOND + 6 * market.gameStakeFor(HALT);
        vm.deal(server, value);
        ethIn += value;
        bytes memory output = modelState.outputOf(seed);
        bytes32 finalState = traceVm.stateHash(seed, HALT, HALT);
        vm.prank(server);
        uint256 claimId = market.submit{value: value}(id, output, finalState, HALT, abi.encode(seed));
        serverClaim[id] = claimId;
        serverPostedAt[id] = now_();
        ++calls["serverSubmit"];
    }

    // ---------------------------------------------------------------------------------------------
    // internals
    // ---------------------------------------------------------------------------------------------

    /// The handler's clock (the fuzzer moves it with `warp` and `timeout`).
    function now_() internal view returns (uint256) {
        return block.timestamp;
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

    function _challengeAs(address ch, uint256 claimId) internal returns (uint256 g) {
        InferenceMarket.Claim memory c = market.getClaim(claimId);
        uint256 value = market.challengeValue(claimId);
        vm.deal(ch, value);
        ethIn += value;
        vm.prank(ch);
        g = market.challenge{value: value}(c.requestId, claimId);
        points[g].push(market.getRequest(c.requestId).initialState);
        points[g].push(c.finalState);
    }

    /// A pending claim (from a random start) that `ch` may challenge now, 0 when none.
    function _challengeable(uint256 seed, address ch) internal view returns (uint256) {
        uint256 n = market.claimCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 claimId = 1 + ((seed % n + i) % n);
            InferenceMarket.Claim memory c = market.getClaim(claimId);
            if (c.status != InferenceMarket.ClaimStatus.Pending || now_() >= c.challengeDeadline) continue;
            if (c.submitter == ch || market.hasChallenged(claimId, ch)) continue;
            return claimId;
        }
        return 0;
    }

    function _survived(uint256 claimId) internal view returns (bool) {
        InferenceMarket.Claim memory c = market.getClaim(claimId);
        return
            c.status == InferenceMarket.ClaimStatus.Pending && now_() >= c.challengeDeadline
                && c.openGames == 0;
    }

    /// Moves for the party to move in `g` if its clock allows; predicts what a game-ending step settles.
    /// A challenger-backed game is matched first by a defender willing to: honest ones always, a liar
    /// when its plan says so (else it never moves and loses on time).
    function _moveIfAble(uint256 g) internal returns (bool moved) {
        IDisputeGame.Status st = game.status(g);
        bool defenderMoves = game.toMove(g) == game.game(g).defender;
        (uint256 dc, uint256 cc) = game.clocks(g);
        if ((defenderMoves ? dc : cc) == 0) return false; // out of time: only a timeout helps
        if (st == IDisputeGame.Status.AwaitingDissection && !_matchedOrMatches(g)) return false;
        (Actor memory mover,) = _actorFor(g, defenderMoves);
        bool wasPending = _claimPending(g);
        Outcome memory o;
        bytes32[] memory next;
        (moved, next) = playMove(game, g, mover, points[g], st, o);
        if (!moved) return false;
        points[g] = next;
        _expectSettlement(g, wasPending);
        if (mover.addr == watcher) ++watcherTxs[g];
        if (o.stepped) _checkMerits(g);
    }

    /// Whether game `g` is backed by the claim's stake, after its defender matched it if willing.
    function _matchedOrMatches(uint256 g) internal returns (bool) {
        InferenceMarket.GameRef memory ref = market.getGame(g);
        if (ref.funding != InferenceMarket.Funding.Challenger) return true;
        if (!_claimPending(g)) return false; // a voided claim's unmatched game: it only closes
        ClaimPlan memory p = plans[ref.claimId];
        if (p.mode != 0 && uint256(p.evil) % 2 == 1) return false; // this liar never matches
        _topUpToMatch(game.game(g).defender, ref.claimId);
        return true;
    }

    function _timeoutIfDue(uint256 g) internal returns (bool) {
        DisputeGame.Game memory gm = game.game(g);
        bool defenderMoves = game.toMove(g) == gm.defender;
        uint256 left = defenderMoves ? gm.defenderClock : gm.challengerClock;
        if (now_() - gm.lastMoveAt <= left) return false;
        bool wasPending = _claimPending(g);
        game.timeout(g);
        _expectSettlement(g, wasPending);
        return true;
    }

    function _closeIfVoided(uint256 g) internal returns (bool) {
        InferenceMarket.GameRef memory ref = market.getGame(g);
        if (ref.settled || market.getClaim(ref.claimId).status != InferenceMarket.ClaimStatus.Voided) {
            return false;
        }
        market.closeGame(g);
        return true;
    }

    /// Whether `g`'s claim is pending, read before a call that may end the game.
    function _claimPending(uint256 g) internal view returns (bool) {
        return market.getClaim(market.getGame(g).claimId).status == InferenceMarket.ClaimStatus.Pending;
    }

    /// Predicts, independently of the market, what the call that just ended `g` (if it did) burnt and
    /// paid as a bounty; the invariants compare the sums with the market's.
    function _expectSettlement(uint256 g, bool wasPending) internal {
        if (!wasPending || !market.getGame(g).settled) return;
        if (game.status(g) == IDisputeGame.Status.DefenderWon) {
            bool matched = market.getGame(g).funding == InferenceMarket.Funding.Matched;
            uint256 allowance = (uint256(game.game(g).defenderTxs) + (matched ? 1 : 0)) * ALLOWANCE;
            if (allowance > CHALLENGER_BOND) allowance = CHALLENGER_BOND;
            expectedBurn += ((CHALLENGER_BOND - allowance) * CHALLENGER_BURN_BPS) / 10_000;
        } else {
            _expectVoid();
        }
    }

    function _expectVoid() internal {
        uint256 burned = (uint256(SUBMITTER_BOND) * BURN_BPS) / 10_000;
        expectedBurn += burned;
        expectedBounties += SUBMITTER_BOND - burned;
    }

    /// After a verified step: the honest side (if any) must have won.
    function _checkMerits(uint256 g) private {
        ++steppedGames;
        bool defenderWon = game.status(g) == IDisputeGame.Status.DefenderWon;
        (, bool defenderHonest) = _actorFor(g, true);
        (, bool challengerHonest) = _actorFor(g, false);
        if ((defenderHonest && !defenderWon) || (challengerHonest && defenderWon)) ++honestLostOnTheMerits;
    }

    /// An open request (from a random start) still accepting claims, 0 when none.
    function _openRequest(uint256 seed) private view returns (uint256) {
        uint256 n = requestIds.length;
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = requestIds[(seed % n + i) % n];
            InferenceMarket.Request memory r = market.getRequest(id);
            if (r.status == InferenceMarket.RequestStatus.Open && now_() < r.deadline) return id;
        }
        return 0;
    }

    /// An open request (from a random start) without pending claims, 0 when none.
    function _requestWithoutClaims(uint256 seed) private view returns (uint256) {
        uint256 n = requestIds.length;
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = requestIds[(seed % n + i) % n];
            InferenceMarket.Request memory r = market.getRequest(id);
            if (r.status == InferenceMarket.RequestStatus.Open && r.liveClaims == 0) return id;
        }
        return 0;
    }

    /// A live game (from a random start), 0 when none.
    function _liveGame(uint256 seed) private view returns (uint256) {
        uint256 n = game.gameCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 g = 1 + ((seed % n + i) % n);
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
