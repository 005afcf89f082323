// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MarketFixture} from "./utils/MarketFixture.sol";
import {AigcAdapter} from "../contracts/AigcAdapter.sol";
import {RevenueShare} from "../contracts/RevenueShare.sol";

/// @notice The ERC-7007 verifier accepts exactly the finalized results of its model.
contract AigcAdapterTest is MarketFixture {
    bytes internal constant PROMPT = "a prompt";

    AigcAdapter internal adapter;
    bytes internal output;
    uint256 internal requestId;

    function setUp() public {
        setUpMarket();
        adapter = new AigcAdapter(market, modelId);
        requestId = requestAs(requester, PROMPT);
        (output,,,) = honestResult(PROMPT);
        submitHonest(submitter, requestId, PROMPT);
    }

    function test_constructor() public {
        assertEq(address(adapter.market()), address(market));
        assertEq(adapter.modelId(), modelId);
        assertEq(adapter.proofFor(7), abi.encode(uint256(7)));
    }

    function test_verify_falseWhilePending() public {
        assertFalse(adapter.verify(PROMPT, output, adapter.proofFor(requestId)));
    }

    function test_verify_trueOnceFinalized() public {
        vm.warp(block.timestamp + WINDOW);
        market.finalize(requestId);
        assertTrue(adapter.verify(PROMPT, output, adapter.proofFor(requestId)));
    }

    function test_verify_falseForOtherDataPromptOrRequest() public {
        vm.warp(block.timestamp + WINDOW);
        market.finalize(requestId);
        bytes memory p = adapter.proofFor(requestId);
        assertFalse(adapter.verify("another prompt", output, p));
        assertFalse(adapter.verify(PROMPT, abi.encode(keccak256("another output")), p));
        assertFalse(adapter.verify(PROMPT, output, adapter.proofFor(requestId + 1)));
        assertFalse(adapter.verify(PROMPT, output, new bytes(16)));
        assertFalse(adapter.verify(PROMPT, output, bytes.concat(p, hex"00")));
        assertFalse(adapter.verify(PROMPT, output, ""));
    }

    function test_verify_falseForAnotherModel() public {
        vm.warp(block.timestamp + WINDOW);
        market.finalize(requestId);
        AigcAdapter other = new AigcAdapter(market, keccak256("another model"));
        assertFalse(other.verify(PROMPT, output, adapter.proofFor(requestId)));
    }

    function test_verify_falseForVoidedAndRefunded() public {
        uint256 id2 = requestAs(requester, PROMPT);
        uint256 claimId = submitFalse(submitter, id2, HALT);
        uint256 g = challengeAs(challenger, id2, claimId);
        vm.warp(block.timestamp + CLOCK + 1);
        game.timeout(g);
        bytes32 evil = keccak256(abi.encode("evil", id2, HALT));
        assertFalse(adapter.verify(PROMPT, modelState.outputOf(evil), adapter.proofFor(id2)));
        vm.warp(block.timestamp + TIMEOUT);
        market.refund(id2);
        assertFalse(adapter.verify(PROMPT, modelState.outputOf(evil), adapter.proofFor(id2)));
        (bytes memory honest,,,) = honestResult(PROMPT);
        assertFalse(adapter.verify(PROMPT, honest, adapter.proofFor(id2)));
    }

    function testFuzz_verify_neverRevertsOnJunk(
        bytes calldata prompt,
        bytes calldata data,
        bytes calldata proof
    ) public {
        // The only request is not finalized, so nothing verifies, and junk never reverts.
        assertFalse(adapter.verify(prompt, data, proof));
    }
}
