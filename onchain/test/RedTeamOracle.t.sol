// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RedTeamBase} from "./utils/RedTeamBase.sol";
import {LiarRig, Puppet} from "./utils/LiarRig.sol";
import {Consumer} from "./utils/Consumers.sol";
import {OracleBooks} from "./utils/OracleBooks.sol";
import {InferenceMarket} from "../contracts/InferenceMarket.sol";
import {InferenceOracle} from "../contracts/InferenceOracle.sol";
import {AigcAdapter} from "../contracts/AigcAdapter.sol";
import {AigcToken} from "../contracts/AigcToken.sol";
import {DisputeGame} from "../contracts/DisputeGame.sol";

/// @notice Red team of the oracle and the ERC-7007 token. The liar's contract ({LiarRig}) submits claims
/// and drives many puppet accounts, several calls per transaction, before (front-run) and after
/// (back-run) the honest transactions of the same block. It posts a false result for a request whose
/// consumer is the token, tries to get it delivered or minted before and after the honest claim
/// finalizes, starves callbacks of gas, mints in front of the deliverer, replays and forges callbacks,
/// and runs hostile consumers against honest deliverers. `test_resists_*` are attacks the contracts
/// withstood; `test_limit_*` shows, with its cost, what they do not prevent (docs/ORACLE.md).
contract RedTeamOracleTest is RedTeamBase {
    uint256 internal constant PRICE = 10 gwei;
    uint256 internal constant PUPPETS = 8;

    InferenceOracle internal oracle;
    AigcAdapter internal adapter;
    AigcToken internal aigc;
    LiarRig internal rig;
    address internal minter;
    address internal deliverer;
    address[] internal oracleAccounts;
    uint256 internal tokenId;
    bytes internal output; // the honest output on INPUT

    function setUp() public override {
        super.setUp();
        oracle = new InferenceOracle(market, PRICE);
        adapter = new AigcAdapter(market, modelId);
        aigc = new AigcToken("opML art", "OPART", adapter, oracle);
        rig = new LiarRig();
        rig.addPuppets(PUPPETS);
        vm.deal(address(rig), 10_000 ether);
        minter = makeAddr("minter");
        deliverer = makeAddr("deliverer");
        vm.deal(minter, 100 ether);
        tracked.push(address(rig));
        tracked.push(address(oracle));
        tracked.push(minter);
        tracked.push(deliverer);
        oracleAccounts.push(minter);
        oracleAccounts.push(deliverer);
        oracleAccounts.push(liar);
        oracleAccounts.push(address(rig));
        oracleAccounts.push(address(aigc));
        oracleAccounts.push(address(this));
        for (uint256 i = 0; i < PUPPETS; ++i) {
            tracked.push(address(rig.puppets(i)));
            oracleAccounts.push(address(rig.puppets(i)));
        }
        tokenId = uint256(keccak256(INPUT));
        output = modelState.outputOf(seedFor(INPUT));
    }

    // ---------------------------------------------------------------------------------------------
    // helpers
    // ---------------------------------------------------------------------------------------------

    function byRig(address target, uint256 value, bytes memory data)
        internal
        pure
        returns (LiarRig.Call memory c)
    {
        c.target = target;
        c.value = value;
        c.data = data;
    }

    function byPuppet(uint256 p, address target, uint256 value, bytes memory data)
        internal
        view
        returns (LiarRig.Call memory c)
    {
        c.puppet = rig.puppets(p);
        c.target = target;
        c.value = value;
        c.data = data;
    }

    function one(LiarRig.Call memory c) internal pure returns (LiarRig.Call[] memory calls) {
        calls = new LiarRig.Call[](1);
        calls[0] = c;
    }

    /// The liar tries `c`; it must fail with `err` (the rig and its puppets bubble the revert).
    function refused(LiarRig.Call memory c, bytes memory err) internal {
        vm.expectRevert(err);
        rig.batch(one(c));
    }

    function lie(uint256 id) internal view returns (bytes memory) {
        return modelState.outputOf(keccak256(abi.encode("evil", id, HALT)));
    }

    /// The rig's false claim on request `id` (another run's output, a valid output proof), staked for 4
    /// games.
    function falseSubmitCall(uint256 id) internal view returns (LiarRig.Call memory) {
        bytes32 evil = keccak256(abi.encode("evil", id, HALT));
        bytes memory data = abi.encodeCall(
            InferenceMarket.submit, (id, lie(id), traceVm.stateHash(evil, HALT, HALT), HALT, abi.encode(evil))
        );
        return byRig(address(market), uint256(SUBMITTER_BOND) + 4 * market.gameStakeFor(HALT), data);
    }

    function requestMint() internal returns (uint256 id) {
        uint64 g = aigc.mintGasLimit();
        uint256 price = oracle.quote(modelId, g);
        vm.prank(minter);
        id = aigc.requestMint{value: price}(INPUT, g);
    }

    function assertAllBooks() internal {
        assertBooksBalance();
        assertEq(OracleBooks.holdings(oracle), OracleBooks.owed(oracle, oracleAccounts), "oracle books");
    }

    function assertLiarOwnsNoToken() internal {
        assertEq(aigc.balanceOf(address(rig)), 0);
        assertEq(aigc.balanceOf(liar), 0);
        for (uint256 i = 0; i < PUPPETS; ++i) {
            assertEq(aigc.balanceOf(address(rig.puppets(i))), 0);
        }
    }

    /// Every way the liar's accounts could try to get `data` delivered or minted for request `id` while
    /// it is not finalized with `data`; each fails with the error given.
    function liarTriesEverything(uint256 id, bytes memory data, bytes memory deliverErr) internal {
        refused(
            byPuppet(0, address(oracle), 0, abi.encodeCall(InferenceOracle.deliver, (id, data))), deliverErr
        );
        refused(
            byPuppet(1, address(aigc), 0, abi.encodeCall(AigcToken.mint, (id, INPUT, data))),
            abi.encodeWithSelector(AigcToken.NotVerified.selector, id)
        );
        refused(
            byPuppet(2, address(aigc), 0, abi.encodeCall(AigcToken.onInferenceResult, (id, data))),
            abi.encodeWithSelector(AigcToken.NotOracle.selector, address(rig.puppets(2)))
        );
        refused(
            byPuppet(3, address(aigc), 0, abi.encodeCall(AigcToken.cancelMint, (id))),
            abi.encodeWithSelector(AigcToken.NotMinter.selector, address(rig.puppets(3)), minter)
        );
        refused(
            byPuppet(
                4,
                address(aigc),
                0,
                abi.encodeCall(AigcToken.addAigcData, (tokenId, INPUT, data, abi.encode(id)))
            ),
            abi.encodeWithSelector(bytes4(keccak256("ERC721NonexistentToken(uint256)")), tokenId)
        );
        assertFalse(aigc.verify(INPUT, data, abi.encode(id)));
    }

    // ---------------------------------------------------------------------------------------------
    // a false result for the token's request
    // ---------------------------------------------------------------------------------------------

    /// Block 1: the minter's requestMint; the liar back-runs it with a false claim and tries to deliver
    /// and mint its output at once; the watcher challenges; the server claims honestly; two puppets
    /// challenge the honest claim to delay it. The liar never defends its claim, the server wins the
    /// puppets' games, and in the block where the honest claim can finalize the liar front-runs with
    /// finalize and its lie, a starved delivery, and back-runs the honest delivery with replays. The
    /// token goes to the minter with the honest output; the books hold throughout.
    function test_resists_falseResultForTheTokensRequest() public {
        uint256 id = requestMint();
        rig.batch(one(falseSubmitCall(id)));
        uint256 liarClaim = market.claimCount();
        liarTriesEverything(id, lie(id), abi.encodeWithSelector(InferenceOracle.NotFinalized.selector, id));
        uint256 gLiar = challengeAs(watcher, id, liarClaim);
        uint256 honest = honestClaim(server, id, 4);
        LiarRig.Call[] memory sybils = new LiarRig.Call[](2);
        uint256 cv = market.challengeValue(honest);
        sybils[0] = byPuppet(5, address(market), cv, abi.encodeCall(InferenceMarket.challenge, (id, honest)));
        sybils[1] = byPuppet(6, address(market), cv, abi.encodeCall(InferenceMarket.challenge, (id, honest)));
        rig.batch(sybils);
        uint256 gA = game.gameCount() - 1;
        uint256 gB = game.gameCount();
        assertAllBooks();

        // Block 2: the server answers both Sybil games.
        skipTime(12);
        bytes32[] memory pts = honestDissection();
        vm.startPrank(server);
        game.dissect(gA, pts);
        game.dissect(gB, pts);
        vm.stopPrank();
        liarTriesEverything(id, lie(id), abi.encodeWithSelector(InferenceOracle.NotFinalized.selector, id));

        // The puppets and the liar never move: their clocks run out.
        skipTime(CLOCK + 12);
        game.timeout(gLiar);
        game.timeout(gA);
        game.timeout(gB);
        assertEq(uint256(market.getClaim(liarClaim).status), uint256(InferenceMarket.ClaimStatus.Voided));
        liarTriesEverything(id, lie(id), abi.encodeWithSelector(InferenceOracle.NotFinalized.selector, id));
        liarTriesEverything(id, output, abi.encodeWithSelector(InferenceOracle.NotFinalized.selector, id));
        assertAllBooks();

        frontRunTheFinalizationBlock(id, honest);

        // The honest delivery.
        vm.prank(deliverer);
        assertTrue(oracle.deliver(id, output));
        assertEq(aigc.ownerOf(tokenId), minter);

        backRunTheDelivery(id);
        (, bytes memory stored, bytes memory data) = aigc.content(tokenId);
        assertEq(stored, INPUT);
        assertEq(data, output);
        assertFalse(aigc.verify(INPUT, lie(id), abi.encode(id)));
        assertLiarOwnsNoToken();
        // The liar's bond was slashed, at least half of it burnt; the deliverer was paid.
        assertGte(market.totalBurned(), SUBMITTER_BOND / 2);
        assertEq(oracle.withdrawable(deliverer), uint256(aigc.mintGasLimit()) * PRICE);
        assertAllBooks();
    }

    /// The block where the honest claim can finalize. Front-run: the liar finalizes (anyone may), then
    /// tries its lie and a delivery starved of gas.
    function frontRunTheFinalizationBlock(uint256 id, uint256 honest) internal {
        vm.warp(market.getClaim(honest).challengeDeadline);
        vm.roll(block.number + 1);
        rig.batch(one(byRig(address(market), 0, abi.encodeCall(InferenceMarket.finalize, (honest)))));
        bytes memory l = lie(id);
        refused(
            byPuppet(0, address(oracle), 0, abi.encodeCall(InferenceOracle.deliver, (id, l))),
            abi.encodeWithSelector(InferenceOracle.WrongOutput.selector, id, keccak256(output), keccak256(l))
        );
        refused(
            byPuppet(1, address(aigc), 0, abi.encodeCall(AigcToken.mint, (id, INPUT, l))),
            abi.encodeWithSelector(AigcToken.NotVerified.selector, id)
        );
        bytes memory call = abi.encodeCall(InferenceOracle.deliver, (id, output));
        vm.prank(liar);
        (bool ok, bytes memory ret) = address(oracle).call{gas: aigc.mintGasLimit()}(call);
        assertFalse(ok);
        // forge-lint: disable-next-line(unsafe-typecast) (the selector: the first four bytes)
        assertEq(bytes4(ret), InferenceOracle.InsufficientGas.selector);
        assertEq(aigc.balanceOf(minter), 0);
    }

    /// Back-run of the delivery: a second delivery, a second mint, a forged callback, a reclaim, a cancel.
    function backRunTheDelivery(uint256 id) internal {
        refused(
            byPuppet(0, address(oracle), 0, abi.encodeCall(InferenceOracle.deliver, (id, output))),
            abi.encodeWithSelector(InferenceOracle.NotPending.selector, id, InferenceOracle.Status.Delivered)
        );
        refused(
            byPuppet(1, address(aigc), 0, abi.encodeCall(AigcToken.mint, (id, INPUT, output))),
            abi.encodeWithSelector(AigcToken.AlreadyMinted.selector, tokenId)
        );
        refused(
            byPuppet(2, address(aigc), 0, abi.encodeCall(AigcToken.onInferenceResult, (id, output))),
            abi.encodeWithSelector(AigcToken.NotOracle.selector, address(rig.puppets(2)))
        );
        refused(
            byRig(address(oracle), 0, abi.encodeCall(InferenceOracle.reclaim, (id))),
            abi.encodeWithSelector(InferenceOracle.NotPending.selector, id, InferenceOracle.Status.Delivered)
        );
        refused(
            byPuppet(3, address(aigc), 0, abi.encodeCall(AigcToken.cancelMint, (id))),
            abi.encodeWithSelector(AigcToken.NotMinter.selector, address(rig.puppets(3)), minter)
        );
    }

    /// Same block: the liar mints the token of the minter's finalized request before the deliverer's
    /// transaction. The token still goes to the minter (a mint cannot choose its recipient); the
    /// callback then fails on the existing token, and the delivery still pays.
    function test_resists_mintInFrontOfTheDelivery() public {
        uint256 id = requestMint();
        uint256 honest = honestClaim(server, id, 4);
        skipTime(WINDOW);
        LiarRig.Call[] memory front = new LiarRig.Call[](2);
        front[0] = byRig(address(market), 0, abi.encodeCall(InferenceMarket.finalize, (honest)));
        front[1] = byPuppet(0, address(aigc), 0, abi.encodeCall(AigcToken.mint, (id, INPUT, output)));
        rig.batch(front);
        assertEq(aigc.ownerOf(tokenId), minter);
        vm.prank(deliverer);
        assertFalse(oracle.deliver(id, output));
        assertEq(aigc.ownerOf(tokenId), minter);
        assertEq(aigc.balanceOf(minter), 1);
        assertEq(oracle.withdrawable(deliverer), uint256(aigc.mintGasLimit()) * PRICE);
        assertLiarOwnsNoToken();
        assertAllBooks();
    }

    /// Whatever gas the liar gives its delivery, either it reverts and nothing changed, or the callback
    /// had its whole limit and the minter has the token.
    function testFuzz_resists_starvedDelivery(uint256 gasSent) public {
        uint256 id = requestMint();
        uint256 honest = honestClaim(server, id, 4);
        skipTime(WINDOW);
        market.finalize(honest);
        uint256 limit = aigc.mintGasLimit();
        gasSent = bound(gasSent, 0, 2 * limit + 200_000);
        vm.prank(liar);
        (bool ok,) = address(oracle).call{gas: gasSent}(abi.encodeCall(InferenceOracle.deliver, (id, output)));
        if (ok) {
            assertEq(aigc.ownerOf(tokenId), minter);
            assertTrue(oracle.getRequest(id).callbackOk);
        } else {
            assertEq(aigc.balanceOf(minter), 0);
            assertEq(uint256(oracle.getRequest(id).status), uint256(InferenceOracle.Status.Pending));
            // The honest deliverer then delivers normally.
            vm.prank(deliverer);
            assertTrue(oracle.deliver(id, output));
            assertEq(aigc.ownerOf(tokenId), minter);
        }
        assertLiarOwnsNoToken();
        assertAllBooks();
    }

    // ---------------------------------------------------------------------------------------------
    // hostile consumers against deliverers
    // ---------------------------------------------------------------------------------------------

    /// The liar's consumers revert, loop forever, return-bomb and re-enter; the honest deliverer's
    /// cost stays within the limit it is paid for plus a fixed overhead, it is paid every time, and the
    /// liar cannot take its requests back once they finalized (not even in front of the delivery).
    function test_resists_hostileConsumersAgainstDeliverers() public {
        Consumer.Mode[4] memory modes =
            [Consumer.Mode.Revert, Consumer.Mode.Burn, Consumer.Mode.Bomb, Consumer.Mode.Reenter];
        uint64 limit = 600_000;
        uint256 reward = uint256(limit) * PRICE;
        for (uint256 i = 0; i < modes.length; ++i) {
            Consumer c = new Consumer(oracle);
            oracleAccounts.push(address(c));
            c.setMode(modes[i]);
            uint256 id = c.request{value: FEE + reward}(modelId, INPUT, limit);
            if (modes[i] == Consumer.Mode.Reenter) c.setReenter(id, output);
            uint256 honest = honestClaim(server, id, 4);
            skipTime(WINDOW);
            market.finalize(honest);
            // Front-run of the delivery: the consumer tries to take fee and reward back.
            vm.expectRevert(
                abi.encodeWithSelector(
                    InferenceMarket.WrongRequestStatus.selector, id, InferenceMarket.RequestStatus.Finalized
                )
            );
            c.cancel(id);
            vm.expectRevert(
                abi.encodeWithSelector(
                    InferenceOracle.NotRefundable.selector, id, InferenceMarket.RequestStatus.Finalized
                )
            );
            oracle.reclaim(id);
            uint256 before = oracle.withdrawable(deliverer);
            vm.prank(deliverer);
            uint256 g = gasleft();
            oracle.deliver(id, output);
            uint256 used = g - gasleft();
            assertLte(used, uint256(limit) + 80_000, "deliverer paid more than the limit and overhead");
            assertEq(oracle.withdrawable(deliverer) - before, reward);
            assertFalse(c.nestedDeliverOk());
            assertFalse(c.nestedWithdrawOk());
            assertAllBooks();
        }
    }

    /// The liar delivers first (it may: it earns the reward); the honest deliverer's transaction in the
    /// same block reverts at once, costing it little gas.
    function test_resists_frontRunDeliveryCostsTheLoserLittle() public {
        Consumer c = new Consumer(oracle);
        oracleAccounts.push(address(c));
        uint256 id = c.request{value: FEE + 200_000 * PRICE}(modelId, INPUT, 200_000);
        uint256 honest = honestClaim(server, id, 4);
        skipTime(WINDOW);
        market.finalize(honest);
        rig.batch(one(byPuppet(0, address(oracle), 0, abi.encodeCall(InferenceOracle.deliver, (id, output)))));
        vm.prank(deliverer);
        uint256 g = gasleft();
        (bool ok,) = address(oracle).call(abi.encodeCall(InferenceOracle.deliver, (id, output)));
        uint256 used = g - gasleft();
        assertFalse(ok);
        assertLte(used, 40_000); // ~11k here, ~35k as a transaction of its own (base cost included)
        assertEq(oracle.withdrawable(address(rig.puppets(0))), 200_000 * PRICE);
        assertAllBooks();
    }

    // ---------------------------------------------------------------------------------------------
    // what the contracts do not prevent
    // ---------------------------------------------------------------------------------------------

    /// Prompts are public once requested, and one prompt has one token: a puppet copies the minter's
    /// prompt into its own market request in the same block, the liar claims it honestly first, and in
    /// the finalization block it finalizes and mints its own request in front of the minter's delivery.
    /// The liar gets the token; the minter got (and paid the fee for) a real inference, its delivery
    /// still happens and pays the deliverer. The liar paid a fee too, and got its bond back.
    function test_limit_copiedPromptIsMintedFirst() public {
        uint256 id = requestMint();
        Puppet p = rig.puppets(7);
        LiarRig.Call[] memory copy = new LiarRig.Call[](1);
        copy[0] = byPuppet(7, address(market), FEE, abi.encodeCall(InferenceMarket.request, (modelId, INPUT)));
        rig.batch(copy);
        uint256 copied = market.requestCount();
        (bytes memory out, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        uint256 stake = uint256(SUBMITTER_BOND) + 4 * market.gameStakeFor(HALT);
        rig.batch(
            one(
                byRig(
                    address(market),
                    stake,
                    abi.encodeCall(InferenceMarket.submit, (copied, out, finalState, steps, proof))
                )
            )
        );
        uint256 liarClaim = market.claimCount();
        uint256 honest = honestClaim(server, id, 4);
        skipTime(WINDOW);
        LiarRig.Call[] memory front = new LiarRig.Call[](2);
        front[0] = byRig(address(market), 0, abi.encodeCall(InferenceMarket.finalize, (liarClaim)));
        front[1] = byRig(address(aigc), 0, abi.encodeCall(AigcToken.mint, (copied, INPUT, output)));
        rig.batch(front);
        market.finalize(honest);
        vm.prank(deliverer);
        assertFalse(oracle.deliver(id, output));
        assertEq(aigc.ownerOf(tokenId), address(p));
        assertEq(aigc.balanceOf(minter), 0);
        assertEq(oracle.withdrawable(deliverer), uint256(aigc.mintGasLimit()) * PRICE);
        assertAllBooks();
    }
}
