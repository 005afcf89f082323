// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {InferenceOracle} from "../../contracts/InferenceOracle.sol";
import {IInferenceConsumer} from "../../contracts/interfaces/IInferenceConsumer.sol";

/// @title A consumer of the oracle whose callback behaves as its {Mode} says
/// @notice Well-behaved (`Record`), or hostile: it reverts, burns all its gas in an infinite loop,
/// reverts with a huge buffer (a return bomb), re-enters the oracle (deliver, withdraw, withdrawTo, reclaim,
/// cancel: each attempt recorded), or chains a new request from inside the callback. Every mode records
/// the gas it had on entry before doing anything else, when it can still write storage.
contract Consumer is IInferenceConsumer {
    enum Mode {
        Record,
        Revert,
        Burn,
        Bomb,
        Reenter,
        Chain
    }

    InferenceOracle public immutable oracle;
    Mode public mode;
    uint256 public bombBytes = 400_000;

    uint256 public calls;
    uint256 public lastRequestId;
    bytes public lastOutput;
    uint256 public gasAtEntry;

    // Reenter mode: a target for the nested deliver, and what each nested call did.
    uint256 public reenterId;
    bytes public reenterOutput;
    bool public nestedDeliverOk;
    bool public nestedWithdrawOk;
    bool public nestedWithdrawToOk;
    bool public nestedReclaimOk;
    bool public nestedCancelOk;

    // Chain mode: the request made from inside the callback.
    bytes32 public chainModel;
    bytes public chainInput;
    uint64 public chainGas;
    uint256 public chainedId;

    constructor(InferenceOracle oracle_) {
        oracle = oracle_;
    }

    receive() external payable {}

    function setMode(Mode m) external {
        mode = m;
    }

    function setBombBytes(uint256 n) external {
        bombBytes = n;
    }

    function setReenter(uint256 id, bytes calldata output) external {
        reenterId = id;
        reenterOutput = output;
    }

    function setChain(bytes32 modelId, bytes calldata input, uint64 gasLimit) external {
        chainModel = modelId;
        chainInput = input;
        chainGas = gasLimit;
    }

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

    function cancel(uint256 requestId) external {
        oracle.cancel(requestId);
    }

    function withdraw() external {
        oracle.withdraw();
    }

    function onInferenceResult(uint256 requestId, bytes calldata output) external {
        uint256 g = gasleft();
        require(msg.sender == address(oracle), "not the oracle");
        Mode m = mode;
        if (m == Mode.Burn) {
            gasAtEntry = g;
            while (true) {}
        }
        if (m == Mode.Revert) revert("consumer says no");
        if (m == Mode.Bomb) {
            uint256 n = bombBytes;
            assembly ("memory-safe") {
                revert(0, n)
            }
        }
        gasAtEntry = g;
        ++calls;
        lastRequestId = requestId;
        lastOutput = output;
        if (m == Mode.Reenter) {
            (nestedDeliverOk,) =
                address(oracle).call(abi.encodeCall(InferenceOracle.deliver, (reenterId, reenterOutput)));
            (nestedWithdrawOk,) = address(oracle).call(abi.encodeCall(InferenceOracle.withdraw, ()));
            (nestedWithdrawToOk,) =
                address(oracle).call(abi.encodeCall(InferenceOracle.withdrawTo, (payable(address(this)))));
            (nestedReclaimOk,) = address(oracle).call(abi.encodeCall(InferenceOracle.reclaim, (requestId)));
            (nestedCancelOk,) = address(oracle).call(abi.encodeCall(InferenceOracle.cancel, (requestId)));
        } else if (m == Mode.Chain) {
            uint256 price = oracle.quote(chainModel, chainGas);
            chainedId = oracle.request{value: price}(chainModel, chainInput, chainGas);
        }
    }
}

/// Records the gas its callback starts with, cheaply: its slots are non-zero from the start, so the two
/// updates cost about 10k gas and even a callback of `MIN_GAS_LIMIT` finishes.
contract GasProbe is IInferenceConsumer {
    InferenceOracle internal immutable oracle;
    uint256 public gasAtEntry = 1;
    uint256 public calls = 1; // one more than the callbacks received

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

    function onInferenceResult(uint256, bytes calldata) external {
        uint256 g = gasleft();
        gasAtEntry = g;
        ++calls;
    }
}

/// Refuses ETH (a withdrawal to it fails).
contract EthRefuser {
    function withdraw(InferenceOracle oracle) external {
        oracle.withdraw();
    }
}

/// Tries to withdraw again from its receive() while the oracle pays it.
contract WithdrawReenterer {
    InferenceOracle internal immutable oracle;
    bool public reentered;
    uint256 public attempts;

    constructor(InferenceOracle oracle_) {
        oracle = oracle_;
    }

    function withdraw() external {
        oracle.withdraw();
    }

    receive() external payable {
        ++attempts;
        try oracle.withdraw() {
            reentered = true;
        } catch {}
    }
}
