// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {InferenceMarket} from "../../contracts/InferenceMarket.sol";
import {DisputeGame} from "../../contracts/DisputeGame.sol";

/// @title What the market owes, outside its accounts' withdrawable balances
library Books {
    /// Fees of open requests, bonds and free stakes of pending claims, what voided bonds still owe the
    /// games their defender never matched, and bonds and stakes of unsettled games.
    function liabilities(InferenceMarket market) internal view returns (uint256 owed) {
        uint256 n = market.requestCount();
        for (uint256 id = 1; id <= n; ++id) {
            InferenceMarket.Request memory r = market.getRequest(id);
            if (r.status == InferenceMarket.RequestStatus.Open) owed += r.fee;
        }
        uint256 claims = market.claimCount();
        for (uint256 c = 1; c <= claims; ++c) {
            InferenceMarket.Claim memory cl = market.getClaim(c);
            if (cl.status == InferenceMarket.ClaimStatus.Pending) {
                owed += market.submitterBond() + cl.freeStake;
            } else {
                require(cl.freeStake == 0, "stake left on a closed claim");
                owed += uint256(cl.unmatchedGames) * cl.unmatchedPay;
            }
        }
        uint256 games = market.disputeGame().gameCount();
        for (uint256 g = 1; g <= games; ++g) {
            InferenceMarket.GameRef memory ref = market.getGame(g);
            if (!ref.settled) owed += market.challengerBond() + market.getClaim(ref.claimId).gameStake;
        }
    }
}
