// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {OracleFixture} from "./utils/OracleFixture.sol";
import {Consumer} from "./utils/Consumers.sol";
import {AigcAdapter} from "../contracts/AigcAdapter.sol";
import {AigcToken} from "../contracts/AigcToken.sol";
import {InferenceMarket} from "../contracts/InferenceMarket.sol";
import {InferenceOracle} from "../contracts/InferenceOracle.sol";
import {ModelState} from "../contracts/vm/ModelState.sol";
import {IERC7007} from "../contracts/interfaces/IERC7007.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";

/// @notice Every path of the ERC-7007 token: minting a finalized result directly and through the
/// oracle's callback, and every request that must not mint (pending, voided, cancelled, refunded,
/// another model's, other bytes, a prompt minted already, forged or replayed callbacks), with `verify`
/// false wherever a mint is refused; `addAigcData`, metadata and ERC-165.
contract AigcTokenTest is OracleFixture {
    bytes internal constant PROMPT = "a prompt";

    event AigcData(uint256 indexed tokenId, bytes indexed prompt, bytes indexed aigcData, bytes proof);
    event MintRequested(uint256 indexed requestId, uint256 indexed tokenId, address indexed minter);

    AigcAdapter internal adapter;
    AigcToken internal aigc;
    address internal minter;
    uint256 internal tokenId;
    bytes internal output;

    function setUp() public {
        setUpOracle();
        adapter = new AigcAdapter(market, modelId);
        aigc = new AigcToken("opML art", "OPART", adapter, oracle);
        minter = makeAddr("minter");
        vm.deal(minter, 100 ether);
        tokenId = uint256(keccak256(PROMPT));
        output = outputOf(PROMPT);
    }

    function proofOf(uint256 id) internal pure returns (bytes memory) {
        return abi.encode(id);
    }

    function requestMintAs(address who, bytes memory prompt, uint64 gasLimit) internal returns (uint256) {
        uint256 price = oracle.quote(modelId, gasLimit);
        vm.prank(who);
        return aigc.requestMint{value: price}(prompt, gasLimit);
    }

    function mintGas() internal view returns (uint64) {
        return aigc.mintGasLimit();
    }

    function assertNotMintable(uint256 id, bytes memory prompt, bytes memory data) internal {
        assertFalse(aigc.verify(prompt, data, proofOf(id)));
        vm.expectRevert(abi.encodeWithSelector(AigcToken.NotVerified.selector, id));
        aigc.mint(id, prompt, data);
    }

    // ---------------------------------------------------------------------------------------------
    // deployment, ERC-165
    // ---------------------------------------------------------------------------------------------

    function test_constructor() public {
        assertEq(address(aigc.adapter()), address(adapter));
        assertEq(address(aigc.market()), address(market));
        assertEq(address(aigc.oracle()), address(oracle));
        assertEq(aigc.modelId(), modelId);
        assertEq(aigc.name(), "opML art");
        assertEq(aigc.symbol(), "OPART");
    }

    function test_constructor_refusesAnOracleOnAnotherMarket() public {
        InferenceMarket other = new InferenceMarket(defaultConfig());
        InferenceOracle elsewhere = new InferenceOracle(other, PRICE);
        vm.expectRevert(
            abi.encodeWithSelector(AigcToken.MarketMismatch.selector, address(market), address(other))
        );
        new AigcToken("x", "X", adapter, elsewhere);
    }

    function test_supportsInterface() public {
        assertEq(type(IERC7007).interfaceId, bytes4(0x702c55a6));
        assertEq(type(IERC7007).interfaceId, IERC7007.addAigcData.selector ^ IERC7007.verify.selector);
        assertTrue(aigc.supportsInterface(0x702c55a6)); // ERC-7007
        assertTrue(aigc.supportsInterface(0x80ac58cd)); // ERC-721
        assertTrue(aigc.supportsInterface(0x5b5e139f)); // ERC-721 metadata
        assertTrue(aigc.supportsInterface(0x01ffc9a7)); // ERC-165
        assertFalse(aigc.supportsInterface(0xffffffff));
        assertFalse(aigc.supportsInterface(0x7e52e423)); // the draft's (mint-based) ERC-7007
    }

    // ---------------------------------------------------------------------------------------------
    // mint: finalized requests only
    // ---------------------------------------------------------------------------------------------

    function test_mint_afterFinalization_toTheRequester() public {
        uint256 id = requestAs(requester, PROMPT);
        finalizeHonest(id, PROMPT);
        assertTrue(aigc.verify(PROMPT, output, proofOf(id)));
        vm.expectEmit(address(aigc));
        emit AigcData(tokenId, PROMPT, output, proofOf(id));
        vm.prank(challenger); // anyone mints; the requester gets the token
        assertEq(aigc.mint(id, PROMPT, output), tokenId);
        assertEq(aigc.ownerOf(tokenId), requester);
        assertEq(aigc.balanceOf(requester), 1);
        assertEq(aigc.balanceOf(challenger), 0);
        (uint256 rid, bytes memory p, bytes memory d) = aigc.content(tokenId);
        assertEq(rid, id);
        assertEq(p, PROMPT);
        assertEq(d, output);
        assertEq(aigc.promptOf(id), PROMPT);
    }

    function test_mint_refusesAPendingRequest() public {
        uint256 id = requestAs(requester, PROMPT);
        assertNotMintable(id, PROMPT, output);
        uint256 claimId = submitHonest(submitter, id, PROMPT);
        assertNotMintable(id, PROMPT, output);
        vm.warp(block.timestamp + WINDOW); // survived its window, but not finalized yet
        assertNotMintable(id, PROMPT, output);
        market.finalize(claimId);
        aigc.mint(id, PROMPT, output);
    }

    function test_mint_refusesAVoidedClaimUntilAnotherFinalizes() public {
        uint256 id = requestAs(requester, PROMPT);
        bytes memory lie = falseOutputOf(id);
        submitFalse(submitter2, id, HALT);
        assertNotMintable(id, PROMPT, lie);
        voidFalseClaim(id, 1);
        assertNotMintable(id, PROMPT, lie);
        assertNotMintable(id, PROMPT, output);
        finalizeHonest(id, PROMPT);
        assertNotMintable(id, PROMPT, lie);
        aigc.mint(id, PROMPT, output);
        assertEq(aigc.ownerOf(tokenId), requester);
    }

    function voidFalseClaim(uint256 id, uint256 claimId) internal {
        uint256 g = challengeAs(challenger, id, claimId);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(g);
        assertEq(uint256(market.getClaim(claimId).status), uint256(InferenceMarket.ClaimStatus.Voided));
    }

    function test_mint_refusesRefundedAndCancelledRequests() public {
        uint256 refunded = requestAs(requester, PROMPT);
        uint256 cancelled = requestAs(requester, PROMPT);
        vm.prank(requester);
        market.cancel(cancelled);
        vm.warp(block.timestamp + TIMEOUT);
        market.refund(refunded);
        assertNotMintable(refunded, PROMPT, output);
        assertNotMintable(cancelled, PROMPT, output);
        // Voided, then refunded.
        uint256 voided = requestAs(requester, PROMPT);
        submitFalse(submitter2, voided, HALT);
        voidFalseClaim(voided, market.claimCount());
        vm.warp(block.timestamp + TIMEOUT);
        market.refund(voided);
        assertNotMintable(voided, PROMPT, output);
        assertNotMintable(voided, PROMPT, falseOutputOf(voided));
    }

    function test_mint_refusesAnotherModelsResult() public {
        (bytes32 otherId,) = registerModel("other model", HALT, MAX_STEPS, FEE, SHARE_BPS);
        ModelState.Commitment memory c = makeCommitment("other model", HALT);
        vm.prank(requester);
        uint256 id = market.request{value: FEE}(otherId, PROMPT);
        bytes32 seed = modelState.seedOf(c, PROMPT);
        bytes memory out = modelState.outputOf(seed);
        vm.prank(submitter);
        uint256 claimId = market.submit{value: claimValue(HALT, 1)}(
            id, out, traceVm.stateHash(seed, HALT, HALT), HALT, abi.encode(seed)
        );
        vm.warp(block.timestamp + WINDOW);
        market.finalize(claimId);
        (bool finalized,,,) = market.result(id);
        assertTrue(finalized);
        assertNotMintable(id, PROMPT, out);
        assertNotMintable(id, PROMPT, output);
    }

    function test_mint_refusesOtherBytesAndUnknownRequests() public {
        uint256 id = requestAs(requester, PROMPT);
        finalizeHonest(id, PROMPT);
        assertNotMintable(id, PROMPT, abi.encode(keccak256("another output")));
        assertNotMintable(id, "another prompt", output);
        assertNotMintable(id, PROMPT, bytes.concat(output, hex"00"));
        assertNotMintable(99, PROMPT, output);
        assertNotMintable(0, PROMPT, output);
    }

    function test_mint_onePerPrompt() public {
        uint256 a = requestAs(requester, PROMPT);
        uint256 b = requestAs(submitter2, PROMPT);
        finalizeHonest(a, PROMPT);
        finalizeHonest(b, PROMPT);
        aigc.mint(b, PROMPT, output);
        assertEq(aigc.ownerOf(tokenId), submitter2);
        vm.expectRevert(abi.encodeWithSelector(AigcToken.AlreadyMinted.selector, tokenId));
        aigc.mint(a, PROMPT, output);
        vm.expectRevert(abi.encodeWithSelector(AigcToken.AlreadyMinted.selector, tokenId));
        aigc.mint(b, PROMPT, output);
        // Still true for both: verify speaks of results, not of tokens.
        assertTrue(aigc.verify(PROMPT, output, proofOf(a)));
        (uint256 rid,,) = aigc.content(tokenId);
        assertEq(rid, b);
    }

    /// A request another contract made through the oracle: its token goes to that consumer.
    function test_mint_ofAnotherConsumersOracleRequest() public {
        Consumer c = new Consumer(oracle);
        uint256 id = c.request{value: FEE + rewardOf(GAS)}(modelId, PROMPT, GAS);
        finalizeHonest(id, PROMPT);
        aigc.mint(id, PROMPT, output);
        assertEq(aigc.ownerOf(tokenId), address(c));
    }

    /// A consumer that named a refund recipient acts for it: the token goes to the one who paid.
    function test_mint_ofAnOracleRequestGoesToWhoPaid() public {
        Consumer c = new Consumer(oracle);
        uint256 id = c.requestWithRefundTo{value: FEE + rewardOf(GAS)}(modelId, PROMPT, GAS, minter);
        finalizeHonest(id, PROMPT);
        aigc.mint(id, PROMPT, output);
        assertEq(aigc.ownerOf(tokenId), minter);
    }

    function testFuzz_verify_isTheAdaptersAndNeverReverts(
        bytes calldata prompt,
        bytes calldata data,
        bytes calldata proof
    ) public {
        uint256 id = requestAs(requester, PROMPT);
        finalizeHonest(id, PROMPT);
        assertEq(aigc.verify(prompt, data, proof), adapter.verify(prompt, data, proof));
        assertTrue(aigc.verify(PROMPT, output, proofOf(id)));
    }

    // ---------------------------------------------------------------------------------------------
    // requestMint and the callback
    // ---------------------------------------------------------------------------------------------

    function test_mintGasLimit() public {
        // 32-byte output (a length slot and a data slot), 256-byte input region (8 words and a length).
        assertEq(uint256(mintGas()), 110_000 + 2 * 22_200 + 9 * 2_200);
    }

    function test_requestMint_paysTheOracleAndRecordsTheMinter() public {
        uint64 gasLimit = mintGas();
        uint256 price = oracle.quote(modelId, gasLimit);
        vm.expectEmit(address(aigc));
        emit MintRequested(1, tokenId, minter);
        vm.prank(minter);
        uint256 id = aigc.requestMint{value: price}(PROMPT, gasLimit);
        assertEq(id, 1);
        assertEq(aigc.minterOf(id), minter);
        assertEq(aigc.promptOf(id), PROMPT);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(r.consumer, address(aigc));
        assertEq(uint256(r.gasLimit), uint256(gasLimit));
        assertEq(oracle.refundRecipient(id), minter);
        assertEq(market.getRequest(id).requester, address(oracle));
        assertEq(address(aigc).balance, 0);
    }

    /// The token never holds ETH: an exact payment goes to the market and the oracle, any other is
    /// refused; the oracle's books hold.
    function testFuzz_requestMint_payment(uint256 paid, uint64 gasLimit) public {
        gasLimit = uint64(bound(gasLimit, 20_000, 2_000_000));
        uint256 price = oracle.quote(modelId, gasLimit);
        paid = bound(paid, 0, 2 * price);
        vm.deal(minter, paid);
        vm.prank(minter);
        if (paid != price) {
            vm.expectRevert(abi.encodeWithSelector(InferenceOracle.WrongPayment.selector, paid, price));
            aigc.requestMint{value: paid}(PROMPT, gasLimit);
        } else {
            aigc.requestMint{value: paid}(PROMPT, gasLimit);
            assertEq(address(market).balance, FEE);
            assertEq(address(oracle).balance, rewardOf(gasLimit));
        }
        assertEq(address(aigc).balance, 0);
        address[] memory accounts = new address[](2);
        accounts[0] = minter;
        accounts[1] = address(aigc);
        assertOracleBooks(accounts);
    }

    function test_requestMint_reverts() public {
        uint64 gasLimit = mintGas();
        uint256 price = oracle.quote(modelId, gasLimit);
        vm.prank(minter);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.WrongPayment.selector, price - 1, price));
        aigc.requestMint{value: price - 1}(PROMPT, gasLimit);
        vm.prank(minter);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.GasLimitOutOfRange.selector, 1, 20_000, 2e6));
        aigc.requestMint{value: FEE}(PROMPT, 1);
        bytes memory long = new bytes(INPUT_SIZE + 1);
        vm.prank(minter);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.InputTooLong.selector, INPUT_SIZE + 1, INPUT_SIZE)
        );
        aigc.requestMint{value: price}(long, gasLimit);
        // A prompt minted already is refused before paying for an inference.
        uint256 id = requestAs(requester, PROMPT);
        finalizeHonest(id, PROMPT);
        aigc.mint(id, PROMPT, output);
        vm.prank(minter);
        vm.expectRevert(abi.encodeWithSelector(AigcToken.AlreadyMinted.selector, tokenId));
        aigc.requestMint{value: price}(PROMPT, gasLimit);
    }

    function test_callbackMint_endToEnd() public {
        uint256 id = requestMintAs(minter, PROMPT, mintGas());
        finalizeHonest(id, PROMPT);
        vm.expectEmit(address(aigc));
        emit AigcData(tokenId, PROMPT, output, proofOf(id));
        vm.prank(deliverer);
        assertTrue(oracle.deliver(id, output));
        assertEq(aigc.ownerOf(tokenId), minter);
        assertTrue(aigc.verify(PROMPT, output, proofOf(id)));
        (uint256 rid, bytes memory p, bytes memory d) = aigc.content(tokenId);
        assertEq(rid, id);
        assertEq(p, PROMPT);
        assertEq(d, output);
        assertEq(oracle.withdrawable(deliverer), rewardOf(mintGas()));
    }

    /// {mintGasLimit} covers the longest prompt the model takes.
    function test_callbackMint_longestPrompt() public {
        bytes memory prompt = new bytes(INPUT_SIZE);
        for (uint256 i = 0; i < prompt.length; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast) (i < 256)
            prompt[i] = bytes1(uint8(i + 1));
        }
        uint256 id = requestMintAs(minter, prompt, mintGas());
        finalizeHonest(id, prompt);
        assertTrue(oracle.deliver(id, outputOf(prompt)));
        assertEq(aigc.ownerOf(uint256(keccak256(prompt))), minter);
        assertEq(aigc.promptOf(id), prompt);
    }

    /// The callback's limit was too small: the delivery records the failure, and a plain {mint} of the
    /// same request still gives the minter its token.
    function test_callbackMint_tooLittleGas_thenMintFallsBackToTheMinter() public {
        uint256 id = requestMintAs(minter, PROMPT, 20_000);
        finalizeHonest(id, PROMPT);
        vm.prank(deliverer);
        assertFalse(oracle.deliver(id, output));
        assertEq(aigc.balanceOf(minter), 0);
        vm.prank(challenger);
        aigc.mint(id, PROMPT, output);
        assertEq(aigc.ownerOf(tokenId), minter);
    }

    /// Another request of the same prompt was minted first: the callback fails (the delivery still
    /// happens and pays), and the minter's request cannot mint.
    function test_callbackMint_promptMintedMeanwhile() public {
        uint256 id = requestMintAs(minter, PROMPT, mintGas());
        uint256 direct = requestAs(requester, PROMPT);
        finalizeHonest(id, PROMPT);
        finalizeHonest(direct, PROMPT);
        aigc.mint(direct, PROMPT, output);
        vm.prank(deliverer);
        assertFalse(oracle.deliver(id, output));
        assertEq(aigc.ownerOf(tokenId), requester);
        assertEq(oracle.withdrawable(deliverer), rewardOf(mintGas()));
        vm.expectRevert(abi.encodeWithSelector(AigcToken.AlreadyMinted.selector, tokenId));
        aigc.mint(id, PROMPT, output);
    }

    function test_callbackMint_lieNeverMints() public {
        uint256 id = requestMintAs(minter, PROMPT, mintGas());
        bytes memory lie = falseOutputOf(id);
        submitFalse(submitter2, id, HALT);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinalized.selector, id));
        oracle.deliver(id, lie);
        assertNotMintable(id, PROMPT, lie);
        voidFalseClaim(id, 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotFinalized.selector, id));
        oracle.deliver(id, lie);
        assertNotMintable(id, PROMPT, lie);
        finalizeHonest(id, PROMPT);
        vm.expectRevert(
            abi.encodeWithSelector(
                InferenceOracle.WrongOutput.selector, id, keccak256(output), keccak256(lie)
            )
        );
        oracle.deliver(id, lie);
        assertTrue(oracle.deliver(id, output));
        (,, bytes memory d) = aigc.content(tokenId);
        assertEq(d, output);
        assertEq(aigc.ownerOf(tokenId), minter);
    }

    function test_onInferenceResult_forgedOrReplayedCallsNeverMint() public {
        uint256 id = requestMintAs(minter, PROMPT, mintGas());
        // Not the oracle.
        vm.prank(minter);
        vm.expectRevert(abi.encodeWithSelector(AigcToken.NotOracle.selector, minter));
        aigc.onInferenceResult(id, output);
        // The oracle's address, but the request is still pending (as if the oracle were wrong).
        vm.prank(address(oracle));
        vm.expectRevert(abi.encodeWithSelector(AigcToken.NotVerified.selector, id));
        aigc.onInferenceResult(id, output);
        // A request the token did not make.
        uint256 direct = requestAs(requester, PROMPT);
        finalizeHonest(direct, PROMPT);
        vm.prank(address(oracle));
        vm.expectRevert(abi.encodeWithSelector(AigcToken.NotMintRequest.selector, direct));
        aigc.onInferenceResult(direct, output);
        // Finalized, but other bytes.
        finalizeHonest(id, PROMPT);
        vm.prank(address(oracle));
        vm.expectRevert(abi.encodeWithSelector(AigcToken.NotVerified.selector, id));
        aigc.onInferenceResult(id, abi.encode(keccak256("forged")));
        // The real delivery mints; a replay does not mint again.
        assertTrue(oracle.deliver(id, output));
        vm.prank(address(oracle));
        vm.expectRevert(abi.encodeWithSelector(AigcToken.AlreadyMinted.selector, tokenId));
        aigc.onInferenceResult(id, output);
        assertEq(aigc.balanceOf(minter), 1);
    }

    function test_cancelMint() public {
        uint256 id = requestMintAs(minter, PROMPT, mintGas());
        vm.expectRevert(abi.encodeWithSelector(AigcToken.NotMintRequest.selector, 99));
        aigc.cancelMint(99);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(AigcToken.NotMinter.selector, challenger, minter));
        aigc.cancelMint(id);
        submitHonest(submitter, id, PROMPT);
        vm.prank(minter);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ClaimsPending.selector, 1));
        aigc.cancelMint(id);
        uint256 id2 = requestMintAs(minter, "another prompt", mintGas());
        vm.prank(minter);
        aigc.cancelMint(id2);
        assertEq(oracle.withdrawable(minter), FEE + rewardOf(mintGas()));
        assertEq(oracle.withdrawable(address(aigc)), 0);
        assertNotMintable(id2, "another prompt", outputOf("another prompt"));
        uint256 before = minter.balance;
        vm.prank(minter);
        oracle.withdraw();
        assertEq(minter.balance - before, FEE + rewardOf(mintGas()));
    }

    function test_refundedMintRequest() public {
        uint256 id = requestMintAs(minter, PROMPT, mintGas());
        vm.warp(block.timestamp + TIMEOUT);
        oracle.reclaim(id);
        assertEq(oracle.withdrawable(minter), FEE + rewardOf(mintGas()));
        assertNotMintable(id, PROMPT, output);
        // The prompt is still free for another request.
        uint256 id2 = requestMintAs(minter, PROMPT, mintGas());
        finalizeHonest(id2, PROMPT);
        oracle.deliver(id2, output);
        assertEq(aigc.ownerOf(tokenId), minter);
    }

    // ---------------------------------------------------------------------------------------------
    // addAigcData
    // ---------------------------------------------------------------------------------------------

    function test_addAigcData() public {
        uint256 a = requestAs(requester, PROMPT);
        uint256 b = requestAs(submitter2, PROMPT);
        finalizeHonest(a, PROMPT);
        // No token yet.
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, tokenId));
        aigc.addAigcData(tokenId, PROMPT, output, proofOf(a));
        aigc.mint(a, PROMPT, output);
        // Another prompt than the token's.
        uint256 other = uint256(keccak256("x"));
        vm.expectRevert(abi.encodeWithSelector(AigcToken.PromptMismatch.selector, tokenId, other));
        aigc.addAigcData(tokenId, "x", output, proofOf(a));
        // A proof that does not verify: b is pending, a malformed proof, other data.
        vm.expectRevert(abi.encodeWithSelector(AigcToken.NotVerified.selector, b));
        aigc.addAigcData(tokenId, PROMPT, output, proofOf(b));
        vm.expectRevert(abi.encodeWithSelector(AigcToken.NotVerified.selector, 0));
        aigc.addAigcData(tokenId, PROMPT, output, hex"01");
        vm.expectRevert(abi.encodeWithSelector(AigcToken.NotVerified.selector, a));
        aigc.addAigcData(tokenId, PROMPT, abi.encode(keccak256("no")), proofOf(a));
        // Once b finalizes, anyone attests it; the stored content stays a's.
        finalizeHonest(b, PROMPT);
        vm.expectEmit(address(aigc));
        emit AigcData(tokenId, PROMPT, output, proofOf(b));
        vm.prank(challenger);
        aigc.addAigcData(tokenId, PROMPT, output, proofOf(b));
        (uint256 rid,,) = aigc.content(tokenId);
        assertEq(rid, a);
        assertEq(aigc.ownerOf(tokenId), requester);
    }

    // ---------------------------------------------------------------------------------------------
    // metadata, transfers
    // ---------------------------------------------------------------------------------------------

    function test_tokenURI_andContent() public {
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, tokenId));
        aigc.tokenURI(tokenId);
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, tokenId));
        aigc.content(tokenId);
        uint256 id = requestAs(requester, PROMPT);
        finalizeHonest(id, PROMPT);
        aigc.mint(id, PROMPT, output);
        string memory json = string.concat(
            '{"name":"opML art #1","prompt":"0x612070726f6d7074","aigc_data":"',
            vm.toString(output),
            '","request_id":"1","model_id":"',
            vm.toString(modelId),
            '","proof_type":"fraud"}'
        );
        assertEq(
            aigc.tokenURI(tokenId), string.concat("data:application/json;base64,", Base64.encode(bytes(json)))
        );
    }

    function test_transfer_keepsTheContent() public {
        uint256 id = requestAs(requester, PROMPT);
        finalizeHonest(id, PROMPT);
        aigc.mint(id, PROMPT, output);
        vm.prank(requester);
        aigc.transferFrom(requester, minter, tokenId);
        assertEq(aigc.ownerOf(tokenId), minter);
        (uint256 rid,, bytes memory d) = aigc.content(tokenId);
        assertEq(rid, id);
        assertEq(d, output);
    }
}
