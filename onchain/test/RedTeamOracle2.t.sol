// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RedTeamBase} from "./utils/RedTeamBase.sol";
import {LiarRig} from "./utils/LiarRig.sol";
import {Consumer} from "./utils/Consumers.sol";
import {OracleBooks} from "./utils/OracleBooks.sol";
import {MemoryTree} from "./utils/MemoryTree.sol";
import {SettlingConsumer, LockedConsumer, NestedDeliverer} from "./utils/OracleAttackers.sol";
import {InferenceMarket} from "../contracts/InferenceMarket.sol";
import {InferenceOracle} from "../contracts/InferenceOracle.sol";
import {ModelRegistry} from "../contracts/ModelRegistry.sol";
import {DisputeGame} from "../contracts/DisputeGame.sol";
import {AigcAdapter} from "../contracts/AigcAdapter.sol";
import {AigcToken} from "../contracts/AigcToken.sol";
import {ModelStateAdapter} from "../contracts/ModelStateAdapter.sol";
import {ModelState} from "../contracts/vm/ModelState.sol";
import {IModelState} from "../contracts/interfaces/IModelState.sol";

/// Cheatcodes newer than PRBTest's Vm interface (same cheatcode address).
interface VmCool {
    /// Marks the storage slots of `target` cold again, as at the start of a transaction.
    function cool(address target) external;
}

/// @notice Second red team of the oracle and the ERC-7007 token, by a liar that controls a contract
/// ({LiarRig}) with many puppet accounts and orders its calls around the honest ones in a block, and by
/// hostile consumers and deliverers.
///
/// - `test_fixed_*` were findings: each failed before the fix in `InferenceOracle.sol` / `AigcToken.sol`
///   and is kept as a regression test.
/// - `test_limit_*` pin the exact extent of what the contracts do not prevent (docs/ORACLE.md).
/// - `test_resists_*` are attacks that held.
contract RedTeamOracle2Test is RedTeamBase {
    uint256 internal constant PRICE = 10 gwei;
    uint256 internal constant PUPPETS = 8;
    bytes internal constant INPUT2 = "another input of the model";

    InferenceOracle internal oracle;
    AigcAdapter internal adapter;
    AigcToken internal aigc;
    LiarRig internal rig;
    address internal minter;
    address internal deliverer;
    address internal refundee;
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
        refundee = makeAddr("refundee");
        vm.deal(minter, 100 ether);
        tracked.push(address(rig));
        tracked.push(address(oracle));
        tracked.push(minter);
        tracked.push(deliverer);
        oracleAccounts.push(minter);
        oracleAccounts.push(deliverer);
        oracleAccounts.push(refundee);
        oracleAccounts.push(liar);
        oracleAccounts.push(server);
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

    function single(LiarRig.Call memory c) internal pure returns (LiarRig.Call[] memory calls) {
        calls = new LiarRig.Call[](1);
        calls[0] = c;
    }

    function pair(LiarRig.Call memory a, LiarRig.Call memory b)
        internal
        pure
        returns (LiarRig.Call[] memory calls)
    {
        calls = new LiarRig.Call[](2);
        calls[0] = a;
        calls[1] = b;
    }

    /// The liar tries `c`; it must fail with `err` (the rig and its puppets bubble the revert).
    function refused(LiarRig.Call memory c, bytes memory err) internal {
        vm.expectRevert(err);
        rig.batch(single(c));
    }

    /// The rig's honest claim on request `id` of INPUT (it serves its own copies), staked for 4 games.
    function honestSubmitCall(uint256 id) internal view returns (LiarRig.Call memory) {
        (bytes memory out, bytes32 finalState, uint64 steps, bytes memory proof) = honestResult(INPUT);
        return byRig(
            address(market),
            uint256(SUBMITTER_BOND) + 4 * market.gameStakeFor(HALT),
            abi.encodeCall(InferenceMarket.submit, (id, out, finalState, steps, proof))
        );
    }

    function requestMintOf(bytes memory prompt) internal returns (uint256 id) {
        uint64 g = aigc.mintGasLimit();
        uint256 price = oracle.quote(modelId, g);
        vm.prank(minter);
        id = aigc.requestMint{value: price}(prompt, g);
    }

    /// An honest claim by the server on request `id` of `input` survives its window and settles it.
    function settle(uint256 id, bytes memory input) internal returns (uint256 claimId) {
        claimId = submitHonest(server, id, input);
        skipTime(WINDOW);
        market.finalize(claimId);
    }

    /// Everything the liar's accounts hold: ETH and credits at the market and at the oracle.
    function liarWealth() internal view returns (uint256 total) {
        address[] memory all = new address[](PUPPETS + 2);
        all[0] = liar;
        all[1] = address(rig);
        for (uint256 i = 0; i < PUPPETS; ++i) {
            all[2 + i] = address(rig.puppets(i));
        }
        for (uint256 i = 0; i < all.length; ++i) {
            total += all[i].balance + market.withdrawable(all[i]) + oracle.withdrawable(all[i]);
        }
    }

    function assertAllBooks() internal {
        assertBooksBalance();
        assertEq(OracleBooks.holdings(oracle), OracleBooks.owed(oracle, oracleAccounts), "oracle books");
    }

    function assertLiarOwnsNoToken(AigcToken t) internal {
        assertEq(t.balanceOf(address(rig)), 0);
        assertEq(t.balanceOf(liar), 0);
        for (uint256 i = 0; i < PUPPETS; ++i) {
            assertEq(t.balanceOf(address(rig.puppets(i))), 0);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Finding 1: a market payout sent into the oracle by someone else broke the oracle's exact books
    // ---------------------------------------------------------------------------------------------

    /// `receive()` accepted any ETH whose sender was the market, so anyone with a market credit could
    /// `market.withdrawTo(oracle)` and put ETH into the oracle that nobody is owed: the books
    /// (`balance + market.withdrawable(oracle) == owed`) no longer held, the very property `receive()`
    /// was meant to protect. Fixed: the oracle accepts the market's ETH only while it pulls its own
    /// refunds (a transient flag around `market.withdraw()` in `_settleRefund`); the stray withdrawal
    /// reverts at the market and its owner keeps the credit.
    function test_fixed_marketPayoutIntoTheOracleIsRefused() public {
        uint256 id = requestAs(requester, INPUT);
        settle(id, INPUT);
        uint256 credit = market.withdrawable(server);
        assertGt(credit, 0);
        // The liar too: a puppet with a market credit (a skipped challenge credits its value back).
        uint256 claimId = market.claimCount();
        uint256 cv = market.challengeValue(claimId);
        rig.batch(
            single(
                byPuppet(
                    0,
                    address(market),
                    cv,
                    abi.encodeCall(InferenceMarket.challengeMany, (one(id), one(claimId)))
                )
            )
        );
        assertEq(market.withdrawable(address(rig.puppets(0))), cv);

        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.TransferFailed.selector, address(oracle), credit)
        );
        vm.prank(server);
        market.withdrawTo(payable(address(oracle)));
        refused(
            byPuppet(
                0, address(market), 0, abi.encodeCall(InferenceMarket.withdrawTo, (payable(address(oracle))))
            ),
            abi.encodeWithSelector(InferenceMarket.TransferFailed.selector, address(oracle), cv)
        );
        assertEq(address(oracle).balance, 0);
        assertEq(market.withdrawable(server), credit);
        assertAllBooks();

        // The oracle's own pulls still work: a cancel and a reclaim each pull the refunded fee.
        Consumer c = new Consumer(oracle);
        oracleAccounts.push(address(c));
        uint256 reward = 200_000 * PRICE;
        uint256 a = c.request{value: FEE + reward}(modelId, "a", 200_000);
        uint256 b = c.requestWithRefundTo{value: FEE + reward}(modelId, "b", 200_000, refundee);
        c.cancel(a);
        assertEq(oracle.withdrawable(address(c)), FEE + reward);
        skipTime(TIMEOUT);
        oracle.reclaim(b);
        assertEq(oracle.withdrawable(refundee), FEE + reward);
        assertEq(market.withdrawable(address(oracle)), 0);
        assertEq(address(oracle).balance, 2 * (FEE + reward));
        assertAllBooks();
    }

    // ---------------------------------------------------------------------------------------------
    // Finding 2: two tokens for one model input (prompts that differ only by trailing zero bytes)
    // ---------------------------------------------------------------------------------------------

    // A market on the production commitment scheme ({ModelStateAdapter}), which zero-pads inputs to
    // the input region as the Rust machine does; the fixture's TraceModelState hashes the exact bytes.
    uint64 internal constant P_MEM = 4096;
    uint64 internal constant P_IN = 256;
    uint32 internal constant P_OUT_OFF = 1024;
    uint64 internal constant P_OUT = 64;

    InferenceMarket internal pMarket;
    InferenceOracle internal pOracle;
    AigcToken internal pAigc;
    bytes32 internal pModel;
    ModelState.Commitment internal pCommit;

    function deployPaddingMarket() internal {
        InferenceMarket.Config memory cfg = defaultConfig();
        cfg.modelState = IModelState(address(new ModelStateAdapter()));
        pMarket = new InferenceMarket(cfg);
        bytes memory image = new bytes(P_MEM);
        image[2048] = 0x2a; // the model's weights, say
        bytes32[][] memory levels = MemoryTree.tree(image);
        pCommit = ModelState.Commitment({
            codeRoot: keccak256("digits"),
            memoryRoot: levels[7][0],
            memorySize: P_MEM,
            globalsRoot: keccak256("globals"),
            entryPc: 5,
            entryLocals: 3,
            inputOffset: 0,
            inputSize: P_IN,
            outputOffset: P_OUT_OFF,
            outputSize: P_OUT
        });
        pModel = ModelState.modelId(pCommit);
        ModelRegistry r = pMarket.registry();
        vm.prank(publisher);
        r.register(
            pModel,
            pCommit,
            MemoryTree.siblings(levels, 3, 0),
            ModelRegistry.Terms({maxSteps: MAX_STEPS, fee: FEE, submitterShareBps: SHARE_BPS}),
            shareTerms()
        );
        pOracle = new InferenceOracle(pMarket, PRICE);
        pAigc = new AigcToken("digits", "DIG", new AigcAdapter(pMarket, pModel), pOracle);
    }

    /// The model's output on the input region holding `canonical` (then zeros): any 64 bytes will do,
    /// as long as it is the same for every prompt with that model input.
    function pOutputOf(bytes memory canonical) internal pure returns (bytes memory) {
        return abi.encodePacked(keccak256(abi.encode(canonical, 0)), keccak256(abi.encode(canonical, 1)));
    }

    /// A halted final state whose output region holds `out`, and its output proof (docs/STATE.md).
    function pFinalState(bytes memory out) internal view returns (bytes32 state, bytes memory proof) {
        bytes memory image = new bytes(P_MEM);
        for (uint256 i = 0; i < out.length; ++i) {
            image[P_OUT_OFF + i] = out[i];
        }
        bytes32[][] memory levels = MemoryTree.tree(image);
        bytes memory h = abi.encodePacked(
            uint8(1), // halted
            uint32(0),
            HALT,
            pCommit.codeRoot,
            pCommit.memorySize,
            levels[7][0],
            pCommit.globalsRoot,
            keccak256("values"),
            keccak256("frames"),
            uint32(0),
            uint32(0)
        );
        state = keccak256(abi.encodePacked(bytes1(0x0b), h));
        proof = abi.encodePacked(h, MemoryTree.siblings(levels, 1, P_OUT_OFF / P_OUT));
    }

    /// The server's claim of `out` on request `id` of the padding market.
    function pSubmit(uint256 id, bytes memory out) internal returns (uint256) {
        (bytes32 state, bytes memory proof) = pFinalState(out);
        uint256 value = uint256(SUBMITTER_BOND) + 4 * pMarket.gameStakeFor(HALT);
        vm.prank(server);
        return pMarket.submit{value: value}(id, out, state, HALT, proof);
    }

    function pOracleBooks() internal {
        assertEq(OracleBooks.holdings(pOracle), OracleBooks.owed(pOracle, oracleAccounts), "pOracle books");
    }

    /// The market zero-pads an input to the model's input region, so `p` and `p ‖ 00 00` are one model
    /// input: the same initial state, so the same (only) result; a claim of it on either request
    /// cannot be disproved. The token keyed its uniqueness on the prompt's bytes, so after the minter's
    /// token of `p`, the liar's copy `p ‖ 00 00` (a request of its own, settled by the same honest
    /// result) minted a second token with the same model input and the same content. Fixed: the token
    /// keeps one content per model input (the prompt without its trailing zero bytes); a second prompt
    /// of an input that has a token reverts {AigcToken.SameInputMinted}, in `mint`, in the callback and
    /// up front in `requestMint` (before anything is paid). Token ids stay `keccak256(prompt)`.
    function test_fixed_paddedPromptGetsNoSecondToken() public {
        deployPaddingMarket();
        bytes memory p = "a digit";
        bytes memory padded = abi.encodePacked(p, hex"0000");
        bytes memory out = pOutputOf(p);
        uint64 g = pAigc.mintGasLimit();
        uint256 price = pOracle.quote(pModel, g);
        vm.prank(minter);
        uint256 a = pAigc.requestMint{value: price}(p, g);
        // The liar back-runs with a request of the padded copy from a puppet.
        rig.batch(
            single(
                byPuppet(0, address(pMarket), FEE, abi.encodeCall(InferenceMarket.request, (pModel, padded)))
            )
        );
        uint256 b = pMarket.requestCount();
        assertEq(pMarket.getRequest(a).initialState, pMarket.getRequest(b).initialState, "one model input");
        assertNotEq(pMarket.getRequest(a).inputHash, pMarket.getRequest(b).inputHash);
        uint256 ca = pSubmit(a, out);
        uint256 cb = pSubmit(b, out);
        skipTime(WINDOW);
        pMarket.finalize(ca);
        pMarket.finalize(cb);
        vm.prank(deliverer);
        assertTrue(pOracle.deliver(a, out));
        assertEq(pAigc.ownerOf(uint256(keccak256(p))), minter);

        // A second token of the same model input and content: refused.
        uint256 paddedId = uint256(keccak256(padded));
        refused(
            byPuppet(1, address(pAigc), 0, abi.encodeCall(AigcToken.mint, (b, padded, out))),
            abi.encodeWithSelector(AigcToken.SameInputMinted.selector, paddedId)
        );
        assertLiarOwnsNoToken(pAigc);
        assertEq(pAigc.balanceOf(minter), 1);
        // verify speaks of results, not tokens: both requests have this result.
        assertTrue(pAigc.verify(padded, out, abi.encode(b)));
        assertTrue(pAigc.verify(p, out, abi.encode(a)));
        // Every other padding too, through requestMint (refused before paying) and mint.
        bytes memory longer = abi.encodePacked(p, new bytes(40));
        vm.prank(minter);
        vm.expectRevert(
            abi.encodeWithSelector(AigcToken.SameInputMinted.selector, uint256(keccak256(longer)))
        );
        pAigc.requestMint{value: price}(longer, g);
        pOracleBooks();
    }

    /// The other order: the liar's padded prompt is minted first (its own request, its own token: the
    /// copied-prompt race of docs/ORACLE.md); then the canonical prompt cannot get a second token,
    /// and a minter asking for it is refused before paying. The liar's token holds the content verify
    /// accepts.
    function test_fixed_paddedPromptFirstBlocksTheCanonicalOne() public {
        deployPaddingMarket();
        bytes memory q = "another digit";
        bytes memory padded = abi.encodePacked(q, bytes1(0));
        bytes memory out = pOutputOf(q);
        rig.batch(
            single(
                byPuppet(2, address(pMarket), FEE, abi.encodeCall(InferenceMarket.request, (pModel, padded)))
            )
        );
        uint256 b = pMarket.requestCount();
        vm.prank(requester);
        uint256 a = pMarket.request{value: FEE}(pModel, q);
        pSubmit(b, out);
        pSubmit(a, out);
        skipTime(WINDOW);
        pMarket.finalize(1);
        pMarket.finalize(2);
        rig.batch(single(byPuppet(3, address(pAigc), 0, abi.encodeCall(AigcToken.mint, (b, padded, out)))));
        assertEq(pAigc.ownerOf(uint256(keccak256(padded))), address(rig.puppets(2)));
        (uint256 rid, bytes memory storedPrompt, bytes memory data) =
            pAigc.content(uint256(keccak256(padded)));
        assertEq(rid, b);
        assertEq(storedPrompt, padded);
        assertEq(data, out);
        assertTrue(pAigc.verify(storedPrompt, data, abi.encode(rid)));

        vm.expectRevert(abi.encodeWithSelector(AigcToken.SameInputMinted.selector, uint256(keccak256(q))));
        pAigc.mint(a, q, out);
        assertEq(pAigc.balanceOf(requester), 0);
        pRequestMintRefused(q);
    }

    /// The minter's requestMint of `prompt` reverts {AigcToken.SameInputMinted} and costs it nothing.
    function pRequestMintRefused(bytes memory prompt) internal {
        uint64 g = pAigc.mintGasLimit();
        uint256 price = pOracle.quote(pModel, g);
        uint256 before = minter.balance;
        vm.prank(minter);
        vm.expectRevert(
            abi.encodeWithSelector(AigcToken.SameInputMinted.selector, uint256(keccak256(prompt)))
        );
        pAigc.requestMint{value: price}(prompt, g);
        assertEq(minter.balance, before);
    }

    /// The all-zero input: the empty prompt and every run of zero bytes are one model input.
    function test_fixed_zeroPromptsAreOneInput() public {
        deployPaddingMarket();
        vm.prank(requester);
        uint256 z = pMarket.request{value: FEE}(pModel, new bytes(3));
        uint256 cz = pSubmit(z, pOutputOf(""));
        skipTime(WINDOW);
        pMarket.finalize(cz);
        pAigc.mint(z, new bytes(3), pOutputOf(""));
        assertEq(pAigc.ownerOf(uint256(keccak256(new bytes(3)))), requester);
        pRequestMintRefused("");
        pRequestMintRefused(new bytes(32));
        pRequestMintRefused(new bytes(P_IN));
    }

    /// The guard for any prompt and padding, in either order (on the fixture's model, whose results
    /// differ per byte string, so this checks the token's keying alone): after one of `core` and
    /// `core ‖ zeros` is minted, the other reverts {AigcToken.SameInputMinted}, and the minted token's
    /// content is its own request's.
    function testFuzz_fixed_paddingNeverGivesASecondToken(bytes memory core, uint256 zeros, bool paddedFirst)
        public
    {
        if (core.length > 200) {
            assembly ("memory-safe") {
                mstore(core, 200)
            }
        }
        if (core.length != 0 && core[core.length - 1] == 0) core[core.length - 1] = 0x01;
        zeros = bound(zeros, 1, 56);
        bytes memory padded = abi.encodePacked(core, new bytes(zeros));
        bytes memory first = paddedFirst ? padded : core;
        bytes memory second = paddedFirst ? core : padded;
        uint256 a = requestAs(requester, first);
        uint256 b = requestAs(requester, second);
        uint256 ca = submitHonest(server, a, first);
        uint256 cb = submitHonest(server, b, second);
        skipTime(WINDOW);
        market.finalize(ca);
        market.finalize(cb);
        bytes memory out = modelState.outputOf(seedFor(first));
        aigc.mint(a, first, out);
        bytes memory out2 = modelState.outputOf(seedFor(second));
        vm.expectRevert(
            abi.encodeWithSelector(AigcToken.SameInputMinted.selector, uint256(keccak256(second)))
        );
        aigc.mint(b, second, out2);
        (uint256 rid, bytes memory p, bytes memory d) = aigc.content(uint256(keccak256(first)));
        assertEq(rid, a);
        assertEq(p, first);
        assertEq(d, out);
        assertEq(aigc.balanceOf(requester), 1);
    }

    // ---------------------------------------------------------------------------------------------
    // The copied-prompt race: its exact extent
    // ---------------------------------------------------------------------------------------------

    /// docs/ORACLE.md: a copy of a pending requestMint prompt that is finalized and minted first owns
    /// the token. Its extent is wider than "claimed first": the liar's copy is claimed a block AFTER
    /// the minter's honest claim, and still wins, because one puppet challenges the minter's claim in
    /// the last second of its window and never moves; the claim cannot finalize until the puppet's
    /// clock runs out, long after the copy's window ended. Exact cost to the liar: the Sybil's
    /// challenger bond plus the copy's fee less its own submitter cut (it serves its copy itself).
    /// The minter's request still finalizes and is delivered (the callback fails, the deliverer is
    /// paid); its fee paid for a real inference.
    function test_limit_copyWinsByDelayingTheMintersClaim() public {
        uint256 before = liarWealth();
        uint256 id = requestMintOf(INPUT);
        uint256 honest = honestClaim(server, id, 4);
        rig.batch(
            single(
                byPuppet(7, address(market), FEE, abi.encodeCall(InferenceMarket.request, (modelId, INPUT)))
            )
        );
        uint256 copied = market.requestCount();
        skipTime(12);
        rig.batch(single(honestSubmitCall(copied)));
        uint256 copyClaim = market.claimCount();

        // Last second of the minter's claim's window: a puppet challenges it.
        vm.warp(market.getClaim(honest).challengeDeadline - 1);
        vm.roll(block.number + 1);
        uint256 cv = market.challengeValue(honest);
        rig.batch(
            single(byPuppet(5, address(market), cv, abi.encodeCall(InferenceMarket.challenge, (id, honest))))
        );
        uint256 g = game.gameCount();
        skipTime(12);
        bytes32[] memory pts = honestDissection();
        vm.prank(server);
        game.dissect(g, pts);

        // The copy's window ends: finalized and minted while the minter's claim is in its game.
        vm.warp(market.getClaim(copyClaim).challengeDeadline);
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.GamesOpen.selector, uint32(1)));
        market.finalize(honest);
        rig.batch(
            pair(
                byRig(address(market), 0, abi.encodeCall(InferenceMarket.finalize, (copyClaim))),
                byRig(address(aigc), 0, abi.encodeCall(AigcToken.mint, (copied, INPUT, output)))
            )
        );
        assertEq(aigc.ownerOf(tokenId), address(rig.puppets(7)));

        // The puppet's clock runs out; the server wins, the minter's request settles and is delivered.
        skipTime(CLOCK + 12);
        game.timeout(g);
        market.finalize(honest);
        vm.prank(deliverer);
        assertFalse(oracle.deliver(id, output));
        assertEq(aigc.balanceOf(minter), 0);
        assertEq(oracle.withdrawable(deliverer), uint256(aigc.mintGasLimit()) * PRICE);
        assertEq(
            before - liarWealth(),
            uint256(CHALLENGER_BOND) + FEE - (uint256(FEE) * SHARE_BPS) / market.BPS(),
            "liar's cost"
        );
        assertAllBooks();
    }

    /// The bound of that race without a delay: a copy claimed one block after the minter's claim
    /// loses. In the block where the minter's claim's window ends, the liar cannot finalize its copy
    /// (its window is still open), so finalize and delivery give the minter the token; the copy is
    /// then refused, and the liar is out its fee less its submitter cut.
    function test_resists_copyClaimedLaterLosesTheRace() public {
        uint256 before = liarWealth();
        uint256 id = requestMintOf(INPUT);
        uint256 honest = honestClaim(server, id, 4);
        rig.batch(
            single(
                byPuppet(7, address(market), FEE, abi.encodeCall(InferenceMarket.request, (modelId, INPUT)))
            )
        );
        uint256 copied = market.requestCount();
        skipTime(12);
        rig.batch(single(honestSubmitCall(copied)));
        uint256 copyClaim = market.claimCount();
        uint64 copyDeadline = market.getClaim(copyClaim).challengeDeadline;

        vm.warp(market.getClaim(honest).challengeDeadline);
        vm.roll(block.number + 1);
        refused(
            byRig(address(market), 0, abi.encodeCall(InferenceMarket.finalize, (copyClaim))),
            abi.encodeWithSelector(InferenceMarket.ChallengeWindowOpen.selector, copyDeadline)
        );
        market.finalize(honest);
        vm.prank(deliverer);
        assertTrue(oracle.deliver(id, output));
        assertEq(aigc.ownerOf(tokenId), minter);

        skipTime(12);
        rig.batch(single(byRig(address(market), 0, abi.encodeCall(InferenceMarket.finalize, (copyClaim)))));
        refused(
            byRig(address(aigc), 0, abi.encodeCall(AigcToken.mint, (copied, INPUT, output))),
            abi.encodeWithSelector(AigcToken.AlreadyMinted.selector, tokenId)
        );
        assertLiarOwnsNoToken(aigc);
        assertEq(before - liarWealth(), FEE - (uint256(FEE) * SHARE_BPS) / market.BPS(), "liar's cost");
        assertAllBooks();
    }

    /// Also documented ("the first finalized request of a prompt to be minted wins"), pinned here: the
    /// liar needs no copy when someone else already requested the prompt. A router (an oracle consumer
    /// with its own use for the result) requested INPUT; both requests settle; in front of the
    /// minter's delivery a puppet mints the router's request for free. The token goes to the router,
    /// which never asked for it, never to the liar: a liar account gets a prompt's token only through
    /// a request it paid for. The minter's delivery happens, its callback fails.
    function test_limit_anyoneMintsAThirdPartysRequestFirst() public {
        uint256 before = liarWealth();
        Consumer router = new Consumer(oracle);
        oracleAccounts.push(address(router));
        uint256 other = router.request{value: FEE + 200_000 * PRICE}(modelId, INPUT, 200_000);
        uint256 id = requestMintOf(INPUT);
        uint256 c1 = honestClaim(server, other, 4);
        uint256 c2 = honestClaim(server, id, 4);
        skipTime(WINDOW);
        market.finalize(c1);
        market.finalize(c2);
        rig.batch(
            single(byPuppet(0, address(aigc), 0, abi.encodeCall(AigcToken.mint, (other, INPUT, output))))
        );
        assertEq(aigc.ownerOf(tokenId), address(router));
        vm.prank(deliverer);
        assertFalse(oracle.deliver(id, output));
        assertEq(aigc.balanceOf(minter), 0);
        assertLiarOwnsNoToken(aigc);
        assertEq(liarWealth(), before, "the liar paid nothing but gas");
        // The router's own callback is unaffected.
        vm.prank(deliverer);
        assertTrue(oracle.deliver(other, output));
        assertEq(router.lastOutput(), output);
        assertAllBooks();
    }

    /// A requestMint front-run by a mint of another finalized request of the prompt reverts before
    /// paying anything: the minter loses its gas only.
    function test_resists_requestMintFrontRunByAMint() public {
        uint256 other = requestAs(requester, INPUT);
        settle(other, INPUT);
        rig.batch(
            single(byPuppet(0, address(aigc), 0, abi.encodeCall(AigcToken.mint, (other, INPUT, output))))
        );
        uint64 g = aigc.mintGasLimit();
        uint256 price = oracle.quote(modelId, g);
        uint256 balance = minter.balance;
        vm.prank(minter);
        vm.expectRevert(abi.encodeWithSelector(AigcToken.AlreadyMinted.selector, tokenId));
        aigc.requestMint{value: price}(INPUT, g);
        assertEq(minter.balance, balance);
        assertEq(aigc.ownerOf(tokenId), requester);
        assertAllBooks();
    }

    // ---------------------------------------------------------------------------------------------
    // Hostile consumers and deliverers
    // ---------------------------------------------------------------------------------------------

    /// A consumer's callback cancels one of its other requests (refunds to a third party), reclaims an
    /// expired one, and chains a request with refunds to the third party. Each refund goes to its own
    /// refund recipient exactly once, the deliverer gets exactly the delivered request's reward, and
    /// the books hold.
    function test_resists_callbackSettlesOtherRequests() public {
        SettlingConsumer s = new SettlingConsumer(oracle);
        oracleAccounts.push(address(s));
        vm.deal(address(s), 10 ether);
        uint64 big = 1_000_000;
        uint64 small = 50_000;
        uint256 reclaimId = s.request{value: FEE + small * PRICE}(modelId, "expires", small);
        uint256 id = s.request{value: FEE + big * PRICE}(modelId, INPUT, big);
        settle(id, INPUT);
        skipTime(TIMEOUT);
        uint256 cancelId =
            s.requestWithRefundTo{value: FEE + small * PRICE}(modelId, "cancelled", small, refundee);
        s.setPlan(cancelId, reclaimId, modelId, small, refundee);
        assertAllBooks();

        vm.prank(deliverer);
        assertTrue(oracle.deliver(id, output));
        assertEq(s.calls(), 1);
        assertTrue(s.cancelOk());
        assertTrue(s.reclaimOk());
        assertEq(oracle.withdrawable(deliverer), big * PRICE);
        assertEq(oracle.withdrawable(refundee), FEE + small * PRICE);
        assertEq(oracle.withdrawable(address(s)), FEE + small * PRICE);
        uint256 chained = s.chainedId();
        assertEq(oracle.getRequest(chained).consumer, address(s));
        assertEq(oracle.refundRecipient(chained), refundee);
        assertEq(uint256(oracle.getRequest(cancelId).status), uint256(InferenceOracle.Status.Reclaimed));
        assertEq(uint256(oracle.getRequest(reclaimId).status), uint256(InferenceOracle.Status.Reclaimed));
        assertEq(market.withdrawable(address(oracle)), 0);
        assertAllBooks();
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceOracle.NotPending.selector, reclaimId, InferenceOracle.Status.Reclaimed
            )
        );
        oracle.reclaim(reclaimId);
        s.withdraw();
        vm.prank(refundee);
        oracle.withdraw();
        vm.prank(deliverer);
        oracle.withdraw();
        assertAllBooks();
    }

    /// Refunds the market credited to the oracle (anyone may call `market.refund`) are pulled by
    /// whichever reclaim comes first; each refund recipient is still credited exactly its own fee and
    /// reward, once, and the books hold at every step.
    function test_resists_refundsPulledByAnotherReclaim() public {
        Consumer c = new Consumer(oracle);
        oracleAccounts.push(address(c));
        uint256 reward = uint256(GAS_A) * PRICE;
        uint256 a = c.request{value: FEE + reward}(modelId, "a", GAS_A);
        uint256 b = c.requestWithRefundTo{value: FEE + reward}(modelId, "b", GAS_A, refundee);
        skipTime(TIMEOUT);
        rig.batch(
            pair(
                byPuppet(0, address(market), 0, abi.encodeCall(InferenceMarket.refund, (a))),
                byPuppet(1, address(market), 0, abi.encodeCall(InferenceMarket.refund, (b)))
            )
        );
        assertEq(market.withdrawable(address(oracle)), 2 * FEE);
        assertAllBooks();
        oracle.reclaim(b);
        assertEq(market.withdrawable(address(oracle)), 0);
        assertEq(oracle.withdrawable(refundee), FEE + reward);
        assertEq(oracle.withdrawable(address(c)), 0);
        assertAllBooks();
        oracle.reclaim(a);
        assertEq(oracle.withdrawable(address(c)), FEE + reward);
        assertAllBooks();
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.NotPending.selector, a, InferenceOracle.Status.Reclaimed)
        );
        oracle.reclaim(a);
        c.withdraw();
        vm.prank(refundee);
        oracle.withdraw();
        assertEq(address(oracle).balance, 0);
        assertEq(refundee.balance, FEE + reward);
        assertAllBooks();
    }

    uint64 internal constant GAS_A = 200_000;

    /// Not preventable by the oracle, pinned: a deliver may come from inside any call the deliverer
    /// receives. A consumer that guards its callback with the same reentrancy lock as a function that
    /// calls an untrusted address (here: a payment) can have its callback made to fail: the liar's
    /// contract is paid by the consumer and delivers from inside that payment; the callback reverts on
    /// the lock, the liar keeps the reward, and a delivery is never retried. The result stays on the
    /// market. (docs/ORACLE.md: a callback must not depend on a lock held around untrusted calls.)
    function test_limit_lockedConsumerCallbackFailsWhenDeliveredInsideItsLock() public {
        LockedConsumer lc = new LockedConsumer(oracle);
        NestedDeliverer nd = new NestedDeliverer(oracle);
        oracleAccounts.push(address(lc));
        oracleAccounts.push(address(nd));
        uint256 id = lc.request{value: FEE + uint256(GAS_A) * PRICE}(modelId, INPUT, GAS_A);
        settle(id, INPUT);
        nd.arm(id, output);
        lc.pay{value: 1}(payable(address(nd)));
        assertTrue(nd.delivered());
        assertFalse(nd.callbackOk());
        assertEq(lc.results(), 0);
        assertEq(oracle.withdrawable(address(nd)), uint256(GAS_A) * PRICE);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.NotPending.selector, id, InferenceOracle.Status.Delivered)
        );
        oracle.deliver(id, output);
        (bool finalized,,, bytes32 outputHash) = market.result(id);
        assertTrue(finalized);
        assertEq(outputHash, keccak256(output));
        assertAllBooks();
    }

    /// The token's callback does not depend on where the delivery comes from: the liar's contract
    /// delivers the minter's second request from inside the ERC-721 safe-transfer hook of the
    /// minter's first token (and from inside nothing else it could reach), and the mint goes through.
    function test_resists_tokenCallbackDeliveredFromInsideATransferHook() public {
        NestedDeliverer nd = new NestedDeliverer(oracle);
        oracleAccounts.push(address(nd));
        uint256 first = requestMintOf(INPUT);
        uint256 second = requestMintOf(INPUT2);
        uint256 c1 = submitHonest(server, first, INPUT);
        uint256 c2 = submitHonest(server, second, INPUT2);
        skipTime(WINDOW);
        market.finalize(c1);
        market.finalize(c2);
        vm.prank(deliverer);
        assertTrue(oracle.deliver(first, output));
        bytes memory output2 = modelState.outputOf(seedFor(INPUT2));
        nd.arm(second, output2);
        vm.prank(minter);
        aigc.safeTransferFrom(minter, address(nd), tokenId);
        assertTrue(nd.delivered());
        assertTrue(nd.callbackOk());
        assertEq(aigc.ownerOf(uint256(keccak256(INPUT2))), minter);
        assertEq(aigc.ownerOf(tokenId), address(nd));
        assertAllBooks();
    }

    /// {AigcToken.mintGasLimit} covers the callback for the longest prompt of a model with a 16 KiB
    /// input region, from cold storage as in a delivery transaction of its own (a test runs in one
    /// transaction, so the token's, the oracle's, the adapter's and the market's slots are cooled
    /// first): a full prompt, and the worst case of the trailing-zero scan (one byte, then zeros).
    function test_resists_longestPromptCallbackFitsMintGasLimitCold() public {
        ModelState.Commitment memory c = makeCommitment("big", HALT);
        c.inputSize = 16_384;
        bytes32 big = modelState.modelId(c);
        vm.prank(publisher);
        registry.register(
            big,
            c,
            new bytes32[](0),
            ModelRegistry.Terms({maxSteps: MAX_STEPS, fee: FEE, submitterShareBps: SHARE_BPS}),
            shareTerms()
        );
        AigcAdapter bigAdapter = new AigcAdapter(market, big);
        AigcToken t = new AigcToken("big", "BIG", bigAdapter, oracle);
        oracleAccounts.push(address(t));
        uint64 g = t.mintGasLimit();
        assertEq(uint256(g), 110_000 + 2 * 22_200 + 513 * 2_200);
        bytes[] memory prompts = new bytes[](2);
        prompts[0] = new bytes(16_384);
        for (uint256 i = 0; i < 16_384; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast) (1 + i % 255 < 256)
            prompts[0][i] = bytes1(uint8(1 + (i % 255)));
        }
        prompts[1] = new bytes(16_384);
        prompts[1][0] = 0x01;
        for (uint256 k = 0; k < prompts.length; ++k) {
            uint256 price = oracle.quote(big, g);
            vm.prank(minter);
            uint256 id = t.requestMint{value: price}(prompts[k], g);
            bytes32 seed = modelState.seedOf(c, prompts[k]);
            bytes memory out = modelState.outputOf(seed);
            uint256 value = uint256(SUBMITTER_BOND) + 4 * market.gameStakeFor(HALT);
            bytes32 finalState = traceVm.stateHash(seed, HALT, HALT);
            vm.prank(server);
            uint256 claimId = market.submit{value: value}(id, out, finalState, HALT, abi.encode(seed));
            skipTime(WINDOW);
            market.finalize(claimId);
            VmCool(address(vm)).cool(address(t));
            VmCool(address(vm)).cool(address(oracle));
            VmCool(address(vm)).cool(address(bigAdapter));
            VmCool(address(vm)).cool(address(market));
            vm.prank(deliverer);
            assertTrue(oracle.deliver(id, out));
            assertEq(t.ownerOf(uint256(keccak256(prompts[k]))), minter);
            (, bytes memory stored, bytes memory data) = t.content(uint256(keccak256(prompts[k])));
            assertEq(stored, prompts[k]);
            assertEq(data, out);
        }
        assertAllBooks();
    }
}
