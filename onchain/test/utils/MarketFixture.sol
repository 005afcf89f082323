// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GamePlayer} from "./GamePlayer.sol";
import {TraceVM} from "./TraceVM.sol";
import {TraceModelState} from "./TraceModelState.sol";
import {ModelState} from "../../contracts/vm/ModelState.sol";
import {InferenceMarket} from "../../contracts/InferenceMarket.sol";
import {ModelRegistry} from "../../contracts/ModelRegistry.sol";
import {DisputeGame} from "../../contracts/DisputeGame.sol";
import {RevenueShare} from "../../contracts/RevenueShare.sol";
import {IModelState} from "../../contracts/interfaces/IModelState.sol";
import {IOneStepVerifier} from "../../contracts/interfaces/IOneStepVerifier.sol";

/// @title A market over the TraceVM with one registered model and named actors
abstract contract MarketFixture is GamePlayer {
    uint256 internal constant ARITY = 8;
    uint64 internal constant CLOCK = 1 days;
    uint64 internal constant WINDOW = 2 days;
    uint64 internal constant TIMEOUT = 7 days;
    uint96 internal constant SUBMITTER_BOND = 1 ether;
    uint96 internal constant CHALLENGER_BOND = 0.5 ether;
    uint96 internal constant ALLOWANCE = 0.001 ether;
    uint16 internal constant BURN_BPS = 5000;
    uint16 internal constant CHALLENGER_BURN_BPS = 2000;
    /// Games the fixture's submissions pre-fund.
    uint256 internal constant STAKED_GAMES = 4;

    uint64 internal constant HALT = 1000; // honest step count of the model's runs
    uint64 internal constant MAX_STEPS = 1 << 20;
    uint96 internal constant FEE = 0.1 ether;
    uint16 internal constant SHARE_BPS = 3000;
    uint64 internal constant INPUT_SIZE = 256;

    TraceModelState internal modelState;
    InferenceMarket internal market;
    ModelRegistry internal registry;
    DisputeGame internal game;

    bytes32 internal modelId;
    RevenueShare internal token;
    ModelState.Commitment internal commitment;

    address internal publisher;
    address internal holder;
    address internal requester;
    address internal submitter;
    address internal submitter2;
    address internal challenger;
    address internal challenger2;

    function defaultConfig() internal view returns (InferenceMarket.Config memory cfg) {
        cfg = InferenceMarket.Config({
            modelState: IModelState(address(modelState)),
            verifier: IOneStepVerifier(address(traceVm)),
            arity: ARITY,
            clockBudget: CLOCK,
            challengeWindow: WINDOW,
            requestTimeout: TIMEOUT,
            submitterBond: SUBMITTER_BOND,
            challengerBond: CHALLENGER_BOND,
            moveAllowance: ALLOWANCE,
            burnBps: BURN_BPS,
            challengerBurnBps: CHALLENGER_BURN_BPS
        });
    }

    function setUpMarket() internal {
        traceVm = new TraceVM();
        modelState = new TraceModelState(traceVm);
        deployMarket(defaultConfig());
        publisher = makeAddr("publisher");
        holder = makeAddr("holder");
        requester = makeAddr("requester");
        submitter = makeAddr("submitter");
        submitter2 = makeAddr("submitter2");
        challenger = makeAddr("challenger");
        challenger2 = makeAddr("challenger2");
        vm.deal(requester, 1000 ether);
        vm.deal(submitter, 1000 ether);
        vm.deal(submitter2, 1000 ether);
        vm.deal(challenger, 1000 ether);
        vm.deal(challenger2, 1000 ether);
        (modelId, token) = registerModel("model", HALT, MAX_STEPS, FEE, SHARE_BPS);
        commitment = makeCommitment("model", HALT);
    }

    function deployMarket(InferenceMarket.Config memory cfg) internal {
        market = new InferenceMarket(cfg);
        registry = market.registry();
        game = market.disputeGame();
    }

    function makeCommitment(bytes32 code, uint64 halt)
        internal
        pure
        returns (ModelState.Commitment memory c)
    {
        c.codeRoot = code;
        c.memoryRoot = keccak256(abi.encode("memory", code));
        c.memorySize = 1 << 16;
        c.globalsRoot = bytes32(uint256(halt)); // TraceModelState: the halting step
        c.inputOffset = 0;
        c.inputSize = INPUT_SIZE;
        c.outputOffset = 1024;
        c.outputSize = 32;
    }

    function shareTerms() internal view returns (ModelRegistry.ShareTerms memory) {
        return ModelRegistry.ShareTerms({
            name: "Model Revenue",
            symbol: "MREV",
            holder: holder,
            supply: 1_000_000e18,
            claimableBps: 8000,
            snapshotInterval: 1 days,
            claimWindow: 30 days
        });
    }

    function registerModel(bytes32 code, uint64 halt, uint64 maxSteps, uint96 fee, uint16 shareBps)
        internal
        returns (bytes32 id, RevenueShare t)
    {
        ModelState.Commitment memory c = makeCommitment(code, halt);
        id = modelState.modelId(c);
        vm.prank(publisher);
        t = RevenueShare(
            payable(registry.register(
                    id,
                    c,
                    new bytes32[](0),
                    ModelRegistry.Terms({maxSteps: maxSteps, fee: fee, submitterShareBps: shareBps}),
                    shareTerms()
                ))
        );
    }

    // ---------------------------------------------------------------------------------------------
    // flows
    // ---------------------------------------------------------------------------------------------

    function requestAs(address who, bytes memory input) internal returns (uint256 id) {
        vm.prank(who);
        id = market.request{value: FEE}(modelId, input);
    }

    function seedFor(bytes memory input) internal view returns (bytes32) {
        return modelState.seedOf(commitment, input);
    }

    /// The honest result of the model on `input`.
    function honestResult(bytes memory input)
        internal
        view
        returns (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof)
    {
        bytes32 seed = seedFor(input);
        output = modelState.outputOf(seed);
        finalState = traceVm.stateHash(seed, HALT, HALT);
        steps = HALT;
        proof = abi.encode(seed);
    }

    /// One game's stake of a claim of `steps` steps.
    function stakeOf(uint64 steps) internal view returns (uint256) {
        return market.gameStakeFor(steps);
    }

    /// What a submission of `steps` steps pays: the bond and the stake of `games` games.
    function claimValue(uint64 steps, uint256 games) internal view returns (uint256) {
        return SUBMITTER_BOND + games * stakeOf(steps);
    }

    function submitHonest(address who, uint256 requestId, bytes memory input)
        internal
        returns (uint256 claimId)
    {
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(input);
        uint256 value = claimValue(steps, STAKED_GAMES);
        vm.prank(who);
        claimId = market.submit{value: value}(requestId, output, finalState, steps, proof);
    }

    /// A false claim: another run's output, halted at `steps`, staked for `games` games.
    function submitFalseStaked(address who, uint256 requestId, uint64 steps, uint256 games)
        internal
        returns (uint256 claimId)
    {
        bytes32 evil = keccak256(abi.encode("evil", requestId, steps));
        bytes memory output = modelState.outputOf(evil);
        bytes32 finalState = traceVm.stateHash(evil, steps, steps);
        uint256 value = claimValue(steps, games);
        vm.prank(who);
        claimId = market.submit{value: value}(requestId, output, finalState, steps, abi.encode(evil));
    }

    function submitFalse(address who, uint256 requestId, uint64 steps) internal returns (uint256 claimId) {
        return submitFalseStaked(who, requestId, steps, STAKED_GAMES);
    }

    /// `who` challenges, paying the bond and one game's stake (credited back when the claim backs it).
    function challengeAs(address who, uint256 requestId, uint256 claimId) internal returns (uint256 gameId) {
        uint256 value = market.challengeValue(claimId);
        vm.prank(who);
        gameId = market.challenge{value: value}(requestId, claimId);
    }

    /// `[x]`, for the batch calls.
    function one(uint256 x) internal pure returns (uint256[] memory a) {
        a = new uint256[](1);
        a[0] = x;
    }

    /// `[]`, for the batch calls.
    function none() internal pure returns (uint256[] memory) {
        return new uint256[](0);
    }

    /// The challenger's winning `step` in game `g` over a false one-step claim on a request for `input`
    /// (the honest first step from the request's initial state differs from the claimed end).
    function oneStepProofCall(uint256 g, bytes memory input) internal view returns (bytes memory) {
        InferenceMarket.Claim memory cl = market.getClaim(market.getGame(g).claimId);
        InferenceMarket.Request memory r = market.getRequest(cl.requestId);
        bytes32[] memory cur = new bytes32[](2);
        cur[0] = r.initialState;
        cur[1] = cl.finalState;
        return abi.encodeCall(DisputeGame.step, (g, cur, 0, abi.encode(seedFor(input), uint64(0), HALT)));
    }

    /// `who`, the challenger of `g` (over a request for `input`), wins the one-step game at once.
    function oneStepWin(address who, uint256 g, bytes memory input) internal {
        bytes memory call = oneStepProofCall(g, input);
        vm.prank(who);
        (bool ok, bytes memory ret) = address(game).call(call);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    /// Plays a market game: the defender follows `d`, the challenger `c`.
    function playMarketGame(uint256 gameId, Trace memory d, Trace memory c)
        internal
        returns (Outcome memory)
    {
        InferenceMarket.GameRef memory ref = market.getGame(gameId);
        InferenceMarket.Claim memory cl = market.getClaim(ref.claimId);
        InferenceMarket.Request memory r = market.getRequest(cl.requestId);
        return play(
            game,
            gameId,
            actorFor(cl.submitter, d),
            actorFor(ref.challenger, c),
            r.initialState,
            cl.finalState
        );
    }

    function actorFor(address who, Trace memory t) internal pure returns (Actor memory a) {
        a.addr = who;
        a.trace = t;
        a.strategy = Strategy.Follow;
    }

    /// The trace behind a submitted false claim (honest before `lieFrom`).
    function falseTrace(uint256 requestId, bytes memory input, uint64 steps, uint64 lieFrom)
        internal
        view
        returns (Trace memory)
    {
        bytes32 evil = keccak256(abi.encode("evil", requestId, steps));
        return withEnd(
            lyingTrace(seedFor(input), HALT, lieFrom, "liar"), steps, traceVm.stateHash(evil, steps, steps)
        );
    }

    function honestFor(bytes memory input) internal view returns (Trace memory) {
        return honestTrace(seedFor(input), HALT);
    }
}
