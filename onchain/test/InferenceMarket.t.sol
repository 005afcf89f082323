// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MarketFixture} from "./utils/MarketFixture.sol";
import {InferenceMarket} from "../contracts/InferenceMarket.sol";
import {ModelRegistry} from "../contracts/ModelRegistry.sol";
import {DisputeGame} from "../contracts/DisputeGame.sol";
import {RevenueShare} from "../contracts/RevenueShare.sol";
import {IDisputeGame} from "../contracts/interfaces/IDisputeGame.sol";
import {IModelState} from "../contracts/interfaces/IModelState.sol";
import {IOneStepVerifier} from "../contracts/interfaces/IOneStepVerifier.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// Receives withdrawals and tries to re-enter the market while doing so.
contract Reenterer {
    InferenceMarket internal immutable market;
    bool public reentered;
    bytes public reentryError;

    constructor(InferenceMarket market_) {
        market = market_;
    }

    function withdraw() external {
        market.withdraw();
    }

    receive() external payable {
        try market.withdraw() {
            reentered = true;
        } catch (bytes memory err) {
            reentryError = err;
        }
    }
}

/// Refuses ETH.
contract Refuser {
    function withdraw(InferenceMarket market) external {
        market.withdraw();
    }
}

/// @notice Unit tests of every InferenceMarket function and revert path, and of the flows between them.
contract InferenceMarketTest is MarketFixture {
    bytes internal constant INPUT = "an input of the model";
    bytes32 internal constant NOPE = "nope";
    bytes32 internal constant FUZZ_MODEL = "fuzz model";

    event Requested(
        uint256 indexed requestId,
        bytes32 indexed modelId,
        address indexed requester,
        uint256 fee,
        uint64 deadline,
        bytes32 initialState,
        bytes input
    );
    event Submitted(
        uint256 indexed requestId,
        uint256 indexed claimId,
        address indexed submitter,
        bytes32 finalState,
        uint64 steps,
        uint64 challengeDeadline,
        uint256 stake,
        bytes output
    );
    event ToppedUp(uint256 indexed claimId, address indexed from, uint256 amount, uint256 freeStake);
    event Challenged(
        uint256 indexed requestId,
        uint256 indexed claimId,
        uint256 indexed gameId,
        address challenger,
        InferenceMarket.Funding funding
    );
    event GameMatched(uint256 indexed gameId, uint256 indexed claimId, uint256 stake);
    event GameSettled(
        uint256 indexed gameId,
        uint256 indexed claimId,
        bool defenderWon,
        address winner,
        uint256 payout,
        uint256 burned
    );
    event GameClosed(uint256 indexed gameId, uint256 indexed claimId, address challenger, uint256 payout);
    event ClaimVoided(
        uint256 indexed requestId,
        uint256 indexed claimId,
        uint256 indexed gameId,
        address beneficiary,
        uint256 bounty,
        uint256 burned
    );
    event Released(
        uint256 indexed requestId, uint256 indexed claimId, address indexed submitter, uint256 amount
    );
    event Cancelled(uint256 indexed requestId, address indexed requester, uint256 fee);
    event Finalized(
        uint256 indexed requestId,
        uint256 indexed claimId,
        address indexed submitter,
        uint256 submitterCut,
        uint256 revenue
    );
    event Refunded(uint256 indexed requestId, address indexed requester, uint256 fee);
    event Withdrawn(address indexed account, address indexed to, uint256 amount);

    function setUp() public {
        setUpMarket();
    }

    function burnOf(uint256 amount) internal pure returns (uint256) {
        return (amount * BURN_BPS) / 10_000;
    }

    /// What a defender that won with `txs` transactions gets from the challenger's bond.
    function defenderPayout(uint256 txs) internal pure returns (uint256) {
        uint256 allowance = txs * ALLOWANCE;
        return CHALLENGER_BOND - ((CHALLENGER_BOND - allowance) * CHALLENGER_BURN_BPS) / 10_000;
    }

    function stake() internal view returns (uint256) {
        return stakeOf(HALT);
    }

    function cut() internal pure returns (uint256) {
        return (uint256(FEE) * SHARE_BPS) / 10_000;
    }

    function finalPoints(bytes memory input) internal view returns (bytes32[] memory pts) {
        bytes32 seed = seedFor(input);
        pts = new bytes32[](ARITY + 1);
        for (uint256 j = 0; j <= ARITY; ++j) {
            pts[j] = traceVm.stateHash(seed, game.boundary(0, HALT, j), HALT);
        }
    }

    /// request + honest submission staked for `games` games
    function claimedWithStake(uint256 games) internal returns (uint256 requestId, uint256 claimId) {
        requestId = requestAs(requester, INPUT);
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint256 value = claimValue(HALT, games);
        vm.prank(submitter);
        claimId = market.submit{value: value}(requestId, output, finalState, steps, proof);
    }

    /// request + honest submission
    function claimed() internal returns (uint256 requestId, uint256 claimId) {
        requestId = requestAs(requester, INPUT);
        claimId = submitHonest(submitter, requestId, INPUT);
    }

    // ---------------------------------------------------------------------------------------------
    // constructor
    // ---------------------------------------------------------------------------------------------

    function test_constructor_deploysRegistryAndGame() public {
        assertEq(address(registry.market()), address(market));
        assertEq(address(registry.modelState()), address(modelState));
        assertEq(game.owner(), address(market));
        assertEq(address(game.verifier()), address(traceVm));
        assertEq(game.arity(), ARITY);
        assertEq(uint256(game.clockBudget()), uint256(CLOCK));
        assertEq(uint256(market.challengeWindow()), uint256(WINDOW));
        assertEq(uint256(market.requestTimeout()), uint256(TIMEOUT));
        assertEq(uint256(market.submitterBond()), uint256(SUBMITTER_BOND));
        assertEq(uint256(market.challengerBond()), uint256(CHALLENGER_BOND));
        assertEq(uint256(market.moveAllowance()), uint256(ALLOWANCE));
        assertEq(uint256(market.burnBps()), uint256(BURN_BPS));
        assertEq(uint256(market.challengerBurnBps()), uint256(CHALLENGER_BURN_BPS));
        // HALT = 1000 steps at k = 8: at most 5 moves, plus the challenge and a timeout or close.
        assertEq(stake(), 7 * uint256(ALLOWANCE));
    }

    function expectBadConfig(InferenceMarket.Config memory cfg, string memory field) internal {
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.BadConfig.selector, field));
        new InferenceMarket(cfg);
    }

    function test_constructor_rejectsBadConfig() public {
        InferenceMarket.Config memory cfg = defaultConfig();
        cfg.modelState = IModelState(address(0));
        expectBadConfig(cfg, "modelState");
        cfg = defaultConfig();
        cfg.verifier = IOneStepVerifier(address(0));
        expectBadConfig(cfg, "verifier");
        cfg = defaultConfig();
        cfg.challengeWindow = 365 days + 1;
        expectBadConfig(cfg, "challengeWindow");
        cfg = defaultConfig();
        cfg.requestTimeout = 0;
        expectBadConfig(cfg, "requestTimeout");
        cfg.requestTimeout = 365 days + 1;
        expectBadConfig(cfg, "requestTimeout");
        cfg = defaultConfig();
        cfg.clockBudget = 365 days + 1;
        expectBadConfig(cfg, "clockBudget");
        cfg = defaultConfig();
        cfg.moveAllowance = 0;
        expectBadConfig(cfg, "moveAllowance");
        cfg = defaultConfig();
        cfg.burnBps = 10_001;
        expectBadConfig(cfg, "burnBps");
        cfg = defaultConfig();
        cfg.challengerBurnBps = 10_001;
        expectBadConfig(cfg, "challengerBurnBps");
        cfg = defaultConfig();
        cfg.arity = 7;
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ArityOutOfRange.selector, 7));
        new InferenceMarket(cfg);
    }

    /// P6: each parameter relation a property of docs/SECURITY.md §2 rests on is refused by name, at its
    /// edge, and accepted one unit inside it.
    function test_constructor_rejectsParametersThatBreakAProperty() public {
        InferenceMarket.Config memory cfg = defaultConfig();
        // P2: a liar voiding its own claim must lose at least half its bond.
        cfg.burnBps = 4999;
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.BurnTooLow.selector, 4999, 5000));
        new InferenceMarket(cfg);
        // P3: the unburnt half pays the two allowances of 32 games the defender never matched.
        cfg = defaultConfig();
        cfg.moveAllowance = uint96(SUBMITTER_BOND / 2 / 64) + 1;
        cfg.challengerBond = 25 * cfg.moveAllowance;
        uint256 minBounty = 64 * uint256(cfg.moveAllowance);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.BountyTooSmall.selector, SUBMITTER_BOND / 2, minBounty)
        );
        new InferenceMarket(cfg);
        cfg.moveAllowance = uint96(SUBMITTER_BOND / 2 / 64);
        cfg.challengerBond = 25 * cfg.moveAllowance;
        new InferenceMarket(cfg);
        // Burning the whole bond leaves nothing for those allowances.
        cfg = defaultConfig();
        cfg.burnBps = 10_000;
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.BountyTooSmall.selector, 0, 64 * ALLOWANCE));
        new InferenceMarket(cfg);
        // 6c: k = 8, 2^64 - 1 steps: at most 23 moves; the bond must cover 25 allowances.
        cfg = defaultConfig();
        cfg.challengerBond = 25 * ALLOWANCE - 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.ChallengerBondTooSmall.selector, 25 * ALLOWANCE - 1, 25 * ALLOWANCE
            )
        );
        new InferenceMarket(cfg);
        cfg.challengerBond = 25 * ALLOWANCE;
        new InferenceMarket(cfg);
        // P1: the honest challenge needs a block in the window and its moves a block each on its clock.
        cfg = defaultConfig();
        cfg.challengeWindow = 59;
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WindowTooShort.selector, 59, 60));
        new InferenceMarket(cfg);
        cfg.challengeWindow = 60;
        new InferenceMarket(cfg);
        cfg = defaultConfig();
        cfg.clockBudget = 299;
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClockTooShort.selector, 299, 300));
        new InferenceMarket(cfg);
        cfg.clockBudget = 300;
        new InferenceMarket(cfg);
    }

    function testFuzz_constructor_acceptsParametersInRange(
        uint8 arity,
        uint64 clock,
        uint64 window,
        uint96 allowance,
        uint96 cb,
        uint96 sb,
        uint16 burn,
        uint16 cburn
    ) public {
        InferenceMarket.Config memory cfg = defaultConfig();
        cfg.arity = bound(arity, 8, 32);
        cfg.clockBudget = uint64(bound(clock, 300, 365 days));
        cfg.challengeWindow = uint64(bound(window, 60, 365 days));
        cfg.moveAllowance = uint96(bound(allowance, 1, 1e24));
        cfg.challengerBond = uint96(bound(cb, 25 * uint256(cfg.moveAllowance), type(uint96).max));
        cfg.burnBps = uint16(bound(burn, 5000, 9999));
        // The bond whose unburnt part covers 64 allowances, and anything above it.
        uint256 minBond = (64 * uint256(cfg.moveAllowance) * 10_000 + (10_000 - cfg.burnBps) - 1)
            / (10_000 - cfg.burnBps) + 1;
        vm.assume(minBond <= type(uint96).max);
        cfg.submitterBond = uint96(bound(sb, minBond, type(uint96).max));
        cfg.challengerBurnBps = uint16(bound(cburn, 0, 10_000));
        InferenceMarket m = new InferenceMarket(cfg);
        assertEq(m.disputeGame().arity(), cfg.arity);
        assertEq(uint256(m.burnBps()), uint256(cfg.burnBps));
        assertLte(m.gameStakeFor(type(uint64).max), uint256(cfg.challengerBond));
        uint256 bounty = cfg.submitterBond - (uint256(cfg.submitterBond) * cfg.burnBps) / 10_000;
        assertGte(bounty, 64 * uint256(cfg.moveAllowance));
    }

    // ---------------------------------------------------------------------------------------------
    // request
    // ---------------------------------------------------------------------------------------------

    function test_request_escrowsFeeAndDerivesInitialState() public {
        bytes32 init = traceVm.stateHash(seedFor(INPUT), 0, HALT);
        uint64 deadline = uint64(block.timestamp) + TIMEOUT;
        vm.expectEmit(address(market));
        emit Requested(1, modelId, requester, FEE, deadline, init, INPUT);
        uint256 id = requestAs(requester, INPUT);
        assertEq(id, 1);
        assertEq(market.requestCount(), 1);
        assertEq(address(market).balance, FEE);
        InferenceMarket.Request memory r = market.getRequest(id);
        assertEq(r.requester, requester);
        assertEq(uint256(r.deadline), uint256(deadline));
        assertEq(uint256(r.status), uint256(InferenceMarket.RequestStatus.Open));
        assertEq(uint256(r.submitterShareBps), uint256(SHARE_BPS));
        assertEq(r.revenueShare, address(token));
        assertEq(uint256(r.fee), uint256(FEE));
        assertEq(r.modelId, modelId);
        assertEq(r.inputHash, keccak256(INPUT));
        assertEq(r.initialState, init);
        assertEq(uint256(r.liveClaims), 0);
        assertEq(r.settledClaim, 0);
    }

    function test_request_revertsForUnknownModel() public {
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownModel.selector, NOPE));
        market.request{value: FEE}(NOPE, INPUT);
    }

    function testFuzz_request_revertsForWrongPayment(uint96 paid) public {
        vm.assume(paid != FEE);
        vm.deal(requester, paid);
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongPayment.selector, paid, FEE));
        market.request{value: paid}(modelId, INPUT);
    }

    function testFuzz_request_inputLength(uint16 len) public {
        len = uint16(bound(len, 0, 2 * INPUT_SIZE));
        bytes memory input = new bytes(len);
        vm.prank(requester);
        if (len > INPUT_SIZE) {
            vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InputTooLong.selector, len, INPUT_SIZE));
            market.request{value: FEE}(modelId, input);
        } else {
            uint256 id = market.request{value: FEE}(modelId, input);
            assertEq(market.getRequest(id).inputHash, keccak256(input));
        }
    }

    function testFuzz_request_usesTheFeeAtRequestTime(uint96 newFee) public {
        uint256 first = requestAs(requester, INPUT);
        vm.prank(publisher);
        registry.setFee(modelId, newFee);
        vm.deal(requester, uint256(newFee) + 1 ether);
        vm.prank(requester);
        uint256 second = market.request{value: newFee}(modelId, INPUT);
        assertEq(uint256(market.getRequest(first).fee), uint256(FEE));
        assertEq(uint256(market.getRequest(second).fee), uint256(newFee));
        // A request sent with the old fee fails instead of paying more or less than intended.
        if (newFee != FEE) {
            vm.prank(requester);
            vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongPayment.selector, FEE, newFee));
            market.request{value: FEE}(modelId, INPUT);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // cancel and refund
    // ---------------------------------------------------------------------------------------------

    function test_cancel_unclaimedRequestRefundsAtOnce() public {
        uint256 id = requestAs(requester, INPUT);
        vm.expectEmit(address(market));
        emit Cancelled(id, requester, FEE);
        vm.prank(requester);
        market.cancel(id);
        assertEq(market.withdrawable(requester), FEE);
        assertEq(uint256(market.getRequest(id).status), uint256(InferenceMarket.RequestStatus.Cancelled));
        // Nothing more can happen to it.
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint256 value = claimValue(HALT, 1);
        vm.prank(submitter);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Cancelled
            )
        );
        market.submit{value: value}(id, output, finalState, steps, proof);
        vm.prank(requester);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Cancelled
            )
        );
        market.cancel(id);
    }

    function test_cancel_onlyByTheRequester() public {
        uint256 id = requestAs(requester, INPUT);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotRequester.selector, challenger, requester));
        market.cancel(id);
    }

    function test_cancel_revertsWhileAClaimIsPending() public {
        (uint256 id,) = claimed();
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimsPending.selector, 1));
        market.cancel(id);
    }

    function test_cancel_afterTheOnlyClaimWasVoided() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalse(submitter, id, HALT);
        uint256 g = challengeAs(challenger, id, claimId);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(g); // the liar never dissected
        vm.prank(requester);
        market.cancel(id);
        assertEq(market.withdrawable(requester), FEE);
    }

    function test_cancel_revertsForUnknownOrSettledRequest() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, 3));
        market.cancel(3);
        (uint256 id, uint256 claimId) = claimed();
        vm.warp(block.timestamp + WINDOW);
        market.finalize(claimId);
        vm.prank(requester);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Finalized
            )
        );
        market.cancel(id);
    }

    function test_refund_afterDeadlineCreditsRequester() public {
        uint256 id = requestAs(requester, INPUT);
        vm.warp(block.timestamp + TIMEOUT);
        vm.expectEmit(address(market));
        emit Refunded(id, requester, FEE);
        vm.prank(challenger); // anyone
        market.refund(id);
        assertEq(market.withdrawable(requester), FEE);
        assertEq(uint256(market.getRequest(id).status), uint256(InferenceMarket.RequestStatus.Refunded));
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Refunded
            )
        );
        market.refund(id);
    }

    function test_refund_revertsBeforeDeadline() public {
        uint256 id = requestAs(requester, INPUT);
        uint64 deadline = uint64(block.timestamp) + TIMEOUT;
        vm.warp(deadline - 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.RequestNotExpired.selector, id, deadline));
        market.refund(id);
    }

    function test_refund_revertsForUnknownRequest() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, 1));
        market.refund(1);
    }

    function test_refund_revertsWhileAClaimIsPending() public {
        (uint256 id,) = claimed();
        vm.warp(block.timestamp + TIMEOUT);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimsPending.selector, 1));
        market.refund(id);
    }

    function test_refund_afterVoidedClaimPastDeadline() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalse(submitter, id, HALT);
        uint256 g = challengeAs(challenger, id, claimId);
        vm.warp(block.timestamp + TIMEOUT + 1);
        game.timeout(g); // the submitter never dissected
        assertEq(uint256(market.getRequest(id).status), uint256(InferenceMarket.RequestStatus.Open));
        market.refund(id);
        assertEq(market.withdrawable(requester), FEE);
    }

    // ---------------------------------------------------------------------------------------------
    // submit and topUp
    // ---------------------------------------------------------------------------------------------

    function test_submit_recordsClaim() public {
        uint256 id = requestAs(requester, INPUT);
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint64 deadline = uint64(block.timestamp) + WINDOW;
        uint256 value = claimValue(HALT, 3);
        vm.expectEmit(address(market));
        emit Submitted(id, 1, submitter, finalState, steps, deadline, 3 * stake(), output);
        vm.prank(submitter);
        uint256 claimId = market.submit{value: value}(id, output, finalState, steps, proof);
        assertEq(claimId, 1);
        InferenceMarket.Claim memory c = market.getClaim(claimId);
        assertEq(c.submitter, submitter);
        assertEq(uint256(c.steps), uint256(steps));
        assertEq(uint256(c.status), uint256(InferenceMarket.ClaimStatus.Pending));
        assertEq(uint256(c.challengeDeadline), uint256(deadline));
        assertEq(uint256(c.openGames), 0);
        assertEq(c.requestId, id);
        assertEq(c.finalState, finalState);
        assertEq(c.outputHash, keccak256(output));
        assertEq(c.freeStake, 3 * stake());
        assertEq(uint256(c.gameStake), stake());
        assertEq(uint256(c.unmatchedGames), 0);
        assertEq(c.unmatchedPay, 0);
        InferenceMarket.Request memory r = market.getRequest(id);
        assertEq(uint256(r.status), uint256(InferenceMarket.RequestStatus.Open));
        assertEq(uint256(r.liveClaims), 1);
        assertEq(address(market).balance, FEE + value);
    }

    /// Several claims, identical or not, may be pending on one request at once.
    function test_submit_severalClaimsPerRequest() public {
        (uint256 id, uint256 first) = claimed();
        uint256 second = submitHonest(submitter2, id, INPUT);
        uint256 third = submitFalse(submitter2, id, HALT);
        assertEq(second, first + 1);
        assertEq(third, first + 2);
        assertEq(uint256(market.getRequest(id).liveClaims), 3);
    }

    function test_submit_revertsForUnknownRequest() public {
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint256 value = claimValue(HALT, 1);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, 5));
        market.submit{value: value}(5, output, finalState, steps, proof);
    }

    function test_submit_revertsAfterDeadline() public {
        uint256 id = requestAs(requester, INPUT);
        uint64 deadline = uint64(block.timestamp) + TIMEOUT;
        vm.warp(deadline);
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint256 value = claimValue(HALT, 1);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.RequestExpired.selector, id, deadline));
        market.submit{value: value}(id, output, finalState, steps, proof);
    }

    function test_submit_revertsOnceSettled() public {
        (uint256 id, uint256 claimId) = claimed();
        vm.warp(block.timestamp + WINDOW);
        market.finalize(claimId);
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint256 value = claimValue(HALT, 1);
        vm.prank(submitter2);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Finalized
            )
        );
        market.submit{value: value}(id, output, finalState, steps, proof);
    }

    function testFuzz_submit_needsBondPlusOneGameStake(uint96 paid) public {
        uint256 min = claimValue(HALT, 1);
        paid = uint96(bound(paid, 0, min + 10 ether));
        uint256 id = requestAs(requester, INPUT);
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        vm.deal(submitter, paid);
        vm.prank(submitter);
        if (paid < min) {
            vm.expectRevert(abi.encodeWithSelector(InferenceMarket.StakeTooLow.selector, paid, min));
            market.submit{value: paid}(id, output, finalState, steps, proof);
        } else {
            uint256 claimId = market.submit{value: paid}(id, output, finalState, steps, proof);
            assertEq(market.getClaim(claimId).freeStake, paid - SUBMITTER_BOND);
        }
    }

    function testFuzz_submit_stepRange(uint64 steps) public {
        uint256 id = requestAs(requester, INPUT);
        bytes32 seed = seedFor(INPUT);
        bytes memory output = modelState.outputOf(seed);
        bytes32 finalState = traceVm.stateHash(seed, steps, steps);
        uint256 value = claimValue(type(uint64).max, 1);
        vm.prank(submitter);
        if (steps == 0 || steps > MAX_STEPS) {
            vm.expectRevert(
                abi.encodeWithSelector(InferenceMarket.StepsOutOfRange.selector, steps, MAX_STEPS)
            );
            market.submit{value: value}(id, output, finalState, steps, abi.encode(seed));
        } else {
            uint256 claimId = market.submit{value: value}(id, output, finalState, steps, abi.encode(seed));
            assertEq(uint256(market.getClaim(claimId).gameStake), stakeOf(steps));
        }
    }

    function testFuzz_submit_revertsForWrongOutputLength(uint8 len) public {
        vm.assume(len != 32);
        uint256 id = requestAs(requester, INPUT);
        (, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint256 value = claimValue(HALT, 1);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.OutputLength.selector, len, 32));
        market.submit{value: value}(id, new bytes(len), finalState, steps, proof);
    }

    function test_submit_revertsForTooLongOutputProof() public {
        uint256 id = requestAs(requester, INPUT);
        (bytes memory output, bytes32 finalState, uint64 steps,) = honestResult(INPUT);
        uint256 len = market.MAX_OUTPUT_PROOF_BYTES() + 1;
        uint256 value = claimValue(HALT, 1);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.OutputProofTooLong.selector, len));
        market.submit{value: value}(id, output, finalState, steps, new bytes(len));
    }

    function test_submit_revertsForOutputMismatch() public {
        uint256 id = requestAs(requester, INPUT);
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint256 value = claimValue(HALT, 1);
        output[0] ^= 0x01;
        vm.startPrank(submitter);
        vm.expectRevert(InferenceMarket.OutputMismatch.selector);
        market.submit{value: value}(id, output, finalState, steps, proof);
        output[0] ^= 0x01;
        vm.expectRevert(InferenceMarket.OutputMismatch.selector);
        market.submit{value: value}(id, output, bytes32(uint256(finalState) ^ 1), steps, proof);
        vm.expectRevert(InferenceMarket.OutputMismatch.selector);
        market.submit{value: value}(id, output, finalState, steps - 1, proof);
        vm.stopPrank();
    }

    function test_topUp_addsFreeStake() public {
        (, uint256 claimId) = claimed();
        uint256 before = market.getClaim(claimId).freeStake;
        vm.expectEmit(address(market));
        emit ToppedUp(claimId, submitter, 1 ether, before + 1 ether);
        vm.prank(submitter);
        market.topUp{value: 1 ether}(claimId);
        assertEq(market.getClaim(claimId).freeStake, before + 1 ether);
    }

    /// P2: only the submitter deposits into its claim, so no one else's money can go back to it.
    function test_topUp_reverts() public {
        (, uint256 claimId) = claimed();
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotSubmitter.selector, challenger, submitter));
        market.topUp{value: 1 ether}(claimId);
        vm.prank(submitter);
        vm.expectRevert(InferenceMarket.ZeroTopUp.selector);
        market.topUp(claimId);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, 0, 99));
        market.topUp{value: 1}(99);
        vm.warp(block.timestamp + WINDOW);
        market.finalize(claimId);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, 1, claimId));
        market.topUp{value: 1}(claimId);
    }

    // ---------------------------------------------------------------------------------------------
    // challenge, challenger-backed games and matching
    // ---------------------------------------------------------------------------------------------

    function test_challenge_opensGameAndReservesStake() public {
        (uint256 id, uint256 claimId) = claimed();
        assertEq(market.challengeValue(claimId), CHALLENGER_BOND + stake());
        vm.expectEmit(address(market));
        emit Challenged(id, claimId, 1, challenger, InferenceMarket.Funding.Claim);
        uint256 g = challengeAs(challenger, id, claimId);
        assertEq(g, 1);
        InferenceMarket.GameRef memory ref = market.getGame(g);
        assertEq(uint256(ref.claimId), claimId);
        assertEq(ref.challenger, challenger);
        assertFalse(ref.settled);
        assertEq(uint256(ref.funding), uint256(InferenceMarket.Funding.Claim));
        assertTrue(market.hasChallenged(claimId, challenger));
        InferenceMarket.Claim memory c = market.getClaim(claimId);
        assertEq(uint256(c.openGames), 1);
        assertEq(uint256(c.unmatchedGames), 0);
        assertEq(c.freeStake, (STAKED_GAMES - 1) * stake());
        // The claim backs the game: the challenger's own stake is credited straight back.
        assertEq(market.withdrawable(challenger), stake());
        DisputeGame.Game memory dg = game.game(g);
        assertEq(dg.defender, submitter);
        assertEq(dg.challenger, challenger);
        assertEq(uint256(dg.hi), uint256(HALT));
        InferenceMarket.Request memory r = market.getRequest(id);
        assertEq(dg.points, keccak256(abi.encodePacked(r.initialState, c.finalState)));
        assertEq(address(market).balance, FEE + claimValue(HALT, STAKED_GAMES) + CHALLENGER_BOND + stake());
    }

    function test_challenge_parallelGames() public {
        (uint256 id, uint256 claimId) = claimed();
        uint256 g1 = challengeAs(challenger, id, claimId);
        uint256 g2 = challengeAs(challenger2, id, claimId);
        assertEq(g2, g1 + 1);
        assertEq(uint256(market.getClaim(claimId).openGames), 2);
    }

    function test_challenge_revertsForWrongClaim() public {
        (uint256 id, uint256 claimId) = claimed();
        uint256 value = CHALLENGER_BOND + stake();
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, id, claimId + 1));
        market.challenge{value: CHALLENGER_BOND}(id, claimId + 1);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, id + 1, claimId));
        market.challenge{value: value}(id + 1, claimId);
    }

    function test_challenge_revertsAfterWindow() public {
        uint256 value = CHALLENGER_BOND + stake();
        (uint256 id, uint256 claimId) = claimed();
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        vm.warp(deadline);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ChallengeWindowClosed.selector, deadline));
        market.challenge{value: value}(id, claimId);
    }

    function testFuzz_challenge_revertsForWrongPayment(uint96 paid) public {
        (uint256 id, uint256 claimId) = claimed();
        uint256 value = CHALLENGER_BOND + stake();
        vm.assume(paid != value);
        vm.deal(challenger, paid);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongPayment.selector, paid, value));
        market.challenge{value: paid}(id, claimId);
    }

    function test_challenge_revertsForSelfChallenge() public {
        uint256 value = CHALLENGER_BOND + stake();
        (uint256 id, uint256 claimId) = claimed();
        vm.prank(submitter);
        vm.expectRevert(InferenceMarket.SelfChallenge.selector);
        market.challenge{value: value}(id, claimId);
    }

    function test_challenge_revertsForSecondChallengeBySameAccount() public {
        uint256 value = CHALLENGER_BOND + stake();
        (uint256 id, uint256 claimId) = claimed();
        challengeAs(challenger, id, claimId);
        vm.prank(challenger);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.AlreadyChallenged.selector, claimId, challenger)
        );
        market.challenge{value: value}(id, claimId);
    }

    /// A challenge aimed at a voided claim never lands on a later claim of the same request.
    function test_challenge_cannotLandOnAReplacementClaim() public {
        uint256 value = CHALLENGER_BOND + stake();
        uint256 id = requestAs(requester, INPUT);
        uint256 oldClaim = submitFalse(submitter, id, HALT);
        uint256 sybilGame = challengeAs(challenger2, id, oldClaim);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(sybilGame); // the liar lets its Sybil win
        uint256 newClaim = submitHonest(submitter, id, INPUT);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, id, oldClaim));
        market.challenge{value: value}(id, oldClaim);
        assertEq(uint256(market.getClaim(newClaim).openGames), 0);
    }

    /// `games` challenges by fresh accounts.
    function challengeMany_(uint256 id, uint256 claimId, uint256 games, string memory who)
        internal
        returns (uint256[] memory gs)
    {
        gs = new uint256[](games);
        for (uint256 i = 0; i < games; ++i) {
            address c = makeAddr(string.concat(who, vm.toString(i)));
            vm.deal(c, CHALLENGER_BOND + stake());
            gs[i] = challengeAs(c, id, claimId);
        }
    }

    /// Past the claim's stake the challenge is still accepted: the challenger's stake backs the game.
    function test_challenge_pastTheClaimsStake_isBackedByTheChallenger() public {
        (uint256 id, uint256 claimId) = claimed();
        challengeMany_(id, claimId, STAKED_GAMES, "sybil ");
        assertEq(market.getClaim(claimId).freeStake, 0);
        uint256 g = game.gameCount() + 1;
        vm.expectEmit(address(market));
        emit Challenged(id, claimId, g, challenger, InferenceMarket.Funding.Challenger);
        challengeAs(challenger, id, claimId);
        assertEq(uint256(market.getGame(g).funding), uint256(InferenceMarket.Funding.Challenger));
        InferenceMarket.Claim memory c = market.getClaim(claimId);
        assertEq(uint256(c.openGames), STAKED_GAMES + 1);
        assertEq(uint256(c.unmatchedGames), 1);
        assertEq(market.withdrawable(challenger), 0, "its stake backs the game");
        // The claim cannot settle while the game is open.
        vm.warp(c.challengeDeadline);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GamesOpen.selector, STAKED_GAMES + 1));
        market.finalize(claimId);
    }

    /// The defender's first move matches a challenger-backed game from the free stake (after a top-up):
    /// the claim's stake then backs it and the challenger's is credited back.
    function test_dissect_matchesAChallengerBackedGame() public {
        (uint256 id, uint256 claimId) = claimedWithStake(1);
        challengeAs(challenger2, id, claimId);
        uint256 g = challengeAs(challenger, id, claimId);
        bytes32[] memory pts = finalPoints(INPUT);
        uint256 gs = stake();
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnmatchedGame.selector, g, 0, gs));
        game.dissect(g, pts);
        vm.prank(submitter);
        market.topUp{value: gs - 1}(claimId);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnmatchedGame.selector, g, gs - 1, gs));
        game.dissect(g, pts);
        vm.prank(submitter);
        market.topUp{value: 1}(claimId);
        vm.expectEmit(address(market));
        emit GameMatched(g, claimId, gs);
        vm.prank(submitter);
        game.dissect(g, pts);
        assertEq(uint256(market.getGame(g).funding), uint256(InferenceMarket.Funding.Matched));
        InferenceMarket.Claim memory c = market.getClaim(claimId);
        assertEq(uint256(c.unmatchedGames), 0);
        assertEq(c.freeStake, 0);
        assertEq(market.withdrawable(challenger), stake());
        // A second dissection is a different move; the claim-backed game passes through the hook.
        vm.prank(submitter);
        game.dissect(1, pts);
    }

    function test_onDissect_onlyFromDisputeGame() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotDisputeGame.selector, address(this)));
        market.onDissect(1);
    }

    /// A voided claim's unmatched game cannot be matched any more: it is closed with its share instead.
    function test_dissect_ofAVoidedClaimsUnmatchedGame_reverts() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalseStaked(submitter, id, HALT, 1);
        uint256 sybil = challengeAs(challenger2, id, claimId);
        uint256 g = challengeAs(challenger, id, claimId);
        playMarketGame(sybil, falseTrace(id, INPUT, HALT, 5), honestFor(INPUT)); // voids the claim
        bytes32[] memory pts = finalPoints(INPUT);
        pts[ARITY] = market.getClaim(claimId).finalState;
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, id, claimId));
        game.dissect(g, pts);
    }

    /// The defender never matches: it loses on time, and the challenger gets its bond, its own stake
    /// and the bounty.
    function test_unmatchedGame_defenderTimesOut_challengerWins() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalseStaked(submitter, id, HALT, 1);
        uint256 g1 = challengeAs(challenger2, id, claimId);
        uint256 g = challengeAs(challenger, id, claimId);
        vm.warp(block.timestamp + CLOCK + 1);
        uint256 bounty = SUBMITTER_BOND - burnOf(SUBMITTER_BOND);
        game.timeout(g);
        // The other game (claim-backed) is closed with its bond and stake.
        market.closeGame(g1);
        assertEq(market.withdrawable(challenger), CHALLENGER_BOND + stake() + bounty);
        assertEq(market.withdrawable(challenger2), CHALLENGER_BOND + 2 * stake());
        assertEq(market.withdrawable(submitter), 0);
    }

    /// A claim voided by another game owes each game the defender never matched two allowances (its
    /// challenge and its close) from the unburnt bond; the winner gets the rest.
    function test_unmatchedGames_voidedElsewhere_getTwoAllowancesEach() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalseStaked(submitter, id, HALT, 1);
        uint256 sybil = challengeAs(challenger2, id, claimId);
        uint256[] memory gs = challengeMany_(id, claimId, 3, "watcher ");
        assertEq(uint256(market.getClaim(claimId).unmatchedGames), 3);
        vm.warp(block.timestamp + CLOCK + 1);
        uint256 bounty = SUBMITTER_BOND - burnOf(SUBMITTER_BOND);
        vm.expectEmit(address(market));
        emit ClaimVoided(id, claimId, sybil, challenger2, bounty - 6 * ALLOWANCE, burnOf(SUBMITTER_BOND));
        game.timeout(sybil);
        assertEq(market.getClaim(claimId).unmatchedPay, 2 * ALLOWANCE);
        for (uint256 i = 0; i < 3; ++i) {
            address w = market.getGame(gs[i]).challenger;
            vm.expectEmit(address(market));
            emit GameClosed(gs[i], claimId, w, CHALLENGER_BOND + stake() + 2 * ALLOWANCE);
            market.closeGame(gs[i]);
            assertEq(market.withdrawable(w), CHALLENGER_BOND + stake() + 2 * ALLOWANCE);
        }
        assertEq(uint256(market.getClaim(claimId).unmatchedGames), 0);
    }

    /// The residual (docs/SECURITY.md §2): past UNMATCHED_COVERED unmatched games the share shrinks to
    /// the unburnt bond divided among them; never below that, and never from the burnt half.
    function testFuzz_unmatchedPay_isTheBountySplitPastTheCoveredGames(uint8 count) public {
        uint256 n = bound(count, 1, 80);
        InferenceMarket.Config memory cfg = defaultConfig();
        cfg.moveAllowance = uint96(SUBMITTER_BOND / 2 / 64); // exactly 32 games covered
        cfg.challengerBond = 25 * cfg.moveAllowance;
        deployMarket(cfg);
        (modelId, token) = registerModel("model", HALT, MAX_STEPS, FEE, SHARE_BPS);
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalseStaked(submitter, id, HALT, 1);
        uint256 sybil = challengeAs(challenger2, id, claimId);
        challengeMany_(id, claimId, n, "unmatched ");
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(sybil);
        uint256 bounty = SUBMITTER_BOND / 2;
        uint256 pay = market.getClaim(claimId).unmatchedPay;
        uint256 full = 2 * uint256(cfg.moveAllowance);
        assertEq(pay, n <= 32 ? full : bounty / n);
        assertEq(market.withdrawable(challenger2), market.challengerBond() + 2 * stake() + bounty - n * pay);
        assertEq(market.totalBurned(), SUBMITTER_BOND / 2);
    }

    /// A defender that wins a game it matched is paid the allowance of the top-up behind the match too.
    function test_defenderWinsAMatchedGame_getsTheMatchAllowance() public {
        (uint256 id, uint256 claimId) = claimedWithStake(1);
        challengeAs(challenger2, id, claimId);
        uint256 g = challengeAs(challenger, id, claimId);
        uint256 gs = stake();
        vm.prank(submitter);
        market.topUp{value: gs}(claimId);
        bytes32[] memory pts = finalPoints(INPUT);
        vm.prank(submitter);
        game.dissect(g, pts);
        vm.warp(block.timestamp + CLOCK + 1);
        vm.prank(submitter);
        game.timeout(g); // the challenger stalled
        // dissect + timeout + the match
        assertEq(market.withdrawable(submitter), defenderPayout(3));
        assertEq(market.getClaim(claimId).freeStake, stake(), "the matched stake is back");
        assertEq(market.withdrawable(challenger), stake(), "its own stake came back at the match");
    }

    /// A one-step claim: the challenger-backed game starts with the challenger's `step`; a challenger
    /// that stalls loses its bond to the defender and gets its own stake back.
    function test_unmatchedOneStepGame_challengerStalls_getsItsOwnStakeBack() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalseStaked(submitter, id, 1, 1);
        challengeAs(challenger2, id, claimId);
        uint256 g = challengeAs(challenger, id, claimId);
        uint256 g1Stake = market.gameStakeFor(1);
        vm.warp(block.timestamp + CLOCK + 1);
        vm.prank(submitter);
        game.timeout(g);
        assertEq(uint256(game.status(g)), uint256(IDisputeGame.Status.DefenderWon));
        assertEq(market.withdrawable(challenger), g1Stake);
        assertEq(market.withdrawable(submitter), defenderPayout(1));
        assertEq(uint256(market.getClaim(claimId).unmatchedGames), 0);
    }

    function test_challengeMany_opensEachGameInOneTransaction() public {
        uint256 id = requestAs(requester, INPUT);
        uint256[] memory claims = new uint256[](3);
        uint256[] memory reqs = new uint256[](3);
        for (uint256 i = 0; i < 3; ++i) {
            claims[i] = submitFalseStaked(submitter, id, HALT, 1);
            reqs[i] = id;
        }
        uint256 value = 3 * (CHALLENGER_BOND + stake());
        vm.prank(challenger);
        uint256[] memory gs = market.challengeMany{value: value}(reqs, claims);
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(market.getGame(gs[i]).challenger, challenger);
            assertEq(uint256(market.getGame(gs[i]).claimId), claims[i]);
        }
        assertEq(market.withdrawable(challenger), 3 * stake());
    }

    /// A pair that cannot be challenged is skipped and its value credited: a claim voided in front of
    /// the batch does not turn the rest away.
    function test_challengeMany_skipsWhatCannotBeChallenged() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 voided = submitFalseStaked(submitter, id, HALT, 1);
        uint256 live = submitFalseStaked(submitter, id, HALT, 1);
        uint256 own = submitFalseStaked(challenger, id, HALT, 1);
        uint256 sybil = challengeAs(challenger2, id, voided);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(sybil);
        uint256[] memory reqs = new uint256[](5);
        uint256[] memory claims = new uint256[](5);
        (reqs[0], claims[0]) = (id, voided); // voided
        (reqs[1], claims[1]) = (id, live);
        (reqs[2], claims[2]) = (id, own); // the caller's own claim
        (reqs[3], claims[3]) = (id, live); // twice
        (reqs[4], claims[4]) = (id + 1, live); // the wrong request
        uint256 each = CHALLENGER_BOND + stake();
        vm.prank(challenger);
        uint256[] memory gs = market.challengeMany{value: 5 * each}(reqs, claims);
        assertEq(gs[0], 0);
        assertGt(gs[1], 0);
        assertEq(gs[2], 0);
        assertEq(gs[3], 0);
        assertEq(gs[4], 0);
        assertEq(market.withdrawable(challenger), 4 * each + stake());
    }

    function test_challengeMany_reverts() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalseStaked(submitter, id, HALT, 1);
        uint256[] memory one = new uint256[](1);
        one[0] = claimId;
        uint256[] memory two = new uint256[](2);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.LengthMismatch.selector, 2, 1));
        market.challengeMany(two, one);
        one[0] = claimId;
        uint256[] memory r = new uint256[](1);
        r[0] = id;
        uint256 value = CHALLENGER_BOND + stake();
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongPayment.selector, CHALLENGER_BOND, value));
        market.challengeMany{value: CHALLENGER_BOND}(r, one);
    }

    /// One transaction challenges a new claim and settles the caller's one-step game over another: the
    /// game is won (its claim voided) and the new game opened.
    function test_challengeManyAndPlay_challengesAndMovesInOneTransaction() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 first = submitFalseStaked(submitter, id, 1, 1);
        uint256 g1 = challengeAs(challenger, id, first);
        uint256 second = submitFalseStaked(submitter, id, 1, 1);
        bytes[] memory moves = new bytes[](1);
        moves[0] = oneStepProofCall(g1, INPUT);
        uint256[] memory reqs = new uint256[](1);
        uint256[] memory claims = new uint256[](1);
        (reqs[0], claims[0]) = (id, second);
        uint256 value = market.challengeValue(second);
        vm.prank(challenger);
        (uint256[] memory gs, bool[] memory ok) =
            market.challengeManyAndPlay{value: value}(reqs, claims, moves);
        assertTrue(ok[0]);
        assertEq(uint256(game.status(g1)), uint256(IDisputeGame.Status.ChallengerWon));
        assertEq(uint256(market.getClaim(first).status), uint256(InferenceMarket.ClaimStatus.Voided));
        assertEq(market.getGame(gs[0]).challenger, challenger);
        assertEq(uint256(market.getGame(gs[0]).claimId), second);
    }

    /// The moves go out as the caller and nothing else: another party's move, and the owner's own
    /// functions (create, cancel), fail while the challenges stand.
    function test_challengeManyAndPlay_movesOnlyAsTheCaller() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalseStaked(submitter, id, HALT, 2);
        uint256 g = challengeAs(challenger2, id, claimId);
        bytes[] memory moves = new bytes[](3);
        moves[0] = abi.encodeCall(DisputeGame.dissect, (g, finalPoints(INPUT))); // the defender's move
        moves[1] = abi.encodeCall(DisputeGame.create, (submitter, challenger, bytes32(0), bytes32(0), 1));
        moves[2] = abi.encodeCall(DisputeGame.cancel, (g));
        uint256[] memory reqs = new uint256[](1);
        uint256[] memory claims = new uint256[](1);
        (reqs[0], claims[0]) = (id, claimId);
        uint256 value = market.challengeValue(claimId);
        vm.prank(challenger);
        (uint256[] memory gs, bool[] memory ok) =
            market.challengeManyAndPlay{value: value}(reqs, claims, moves);
        assertFalse(ok[0]);
        assertFalse(ok[1]);
        assertFalse(ok[2]);
        assertEq(game.gameCount(), gs[0]);
        assertEq(uint256(game.status(g)), uint256(IDisputeGame.Status.AwaitingDissection));
    }

    function test_challengeManyAndPlay_reverts() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalseStaked(submitter, id, HALT, 1);
        uint256[] memory reqs = new uint256[](1);
        uint256[] memory claims = new uint256[](1);
        (reqs[0], claims[0]) = (id, claimId);
        bytes[] memory moves = new bytes[](0);
        uint256 value = CHALLENGER_BOND + stake();
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongPayment.selector, CHALLENGER_BOND, value));
        market.challengeManyAndPlay{value: CHALLENGER_BOND}(reqs, claims, moves);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.LengthMismatch.selector, 0, 1));
        market.challengeManyAndPlay(new uint256[](0), claims, moves);
    }

    /// The defender matches a challenger-backed game and dissects it in one transaction.
    function test_topUpAndPlay_matchesAndDissectsInOneTransaction() public {
        (uint256 id, uint256 claimId) = claimedWithStake(1);
        challengeAs(challenger2, id, claimId); // takes the claim's one staked game
        uint256 g = challengeAs(challenger, id, claimId);
        assertEq(uint256(market.getGame(g).funding), uint256(InferenceMarket.Funding.Challenger));
        bytes[] memory moves = new bytes[](1);
        moves[0] = abi.encodeCall(DisputeGame.dissect, (g, finalPoints(INPUT)));
        uint256 value = stake();
        vm.prank(submitter);
        bool[] memory ok = market.topUpAndPlay{value: value}(one(claimId), one(value), moves);
        assertTrue(ok[0]);
        assertEq(uint256(market.getGame(g).funding), uint256(InferenceMarket.Funding.Matched));
        assertEq(uint256(game.status(g)), uint256(IDisputeGame.Status.AwaitingResponse));
        assertEq(market.getClaim(claimId).freeStake, 0);
    }

    /// Several claims topped up in one transaction, each its amount; a claim no longer pending is
    /// skipped and its amount credited back.
    function test_topUpAndPlay_topsUpSeveralClaims() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 a = submitFalseStaked(submitter, id, HALT, 1);
        uint256 b = submitFalseStaked(submitter, id, HALT, 1);
        uint256 voided = submitFalseStaked(submitter, id, 1, 1);
        oneStepWin(challenger, challengeAs(challenger, id, voided), INPUT);
        uint256[] memory claims = new uint256[](3);
        uint256[] memory amounts = new uint256[](3);
        (claims[0], amounts[0]) = (a, 1 ether);
        (claims[1], amounts[1]) = (b, 2 ether);
        (claims[2], amounts[2]) = (voided, 3 ether);
        uint256 freeA = market.getClaim(a).freeStake;
        uint256 freeB = market.getClaim(b).freeStake;
        uint256 owed = market.withdrawable(submitter);
        vm.prank(submitter);
        market.topUpAndPlay{value: 6 ether}(claims, amounts, new bytes[](0));
        assertEq(market.getClaim(a).freeStake, freeA + 1 ether);
        assertEq(market.getClaim(b).freeStake, freeB + 2 ether);
        assertEq(market.getClaim(voided).freeStake, 0);
        assertEq(market.withdrawable(submitter), owed + 3 ether);
    }

    function test_topUpAndPlay_reverts() public {
        (, uint256 claimId) = claimed();
        bytes[] memory moves = new bytes[](0);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotSubmitter.selector, challenger, submitter));
        market.topUpAndPlay{value: 1 ether}(one(claimId), one(1 ether), moves);
        vm.prank(submitter);
        vm.expectRevert(InferenceMarket.ZeroTopUp.selector);
        market.topUpAndPlay(one(claimId), one(0), moves);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongPayment.selector, 1 ether, 2 ether));
        market.topUpAndPlay{value: 1 ether}(one(claimId), one(2 ether), moves);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.LengthMismatch.selector, 0, 1));
        market.topUpAndPlay(one(claimId), none(), moves);
    }

    /// P4's bound: the deadline, the window of a claim posted in its last second, and both clocks of a
    /// game opened in that window's last second.
    function test_resolvableAt() public {
        uint256 id = requestAs(requester, INPUT);
        assertEq(market.resolvableAt(id), uint256(market.getRequest(id).deadline) + WINDOW + 2 * CLOCK);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, 99));
        market.resolvableAt(99);
    }

    // ---------------------------------------------------------------------------------------------
    // finalize and release
    // ---------------------------------------------------------------------------------------------

    function test_finalize_unchallengedPaysSubmitterAndRevenue() public {
        (uint256 id, uint256 claimId) = claimed();
        vm.warp(block.timestamp + WINDOW);
        vm.expectEmit(address(market));
        emit Finalized(id, claimId, submitter, cut(), FEE - cut());
        vm.prank(challenger); // anyone
        market.finalize(claimId);
        uint256 back = cut() + claimValue(HALT, STAKED_GAMES);
        assertEq(market.withdrawable(submitter), back);
        assertEq(token.totalDeposited(), FEE - cut());
        assertEq(address(token).balance, FEE - cut());
        assertEq(address(market).balance, back);
        InferenceMarket.Request memory r = market.getRequest(id);
        assertEq(uint256(r.status), uint256(InferenceMarket.RequestStatus.Finalized));
        assertEq(r.settledClaim, claimId);
        assertEq(uint256(r.liveClaims), 0);
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Finalized));
        (bool fin,, bytes32 inputHash, bytes32 outputHash) = market.result(id);
        assertTrue(fin);
        assertEq(inputHash, keccak256(INPUT));
        (bytes memory output,,,) = honestResult(INPUT);
        assertEq(outputHash, keccak256(output));
    }

    function test_finalize_revertsDuringWindow() public {
        (, uint256 claimId) = claimed();
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        vm.warp(deadline - 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ChallengeWindowOpen.selector, deadline));
        market.finalize(claimId);
    }

    function test_finalize_revertsWithOpenGames() public {
        (uint256 id, uint256 claimId) = claimed();
        challengeAs(challenger, id, claimId);
        challengeAs(challenger2, id, claimId);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GamesOpen.selector, 2));
        market.finalize(claimId);
    }

    function test_finalize_revertsForUnknownClaim() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, 0, 9));
        market.finalize(9);
    }

    function test_finalize_revertsTwice() public {
        (, uint256 claimId) = claimed();
        vm.warp(block.timestamp + WINDOW);
        market.finalize(claimId);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, 1, claimId));
        market.finalize(claimId);
    }

    function testFuzz_finalize_splitsAnyFee(uint96 fee, uint16 shareBps) public {
        shareBps = uint16(bound(shareBps, 0, 10_000));
        fee = uint96(bound(fee, 0, 1e30));
        (bytes32 id2, RevenueShare t2) = registerModel(FUZZ_MODEL, HALT, MAX_STEPS, fee, shareBps);
        vm.deal(requester, fee);
        vm.prank(requester);
        uint256 rid = market.request{value: fee}(id2, INPUT);
        bytes32 seed = keccak256(abi.encode(FUZZ_MODEL, keccak256(INPUT)));
        bytes memory output = modelState.outputOf(seed);
        bytes32 finalState = traceVm.stateHash(seed, HALT, HALT);
        uint256 value = claimValue(HALT, 1);
        vm.prank(submitter);
        uint256 claimId = market.submit{value: value}(rid, output, finalState, HALT, abi.encode(seed));
        vm.warp(block.timestamp + WINDOW);
        market.finalize(claimId);
        uint256 c = (uint256(fee) * shareBps) / 10_000;
        assertEq(market.withdrawable(submitter), c + value);
        assertEq(t2.totalDeposited(), fee - c);
        assertEq(address(t2).balance, fee - c);
    }

    /// The first claim to finalize settles the request; the others are released or fight on.
    function test_release_survivorOfASettledRequest() public {
        (uint256 id, uint256 first) = claimed();
        vm.warp(block.timestamp + 1);
        uint256 second = submitHonest(submitter2, id, INPUT);
        vm.warp(block.timestamp + WINDOW - 1);
        market.finalize(first);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.ChallengeWindowOpen.selector, market.getClaim(second).challengeDeadline
            )
        );
        market.release(second);
        vm.warp(block.timestamp + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Finalized
            )
        );
        market.finalize(second);
        vm.expectEmit(address(market));
        emit Released(id, second, submitter2, claimValue(HALT, STAKED_GAMES));
        market.release(second);
        assertEq(market.withdrawable(submitter2), claimValue(HALT, STAKED_GAMES));
        assertEq(uint256(market.getClaim(second).status), uint256(InferenceMarket.ClaimStatus.Released));
        assertEq(uint256(market.getRequest(id).liveClaims), 0);
        assertEq(market.getRequest(id).settledClaim, first);
    }

    function test_release_revertsWhileTheRequestIsOpen() public {
        (uint256 id, uint256 claimId) = claimed();
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Open
            )
        );
        market.release(claimId);
    }

    // ---------------------------------------------------------------------------------------------
    // games and their settlement
    // ---------------------------------------------------------------------------------------------

    function test_honestSubmitterWinsGame_getsAllowanceAndChallengerBondMinusBurn() public {
        (uint256 id, uint256 claimId) = claimed();
        uint256 g = challengeAs(challenger, id, claimId);
        uint256 burnBefore = address(0).balance;
        Outcome memory o = playMarketGame(g, honestFor(INPUT), lyingTrace(seedFor(INPUT), HALT, 500, "c"));
        assertTrue(o.defenderWon);
        uint256 txs = game.game(g).defenderTxs;
        assertEq(txs, o.defenderMoves + (o.byTimeout ? 1 : 0));
        uint256 payout = defenderPayout(txs);
        assertEq(market.withdrawable(submitter), payout);
        assertEq(market.totalBurned(), CHALLENGER_BOND - payout);
        assertEq(address(0).balance - burnBefore, CHALLENGER_BOND - payout);
        assertTrue(market.getGame(g).settled);
        InferenceMarket.Claim memory c = market.getClaim(claimId);
        assertEq(uint256(c.openGames), 0);
        assertEq(c.freeStake, STAKED_GAMES * stake());
        vm.warp(block.timestamp + WINDOW);
        market.finalize(claimId);
        assertEq(market.withdrawable(submitter), payout + cut() + claimValue(HALT, STAKED_GAMES));
    }

    function test_finalize_waitsForEveryGame() public {
        (uint256 id, uint256 claimId) = claimed();
        uint256 g1 = challengeAs(challenger, id, claimId);
        playMarketGame(g1, honestFor(INPUT), lyingTrace(seedFor(INPUT), HALT, 10, "c"));
        vm.warp(market.getClaim(claimId).challengeDeadline - 1);
        uint256 g2 = challengeAs(challenger2, id, claimId); // in the window's last second
        vm.warp(block.timestamp + 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GamesOpen.selector, 1));
        market.finalize(claimId);
        playMarketGame(g2, honestFor(INPUT), lyingTrace(seedFor(INPUT), HALT, 900, "c2"));
        market.finalize(claimId);
        assertEq(uint256(market.getRequest(id).status), uint256(InferenceMarket.RequestStatus.Finalized));
    }

    function test_challengerWins_voidsClaimAndPaysBondStakeAndBounty() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalse(submitter, id, HALT);
        uint256 g = challengeAs(challenger, id, claimId);
        uint256 burned = burnOf(SUBMITTER_BOND);
        Outcome memory o = playMarketGame(g, falseTrace(id, INPUT, HALT, 321), honestFor(INPUT));
        assertFalse(o.defenderWon);
        assertEq(uint256(o.decisiveStep), 320);
        // Its own stake came back at the challenge (the claim backed the game), then bond, stake, bounty.
        assertEq(market.withdrawable(challenger), CHALLENGER_BOND + 2 * stake() + SUBMITTER_BOND - burned);
        // The unreserved stake goes back to the submitter; the reserved one went to the challenger.
        assertEq(market.withdrawable(submitter), (STAKED_GAMES - 1) * stake());
        assertEq(market.totalBurned(), burned);
        assertEq(market.totalSlashed(), SUBMITTER_BOND);
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Voided));
        InferenceMarket.Request memory r = market.getRequest(id);
        assertEq(uint256(r.status), uint256(InferenceMarket.RequestStatus.Open));
        assertEq(uint256(r.liveClaims), 0);
        // Another submitter serves the request.
        uint256 claim2 = submitHonest(submitter2, id, INPUT);
        vm.warp(block.timestamp + WINDOW);
        market.finalize(claim2);
        assertEq(market.withdrawable(submitter2), cut() + claimValue(HALT, STAKED_GAMES));
        assertEq(market.getRequest(id).settledClaim, claim2);
    }

    function test_wrongStepCount_voided() public {
        uint256 id = requestAs(requester, INPUT);
        // The honest output, but halted at HALT + 5 steps.
        bytes32 seed = seedFor(INPUT);
        uint64 n = HALT + 5;
        bytes memory output = modelState.outputOf(seed);
        bytes32 finalState = traceVm.stateHash(seed, n, n);
        uint256 value = claimValue(n, 1);
        vm.prank(submitter);
        uint256 claimId = market.submit{value: value}(id, output, finalState, n, abi.encode(seed));
        uint256 g = challengeAs(challenger, id, claimId);
        Trace memory liar = withEnd(honestTrace(seed, HALT), n, traceVm.stateHash(seed, n, n));
        Outcome memory o = playMarketGame(g, liar, honestFor(INPUT));
        assertFalse(o.defenderWon);
        assertEq(uint256(o.decisiveStep), n - 1);
    }

    function test_voidedClaim_otherGamesClosedWithBondAndStake() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalse(submitter, id, HALT);
        uint256 g1 = challengeAs(challenger, id, claimId);
        uint256 g2 = challengeAs(challenger2, id, claimId);
        playMarketGame(g1, falseTrace(id, INPUT, HALT, 1), honestFor(INPUT));
        // g2 is still live in the game contract; anyone closes it.
        vm.expectEmit(address(market));
        emit GameClosed(g2, claimId, challenger2, CHALLENGER_BOND + stake());
        market.closeGame(g2);
        assertEq(market.withdrawable(challenger2), CHALLENGER_BOND + 2 * stake());
        assertEq(uint256(game.status(g2)), uint256(IDisputeGame.Status.Cancelled));
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GameNotOpen.selector, g2));
        market.closeGame(g2);
    }

    function test_voidedClaim_gameEndingLaterOnlyCloses() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalse(submitter, id, HALT);
        uint256 g1 = challengeAs(challenger, id, claimId);
        uint256 g2 = challengeAs(challenger2, id, claimId);
        playMarketGame(g1, falseTrace(id, INPUT, HALT, 1), honestFor(INPUT));
        // g2 ends on time (the submitter never dissected) after the void: bond and stake, no bounty.
        vm.warp(block.timestamp + CLOCK + 1);
        vm.expectEmit(address(market));
        emit GameClosed(g2, claimId, challenger2, CHALLENGER_BOND + stake());
        game.timeout(g2);
        assertEq(market.withdrawable(challenger2), CHALLENGER_BOND + 2 * stake());
        assertEq(market.totalBurned(), burnOf(SUBMITTER_BOND));
    }

    function test_closeGame_reverts() public {
        (uint256 id, uint256 claimId) = claimed();
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GameNotOpen.selector, 1));
        market.closeGame(1);
        uint256 g = challengeAs(challenger, id, claimId);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotVoided.selector, claimId));
        market.closeGame(g);
    }

    function test_onGameEnded_onlyFromDisputeGame() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotDisputeGame.selector, address(this)));
        market.onGameEnded(1, true);
    }

    function test_onGameEnded_revertsForUnknownGame() public {
        vm.prank(address(game));
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GameNotOpen.selector, 42));
        market.onGameEnded(42, true);
    }

    /// Many parallel games settle one by one; finalize does not loop over them.
    function test_manyParallelGames_boundedSettlement() public {
        uint256 n = 40;
        (uint256 id, uint256 claimId) = claimedWithStake(n);
        uint256[] memory gs = challengeMany_(id, claimId, n, "challenger ");
        // The honest submitter dissects each game; every challenger then times out.
        bytes32[] memory pts = finalPoints(INPUT);
        for (uint256 i = 0; i < n; ++i) {
            vm.prank(submitter);
            game.dissect(gs[i], pts);
        }
        vm.warp(block.timestamp + CLOCK + 1);
        uint256 maxGas;
        for (uint256 i = 0; i < n; ++i) {
            uint256 before = gasleft();
            game.timeout(gs[i]);
            uint256 used = before - gasleft();
            if (used > maxGas) maxGas = used;
        }
        assertLt(maxGas, 120_000);
        vm.warp(market.getClaim(claimId).challengeDeadline);
        uint256 g0 = gasleft();
        market.finalize(claimId);
        assertLt(g0 - gasleft(), 150_000);
        // Each game: the dissection and the timeout were the defender's transactions.
        assertEq(market.withdrawable(submitter), n * defenderPayout(2) + cut() + claimValue(HALT, n));
    }

    /// Every id argument: unknown requests, claims and games revert with a clear error.
    function testFuzz_unknownIdsRevert(uint256 requestId, uint256 claimId, uint256 gameId) public {
        (uint256 id, uint256 claim) = claimed();
        vm.assume(requestId != id && requestId != 0 && gameId != 0 && claimId != claim);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, requestId));
        market.refund(requestId);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, requestId));
        market.cancel(requestId);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, 0, claimId));
        market.finalize(claimId);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, 0, claimId));
        market.release(claimId);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, requestId, claim));
        market.challenge{value: CHALLENGER_BOND}(requestId, claim);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, id, claimId));
        market.challenge{value: CHALLENGER_BOND}(id, claimId);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GameNotOpen.selector, gameId));
        market.closeGame(gameId);
    }

    // ---------------------------------------------------------------------------------------------
    // withdraw
    // ---------------------------------------------------------------------------------------------

    function settledOnce() internal returns (uint256 amount) {
        (, uint256 claimId) = claimed();
        vm.warp(block.timestamp + WINDOW);
        market.finalize(claimId);
        amount = market.withdrawable(submitter);
    }

    function test_withdraw_paysOut() public {
        uint256 amount = settledOnce();
        uint256 before = submitter.balance;
        vm.expectEmit(address(market));
        emit Withdrawn(submitter, submitter, amount);
        vm.prank(submitter);
        market.withdraw();
        assertEq(submitter.balance - before, amount);
        assertEq(market.withdrawable(submitter), 0);
        vm.prank(submitter);
        vm.expectRevert(InferenceMarket.NothingToWithdraw.selector);
        market.withdraw();
    }

    function test_withdrawTo_paysAnotherAddress() public {
        uint256 amount = settledOnce();
        address payable to = payable(makeAddr("cold wallet"));
        vm.prank(submitter);
        market.withdrawTo(to);
        assertEq(to.balance, amount);
    }

    function test_withdraw_revertsWhenReceiverRefuses() public {
        Refuser r = new Refuser();
        vm.deal(address(r), FEE);
        vm.prank(address(r));
        uint256 id = market.request{value: FEE}(modelId, INPUT);
        vm.warp(block.timestamp + TIMEOUT);
        market.refund(id);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.TransferFailed.selector, address(r), FEE));
        r.withdraw(market);
        assertEq(market.withdrawable(address(r)), FEE);
    }

    function test_withdraw_reentrancyIsBlocked() public {
        Reenterer r = new Reenterer(market);
        vm.deal(address(r), FEE);
        vm.prank(address(r));
        uint256 id = market.request{value: FEE}(modelId, INPUT);
        vm.warp(block.timestamp + TIMEOUT);
        market.refund(id);
        uint256 marketBefore = address(market).balance;
        r.withdraw();
        assertFalse(r.reentered());
        assertEq(
            keccak256(r.reentryError()),
            keccak256(abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector))
        );
        assertEq(address(r).balance, FEE);
        assertEq(marketBefore - address(market).balance, FEE);
    }

    // ---------------------------------------------------------------------------------------------
    // force-sent ETH and views
    // ---------------------------------------------------------------------------------------------

    /// ETH forced into the market (selfdestruct, coinbase) is never paid out as fees or revenue.
    function test_forceSentEth_isIgnored() public {
        (, uint256 claimId) = claimed();
        vm.deal(address(market), address(market).balance + 7 ether);
        vm.deal(address(token), 3 ether);
        vm.warp(block.timestamp + WINDOW);
        market.finalize(claimId);
        assertEq(market.withdrawable(submitter), cut() + claimValue(HALT, STAKED_GAMES));
        assertEq(token.totalDeposited(), FEE - cut());
        vm.prank(submitter);
        market.withdraw();
        assertEq(address(market).balance, 7 ether);
    }

    function test_getRequest_revertsForUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, 1));
        market.getRequest(1);
    }

    function test_result_notFinalizedUntilSettled() public {
        (uint256 id,) = claimed();
        (bool fin, bytes32 mid,, bytes32 out) = market.result(id);
        assertFalse(fin);
        assertEq(mid, modelId);
        assertEq(out, bytes32(0));
        (fin,,,) = market.result(999);
        assertFalse(fin);
    }
}
