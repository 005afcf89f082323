// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IOneStepVerifier} from "./interfaces/IOneStepVerifier.sol";
import {IDisputeGame, IDisputeGameOwner} from "./interfaces/IDisputeGame.sol";

/// @title k-ary dissection games with chess clocks
/// @notice Holds every game of one market, keyed by id. A game disputes the claim that stepping the
/// agreed `start` state `steps` times gives `end`. The two parties alternate moves:
///
/// 1. The defender (the submitter) splits [0, steps] into m = min(k, steps) parts by posting the state
///    hashes at the part boundaries (`dissect`).
/// 2. The party to move (the *responder*) names a part of the other party's latest dissection whose
///    start it accepts and whose end it disputes. If that part spans more than one step, the responder
///    posts its own dissection of it, with the same start and a different end (`respond`), and becomes
///    the asserter of that part. If the part is a single step, the responder runs the one-step verifier
///    on the part's start (`step`): the responder wins when the verified post-state differs from the
///    asserter's end, the asserter wins otherwise.
///
/// Soundness (why the honest party wins, given a deterministic and sound verifier): by induction, when
/// the honest party must respond, the segment's start is honest (it is `start`, or a hash the honest
/// party posted or accepted) and its end is not (the opponent's hash, which differs from the honest
/// party's own at that position), so a part with an honest start and a dishonest end exists; the honest
/// party names it and posts honest hashes. When the honest party asserts, all its hashes are honest, so
/// a dishonest responder can only post a dishonest end (the end must differ) and the induction goes on.
/// At one step from an honest start the verifier returns the honest post-state, which the honest party
/// asserted or disputed. A party that does not move loses on time.
///
/// Move bound: every dissection leaves parts of at most ceil(L/k) steps, so after d dissections the
/// segment spans at most ceil(steps / k^d) steps; a part of one step can only be settled by `step`.
/// Hence at most ceil(log_k steps) dissections plus one `step`: `moves <= ceil(log_k steps) + 1`, and
/// with the challenge that opens the game, ceil(log_k steps) + 2 transactions.
///
/// Every call does O(k) work (k <= 32), and a one-step proof is capped at {MAX_PROOF_BYTES}.
/// The contract holds no ETH; the owner (the market) does the accounting in {IDisputeGameOwner}.
contract DisputeGame is IDisputeGame {
    /// @notice Smallest allowed arity k.
    uint256 public constant MIN_ARITY = 8;
    /// @notice Largest allowed arity k.
    uint256 public constant MAX_ARITY = 32;
    /// @notice Largest one-step proof accepted (the largest fixture proof is about 1.3 KiB).
    uint256 public constant MAX_PROOF_BYTES = 16_384;

    /// @notice One game. Packed into four storage slots.
    struct Game {
        address defender;
        uint64 defenderClock; // seconds left on the defender's clock when it last stopped
        address challenger;
        uint64 challengerClock; // seconds left on the challenger's clock when it last stopped
        uint64 lo; // the current segment is [lo, hi]
        uint64 hi;
        uint40 lastMoveAt; // when the clock of the party to move started
        Status status;
        bool defenderAsserts; // who posted the current dissection
        uint16 moves;
        uint16 defenderTxs; // the defender's moves, plus its timeout call when it wins on time
        bytes32 points; // keccak256 of the current dissection (boundary hashes, both ends included)
    }

    /// @notice The market that creates games and receives their outcome.
    address public immutable owner;
    /// @notice Verifier of single steps.
    IOneStepVerifier public immutable verifier;
    /// @notice Arity k: the number of parts of a dissection of a segment longer than k steps.
    uint256 public immutable arity;
    /// @notice Time budget of each party in each game, in seconds.
    uint64 public immutable clockBudget;

    /// @notice Number of games created; ids start at 1.
    uint256 public gameCount;
    mapping(uint256 gameId => Game) private _games;
    /// The party the owner plays for during {playFor}; zero otherwise.
    address private transient _player;

    /// @notice A game was opened over `steps` steps from `start` to the defender's `end`.
    event GameCreated(
        uint256 indexed gameId,
        address indexed defender,
        address indexed challenger,
        bytes32 start,
        bytes32 end,
        uint64 steps
    );
    /// @notice `mover` named part `part` of the previous dissection (`type(uint256).max` for the
    /// defender's first dissection) and split the resulting segment [lo, hi] at `points`.
    event Dissected(
        uint256 indexed gameId, address indexed mover, uint256 part, uint64 lo, uint64 hi, bytes32[] points
    );
    /// @notice `mover` ran the verifier on step `index` -> `index + 1`.
    event StepVerified(
        uint256 indexed gameId,
        address indexed mover,
        uint64 index,
        bytes32 preState,
        bytes32 assertedPost,
        bytes32 verifiedPost
    );
    /// @notice The game ended; `byTimeout` when the loser ran out of time.
    event GameEnded(uint256 indexed gameId, bool defenderWon, bool byTimeout);
    /// @notice The owner cancelled the game (its claim was voided by another game).
    event GameCancelled(uint256 indexed gameId);

    /// @notice The arity is outside [8, 32].
    error ArityOutOfRange(uint256 arity);
    /// @notice The clock budget is zero or too large for the timestamp type.
    error ClockOutOfRange(uint64 budget);
    /// @notice Only the owner may call this.
    error NotOwner(address caller);
    /// @notice A game needs at least one step.
    error ZeroSteps();
    /// @notice Defender and challenger must be distinct, non-zero addresses.
    error BadParties(address defender, address challenger);
    /// @notice No such game.
    error UnknownGame(uint256 gameId);
    /// @notice The game is not in the status this call needs.
    error WrongStatus(uint256 gameId, Status status);
    /// @notice It is `expected`'s move.
    error NotYourMove(address caller, address expected);
    /// @notice The mover's clock ran out; call {timeout}.
    error ClockExpired(uint256 gameId, address party);
    /// @notice The clock of the party to move still has `remaining` seconds.
    error ClockRunning(uint256 gameId, uint256 remaining);
    /// @notice The posted dissection has `got` hashes; `expected` are needed (both ends included).
    error WrongPointCount(uint256 got, uint256 expected);
    /// @notice The given points are not the current dissection, or a dissection does not keep the
    /// segment's agreed end points.
    error PointsMismatch();
    /// @notice The part index is not below the number of parts.
    error PartOutOfRange(uint256 part, uint256 parts);
    /// @notice The named part is a single step: settle it with {step}.
    error SingleStepPart();
    /// @notice {step} needs a part of exactly one step; this one has `length`.
    error NotSingleStep(uint256 length);
    /// @notice A responder's dissection must end with a hash different from the disputed one.
    error EndNotDisputed();
    /// @notice Call `index` of a batch failed without a reason: it ran out of gas (here or in a call it
    /// made), or it is not a function of this contract. The whole batch reverts, so a transaction that
    /// succeeds never silently dropped a move for want of gas.
    error CallFailedWithoutReason(uint256 index);
    /// @notice The proof is longer than {MAX_PROOF_BYTES}.
    error ProofTooLong(uint256 length);

    /// @param owner_ The market (receives {IDisputeGameOwner.onGameEnded}).
    /// @param verifier_ The one-step verifier.
    /// @param arity_ k, in [8, 32].
    /// @param clockBudget_ Seconds on each party's chess clock, in (0, 2^40).
    constructor(address owner_, IOneStepVerifier verifier_, uint256 arity_, uint64 clockBudget_) {
        if (arity_ < MIN_ARITY || arity_ > MAX_ARITY) revert ArityOutOfRange(arity_);
        if (clockBudget_ == 0 || clockBudget_ > type(uint40).max) revert ClockOutOfRange(clockBudget_);
        owner = owner_;
        verifier = verifier_;
        arity = arity_;
        clockBudget = clockBudget_;
    }

    // ------------------------------------------------------------------------------------------------
    // Owner
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IDisputeGame
    /// @dev With `steps == 1` there is nothing to dissect: the challenger must settle the step.
    function create(address defender, address challenger, bytes32 start, bytes32 end, uint64 steps)
        external
        returns (uint256 gameId)
    {
        _onlyOwner();
        if (steps == 0) revert ZeroSteps();
        if (defender == address(0) || challenger == address(0) || defender == challenger) {
            revert BadParties(defender, challenger);
        }
        gameId = ++gameCount;
        _games[gameId] = Game({
            defender: defender,
            defenderClock: clockBudget,
            challenger: challenger,
            challengerClock: clockBudget,
            lo: 0,
            hi: steps,
            lastMoveAt: uint40(block.timestamp),
            status: steps == 1 ? Status.AwaitingResponse : Status.AwaitingDissection,
            defenderAsserts: true,
            moves: 0,
            defenderTxs: 0,
            points: _commit2(start, end)
        });
        emit GameCreated(gameId, defender, challenger, start, end, steps);
    }

    /// @inheritdoc IDisputeGame
    function cancel(uint256 gameId) external {
        _onlyOwner();
        Game storage g = _game(gameId);
        _requireLive(gameId, g);
        g.status = Status.Cancelled;
        emit GameCancelled(gameId);
    }

    // ------------------------------------------------------------------------------------------------
    // Moves
    // ------------------------------------------------------------------------------------------------

    /// @notice The defender's first move: the hashes at the boundaries of the m = min(k, steps) parts of
    /// [0, steps], `points[0]` being the agreed start and `points[m]` the claimed end.
    /// @param gameId The game.
    /// @param points m + 1 state hashes at steps `boundary(0, steps, i)` for i = 0..m.
    function dissect(uint256 gameId, bytes32[] calldata points) external {
        Game storage g = _game(gameId);
        if (g.status != Status.AwaitingDissection) revert WrongStatus(gameId, g.status);
        address sender = _sender();
        if (sender != g.defender) revert NotYourMove(sender, g.defender);
        _tick(gameId, g, true);
        uint256 m = partCount(g.hi - g.lo);
        if (points.length != m + 1) revert WrongPointCount(points.length, m + 1);
        if (_commit2(points[0], points[m]) != g.points) revert PointsMismatch();
        // The owner may refuse the first move until the defender's side of the game is funded.
        IDisputeGameOwner(owner).onDissect(gameId);
        g.points = keccak256(abi.encodePacked(points));
        g.status = Status.AwaitingResponse;
        // g.defenderAsserts is already true
        ++g.moves;
        ++g.defenderTxs;
        emit Dissected(gameId, sender, type(uint256).max, g.lo, g.hi, points);
    }

    /// @notice The responder names part `part` of the current dissection (accepting its start and
    /// disputing its end) and splits it with its own hashes.
    /// @param gameId The game.
    /// @param points The current dissection, as posted by the asserter (see the `Dissected` events).
    /// @param part The disputed part, below the number of parts; it must span at least two steps.
    /// @param newPoints The responder's hashes at the boundaries of the part's own dissection:
    /// `newPoints[0]` must equal `points[part]` and the last must differ from `points[part + 1]`.
    function respond(uint256 gameId, bytes32[] calldata points, uint256 part, bytes32[] calldata newPoints)
        external
    {
        Game storage g = _game(gameId);
        (uint64 a, uint64 b) = _enterResponse(gameId, g, points, part);
        uint64 len = b - a;
        if (len == 1) revert SingleStepPart();
        uint256 m = partCount(len);
        if (newPoints.length != m + 1) revert WrongPointCount(newPoints.length, m + 1);
        if (newPoints[0] != points[part]) revert PointsMismatch();
        if (newPoints[m] == points[part + 1]) revert EndNotDisputed();
        g.lo = a;
        g.hi = b;
        g.points = keccak256(abi.encodePacked(newPoints));
        g.defenderAsserts = !g.defenderAsserts;
        emit Dissected(gameId, _sender(), part, a, b, newPoints);
    }

    /// @notice The responder settles a one-step part: the verifier computes the post-state of the part's
    /// start; the responder wins when it differs from the asserted end, and loses otherwise.
    /// @param gameId The game.
    /// @param points The current dissection.
    /// @param part A part spanning exactly one step.
    /// @param proof The one-step proof for the state `points[part]`.
    /// @dev A reverting verifier reverts this call (never caught), so running out of gas inside the
    /// verifier cannot decide a game.
    function step(uint256 gameId, bytes32[] calldata points, uint256 part, bytes calldata proof) external {
        Game storage g = _game(gameId);
        (uint64 a, uint64 b) = _enterResponse(gameId, g, points, part);
        if (b - a != 1) revert NotSingleStep(b - a);
        if (proof.length > MAX_PROOF_BYTES) revert ProofTooLong(proof.length);
        bytes32 pre = points[part];
        bytes32 asserted = points[part + 1];
        bytes32 verified = verifier.step(pre, proof);
        emit StepVerified(gameId, _sender(), a, pre, asserted, verified);
        bool responderWins = verified != asserted;
        // The responder is the challenger exactly when the defender asserts.
        _end(gameId, g, responderWins != g.defenderAsserts, false);
    }

    /// @notice Ends the game in favour of the party not to move, once the mover's clock ran out.
    /// Anyone may call.
    function timeout(uint256 gameId) external {
        Game storage g = _game(gameId);
        _requireLive(gameId, g);
        bool defenderToMove = _defenderToMove(g);
        uint256 elapsed = block.timestamp - g.lastMoveAt;
        uint256 left = defenderToMove ? g.defenderClock : g.challengerClock;
        if (elapsed <= left) revert ClockRunning(gameId, left - elapsed);
        // The winner is expected to send the timeout; its allowance counts it.
        if (!defenderToMove) ++g.defenderTxs;
        _end(gameId, g, !defenderToMove, true);
    }

    /// @notice Makes several calls to this contract in one transaction, each as if the caller made it on
    /// its own (moves in several games, timeouts), so one transaction a block keeps any number of games
    /// going. Each call stands alone: one that reverts (say, in a game that ended or was cancelled in
    /// front of the batch) undoes nothing else; `ok[i]` tells which succeeded.
    /// @dev Delegatecalls into this contract, which holds no ETH and has no payable function; `owner`-only
    /// functions still see the real caller and refuse.
    function multicall(bytes[] calldata calls) external returns (bool[] memory ok) {
        ok = _batch(calls);
    }

    /// @notice The owner makes `calls` (as in {multicall}) on behalf of `player`, so a market call that
    /// challenges or tops up can carry the caller's moves in the same transaction: one transaction a
    /// block then does all an honest party must do, however many claims a liar posts.
    /// @dev Only the owner, which passes its own caller. While the calls run the owner's privileges are
    /// suspended ({create} and {cancel} refuse), so forwarded calldata cannot act as the owner.
    function playFor(address player, bytes[] calldata calls) external returns (bool[] memory ok) {
        _onlyOwner();
        if (player == address(0)) revert BadParties(player, player);
        _player = player;
        ok = _batch(calls);
        _player = address(0);
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @notice The stored state of a game.
    function game(uint256 gameId) external view returns (Game memory) {
        return _games[gameId];
    }

    /// @inheritdoc IDisputeGame
    function status(uint256 gameId) external view returns (Status) {
        return _games[gameId].status;
    }

    /// @notice The party whose move it is (zero when the game is over).
    function toMove(uint256 gameId) external view returns (address) {
        Game storage g = _games[gameId];
        if (g.status != Status.AwaitingDissection && g.status != Status.AwaitingResponse) return address(0);
        return _defenderToMove(g) ? g.defender : g.challenger;
    }

    /// @notice Seconds left on each clock now (the running clock is charged up to `block.timestamp`).
    function clocks(uint256 gameId) external view returns (uint256 defender, uint256 challenger) {
        Game storage g = _games[gameId];
        defender = g.defenderClock;
        challenger = g.challengerClock;
        if (g.status == Status.AwaitingDissection || g.status == Status.AwaitingResponse) {
            uint256 elapsed = block.timestamp - g.lastMoveAt;
            if (_defenderToMove(g)) defender = elapsed >= defender ? 0 : defender - elapsed;
            else challenger = elapsed >= challenger ? 0 : challenger - elapsed;
        }
    }

    /// @notice Number of parts of a dissection of a segment of `len` steps: min(k, len).
    function partCount(uint256 len) public view returns (uint256) {
        return len < arity ? len : arity;
    }

    /// @notice The step index of boundary `i` of the dissection of [lo, hi]: lo + floor(i * L / m).
    /// Parts therefore span floor(L/m) or ceil(L/m) steps, never zero.
    function boundary(uint64 lo, uint64 hi, uint256 i) public view returns (uint64) {
        uint256 len = hi - lo;
        return uint64(lo + (i * len) / partCount(len));
    }

    /// @notice The bound on the moves of a game over `steps` steps: ceil(log_k steps) + 1.
    function maxMoves(uint64 steps) public view returns (uint256 moves) {
        uint256 span = 1;
        while (span < steps) {
            span *= arity;
            ++moves;
        }
        return moves + 1;
    }

    // ------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------

    function _game(uint256 gameId) private view returns (Game storage g) {
        g = _games[gameId];
        if (g.status == Status.None) revert UnknownGame(gameId);
    }

    function _requireLive(uint256 gameId, Game storage g) private view {
        if (g.status != Status.AwaitingDissection && g.status != Status.AwaitingResponse) {
            revert WrongStatus(gameId, g.status);
        }
    }

    /// Delegatecalls each of `calls` into this contract, each standing alone. Every refusal of a move
    /// here carries its error; a call that failed without one (no revert data: out of gas, here or in
    /// the verifier or the owner's hook, whose empty revert bubbles up), or with no more than the 1/64
    /// of the gas kept back, ran out of gas: then the whole batch reverts ({CallFailedWithoutReason}),
    /// so no front-run that makes a move dearer can have it dropped from a transaction that succeeds.
    function _batch(bytes[] calldata calls) private returns (bool[] memory ok) {
        ok = new bool[](calls.length);
        for (uint256 i = 0; i < calls.length; ++i) {
            uint256 before = gasleft();
            (bool success, bytes memory reason) = address(this).delegatecall(calls[i]);
            if (!success && (reason.length == 0 || gasleft() <= before / 64)) {
                revert CallFailedWithoutReason(i);
            }
            ok[i] = success;
        }
    }

    /// Reverts unless the owner calls for itself (not during {playFor}).
    function _onlyOwner() private view {
        if (msg.sender != owner || _player != address(0)) revert NotOwner(msg.sender);
    }

    /// The party making the current call: the player during the owner's {playFor}, else the caller.
    function _sender() private view returns (address) {
        address player = _player;
        return player != address(0) && msg.sender == owner ? player : msg.sender;
    }

    function _defenderToMove(Game storage g) private view returns (bool) {
        // Dissection: the defender moves. Response: the party that did not post the dissection moves.
        return g.status == Status.AwaitingDissection || !g.defenderAsserts;
    }

    /// Checks a response's common preconditions, counts the move and returns the bounds of the named part.
    function _enterResponse(uint256 gameId, Game storage g, bytes32[] calldata points, uint256 part)
        private
        returns (uint64 a, uint64 b)
    {
        if (g.status != Status.AwaitingResponse) revert WrongStatus(gameId, g.status);
        bool defenderMoves = !g.defenderAsserts;
        address mover = defenderMoves ? g.defender : g.challenger;
        address sender = _sender();
        if (sender != mover) revert NotYourMove(sender, mover);
        _tick(gameId, g, defenderMoves);
        ++g.moves;
        if (defenderMoves) ++g.defenderTxs;
        uint64 lo = g.lo;
        uint64 hi = g.hi;
        uint256 m = partCount(hi - lo);
        if (points.length != m + 1) revert WrongPointCount(points.length, m + 1);
        // The initial 1-step game commits to [start, end] with the same encoding as a dissection.
        if (keccak256(abi.encodePacked(points)) != g.points) revert PointsMismatch();
        if (part >= m) revert PartOutOfRange(part, m);
        a = boundary(lo, hi, part);
        b = boundary(lo, hi, part + 1);
    }

    /// Charges the mover's clock for the time since the last move and restarts the other clock.
    function _tick(uint256 gameId, Game storage g, bool defenderMoves) private {
        uint256 elapsed = block.timestamp - g.lastMoveAt;
        if (defenderMoves) {
            if (elapsed > g.defenderClock) revert ClockExpired(gameId, g.defender);
            g.defenderClock -= SafeCast.toUint64(elapsed);
        } else {
            if (elapsed > g.challengerClock) revert ClockExpired(gameId, g.challenger);
            g.challengerClock -= SafeCast.toUint64(elapsed);
        }
        g.lastMoveAt = uint40(block.timestamp);
    }

    function _end(uint256 gameId, Game storage g, bool defenderWon, bool byTimeout) private {
        g.status = defenderWon ? Status.DefenderWon : Status.ChallengerWon;
        emit GameEnded(gameId, defenderWon, byTimeout);
        IDisputeGameOwner(owner).onGameEnded(gameId, defenderWon);
    }

    function _commit2(bytes32 start, bytes32 end) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(start, end));
    }
}
