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
/// @notice Requesters pay a model's fee for an inference. Any number of submitters may post claimed
/// results for a request (each with a bond and a stake for the games against it) until the request's
/// deadline; anyone may challenge a claim during its window, each challenge opening its own
/// {DisputeGame} against that claim (games run in parallel). The first claim to survive its window with
/// every game won settles the request: the submitter gets its share of the fee, the rest goes to the
/// model's {RevenueShare}. A claim is voided as soon as one challenger wins.
///
/// Economics (docs/SECURITY.md has the analysis and the numbers):
/// - Every game is funded on both sides when it opens: the challenger's bond, and `gameStake` reserved
///   from the claim's free stake (the submitter's deposit beyond its bond). A claim whose free stake is
///   below `gameStake` refuses challenges and cannot finalize; its challenge window is extended by the
///   time it spent so, and after `topUpPeriod` without a {topUp} anyone may void it.
/// - A challenger of a voided claim gets its bond back plus its game's whole stake, which covers
///   `moveAllowance` per transaction it can have sent; the first challenger to win also gets the unburnt
///   part of the submitter's bond. At least half of that bond (`burnBps` >= 5,000) is burnt, so a liar
///   that voids its own claim through another account recovers at most half of it.
/// - A defender that wins a game gets `moveAllowance` per move from the challenger's bond and the rest
///   of it minus `challengerBurnBps`; its game stake returns to the claim's free stake.
///
/// All ETH of the protocol except settled revenue stays here: escrowed fees, bonds and stakes of pending
/// claims, bonds and stakes of live games, and `withdrawable` balances, which their owners pull with
/// {withdraw}. Games are settled one by one when they end (no loop over games anywhere).
///
/// The market deploys its {ModelRegistry} and its {DisputeGame} in the constructor, so the three
/// trust each other by construction; the commitment scheme ({IModelState}) and the one-step verifier
/// are deployment parameters.
contract InferenceMarket is ReentrancyGuardTransient, IDisputeGameOwner {
    /// @notice Basis points denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Longest output proof: the 189-byte state header and 64 siblings.
    uint256 public constant MAX_OUTPUT_PROOF_BYTES = 189 + 64 * 32;
    /// @notice Where burnt bond shares go.
    address public constant BURN_ADDRESS = address(0);
    /// @notice Longest challenge window, request lifetime or top-up period.
    uint64 public constant MAX_PERIOD = 365 days;
    /// @notice Smallest burnt share of a voided claim's bond: a liar recovers at most half of it.
    uint16 public constant MIN_BURN_BPS = 5_000;

    /// @notice Deployment parameters.
    struct Config {
        IModelState modelState; // commitment scheme (ModelStateAdapter in production)
        IOneStepVerifier verifier; // one-step verifier (OneStepVerifier in production)
        uint256 arity; // k of the dissection, in [8, 32]
        uint64 clockBudget; // seconds per party per game
        uint64 challengeWindow; // seconds after a submission during which challenges open
        uint64 requestTimeout; // seconds after a request during which results may be submitted
        uint64 topUpPeriod; // seconds a claim may refuse challenges (stake exhausted) before it is voidable
        uint96 submitterBond; // wei, slashed when the claim is voided
        uint96 challengerBond; // wei; must cover the defender's allowance for the longest game
        uint96 moveAllowance; // wei per transaction of a party in a game, toward its gas
        uint16 burnBps; // burnt share of a voided claim's bond, in [5,000, 10,000]
        uint16 challengerBurnBps; // burnt share of a losing challenger's bond beyond the allowance
    }

    /// @notice Life cycle of a request.
    enum RequestStatus {
        None,
        Open, // accepting claims until the deadline; settles with the first claim to finalize
        Finalized, // settled: the fee was paid out
        Refunded, // expired without a settled claim: the fee went back to the requester
        Cancelled // withdrawn by the requester while no claim was pending
    }

    /// @notice Life cycle of a claim.
    enum ClaimStatus {
        None,
        Pending, // in its window, or in games
        Voided, // lost a game, or stayed exhausted past the top-up period
        Finalized, // settled its request
        Released // survived, but another claim settled the request first: bond and stake returned
    }

    /// @notice A request; fee, share and token are copied from the registry at request time.
    struct Request {
        address requester;
        uint64 deadline; // last moment (exclusive) to submit a claim
        RequestStatus status;
        uint16 submitterShareBps;
        address revenueShare;
        uint96 fee;
        uint32 liveClaims; // pending claims
        bytes32 modelId;
        bytes32 inputHash; // keccak256 of the input bytes
        bytes32 initialState; // derived on-chain from the commitment and the input
        uint256 settledClaim; // the finalized claim, 0 until then
    }

    /// @notice A claimed result.
    struct Claim {
        address submitter;
        uint64 steps;
        ClaimStatus status;
        uint64 challengeDeadline; // challenges are accepted before this time (extended while exhausted)
        uint32 openGames; // games not settled yet
        uint64 exhaustedSince; // when the free stake fell below `gameStake` (0: it is not)
        uint128 gameStake; // reserved from the free stake by each game
        uint256 requestId;
        bytes32 finalState;
        bytes32 outputHash; // keccak256 of the output bytes
        uint256 freeStake; // deposited beyond the bond and not reserved by a game
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
    /// @notice Seconds an exhausted claim has to {topUp} before anyone may void it.
    uint64 public immutable topUpPeriod;
    /// @notice Bond of a claim.
    uint96 public immutable submitterBond;
    /// @notice Bond of a challenge.
    uint96 public immutable challengerBond;
    /// @notice Wei per transaction of a party in a game.
    uint96 public immutable moveAllowance;
    /// @notice Burnt share of a voided claim's bond.
    uint16 public immutable burnBps;
    /// @notice Burnt share of a losing challenger's bond beyond the defender's allowance.
    uint16 public immutable challengerBurnBps;

    /// @notice Number of requests; ids start at 1.
    uint256 public requestCount;
    /// @notice Number of claims; ids start at 1.
    uint256 public claimCount;
    /// @notice ETH burnt so far.
    uint256 public totalBurned;
    /// @notice Bonds of voided claims so far (each split into burnt and paid out).
    uint256 public totalSlashed;
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
    /// @notice A result was claimed with `stake` for its games; challenges open until `challengeDeadline`.
    event Submitted(
        uint256 indexed requestId,
        uint256 indexed claimId,
        address indexed submitter,
        bytes32 finalState,
        uint64 steps,
        uint64 challengeDeadline,
        uint256 stake,
        bytes output
    );
    /// @notice `from` added `amount` to the claim's free stake.
    event ToppedUp(uint256 indexed claimId, address indexed from, uint256 amount, uint256 freeStake);
    /// @notice The claim's free stake fell below one game's stake: it refuses challenges until topped up.
    event Exhausted(uint256 indexed claimId, uint256 freeStake);
    /// @notice The claim accepts challenges again; its window now ends at `challengeDeadline`.
    event Restored(uint256 indexed claimId, uint64 challengeDeadline);
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
    /// @notice A game of a voided claim was closed; the challenger got its bond and the game's stake.
    event GameClosed(uint256 indexed gameId, uint256 indexed claimId, address challenger, uint256 payout);
    /// @notice A claim was voided (`gameId` 0: exhausted too long); `beneficiary` got `bounty`.
    event ClaimVoided(
        uint256 indexed requestId,
        uint256 indexed claimId,
        uint256 indexed gameId,
        address beneficiary,
        uint256 bounty,
        uint256 burned
    );
    /// @notice A claim settled: the submitter got `submitterCut` (plus bond and stake), the token `revenue`.
    event Finalized(
        uint256 indexed requestId,
        uint256 indexed claimId,
        address indexed submitter,
        uint256 submitterCut,
        uint256 revenue
    );
    /// @notice A surviving claim of a request settled by another claim returned `amount` to its submitter.
    event Released(
        uint256 indexed requestId, uint256 indexed claimId, address indexed submitter, uint256 amount
    );
    /// @notice An expired request's fee was credited back to its requester.
    event Refunded(uint256 indexed requestId, address indexed requester, uint256 fee);
    /// @notice The requester cancelled its request; the fee was credited back.
    event Cancelled(uint256 indexed requestId, address indexed requester, uint256 fee);
    /// @notice `account` withdrew `amount` to `to`.
    event Withdrawn(address indexed account, address indexed to, uint256 amount);

    /// @notice A deployment parameter is out of range.
    error BadConfig(string field);
    /// @notice No model with this id (raised by the registry).
    error UnknownModel(bytes32 modelId);
    /// @notice The payment must equal `expected` exactly (fee or challenger bond).
    error WrongPayment(uint256 sent, uint256 expected);
    /// @notice A claim needs its bond plus at least one game's stake: `min` wei.
    error StakeTooLow(uint256 sent, uint256 min);
    /// @notice A top-up of zero.
    error ZeroTopUp();
    /// @notice The input is longer than the model's input region.
    error InputTooLong(uint256 length, uint256 max);
    /// @notice No such request.
    error UnknownRequest(uint256 requestId);
    /// @notice The request is not in the status this call needs.
    error WrongRequestStatus(uint256 requestId, RequestStatus status);
    /// @notice Only the requester may cancel.
    error NotRequester(address caller, address requester);
    /// @notice `live` claims of the request are pending: wait for them.
    error ClaimsPending(uint32 live);
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
    /// @notice The claim is not a pending claim of this request.
    error ClaimNotPending(uint256 requestId, uint256 claimId);
    /// @notice Challenges closed at `deadline`.
    error ChallengeWindowClosed(uint64 deadline);
    /// @notice The claim's free stake (`freeStake`) is below one game's stake (`gameStake`): it must be
    /// topped up before it can be challenged again.
    error StakeExhausted(uint256 claimId, uint256 freeStake, uint256 gameStake);
    /// @notice The claim's stake is not exhausted.
    error NotExhausted(uint256 claimId);
    /// @notice The claim may still be topped up until `until`.
    error TopUpPeriodRunning(uint64 until);
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
        if (cfg.topUpPeriod == 0 || cfg.topUpPeriod > MAX_PERIOD) revert BadConfig("topUpPeriod");
        if (cfg.submitterBond == 0) revert BadConfig("submitterBond");
        if (cfg.moveAllowance == 0) revert BadConfig("moveAllowance");
        if (cfg.burnBps < MIN_BURN_BPS || cfg.burnBps > BPS) revert BadConfig("burnBps");
        if (cfg.challengerBurnBps > BPS) revert BadConfig("challengerBurnBps");
        modelState = cfg.modelState;
        challengeWindow = cfg.challengeWindow;
        requestTimeout = cfg.requestTimeout;
        topUpPeriod = cfg.topUpPeriod;
        submitterBond = cfg.submitterBond;
        challengerBond = cfg.challengerBond;
        moveAllowance = cfg.moveAllowance;
        burnBps = cfg.burnBps;
        challengerBurnBps = cfg.challengerBurnBps;
        // DisputeGame checks the arity and the clock budget.
        disputeGame = new DisputeGame(address(this), cfg.verifier, cfg.arity, cfg.clockBudget);
        // The challenger's bond must pay the defender's allowance in the longest possible game.
        if (cfg.challengerBond < gameStakeFor(type(uint64).max)) revert BadConfig("challengerBond");
        registry = new ModelRegistry(cfg.modelState, address(this));
    }

    // ------------------------------------------------------------------------------------------------
    // Requester
    // ------------------------------------------------------------------------------------------------

    /// @notice Requests an inference of `modelId` on `input`, paying exactly the model's current fee.
    /// @dev Derives the initial state hash from the registered commitment and the input here, once, at
    /// the requester's expense (O(inputSize / 32) hashes); inputs are bounded by the model's input region
    /// (at most {ModelRegistry.MAX_IO_BYTES}). An exact payment protects against a fee raised in flight.
    /// Inputs are zero-padded to the input region, so inputs that differ only by trailing zero bytes
    /// have the same initial state (and the same result).
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
            liveClaims: 0,
            modelId: modelId,
            inputHash: keccak256(input),
            initialState: initialState,
            settledClaim: 0
        });
        emit Requested(requestId, modelId, msg.sender, m.fee, deadline, initialState, input);
    }

    /// @notice Withdraws an open request that has no pending claim; its fee is credited back to the
    /// requester. Only the requester.
    function cancel(uint256 requestId) external nonReentrant {
        Request storage r = _openRequestWithoutClaims(requestId);
        if (msg.sender != r.requester) revert NotRequester(msg.sender, r.requester);
        r.status = RequestStatus.Cancelled;
        withdrawable[r.requester] += r.fee;
        emit Cancelled(requestId, r.requester, r.fee);
    }

    /// @notice Credits an expired request's fee back to its requester once no claim of it is pending.
    /// Anyone may call.
    function refund(uint256 requestId) external nonReentrant {
        Request storage r = _openRequestWithoutClaims(requestId);
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clocks; validator skew is seconds)
        if (block.timestamp < r.deadline) revert RequestNotExpired(requestId, r.deadline);
        r.status = RequestStatus.Refunded;
        withdrawable[r.requester] += r.fee;
        emit Refunded(requestId, r.requester, r.fee);
    }

    // ------------------------------------------------------------------------------------------------
    // Submitter
    // ------------------------------------------------------------------------------------------------

    /// @notice Claims a result for an open request. `msg.value` is the bond ({submitterBond}) plus the
    /// claim's free stake, at least one game's stake ({gameStakeFor}(steps)); each challenge reserves one
    /// game's stake from it. Other claims of the same request (also identical ones) do not matter.
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
        _checkResult(r.modelId, output, finalState, steps, outputProof);
        claimId = _newClaim(requestId, finalState, steps, keccak256(output));
        ++r.liveClaims;
        _emitSubmitted(claimId, output);
    }

    /// @notice Adds `msg.value` to a pending claim's free stake (anyone may); an exhausted claim that
    /// now covers a game's stake accepts challenges again, its window extended by the time it refused them.
    function topUp(uint256 claimId) external payable nonReentrant {
        Claim storage c = _claims[claimId];
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(c.requestId, claimId);
        if (msg.value == 0) revert ZeroTopUp();
        c.freeStake += msg.value;
        emit ToppedUp(claimId, msg.sender, msg.value, c.freeStake);
        _restoreIfCovered(claimId, c);
    }

    /// @notice Settles a claim whose window passed with every game won by the submitter, if no other
    /// claim settled the request first: the submitter is credited its share of the fee, its bond and its
    /// free stake; the rest of the fee is deposited into the model's revenue-share token. Anyone may call.
    function finalize(uint256 claimId) external nonReentrant {
        (Claim storage c, Request storage r) = _survivor(claimId);
        uint256 requestId = c.requestId;
        if (r.status != RequestStatus.Open) revert WrongRequestStatus(requestId, r.status);
        c.status = ClaimStatus.Finalized;
        r.status = RequestStatus.Finalized;
        r.settledClaim = claimId;
        --r.liveClaims;
        uint256 fee = r.fee;
        uint256 cut = (fee * r.submitterShareBps) / BPS;
        uint256 revenue = fee - cut;
        uint256 stake = c.freeStake;
        c.freeStake = 0;
        withdrawable[c.submitter] += cut + submitterBond + stake;
        emit Finalized(requestId, claimId, c.submitter, cut, revenue);
        // The token was deployed by the registry: known code that only books the deposit.
        if (revenue != 0) IRevenueShare(r.revenueShare).depositRevenue{value: revenue}();
    }

    /// @notice Returns bond and free stake of a claim that survived its window and games after another
    /// claim settled its request. Anyone may call.
    function release(uint256 claimId) external nonReentrant {
        (Claim storage c, Request storage r) = _survivor(claimId);
        if (r.status == RequestStatus.Open) revert WrongRequestStatus(c.requestId, r.status);
        c.status = ClaimStatus.Released;
        --r.liveClaims;
        uint256 amount = submitterBond + c.freeStake;
        c.freeStake = 0;
        withdrawable[c.submitter] += amount;
        emit Released(c.requestId, claimId, c.submitter, amount);
    }

    // ------------------------------------------------------------------------------------------------
    // Challenger
    // ------------------------------------------------------------------------------------------------

    /// @notice Challenges claim `claimId` of request `requestId` with a bond of exactly
    /// {challengerBond}, opening a game in which the caller is the challenger and the submitter the
    /// defender; the game reserves one game's stake from the claim. Several accounts may challenge the
    /// same claim; each gets its own game.
    /// @return gameId The game on {disputeGame}.
    function challenge(uint256 requestId, uint256 claimId)
        external
        payable
        nonReentrant
        returns (uint256 gameId)
    {
        Claim storage c = _claims[claimId];
        if (c.status != ClaimStatus.Pending || c.requestId != requestId) {
            revert ClaimNotPending(requestId, claimId);
        }
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clocks; validator skew is seconds)
        if (block.timestamp >= c.challengeDeadline) revert ChallengeWindowClosed(c.challengeDeadline);
        if (msg.value != challengerBond) revert WrongPayment(msg.value, challengerBond);
        if (msg.sender == c.submitter) revert SelfChallenge();
        if (_challenged[claimId][msg.sender]) revert AlreadyChallenged(claimId, msg.sender);
        uint256 stake = c.gameStake;
        if (c.freeStake < stake) revert StakeExhausted(claimId, c.freeStake, stake);
        c.freeStake -= stake;
        if (c.freeStake < stake) {
            c.exhaustedSince = uint64(block.timestamp);
            emit Exhausted(claimId, c.freeStake);
        }
        _challenged[claimId][msg.sender] = true;
        ++c.openGames;
        gameId = disputeGame.create(
            c.submitter, msg.sender, _requests[requestId].initialState, c.finalState, c.steps
        );
        _games[gameId] =
            GameRef({claimId: SafeCast.toUint64(claimId), challenger: msg.sender, settled: false});
        emit Challenged(requestId, claimId, gameId, msg.sender);
    }

    /// @notice Voids a claim that refused challenges (stake exhausted) for longer than {topUpPeriod}.
    /// The caller gets the unburnt part of the bond. Anyone may call.
    function voidExhausted(uint256 claimId) external nonReentrant {
        Claim storage c = _claims[claimId];
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(c.requestId, claimId);
        if (c.exhaustedSince == 0) revert NotExhausted(claimId);
        uint64 until = c.exhaustedSince + topUpPeriod;
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clocks; validator skew is seconds)
        if (block.timestamp < until) revert TopUpPeriodRunning(until);
        _void(claimId, c, 0, msg.sender);
    }

    /// @notice Closes a live game whose claim was voided, crediting the challenger its bond and the
    /// game's stake. Anyone may call.
    function closeGame(uint256 gameId) external nonReentrant {
        GameRef storage g = _games[gameId];
        if (g.challenger == address(0) || g.settled) revert GameNotOpen(gameId);
        Claim storage c = _claims[g.claimId];
        if (c.status != ClaimStatus.Voided) revert ClaimNotVoided(g.claimId);
        _closeVoided(gameId, g, c);
        disputeGame.cancel(gameId);
    }

    /// @inheritdoc IDisputeGameOwner
    /// @dev Constant work. A defender win pays the defender its allowance and most of the challenger's
    /// bond and returns the game's stake to the claim; a challenger win pays the challenger its bond and
    /// the game's stake and voids the claim; a game of an already voided claim only closes.
    function onGameEnded(uint256 gameId, bool defenderWon) external nonReentrant {
        if (msg.sender != address(disputeGame)) revert NotDisputeGame(msg.sender);
        GameRef storage g = _games[gameId];
        if (g.challenger == address(0) || g.settled) revert GameNotOpen(gameId);
        uint256 claimId = g.claimId;
        Claim storage c = _claims[claimId];
        if (c.status != ClaimStatus.Pending) {
            _closeVoided(gameId, g, c);
            return;
        }
        g.settled = true;
        --c.openGames;
        address challenger = g.challenger;
        if (defenderWon) {
            uint256 allowance = uint256(moveAllowance) * disputeGame.game(gameId).defenderTxs;
            if (allowance > challengerBond) allowance = challengerBond;
            uint256 burned = ((challengerBond - allowance) * challengerBurnBps) / BPS;
            uint256 payout = challengerBond - burned;
            withdrawable[c.submitter] += payout;
            c.freeStake += c.gameStake;
            emit GameSettled(gameId, claimId, true, c.submitter, payout, burned);
            _restoreIfCovered(claimId, c);
            _burn(burned);
        } else {
            uint256 payout = uint256(challengerBond) + c.gameStake;
            withdrawable[challenger] += payout;
            emit GameSettled(gameId, claimId, false, challenger, payout, 0);
            _void(claimId, c, gameId, challenger);
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

    /// @notice The stake one game reserves from a claim of `steps` steps: {moveAllowance} for every
    /// transaction a party can send in such a game (its moves, the challenge, and a timeout or close).
    function gameStakeFor(uint64 steps) public view returns (uint256) {
        return uint256(moveAllowance) * (disputeGame.maxMoves(steps) + 2);
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
        if (finalized) outputHash = _claims[r.settledClaim].outputHash;
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

    /// Stores a claim by `msg.sender` paying `msg.value`: the bond and at least one game's stake.
    function _newClaim(uint256 requestId, bytes32 finalState, uint64 steps, bytes32 outputHash)
        private
        returns (uint256 claimId)
    {
        uint256 stake = gameStakeFor(steps);
        if (msg.value < submitterBond + stake) revert StakeTooLow(msg.value, submitterBond + stake);
        claimId = ++claimCount;
        _claims[claimId] = Claim({
            submitter: msg.sender,
            steps: steps,
            status: ClaimStatus.Pending,
            challengeDeadline: uint64(block.timestamp) + challengeWindow,
            openGames: 0,
            exhaustedSince: 0,
            gameStake: SafeCast.toUint128(stake),
            requestId: requestId,
            finalState: finalState,
            outputHash: outputHash,
            freeStake: msg.value - submitterBond
        });
    }

    function _emitSubmitted(uint256 claimId, bytes calldata output) private {
        Claim storage c = _claims[claimId];
        emit Submitted(
            c.requestId, claimId, c.submitter, c.finalState, c.steps, c.challengeDeadline, c.freeStake, output
        );
    }

    function _openRequestWithoutClaims(uint256 requestId) private view returns (Request storage r) {
        r = _request(requestId);
        if (r.status != RequestStatus.Open) revert WrongRequestStatus(requestId, r.status);
        if (r.liveClaims != 0) revert ClaimsPending(r.liveClaims);
    }

    /// A pending claim past its window with no open game (so not exhausted: stake returns with games).
    function _survivor(uint256 claimId) private view returns (Claim storage c, Request storage r) {
        c = _claims[claimId];
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(c.requestId, claimId);
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clocks; validator skew is seconds)
        if (block.timestamp < c.challengeDeadline) revert ChallengeWindowOpen(c.challengeDeadline);
        if (c.openGames != 0) revert GamesOpen(c.openGames);
        r = _requests[c.requestId];
    }

    /// After the free stake grew: an exhausted claim that covers a game again accepts challenges, and
    /// gets back the window time it spent refusing them.
    function _restoreIfCovered(uint256 claimId, Claim storage c) private {
        if (c.exhaustedSince == 0 || c.freeStake < c.gameStake) return;
        c.challengeDeadline += uint64(block.timestamp) - c.exhaustedSince;
        c.exhaustedSince = 0;
        emit Restored(claimId, c.challengeDeadline);
    }

    /// Voids a pending claim: `burnBps` of its bond is burnt, the rest goes to `beneficiary` (the
    /// challenger that won, or whoever voided an exhausted claim); the unreserved free stake goes back to
    /// the submitter. Games still open on the claim are closed one by one ({closeGame}).
    function _void(uint256 claimId, Claim storage c, uint256 gameId, address beneficiary) private {
        c.status = ClaimStatus.Voided;
        c.exhaustedSince = 0;
        uint256 requestId = c.requestId;
        --_requests[requestId].liveClaims;
        uint256 burned = (uint256(submitterBond) * burnBps) / BPS;
        uint256 bounty = submitterBond - burned;
        totalSlashed += submitterBond;
        withdrawable[beneficiary] += bounty;
        uint256 stake = c.freeStake;
        c.freeStake = 0;
        if (stake != 0) withdrawable[c.submitter] += stake;
        emit ClaimVoided(requestId, claimId, gameId, beneficiary, bounty, burned);
        _burn(burned);
    }

    /// Settles a game of a voided claim: the challenger gets its bond and the game's stake.
    function _closeVoided(uint256 gameId, GameRef storage g, Claim storage c) private {
        g.settled = true;
        --c.openGames;
        uint256 payout = uint256(challengerBond) + c.gameStake;
        withdrawable[g.challenger] += payout;
        emit GameClosed(gameId, g.claimId, g.challenger, payout);
    }

    function _burn(uint256 amount) private {
        if (amount == 0) return;
        totalBurned += amount;
        (bool ok,) = BURN_ADDRESS.call{value: amount}("");
        if (!ok) revert TransferFailed(BURN_ADDRESS, amount);
    }
}
