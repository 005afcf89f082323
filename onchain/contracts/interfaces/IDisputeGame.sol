// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title The owner of a {IDisputeGame}: creates games and is told how they end
interface IDisputeGameOwner {
    /// @notice Called exactly once per game that ends by a move or a timeout (never for a cancelled game).
    /// @param gameId The game that ended.
    /// @param defenderWon True when the defender (the submitter of the claim) won.
    function onGameEnded(uint256 gameId, bool defenderWon) external;

    /// @notice Called before the defender's first move (its dissection) is accepted; reverting refuses
    /// the move. The market uses it to make the defender fund a game that the challenger backed with its
    /// own stake before the defender can drag the challenger through moves.
    /// @param gameId The game the defender is about to dissect.
    function onDissect(uint256 gameId) external;
}

/// @title k-ary dissection games over an execution trace
/// @notice A game disputes the claim "stepping `start` `steps` times gives `end`". The parties
/// alternate: the asserter of a segment splits it into at most k parts; the other party names one part
/// whose end it disputes and splits it with its own hashes (becoming the asserter of that part), or,
/// when the part is one step long, settles it with the one-step verifier.
interface IDisputeGame {
    /// @notice Where a game stands.
    enum Status {
        None,
        /// The defender must split [0, steps] (first move of a game with steps > 1).
        AwaitingDissection,
        /// The responder must name a part of the asserter's dissection.
        AwaitingResponse,
        DefenderWon,
        ChallengerWon,
        Cancelled
    }

    /// @notice Opens a game; only the owner.
    function create(address defender, address challenger, bytes32 start, bytes32 end, uint64 steps)
        external
        returns (uint256 gameId);

    /// @notice Ends a game without a winner; only the owner (used once the claim is void).
    function cancel(uint256 gameId) external;

    /// @notice The game's status.
    function status(uint256 gameId) external view returns (Status);
}
