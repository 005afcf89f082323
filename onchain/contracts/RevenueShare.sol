// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
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
/// Revenue cannot get stuck with holders that never claim (an AMM pair, an escrow, lost keys):
///
/// - A snapshot can be claimed for `claimWindow` seconds (chosen by the publisher, 7 to 365 days): up
///   to and including its `claimDeadline` (the snapshot's timestamp plus the window). From the next
///   second on, claims revert and anyone may {expire} it, which moves its unclaimed remainder (rounding
///   dust included) back to the revenue waiting for the next snapshot: the next snapshot distributes it
///   again, pro rata to the balances of its own block, and until then it counts for {redeemableOnBurn}.
/// - {claimFor} (anyone) claims an account's share and pays it to the account, for contracts that can
///   receive ETH but cannot call {claim}; {claimTo} (the account or the claimer it chose with
///   {setClaimer}) pays the account's share to any address, for contracts that cannot receive ETH.
///
/// Balances are checkpointed per block (OpenZeppelin `Checkpoints.Trace208`, as ERC20Votes does, since
/// OpenZeppelin 5 removed ERC20Snapshot). A snapshot taken in block b uses the balances at the *end* of
/// block b, and revenue of a snapshot can be claimed from block b + 1 on, once those balances are final:
/// flash loans and same-block transfers around a snapshot do not count.
///
/// Only {depositRevenue} from the market counts as revenue; the contract refuses plain transfers and
/// never reads its own balance, so ETH forced in (selfdestruct, coinbase) is ignored. Its balance (less
/// forced ETH) is always `pendingRevenue + redeemReserve + claimReserve`, and `claimReserve` is the sum
/// of `revenue - claimed` over the snapshots not expired.
contract RevenueShare is ERC20, ReentrancyGuardTransient, IRevenueShare {
    using Checkpoints for Checkpoints.Trace208;

    /// @notice Basis points denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Largest snapshot interval a publisher may set.
    uint256 public constant MAX_SNAPSHOT_INTERVAL = 365 days;
    /// @notice Shortest claim window: holders get at least a week to claim a snapshot.
    uint256 public constant MIN_CLAIM_WINDOW = 7 days;
    /// @notice Longest claim window: unclaimed revenue returns to the pool within a year.
    uint256 public constant MAX_CLAIM_WINDOW = 365 days;

    /// @notice One snapshot. Amounts fit in uint128 (3.4e38 wei, far more than exist), so revenue and
    /// claimed share a slot and a claim writes one slot.
    struct Snapshot {
        uint128 revenue; // distributed by this snapshot
        uint128 claimed; // paid out so far
        uint48 blockNumber; // the balances at the end of this block count
        uint48 claimDeadline; // last second (inclusive) at which the snapshot can be claimed
        bool expired; // the unclaimed remainder went back to `pendingRevenue`
    }

    /// @notice The only depositor of revenue.
    address public immutable market;
    /// @notice Share (bps) of each deposit that is distributed through snapshots; the rest is redeemable.
    uint256 public immutable claimableBps;
    /// @notice Minimum seconds between two snapshots.
    uint256 public immutable snapshotInterval;
    /// @notice Seconds after a snapshot during which it can be claimed (see {claimStatus}).
    uint256 public immutable claimWindow;

    /// @notice All revenue ever deposited.
    uint256 public totalDeposited;
    /// @notice Revenue waiting for the next snapshot (claimable part of deposits since the last one).
    uint256 public pendingRevenue;
    /// @notice Revenue only reachable by burning (the non-claimable part of deposits, minus redemptions).
    uint256 public redeemReserve;
    /// @notice Revenue assigned to snapshots not expired and not claimed yet (includes rounding dust).
    uint256 public claimReserve;
    /// @notice Timestamp of the last snapshot (the deployment time before the first).
    uint256 public lastSnapshotAt;

    Snapshot[] private _snapshots; // id = index + 1
    mapping(uint256 snapshotId => mapping(address account => bool)) private _claimed;
    mapping(address account => address claimer) private _claimers;
    mapping(address account => Checkpoints.Trace208) private _balanceHistory;
    Checkpoints.Trace208 private _supplyHistory;

    /// @notice The market deposited revenue, split into the snapshot part and the redeemable part.
    event RevenueDeposited(uint256 amount, uint256 toSnapshots, uint256 toReserve);
    /// @notice Snapshot `snapshotId` of the balances at the end of block `blockNumber` distributes `revenue`.
    event SnapshotTaken(uint256 indexed snapshotId, uint256 blockNumber, uint256 revenue);
    /// @notice `account` claimed `amount` of snapshot `snapshotId` ({claim}).
    event RevenueClaimed(address indexed account, uint256 indexed snapshotId, uint256 amount);
    /// @notice `caller` claimed `amount` of snapshot `snapshotId` for `account`, paid to `account`
    /// ({claimFor}).
    event RevenueClaimedFor(
        address indexed account, uint256 indexed snapshotId, address indexed caller, uint256 amount
    );
    /// @notice `caller` (the account or its claimer) claimed `amount` of snapshot `snapshotId` for
    /// `account`, paid to `to` ({claimTo}).
    event RevenueClaimedTo(
        address indexed account,
        uint256 indexed snapshotId,
        address indexed to,
        address caller,
        uint256 amount
    );
    /// @notice `account` chose `claimer` (the zero address: nobody) to claim on its behalf with {claimTo}.
    event ClaimerSet(address indexed account, address indexed claimer);
    /// @notice The claim window of snapshot `snapshotId` closed; `remainder` went back to `pendingRevenue`.
    event SnapshotExpired(uint256 indexed snapshotId, uint256 remainder);
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
    /// @notice The claim window is outside [{MIN_CLAIM_WINDOW}, {MAX_CLAIM_WINDOW}].
    error ClaimWindowOutOfRange(uint256 window);
    /// @notice Only the market deposits revenue.
    error NotMarket(address caller);
    /// @notice The next snapshot is allowed at `notBefore`.
    error SnapshotTooSoon(uint256 notBefore);
    /// @notice No revenue is waiting: none was deposited or returned by {expire} since the last snapshot.
    error NoNewRevenue();
    /// @notice Nobody holds tokens, so a snapshot would distribute to no one.
    error NoSupply();
    /// @notice No such snapshot.
    error UnknownSnapshot(uint256 snapshotId);
    /// @notice The snapshot was taken in this block; its balances are final from the next block on.
    error SnapshotNotFinal(uint256 snapshotId);
    /// @notice `account` has nothing to claim at snapshot `snapshotId` (no balance, or claimed already).
    error NothingToClaim(address account, uint256 snapshotId);
    /// @notice Snapshot `snapshotId` could be claimed until `deadline`; it can only be expired now.
    error ClaimWindowClosed(uint256 snapshotId, uint256 deadline);
    /// @notice Snapshot `snapshotId` can still be claimed until `deadline`; it expires after that.
    error ClaimWindowOpen(uint256 snapshotId, uint256 deadline);
    /// @notice Snapshot `snapshotId` was expired already.
    error AlreadyExpired(uint256 snapshotId);
    /// @notice `caller` is neither `account` nor the claimer `account` chose.
    error NotClaimer(address caller, address account);
    /// @notice {claimTo} would pay the zero address.
    error ZeroRecipient();
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
    /// @param claimWindow_ Seconds after a snapshot during which it can be claimed (7 to 365 days).
    constructor(
        string memory name_,
        string memory symbol_,
        address holder,
        uint256 supply,
        address market_,
        uint256 claimableBps_,
        uint256 snapshotInterval_,
        uint256 claimWindow_
    ) ERC20(name_, symbol_) {
        if (supply == 0 || supply > type(uint208).max) revert SupplyOutOfRange(supply);
        if (holder == address(0) || market_ == address(0)) revert ZeroAddress();
        if (claimableBps_ > BPS) revert ClaimableBpsOutOfRange(claimableBps_);
        if (snapshotInterval_ > MAX_SNAPSHOT_INTERVAL) revert SnapshotIntervalOutOfRange(snapshotInterval_);
        if (claimWindow_ < MIN_CLAIM_WINDOW || claimWindow_ > MAX_CLAIM_WINDOW) {
            revert ClaimWindowOutOfRange(claimWindow_);
        }
        market = market_;
        claimableBps = claimableBps_;
        snapshotInterval = snapshotInterval_;
        claimWindow = claimWindow_;
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
    /// tokens exist, so snapshots cannot be spammed to make claiming expensive. The snapshot can be
    /// claimed until `block.timestamp + claimWindow`.
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
        _snapshots.push(
            Snapshot({
                revenue: SafeCast.toUint128(revenue), // the token never holds 2^128 wei
                claimed: 0,
                blockNumber: uint48(block.number),
                claimDeadline: SafeCast.toUint48(block.timestamp + claimWindow),
                expired: false
            })
        );
        snapshotId = _snapshots.length;
        emit SnapshotTaken(snapshotId, block.number, revenue);
    }

    /// @inheritdoc IERC7641
    /// @dev Zero when already claimed, for a snapshot of the current block (not final yet), and after
    /// the snapshot's claim deadline.
    function claimableRevenue(address account, uint256 snapshotId) public view returns (uint256) {
        Snapshot storage s = _snapshotOf(snapshotId);
        // forge-lint: disable-next-line(block-timestamp) (a deadline days away; validator skew is seconds)
        if (s.blockNumber >= block.number || block.timestamp > s.claimDeadline) return 0;
        return _shareOf(account, snapshotId, s);
    }

    /// @inheritdoc IERC7641
    /// @dev Reverts with {SnapshotNotFinal} in the snapshot's block, {ClaimWindowClosed} after its
    /// deadline and {NothingToClaim} when the caller's share is zero or claimed.
    function claim(uint256 snapshotId) external nonReentrant {
        uint256 amount = _claim(msg.sender, snapshotId);
        emit RevenueClaimed(msg.sender, snapshotId, amount);
        _send(msg.sender, amount);
    }

    /// @inheritdoc IRevenueShare
    /// @dev Same checks as {claim}. Reverts with {TransferFailed} (claiming nothing) when `account`
    /// refuses ETH; {claimTo} by the account or its claimer, or {expire}, is the way out then.
    function claimFor(address account, uint256 snapshotId) external nonReentrant {
        uint256 amount = _claim(account, snapshotId);
        emit RevenueClaimedFor(account, snapshotId, msg.sender, amount);
        _send(account, amount);
    }

    /// @inheritdoc IRevenueShare
    /// @dev Same checks as {claim}, and reverts with {NotClaimer} unless the caller is `account` or
    /// `claimerOf(account)`, with {ZeroRecipient} for `to == address(0)`.
    function claimTo(address account, uint256 snapshotId, address to) external nonReentrant {
        if (msg.sender != account && msg.sender != _claimers[account]) {
            revert NotClaimer(msg.sender, account);
        }
        if (to == address(0)) revert ZeroRecipient();
        uint256 amount = _claim(account, snapshotId);
        emit RevenueClaimedTo(account, snapshotId, to, msg.sender, amount);
        _send(to, amount);
    }

    /// @inheritdoc IRevenueShare
    function setClaimer(address claimer) external {
        _claimers[msg.sender] = claimer;
        emit ClaimerSet(msg.sender, claimer);
    }

    /// @inheritdoc IRevenueShare
    function claimerOf(address account) external view returns (address) {
        return _claimers[account];
    }

    /// @inheritdoc IRevenueShare
    /// @dev Reverts with {ClaimWindowOpen} up to and including the deadline and with {AlreadyExpired} the
    /// second time. Moves no ETH (only the books), so it needs no reentrancy guard.
    function expire(uint256 snapshotId) external returns (uint256 remainder) {
        Snapshot storage s = _snapshotOf(snapshotId);
        if (s.expired) revert AlreadyExpired(snapshotId);
        // forge-lint: disable-next-line(block-timestamp) (a deadline days away; validator skew is seconds)
        if (block.timestamp <= s.claimDeadline) revert ClaimWindowOpen(snapshotId, s.claimDeadline);
        remainder = s.revenue - s.claimed;
        s.expired = true;
        claimReserve -= remainder;
        pendingRevenue += remainder;
        emit SnapshotExpired(snapshotId, remainder);
    }

    /// @inheritdoc IRevenueShare
    function claimStatus(uint256 snapshotId)
        external
        view
        returns (uint256 deadline, uint256 unclaimed, bool expired)
    {
        Snapshot storage s = _snapshotOf(snapshotId);
        return (s.claimDeadline, s.expired ? 0 : s.revenue - s.claimed, s.expired);
    }

    /// @inheritdoc IERC7641
    function redeemableOnBurn(uint256 amount) public view returns (uint256) {
        uint256 supply = totalSupply();
        if (amount == 0 || supply == 0) return 0;
        if (amount > supply) amount = supply;
        return Math.mulDiv(amount, redeemReserve, supply) + Math.mulDiv(amount, pendingRevenue, supply);
    }

    /// @inheritdoc IERC7641
    function burn(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 supply = totalSupply();
        uint256 fromReserve = Math.mulDiv(amount, redeemReserve, supply);
        uint256 fromPending = Math.mulDiv(amount, pendingRevenue, supply);
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

    /// @notice A snapshot: revenue, amount claimed, block, claim deadline, whether it expired.
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

    function _snapshotOf(uint256 snapshotId) private view returns (Snapshot storage) {
        if (snapshotId == 0 || snapshotId > _snapshots.length) revert UnknownSnapshot(snapshotId);
        return _snapshots[snapshotId - 1];
    }

    /// @dev `account`'s unclaimed share of snapshot `s` (balance / supply of its revenue, rounded down;
    /// `mulDiv`, since balance times revenue can exceed 2^256 for a supply near 2^208).
    function _shareOf(address account, uint256 snapshotId, Snapshot storage s)
        private
        view
        returns (uint256)
    {
        if (_claimed[snapshotId][account]) return 0;
        uint48 key = s.blockNumber;
        uint256 supply = _supplyHistory.upperLookupRecent(key);
        if (supply == 0) return 0;
        return Math.mulDiv(_balanceHistory[account].upperLookupRecent(key), s.revenue, supply);
    }

    /// @dev Checks that `account` can claim snapshot `snapshotId` now and books the claim (effects
    /// before the caller's transfer): returns the amount to pay.
    function _claim(address account, uint256 snapshotId) private returns (uint256 amount) {
        Snapshot storage s = _snapshotOf(snapshotId);
        if (s.blockNumber >= block.number) revert SnapshotNotFinal(snapshotId);
        // forge-lint: disable-next-line(block-timestamp) (a deadline days away; validator skew is seconds)
        if (block.timestamp > s.claimDeadline) revert ClaimWindowClosed(snapshotId, s.claimDeadline);
        amount = _shareOf(account, snapshotId, s);
        if (amount == 0) revert NothingToClaim(account, snapshotId);
        _claimed[snapshotId][account] = true;
        // forge-lint: disable-next-line(unsafe-typecast) (amount <= revenue - claimed, all below 2^128)
        s.claimed += uint128(amount);
        claimReserve -= amount;
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = payable(to).call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
