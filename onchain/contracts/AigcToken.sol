// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IERC7007} from "./interfaces/IERC7007.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";
import {AigcAdapter} from "./AigcAdapter.sol";
import {InferenceMarket} from "./InferenceMarket.sol";
import {InferenceOracle} from "./InferenceOracle.sol";
import {ModelState} from "./vm/ModelState.sol";

/// @title ERC-7007 token of one model's finalized opML results
/// @notice One token per prompt: `tokenId = uint256(keccak256(prompt))`, as in the ERC-7007 reference.
/// A token exists only for a request the market finalized: every mint checks {verify} (the
/// {AigcAdapter} of the model: a finalized request of this model whose input is the prompt and whose
/// output is the data), so a pending, voided-and-not-refinalized, cancelled or refunded request can
/// neither be minted nor verified. Two ways in:
///
/// - {mint}: anyone, for any finalized request of the model; the token goes to the request's requester
///   (for a request made through the oracle, to the one who paid: the oracle's refund recipient, which
///   is the consumer, or the account that called {requestMint} here). The caller cannot choose the
///   recipient, so front-running a mint only pays its gas for the requester. A request made through
///   another router than the oracle mints to that router.
/// - {requestMint}: pays the oracle for an inference with a callback; {onInferenceResult}, called by
///   the oracle only, mints to the caller of {requestMint} when the result is delivered. If the
///   callback fails (too small a gas limit, or the prompt was minted meanwhile through another
///   request), {mint} with the request id still works as long as the prompt is not minted.
///
/// The first finalized request of a prompt to be minted wins; a later one of the same prompt reverts
/// with {AlreadyMinted} (its requester still got its inference). One token per model input, too: the
/// market zero-pads an input to the model's input region, so prompts that differ only by trailing zero
/// bytes (`p`, `p ‖ 00`, ...) are one input with one result; once one of them has a token, the others
/// revert with {SameInputMinted}. Token ids stay `keccak256(prompt)`. Prompt, data and request id are
/// stored per token ({content}, and {tokenURI} as a base64 JSON data URI with hex fields); storage costs
/// about 700 gas per byte, so content far beyond a few kilobytes does not fit in a block.
contract AigcToken is ERC721, IERC7007, IInferenceConsumer {
    /// @notice The verifier of the model's finalized results.
    AigcAdapter public immutable adapter;
    /// @notice The adapter's market.
    InferenceMarket public immutable market;
    /// @notice The oracle {requestMint} goes through (on the same market).
    InferenceOracle public immutable oracle;
    /// @notice The model whose outputs this collection holds.
    bytes32 public immutable modelId;

    /// @notice Gas of a callback mint besides the output's storage and the prompt's reads: about 84k
    /// measured (verify, three fresh slots for owner, balance and request), plus a margin.
    uint64 public constant MINT_GAS_BASE = 110_000;
    /// @notice Gas per 32-byte word of the stored output (a fresh slot; one more for the length).
    uint64 public constant MINT_GAS_PER_OUTPUT_WORD = 22_200;
    /// @notice Gas per 32-byte word of the prompt read back from storage (a cold slot).
    uint64 public constant MINT_GAS_PER_PROMPT_WORD = 2_200;

    /// @notice Who called {requestMint} for oracle request `requestId` (zero: not a mint request).
    mapping(uint256 requestId => address) public minterOf;
    // Prompts are kept per request: {requestMint} stores its prompt once, and the callback does not
    // copy it again.
    mapping(uint256 requestId => bytes) private _prompts;
    mapping(uint256 tokenId => uint256) private _requestOf; // the finalized request a token was minted for
    // The content, per model input ({_inputKey}: the token id for a prompt that does not end with a
    // zero byte). Non-empty exactly for the inputs that have a token (an output region is at least 32
    // bytes), so it is also the one-token-per-input guard, at no extra storage.
    mapping(bytes32 inputKey => bytes) private _aigcData;

    /// @notice `minter` paid for request `requestId`, whose callback mints token `tokenId` to it.
    event MintRequested(uint256 indexed requestId, uint256 indexed tokenId, address indexed minter);

    /// @notice The adapter and the oracle run on different markets.
    error MarketMismatch(address adapterMarket, address oracleMarket);
    /// @notice The prompt's token exists already (one token per prompt).
    error AlreadyMinted(uint256 tokenId);
    /// @notice Another prompt of the same model input (the same bytes up to trailing zero bytes, which
    /// the market's zero padding cannot tell apart) has a token already; `tokenId` is this prompt's id.
    error SameInputMinted(uint256 tokenId);
    /// @notice {verify} is false: request `requestId` is not a finalized request of this model with this
    /// prompt and output (pending, voided and not finalized, cancelled, refunded, another model's, or
    /// other bytes).
    error NotVerified(uint256 requestId);
    /// @notice The prompt does not hash to the token id.
    error PromptMismatch(uint256 tokenId, uint256 promptTokenId);
    /// @notice Only the oracle calls {onInferenceResult}.
    error NotOracle(address caller);
    /// @notice Request `requestId` was not made by {requestMint}.
    error NotMintRequest(uint256 requestId);
    /// @notice Only the caller of {requestMint} may cancel it.
    error NotMinter(address caller, address minter);

    /// @param name_ ERC-721 name.
    /// @param symbol_ ERC-721 symbol.
    /// @param adapter_ The verifier (its model and market are the collection's).
    /// @param oracle_ The callback oracle on the same market.
    constructor(string memory name_, string memory symbol_, AigcAdapter adapter_, InferenceOracle oracle_)
        ERC721(name_, symbol_)
    {
        InferenceMarket m = adapter_.market();
        if (address(oracle_.market()) != address(m)) {
            revert MarketMismatch(address(m), address(oracle_.market()));
        }
        adapter = adapter_;
        market = m;
        oracle = oracle_;
        modelId = adapter_.modelId();
    }

    // ------------------------------------------------------------------------------------------------
    // ERC-7007
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IERC7007
    /// @dev `proof` is `abi.encode(uint256 requestId)`; delegates to the adapter, so it never reverts.
    function verify(bytes calldata prompt, bytes calldata aigcData, bytes calldata proof)
        public
        view
        returns (bool success)
    {
        return adapter.verify(prompt, aigcData, proof);
    }

    /// @inheritdoc IERC7007
    /// @dev Attests another finalized request (`proof`) of the token's prompt and emits {AigcData}; the
    /// stored content stays that of the minting request (the model is deterministic, so the data is the
    /// same). Anyone may call: the proof is checked.
    function addAigcData(
        uint256 tokenId,
        bytes calldata prompt,
        bytes calldata aigcData,
        bytes calldata proof
    ) external {
        _requireOwned(tokenId);
        uint256 promptTokenId = uint256(keccak256(prompt));
        if (promptTokenId != tokenId) revert PromptMismatch(tokenId, promptTokenId);
        if (!verify(prompt, aigcData, proof)) revert NotVerified(_requestIdOf(proof));
        emit AigcData(tokenId, prompt, aigcData, proof);
    }

    /// @notice ERC-165: ERC-7007, ERC-721 (and its metadata extension), ERC-165.
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, IERC165) returns (bool) {
        return interfaceId == type(IERC7007).interfaceId || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------------------------------------
    // Minting
    // ------------------------------------------------------------------------------------------------

    /// @notice Mints the token of `prompt` with `aigcData` for finalized request `requestId` of the
    /// model, to the request's requester (see the contract's notice). Anyone may call.
    /// @return tokenId `uint256(keccak256(prompt))`.
    function mint(uint256 requestId, bytes calldata prompt, bytes calldata aigcData)
        external
        returns (uint256 tokenId)
    {
        bytes memory proof = _verified(requestId, prompt, aigcData);
        tokenId = _store(requestId, prompt, aigcData, proof, _recipient(requestId));
        // A {requestMint} request has its prompt stored already (same bytes: verified).
        if (minterOf[requestId] == address(0)) _prompts[requestId] = prompt;
    }

    /// @notice Requests an inference of the model on `prompt` through the oracle, paying exactly
    /// `oracle.quote(modelId, gasLimit)`; when the oracle delivers the finalized result, the token is
    /// minted to the caller. Refunds (cancel, expiry) are credited to the caller at the oracle.
    /// {mintGasLimit} is a gas limit that covers the callback.
    /// @return requestId The market's (and oracle's) request id.
    function requestMint(bytes calldata prompt, uint64 gasLimit)
        external
        payable
        returns (uint256 requestId)
    {
        (uint256 tokenId,) = _mintable(prompt);
        requestId = oracle.requestWithRefundTo{value: msg.value}(modelId, prompt, gasLimit, msg.sender);
        minterOf[requestId] = msg.sender;
        _prompts[requestId] = prompt;
        emit MintRequested(requestId, tokenId, msg.sender);
    }

    /// @notice Cancels a {requestMint} request that has no pending claim; the oracle credits fee and
    /// reward to the minter. Only the minter.
    function cancelMint(uint256 requestId) external {
        address minter = minterOf[requestId];
        if (minter == address(0)) revert NotMintRequest(requestId);
        if (msg.sender != minter) revert NotMinter(msg.sender, minter);
        oracle.cancel(requestId);
    }

    /// @inheritdoc IInferenceConsumer
    /// @dev Only the oracle, which calls once per request and only after finalization; the result is
    /// verified again here, so neither a forged nor a replayed call can mint.
    function onInferenceResult(uint256 requestId, bytes calldata output) external {
        if (msg.sender != address(oracle)) revert NotOracle(msg.sender);
        address minter = minterOf[requestId];
        if (minter == address(0)) revert NotMintRequest(requestId);
        bytes memory prompt = _prompts[requestId];
        _store(requestId, prompt, output, _verified(requestId, prompt, output), minter);
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @notice The content of token `tokenId` (reverts for a token that does not exist).
    function content(uint256 tokenId)
        external
        view
        returns (uint256 requestId, bytes memory prompt, bytes memory aigcData)
    {
        _requireOwned(tokenId);
        requestId = _requestOf[tokenId];
        prompt = _prompts[requestId];
        aigcData = _aigcData[_inputKey(prompt, tokenId)];
    }

    /// @notice The prompt of a {requestMint} request, or of a request a token was minted for.
    function promptOf(uint256 requestId) external view returns (bytes memory) {
        return _prompts[requestId];
    }

    /// @notice A callback gas limit that covers a mint of this model's output with its longest prompt
    /// (the sizes of its input and output regions, from the registry). Above the oracle's
    /// `MAX_GAS_LIMIT` for regions of tens of kilobytes: such content is minted with {mint}.
    function mintGasLimit() external view returns (uint64) {
        ModelState.Commitment memory c = market.registry().model(modelId).commitment;
        return MINT_GAS_BASE + MINT_GAS_PER_OUTPUT_WORD * (1 + (c.outputSize + 31) / 32)
            + MINT_GAS_PER_PROMPT_WORD * (1 + (c.inputSize + 31) / 32);
    }

    /// @notice ERC-7007 metadata as a data URI: `{"name", "prompt", "aigc_data", "request_id",
    /// "model_id", "proof_type": "fraud"}`, prompt and data hex-encoded (they are arbitrary bytes).
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireOwned(tokenId);
        uint256 requestId = _requestOf[tokenId];
        bytes memory prompt = _prompts[requestId];
        bytes memory json = abi.encodePacked(
            '{"name":"',
            name(),
            " #",
            Strings.toString(requestId),
            '","prompt":"',
            _hex(prompt),
            '","aigc_data":"',
            _hex(_aigcData[_inputKey(prompt, tokenId)]),
            '","request_id":"',
            Strings.toString(requestId),
            '","model_id":"',
            Strings.toHexString(uint256(modelId), 32),
            '","proof_type":"fraud"}'
        );
        return string.concat("data:application/json;base64,", Base64.encode(json));
    }

    // ------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------

    /// Who a mint of a verified `requestId` goes to: the market's requester, or for the oracle's
    /// requests the one who paid, its refund recipient (the consumer, or whom the consumer named: the
    /// minter for {requestMint}).
    function _recipient(uint256 requestId) private view returns (address to) {
        to = market.getRequest(requestId).requester;
        if (to == address(oracle)) to = oracle.refundRecipient(requestId);
    }

    /// The proof of `requestId` for {verify}; reverts {NotVerified} unless it verifies.
    function _verified(uint256 requestId, bytes memory prompt, bytes memory aigcData)
        private
        view
        returns (bytes memory proof)
    {
        proof = abi.encode(requestId);
        if (!adapter.verify(prompt, aigcData, proof)) revert NotVerified(requestId);
    }

    /// Mints the verified content of `prompt` to `to`, once per prompt and per model input.
    function _store(
        uint256 requestId,
        bytes memory prompt,
        bytes memory aigcData,
        bytes memory proof,
        address to
    ) private returns (uint256 tokenId) {
        bytes32 key;
        (tokenId, key) = _mintable(prompt);
        _requestOf[tokenId] = requestId;
        // The guard's read above warmed this slot: the check costs no gas beyond the write.
        _aigcData[key] = aigcData;
        // Not _safeMint: the recipient is fixed by the request, and minting calls no foreign code.
        _mint(to, tokenId);
        emit AigcData(tokenId, prompt, aigcData, proof);
    }

    /// The token id and input key of `prompt`; reverts unless neither the prompt nor another prompt of
    /// its model input has a token.
    function _mintable(bytes memory prompt) private view returns (uint256 tokenId, bytes32 key) {
        tokenId = uint256(keccak256(prompt));
        if (_ownerOf(tokenId) != address(0)) revert AlreadyMinted(tokenId);
        key = _inputKey(prompt, tokenId);
        if (_aigcData[key].length != 0) revert SameInputMinted(tokenId);
    }

    /// The model input `prompt` (token id `tokenId`) stands for: the market zero-pads inputs to the
    /// input region, so prompts that differ only by trailing zero bytes are one input (one initial
    /// state, one result). Its key is `keccak256` of the prompt without its trailing zero bytes: the
    /// token id itself when the prompt does not end with a zero byte (one word and one byte read), one
    /// more hash otherwise. The scan from the end reads eight words per step, then single words, then
    /// bytes: about 15k gas for a 16 KiB prompt of zeros but its first byte (the largest input region
    /// whose {mintGasLimit} fits the oracle's limit), inside the margin of {mintGasLimit}.
    function _inputKey(bytes memory prompt, uint256 tokenId) private pure returns (bytes32 key) {
        uint256 len = prompt.length;
        uint256 n = len;
        // `mload(add(prompt, n))` is the word of prompt bytes [n - 32, n), whose low byte is
        // prompt[n - 1]; for n < 32 it starts inside the length word, still inside the array.
        assembly ("memory-safe") {
            for {} gt(n, 255) {} {
                let w := add(prompt, n)
                let any := or(or(mload(w), mload(sub(w, 32))), or(mload(sub(w, 64)), mload(sub(w, 96))))
                any := or(
                    any,
                    or(or(mload(sub(w, 128)), mload(sub(w, 160))), or(mload(sub(w, 192)), mload(sub(w, 224))))
                )
                if any { break }
                n := sub(n, 256)
            }
            for {} gt(n, 31) {} {
                if mload(add(prompt, n)) { break }
                n := sub(n, 32)
            }
            for {} gt(n, 0) {} {
                if and(mload(add(prompt, n)), 0xff) { break }
                n := sub(n, 1)
            }
        }
        if (n == len) return bytes32(tokenId);
        assembly ("memory-safe") {
            key := keccak256(add(prompt, 32), n)
        }
    }

    /// The request id in a well-formed proof (0 otherwise), for the error of {addAigcData}.
    function _requestIdOf(bytes calldata proof) private pure returns (uint256) {
        return proof.length == 32 ? abi.decode(proof, (uint256)) : 0;
    }

    function _hex(bytes memory data) private pure returns (bytes memory out) {
        bytes16 digits = "0123456789abcdef";
        out = new bytes(2 + 2 * data.length);
        out[0] = "0";
        out[1] = "x";
        for (uint256 i = 0; i < data.length; ++i) {
            out[2 + 2 * i] = digits[uint8(data[i]) >> 4];
            out[3 + 2 * i] = digits[uint8(data[i]) & 0x0f];
        }
    }
}
