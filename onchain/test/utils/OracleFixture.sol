// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MarketFixture} from "./MarketFixture.sol";
import {InferenceMarket} from "../../contracts/InferenceMarket.sol";
import {InferenceOracle} from "../../contracts/InferenceOracle.sol";
import {OracleBooks} from "./OracleBooks.sol";

/// @title The market fixture plus an {InferenceOracle}, the two ways a request ends (finalized by an
/// honest claim, or a false claim voided), and the oracle's books
abstract contract OracleFixture is MarketFixture {
    uint256 internal constant PRICE = 10 gwei; // callback gas price
    uint64 internal constant GAS = 200_000; // a usual callback gas limit

    InferenceOracle internal oracle;
    address internal deliverer;

    function setUpOracle() internal {
        setUpMarket();
        oracle = new InferenceOracle(market, PRICE);
        deliverer = makeAddr("deliverer");
    }

    function rewardOf(uint64 gasLimit) internal pure returns (uint256) {
        return uint256(gasLimit) * PRICE;
    }

    /// The honest output of the model on `input`.
    function outputOf(bytes memory input) internal view returns (bytes memory output) {
        (output,,,) = honestResult(input);
    }

    /// The output of the fixture's false claims on request `id` (MarketFixture.submitFalse).
    function falseOutputOf(uint256 id) internal view returns (bytes memory) {
        return modelState.outputOf(keccak256(abi.encode("evil", id, HALT)));
    }

    /// An honest claim by `submitter` survives its window and settles request `id`.
    function finalizeHonest(uint256 id, bytes memory input) internal returns (uint256 claimId) {
        claimId = submitHonest(submitter, id, input);
        vm.warp(block.timestamp + WINDOW);
        market.finalize(claimId);
    }

    /// A false claim by `submitter2` on request `id` is voided (its submitter never dissects).
    function voidFalse(uint256 id) internal returns (uint256 claimId) {
        claimId = submitFalse(submitter2, id, HALT);
        uint256 g = challengeAs(challenger, id, claimId);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(g);
    }

    function marketStatus(uint256 id) internal view returns (InferenceMarket.RequestStatus) {
        return market.getRequest(id).status;
    }

    function oracleStatus(uint256 id) internal view returns (InferenceOracle.Status) {
        return oracle.getRequest(id).status;
    }

    /// What the oracle owes to `accounts` and to its pending requests (see {OracleBooks.owed}).
    function oracleOwed(address[] memory accounts) internal view returns (uint256) {
        return OracleBooks.owed(oracle, accounts);
    }

    /// The oracle's ETH (its balance and its credit at the market) is exactly what it owes.
    function assertOracleBooks(address[] memory accounts) internal {
        assertEq(OracleBooks.holdings(oracle), oracleOwed(accounts), "oracle holdings != what it owes");
    }
}
