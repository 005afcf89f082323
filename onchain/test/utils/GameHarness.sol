// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GamePlayer} from "./GamePlayer.sol";
import {TraceVM} from "./TraceVM.sol";
import {DisputeGame} from "../../contracts/DisputeGame.sol";
import {IDisputeGameOwner} from "../../contracts/interfaces/IDisputeGame.sol";
import {IOneStepVerifier} from "../../contracts/interfaces/IOneStepVerifier.sol";

/// @title A DisputeGame owned by the test itself, over the TraceVM
/// @notice The test contract is the game's owner: it opens games and records the outcome callbacks.
abstract contract GameHarness is GamePlayer, IDisputeGameOwner {
    uint64 internal constant CLOCK = 1 days;

    DisputeGame internal game;
    address internal defender;
    address internal challenger;

    mapping(uint256 gameId => uint256) internal endedCalls;
    mapping(uint256 gameId => bool) internal endedDefenderWon;
    /// The owner refuses the game's dissection (as the market does for a game the defender has not funded).
    mapping(uint256 gameId => bool) internal dissectRefused;

    function setUpGame(uint256 arity) internal {
        if (address(traceVm) == address(0)) traceVm = new TraceVM();
        game = new DisputeGame(address(this), IOneStepVerifier(address(traceVm)), arity, CLOCK);
        defender = makeAddr("defender");
        challenger = makeAddr("challenger");
    }

    function onGameEnded(uint256 gameId, bool defenderWon) external {
        require(msg.sender == address(game), "callback from elsewhere");
        ++endedCalls[gameId];
        endedDefenderWon[gameId] = defenderWon;
    }

    function onDissect(uint256 gameId) external view {
        require(msg.sender == address(game), "callback from elsewhere");
        require(!dissectRefused[gameId], "dissection refused by the owner");
    }

    /// @dev Opens a game from the honest start of (seed, halt) to `end` over `steps`.
    function open(bytes32 seed, uint64 halt, bytes32 end, uint64 steps) internal returns (uint256) {
        return game.create(defender, challenger, traceVm.stateHash(seed, 0, halt), end, steps);
    }

    function actor(address who, Trace memory t) internal pure returns (Actor memory a) {
        a.addr = who;
        a.trace = t;
        a.strategy = Strategy.Follow;
    }

    function actor(address who, Trace memory t, Strategy s, uint256 rand)
        internal
        pure
        returns (Actor memory a)
    {
        a = actor(who, t);
        a.strategy = s;
        a.rand = rand;
    }

    /// @dev ceil(log_k n) computed independently of the contract.
    function ceilLog(uint256 k, uint256 n) internal pure returns (uint256 r) {
        uint256 p = 1;
        while (p < n) {
            p *= k;
            ++r;
        }
    }
}
