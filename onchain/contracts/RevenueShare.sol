// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC7641} from "./interfaces/IERC7641.sol";
import {IRevenueShare} from "./interfaces/IRevenueShare.sol";

/// @title Revenue-share token of one model (ERC-7641)
/// @notice A fixed-supply ERC-20 minted once to the publisher's chosen holder. The market deposits the
/// model's share of every settled inference fee with {depositRevenue}; each deposit is split at once:
/// `claimableBps` of it waits for the next {snapshot}, the rest joins the redemption reserve.
///
/// - {snapshot} (anyone, at most once per `snapshotInterval`, only with new revenue) assigns the waiting
///   revenue to a new snapshot id; holders {claim} it pro rata to their balance at that snapshot.
/// - {burn} redeems `amount / totalSupply` of everything not yet assigned to a snapshot: the redemption
///   reserve plus the revenue waiting for the next snapshot ({redeemableOnBurn}). Burnt tokens are not
///   in the next snapshot, so nobody is paid twice.
///
/// Balances are checkpointed per block (OpenZeppelin `Checkpoints.Trace208`, as ERC20Votes does, since
/// OpenZeppelin 5 removed ERC20Snapshot). A snapshot taken in block b uses the balances at the *end* of
/// block b, and revenue of a snapshot can be claimed from block b + 1 on, once those balances are final:
/// flash loans and same-block transfers around a snapshot do not count.
///
/// Only {depositRevenue} from the market counts as revenue; the contract refuses plain transfers and
/// never reads its own balance, so ETH forced in (selfdestruct, coinbase) is ignored.
contract RevenueShare is ERC20, ReentrancyGuardTransient, IRevenueShare {
    using Checkpoints for Checkpoints.Trace208;

    /// @notice Basis points denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Largest snapshot interval a publisher may set.
    uint256 public constant MAX_SNAPSHOT_INTERVAL = 365 days;

    /// @notice One snapshot: the block whose closing balances count, and the revenue it distributes.
    struct Snapshot {
        uint48 blockNumber;
        uint256 revenue;
    }

    /// @notice The only depositor of revenue.
    address public immutable market;
    /// @notice Share (bps) of each deposit that is distributed through snapshots; the rest is redeemable.
    uint256 public immutable claimableBps;
    /// @notice Minimum seconds between two snapshots.
    uint256 public immutable snapshotInterval;

    /// @notice All revenue ever deposited.
    uint256 public totalDeposited;
    /// @notice Revenue waiting for the next snapshot (claimable part of deposits since the last one).
    uint256 public pendingRevenue;
    /// @notice Revenue only reachable by burning (the non-claimable part of deposits, minus redemptions).
    uint256 public redeemReserve;
    /// @notice Revenue assigned to snapshots and not claimed yet (includes rounding dust).
    uint256 public claimReserve;
    /// @notice Timestamp of the last snapshot (the deployment time before the first).
    uint256 public lastSnapshotAt;

    Snapshot[] private _snapshots; // id = index + 1
    mapping(uint256 snapshotId => mapping(address account => bool)) private _claimed;
    mapping(address account => Checkpoints.Trace208) private _balanceHistory;
    Checkpoints.Trace208 private _supplyHistory;

    /// @notice The market deposited revenue, split into the snapshot part and the redeemable part.
    event RevenueDeposited(uint256 amount, uint256 toSnapshots, uint256 toReserve);
    /// @notice Snapshot `snapshotId` of the balances at the end of block `blockNumber` distributes `revenue`.
    event SnapshotTaken(uint256 indexed snapshotId, uint256 blockNumber, uint256 revenue);
    /// @notice `account` claimed `amount` of snapshot `snapshotId`.
    event RevenueClaimed(address indexed account, uint256 indexed snapshotId, uint256 amount);
    /// @notice `account` burnt `tokens` and received `amount`.
    event Redeemed(address indexed account, uint256 tokens, uint256 amount);

    /// @notice The supply is zero or above 2^208 - 1.
    error SupplyOutOfRange(uint256 supply);
    /// @notice The holder or market is the zero address.
    error ZeroAddress();
    /// @notice `claimableBps` exceeds 10,000.
    error ClaimableBpsOutOfRange(uint256 bps);
    /// @notice The snapshot interval exceeds {MAX_SNAPSHOT_INTERVAL}.
    error SnapshotIntervalOutOfRange(uint256 interval);
    /// @notice Only the market deposits revenue.
    error NotMarket(address caller);
    /// @notice The next snapshot is allowed at `notBefore`.
    error SnapshotTooSoon(uint256 notBefore);
    /// @notice No revenue has arrived since the last snapshot.
    error NoNewRevenue();
    /// @notice Nobody holds tokens, so a snapshot would distribute to no one.
    error NoSupply();
    /// @notice No such snapshot.
    error UnknownSnapshot(uint256 snapshotId);
    /// @notice The snapshot was taken in this block; its balances are final from the next block on.
    error SnapshotNotFinal(uint256 snapshotId);
    /// @notice Nothing to claim for this account at this snapshot.
    error NothingToClaim(uint256 snapshotId);
    /// @notice Burning zero tokens.
    error ZeroAmount();
    /// @notice The ETH transfer to `to` failed.
    error TransferFailed(address to, uint256 amount);

    /// @param name_ ERC-20 name.
    /// @param symbol_ ERC-20 symbol.
    /// @param holder Receives the whole supply.
    /// @param supply Fixed supply, in (0, 2^208).
    /// @param market_ The only address allowed to deposit revenue.
    /// @param claimableBps_ Part of revenue distributed through snapshots, in bps (<= 10,000).
    /// @param snapshotInterval_ Minimum seconds between snapshots (<= 365 days).
    constructor(
        string memory name_,
        string memory symbol_,
        address holder,
        uint256 supply,
        address market_,
        uint256 claimableBps_,
        uint256 snapshotInterval_
    ) ERC20(name_, symbol_) {
        if (supply == 0 || supply > type(uint208).max) revert SupplyOutOfRange(supply);
        if (holder == address(0) || market_ == address(0)) revert ZeroAddress();
        if (claimableBps_ > BPS) revert ClaimableBpsOutOfRange(claimableBps_);
        if (snapshotInterval_ > MAX_SNAPSHOT_INTERVAL) revert SnapshotIntervalOutOfRange(snapshotInterval_);
        market = market_;
        claimableBps = claimableBps_;
        snapshotInterval = snapshotInterval_;
        lastSnapshotAt = block.timestamp;
        _mint(holder, supply);
    }

    /// @notice Plain ETH transfers are refused: revenue only arrives through {depositRevenue}.
    receive() external payable {
        revert NotMarket(msg.sender);
    }

    /// @inheritdoc IRevenueShare
    function depositRevenue() external payable {
        if (msg.sender != market) revert NotMarket(msg.sender);
        uint256 toSnapshots = (msg.value * claimableBps) / BPS;
        uint256 toReserve = msg.value - toSnapshots;
        totalDeposited += msg.value;
        pendingRevenue += toSnapshots;
        redeemReserve += toReserve;
        emit RevenueDeposited(msg.value, toSnapshots, toReserve);
    }

    /// @inheritdoc IERC7641
    /// @dev Reverts unless `snapshotInterval` passed since the last snapshot, revenue is waiting and
    /// tokens exist, so snapshots cannot be spammed to make claiming expensive.
    function snapshot() external returns (uint256 snapshotId) {
        uint256 notBefore = lastSnapshotAt + snapshotInterval;
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clocks; validator skew is seconds)
        if (block.timestamp < notBefore) revert SnapshotTooSoon(notBefore);
        uint256 revenue = pendingRevenue;
        if (revenue == 0) revert NoNewRevenue();
        if (totalSupply() == 0) revert NoSupply();
        pendingRevenue = 0;
        claimReserve += revenue;
        lastSnapshotAt = block.timestamp;
        _snapshots.push(Snapshot({blockNumber: uint48(block.number), revenue: revenue}));
        snapshotId = _snapshots.length;
        emit SnapshotTaken(snapshotId, block.number, revenue);
    }

    /// @inheritdoc IERC7641
    /// @dev Zero when already claimed, and for a snapshot of the current block (not final yet).
    function claimableRevenue(address account, uint256 snapshotId) public view returns (uint256) {
        Snapshot memory s = _snapshotOf(snapshotId);
        if (s.blockNumber >= block.number || _claimed[snapshotId][account]) return 0;
        uint256 supply = _supplyHistory.upperLookupRecent(s.blockNumber);
        if (supply == 0) return 0;
        return (uint256(_balanceHistory[account].upperLookupRecent(s.blockNumber)) * s.revenue) / supply;
    }

    /// @inheritdoc IERC7641
    function claim(uint256 snapshotId) public nonReentrant {
        Snapshot memory s = _snapshotOf(snapshotId);
        if (s.blockNumber >= block.number) revert SnapshotNotFinal(snapshotId);
        uint256 amount = claimableRevenue(msg.sender, snapshotId);
        if (amount == 0) revert NothingToClaim(snapshotId);
        _claimed[snapshotId][msg.sender] = true;
        claimReserve -= amount;
        emit RevenueClaimed(msg.sender, snapshotId, amount);
        _send(msg.sender, amount);
    }

    /// @inheritdoc IERC7641
    function redeemableOnBurn(uint256 amount) public view returns (uint256) {
        uint256 supply = totalSupply();
        if (amount == 0 || supply == 0) return 0;
        if (amount > supply) amount = supply;
        return (amount * redeemReserve) / supply + (amount * pendingRevenue) / supply;
    }

    /// @inheritdoc IERC7641
    function burn(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 supply = totalSupply();
        uint256 fromReserve = (amount * redeemReserve) / supply;
        uint256 fromPending = (amount * pendingRevenue) / supply;
        _burn(msg.sender, amount); // reverts when amount > balance (so amount <= supply above)
        redeemReserve -= fromReserve;
        pendingRevenue -= fromPending;
        uint256 paid = fromReserve + fromPending;
        emit Redeemed(msg.sender, amount, paid);
        if (paid != 0) _send(msg.sender, paid);
    }

    /// @notice Number of snapshots taken (ids are 1..snapshotCount).
    function snapshotCount() external view returns (uint256) {
        return _snapshots.length;
    }

    /// @notice A snapshot's block and revenue.
    function snapshotInfo(uint256 snapshotId) external view returns (Snapshot memory) {
        return _snapshotOf(snapshotId);
    }

    /// @notice `account`'s balance at the end of block `blockNumber` (the current value for this block).
    function balanceAtBlock(address account, uint256 blockNumber) external view returns (uint256) {
        return _balanceHistory[account].upperLookupRecent(SafeCast.toUint48(blockNumber));
    }

    /// @notice The supply at the end of block `blockNumber` (the current value for this block).
    function supplyAtBlock(uint256 blockNumber) external view returns (uint256) {
        return _supplyHistory.upperLookupRecent(SafeCast.toUint48(blockNumber));
    }

    /// @notice `account`'s balance at snapshot `snapshotId`.
    function balanceOfAt(address account, uint256 snapshotId) external view returns (uint256) {
        return _balanceHistory[account].upperLookupRecent(_snapshotOf(snapshotId).blockNumber);
    }

    /// @notice The supply at snapshot `snapshotId`.
    function totalSupplyAt(uint256 snapshotId) external view returns (uint256) {
        return _supplyHistory.upperLookupRecent(_snapshotOf(snapshotId).blockNumber);
    }

    /// @notice Whether `account` claimed snapshot `snapshotId`.
    function hasClaimed(address account, uint256 snapshotId) external view returns (bool) {
        return _claimed[snapshotId][account];
    }

    /// @dev Records the new balances and supply in the block's checkpoints after every transfer,
    /// mint and burn.
    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        uint48 key = uint48(block.number);
        if (from == address(0) || to == address(0)) _supplyHistory.push(key, uint208(totalSupply()));
        if (from != address(0)) _balanceHistory[from].push(key, uint208(balanceOf(from)));
        if (to != address(0) && to != from) _balanceHistory[to].push(key, uint208(balanceOf(to)));
    }

    function _snapshotOf(uint256 snapshotId) private view returns (Snapshot memory) {
        if (snapshotId == 0 || snapshotId > _snapshots.length) revert UnknownSnapshot(snapshotId);
        return _snapshots[snapshotId - 1];
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = payable(to).call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
