// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {OracleFixture} from "./utils/OracleFixture.sol";
import {Consumer, GasProbe, EthRefuser, WithdrawReenterer} from "./utils/Consumers.sol";
import {InferenceMarket} from "../contracts/InferenceMarket.sol";
import {InferenceOracle} from "../contracts/InferenceOracle.sol";
import {ModelRegistry} from "../contracts/ModelRegistry.sol";

/// @notice Unit tests of every InferenceOracle function and revert path: requests and quotes, delivery
/// to consumers that behave and to consumers that revert, burn all their gas, return-bomb, re-enter or
/// chain requests, deliverers that send too little gas, cancellations, refunds, withdrawals, and the
/// books after each.
contract InferenceOracleTest is OracleFixture {
    bytes internal constant INPUT = "an input of the model";
    bytes32 internal constant NOPE = "nope";
    /// Gas a callee spends before its first statement (dispatch and argument decoding).
    uint256 internal constant ENTRY_SLACK = 1_000;

    Consumer internal consumer;
    address[] internal accounts;

    event CallbackRequested(
        uint256 indexed requestId,
        bytes32 indexed modelId,
        address indexed consumer,
        uint64 gasLimit,
        uint256 fee,
        uint256 reward,
        address refundTo
    );
    event Delivered(
        uint256 indexed requestId,
        address indexed consumer,
        address indexed deliverer,
        bool callbackOk,
        uint256 reward
    );
    event Reclaimed(
        uint256 indexed requestId, address indexed refundTo, uint256 fee, uint256 reward, bool cancelled
    );
    event Withdrawn(address indexed account, address indexed to, uint256 amount);

    function setUp() public {
        setUpOracle();
        consumer = new Consumer(oracle);
        vm.deal(address(this), 1000 ether);
        accounts.push(address(consumer));
        accounts.push(deliverer);
        accounts.push(requester);
        accounts.push(address(this));
    }

    function requestVia(Consumer c, uint64 gasLimit) internal returns (uint256) {
        return c.request{value: FEE + rewardOf(gasLimit)}(modelId, INPUT, gasLimit);
    }

    function deliverAs(address who, uint256 id, bytes memory output) internal returns (bool) {
        vm.prank(who);
        return oracle.deliver(id, output);
    }

    function books() internal {
        assertOracleBooks(accounts);
    }

    // ---------------------------------------------------------------------------------------------
    // constructor, receive, quote
    // ---------------------------------------------------------------------------------------------

    function test_constructor() public {
        assertEq(address(oracle.market()), address(market));
        assertEq(address(oracle.registry()), address(registry));
        assertEq(oracle.callbackGasPrice(), PRICE);
        assertEq(uint256(oracle.MIN_GAS_LIMIT()), 20_000);
        assertEq(uint256(oracle.MAX_GAS_LIMIT()), 2_000_000);
        assertEq(oracle.rewardFor(GAS), rewardOf(GAS));
    }

    function test_constructor_rejectsBadConfig() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.BadConfig.selector, "market"));
        new InferenceOracle(InferenceMarket(payable(address(0))), PRICE);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.BadConfig.selector, "callbackGasPrice"));
        new InferenceOracle(market, uint256(type(uint128).max) + 1);
        // The largest price is accepted and its largest reward does not overflow.
        InferenceOracle big = new InferenceOracle(market, type(uint128).max);
        assertEq(big.rewardFor(big.MAX_GAS_LIMIT()), uint256(type(uint128).max) * 2_000_000);
    }

    function test_receive_refusesAnyoneButTheMarket() public {
        (bool ok, bytes memory ret) = address(oracle).call{value: 1}("");
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(InferenceOracle.NotMarket.selector, address(this)));
    }

    function test_quote_isTheCurrentFeePlusTheReward() public {
        assertEq(oracle.quote(modelId, GAS), FEE + rewardOf(GAS));
        vm.prank(publisher);
        registry.setFee(modelId, 3 ether);
        assertEq(oracle.quote(modelId, GAS), 3 ether + rewardOf(GAS));
    }

    function test_quote_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, NOPE));
        oracle.quote(NOPE, GAS);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.GasLimitOutOfRange.selector, 19_999, 20_000, 2e6)
        );
        oracle.quote(modelId, 19_999);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.GasLimitOutOfRange.selector, 2_000_001, 20_000, 2e6)
        );
        oracle.quote(modelId, 2_000_001);
    }

    // ---------------------------------------------------------------------------------------------
    // request
    // ---------------------------------------------------------------------------------------------

    function test_request_feeToTheMarketRewardHere() public {
        vm.expectEmit(address(oracle));
        emit CallbackRequested(1, modelId, address(consumer), GAS, FEE, rewardOf(GAS), address(consumer));
        uint256 id = requestVia(consumer, GAS);
        assertEq(id, 1);
        InferenceMarket.Request memory mr = market.getRequest(id);
        assertEq(mr.requester, address(oracle));
        assertEq(mr.inputHash, keccak256(INPUT));
        assertEq(address(market).balance, FEE);
        assertEq(address(oracle).balance, rewardOf(GAS));
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(r.consumer, address(consumer));
        assertEq(uint256(r.gasLimit), uint256(GAS));
        assertEq(uint256(r.status), uint256(InferenceOracle.Status.Pending));
        assertFalse(r.callbackOk);
        assertEq(oracle.refundRecipient(id), address(consumer));
        books();
    }

    function testFuzz_request_exactPaymentOnly(uint256 paid) public {
        uint256 price = FEE + rewardOf(GAS);
        paid = bound(paid, 0, 10 ether);
        vm.assume(paid != price);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.WrongPayment.selector, paid, price));
        consumer.request{value: paid}(modelId, INPUT, GAS);
    }

    function testFuzz_request_gasLimitBounds(uint64 gasLimit) public {
        if (gasLimit < 20_000 || gasLimit > 2_000_000) {
            vm.expectRevert(
                abi.encodeWithSelector(InferenceOracle.GasLimitOutOfRange.selector, gasLimit, 20_000, 2e6)
            );
            consumer.request{value: FEE}(modelId, INPUT, gasLimit);
            return;
        }
        uint256 id = requestVia(consumer, gasLimit);
        assertEq(uint256(oracle.getRequest(id).gasLimit), uint256(gasLimit));
        assertEq(address(oracle).balance, rewardOf(gasLimit));
        books();
    }

    function test_request_marketErrorsPassThrough() public {
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, NOPE));
        consumer.request{value: FEE + rewardOf(GAS)}(NOPE, INPUT, GAS);
        bytes memory long = new bytes(INPUT_SIZE + 1);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.InputTooLong.selector, INPUT_SIZE + 1, INPUT_SIZE)
        );
        consumer.request{value: FEE + rewardOf(GAS)}(modelId, long, GAS);
    }

    function test_request_usesTheFeeAtRequestTime() public {
        vm.prank(publisher);
        registry.setFee(modelId, 0);
        uint256 id = consumer.request{value: rewardOf(GAS)}(modelId, INPUT, GAS);
        assertEq(uint256(market.getRequest(id).fee), 0);
        assertEq(address(market).balance, 0);
        books();
    }

    function test_requestWithRefundTo() public {
        vm.expectRevert(InferenceOracle.ZeroRefundAddress.selector);
        consumer.requestWithRefundTo{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS, address(0));
        vm.expectEmit(address(oracle));
        emit CallbackRequested(1, modelId, address(consumer), GAS, FEE, rewardOf(GAS), requester);
        uint256 id = consumer.requestWithRefundTo{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS, requester);
        assertEq(oracle.refundRecipient(id), requester);
        assertEq(oracle.getRequest(id).consumer, address(consumer));
        // Refunding to oneself needs no extra storage and reads the same.
        uint256 id2 =
            consumer.requestWithRefundTo{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS, address(consumer));
        assertEq(oracle.refundRecipient(id2), address(consumer));
        assertEq(oracle.refundRecipient(99), address(0));
    }

    function test_request_fromAnEOA() public {
        vm.prank(requester);
        uint256 id = oracle.request{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS);
        assertEq(oracle.getRequest(id).consumer, requester);
    }

    // ---------------------------------------------------------------------------------------------
    // deliver
    // ---------------------------------------------------------------------------------------------

    function test_deliver_callsBackWithTheOutputAndPaysTheDeliverer() public {
        uint256 id = requestVia(consumer, GAS);
        finalizeHonest(id, INPUT);
        bytes memory output = outputOf(INPUT);
        vm.expectEmit(address(oracle));
        emit Delivered(id, address(consumer), deliverer, true, rewardOf(GAS));
        assertTrue(deliverAs(deliverer, id, output));
        assertEq(consumer.calls(), 1);
        assertEq(consumer.lastRequestId(), id);
        assertEq(consumer.lastOutput(), output);
        // The callee got the whole limit (less its own dispatch), not a 63/64 share of something less.
        assertLte(consumer.gasAtEntry(), uint256(GAS));
        assertGte(consumer.gasAtEntry(), uint256(GAS) - ENTRY_SLACK);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(uint256(r.status), uint256(InferenceOracle.Status.Delivered));
        assertTrue(r.callbackOk);
        assertEq(oracle.withdrawable(deliverer), rewardOf(GAS));
        books();
        vm.expectEmit(address(oracle));
        emit Withdrawn(deliverer, deliverer, rewardOf(GAS));
        vm.prank(deliverer);
        oracle.withdraw();
        assertEq(deliverer.balance, rewardOf(GAS));
        assertEq(address(oracle).balance, 0);
        books();
    }

    function test_deliver_revertsForUnknownRequests() public {
        uint256 direct = requestAs(requester, INPUT); // made on the market, not through the oracle
        finalizeHonest(direct, INPUT);
        bytes memory output = outputOf(INPUT);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.UnknownRequest.selector, direct));
        oracle.deliver(direct, output);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.UnknownRequest.selector, 99));
        oracle.deliver(99, output);
    }

    function test_deliver_revertsBeforeFinalization() public {
        uint256 id = requestVia(consumer, GAS);
        bytes memory output = outputOf(INPUT);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinalized.selector, id));
        oracle.deliver(id, output);
        uint256 claimId = submitHonest(submitter, id, INPUT);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinalized.selector, id));
        oracle.deliver(id, output);
        // Past the window, but nobody called finalize yet: still the market's word that counts.
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinalized.selector, id));
        oracle.deliver(id, output);
        market.finalize(claimId);
        assertTrue(deliverAs(deliverer, id, output));
    }

    function test_deliver_voidedClaimDoesNotEndTheRequest() public {
        uint256 id = requestVia(consumer, GAS);
        voidFalse(id);
        bytes memory lie = falseOutputOf(id);
        bytes memory output = outputOf(INPUT);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinalized.selector, id));
        oracle.deliver(id, lie);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinalized.selector, id));
        oracle.deliver(id, output);
        // Another claim still finalizes the request; only its output is delivered.
        finalizeHonest(id, INPUT);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceOracle.WrongOutput.selector, id, keccak256(output), keccak256(lie)
            )
        );
        oracle.deliver(id, lie);
        assertTrue(deliverAs(deliverer, id, output));
        assertEq(consumer.lastOutput(), output);
    }

    function testFuzz_deliver_revertsForWrongOutput(bytes calldata output) public {
        uint256 id = requestVia(consumer, GAS);
        finalizeHonest(id, INPUT);
        bytes32 expected = keccak256(outputOf(INPUT));
        vm.assume(keccak256(output) != expected);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.WrongOutput.selector, id, expected, keccak256(output))
        );
        oracle.deliver(id, output);
    }

    function test_deliver_onlyOnce() public {
        uint256 id = requestVia(consumer, GAS);
        finalizeHonest(id, INPUT);
        bytes memory output = outputOf(INPUT);
        deliverAs(deliverer, id, output);
        vm.prank(challenger);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.NotPending.selector, id, InferenceOracle.Status.Delivered)
        );
        oracle.deliver(id, output);
        assertEq(consumer.calls(), 1);
        assertEq(oracle.withdrawable(challenger), 0);
    }

    /// A reverting callback is recorded; deliver succeeds, the deliverer is paid, and the market had
    /// settled the request and paid everyone before any delivery (finalize never calls the consumer).
    function test_deliver_revertingConsumer() public {
        consumer.setMode(Consumer.Mode.Revert);
        uint256 id = requestVia(consumer, GAS);
        uint256 claimId = finalizeHonest(id, INPUT);
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Finalized));
        uint256 submitterCredit = market.withdrawable(submitter);
        assertGt(submitterCredit, 0);
        assertGt(token.totalDeposited(), 0);
        vm.expectEmit(address(oracle));
        emit Delivered(id, address(consumer), deliverer, false, rewardOf(GAS));
        assertFalse(deliverAs(deliverer, id, outputOf(INPUT)));
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(uint256(r.status), uint256(InferenceOracle.Status.Delivered));
        assertFalse(r.callbackOk);
        assertEq(oracle.withdrawable(deliverer), rewardOf(GAS));
        assertEq(market.withdrawable(submitter), submitterCredit);
        vm.prank(submitter);
        market.withdraw();
        books();
    }

    /// An infinite loop uses its whole limit and no more: the deliverer's cost is bounded by the limit
    /// it was paid for plus the delivery's own overhead (docs/ORACLE.md).
    function test_deliver_gasHungryConsumer() public {
        consumer.setMode(Consumer.Mode.Burn);
        uint64 limit = 1_000_000;
        uint256 id = requestVia(consumer, limit);
        finalizeHonest(id, INPUT);
        bytes memory output = outputOf(INPUT);
        vm.prank(deliverer);
        uint256 before = gasleft();
        bool ok = oracle.deliver(id, output);
        uint256 used = before - gasleft();
        assertFalse(ok);
        assertGte(used, limit);
        // Overhead measured: ~36k here, ~77k as a transaction of its own (forge test --isolate: base
        // cost, calldata, cold accounts and slots, the deliverer's first credit).
        assertLte(used, uint256(limit) + 80_000);
        assertEq(oracle.withdrawable(deliverer), rewardOf(limit));
        books();
    }

    /// The consumer reverts with 400 kB: the oracle copies none of it. With this little gas beyond the
    /// callback's limit, copying the buffer (over 300k gas of memory) would run out of gas.
    function test_deliver_returnBombIsNotCopied() public {
        consumer.setMode(Consumer.Mode.Bomb);
        uint64 limit = 500_000;
        uint256 id = requestVia(consumer, limit);
        finalizeHonest(id, INPUT);
        bytes memory output = outputOf(INPUT);
        vm.prank(deliverer);
        bool ok = oracle.deliver{gas: uint256(limit) + limit / 63 + 100_000}(id, output);
        assertFalse(ok);
        assertEq(uint256(oracle.getRequest(id).status), uint256(InferenceOracle.Status.Delivered));
        books();
    }

    /// Inside its callback the consumer tries to deliver another request, withdraw (it has a balance
    /// from a cancelled request), withdraw to itself, reclaim and cancel its own request: every attempt
    /// fails, and the callback itself succeeds.
    function test_deliver_reentrantConsumerGetsNowhere() public {
        uint256 cancelled = requestVia(consumer, GAS);
        consumer.cancel(cancelled);
        uint256 credit = oracle.withdrawable(address(consumer));
        assertEq(credit, FEE + rewardOf(GAS));
        Consumer other = new Consumer(oracle);
        accounts.push(address(other));
        uint256 a = requestVia(consumer, 1_000_000);
        uint256 b = requestVia(other, GAS);
        finalizeHonest(a, INPUT);
        finalizeHonest(b, INPUT);
        consumer.setMode(Consumer.Mode.Reenter);
        consumer.setReenter(b, outputOf(INPUT));
        assertTrue(deliverAs(deliverer, a, outputOf(INPUT)));
        assertFalse(consumer.nestedDeliverOk());
        assertFalse(consumer.nestedWithdrawOk());
        assertFalse(consumer.nestedWithdrawToOk());
        assertFalse(consumer.nestedReclaimOk());
        assertFalse(consumer.nestedCancelOk());
        assertEq(oracle.withdrawable(address(consumer)), credit);
        assertEq(uint256(oracleStatus(b)), uint256(InferenceOracle.Status.Pending));
        assertEq(oracle.withdrawable(deliverer), rewardOf(1_000_000));
        books();
        // b is delivered normally afterwards, and the consumer withdraws outside a callback.
        assertTrue(deliverAs(deliverer, b, outputOf(INPUT)));
        consumer.withdraw();
        assertEq(address(consumer).balance, credit);
        books();
    }

    /// A consumer may request again from inside its callback (the request path is not guarded), and
    /// the chained request is an ordinary one.
    function test_deliver_chainedRequestFromTheCallback() public {
        bytes memory next = "the next input";
        vm.deal(address(consumer), 10 ether);
        consumer.setMode(Consumer.Mode.Chain);
        consumer.setChain(modelId, next, GAS);
        uint256 id = requestVia(consumer, 1_000_000);
        finalizeHonest(id, INPUT);
        assertTrue(deliverAs(deliverer, id, outputOf(INPUT)));
        uint256 chained = consumer.chainedId();
        assertEq(chained, id + 1);
        InferenceOracle.Request memory r = oracle.getRequest(chained);
        assertEq(r.consumer, address(consumer));
        assertEq(uint256(r.status), uint256(InferenceOracle.Status.Pending));
        assertEq(market.getRequest(chained).inputHash, keccak256(next));
        books();
        consumer.setMode(Consumer.Mode.Record);
        finalizeHonest(chained, next);
        assertTrue(deliverAs(deliverer, chained, outputOf(next)));
        assertEq(consumer.lastRequestId(), chained);
        books();
    }

    /// A deliverer that sends too little gas for the callback's whole limit is refused, so it cannot
    /// make the callback fail by starving it; nothing changes.
    function test_deliver_revertsWhenTheCallbackWouldBeStarved() public {
        uint64 limit = 1_000_000;
        uint256 id = requestVia(consumer, limit);
        finalizeHonest(id, INPUT);
        bytes memory data = abi.encodeCall(InferenceOracle.deliver, (id, outputOf(INPUT)));
        vm.prank(deliverer);
        (bool ok, bytes memory ret) = address(oracle).call{gas: limit}(data);
        assertFalse(ok);
        assertEq(selectorOf(ret), InferenceOracle.InsufficientGas.selector);
        (uint256 left, uint256 needed) = abi.decode(_args(ret), (uint256, uint256));
        assertLt(left, needed);
        assertEq(
            needed,
            uint256(limit) + (uint256(limit) + 62) / 63 + oracle.CALL_OVERHEAD() + oracle.AFTER_CALL_GAS()
        );
        assertEq(uint256(oracleStatus(id)), uint256(InferenceOracle.Status.Pending));
        assertEq(consumer.calls(), 0);
        assertEq(oracle.withdrawable(deliverer), 0);
    }

    /// Whatever gas a deliverer sends, either deliver reverts and nothing happened, or the callback
    /// started with its whole limit (the probe records its gas in 10k gas, so even the smallest limit
    /// lets it finish).
    function testFuzz_deliver_neverStarvesTheCallback(uint64 limit, uint256 gasSent) public {
        limit = uint64(bound(limit, 20_000, 1_500_000));
        gasSent = bound(gasSent, limit, 2 * uint256(limit) + 150_000);
        GasProbe probe = new GasProbe(oracle);
        accounts.push(address(probe));
        uint256 id = probe.request{value: FEE + rewardOf(limit)}(modelId, INPUT, limit);
        finalizeHonest(id, INPUT);
        bytes memory data = abi.encodeCall(InferenceOracle.deliver, (id, outputOf(INPUT)));
        vm.prank(deliverer);
        (bool ok, bytes memory ret) = address(oracle).call{gas: gasSent}(data);
        if (ok) {
            assertEq(probe.calls(), 2);
            assertGte(probe.gasAtEntry(), uint256(limit) - ENTRY_SLACK);
            assertTrue(oracle.getRequest(id).callbackOk);
        } else {
            // Refused by the gas check, or out of gas before it: never after the callback started.
            assertTrue(ret.length == 0 || selectorOf(ret) == InferenceOracle.InsufficientGas.selector);
            assertEq(probe.calls(), 1);
            assertEq(uint256(oracleStatus(id)), uint256(InferenceOracle.Status.Pending));
            assertEq(oracle.withdrawable(deliverer), 0);
        }
        books();
    }

    /// A consumer without code (an EOA): the call succeeds without running anything.
    function test_deliver_toAnEOA() public {
        vm.prank(requester);
        uint256 id = oracle.request{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS);
        finalizeHonest(id, INPUT);
        vm.expectEmit(address(oracle));
        emit Delivered(id, requester, deliverer, true, rewardOf(GAS));
        assertTrue(deliverAs(deliverer, id, outputOf(INPUT)));
        assertTrue(oracle.getRequest(id).callbackOk);
        books();
    }

    // ---------------------------------------------------------------------------------------------
    // cancel
    // ---------------------------------------------------------------------------------------------

    function test_cancel_creditsFeeAndReward() public {
        uint256 id = requestVia(consumer, GAS);
        vm.expectEmit(address(oracle));
        emit Reclaimed(id, address(consumer), FEE, rewardOf(GAS), true);
        consumer.cancel(id);
        assertEq(uint256(marketStatus(id)), uint256(InferenceMarket.RequestStatus.Cancelled));
        assertEq(uint256(oracleStatus(id)), uint256(InferenceOracle.Status.Reclaimed));
        assertEq(oracle.withdrawable(address(consumer)), FEE + rewardOf(GAS));
        // The market's refund was pulled at once.
        assertEq(market.withdrawable(address(oracle)), 0);
        assertEq(address(oracle).balance, FEE + rewardOf(GAS));
        books();
        consumer.withdraw();
        assertEq(address(consumer).balance, FEE + rewardOf(GAS));
        assertEq(address(oracle).balance, 0);
        books();
        bytes memory output = outputOf(INPUT);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.NotPending.selector, id, InferenceOracle.Status.Reclaimed)
        );
        oracle.deliver(id, output);
    }

    function test_cancel_onlyTheConsumer() public {
        uint256 id = requestVia(consumer, GAS);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.NotConsumer.selector, address(this), address(consumer))
        );
        oracle.cancel(id);
    }

    function test_cancel_marketRefusalsPassThrough() public {
        uint256 id = requestVia(consumer, GAS);
        submitHonest(submitter, id, INPUT);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimsPending.selector, 1));
        consumer.cancel(id);
        vm.warp(block.timestamp + WINDOW);
        market.finalize(1);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Finalized
            )
        );
        consumer.cancel(id);
        books();
    }

    function test_cancel_afterTheOnlyClaimWasVoided() public {
        uint256 id = requestVia(consumer, GAS);
        voidFalse(id);
        consumer.cancel(id);
        assertEq(oracle.withdrawable(address(consumer)), FEE + rewardOf(GAS));
        books();
    }

    function test_cancel_unknownOrTwice() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.UnknownRequest.selector, 1));
        consumer.cancel(1);
        uint256 id = requestVia(consumer, GAS);
        consumer.cancel(id);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.NotPending.selector, id, InferenceOracle.Status.Reclaimed)
        );
        consumer.cancel(id);
    }

    function test_cancel_paysTheRefundAddress() public {
        uint256 id = consumer.requestWithRefundTo{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS, requester);
        vm.expectEmit(address(oracle));
        emit Reclaimed(id, requester, FEE, rewardOf(GAS), true);
        consumer.cancel(id);
        assertEq(oracle.withdrawable(requester), FEE + rewardOf(GAS));
        assertEq(oracle.withdrawable(address(consumer)), 0);
        books();
    }

    // ---------------------------------------------------------------------------------------------
    // reclaim
    // ---------------------------------------------------------------------------------------------

    function test_reclaim_refundsAnExpiredRequestItself() public {
        uint256 id = requestVia(consumer, GAS);
        vm.warp(block.timestamp + TIMEOUT);
        vm.expectEmit(address(oracle));
        emit Reclaimed(id, address(consumer), FEE, rewardOf(GAS), false);
        vm.prank(challenger); // anyone
        oracle.reclaim(id);
        assertEq(uint256(marketStatus(id)), uint256(InferenceMarket.RequestStatus.Refunded));
        assertEq(uint256(oracleStatus(id)), uint256(InferenceOracle.Status.Reclaimed));
        assertEq(oracle.withdrawable(address(consumer)), FEE + rewardOf(GAS));
        assertEq(oracle.withdrawable(challenger), 0);
        assertEq(market.withdrawable(address(oracle)), 0);
        books();
    }

    /// Someone refunds on the market directly: the fee waits in the oracle's market balance (still
    /// owed, the books say so) until a reclaim pulls it, with every other refund waiting there.
    function test_reclaim_afterTheMarketRefunded() public {
        uint256 a = requestVia(consumer, GAS);
        uint256 b = requestVia(consumer, 2 * GAS);
        vm.warp(block.timestamp + TIMEOUT);
        market.refund(a);
        market.refund(b);
        assertEq(market.withdrawable(address(oracle)), 2 * FEE);
        books();
        oracle.reclaim(a);
        assertEq(market.withdrawable(address(oracle)), 0);
        assertEq(address(oracle).balance, 2 * FEE + rewardOf(GAS) + rewardOf(2 * GAS));
        books();
        oracle.reclaim(b);
        assertEq(oracle.withdrawable(address(consumer)), 2 * FEE + rewardOf(GAS) + rewardOf(2 * GAS));
        books();
    }

    function test_reclaim_marketRefusalsPassThrough() public {
        uint256 id = requestVia(consumer, GAS);
        uint64 deadline = market.getRequest(id).deadline;
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.RequestNotExpired.selector, id, deadline));
        oracle.reclaim(id);
        submitHonest(submitter, id, INPUT);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimsPending.selector, 1));
        oracle.reclaim(id);
    }

    function test_reclaim_afterAVoidedClaimPastTheDeadline() public {
        uint256 id = requestVia(consumer, GAS);
        voidFalse(id);
        vm.warp(block.timestamp + TIMEOUT);
        oracle.reclaim(id);
        assertEq(oracle.withdrawable(address(consumer)), FEE + rewardOf(GAS));
        books();
    }

    function test_reclaim_refusesAFinalizedRequest() public {
        uint256 id = requestVia(consumer, GAS);
        finalizeHonest(id, INPUT);
        vm.warp(block.timestamp + TIMEOUT);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceOracle.NotRefundable.selector, id, InferenceMarket.RequestStatus.Finalized
            )
        );
        oracle.reclaim(id);
        deliverAs(deliverer, id, outputOf(INPUT));
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.NotPending.selector, id, InferenceOracle.Status.Delivered)
        );
        oracle.reclaim(id);
    }

    function test_reclaim_unknownOrTwice() public {
        uint256 direct = requestAs(requester, INPUT);
        vm.warp(block.timestamp + TIMEOUT);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.UnknownRequest.selector, direct));
        oracle.reclaim(direct);
        uint256 id = requestVia(consumer, GAS);
        vm.warp(block.timestamp + TIMEOUT);
        oracle.reclaim(id);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.NotPending.selector, id, InferenceOracle.Status.Reclaimed)
        );
        oracle.reclaim(id);
        bytes memory output = outputOf(INPUT);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.NotPending.selector, id, InferenceOracle.Status.Reclaimed)
        );
        oracle.deliver(id, output);
    }

    /// A free model: the market refunds nothing, so the oracle does not try to pull (which would revert).
    function test_reclaim_freeModel() public {
        vm.prank(publisher);
        registry.setFee(modelId, 0);
        uint256 id = consumer.request{value: rewardOf(GAS)}(modelId, INPUT, GAS);
        vm.warp(block.timestamp + TIMEOUT);
        oracle.reclaim(id);
        assertEq(oracle.withdrawable(address(consumer)), rewardOf(GAS));
        uint256 id2 = consumer.request{value: rewardOf(GAS)}(modelId, INPUT, GAS);
        consumer.cancel(id2);
        assertEq(oracle.withdrawable(address(consumer)), 2 * rewardOf(GAS));
        books();
    }

    // ---------------------------------------------------------------------------------------------
    // withdraw
    // ---------------------------------------------------------------------------------------------

    function test_withdraw_reverts() public {
        vm.expectRevert(InferenceOracle.NothingToWithdraw.selector);
        oracle.withdraw();
        EthRefuser refuser = new EthRefuser();
        uint256 id =
            consumer.requestWithRefundTo{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS, address(refuser));
        consumer.cancel(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceOracle.TransferFailed.selector, address(refuser), FEE + rewardOf(GAS)
            )
        );
        refuser.withdraw(oracle);
        assertEq(oracle.withdrawable(address(refuser)), FEE + rewardOf(GAS));
    }

    function test_withdrawTo_reverts() public {
        vm.prank(deliverer);
        vm.expectRevert(InferenceOracle.NothingToWithdraw.selector);
        oracle.withdrawTo(payable(requester));
        uint256 id = requestVia(consumer, GAS);
        finalizeHonest(id, INPUT);
        deliverAs(deliverer, id, outputOf(INPUT));
        EthRefuser refuser = new EthRefuser();
        vm.prank(deliverer);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.TransferFailed.selector, address(refuser), rewardOf(GAS))
        );
        oracle.withdrawTo(payable(address(refuser)));
        assertEq(oracle.withdrawable(deliverer), rewardOf(GAS));
        books();
    }

    function test_withdrawTo_paysAnotherAddress() public {
        uint256 id = requestVia(consumer, GAS);
        finalizeHonest(id, INPUT);
        deliverAs(deliverer, id, outputOf(INPUT));
        vm.expectEmit(address(oracle));
        emit Withdrawn(deliverer, requester, rewardOf(GAS));
        uint256 before = requester.balance;
        vm.prank(deliverer);
        oracle.withdrawTo(payable(requester));
        assertEq(requester.balance - before, rewardOf(GAS));
        assertEq(oracle.withdrawable(deliverer), 0);
        books();
    }

    function test_withdraw_reentryPaysOnce() public {
        WithdrawReenterer r = new WithdrawReenterer(oracle);
        accounts.push(address(r));
        uint256 id = consumer.requestWithRefundTo{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS, address(r));
        uint256 id2 = requestVia(consumer, GAS); // other money in the oracle the reenterer could take
        consumer.cancel(id);
        r.withdraw();
        assertEq(r.attempts(), 1);
        assertFalse(r.reentered());
        assertEq(address(r).balance, FEE + rewardOf(GAS));
        assertEq(uint256(oracleStatus(id2)), uint256(InferenceOracle.Status.Pending));
        books();
    }

    // ---------------------------------------------------------------------------------------------
    // books across outcomes
    // ---------------------------------------------------------------------------------------------

    /// Six requests with fuzzed gas limits, each ending its own way (delivered, delivered to a
    /// reverting consumer, cancelled, refunded on the market and reclaimed, refunded and not reclaimed
    /// yet, still pending); the books hold after every step and everyone withdraws exactly its due.
    function testFuzz_books_acrossOutcomes(uint64[6] memory limits, uint256 order) public {
        Consumer bad = new Consumer(oracle);
        bad.setMode(Consumer.Mode.Revert);
        accounts.push(address(bad));
        uint256[6] memory ids;
        uint256 paidIn;
        for (uint256 i = 0; i < 6; ++i) {
            limits[i] = uint64(bound(limits[i], 20_000, 2_000_000));
            Consumer c = i == 1 ? bad : consumer;
            ids[i] = c.request{value: FEE + rewardOf(limits[i])}(modelId, INPUT, limits[i]);
            paidIn += FEE + rewardOf(limits[i]);
            books();
        }
        // Deliveries in a fuzzed order of the first two.
        uint256 first = order % 2;
        submitHonest(submitter, ids[first], INPUT);
        submitHonest(submitter, ids[1 - first], INPUT);
        consumer.cancel(ids[2]);
        books();
        vm.warp(block.timestamp + WINDOW);
        market.finalize(1);
        market.finalize(2);
        // With a small limit the recording consumer's callback runs out of gas: delivered either way.
        bool ok = deliverAs(deliverer, ids[0], outputOf(INPUT));
        if (limits[0] >= 200_000) assertTrue(ok);
        assertFalse(deliverAs(deliverer, ids[1], outputOf(INPUT)));
        books();
        vm.warp(block.timestamp + TIMEOUT);
        market.refund(ids[3]);
        market.refund(ids[4]);
        books();
        oracle.reclaim(ids[3]);
        books();
        // Everyone withdraws what it is owed; what stays is exactly ids[4]'s refund and ids[5]'s reward.
        uint256 expectedConsumer = 2 * FEE + rewardOf(limits[2]) + rewardOf(limits[3]);
        assertEq(oracle.withdrawable(address(consumer)), expectedConsumer);
        assertEq(oracle.withdrawable(deliverer), rewardOf(limits[0]) + rewardOf(limits[1]));
        consumer.withdraw();
        vm.prank(deliverer);
        oracle.withdraw();
        books();
        assertEq(
            address(oracle).balance + market.withdrawable(address(oracle)),
            FEE + rewardOf(limits[4]) + rewardOf(limits[5])
        );
        // The finalized fees left the system through the market; the rest is accounted for.
        assertEq(
            paidIn,
            2 * FEE + expectedConsumer + rewardOf(limits[0]) + rewardOf(limits[1]) + FEE + rewardOf(limits[4])
                + FEE + rewardOf(limits[5])
        );
    }

    function selectorOf(bytes memory ret) internal pure returns (bytes4) {
        // forge-lint: disable-next-line(unsafe-typecast) (the first four bytes, on purpose)
        return bytes4(ret);
    }

    function _args(bytes memory ret) private pure returns (bytes memory out) {
        out = new bytes(ret.length - 4);
        for (uint256 i = 0; i < out.length; ++i) {
            out[i] = ret[i + 4];
        }
    }
}
