// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ModelState} from "./vm/ModelState.sol";
import {IModelState} from "./interfaces/IModelState.sol";
import {RevenueShare} from "./RevenueShare.sol";

/// @title Registry of model commitments and their terms
/// @notice A publisher registers a model's commitment (the machine's code root, initial memory, IO
/// regions: the same data the Rust model id commits to) with a step limit, a fee per request, the
/// submitter's share of the fee, and the parameters of the model's revenue-share token, which the
/// registry deploys so its code (and its single depositor, the market) is known.
///
/// Commitments, step limits, submitter shares and tokens are immutable. Only the publisher changes the
/// fee; the market copies the fee into each request, so a change applies to new requests only.
contract ModelRegistry {
    /// @notice Basis points denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Largest input or output region (bytes): bounds calldata and on-chain hashing per request.
    uint64 public constant MAX_IO_BYTES = 65_536;
    /// @notice Most input-region siblings (a memory tree of 2^64 leaves needs fewer).
    uint256 public constant MAX_INPUT_SIBLINGS = 64;

    /// @notice Revenue-share token parameters chosen by the publisher.
    struct ShareTerms {
        string name;
        string symbol;
        address holder; // receives the whole supply
        uint256 supply;
        uint16 claimableBps; // part of revenue distributed through snapshots (rest: burn redemptions)
        uint32 snapshotInterval; // seconds between snapshots, at least 1 hour
        uint32 claimWindow; // seconds a snapshot can be claimed before it expires, 7 to 365 days
    }

    /// @notice A model's economic terms chosen by the publisher.
    struct Terms {
        uint64 maxSteps; // largest step count of a claim; bounds the dispute game's length
        uint96 fee; // wei per request (the only term the publisher can change later)
        uint16 submitterShareBps; // the submitter's share of the fee; the rest goes to the token holders
    }

    /// @notice A registered model.
    struct Model {
        ModelState.Commitment commitment;
        bytes32[] inputSiblings;
        address publisher;
        uint64 maxSteps;
        uint16 submitterShareBps;
        uint96 fee;
        address revenueShare;
    }

    /// @notice Minimum snapshot interval a publisher may choose.
    uint32 public constant MIN_SNAPSHOT_INTERVAL = 1 hours;
    /// @notice Shortest claim window a publisher may choose (the token's own lower bound).
    uint32 public constant MIN_CLAIM_WINDOW = 7 days;
    /// @notice Longest claim window a publisher may choose (the token's own upper bound).
    uint32 public constant MAX_CLAIM_WINDOW = 365 days;

    /// @notice The commitment scheme (the `ModelState` library behind {IModelState}).
    IModelState public immutable modelState;
    /// @notice The market: the only depositor of the revenue-share tokens.
    address public immutable market;

    mapping(bytes32 modelId => Model) private _models;

    /// @notice A model was registered.
    event ModelRegistered(
        bytes32 indexed modelId,
        address indexed publisher,
        address revenueShare,
        Terms terms,
        ModelState.Commitment commitment,
        bytes32[] inputSiblings
    );
    /// @notice The publisher changed the fee of new requests.
    event FeeChanged(bytes32 indexed modelId, uint96 oldFee, uint96 newFee);

    /// @notice The given model id is not the id of the commitment.
    error ModelIdMismatch(bytes32 given, bytes32 computed);
    /// @notice The model id is already registered.
    error ModelExists(bytes32 modelId);
    /// @notice No model with this id.
    error UnknownModel(bytes32 modelId);
    /// @notice Only the publisher may change the fee.
    error NotPublisher(address caller, address publisher);
    /// @notice The step limit must be at least 1.
    error ZeroMaxSteps();
    /// @notice The submitter share exceeds 10,000 bps.
    error ShareOutOfRange(uint16 bps);
    /// @notice An IO region exceeds {MAX_IO_BYTES}.
    error RegionTooLarge(uint64 size, uint64 max);
    /// @notice More than {MAX_INPUT_SIBLINGS} siblings.
    error TooManySiblings(uint256 count);
    /// @notice The snapshot interval is below {MIN_SNAPSHOT_INTERVAL}.
    error SnapshotIntervalTooShort(uint32 interval);
    /// @notice The claim window `window` is outside [`min`, `max`] ({MIN_CLAIM_WINDOW}, {MAX_CLAIM_WINDOW}).
    error ClaimWindowOutOfRange(uint32 window, uint32 min, uint32 max);

    /// @param modelState_ The commitment scheme.
    /// @param market_ The market (deploys this registry).
    constructor(IModelState modelState_, address market_) {
        modelState = modelState_;
        market = market_;
    }

    /// @notice Registers a model and deploys its revenue-share token.
    /// @param modelId The expected model id (checked against the commitment, to catch mistakes).
    /// @param commitment The machine commitment (checked by the `ModelState` library).
    /// @param inputSiblings Siblings of the input region's subtree, bottom up.
    /// @param terms Step limit, fee and submitter share.
    /// @param share Parameters of the revenue-share token.
    /// @return revenueShare The deployed token.
    function register(
        bytes32 modelId,
        ModelState.Commitment calldata commitment,
        bytes32[] calldata inputSiblings,
        Terms calldata terms,
        ShareTerms calldata share
    ) external returns (address revenueShare) {
        bytes32 computed = modelState.modelId(commitment);
        if (computed != modelId) revert ModelIdMismatch(modelId, computed);
        if (_models[modelId].publisher != address(0)) revert ModelExists(modelId);
        if (terms.maxSteps == 0) revert ZeroMaxSteps();
        if (terms.submitterShareBps > BPS) revert ShareOutOfRange(terms.submitterShareBps);
        if (commitment.inputSize > MAX_IO_BYTES) revert RegionTooLarge(commitment.inputSize, MAX_IO_BYTES);
        if (commitment.outputSize > MAX_IO_BYTES) revert RegionTooLarge(commitment.outputSize, MAX_IO_BYTES);
        if (inputSiblings.length > MAX_INPUT_SIBLINGS) revert TooManySiblings(inputSiblings.length);
        if (share.snapshotInterval < MIN_SNAPSHOT_INTERVAL) {
            revert SnapshotIntervalTooShort(share.snapshotInterval);
        }
        if (share.claimWindow < MIN_CLAIM_WINDOW || share.claimWindow > MAX_CLAIM_WINDOW) {
            revert ClaimWindowOutOfRange(share.claimWindow, MIN_CLAIM_WINDOW, MAX_CLAIM_WINDOW);
        }
        modelState.checkCommitment(commitment, inputSiblings);

        revenueShare = address(
            new RevenueShare{salt: modelId}(
                share.name,
                share.symbol,
                share.holder,
                share.supply,
                market,
                share.claimableBps,
                share.snapshotInterval,
                share.claimWindow
            )
        );
        Model storage m = _models[modelId];
        m.commitment = commitment;
        m.inputSiblings = inputSiblings;
        m.publisher = msg.sender;
        m.maxSteps = terms.maxSteps;
        m.submitterShareBps = terms.submitterShareBps;
        m.fee = terms.fee;
        m.revenueShare = revenueShare;
        emit ModelRegistered(modelId, msg.sender, revenueShare, terms, commitment, inputSiblings);
    }

    /// @notice Sets the fee of new requests; only the publisher.
    function setFee(bytes32 modelId, uint96 newFee) external {
        Model storage m = _models[modelId];
        if (m.publisher == address(0)) revert UnknownModel(modelId);
        if (msg.sender != m.publisher) revert NotPublisher(msg.sender, m.publisher);
        emit FeeChanged(modelId, m.fee, newFee);
        m.fee = newFee;
    }

    /// @notice A registered model (reverts for an unknown id).
    function model(bytes32 modelId) external view returns (Model memory) {
        Model storage m = _models[modelId];
        if (m.publisher == address(0)) revert UnknownModel(modelId);
        return m;
    }

    /// @notice Whether `modelId` is registered.
    function exists(bytes32 modelId) external view returns (bool) {
        return _models[modelId].publisher != address(0);
    }
}
