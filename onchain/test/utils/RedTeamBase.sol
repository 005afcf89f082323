// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MarketFixture} from "./MarketFixture.sol";
import {Books} from "./Books.sol";
import {IDisputeGame} from "../../contracts/interfaces/IDisputeGame.sol";
import {DisputeGame} from "../../contracts/DisputeGame.sol";

/// @title What the red-team suites share: the liar, the honest watcher and server, Sybils, false claims
/// and the books check over every account they made.
abstract contract RedTeamBase is MarketFixture {
    bytes internal constant INPUT = "an input of the model";

    address internal liar; // submitter of the false claims
    address internal watcher; // the honest challenger
    address internal server; // an honest submitter
    address[] internal tracked; // every account that may hold a withdrawable balance

    function setUp() public virtual {
        setUpMarket();
        liar = makeAddr("liar");
        watcher = makeAddr("watcher");
        server = makeAddr("server");
        vm.deal(liar, 100_000 ether);
        vm.deal(watcher, 100_000 ether);
        vm.deal(server, 100_000 ether);
        tracked.push(requester);
        tracked.push(submitter);
        tracked.push(submitter2);
        tracked.push(challenger);
        tracked.push(challenger2);
        tracked.push(liar);
        tracked.push(watcher);
        tracked.push(server);
    }

    function sybil(uint256 i) internal returns (address a) {
        a = makeAddr(string(abi.encodePacked("sybil", bytes1(uint8(65 + i)))));
        vm.deal(a, 1000 ether);
        tracked.push(a);
    }

    /// A false claim by `who` with `steps` steps, staked for `games` games (bond from the live market).
    function falseClaim(address who, uint256 id, uint64 steps, uint256 games) internal returns (uint256) {
        bytes32 evil = keccak256(abi.encode("evil", id, steps));
        uint256 value = uint256(market.submitterBond()) + games * market.gameStakeFor(steps);
        bytes memory output = modelState.outputOf(evil);
        bytes32 finalState = traceVm.stateHash(evil, steps, steps);
        vm.prank(who);
        return market.submit{value: value}(id, output, finalState, steps, abi.encode(evil));
    }

    function honestClaim(address who, uint256 id, uint256 games) internal returns (uint256) {
        (bytes memory output, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint256 value = uint256(market.submitterBond()) + games * market.gameStakeFor(steps);
        vm.prank(who);
        return market.submit{value: value}(id, output, finalState, steps, proof);
    }

    function honestOutputHash() internal view returns (bytes32) {
        return keccak256(modelState.outputOf(seedFor(INPUT)));
    }

    function live(uint256 g) internal view returns (bool) {
        IDisputeGame.Status s = game.status(g);
        return s == IDisputeGame.Status.AwaitingDissection || s == IDisputeGame.Status.AwaitingResponse;
    }

    /// Whether the clock of the party to move in `g` ran out (so that party can no longer move).
    function moverExpired(uint256 g) internal view returns (bool) {
        DisputeGame.Game memory gm = game.game(g);
        bool defenderToMove = game.toMove(g) == gm.defender;
        uint256 left = defenderToMove ? gm.defenderClock : gm.challengerClock;
        return block.timestamp - gm.lastMoveAt > left;
    }

    /// The honest dissection of [0, HALT] (first move of an honest defender).
    function honestDissection() internal view returns (bytes32[] memory pts) {
        bytes32 seed = seedFor(INPUT);
        pts = new bytes32[](game.partCount(HALT) + 1);
        for (uint256 j = 0; j < pts.length; ++j) {
            pts[j] = traceVm.stateHash(seed, game.boundary(0, HALT, j), HALT);
        }
    }

    /// The market's ETH equals what it owes (fees of open requests, bonds and free stakes of pending
    /// claims, bonds and stakes of unsettled games, voided bonds' debts to unmatched games, and the
    /// withdrawable balances of every account of the test).
    function assertBooksBalance() internal {
        uint256 owed = Books.liabilities(market);
        for (uint256 i = 0; i < tracked.length; ++i) {
            owed += market.withdrawable(tracked[i]);
        }
        assertEq(address(market).balance, owed, "market balance != liabilities");
    }
}
