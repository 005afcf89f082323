// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {InferenceMarket} from "./InferenceMarket.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";

/// @title Inference requests with a callback on finalization
/// @notice A router in front of {InferenceMarket}: a contract (the consumer) requests an inference
/// here, paying the model's fee plus `gasLimit * callbackGasPrice` for its callback; the oracle makes
/// the market request (so it is the market-level requester, and its request ids are the market's).
/// Once the market finalized the request, anyone may {deliver} the output bytes (they are in the
/// market's `Submitted` event): the oracle checks them against the finalized output hash, calls the
/// consumer's {IInferenceConsumer.onInferenceResult} with exactly `gasLimit` gas, and credits the
/// deliverer the callback reward.
///
/// The callback cannot hold anything up. Settlement and payouts happen in the market's `finalize`,
/// which never calls the consumer; {deliver} marks the request delivered before the call, tolerates a
/// revert, an out-of-gas or a re-entrant callback (it records the outcome), copies no return data, and
/// refuses to start unless the transaction has the gas to give the callee all of `gasLimit` (EIP-150
/// keeps 1/64 back), so a deliverer cannot make a callback fail by starving it.
///
/// A request that will not finalize is cancelled by its consumer ({cancel}) or, once the market can
/// refund it after its deadline, {reclaim}ed by anyone: its fee and its unused reward are credited to
/// the refund address (the consumer unless it named another). The market credits refunded fees to this
/// contract's `withdrawable` there; the oracle pulls them in the same transaction. Everything owed is paid with pull payments ({withdraw}). The books: this
/// contract's balance plus `market.withdrawable(this)` always equals the rewards of requests neither
/// delivered nor reclaimed, plus the fees the market refunded for requests not reclaimed yet, plus the
/// sum of {withdrawable} (forced ETH aside).
///
/// A consumer with no code (an EOA) is allowed: the EVM call to it succeeds without running anything,
/// so its delivery records the result (`callbackOk` true) and the output is read from the market.
contract InferenceOracle is ReentrancyGuardTransient {
    /// @notice Smallest callback gas limit: a few checks, updates of two non-zero slots and an event.
    uint64 public constant MIN_GAS_LIMIT = 20_000;
    /// @notice Largest callback gas limit: a delivery always fits in a block with room to spare.
    uint64 public constant MAX_GAS_LIMIT = 2_000_000;
    /// @notice Gas the call itself may use before the callee starts (a cold account access is 2,600)
    /// plus the opcodes between the gas check and the call.
    uint256 public constant CALL_OVERHEAD = 5_000;
    /// @notice Gas kept for what {deliver} does after the callback (a warm write and the event), so a
    /// delivery that passes the gas check always completes.
    uint256 public constant AFTER_CALL_GAS = 5_000;

    /// @notice Life cycle of a request here (the market has its own).
    enum Status {
        None,
        Pending, // waiting for the market to finalize, then for a delivery
        Delivered, // the callback was made (whatever its outcome); the reward went to the deliverer
        Reclaimed // cancelled or refunded: fee and reward went to the refund address
    }

    /// @notice A request; one storage slot.
    struct Request {
        address consumer; // the caller of {request}: gets the callback, may {cancel}
        uint64 gasLimit; // the callback's gas, paid for at {callbackGasPrice}
        Status status;
        bool callbackOk; // the callback returned without reverting (set on delivery)
    }

    /// @notice The market that runs the requests.
    InferenceMarket public immutable market;
    /// @notice The market's registry (for the current fee of a model).
    ModelRegistry public immutable registry;
    /// @notice Wei per unit of callback gas limit a requester pays, and the deliverer gets.
    uint256 public immutable callbackGasPrice;

    /// @notice ETH each account can pull with {withdraw}.
    mapping(address account => uint256) public withdrawable;

    mapping(uint256 requestId => Request) private _requests;
    mapping(uint256 requestId => address) private _refundTo; // zero: the consumer
    /// True only while {_settleRefund} pulls the market's refunds: the one time {receive} takes ETH.
    bool private transient _pulling;

    /// @notice `consumer` requested inference `requestId` with a callback of `gasLimit` gas, paying the
    /// model's `fee` (escrowed by the market) and the callback `reward` (held here).
    event CallbackRequested(
        uint256 indexed requestId,
        bytes32 indexed modelId,
        address indexed consumer,
        uint64 gasLimit,
        uint256 fee,
        uint256 reward,
        address refundTo
    );
    /// @notice `deliverer` delivered request `requestId`; `callbackOk` is false when the callback
    /// reverted or ran out of gas. The deliverer was credited `reward`.
    event Delivered(
        uint256 indexed requestId,
        address indexed consumer,
        address indexed deliverer,
        bool callbackOk,
        uint256 reward
    );
    /// @notice Request `requestId` ended without a result (`cancelled` by its consumer, or refunded by the
    /// market after its deadline); `fee + reward` was credited to `refundTo`.
    event Reclaimed(
        uint256 indexed requestId, address indexed refundTo, uint256 fee, uint256 reward, bool cancelled
    );
    /// @notice `account` withdrew `amount` to `to`.
    event Withdrawn(address indexed account, address indexed to, uint256 amount);

    /// @notice A constructor argument is out of range (`field` names it).
    error BadConfig(string field);
    /// @notice The callback gas limit must be in [`min`, `max`].
    error GasLimitOutOfRange(uint64 gasLimit, uint64 min, uint64 max);
    /// @notice The payment must be exactly {quote}: `expected` wei.
    error WrongPayment(uint256 sent, uint256 expected);
    /// @notice The refund address is zero.
    error ZeroRefundAddress();
    /// @notice The oracle made no request with this id (it may be a market request made directly).
    error UnknownRequest(uint256 requestId);
    /// @notice The request was delivered or reclaimed already.
    error NotPending(uint256 requestId, Status status);
    /// @notice The market has not finalized the request (yet): nothing to deliver.
    error NotFinalized(uint256 requestId);
    /// @notice The bytes passed hash to `actual`, the finalized output hash is `expected`.
    error WrongOutput(uint256 requestId, bytes32 expected, bytes32 actual);
    /// @notice Only `gasLeft` gas was left before the callback, which needs `needed`: send more gas.
    error InsufficientGas(uint256 gasLeft, uint256 needed);
    /// @notice Only the request's consumer may cancel it.
    error NotConsumer(address caller, address consumer);
    /// @notice The market request is `status`: only a refunded (or cancelled) request is reclaimed, a
    /// finalized one is delivered.
    error NotRefundable(uint256 requestId, InferenceMarket.RequestStatus status);
    /// @notice Nothing to withdraw.
    error NothingToWithdraw();
    /// @notice The ETH transfer to `to` failed.
    error TransferFailed(address to, uint256 amount);
    /// @notice Plain ETH is accepted from the market only (its refunds).
    error NotMarket(address caller);
    /// @notice The market sent ETH the oracle did not pull (someone's `market.withdrawTo(oracle)`).
    error UnrequestedPayment(uint256 amount);

    /// @param market_ The market.
    /// @param callbackGasPrice_ Wei per unit of callback gas limit; at most 2^128 - 1 (so a reward never
    /// overflows). It should cover the gas price deliverers expect plus their overhead per request.
    constructor(InferenceMarket market_, uint256 callbackGasPrice_) {
        if (address(market_) == address(0)) revert BadConfig("market");
        if (callbackGasPrice_ > type(uint128).max) revert BadConfig("callbackGasPrice");
        market = market_;
        registry = market_.registry();
        callbackGasPrice = callbackGasPrice_;
    }

    /// @notice Accepts the market's refunds (pulled by {reclaim} and {cancel}); refuses anything else,
    /// so the books stay exact.
    /// @dev The sender alone does not tell a pull from a gift: anyone with a market credit can call
    /// `market.withdrawTo(oracle)`, and that ETH would be owed to nobody. So the market's ETH is taken
    /// only while this contract itself pulls ({_settleRefund}); the stray withdrawal reverts at the
    /// market and its owner keeps the credit.
    receive() external payable {
        if (msg.sender != address(market)) revert NotMarket(msg.sender);
        if (!_pulling) revert UnrequestedPayment(msg.value);
    }

    // ------------------------------------------------------------------------------------------------
    // Consumer
    // ------------------------------------------------------------------------------------------------

    /// @notice What {request} of `modelId` with a callback of `gasLimit` gas costs: the model's current
    /// fee plus `gasLimit * callbackGasPrice`.
    function quote(bytes32 modelId, uint64 gasLimit) public view returns (uint256) {
        _checkGasLimit(gasLimit);
        return uint256(registry.model(modelId).fee) + _reward(gasLimit);
    }

    /// @notice Requests an inference of `modelId` on `input` and a callback to the caller (the consumer)
    /// with `gasLimit` gas once it finalizes, paying exactly {quote}. Refunds go to the caller. Not
    /// guarded against re-entry on purpose: a consumer may chain a request from inside its callback.
    /// @return requestId The market's request id.
    function request(bytes32 modelId, bytes calldata input, uint64 gasLimit)
        external
        payable
        returns (uint256 requestId)
    {
        return _request(modelId, input, gasLimit, msg.sender);
    }

    /// @notice {request}, with refunds (on cancel or expiry) credited to `refundTo` instead of the
    /// caller, for a consumer acting for someone else (as {AigcToken.requestMint} does).
    function requestWithRefundTo(bytes32 modelId, bytes calldata input, uint64 gasLimit, address refundTo)
        external
        payable
        returns (uint256 requestId)
    {
        if (refundTo == address(0)) revert ZeroRefundAddress();
        return _request(modelId, input, gasLimit, refundTo);
    }

    /// @notice Cancels a request that has no pending claim on the market (the market's `cancel`, whose
    /// errors pass through); fee and reward are credited to the refund address. Only the consumer.
    function cancel(uint256 requestId) external {
        Request storage r = _pending(requestId);
        if (msg.sender != r.consumer) revert NotConsumer(msg.sender, r.consumer);
        market.cancel(requestId);
        _settleRefund(requestId, r, true);
    }

    // ------------------------------------------------------------------------------------------------
    // Everyone
    // ------------------------------------------------------------------------------------------------

    /// @notice Delivers the finalized output of request `requestId` to its consumer and credits the
    /// caller the request's reward. `output` must hash to the market's finalized output hash. Reverts
    /// with {InsufficientGas} unless the transaction can give the callback its whole gas limit; never
    /// reverts because of the callback.
    /// @return callbackOk Whether the callback returned without reverting.
    function deliver(uint256 requestId, bytes calldata output)
        external
        nonReentrant
        returns (bool callbackOk)
    {
        Request storage r = _pending(requestId);
        (bool finalized,,, bytes32 outputHash) = market.result(requestId);
        if (!finalized) revert NotFinalized(requestId);
        bytes32 actual = keccak256(output);
        if (actual != outputHash) revert WrongOutput(requestId, outputHash, actual);
        // Effects first: the callback finds the request delivered and the reward booked.
        r.status = Status.Delivered;
        uint256 gasLimit = r.gasLimit;
        uint256 reward = _reward(gasLimit);
        withdrawable[msg.sender] += reward;
        address consumer = r.consumer;
        callbackOk = _callWithExactGas(
            consumer, gasLimit, abi.encodeCall(IInferenceConsumer.onInferenceResult, (requestId, output))
        );
        if (callbackOk) r.callbackOk = true;
        emit Delivered(requestId, consumer, msg.sender, callbackOk, reward);
    }

    /// @notice Credits fee and reward of a request that will never finalize to its refund address:
    /// the market refunded it (if it is still open, this calls the market's `refund`, whose errors pass
    /// through: before the deadline, or with a claim pending). Anyone may call.
    function reclaim(uint256 requestId) external {
        Request storage r = _pending(requestId);
        InferenceMarket.RequestStatus s = market.getRequest(requestId).status;
        if (s == InferenceMarket.RequestStatus.Open) {
            market.refund(requestId);
            s = InferenceMarket.RequestStatus.Refunded;
        }
        // Cancelled only happens through {cancel}, which settles at once; kept for completeness.
        if (s != InferenceMarket.RequestStatus.Refunded && s != InferenceMarket.RequestStatus.Cancelled) {
            revert NotRefundable(requestId, s);
        }
        _settleRefund(requestId, r, false);
    }

    /// @notice Sends the caller's whole withdrawable balance to the caller.
    function withdraw() external {
        withdrawTo(payable(msg.sender));
    }

    /// @notice Sends the caller's whole withdrawable balance to `to`.
    function withdrawTo(address payable to) public nonReentrant {
        uint256 amount = withdrawable[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        withdrawable[msg.sender] = 0;
        emit Withdrawn(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @notice A request (all zero for an id the oracle did not make).
    function getRequest(uint256 requestId) external view returns (Request memory) {
        return _requests[requestId];
    }

    /// @notice Where fee and reward of `requestId` go if it never finalizes.
    function refundRecipient(uint256 requestId) public view returns (address) {
        address to = _refundTo[requestId];
        return to == address(0) ? _requests[requestId].consumer : to;
    }

    /// @notice The reward of a callback of `gasLimit` gas.
    function rewardFor(uint64 gasLimit) external view returns (uint256) {
        return _reward(gasLimit);
    }

    // ------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------

    function _request(bytes32 modelId, bytes calldata input, uint64 gasLimit, address refundTo)
        private
        returns (uint256 requestId)
    {
        _checkGasLimit(gasLimit);
        uint256 fee = registry.model(modelId).fee; // reverts UnknownModel
        uint256 reward = _reward(gasLimit);
        if (msg.value != fee + reward) revert WrongPayment(msg.value, fee + reward);
        // The market's code is known: it calls nothing back.
        requestId = market.request{value: fee}(modelId, input);
        _requests[requestId] =
            Request({consumer: msg.sender, gasLimit: gasLimit, status: Status.Pending, callbackOk: false});
        if (refundTo != msg.sender) _refundTo[requestId] = refundTo;
        emit CallbackRequested(requestId, modelId, msg.sender, gasLimit, fee, reward, refundTo);
    }

    function _pending(uint256 requestId) private view returns (Request storage r) {
        r = _requests[requestId];
        if (r.status == Status.None) revert UnknownRequest(requestId);
        if (r.status != Status.Pending) revert NotPending(requestId, r.status);
    }

    /// Credits the refund address with the fee the market refunded and the unused reward, and pulls the
    /// market's refunds here (so the ETH sits where the credit is).
    function _settleRefund(uint256 requestId, Request storage r, bool cancelled) private {
        r.status = Status.Reclaimed;
        uint256 fee = market.getRequest(requestId).fee;
        uint256 reward = _reward(r.gasLimit);
        address to = refundRecipient(requestId);
        withdrawable[to] += fee + reward;
        emit Reclaimed(requestId, to, fee, reward, cancelled);
        // The market sends to this contract's receive(), which accepts it only inside this pull.
        if (market.withdrawable(address(this)) != 0) {
            _pulling = true;
            market.withdraw();
            _pulling = false;
        }
    }

    function _checkGasLimit(uint64 gasLimit) private pure {
        if (gasLimit < MIN_GAS_LIMIT || gasLimit > MAX_GAS_LIMIT) {
            revert GasLimitOutOfRange(gasLimit, MIN_GAS_LIMIT, MAX_GAS_LIMIT);
        }
    }

    function _reward(uint256 gasLimit) private view returns (uint256) {
        return gasLimit * callbackGasPrice;
    }

    /// The gas left before the call that lets the call forward all of `gasLimit` (the callee gets at
    /// most 63/64 of what remains after the call's own cost) and lets {deliver} finish after it.
    function _gasNeeded(uint256 gasLimit) private pure returns (uint256) {
        return gasLimit + (gasLimit + 62) / 63 + CALL_OVERHEAD + AFTER_CALL_GAS;
    }

    /// Calls `target` with exactly `gasLimit` gas, copying no return data (a consumer cannot make the
    /// caller pay for a huge return), and reverts with {InsufficientGas} when the call could not forward
    /// all of `gasLimit`.
    function _callWithExactGas(address target, uint256 gasLimit, bytes memory data)
        private
        returns (bool ok)
    {
        uint256 needed = _gasNeeded(gasLimit);
        uint256 left = gasleft();
        if (left < needed) revert InsufficientGas(left, needed);
        assembly ("memory-safe") {
            ok := call(gasLimit, target, 0, add(data, 32), mload(data), 0, 0)
        }
    }
}
