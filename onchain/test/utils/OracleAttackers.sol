// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC721Receiver} from "@openzeppelin/contracts/token/ERC721/IERC721Receiver.sol";
import {InferenceOracle} from "../../contracts/InferenceOracle.sol";
import {IInferenceConsumer} from "../../contracts/interfaces/IInferenceConsumer.sol";

/// @title A consumer whose callback settles its other requests
/// @notice From inside its callback it cancels one of its pending requests, reclaims an expired one and
/// chains a new request with refunds to someone else, recording whether each nested call succeeded.
contract SettlingConsumer is IInferenceConsumer {
    InferenceOracle public immutable oracle;
    uint256 public cancelId;
    uint256 public reclaimId;
    address public chainRefundTo;
    bytes32 public chainModel;
    uint64 public chainGas;

    uint256 public calls;
    bool public cancelOk;
    bool public reclaimOk;
    uint256 public chainedId;

    constructor(InferenceOracle oracle_) {
        oracle = oracle_;
    }

    receive() external payable {}

    function request(bytes32 modelId, bytes calldata input, uint64 gasLimit)
        external
        payable
        returns (uint256)
    {
        return oracle.request{value: msg.value}(modelId, input, gasLimit);
    }

    function requestWithRefundTo(bytes32 modelId, bytes calldata input, uint64 gasLimit, address to)
        external
        payable
        returns (uint256)
    {
        return oracle.requestWithRefundTo{value: msg.value}(modelId, input, gasLimit, to);
    }

    function setPlan(uint256 cancelId_, uint256 reclaimId_, bytes32 model, uint64 gasLimit, address refundTo)
        external
    {
        cancelId = cancelId_;
        reclaimId = reclaimId_;
        chainModel = model;
        chainGas = gasLimit;
        chainRefundTo = refundTo;
    }

    function withdraw() external {
        oracle.withdraw();
    }

    function onInferenceResult(uint256, bytes calldata) external {
        require(msg.sender == address(oracle), "not the oracle");
        ++calls;
        (cancelOk,) = address(oracle).call(abi.encodeCall(InferenceOracle.cancel, (cancelId)));
        (reclaimOk,) = address(oracle).call(abi.encodeCall(InferenceOracle.reclaim, (reclaimId)));
        uint256 price = oracle.quote(chainModel, chainGas);
        chainedId = oracle.requestWithRefundTo{value: price}(
            chainModel, "chained from a callback", chainGas, chainRefundTo
        );
    }
}

/// @title A consumer that guards its callback with the same reentrancy lock as a function that pays an
/// untrusted address (a common pattern: every external function `nonReentrant`)
contract LockedConsumer is IInferenceConsumer, ReentrancyGuardTransient {
    InferenceOracle public immutable oracle;
    uint256 public results;
    bytes public lastOutput;

    constructor(InferenceOracle oracle_) {
        oracle = oracle_;
    }

    function request(bytes32 modelId, bytes calldata input, uint64 gasLimit)
        external
        payable
        returns (uint256)
    {
        return oracle.request{value: msg.value}(modelId, input, gasLimit);
    }

    /// Forwards `msg.value` to `to` (a refund, a fee split): the untrusted call runs under the lock.
    function pay(address payable to) external payable nonReentrant {
        (bool ok,) = to.call{value: msg.value}("");
        require(ok, "payment failed");
    }

    function onInferenceResult(uint256, bytes calldata output) external nonReentrant {
        require(msg.sender == address(oracle), "not the oracle");
        ++results;
        lastOutput = output;
    }
}

/// @title The liar's deliverer: it delivers a request from inside a call it receives (an ETH payment or
/// an ERC-721 safe transfer), and keeps the reward
contract NestedDeliverer is IERC721Receiver {
    InferenceOracle public immutable oracle;
    uint256 public requestId;
    bytes public output;
    bool public attempted;
    bool public delivered;
    bool public callbackOk;

    constructor(InferenceOracle oracle_) {
        oracle = oracle_;
    }

    function arm(uint256 requestId_, bytes calldata output_) external {
        requestId = requestId_;
        output = output_;
    }

    function withdraw() external {
        oracle.withdraw();
    }

    function _deliver() private {
        if (attempted) return;
        attempted = true;
        try oracle.deliver(requestId, output) returns (bool ok) {
            delivered = true;
            callbackOk = ok;
        } catch {}
    }

    receive() external payable {
        if (msg.sender != address(oracle)) _deliver();
    }

    function onERC721Received(address, address, uint256, bytes calldata) external returns (bytes4) {
        _deliver();
        return IERC721Receiver.onERC721Received.selector;
    }
}
