// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {TestBase} from "../utils/TestBase.sol";
import {InvariantBase} from "../utils/InvariantBase.sol";
import {Console} from "../utils/Console.sol";
import {Books} from "../utils/Books.sol";
import {OracleHandler} from "./OracleHandler.sol";
import {Consumer} from "../utils/Consumers.sol";
import {InferenceMarket} from "../../contracts/InferenceMarket.sol";
import {InferenceOracle} from "../../contracts/InferenceOracle.sol";

/// @notice Invariants of the oracle and the market under it: the oracle's ETH (its balance and its
/// credit at the market) is exactly what it owes; the market's books still balance with the oracle as a
/// requester; a request is delivered only once its market request finalized and reclaimed only once it
/// was refunded or cancelled; hostile callbacks never report success; the recording consumer saw
/// exactly the successful callbacks.
contract OracleInvariantsTest is TestBase, InvariantBase {
    OracleHandler internal handler;
    InferenceOracle internal oracle;
    InferenceMarket internal market;

    function setUp() public {
        handler = new OracleHandler();
        oracle = handler.theOracle();
        market = handler.theMarket();
        targetContract(address(handler));
        bytes4[20] memory weighted = [
            OracleHandler.request.selector,
            OracleHandler.request.selector,
            OracleHandler.submitHonest.selector,
            OracleHandler.submitHonest.selector,
            OracleHandler.submitFalse.selector,
            OracleHandler.timeout.selector,
            OracleHandler.finalize.selector,
            OracleHandler.finalize.selector,
            OracleHandler.deliver.selector,
            OracleHandler.deliver.selector,
            OracleHandler.deliverStarved.selector,
            OracleHandler.cancel.selector,
            OracleHandler.refund.selector,
            OracleHandler.reclaim.selector,
            OracleHandler.reclaim.selector,
            OracleHandler.withdraw.selector,
            OracleHandler.warp.selector,
            OracleHandler.warp.selector,
            OracleHandler.warp.selector,
            OracleHandler.forceSend.selector
        ];
        bytes4[] memory sel = new bytes4[](weighted.length);
        for (uint256 i = 0; i < weighted.length; ++i) {
            sel[i] = weighted[i];
        }
        targetSelector(FuzzSelector({addr: address(handler), selectors: sel}));
    }

    function invariant_books() public {
        // The oracle: rewards not delivered or reclaimed, refunded fees not reclaimed, withdrawable
        // balances; forced ETH is nobody's.
        assertEq(
            address(oracle).balance + market.withdrawable(address(oracle)),
            handler.oracleOwedNow() + handler.forced(),
            "oracle holdings != what it owes"
        );
        // The market, with the oracle among its requesters.
        uint256 owed = Books.liabilities(market);
        address[] memory all = handler.marketAccounts();
        for (uint256 i = 0; i < all.length; ++i) {
            owed += market.withdrawable(all[i]);
        }
        assertEq(address(market).balance, owed, "market balance != liabilities");
    }

    function invariant_lifecycle() public {
        uint256 n = handler.idCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = handler.ids(i);
            InferenceOracle.Status s = oracle.getRequest(id).status;
            InferenceMarket.RequestStatus m = market.getRequest(id).status;
            assertEq(market.getRequest(id).requester, address(oracle));
            if (s == InferenceOracle.Status.Delivered) {
                assertEq(
                    uint256(m), uint256(InferenceMarket.RequestStatus.Finalized), "delivered, not finalized"
                );
            } else if (s == InferenceOracle.Status.Reclaimed) {
                assertTrue(
                    m == InferenceMarket.RequestStatus.Refunded
                        || m == InferenceMarket.RequestStatus.Cancelled,
                    "reclaimed, not refunded"
                );
            } else {
                assertEq(uint256(s), uint256(InferenceOracle.Status.Pending));
                // Cancelling settles at once, so a pending request is never cancelled on the market.
                assertTrue(m != InferenceMarket.RequestStatus.Cancelled, "cancelled but pending");
            }
        }
    }

    function invariant_callbacks() public {
        assertEq(handler.violations(), 0, handler.lastViolation());
        Consumer recorder = handler.consumers(0);
        assertEq(recorder.calls(), handler.recordedDeliveries(), "recording consumer's callbacks");
    }

    /// Reports how much each run exercised (shown with -vv), so a weak handler is noticed.
    function afterInvariant() public view {
        string[13] memory names = [
            "request",
            "submitHonest",
            "submitFalse",
            "timeout",
            "finalize",
            "deliver",
            "deliverStarved",
            "cancel",
            "refund",
            "reclaim",
            "withdraw",
            "warp",
            "forceSend"
        ];
        for (uint256 i = 0; i < names.length; ++i) {
            Console.log(names[i], handler.calls(bytes32(bytes(names[i]))));
        }
    }
}
