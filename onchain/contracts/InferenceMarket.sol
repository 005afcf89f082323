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
/// Economics (docs/SECURITY.md §2 has the analysis, the attacks and the numbers):
/// - A challenge is never refused while the claim is pending and its window open: it always pays the
///   challenger's bond plus one game's stake ({challengeValue}). When the claim's free stake (what its
///   submitter deposited beyond the bond) covers a game, the game reserves it and the challenger's stake
///   is credited straight back; otherwise the challenger's own stake backs the game, and the defender
///   must match it from the free stake before its first move ({onDissect}), which credits the
///   challenger's stake back. What others do in the same block cannot turn a challenge away.
/// - A challenger of a voided claim gets its bond back plus its game's stake, which covers
///   `moveAllowance` per transaction it can have sent; the first challenger to win also gets the unburnt
///   part of the submitter's bond, out of which each game the defender never matched gets two
///   allowances (its challenge and its close). At least half of that bond (`burnBps` >= 5,000) is burnt,
///   so a liar that voids its own claim through another account recovers at most half of it.
/// - A defender that wins a game gets `moveAllowance` per transaction (its moves, its timeout call, and
///   the match of a challenger-backed game) from the challenger's bond and the rest of it minus
///   `challengerBurnBps`; its game stake returns to the claim's free stake.
/// - Only the submitter deposits into its claim, so no one else's money is ever returned to it.
///
/// All ETH of the protocol except settled revenue stays here: escrowed fees, bonds and stakes of pending
/// claims, bonds and stakes of live games, what voided bonds owe to games not closed yet, and
/// `withdrawable` balances, which their owners pull with {withdraw}. Games are settled one by one when
/// they end (no loop over games anywhere).
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
    /// @notice Longest challenge window, request lifetime or clock budget.
    uint64 public constant MAX_PERIOD = 365 days;
    /// @notice Smallest burnt share of a voided claim's bond: a liar recovers at most half of it.
    uint16 public constant MIN_BURN_BPS = 5_000;
    /// @notice Shortest clock: an honest party moving in the next block spends at most a block per
    /// move, and makes at most 12 moves in the longest game (k = 8, 2^64 - 1 steps), so this covers
    /// blocks up to 25 seconds apart. Its challenges and top-ups ride in the same transaction as its
    /// moves ({challengeManyAndPlay}, {topUpAndPlay}), so they take no block of their own.
    uint64 public constant MIN_CLOCK_BUDGET = 5 minutes;
    /// @notice Shortest challenge window: a few blocks for the honest challenge to be included.
    uint64 public constant MIN_CHALLENGE_WINDOW = 1 minutes;
    /// @notice Transactions of a challenger whose game the defender never matched: the challenge and
    /// the close (or the timeout that wins it).
    uint256 public constant UNMATCHED_TXS = 2;
    /// @notice Unmatched games whose allowances the unburnt part of one voided bond must cover in full;
    /// a liar can dilute an honest challenger's allowances only with more unmatched games than this.
    uint256 public constant UNMATCHED_COVERED = 32;

    /// @notice Deployment parameters.
    struct Config {
        IModelState modelState; // commitment scheme (ModelStateAdapter in production)
        IOneStepVerifier verifier; // one-step verifier (OneStepVerifier in production)
        uint256 arity; // k of the dissection, in [8, 32]
        uint64 clockBudget; // seconds per party per game
        uint64 challengeWindow; // seconds after a submission during which challenges open
        uint64 requestTimeout; // seconds after a request during which results may be submitted
        uint96 submitterBond; // wei, slashed when the claim is voided
        uint96 challengerBond; // wei; must cover the defender's allowance for the longest game
        uint96 moveAllowance; // wei per transaction of a party in a game, toward its gas
        uint16 burnBps; // burnt share of a voided claim's bond, at least 5,000
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
        Voided, // lost a game
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
        uint64 challengeDeadline; // challenges are accepted before this time
        uint32 openGames; // games not settled yet
        uint32 unmatchedGames; // open games still backed by their challenger's own stake
        uint128 gameStake; // one game's stake: reserved from the free stake, or backed by the challenger
        uint256 requestId;
        bytes32 finalState;
        bytes32 outputHash; // keccak256 of the output bytes
        uint256 freeStake; // deposited by the submitter beyond the bond and not reserved by a game
        uint256 unmatchedPay; // set when voided: owed from the bond to each game still unmatched then
    }

    /// @notice Whose money backs a game's stake.
    enum Funding {
        Claim, // reserved from the claim's free stake when the challenge opened the game
        Challenger, // the challenger's own: the claim's free stake did not cover a game then
        Matched // was Challenger; the defender reserved the claim's stake before its first move
    }

    /// @notice The market's side of a game.
    struct GameRef {
        uint64 claimId;
        address challenger;
        bool settled;
        Funding funding;
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
    /// @notice The submitter added `amount` to the claim's free stake.
    event ToppedUp(uint256 indexed claimId, address indexed from, uint256 amount, uint256 freeStake);
    /// @notice A challenge opened game `gameId` (on {DisputeGame}) against claim `claimId`, its stake
    /// backed as `funding` says (`Challenger`: the defender must match it before its first move).
    event Challenged(
        uint256 indexed requestId,
        uint256 indexed claimId,
        uint256 indexed gameId,
        address challenger,
        Funding funding
    );
    /// @notice The defender matched a challenger-backed game with `stake` from the claim's free stake;
    /// the challenger's own stake was credited back to it.
    event GameMatched(uint256 indexed gameId, uint256 indexed claimId, uint256 stake);
    /// @notice A game was settled: `winner` was credited `payout` (its own bond included), `burned` burnt.
    event GameSettled(
        uint256 indexed gameId,
        uint256 indexed claimId,
        bool defenderWon,
        address winner,
        uint256 payout,
        uint256 burned
    );
    /// @notice A game of a voided claim was closed; the challenger got its bond and the game's stake
    /// (and, for a game the defender never matched, its share of the voided bond).
    event GameClosed(uint256 indexed gameId, uint256 indexed claimId, address challenger, uint256 payout);
    /// @notice A claim was voided by game `gameId`, whose challenger `beneficiary` got `bounty` (the
    /// unburnt bond less what the games the defender never matched get).
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
    /// @notice `burnBps` below `min`: a liar voiding its own claim would recover more than half its bond.
    error BurnTooLow(uint16 burnBps, uint16 min);
    /// @notice The unburnt part of a voided bond (`bounty`) is below `min`: it could not pay the
    /// allowances of {UNMATCHED_COVERED} games the defender never matched.
    error BountyTooSmall(uint256 bounty, uint256 min);
    /// @notice The challenger's bond is below `min`, the defender's allowance in the longest game.
    error ChallengerBondTooSmall(uint256 bond, uint256 min);
    /// @notice The clock budget is below `min`: an honest party could run out of time at one move a block.
    error ClockTooShort(uint64 clockBudget, uint64 min);
    /// @notice The challenge window is below `min`: an honest challenge might not be included in time.
    error WindowTooShort(uint64 challengeWindow, uint64 min);
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
    /// @notice Game `gameId` is backed by its challenger's stake and the claim's free stake (`freeStake`)
    /// is below one game's stake (`gameStake`): the submitter must {topUp} before its first move.
    error UnmatchedGame(uint256 gameId, uint256 freeStake, uint256 gameStake);
    /// @notice Only the claim's submitter adds to its stake.
    error NotSubmitter(address caller, address submitter);
    /// @notice The lists of a batch differ in length.
    error LengthMismatch(uint256 requests, uint256 claims);
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
    /// @dev Every relation the properties of docs/SECURITY.md §2 rest on is checked here with a named
    /// error; plain ranges with {BadConfig}.
    constructor(Config memory cfg) {
        if (address(cfg.modelState) == address(0)) revert BadConfig("modelState");
        if (address(cfg.verifier) == address(0)) revert BadConfig("verifier");
        if (cfg.challengeWindow > MAX_PERIOD) revert BadConfig("challengeWindow");
        if (cfg.challengeWindow < MIN_CHALLENGE_WINDOW) {
            revert WindowTooShort(cfg.challengeWindow, MIN_CHALLENGE_WINDOW);
        }
        if (cfg.requestTimeout == 0 || cfg.requestTimeout > MAX_PERIOD) revert BadConfig("requestTimeout");
        if (cfg.clockBudget > MAX_PERIOD) revert BadConfig("clockBudget");
        if (cfg.clockBudget < MIN_CLOCK_BUDGET) revert ClockTooShort(cfg.clockBudget, MIN_CLOCK_BUDGET);
        if (cfg.moveAllowance == 0) revert BadConfig("moveAllowance");
        if (cfg.burnBps > BPS) revert BadConfig("burnBps");
        if (cfg.burnBps < MIN_BURN_BPS) revert BurnTooLow(cfg.burnBps, MIN_BURN_BPS);
        if (cfg.challengerBurnBps > BPS) revert BadConfig("challengerBurnBps");
        uint256 bounty = _bountyOf(cfg.submitterBond, cfg.burnBps);
        uint256 minBounty = UNMATCHED_COVERED * UNMATCHED_TXS * cfg.moveAllowance;
        if (bounty < minBounty) revert BountyTooSmall(bounty, minBounty);
        modelState = cfg.modelState;
        challengeWindow = cfg.challengeWindow;
        requestTimeout = cfg.requestTimeout;
        submitterBond = cfg.submitterBond;
        challengerBond = cfg.challengerBond;
        moveAllowance = cfg.moveAllowance;
        burnBps = cfg.burnBps;
        challengerBurnBps = cfg.challengerBurnBps;
        // DisputeGame checks the arity and the clock budget.
        disputeGame = new DisputeGame(address(this), cfg.verifier, cfg.arity, cfg.clockBudget);
        // The challenger's bond must pay the defender's allowance in the longest possible game.
        uint256 minBond = gameStakeFor(type(uint64).max);
        if (cfg.challengerBond < minBond) revert ChallengerBondTooSmall(cfg.challengerBond, minBond);
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
    /// game's stake from it while it lasts, and past that the defender matches each new game from it
    /// (after a {topUp}) before its first move. Other claims of the same request (also identical ones)
    /// do not matter.
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

    /// @notice Adds `msg.value` to a pending claim's free stake; only its submitter, so every wei of the
    /// free stake that returns to the submitter is its own. Needed only to match challenger-backed games.
    function topUp(uint256 claimId) external payable {
        _topUp(claimId);
    }

    /// @notice Tops up several of the caller's claims (`amounts[i]` to `claimIds[i]`, paying exactly
    /// their sum) and then makes `moves` in the caller's games (calls to {DisputeGame}, each standing
    /// alone as in its `multicall`), in one transaction: however many of its claims were challenged in
    /// one block, the submitter matches every challenger-backed game and answers the others in the next.
    /// A claim no longer pending is skipped and its amount credited to the caller's {withdrawable}.
    /// @return ok Which moves succeeded.
    function topUpAndPlay(uint256[] calldata claimIds, uint256[] calldata amounts, bytes[] calldata moves)
        external
        payable
        returns (bool[] memory ok)
    {
        _topUpMany(claimIds, amounts);
        ok = disputeGame.playFor(msg.sender, moves);
    }

    function _topUpMany(uint256[] calldata claimIds, uint256[] calldata amounts) private nonReentrant {
        uint256 n = claimIds.length;
        if (amounts.length != n) revert LengthMismatch(amounts.length, n);
        uint256 total;
        uint256 skipped;
        for (uint256 i = 0; i < n; ++i) {
            uint256 amount = amounts[i];
            if (amount == 0) revert ZeroTopUp();
            total += amount;
            Claim storage c = _claims[claimIds[i]];
            if (msg.sender != c.submitter) revert NotSubmitter(msg.sender, c.submitter);
            if (c.status != ClaimStatus.Pending) {
                skipped += amount;
                continue;
            }
            c.freeStake += amount;
            emit ToppedUp(claimIds[i], msg.sender, amount, c.freeStake);
        }
        if (msg.value != total) revert WrongPayment(msg.value, total);
        if (skipped != 0) withdrawable[msg.sender] += skipped;
    }

    function _topUp(uint256 claimId) private nonReentrant {
        Claim storage c = _claims[claimId];
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(c.requestId, claimId);
        if (msg.sender != c.submitter) revert NotSubmitter(msg.sender, c.submitter);
        if (msg.value == 0) revert ZeroTopUp();
        c.freeStake += msg.value;
        emit ToppedUp(claimId, msg.sender, msg.value, c.freeStake);
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

    /// @notice Challenges claim `claimId` of request `requestId`, paying exactly {challengeValue}: the
    /// challenger's bond and one game's stake. Opens a game in which the caller is the challenger and the
    /// submitter the defender. The game's stake is reserved from the claim's free stake when it covers
    /// one (the caller's stake is then credited back to it at once); otherwise the caller's stake backs
    /// the game until the defender matches it. So a pending claim in its window never turns a challenge
    /// away, whatever other accounts did before in the same block. Several accounts may challenge the
    /// same claim; each gets its own game.
    /// @return gameId The game on {disputeGame}.
    function challenge(uint256 requestId, uint256 claimId)
        external
        payable
        nonReentrant
        returns (uint256 gameId)
    {
        Claim storage c = _claims[claimId];
        bytes memory refusal = _challengeRefusal(requestId, claimId, c);
        if (refusal.length != 0) {
            assembly ("memory-safe") {
                revert(add(refusal, 32), mload(refusal))
            }
        }
        uint256 value = challengeValue(claimId);
        if (msg.value != value) revert WrongPayment(msg.value, value);
        gameId = _openGame(requestId, claimId, c);
    }

    /// @notice Challenges several claims in one transaction, paying exactly the sum of their
    /// {challengeValue}s. A pair that cannot be challenged now (voided, past its window, already
    /// challenged by the caller, the caller's own claim) is skipped and its value credited to the caller's
    /// {withdrawable}, so one claim voided in front of the batch does not turn the others away.
    /// @return gameIds The game opened for each pair, 0 where it was skipped.
    function challengeMany(uint256[] calldata requestIds, uint256[] calldata claimIds)
        external
        payable
        returns (uint256[] memory gameIds)
    {
        gameIds = _challengeMany(requestIds, claimIds);
    }

    /// @notice {challengeMany} and then `moves` in the caller's games (calls to {DisputeGame}, each
    /// standing alone as in its `multicall`) in one transaction. With it one transaction a block is all
    /// an honest challenger needs: a liar posting a new false claim every block cannot make it choose
    /// between challenging in time and moving in its games.
    /// @return gameIds As in {challengeMany}.
    /// @return ok Which moves succeeded.
    function challengeManyAndPlay(
        uint256[] calldata requestIds,
        uint256[] calldata claimIds,
        bytes[] calldata moves
    ) external payable returns (uint256[] memory gameIds, bool[] memory ok) {
        gameIds = _challengeMany(requestIds, claimIds);
        ok = disputeGame.playFor(msg.sender, moves);
    }

    function _challengeMany(uint256[] calldata requestIds, uint256[] calldata claimIds)
        private
        nonReentrant
        returns (uint256[] memory gameIds)
    {
        uint256 n = claimIds.length;
        if (requestIds.length != n) revert LengthMismatch(requestIds.length, n);
        uint256 total;
        for (uint256 i = 0; i < n; ++i) {
            total += challengeValue(claimIds[i]);
        }
        if (msg.value != total) revert WrongPayment(msg.value, total);
        gameIds = new uint256[](n);
        uint256 skipped;
        for (uint256 i = 0; i < n; ++i) {
            Claim storage c = _claims[claimIds[i]];
            if (_challengeRefusal(requestIds[i], claimIds[i], c).length == 0) {
                gameIds[i] = _openGame(requestIds[i], claimIds[i], c);
            } else {
                skipped += challengeValue(claimIds[i]);
            }
        }
        if (skipped != 0) withdrawable[msg.sender] += skipped;
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
    /// @dev A challenger-backed game is matched here from the claim's free stake: the claim's stake
    /// then backs it and the challenger's own is credited back. Reverts (refusing the dissection) when
    /// the free stake is short: the submitter tops up first. Games backed by the claim pass through.
    function onDissect(uint256 gameId) external nonReentrant {
        if (msg.sender != address(disputeGame)) revert NotDisputeGame(msg.sender);
        GameRef storage g = _games[gameId];
        if (g.funding != Funding.Challenger) return;
        uint256 claimId = g.claimId;
        Claim storage c = _claims[claimId];
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(c.requestId, claimId);
        uint256 stake = c.gameStake;
        if (c.freeStake < stake) revert UnmatchedGame(gameId, c.freeStake, stake);
        c.freeStake -= stake;
        --c.unmatchedGames;
        g.funding = Funding.Matched;
        withdrawable[g.challenger] += stake;
        emit GameMatched(gameId, claimId, stake);
    }

    /// @inheritdoc IDisputeGameOwner
    /// @dev Constant work. A defender win pays the defender its allowance and most of the challenger's
    /// bond, and returns the game's stake to whoever backs it (the claim, or a challenger whose game was
    /// never matched); a challenger win pays the challenger its bond and the game's stake and voids the
    /// claim; a game of an already voided claim only closes.
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
        Funding funding = g.funding;
        bool unmatched = funding == Funding.Challenger;
        if (unmatched) --c.unmatchedGames;
        address challenger = g.challenger;
        if (defenderWon) {
            // The defender's transactions: its moves and timeout call, and the top-up behind a match.
            uint256 txs = disputeGame.game(gameId).defenderTxs + (funding == Funding.Matched ? 1 : 0);
            uint256 allowance = uint256(moveAllowance) * txs;
            if (allowance > challengerBond) allowance = challengerBond;
            uint256 burned = ((challengerBond - allowance) * challengerBurnBps) / BPS;
            uint256 payout = challengerBond - burned;
            withdrawable[c.submitter] += payout;
            if (unmatched) withdrawable[challenger] += c.gameStake;
            else c.freeStake += c.gameStake;
            emit GameSettled(gameId, claimId, true, c.submitter, payout, burned);
            _burn(burned);
        } else {
            uint256 payout = uint256(challengerBond) + c.gameStake;
            withdrawable[challenger] += payout;
            emit GameSettled(gameId, claimId, false, challenger, payout, 0);
            _void(claimId, c, gameId, challenger, unmatched);
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

    /// @notice The stake of one game against a claim of `steps` steps: {moveAllowance} for every
    /// transaction a party can send in such a game (its moves, the challenge, and a timeout or close).
    function gameStakeFor(uint64 steps) public view returns (uint256) {
        return uint256(moveAllowance) * (disputeGame.maxMoves(steps) + 2);
    }

    /// @notice What {challenge} of `claimId` costs: the challenger's bond and one game's stake (the stake
    /// comes back at once when the claim's own covers the game).
    function challengeValue(uint256 claimId) public view returns (uint256) {
        return uint256(challengerBond) + _claims[claimId].gameStake;
    }

    /// @notice From this time on request `requestId` can always be resolved: every claim of it is voided,
    /// or past its window with its games over (so {finalize} or {release} settles it, and {refund} works
    /// once none is pending). Its deadline plus the challenge window plus both clocks of a game opened in
    /// the window's last second.
    function resolvableAt(uint256 requestId) external view returns (uint256) {
        return
            uint256(_request(requestId).deadline) + challengeWindow + 2 * uint256(disputeGame.clockBudget());
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
            unmatchedGames: 0,
            gameStake: SafeCast.toUint128(stake),
            requestId: requestId,
            finalState: finalState,
            outputHash: outputHash,
            freeStake: msg.value - submitterBond,
            unmatchedPay: 0
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

    /// A pending claim past its window with no open game.
    function _survivor(uint256 claimId) private view returns (Claim storage c, Request storage r) {
        c = _claims[claimId];
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(c.requestId, claimId);
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clocks; validator skew is seconds)
        if (block.timestamp < c.challengeDeadline) revert ChallengeWindowOpen(c.challengeDeadline);
        if (c.openGames != 0) revert GamesOpen(c.openGames);
        r = _requests[c.requestId];
    }

    /// Why `msg.sender` cannot challenge claim `claimId` of request `requestId` now, as revert data
    /// (empty: it can).
    function _challengeRefusal(uint256 requestId, uint256 claimId, Claim storage c)
        private
        view
        returns (bytes memory)
    {
        if (c.status != ClaimStatus.Pending || c.requestId != requestId) {
            return abi.encodeWithSelector(ClaimNotPending.selector, requestId, claimId);
        }
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clocks; validator skew is seconds)
        if (block.timestamp >= c.challengeDeadline) {
            return abi.encodeWithSelector(ChallengeWindowClosed.selector, c.challengeDeadline);
        }
        if (msg.sender == c.submitter) return abi.encodeWithSelector(SelfChallenge.selector);
        if (_challenged[claimId][msg.sender]) {
            return abi.encodeWithSelector(AlreadyChallenged.selector, claimId, msg.sender);
        }
        return "";
    }

    /// Opens `msg.sender`'s game against claim `claimId`, whose {challengeValue} it paid.
    function _openGame(uint256 requestId, uint256 claimId, Claim storage c) private returns (uint256 gameId) {
        uint256 stake = c.gameStake;
        Funding funding;
        if (c.freeStake >= stake) {
            c.freeStake -= stake;
            withdrawable[msg.sender] += stake; // the claim backs the game: the caller's stake is not needed
            funding = Funding.Claim;
        } else {
            ++c.unmatchedGames;
            funding = Funding.Challenger;
        }
        _challenged[claimId][msg.sender] = true;
        ++c.openGames;
        gameId = disputeGame.create(
            c.submitter, msg.sender, _requests[requestId].initialState, c.finalState, c.steps
        );
        _games[gameId] = GameRef({
            claimId: SafeCast.toUint64(claimId), challenger: msg.sender, settled: false, funding: funding
        });
        emit Challenged(requestId, claimId, gameId, msg.sender, funding);
    }

    /// The unburnt part of a voided bond: the burn rounds up, so a liar voiding its own claim never
    /// recovers more than `(BPS - burnBps) / BPS` of its bond, not even by a wei.
    function _bountyOf(uint256 bond, uint256 burnBps_) private pure returns (uint256) {
        return (bond * (BPS - burnBps_)) / BPS;
    }

    /// Voids a pending claim that game `gameId` (won by `beneficiary`) disproved: `burnBps` of its bond
    /// is burnt; of the rest, each game still backed by its challenger (the winner's included when
    /// `winnerUnmatched`) gets up to two allowances, the winner the remainder; the free stake, which only
    /// the submitter deposited, goes back to it. Open games are closed one by one ({closeGame}).
    function _void(
        uint256 claimId,
        Claim storage c,
        uint256 gameId,
        address beneficiary,
        bool winnerUnmatched
    ) private {
        c.status = ClaimStatus.Voided;
        uint256 requestId = c.requestId;
        --_requests[requestId].liveClaims;
        uint256 bounty = _bountyOf(submitterBond, burnBps);
        uint256 burned = submitterBond - bounty;
        uint256 unmatched = c.unmatchedGames;
        uint256 shares = unmatched + (winnerUnmatched ? 1 : 0);
        if (shares != 0) {
            uint256 pay = UNMATCHED_TXS * moveAllowance;
            if (bounty / shares < pay) pay = bounty / shares;
            c.unmatchedPay = pay;
            bounty -= pay * unmatched;
        }
        totalSlashed += submitterBond;
        withdrawable[beneficiary] += bounty;
        uint256 stake = c.freeStake;
        c.freeStake = 0;
        if (stake != 0) withdrawable[c.submitter] += stake;
        emit ClaimVoided(requestId, claimId, gameId, beneficiary, bounty, burned);
        _burn(burned);
    }

    /// Settles a game of a voided claim: the challenger gets its bond and the game's stake (its own, or
    /// the claim's), plus the voided bond's share for a game the defender never matched.
    function _closeVoided(uint256 gameId, GameRef storage g, Claim storage c) private {
        g.settled = true;
        --c.openGames;
        uint256 payout = uint256(challengerBond) + c.gameStake;
        if (g.funding == Funding.Challenger) {
            --c.unmatchedGames;
            payout += c.unmatchedPay;
        }
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
