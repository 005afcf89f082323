//! Verified AI-generated content on chain (ERC-7007): a model's `AigcToken`
//! mints the prompt and output of a finalized request, directly (`mint`) or
//! by the oracle's callback (`requestMint`, then anyone `deliver`s).

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::{Context, Result, bail};
use opml_agents::client::{Chain, NoJournal, contract_error};
use opml_onchain::bindings::{AigcToken, InferenceMarket, InferenceOracle};
use opml_onchain::protocol::{AigcContracts, Deployment};

/// A request's input and, once it finalized, the settled output.
pub struct Settled {
    /// The input bytes (the ERC-7007 prompt).
    pub input: Vec<u8>,
    /// The settled output bytes (the ERC-7007 content), when finalized.
    pub output: Option<Vec<u8>>,
    /// The market's status name.
    pub status: &'static str,
}

const STATUS: [&str; 5] = ["none", "open", "finalized", "refunded", "cancelled"];

async fn logs(
    chain: &Chain,
    d: &Deployment,
    filter: Filter,
) -> Result<Vec<alloy::rpc::types::Log>> {
    let filter = filter
        .address(d.market)
        .from_block(d.block)
        .to_block(alloy::eips::BlockNumberOrTag::Latest);
    let p = chain.provider.clone();
    Ok(chain
        .rpc("eth_getLogs", || {
            use alloy::providers::Provider;
            let (p, f) = (p.clone(), filter.clone());
            async move { p.get_logs(&f).await }
        })
        .await?)
}

/// The input and settled output of request `id`, from the market's events.
pub async fn request_result(chain: &Chain, d: &Deployment, id: u64) -> Result<Settled> {
    let market = InferenceMarket::new(d.market, chain.provider.clone());
    let r = chain
        .view("getRequest", &market.getRequest(U256::from(id)))
        .await?;
    if r.status == 0 {
        bail!("request {id} does not exist");
    }
    let topic = B256::from(U256::from(id));
    let requested = logs(
        chain,
        d,
        Filter::new()
            .event_signature(InferenceMarket::Requested::SIGNATURE_HASH)
            .topic1(topic),
    )
    .await?;
    let input = requested
        .iter()
        .find_map(|l| InferenceMarket::Requested::decode_log(&l.inner).ok())
        .with_context(|| format!("no Requested event of request {id}"))?
        .data
        .input
        .to_vec();
    let status = STATUS.get(r.status as usize).copied().unwrap_or("unknown");
    let output = if status == "finalized" {
        let submitted = logs(
            chain,
            d,
            Filter::new()
                .event_signature(InferenceMarket::Submitted::SIGNATURE_HASH)
                .topic1(topic)
                .topic2(B256::from(r.settledClaim)),
        )
        .await?;
        let e = submitted
            .iter()
            .find_map(|l| InferenceMarket::Submitted::decode_log(&l.inner).ok())
            .with_context(|| format!("no Submitted event of claim {}", r.settledClaim))?;
        Some(e.data.output.to_vec())
    } else {
        None
    };
    Ok(Settled {
        input,
        output,
        status,
    })
}

/// The ERC-7007 contracts of `model_id` in the deployment, or a clear error.
pub fn contracts(d: &Deployment, model_id: B256) -> Result<AigcContracts> {
    d.aigc.get(&model_id).copied().with_context(|| {
        format!("model {model_id} has no ERC-7007 token in this deployment; run `opml aigc deploy ARTIFACT` first")
    })
}

/// Mints the finalized request `id` on the model's token; returns the token id.
pub async fn mint(chain: &Chain, d: &Deployment, token: Address, id: u64) -> Result<U256> {
    let r = request_result(chain, d, id).await?;
    let Some(output) = r.output else {
        bail!(
            "request {id} is {}: only a finalized result can be minted",
            r.status
        );
    };
    let call = AigcToken::mintCall {
        requestId: U256::from(id),
        prompt: Bytes::from(r.input.clone()),
        aigcData: Bytes::from(output),
    };
    chain
        .send(
            &format!("mint request {id}"),
            Some(token),
            call.abi_encode().into(),
            U256::ZERO,
            &NoJournal,
        )
        .await?;
    Ok(U256::from_be_bytes(
        alloy::primitives::keccak256(&r.input).0,
    ))
}

/// Asks for request `input` through the oracle, minted to the sender by
/// the callback once delivered; returns the request id.
pub async fn request_mint(
    chain: &Chain,
    d: &Deployment,
    token: Address,
    model_id: B256,
    input: Vec<u8>,
) -> Result<u64> {
    let t = AigcToken::new(token, chain.provider.clone());
    let gas_limit = chain.view("mintGasLimit", &t.mintGasLimit()).await?;
    let oracle = InferenceOracle::new(d.oracle, chain.provider.clone());
    let price = chain
        .view("quote", &oracle.quote(model_id, gas_limit))
        .await?;
    let call = AigcToken::requestMintCall {
        prompt: Bytes::from(input),
        gasLimit: gas_limit,
    };
    let sent = chain
        .send(
            "request a mint",
            Some(token),
            call.abi_encode().into(),
            price,
            &NoJournal,
        )
        .await?;
    sent.receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| AigcToken::MintRequested::decode_log(&l.inner).ok())
        .map(|e| e.data.requestId.to::<u64>())
        .context("the transaction emitted no MintRequested event")
}

/// Delivers the finalized output of oracle request `id` (the callback runs;
/// the sender earns its reward). Returns whether the callback succeeded.
pub async fn deliver(chain: &Chain, d: &Deployment, id: u64) -> Result<bool> {
    let r = request_result(chain, d, id).await?;
    let Some(output) = r.output else {
        bail!("request {id} is {}: nothing to deliver yet", r.status);
    };
    let call = InferenceOracle::deliverCall {
        requestId: U256::from(id),
        output: Bytes::from(output),
    };
    let sent = chain
        .send(
            &format!("deliver request {id}"),
            Some(d.oracle),
            call.abi_encode().into(),
            U256::ZERO,
            &NoJournal,
        )
        .await?;
    sent.receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| InferenceOracle::Delivered::decode_log(&l.inner).ok())
        .map(|e| e.data.callbackOk)
        .context("the transaction emitted no Delivered event")
}

/// ERC-7007 `verify` of request `id`'s input and `output` on the token.
pub async fn verify(
    chain: &Chain,
    token: Address,
    id: u64,
    input: &[u8],
    output: &[u8],
) -> Result<bool> {
    let t = AigcToken::new(token, chain.provider.clone());
    let proof = alloy::sol_types::SolValue::abi_encode(&U256::from(id));
    t.verify(
        Bytes::from(input.to_vec()),
        Bytes::from(output.to_vec()),
        Bytes::from(proof),
    )
    .call()
    .await
    .map_err(contract_error("AigcToken.verify"))
    .map_err(anyhow::Error::from)
}
