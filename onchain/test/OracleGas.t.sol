// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {OracleFixture} from "./utils/OracleFixture.sol";
import {Consumer} from "./utils/Consumers.sol";
import {Console} from "./utils/Console.sol";
import {AigcAdapter} from "../contracts/AigcAdapter.sol";
import {AigcToken} from "../contracts/AigcToken.sol";

/// @notice Gas of the oracle's and the ERC-7007 token's happy paths, one call of each kind per test,
/// printed with `-vv` and bounded. The figures of docs/ORACLE.md come from
/// `forge test --isolate --gas-report --match-path test/OracleGas.t.sol` (each call its own
/// transaction: base cost, calldata and cold storage included). The consumer records what it gets in
/// four fresh slots; the model takes a 21-byte input and gives a 32-byte output.
contract OracleGasTest is OracleFixture {
    bytes internal constant INPUT = "an input of the model";

    Consumer internal consumer;
    AigcToken internal aigc;
    address internal minter;

    function setUp() public {
        setUpOracle();
        consumer = new Consumer(oracle);
        aigc = new AigcToken("opML art", "OPART", new AigcAdapter(market, modelId), oracle);
        minter = makeAddr("minter");
        vm.deal(minter, 10 ether);
        vm.deal(address(this), 10 ether);
    }

    function measure(string memory label, uint256 before, uint256 bound_) internal view {
        uint256 used = before - gasleft();
        Console.log(label, used);
        require(used <= bound_, string.concat(label, ": gas above its bound"));
    }

    function test_gas_request() public {
        vm.prank(requester);
        uint256 g = gasleft();
        oracle.request{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS);
        measure("request", g, 300_000);
    }

    function test_gas_deliver() public {
        uint256 id = consumer.request{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS);
        finalizeHonest(id, INPUT);
        bytes memory output = outputOf(INPUT);
        vm.prank(deliverer);
        uint256 g = gasleft();
        oracle.deliver(id, output);
        measure("deliver (consumer stores 4 slots)", g, 200_000);
    }

    function test_gas_requestMint() public {
        uint64 limit = aigc.mintGasLimit();
        uint256 price = oracle.quote(modelId, limit);
        vm.prank(minter);
        uint256 g = gasleft();
        aigc.requestMint{value: price}(INPUT, limit);
        measure("requestMint", g, 400_000);
    }

    function test_gas_deliverMint() public {
        uint64 limit = aigc.mintGasLimit();
        uint256 price = oracle.quote(modelId, limit);
        vm.prank(minter);
        uint256 id = aigc.requestMint{value: price}(INPUT, limit);
        finalizeHonest(id, INPUT);
        bytes memory output = outputOf(INPUT);
        vm.prank(deliverer);
        uint256 g = gasleft();
        oracle.deliver(id, output);
        measure("deliver (callback mints)", g, 250_000);
    }

    function test_gas_mint() public {
        uint256 id = requestAs(requester, INPUT);
        finalizeHonest(id, INPUT);
        bytes memory output = outputOf(INPUT);
        uint256 g = gasleft();
        aigc.mint(id, INPUT, output);
        measure("mint (direct request)", g, 250_000);
    }

    function test_gas_cancelAndWithdraw() public {
        uint256 id = consumer.request{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS);
        uint256 g = gasleft();
        consumer.cancel(id);
        measure("cancel (and pull the market's refund)", g, 120_000);
        g = gasleft();
        consumer.withdraw();
        measure("withdraw", g, 60_000);
    }

    function test_gas_reclaim() public {
        uint256 id = consumer.request{value: FEE + rewardOf(GAS)}(modelId, INPUT, GAS);
        vm.warp(block.timestamp + TIMEOUT);
        uint256 g = gasleft();
        oracle.reclaim(id);
        measure("reclaim (refund on the market, pull)", g, 120_000);
    }
}
