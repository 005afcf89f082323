// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {OracleFixture} from "../utils/OracleFixture.sol";
import {Consumer} from "../utils/Consumers.sol";
import {InferenceMarket} from "../../contracts/InferenceMarket.sol";
import {InferenceOracle} from "../../contracts/InferenceOracle.sol";
import {IDisputeGame} from "../../contracts/interfaces/IDisputeGame.sol";

/// @title Random traffic through the oracle on a real market
/// @notice Consumers (one that records, one that reverts, one that burns all its gas, and an EOA)
/// request with fuzzed gas limits; the honest `submitter` claims, the liar `submitter2` posts false
/// claims that the watcher (`challenger`) challenges at once and times out once the liar's clock runs
/// out; anyone finalizes, delivers (with the right bytes, wrong bytes, or too little gas), cancels,
/// refunds, reclaims and withdraws; time moves; ETH is forced into the oracle. Checks inside actions
/// count {violations} (a reverting action is discarded by the invariant runner).
contract OracleHandler is OracleFixture {
    uint256 public constant MAX_REQUESTS = 16;

    Consumer[3] public consumers; // Record, Revert, Burn
    uint256[] public ids;
    mapping(uint256 requestId => bytes) public inputOf;
    uint256[] public games; // the watcher's games against false claims

    uint256 public forced; // ETH forced into the oracle
    uint256 public violations;
    string public lastViolation;
    mapping(bytes32 action => uint256) public calls;
    /// Successful callbacks the recording consumer should have seen.
    uint256 public recordedDeliveries;

    constructor() {
        setUpOracle();
        for (uint256 i = 0; i < 3; ++i) {
            consumers[i] = new Consumer(oracle);
        }
        consumers[1].setMode(Consumer.Mode.Revert);
        consumers[2].setMode(Consumer.Mode.Burn);
    }

    // ---------------------------------------------------------------------------------------------
    // views for the invariants
    // ---------------------------------------------------------------------------------------------

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function oracleAccounts() public view returns (address[] memory all) {
        all = new address[](6);
        for (uint256 i = 0; i < 3; ++i) {
            all[i] = address(consumers[i]);
        }
        all[3] = requester;
        all[4] = deliverer;
        all[5] = challenger; // delivers sometimes
    }

    function marketAccounts() external view returns (address[] memory all) {
        all = new address[](5);
        all[0] = submitter;
        all[1] = submitter2;
        all[2] = challenger;
        all[3] = requester;
        all[4] = address(oracle);
    }

    function theOracle() external view returns (InferenceOracle) {
        return oracle;
    }

    function theMarket() external view returns (InferenceMarket) {
        return market;
    }

    function oracleOwedNow() external view returns (uint256) {
        return oracleOwed(oracleAccounts());
    }

    // ---------------------------------------------------------------------------------------------
    // actions
    // ---------------------------------------------------------------------------------------------

    function request(uint256 who, uint256 inputSeed, uint256 gasSeed) external {
        if (ids.length >= MAX_REQUESTS) return;
        uint64 gasLimit = uint64(bound(gasSeed, 20_000, 400_000));
        bytes memory input = abi.encode(inputSeed % 4);
        uint256 price = oracle.quote(modelId, gasLimit);
        uint256 id;
        who = who % 4;
        if (who == 3) {
            vm.deal(requester, price);
            vm.prank(requester);
            id = oracle.request{value: price}(modelId, input, gasLimit);
        } else {
            vm.deal(address(this), price);
            id = consumers[who].request{value: price}(modelId, input, gasLimit);
        }
        ids.push(id);
        inputOf[id] = input;
        ++calls["request"];
    }

    function submitHonest(uint256 seed) external {
        uint256 id = _pick(seed);
        if (!_claimable(id)) return;
        vm.deal(submitter, 100 ether);
        submitHonest(submitter, id, inputOf[id]);
        ++calls["submitHonest"];
    }

    /// The liar's false claim, challenged by the watcher in the same block.
    function submitFalse(uint256 seed) external {
        uint256 id = _pick(seed);
        if (!_claimable(id)) return;
        vm.deal(submitter2, 100 ether);
        vm.deal(challenger, 100 ether);
        uint256 claimId = submitFalse(submitter2, id, HALT);
        games.push(challengeAs(challenger, id, claimId));
        ++calls["submitFalse"];
    }

    function timeout(uint256 seed) external {
        if (games.length == 0) return;
        uint256 g = games[seed % games.length];
        IDisputeGame.Status s = game.status(g);
        if (s != IDisputeGame.Status.AwaitingDissection && s != IDisputeGame.Status.AwaitingResponse) return;
        try game.timeout(g) {
            ++calls["timeout"];
        } catch {}
    }

    /// Finalizes every claim that can be (starting at a fuzzed one), as anyone may.
    function finalize(uint256 seed) external {
        uint256 n = market.claimCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 claimId = 1 + ((seed + i) % n);
            try market.finalize(claimId) {
                ++calls["finalize"];
            } catch {}
        }
    }

    /// Delivers request `seed` with its honest output (or, with `wrong`, other bytes, which must fail),
    /// as the deliverer or the challenger.
    function deliver(uint256 seed, bool wrong, bool byChallenger) external {
        uint256 id = _pickWhere(seed, InferenceMarket.RequestStatus.Finalized);
        if (id == 0) return;
        bytes memory output = outputOf(inputOf[id]);
        if (wrong) output = abi.encode(keccak256(output));
        address who = byChallenger ? challenger : deliverer;
        InferenceOracle.Request memory before = oracle.getRequest(id);
        vm.prank(who);
        try oracle.deliver(id, output) returns (bool ok) {
            ++calls["deliver"];
            (bool finalized,,,) = market.result(id);
            if (wrong) _violation("wrong bytes delivered");
            if (!finalized) _violation("delivered before finalization");
            if (before.status != InferenceOracle.Status.Pending) _violation("delivered twice");
            if (before.consumer == address(consumers[0]) && ok) ++recordedDeliveries;
            if ((before.consumer == address(consumers[1]) || before.consumer == address(consumers[2])) && ok)
            {
                _violation("a hostile callback reported success");
            }
        } catch {}
    }

    /// Delivers with a fuzzed, often too small, amount of gas: it either reverts or the callback had
    /// its whole limit (checked for the recording consumer, whose limit covers its work from 200k on).
    function deliverStarved(uint256 seed, uint256 gasSeed) external {
        uint256 id = _pickWhere(seed, InferenceMarket.RequestStatus.Finalized);
        if (id == 0) return;
        InferenceOracle.Request memory r = oracle.getRequest(id);
        uint256 gasSent = bound(gasSeed, r.gasLimit / 2, 2 * uint256(r.gasLimit) + 100_000);
        bytes memory data = abi.encodeCall(InferenceOracle.deliver, (id, outputOf(inputOf[id])));
        vm.prank(deliverer);
        (bool ok, bytes memory ret) = address(oracle).call{gas: gasSent}(data);
        if (!ok) return;
        ++calls["deliverStarved"];
        bool callbackOk = abi.decode(ret, (bool));
        if (r.consumer == address(consumers[0])) {
            if (callbackOk) ++recordedDeliveries;
            else if (r.gasLimit >= 200_000) _violation("a callback was starved");
        }
    }

    function cancel(uint256 seed) external {
        uint256 id = _pick(seed);
        if (id == 0) return;
        address c = oracle.getRequest(id).consumer;
        vm.prank(c);
        try oracle.cancel(id) {
            ++calls["cancel"];
            if (market.getRequest(id).status != InferenceMarket.RequestStatus.Cancelled) {
                _violation("cancelled on the oracle only");
            }
        } catch {}
    }

    function refund(uint256 seed) external {
        uint256 id = _pick(seed);
        if (id == 0) return;
        try market.refund(id) {
            ++calls["refund"];
        } catch {}
    }

    function reclaim(uint256 seed) external {
        uint256 id = _pickWhere(seed, InferenceMarket.RequestStatus.Open);
        if (id == 0) return;
        try oracle.reclaim(id) {
            ++calls["reclaim"];
        } catch {}
    }

    function withdraw(uint256 who) external {
        address[] memory all = oracleAccounts();
        address a = all[who % all.length];
        uint256 amount = oracle.withdrawable(a);
        if (amount == 0) return;
        uint256 before = a.balance;
        vm.prank(a);
        oracle.withdraw();
        if (a.balance - before != amount) _violation("withdrew another amount");
        ++calls["withdraw"];
    }

    function warp(uint256 secs) external {
        secs = bound(secs, 1 hours, 3 days);
        vm.warp(block.timestamp + secs);
        vm.roll(block.number + 1);
        ++calls["warp"];
    }

    function forceSend(uint256 amount) external {
        amount = bound(amount, 1, 1 ether);
        vm.deal(address(oracle), address(oracle).balance + amount);
        forced += amount;
        ++calls["forceSend"];
    }

    // ---------------------------------------------------------------------------------------------
    // helpers
    // ---------------------------------------------------------------------------------------------

    function _pick(uint256 seed) private view returns (uint256) {
        if (ids.length == 0) return 0;
        return ids[seed % ids.length];
    }

    /// A request still pending at the oracle whose market request is `status` (so that most actions
    /// do something), or any request when there is none.
    function _pickWhere(uint256 seed, InferenceMarket.RequestStatus status) private view returns (uint256) {
        uint256 n = ids.length;
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = ids[(seed + i) % n];
            if (oracle.getRequest(id).status != InferenceOracle.Status.Pending) continue;
            InferenceMarket.RequestStatus s = market.getRequest(id).status;
            if (
                s == status
                    || (status == InferenceMarket.RequestStatus.Open
                        && s == InferenceMarket.RequestStatus.Refunded)
            ) {
                return id;
            }
        }
        return _pick(seed);
    }

    function _claimable(uint256 id) private view returns (bool) {
        if (id == 0) return false;
        InferenceMarket.Request memory r = market.getRequest(id);
        // forge-lint: disable-next-line(block-timestamp) (the protocol's clock)
        return r.status == InferenceMarket.RequestStatus.Open && block.timestamp < r.deadline;
    }

    function _violation(string memory what) private {
        ++violations;
        lastViolation = what;
    }
}
