// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {InferenceMarket} from "../../contracts/InferenceMarket.sol";
import {InferenceOracle} from "../../contracts/InferenceOracle.sol";

/// @title What the oracle owes
library OracleBooks {
    /// Rewards of requests neither delivered nor reclaimed, fees the market refunded for requests not
    /// reclaimed yet, and the withdrawable balances of `accounts` (every account that may have one).
    function owed(InferenceOracle oracle, address[] memory accounts) internal view returns (uint256 total) {
        InferenceMarket market = oracle.market();
        uint256 n = market.requestCount();
        for (uint256 id = 1; id <= n; ++id) {
            InferenceOracle.Request memory r = oracle.getRequest(id);
            if (r.status != InferenceOracle.Status.Pending) continue;
            total += uint256(r.gasLimit) * oracle.callbackGasPrice();
            InferenceMarket.Request memory mr = market.getRequest(id);
            if (
                mr.status == InferenceMarket.RequestStatus.Refunded
                    || mr.status == InferenceMarket.RequestStatus.Cancelled
            ) total += mr.fee;
        }
        for (uint256 i = 0; i < accounts.length; ++i) {
            total += oracle.withdrawable(accounts[i]);
        }
    }

    /// The oracle's ETH: its balance and its credit at the market.
    function holdings(InferenceOracle oracle) internal view returns (uint256) {
        return address(oracle).balance + oracle.market().withdrawable(address(oracle));
    }
}
