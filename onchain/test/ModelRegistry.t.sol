// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MarketFixture} from "./utils/MarketFixture.sol";
import {ModelState} from "../contracts/vm/ModelState.sol";
import {TraceModelState} from "./utils/TraceModelState.sol";
import {ModelRegistry} from "../contracts/ModelRegistry.sol";
import {RevenueShare} from "../contracts/RevenueShare.sol";

/// @notice Unit tests of every ModelRegistry function and revert path.
contract ModelRegistryTest is MarketFixture {
    bytes32 internal constant NOPE = "nope";
    bytes32 internal constant TYPO = "typo";

    event FeeChanged(bytes32 indexed modelId, uint96 oldFee, uint96 newFee);

    function setUp() public {
        setUpMarket();
    }

    function terms(uint64 maxSteps, uint96 fee, uint16 bps)
        internal
        pure
        returns (ModelRegistry.Terms memory)
    {
        return ModelRegistry.Terms({maxSteps: maxSteps, fee: fee, submitterShareBps: bps});
    }

    function tryRegister(
        ModelState.Commitment memory c,
        ModelRegistry.Terms memory t,
        ModelRegistry.ShareTerms memory s
    ) internal returns (address) {
        return tryRegister(c, t, s, "");
    }

    /// Registers as the publisher, expecting the revert `err` when it is not empty.
    function tryRegister(
        ModelState.Commitment memory c,
        ModelRegistry.Terms memory t,
        ModelRegistry.ShareTerms memory s,
        bytes memory err
    ) internal returns (address) {
        bytes32 id = modelState.modelId(c);
        vm.prank(publisher);
        if (err.length != 0) vm.expectRevert(err);
        return registry.register(id, c, new bytes32[](0), t, s);
    }

    function test_register_storesModelAndDeploysToken() public {
        ModelRegistry.Model memory m = registry.model(modelId);
        assertEq(m.publisher, publisher);
        assertEq(uint256(m.maxSteps), uint256(MAX_STEPS));
        assertEq(uint256(m.fee), uint256(FEE));
        assertEq(uint256(m.submitterShareBps), uint256(SHARE_BPS));
        assertEq(m.revenueShare, address(token));
        assertEq(m.commitment.codeRoot, commitment.codeRoot);
        assertEq(m.commitment.globalsRoot, commitment.globalsRoot);
        assertEq(uint256(m.commitment.inputSize), uint256(INPUT_SIZE));
        assertTrue(registry.exists(modelId));
        assertEq(token.market(), address(market));
        assertEq(token.balanceOf(holder), 1_000_000e18);
        assertEq(token.name(), "Model Revenue");
        assertEq(token.symbol(), "MREV");
        assertEq(token.claimableBps(), 8000);
        assertEq(token.snapshotInterval(), 1 days);
        assertEq(token.claimWindow(), 30 days);
    }

    function test_register_keepsInputSiblings() public {
        ModelState.Commitment memory c = makeCommitment("with siblings", HALT);
        bytes32 id = modelState.modelId(c);
        bytes32[] memory sib = new bytes32[](3);
        sib[0] = "a";
        sib[1] = "b";
        sib[2] = "c";
        vm.prank(publisher);
        registry.register(id, c, sib, terms(10, 1, 0), shareTerms());
        assertEq(registry.model(id).inputSiblings, sib);
    }

    function test_register_revertsForIdMismatch() public {
        ModelState.Commitment memory c = makeCommitment("x", HALT);
        bytes32 computed = modelState.modelId(c);
        vm.prank(publisher);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelIdMismatch.selector, TYPO, computed));
        registry.register(TYPO, c, new bytes32[](0), terms(10, 1, 0), shareTerms());
    }

    function test_register_revertsForDuplicate() public {
        vm.prank(publisher);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.ModelExists.selector, modelId));
        registry.register(modelId, commitment, new bytes32[](0), terms(10, 1, 0), shareTerms());
    }

    function test_register_revertsForZeroMaxSteps() public {
        tryRegister(
            makeCommitment("y", HALT),
            terms(0, 1, 0),
            shareTerms(),
            abi.encodeWithSelector(ModelRegistry.ZeroMaxSteps.selector)
        );
    }

    function testFuzz_register_shareRange(uint16 bps) public {
        ModelState.Commitment memory c = makeCommitment("share", HALT);
        if (bps > 10_000) {
            tryRegister(
                c,
                terms(10, 1, bps),
                shareTerms(),
                abi.encodeWithSelector(ModelRegistry.ShareOutOfRange.selector, bps)
            );
        } else {
            tryRegister(c, terms(10, 1, bps), shareTerms());
            assertEq(uint256(registry.model(modelState.modelId(c)).submitterShareBps), uint256(bps));
        }
    }

    function testFuzz_register_ioSizeLimits(uint64 inputSize, uint64 outputSize) public {
        ModelState.Commitment memory c = makeCommitment("io", HALT);
        c.inputSize = uint64(bound(inputSize, 1, 1 << 20));
        c.outputSize = 32;
        if (c.inputSize > 65_536) {
            tryRegister(
                c,
                terms(10, 1, 0),
                shareTerms(),
                abi.encodeWithSelector(ModelRegistry.RegionTooLarge.selector, c.inputSize, 65_536)
            );
            return;
        }
        c.outputSize = uint64(bound(outputSize, 65_537, type(uint64).max));
        tryRegister(
            c,
            terms(10, 1, 0),
            shareTerms(),
            abi.encodeWithSelector(ModelRegistry.RegionTooLarge.selector, c.outputSize, 65_536)
        );
    }

    function test_register_revertsForTooManySiblings() public {
        ModelState.Commitment memory c = makeCommitment("sib", HALT);
        bytes32 id = modelState.modelId(c);
        vm.prank(publisher);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.TooManySiblings.selector, 65));
        registry.register(id, c, new bytes32[](65), terms(10, 1, 0), shareTerms());
    }

    function test_register_revertsForShortSnapshotInterval() public {
        ModelRegistry.ShareTerms memory s = shareTerms();
        s.snapshotInterval = 1 hours - 1;
        tryRegister(
            makeCommitment("snap", HALT),
            terms(10, 1, 0),
            s,
            abi.encodeWithSelector(ModelRegistry.SnapshotIntervalTooShort.selector, s.snapshotInterval)
        );
    }

    function test_register_revertsForClaimWindowOutOfRange() public {
        uint32[3] memory bad = [uint32(0), uint32(7 days - 1), uint32(365 days + 1)];
        for (uint256 i = 0; i < bad.length; ++i) {
            ModelRegistry.ShareTerms memory s = shareTerms();
            s.claimWindow = bad[i];
            tryRegister(
                makeCommitment("window", HALT),
                terms(10, 1, 0),
                s,
                abi.encodeWithSelector(ModelRegistry.ClaimWindowOutOfRange.selector, bad[i], 7 days, 365 days)
            );
        }
    }

    function testFuzz_register_claimWindow(uint32 window) public {
        ModelRegistry.ShareTerms memory s = shareTerms();
        s.claimWindow = window;
        ModelState.Commitment memory c = makeCommitment("window", HALT);
        if (window < 7 days || window > 365 days) {
            tryRegister(
                c,
                terms(10, 1, 0),
                s,
                abi.encodeWithSelector(ModelRegistry.ClaimWindowOutOfRange.selector, window, 7 days, 365 days)
            );
        } else {
            RevenueShare t = RevenueShare(payable(tryRegister(c, terms(10, 1, 0), s)));
            assertEq(t.claimWindow(), window);
        }
    }

    /// The registry's bounds are the token's, so every window it accepts deploys.
    function test_claimWindowBounds_matchTheToken() public {
        assertEq(uint256(registry.MIN_CLAIM_WINDOW()), token.MIN_CLAIM_WINDOW());
        assertEq(uint256(registry.MAX_CLAIM_WINDOW()), token.MAX_CLAIM_WINDOW());
    }

    function test_register_bubblesCommitmentCheck() public {
        ModelState.Commitment memory c = makeCommitment("bad", HALT);
        c.outputSize = 64; // TraceModelState rejects
        tryRegister(
            c, terms(10, 1, 0), shareTerms(), abi.encodeWithSelector(TraceModelState.BadCommitment.selector)
        );
    }

    function test_register_bubblesTokenChecks() public {
        ModelRegistry.ShareTerms memory s = shareTerms();
        s.supply = 0;
        tryRegister(
            makeCommitment("t1", HALT),
            terms(10, 1, 0),
            s,
            abi.encodeWithSelector(RevenueShare.SupplyOutOfRange.selector, 0)
        );
        s = shareTerms();
        s.holder = address(0);
        tryRegister(
            makeCommitment("t2", HALT),
            terms(10, 1, 0),
            s,
            abi.encodeWithSelector(RevenueShare.ZeroAddress.selector)
        );
        s = shareTerms();
        s.claimableBps = 10_001;
        tryRegister(
            makeCommitment("t3", HALT),
            terms(10, 1, 0),
            s,
            abi.encodeWithSelector(RevenueShare.ClaimableBpsOutOfRange.selector, 10_001)
        );
        s = shareTerms();
        s.snapshotInterval = uint32(365 days + 1);
        tryRegister(
            makeCommitment("t4", HALT),
            terms(10, 1, 0),
            s,
            abi.encodeWithSelector(RevenueShare.SnapshotIntervalOutOfRange.selector, 365 days + 1)
        );
    }

    function testFuzz_register_snapshotInterval(uint32 interval) public {
        ModelRegistry.ShareTerms memory s = shareTerms();
        s.snapshotInterval = interval;
        ModelState.Commitment memory c = makeCommitment("interval", HALT);
        if (interval < 1 hours) {
            tryRegister(
                c,
                terms(10, 1, 0),
                s,
                abi.encodeWithSelector(ModelRegistry.SnapshotIntervalTooShort.selector, interval)
            );
        } else if (interval > 365 days) {
            tryRegister(
                c,
                terms(10, 1, 0),
                s,
                abi.encodeWithSelector(RevenueShare.SnapshotIntervalOutOfRange.selector, uint256(interval))
            );
        } else {
            RevenueShare t = RevenueShare(payable(tryRegister(c, terms(10, 1, 0), s)));
            assertEq(t.snapshotInterval(), interval);
        }
    }

    function testFuzz_register_supplyAndClaimableShare(uint256 supply, uint16 claimableBps) public {
        ModelRegistry.ShareTerms memory s = shareTerms();
        s.supply = bound(supply, 1, type(uint208).max);
        s.claimableBps = uint16(bound(claimableBps, 0, 10_000));
        RevenueShare t =
            RevenueShare(payable(tryRegister(makeCommitment("supply", HALT), terms(10, 1, 0), s)));
        assertEq(t.totalSupply(), s.supply);
        assertEq(t.balanceOf(holder), s.supply);
        assertEq(t.claimableBps(), s.claimableBps);
    }

    function testFuzz_register_anyTerms(uint64 maxSteps, uint96 fee, uint16 bps) public {
        maxSteps = uint64(bound(maxSteps, 1, type(uint64).max));
        bps = uint16(bound(bps, 0, 10_000));
        ModelState.Commitment memory c = makeCommitment("any", HALT);
        tryRegister(c, terms(maxSteps, fee, bps), shareTerms());
        ModelRegistry.Model memory m = registry.model(modelState.modelId(c));
        assertEq(uint256(m.maxSteps), uint256(maxSteps));
        assertEq(uint256(m.fee), uint256(fee));
    }

    function testFuzz_setFee_byPublisher(uint96 newFee) public {
        vm.expectEmit(address(registry));
        emit FeeChanged(modelId, FEE, newFee);
        vm.prank(publisher);
        registry.setFee(modelId, newFee);
        assertEq(uint256(registry.model(modelId).fee), uint256(newFee));
    }

    function test_setFee_revertsForOthers() public {
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.NotPublisher.selector, requester, publisher));
        registry.setFee(modelId, 1);
    }

    function test_setFee_revertsForUnknownModel() public {
        vm.prank(publisher);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, NOPE));
        registry.setFee(NOPE, 1);
    }

    function test_model_revertsForUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, NOPE));
        registry.model(NOPE);
        assertFalse(registry.exists(NOPE));
    }
}
