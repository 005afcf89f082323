// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IModelState} from "./interfaces/IModelState.sol";
import {IOneStepVerifier} from "./interfaces/IOneStepVerifier.sol";
import {IDisputeGameOwner} from "./interfaces/IDisputeGame.sol";
import {IRevenueShare} from "./interfaces/IRevenueShare.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {DisputeGame} from "./DisputeGame.sol";

/// @title Optimistic inference market
/// @notice Requesters pay a model's fee for an inference; a submitter posts the result with a bond;
/// anyone may challenge it with a bond during the challenge window, each challenge opening its own
/// {DisputeGame} (games run in parallel). A claim is voided as soon as one challenger wins; it settles
/// once the window has passed and every game ended for the submitter. Settlement pays the submitter
/// its share of the fee and deposits the rest into the model's {RevenueShare}. A voided claim reopens
/// the request for another submitter; a request without a settled result by its deadline is refunded.
///
/// All ETH of the protocol except settled revenue stays here: escrowed fees of open requests, bonds of
/// pending claims and live games, and `withdrawable` balances, which their owners pull with
/// {withdraw}. Games are settled one by one when they end (no loop over games anywhere).
///
/// The market deploys its {ModelRegistry} and its {DisputeGame} in the constructor, so the three
/// trust each other by construction; the commitment scheme ({IModelState}) and the one-step verifier
/// are deployment parameters.
contract InferenceMarket is ReentrancyGuardTransient, IDisputeGameOwner {
    /// @notice Basis points denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Longest output proof: the 185-byte state header and 64 siblings.
    uint256 public constant MAX_OUTPUT_PROOF_BYTES = 189 + 64 * 32;
    /// @notice Where burnt bond shares go.
    address public constant BURN_ADDRESS = address(0);
    /// @notice Longest challenge window or request lifetime.
    uint64 public constant MAX_PERIOD = 365 days;

    /// @notice Deployment parameters.
    struct Config {
        IModelState modelState; // commitment scheme (ModelStateAdapter in production)
        IOneStepVerifier verifier; // one-step verifier (OneStepVerifier in production)
        uint256 arity; // k of the dissection, in [8, 32]
        uint64 clockBudget; // seconds per party per game
        uint64 challengeWindow; // seconds after a submission during which challenges open
        uint64 requestTimeout; // seconds after a request during which results may be submitted
        uint96 submitterBond; // wei
        uint96 challengerBond; // wei
        uint16 burnBps; // share of a losing bond that is burnt, in (0, 10,000]
    }

    /// @notice Life cycle of a request.
    enum RequestStatus {
        None,
        Open, // waiting for a result (again, after a voided claim)
        Claimed, // a claim is pending
        Finalized, // settled: the fee was paid out
        Refunded // expired without a result: the fee went back to the requester
    }

    /// @notice Life cycle of a claim.
    enum ClaimStatus {
        None,
        Pending,
        Voided,
        Finalized
    }

    /// @notice A request; fee, share and token are copied from the registry at request time.
    struct Request {
        address requester;
        uint64 deadline; // last moment (exclusive) to submit a result
        RequestStatus status;
        uint16 submitterShareBps;
        address revenueShare;
        uint96 fee;
        bytes32 modelId;
        bytes32 inputHash; // keccak256 of the input bytes
        bytes32 initialState; // derived on-chain from the commitment and the input
        uint256 activeClaim; // the pending or finalized claim, 0 when none
    }

    /// @notice A claimed result.
    struct Claim {
        address submitter;
        uint64 steps;
        ClaimStatus status;
        uint64 challengeDeadline; // challenges are accepted before this time
        uint32 openGames; // games not settled yet
        uint256 requestId;
        bytes32 finalState;
        bytes32 outputHash; // keccak256 of the output bytes
    }

    /// @notice The market's side of a game.
    struct GameRef {
        uint64 claimId;
        address challenger;
        bool settled;
    }

    /// @notice The model registry (deployed by this market).
    ModelRegistry public immutable registry;
    /// @notice The dispute games (deployed by this market).
    DisputeGame public immutable disputeGame;
    /// @notice The commitment scheme.
    IModelState public immutable modelState;
    /// @notice Seconds after a submission during which challenges are accepted.
    uint64 public immutable challengeWindow;
    /// @notice Seconds after a request during which results may be submitted.
    uint64 public immutable requestTimeout;
    /// @notice Bond of a submission.
    uint96 public immutable submitterBond;
    /// @notice Bond of a challenge.
    uint96 public immutable challengerBond;
    /// @notice Share of a losing bond that is burnt.
    uint16 public immutable burnBps;

    /// @notice Number of requests; ids start at 1.
    uint256 public requestCount;
    /// @notice Number of claims; ids start at 1.
    uint256 public claimCount;
    /// @notice ETH burnt so far.
    uint256 public totalBurned;
    /// @notice ETH each account can pull with {withdraw}.
    mapping(address account => uint256) public withdrawable;

    mapping(uint256 requestId => Request) private _requests;
    mapping(uint256 claimId => Claim) private _claims;
    mapping(uint256 gameId => GameRef) private _games;
    mapping(uint256 claimId => mapping(address challenger => bool)) private _challenged;

    /// @notice A request was made; `input` is the full input for watchers and submitters.
    event Requested(
        uint256 indexed requestId,
        bytes32 indexed modelId,
        address indexed requester,
        uint256 fee,
        uint64 deadline,
        bytes32 initialState,
        bytes input
    );
    /// @notice A result was claimed; challenges are accepted before `challengeDeadline`.
    event Submitted(
        uint256 indexed requestId,
        uint256 indexed claimId,
        address indexed submitter,
        bytes32 finalState,
        uint64 steps,
        uint64 challengeDeadline,
        bytes output
    );
    /// @notice A challenge opened game `gameId` (on {DisputeGame}) against claim `claimId`.
    event Challenged(
        uint256 indexed requestId, uint256 indexed claimId, uint256 indexed gameId, address challenger
    );
    /// @notice A game was settled: `winner` was credited `payout` (its own bond included), `burned` burnt.
    event GameSettled(
        uint256 indexed gameId,
        uint256 indexed claimId,
        bool defenderWon,
        address winner,
        uint256 payout,
        uint256 burned
    );
    /// @notice A game of an already voided claim was closed; the challenger's bond was returned.
    event GameClosed(uint256 indexed gameId, uint256 indexed claimId, address challenger);
    /// @notice A claim lost a game; the request is open again.
    event ClaimVoided(uint256 indexed requestId, uint256 indexed claimId, uint256 indexed gameId);
    /// @notice A claim settled: the submitter got `submitterCut` (plus its bond), the token `revenue`.
    event Finalized(
        uint256 indexed requestId,
        uint256 indexed claimId,
        address indexed submitter,
        uint256 submitterCut,
        uint256 revenue
    );
    /// @notice An expired request's fee was credited back to its requester.
    event Refunded(uint256 indexed requestId, address indexed requester, uint256 fee);
    /// @notice `account` withdrew `amount` to `to`.
    event Withdrawn(address indexed account, address indexed to, uint256 amount);

    /// @notice A deployment parameter is out of range.
    error BadConfig(string field);
    /// @notice No model with this id (raised by the registry).
    error UnknownModel(bytes32 modelId);
    /// @notice The payment must equal `expected` exactly (fee or bond).
    error WrongPayment(uint256 sent, uint256 expected);
    /// @notice The input is longer than the model's input region.
    error InputTooLong(uint256 length, uint256 max);
    /// @notice No such request.
    error UnknownRequest(uint256 requestId);
    /// @notice The request is not in the status this call needs.
    error WrongRequestStatus(uint256 requestId, RequestStatus status);
    /// @notice The request's deadline passed.
    error RequestExpired(uint256 requestId, uint64 deadline);
    /// @notice The request's deadline has not passed yet.
    error RequestNotExpired(uint256 requestId, uint64 deadline);
    /// @notice The step count must be in [1, maxSteps].
    error StepsOutOfRange(uint64 steps, uint64 maxSteps);
    /// @notice The output must have exactly the model's output size.
    error OutputLength(uint256 length, uint256 expected);
    /// @notice The output proof is longer than {MAX_OUTPUT_PROOF_BYTES}.
    error OutputProofTooLong(uint256 length);
    /// @notice The output bytes are not the output region of a state halted at `steps`.
    error OutputMismatch();
    /// @notice The claim is not the request's pending claim.
    error ClaimNotPending(uint256 requestId, uint256 claimId);
    /// @notice Challenges closed at `deadline`.
    error ChallengeWindowClosed(uint64 deadline);
    /// @notice The submitter cannot challenge its own claim.
    error SelfChallenge();
    /// @notice This account already challenged this claim.
    error AlreadyChallenged(uint256 claimId, address challenger);
    /// @notice The challenge window is still open until `deadline`.
    error ChallengeWindowOpen(uint64 deadline);
    /// @notice `open` games of the claim have not ended.
    error GamesOpen(uint32 open);
    /// @notice Only the dispute game contract may report outcomes.
    error NotDisputeGame(address caller);
    /// @notice No such game, or it was settled already.
    error GameNotOpen(uint256 gameId);
    /// @notice The game's claim is still pending: play the game instead.
    error ClaimNotVoided(uint256 claimId);
    /// @notice Nothing to withdraw.
    error NothingToWithdraw();
    /// @notice The ETH transfer to `to` failed.
    error TransferFailed(address to, uint256 amount);

    /// @param cfg Deployment parameters (see {Config}).
    constructor(Config memory cfg) {
        if (address(cfg.modelState) == address(0)) revert BadConfig("modelState");
        if (address(cfg.verifier) == address(0)) revert BadConfig("verifier");
        if (cfg.challengeWindow == 0 || cfg.challengeWindow > MAX_PERIOD) {
            revert BadConfig("challengeWindow");
        }
        if (cfg.requestTimeout == 0 || cfg.requestTimeout > MAX_PERIOD) revert BadConfig("requestTimeout");
        if (cfg.submitterBond == 0) revert BadConfig("submitterBond");
        if (cfg.challengerBond == 0) revert BadConfig("challengerBond");
        if (cfg.burnBps == 0 || cfg.burnBps > BPS) revert BadConfig("burnBps");
        modelState = cfg.modelState;
        challengeWindow = cfg.challengeWindow;
        requestTimeout = cfg.requestTimeout;
        submitterBond = cfg.submitterBond;
        challengerBond = cfg.challengerBond;
        burnBps = cfg.burnBps;
        // DisputeGame checks the arity and the clock budget.
        disputeGame = new DisputeGame(address(this), cfg.verifier, cfg.arity, cfg.clockBudget);
        registry = new ModelRegistry(cfg.modelState, address(this));
    }

    // ------------------------------------------------------------------------------------------------
    // Requester
    // ------------------------------------------------------------------------------------------------

    /// @notice Requests an inference of `modelId` on `input`, paying exactly the model's current fee.
    /// @dev Derives the initial state hash from the registered commitment and the input here, once, at
    /// the requester's expense (O(inputSize / 32) hashes); inputs are bounded by the model's input region
    /// (at most {ModelRegistry.MAX_IO_BYTES}). An exact payment protects against a fee raised in flight.
    /// @return requestId The new request.
    function request(bytes32 modelId, bytes calldata input)
        external
        payable
        nonReentrant
        returns (uint256 requestId)
    {
        ModelRegistry.Model memory m = _model(modelId);
        if (msg.value != m.fee) revert WrongPayment(msg.value, m.fee);
        if (input.length > m.commitment.inputSize) revert InputTooLong(input.length, m.commitment.inputSize);
        bytes32 initialState = modelState.initialState(m.commitment, m.inputSiblings, input);
        requestId = ++requestCount;
        uint64 deadline = uint64(block.timestamp) + requestTimeout;
        _requests[requestId] = Request({
            requester: msg.sender,
            deadline: deadline,
            status: RequestStatus.Open,
            submitterShareBps: m.submitterShareBps,
            revenueShare: m.revenueShare,
            fee: m.fee,
            modelId: modelId,
            inputHash: keccak256(input),
            initialState: initialState,
            activeClaim: 0
        });
        emit Requested(requestId, modelId, msg.sender, m.fee, deadline, initialState, input);
    }

    /// @notice Credits an expired request's fee back to its requester. Anyone may call.
    function refund(uint256 requestId) external nonReentrant {
        Request storage r = _request(requestId);
        if (r.status != RequestStatus.Open) revert WrongRequestStatus(requestId, r.status);
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clocks; validator skew is seconds)
        if (block.timestamp < r.deadline) revert RequestNotExpired(requestId, r.deadline);
        r.status = RequestStatus.Refunded;
        withdrawable[r.requester] += r.fee;
        emit Refunded(requestId, r.requester, r.fee);
    }

    // ------------------------------------------------------------------------------------------------
    // Submitter
    // ------------------------------------------------------------------------------------------------

    /// @notice Claims a result for an open request, with a bond of exactly {submitterBond}.
    /// @param requestId The request.
    /// @param output The output region's bytes (exactly the model's output size).
    /// @param finalState The state hash after `steps` steps, which must be halted.
    /// @param steps The step count, in [1, maxSteps].
    /// @param outputProof The final state's header and the output region's siblings.
    /// @return claimId The new claim.
    function submit(
        uint256 requestId,
        bytes calldata output,
        bytes32 finalState,
        uint64 steps,
        bytes calldata outputProof
    ) external payable nonReentrant returns (uint256 claimId) {
        Request storage r = _request(requestId);
        if (r.status != RequestStatus.Open) revert WrongRequestStatus(requestId, r.status);
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clocks; validator skew is seconds)
        if (block.timestamp >= r.deadline) revert RequestExpired(requestId, r.deadline);
        if (msg.value != submitterBond) revert WrongPayment(msg.value, submitterBond);
        _checkResult(r.modelId, output, finalState, steps, outputProof);

        claimId = ++claimCount;
        uint64 challengeDeadline = uint64(block.timestamp) + challengeWindow;
        _claims[claimId] = Claim({
            submitter: msg.sender,
            steps: steps,
            status: ClaimStatus.Pending,
            challengeDeadline: challengeDeadline,
            openGames: 0,
            requestId: requestId,
            finalState: finalState,
            outputHash: keccak256(output)
        });
        r.status = RequestStatus.Claimed;
        r.activeClaim = claimId;
        emit Submitted(requestId, claimId, msg.sender, finalState, steps, challengeDeadline, output);
    }

    /// @notice Settles a claim whose window passed with every game ended for the submitter: the
    /// submitter is credited its share of the fee and its bond, the rest of the fee is deposited into the
    /// model's revenue-share token. Anyone may call.
    function finalize(uint256 requestId) external nonReentrant {
        Request storage r = _request(requestId);
        if (r.status != RequestStatus.Claimed) revert WrongRequestStatus(requestId, r.status);
        uint256 claimId = r.activeClaim;
        Claim storage c = _claims[claimId];
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clocks; validator skew is seconds)
        if (block.timestamp < c.challengeDeadline) revert ChallengeWindowOpen(c.challengeDeadline);
        if (c.openGames != 0) revert GamesOpen(c.openGames);
        c.status = ClaimStatus.Finalized;
        r.status = RequestStatus.Finalized;
        uint256 fee = r.fee;
        uint256 cut = (fee * r.submitterShareBps) / BPS;
        uint256 revenue = fee - cut;
        withdrawable[c.submitter] += cut + submitterBond;
        emit Finalized(requestId, claimId, c.submitter, cut, revenue);
        // The token was deployed by the registry: known code that only books the deposit.
        if (revenue != 0) IRevenueShare(r.revenueShare).depositRevenue{value: revenue}();
    }

    // ------------------------------------------------------------------------------------------------
    // Challenger
    // ------------------------------------------------------------------------------------------------

    /// @notice Challenges claim `claimId` of request `requestId` with a bond of exactly
    /// {challengerBond}, opening a game in which the caller is the challenger and the submitter the
    /// defender. Several accounts may challenge the same claim; each gets its own game.
    /// @dev The claim id is explicit so that a challenge sent against one claim can never land on a
    /// different claim of the same request (after a void and a resubmission).
    /// @return gameId The game on {disputeGame}.
    function challenge(uint256 requestId, uint256 claimId)
        external
        payable
        nonReentrant
        returns (uint256 gameId)
    {
        Request storage r = _request(requestId);
        if (r.status != RequestStatus.Claimed || r.activeClaim != claimId) {
            revert ClaimNotPending(requestId, claimId);
        }
        Claim storage c = _claims[claimId];
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clocks; validator skew is seconds)
        if (block.timestamp >= c.challengeDeadline) revert ChallengeWindowClosed(c.challengeDeadline);
        if (msg.value != challengerBond) revert WrongPayment(msg.value, challengerBond);
        if (msg.sender == c.submitter) revert SelfChallenge();
        if (_challenged[claimId][msg.sender]) revert AlreadyChallenged(claimId, msg.sender);
        _challenged[claimId][msg.sender] = true;
        ++c.openGames;
        gameId = disputeGame.create(c.submitter, msg.sender, r.initialState, c.finalState, c.steps);
        _games[gameId] =
            GameRef({claimId: SafeCast.toUint64(claimId), challenger: msg.sender, settled: false});
        emit Challenged(requestId, claimId, gameId, msg.sender);
    }

    /// @notice Closes a live game whose claim was voided by another game, returning the challenger's
    /// bond in full. Anyone may call.
    function closeGame(uint256 gameId) external nonReentrant {
        GameRef storage g = _games[gameId];
        if (g.challenger == address(0) || g.settled) revert GameNotOpen(gameId);
        if (_claims[g.claimId].status != ClaimStatus.Voided) revert ClaimNotVoided(g.claimId);
        g.settled = true;
        withdrawable[g.challenger] += challengerBond;
        emit GameClosed(gameId, g.claimId, g.challenger);
        disputeGame.cancel(gameId);
    }

    /// @inheritdoc IDisputeGameOwner
    /// @dev Constant work: credits the winner, burns the burn share, and voids the claim when the
    /// challenger won. Games of a claim voided meanwhile only return the challenger's bond.
    function onGameEnded(uint256 gameId, bool defenderWon) external nonReentrant {
        if (msg.sender != address(disputeGame)) revert NotDisputeGame(msg.sender);
        GameRef storage g = _games[gameId];
        if (g.challenger == address(0) || g.settled) revert GameNotOpen(gameId);
        g.settled = true;
        uint256 claimId = g.claimId;
        Claim storage c = _claims[claimId];
        address challenger = g.challenger;
        if (c.status != ClaimStatus.Pending) {
            // Voided by an earlier game: nothing is left to win or lose.
            withdrawable[challenger] += challengerBond;
            emit GameClosed(gameId, claimId, challenger);
            return;
        }
        --c.openGames;
        if (defenderWon) {
            uint256 burned = (uint256(challengerBond) * burnBps) / BPS;
            uint256 payout = challengerBond - burned;
            withdrawable[c.submitter] += payout;
            emit GameSettled(gameId, claimId, true, c.submitter, payout, burned);
            _burn(burned);
        } else {
            uint256 burned = (uint256(submitterBond) * burnBps) / BPS;
            uint256 payout = challengerBond + (submitterBond - burned);
            c.status = ClaimStatus.Voided;
            uint256 requestId = c.requestId;
            Request storage r = _requests[requestId];
            r.status = RequestStatus.Open;
            r.activeClaim = 0;
            withdrawable[challenger] += payout;
            emit GameSettled(gameId, claimId, false, challenger, payout, burned);
            emit ClaimVoided(requestId, claimId, gameId);
            _burn(burned);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Everyone
    // ------------------------------------------------------------------------------------------------

    /// @notice Sends the caller's whole withdrawable balance to the caller.
    function withdraw() external {
        withdrawTo(payable(msg.sender));
    }

    /// @notice Sends the caller's whole withdrawable balance to `to`.
    function withdrawTo(address payable to) public nonReentrant {
        uint256 amount = withdrawable[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        withdrawable[msg.sender] = 0;
        emit Withdrawn(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @notice A request (reverts for an unknown id).
    function getRequest(uint256 requestId) external view returns (Request memory) {
        return _request(requestId);
    }

    /// @notice A claim (all zero for an unknown id).
    function getClaim(uint256 claimId) external view returns (Claim memory) {
        return _claims[claimId];
    }

    /// @notice The market's record of a game (all zero for an unknown id).
    function getGame(uint256 gameId) external view returns (GameRef memory) {
        return _games[gameId];
    }

    /// @notice Whether `challenger` challenged claim `claimId`.
    function hasChallenged(uint256 claimId, address challenger) external view returns (bool) {
        return _challenged[claimId][challenger];
    }

    /// @notice The settled result of a request: `finalized` is false until {finalize} succeeded.
    function result(uint256 requestId)
        external
        view
        returns (bool finalized, bytes32 modelId, bytes32 inputHash, bytes32 outputHash)
    {
        Request storage r = _requests[requestId];
        finalized = r.status == RequestStatus.Finalized;
        modelId = r.modelId;
        inputHash = r.inputHash;
        if (finalized) outputHash = _claims[r.activeClaim].outputHash;
    }

    // ------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------

    /// Reverts with `UnknownModel(modelId)` (the registry's error, same selector) for an unknown id.
    function _model(bytes32 modelId) private view returns (ModelRegistry.Model memory) {
        return registry.model(modelId);
    }

    /// Checks a claimed result against the model: step range, output length, and the Merkle path
    /// from the output bytes to the final state's memory root.
    function _checkResult(
        bytes32 modelId,
        bytes calldata output,
        bytes32 finalState,
        uint64 steps,
        bytes calldata outputProof
    ) private view {
        ModelRegistry.Model memory m = registry.model(modelId);
        if (steps == 0 || steps > m.maxSteps) revert StepsOutOfRange(steps, m.maxSteps);
        if (output.length != m.commitment.outputSize) {
            revert OutputLength(output.length, m.commitment.outputSize);
        }
        if (outputProof.length > MAX_OUTPUT_PROOF_BYTES) revert OutputProofTooLong(outputProof.length);
        if (!modelState.outputMatches(m.commitment, finalState, steps, output, outputProof)) {
            revert OutputMismatch();
        }
    }

    function _request(uint256 requestId) private view returns (Request storage r) {
        r = _requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
    }

    function _burn(uint256 amount) private {
        if (amount == 0) return;
        totalBurned += amount;
        (bool ok,) = BURN_ADDRESS.call{value: amount}("");
        if (!ok) revert TransferFailed(BURN_ADDRESS, amount);
    }
}
