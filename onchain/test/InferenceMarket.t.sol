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
        bytes output
    );
    event Challenged(
        uint256 indexed requestId, uint256 indexed claimId, uint256 indexed gameId, address challenger
    );
    event GameSettled(
        uint256 indexed gameId,
        uint256 indexed claimId,
        bool defenderWon,
        address winner,
        uint256 payout,
        uint256 burned
    );
    event GameClosed(uint256 indexed gameId, uint256 indexed claimId, address challenger);
    event ClaimVoided(uint256 indexed requestId, uint256 indexed claimId, uint256 indexed gameId);
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
        assertEq(uint256(market.burnBps()), uint256(BURN_BPS));
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
        cfg.challengeWindow = 0;
        expectBadConfig(cfg, "challengeWindow");
        cfg.challengeWindow = 365 days + 1;
        expectBadConfig(cfg, "challengeWindow");
        cfg = defaultConfig();
        cfg.requestTimeout = 0;
        expectBadConfig(cfg, "requestTimeout");
        cfg.requestTimeout = 365 days + 1;
        expectBadConfig(cfg, "requestTimeout");
        cfg = defaultConfig();
        cfg.submitterBond = 0;
        expectBadConfig(cfg, "submitterBond");
        cfg = defaultConfig();
        cfg.challengerBond = 0;
        expectBadConfig(cfg, "challengerBond");
        cfg = defaultConfig();
        cfg.burnBps = 0;
        expectBadConfig(cfg, "burnBps");
        cfg.burnBps = 10_001;
        expectBadConfig(cfg, "burnBps");
        cfg = defaultConfig();
        cfg.arity = 7;
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ArityOutOfRange.selector, 7));
        new InferenceMarket(cfg);
        cfg = defaultConfig();
        cfg.clockBudget = 0;
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClockOutOfRange.selector, 0));
        new InferenceMarket(cfg);
    }

    function testFuzz_constructor_acceptsParametersInRange(
        uint8 arity,
        uint64 clock,
        uint64 window,
        uint64 timeout,
        uint96 sb,
        uint96 cb,
        uint16 burn
    ) public {
        InferenceMarket.Config memory cfg = defaultConfig();
        cfg.arity = bound(arity, 8, 32);
        cfg.clockBudget = uint64(bound(clock, 1, type(uint40).max));
        cfg.challengeWindow = uint64(bound(window, 1, 365 days));
        cfg.requestTimeout = uint64(bound(timeout, 1, 365 days));
        cfg.submitterBond = uint96(bound(sb, 1, type(uint96).max));
        cfg.challengerBond = uint96(bound(cb, 1, type(uint96).max));
        cfg.burnBps = uint16(bound(burn, 1, 10_000));
        InferenceMarket m = new InferenceMarket(cfg);
        assertEq(m.disputeGame().arity(), cfg.arity);
        assertEq(uint256(m.burnBps()), uint256(cfg.burnBps));
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
        assertEq(r.activeClaim, 0);
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
    // refund
    // ---------------------------------------------------------------------------------------------

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

    function test_refund_revertsWhileClaimed() public {
        (uint256 id,) = claimed();
        vm.warp(block.timestamp + TIMEOUT);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Claimed
            )
        );
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
    // submit
    // ---------------------------------------------------------------------------------------------

    function test_submit_recordsClaim() public {
        uint256 id = requestAs(requester, INPUT);
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint64 deadline = uint64(block.timestamp) + WINDOW;
        vm.expectEmit(address(market));
        emit Submitted(id, 1, submitter, finalState, steps, deadline, output);
        vm.prank(submitter);
        uint256 claimId = market.submit{value: SUBMITTER_BOND}(id, output, finalState, steps, proof);
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
        InferenceMarket.Request memory r = market.getRequest(id);
        assertEq(uint256(r.status), uint256(InferenceMarket.RequestStatus.Claimed));
        assertEq(r.activeClaim, claimId);
        assertEq(address(market).balance, FEE + SUBMITTER_BOND);
    }

    function test_submit_revertsForUnknownRequest() public {
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, 5));
        market.submit{value: SUBMITTER_BOND}(5, output, finalState, steps, proof);
    }

    function test_submit_revertsWhenAlreadyClaimed() public {
        (uint256 id,) = claimed();
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        vm.prank(submitter2);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Claimed
            )
        );
        market.submit{value: SUBMITTER_BOND}(id, output, finalState, steps, proof);
    }

    function test_submit_revertsAfterDeadline() public {
        uint256 id = requestAs(requester, INPUT);
        uint64 deadline = uint64(block.timestamp) + TIMEOUT;
        vm.warp(deadline);
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.RequestExpired.selector, id, deadline));
        market.submit{value: SUBMITTER_BOND}(id, output, finalState, steps, proof);
    }

    function testFuzz_submit_revertsForWrongBond(uint96 bond) public {
        vm.assume(bond != SUBMITTER_BOND);
        uint256 id = requestAs(requester, INPUT);
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        vm.deal(submitter, bond);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongPayment.selector, bond, SUBMITTER_BOND));
        market.submit{value: bond}(id, output, finalState, steps, proof);
    }

    function testFuzz_submit_stepRange(uint64 steps) public {
        uint256 id = requestAs(requester, INPUT);
        bytes32 seed = seedFor(INPUT);
        bytes memory output = modelState.outputOf(seed);
        bytes32 finalState = traceVm.stateHash(seed, steps, steps);
        vm.prank(submitter);
        if (steps == 0 || steps > MAX_STEPS) {
            vm.expectRevert(
                abi.encodeWithSelector(InferenceMarket.StepsOutOfRange.selector, steps, MAX_STEPS)
            );
            market.submit{value: SUBMITTER_BOND}(id, output, finalState, steps, abi.encode(seed));
        } else {
            market.submit{value: SUBMITTER_BOND}(id, output, finalState, steps, abi.encode(seed));
        }
    }

    function testFuzz_submit_revertsForWrongOutputLength(uint8 len) public {
        vm.assume(len != 32);
        uint256 id = requestAs(requester, INPUT);
        (, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.OutputLength.selector, len, 32));
        market.submit{value: SUBMITTER_BOND}(id, new bytes(len), finalState, steps, proof);
    }

    function test_submit_revertsForTooLongOutputProof() public {
        uint256 id = requestAs(requester, INPUT);
        (bytes memory output, bytes32 finalState, uint64 steps,) = honestResult(INPUT);
        uint256 len = market.MAX_OUTPUT_PROOF_BYTES() + 1;
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.OutputProofTooLong.selector, len));
        market.submit{value: SUBMITTER_BOND}(id, output, finalState, steps, new bytes(len));
    }

    function test_submit_revertsForOutputMismatch() public {
        uint256 id = requestAs(requester, INPUT);
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        output[0] ^= 0x01;
        vm.prank(submitter);
        vm.expectRevert(InferenceMarket.OutputMismatch.selector);
        market.submit{value: SUBMITTER_BOND}(id, output, finalState, steps, proof);
        output[0] ^= 0x01;
        vm.prank(submitter);
        vm.expectRevert(InferenceMarket.OutputMismatch.selector);
        market.submit{value: SUBMITTER_BOND}(id, output, bytes32(uint256(finalState) ^ 1), steps, proof);
        vm.prank(submitter);
        vm.expectRevert(InferenceMarket.OutputMismatch.selector);
        market.submit{value: SUBMITTER_BOND}(id, output, finalState, steps - 1, proof);
    }

    // ---------------------------------------------------------------------------------------------
    // challenge
    // ---------------------------------------------------------------------------------------------

    function test_challenge_opensGame() public {
        (uint256 id, uint256 claimId) = claimed();
        vm.expectEmit(address(market));
        emit Challenged(id, claimId, 1, challenger);
        uint256 g = challengeAs(challenger, id, claimId);
        assertEq(g, 1);
        InferenceMarket.GameRef memory ref = market.getGame(g);
        assertEq(uint256(ref.claimId), claimId);
        assertEq(ref.challenger, challenger);
        assertFalse(ref.settled);
        assertTrue(market.hasChallenged(claimId, challenger));
        assertEq(uint256(market.getClaim(claimId).openGames), 1);
        DisputeGame.Game memory dg = game.game(g);
        assertEq(dg.defender, submitter);
        assertEq(dg.challenger, challenger);
        assertEq(uint256(dg.hi), uint256(HALT));
        InferenceMarket.Request memory r = market.getRequest(id);
        assertEq(dg.points, keccak256(abi.encodePacked(r.initialState, market.getClaim(claimId).finalState)));
        assertEq(address(market).balance, FEE + SUBMITTER_BOND + CHALLENGER_BOND);
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
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, id, claimId + 1));
        market.challenge{value: CHALLENGER_BOND}(id, claimId + 1);
    }

    function test_challenge_revertsForOpenRequest() public {
        uint256 id = requestAs(requester, INPUT);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, id, 0));
        market.challenge{value: CHALLENGER_BOND}(id, 0);
    }

    function test_challenge_revertsForUnknownRequest() public {
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, 77));
        market.challenge{value: CHALLENGER_BOND}(77, 1);
    }

    function test_challenge_revertsAfterWindow() public {
        (uint256 id, uint256 claimId) = claimed();
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        vm.warp(deadline);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ChallengeWindowClosed.selector, deadline));
        market.challenge{value: CHALLENGER_BOND}(id, claimId);
    }

    function testFuzz_challenge_revertsForWrongBond(uint96 bond) public {
        vm.assume(bond != CHALLENGER_BOND);
        (uint256 id, uint256 claimId) = claimed();
        vm.deal(challenger, bond);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongPayment.selector, bond, CHALLENGER_BOND));
        market.challenge{value: bond}(id, claimId);
    }

    function test_challenge_revertsForSelfChallenge() public {
        (uint256 id, uint256 claimId) = claimed();
        vm.deal(submitter, 10 ether);
        vm.prank(submitter);
        vm.expectRevert(InferenceMarket.SelfChallenge.selector);
        market.challenge{value: CHALLENGER_BOND}(id, claimId);
    }

    function test_challenge_revertsForSecondChallengeBySameAccount() public {
        (uint256 id, uint256 claimId) = claimed();
        challengeAs(challenger, id, claimId);
        vm.prank(challenger);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.AlreadyChallenged.selector, claimId, challenger)
        );
        market.challenge{value: CHALLENGER_BOND}(id, claimId);
    }

    /// Bond theft by claim swapping: a liar voids its own claim with a Sybil game and resubmits; a
    /// challenge aimed at the old claim must not land on the new one.
    function test_challenge_cannotLandOnAReplacementClaim() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 oldClaim = submitFalse(submitter, id, HALT);
        uint256 sybilGame = challengeAs(challenger2, id, oldClaim);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(sybilGame); // the liar lets its Sybil win
        uint256 newClaim = submitHonest(submitter, id, INPUT);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, id, oldClaim));
        market.challenge{value: CHALLENGER_BOND}(id, oldClaim);
        assertEq(uint256(market.getClaim(newClaim).openGames), 0);
    }

    // ---------------------------------------------------------------------------------------------
    // finalize
    // ---------------------------------------------------------------------------------------------

    function test_finalize_unchallengedPaysSubmitterAndRevenue() public {
        (uint256 id, uint256 claimId) = claimed();
        vm.warp(block.timestamp + WINDOW);
        uint256 cut = (uint256(FEE) * SHARE_BPS) / 10_000;
        vm.expectEmit(address(market));
        emit Finalized(id, claimId, submitter, cut, FEE - cut);
        vm.prank(challenger); // anyone
        market.finalize(id);
        assertEq(market.withdrawable(submitter), cut + SUBMITTER_BOND);
        assertEq(token.totalDeposited(), FEE - cut);
        assertEq(address(token).balance, FEE - cut);
        assertEq(address(market).balance, cut + SUBMITTER_BOND);
        assertEq(uint256(market.getRequest(id).status), uint256(InferenceMarket.RequestStatus.Finalized));
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Finalized));
        (bool fin,, bytes32 inputHash, bytes32 outputHash) = market.result(id);
        assertTrue(fin);
        assertEq(inputHash, keccak256(INPUT));
        (bytes memory output,,,) = honestResult(INPUT);
        assertEq(outputHash, keccak256(output));
    }

    function test_finalize_revertsDuringWindow() public {
        (uint256 id, uint256 claimId) = claimed();
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        vm.warp(deadline - 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ChallengeWindowOpen.selector, deadline));
        market.finalize(id);
    }

    function test_finalize_revertsWithOpenGames() public {
        (uint256 id, uint256 claimId) = claimed();
        challengeAs(challenger, id, claimId);
        challengeAs(challenger2, id, claimId);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GamesOpen.selector, 2));
        market.finalize(id);
    }

    function test_finalize_revertsForOpenOrUnknownRequest() public {
        uint256 id = requestAs(requester, INPUT);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Open
            )
        );
        market.finalize(id);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, 9));
        market.finalize(9);
    }

    function test_finalize_revertsTwice() public {
        (uint256 id,) = claimed();
        vm.warp(block.timestamp + WINDOW);
        market.finalize(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Finalized
            )
        );
        market.finalize(id);
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
        vm.prank(submitter);
        market.submit{value: SUBMITTER_BOND}(rid, output, finalState, HALT, abi.encode(seed));
        vm.warp(block.timestamp + WINDOW);
        market.finalize(rid);
        uint256 cut = (uint256(fee) * shareBps) / 10_000;
        assertEq(market.withdrawable(submitter), cut + SUBMITTER_BOND);
        assertEq(t2.totalDeposited(), fee - cut);
        assertEq(address(t2).balance, fee - cut);
    }

    // ---------------------------------------------------------------------------------------------
    // games and their settlement
    // ---------------------------------------------------------------------------------------------

    function test_honestSubmitterWinsGame_getsChallengerBondMinusBurn() public {
        (uint256 id, uint256 claimId) = claimed();
        uint256 g = challengeAs(challenger, id, claimId);
        uint256 burnBefore = address(0).balance;
        Outcome memory o = playMarketGame(g, honestFor(INPUT), lyingTrace(seedFor(INPUT), HALT, 500, "c"));
        assertTrue(o.defenderWon);
        uint256 burned = burnOf(CHALLENGER_BOND);
        assertEq(market.withdrawable(submitter), CHALLENGER_BOND - burned);
        assertEq(market.totalBurned(), burned);
        assertEq(address(0).balance - burnBefore, burned);
        assertTrue(market.getGame(g).settled);
        assertEq(uint256(market.getClaim(claimId).openGames), 0);
        vm.warp(block.timestamp + WINDOW);
        market.finalize(id);
        uint256 cut = (uint256(FEE) * SHARE_BPS) / 10_000;
        assertEq(market.withdrawable(submitter), CHALLENGER_BOND - burned + cut + SUBMITTER_BOND);
    }

    function test_finalize_waitsForEveryGame() public {
        (uint256 id, uint256 claimId) = claimed();
        uint256 g1 = challengeAs(challenger, id, claimId);
        playMarketGame(g1, honestFor(INPUT), lyingTrace(seedFor(INPUT), HALT, 10, "c"));
        vm.warp(market.getClaim(claimId).challengeDeadline - 1);
        uint256 g2 = challengeAs(challenger2, id, claimId); // in the window's last second
        vm.warp(block.timestamp + 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GamesOpen.selector, 1));
        market.finalize(id);
        playMarketGame(g2, honestFor(INPUT), lyingTrace(seedFor(INPUT), HALT, 900, "c2"));
        market.finalize(id);
        assertEq(uint256(market.getRequest(id).status), uint256(InferenceMarket.RequestStatus.Finalized));
    }

    function test_challengerWins_voidsClaimAndReopensRequest() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalse(submitter, id, HALT);
        uint256 g = challengeAs(challenger, id, claimId);
        uint256 burned = burnOf(SUBMITTER_BOND);
        Outcome memory o = playMarketGame(g, falseTrace(id, INPUT, HALT, 321), honestFor(INPUT));
        assertFalse(o.defenderWon);
        assertEq(uint256(o.decisiveStep), 320);
        assertEq(market.withdrawable(challenger), CHALLENGER_BOND + SUBMITTER_BOND - burned);
        assertEq(market.withdrawable(submitter), 0);
        assertEq(market.totalBurned(), burned);
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Voided));
        InferenceMarket.Request memory r = market.getRequest(id);
        assertEq(uint256(r.status), uint256(InferenceMarket.RequestStatus.Open));
        assertEq(r.activeClaim, 0);
        // Another submitter serves the request.
        uint256 claim2 = submitHonest(submitter2, id, INPUT);
        vm.warp(block.timestamp + WINDOW);
        market.finalize(id);
        uint256 cut = (uint256(FEE) * SHARE_BPS) / 10_000;
        assertEq(market.withdrawable(submitter2), cut + SUBMITTER_BOND);
        assertEq(market.getRequest(id).activeClaim, claim2);
    }

    function test_wrongStepCount_voided() public {
        uint256 id = requestAs(requester, INPUT);
        // The honest output, but halted at HALT + 5 steps.
        bytes32 seed = seedFor(INPUT);
        uint64 n = HALT + 5;
        bytes memory output = modelState.outputOf(seed);
        bytes32 finalState = traceVm.stateHash(seed, n, n);
        vm.prank(submitter);
        uint256 claimId = market.submit{value: SUBMITTER_BOND}(id, output, finalState, n, abi.encode(seed));
        uint256 g = challengeAs(challenger, id, claimId);
        Trace memory liar = withEnd(honestTrace(seed, HALT), n, traceVm.stateHash(seed, n, n));
        Outcome memory o = playMarketGame(g, liar, honestFor(INPUT));
        assertFalse(o.defenderWon);
        assertEq(uint256(o.decisiveStep), n - 1);
    }

    function test_voidedClaim_otherGamesClosedWithFullRefund() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalse(submitter, id, HALT);
        uint256 g1 = challengeAs(challenger, id, claimId);
        uint256 g2 = challengeAs(challenger2, id, claimId);
        playMarketGame(g1, falseTrace(id, INPUT, HALT, 1), honestFor(INPUT));
        // g2 is still live in the game contract; anyone closes it.
        vm.expectEmit(address(market));
        emit GameClosed(g2, claimId, challenger2);
        market.closeGame(g2);
        assertEq(market.withdrawable(challenger2), CHALLENGER_BOND);
        assertEq(uint256(game.status(g2)), uint256(IDisputeGame.Status.Cancelled));
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GameNotOpen.selector, g2));
        market.closeGame(g2);
    }

    function test_voidedClaim_gameEndingLaterOnlyRefunds() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalse(submitter, id, HALT);
        uint256 g1 = challengeAs(challenger, id, claimId);
        uint256 g2 = challengeAs(challenger2, id, claimId);
        playMarketGame(g1, falseTrace(id, INPUT, HALT, 1), honestFor(INPUT));
        // g2 ends on time (the submitter never dissected) after the void: only the bond comes back.
        vm.warp(block.timestamp + CLOCK + 1);
        vm.expectEmit(address(market));
        emit GameClosed(g2, claimId, challenger2);
        game.timeout(g2);
        assertEq(market.withdrawable(challenger2), CHALLENGER_BOND);
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

    /// Self-challenge through a Sybil costs the burn share of the submitter's bond.
    function test_selfChallengeCostsTheBurnShare() public {
        uint256 id = requestAs(requester, INPUT);
        uint256 claimId = submitFalse(submitter, id, HALT);
        uint256 g = challengeAs(challenger2, id, claimId); // challenger2 is the submitter's Sybil
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(g);
        uint256 back = market.withdrawable(challenger2);
        assertEq(back, CHALLENGER_BOND + SUBMITTER_BOND - burnOf(SUBMITTER_BOND));
        // Together, submitter and Sybil paid SUBMITTER_BOND + CHALLENGER_BOND and got back less.
        assertEq(SUBMITTER_BOND + CHALLENGER_BOND - back, burnOf(SUBMITTER_BOND));
    }

    /// Many parallel games settle one by one; finalize does not loop over them.
    function test_manyParallelGames_boundedSettlement() public {
        (uint256 id, uint256 claimId) = claimed();
        uint256 n = 40;
        uint256[] memory gs = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            address c = makeAddr(string.concat("challenger ", vm.toString(i)));
            vm.deal(c, 1 ether);
            gs[i] = challengeAs(c, id, claimId);
        }
        // The honest submitter dissects each game; every challenger then times out.
        bytes32[] memory pts = new bytes32[](ARITY + 1);
        bytes32 seed = seedFor(INPUT);
        for (uint256 j = 0; j <= ARITY; ++j) {
            pts[j] = traceVm.stateHash(seed, game.boundary(0, HALT, j), HALT);
        }
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
        assertLt(maxGas, 100_000);
        vm.warp(block.timestamp + WINDOW);
        uint256 g0 = gasleft();
        market.finalize(id);
        assertLt(g0 - gasleft(), 150_000);
        uint256 perGame = CHALLENGER_BOND - burnOf(CHALLENGER_BOND);
        uint256 cut = (uint256(FEE) * SHARE_BPS) / 10_000;
        assertEq(market.withdrawable(submitter), n * perGame + cut + SUBMITTER_BOND);
    }

    /// Delay attack: Sybil challengers open games in the window's last second and never move. An honest
    /// submitter that answers each game at once settles no later than the window plus one clock.
    function testFuzz_parallelGamesDelaySettlementByAtMostOneClock(uint8 sybils, uint32 late) public {
        uint256 n = bound(sybils, 1, 12);
        (uint256 id, uint256 claimId) = claimed();
        uint64 deadline = market.getClaim(claimId).challengeDeadline;
        vm.warp(deadline - 1 - bound(late, 0, WINDOW - 1));
        uint256[] memory gs = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            address c = makeAddr(string.concat("sybil ", vm.toString(i)));
            vm.deal(c, 1 ether);
            gs[i] = challengeAs(c, id, claimId);
        }
        bytes32 seed = seedFor(INPUT);
        bytes32[] memory pts = new bytes32[](ARITY + 1);
        for (uint256 j = 0; j <= ARITY; ++j) {
            pts[j] = traceVm.stateHash(seed, game.boundary(0, HALT, j), HALT);
        }
        for (uint256 i = 0; i < n; ++i) {
            vm.prank(submitter);
            game.dissect(gs[i], pts);
        }
        uint256 settleBy = uint256(deadline) + CLOCK;
        vm.warp(settleBy);
        for (uint256 i = 0; i < n; ++i) {
            game.timeout(gs[i]);
        }
        market.finalize(id);
        assertEq(uint256(market.getRequest(id).status), uint256(InferenceMarket.RequestStatus.Finalized));
        uint256 perGame = CHALLENGER_BOND - burnOf(CHALLENGER_BOND);
        uint256 cut = (uint256(FEE) * SHARE_BPS) / 10_000;
        assertEq(market.withdrawable(submitter), n * perGame + cut + SUBMITTER_BOND);
    }

    /// Every id argument: unknown requests, claims and games revert with a clear error.
    function testFuzz_unknownIdsRevert(uint256 requestId, uint256 claimId, uint256 gameId) public {
        (uint256 id, uint256 claim) = claimed();
        vm.assume(requestId != id && gameId != 0);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, requestId));
        market.finalize(requestId);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, requestId));
        market.refund(requestId);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownRequest.selector, requestId));
        market.challenge{value: CHALLENGER_BOND}(requestId, claimId);
        if (claimId != claim) {
            vm.prank(challenger);
            vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimNotPending.selector, id, claimId));
            market.challenge{value: CHALLENGER_BOND}(id, claimId);
        }
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GameNotOpen.selector, gameId));
        market.closeGame(gameId);
    }

    // ---------------------------------------------------------------------------------------------
    // withdraw
    // ---------------------------------------------------------------------------------------------

    function test_withdraw_paysOut() public {
        (uint256 id,) = claimed();
        vm.warp(block.timestamp + WINDOW);
        market.finalize(id);
        uint256 amount = market.withdrawable(submitter);
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
        (uint256 id,) = claimed();
        vm.warp(block.timestamp + WINDOW);
        market.finalize(id);
        uint256 amount = market.withdrawable(submitter);
        address payable to = payable(makeAddr("cold wallet"));
        vm.prank(submitter);
        market.withdrawTo(to);
        assertEq(to.balance, amount);
    }

    function test_withdraw_revertsWhenReceiverRefuses() public {
        uint256 id = requestAs(requester, INPUT);
        vm.warp(block.timestamp + TIMEOUT);
        market.refund(id);
        // Move the credit to a contract without receive by letting it be the requester of another run.
        Refuser r = new Refuser();
        vm.deal(address(r), FEE);
        vm.prank(address(r));
        uint256 id2 = market.request{value: FEE}(modelId, INPUT);
        vm.warp(block.timestamp + TIMEOUT);
        market.refund(id2);
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
        (uint256 id,) = claimed();
        vm.deal(address(market), address(market).balance + 7 ether);
        vm.deal(address(token), 3 ether);
        vm.warp(block.timestamp + WINDOW);
        market.finalize(id);
        uint256 cut = (uint256(FEE) * SHARE_BPS) / 10_000;
        assertEq(market.withdrawable(submitter), cut + SUBMITTER_BOND);
        assertEq(token.totalDeposited(), FEE - cut);
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
