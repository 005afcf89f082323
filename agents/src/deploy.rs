//! Sending the protocol to a chain: deploying its contracts and registering
//! models, through the journaled client. What is sent (creation code,
//! constructor arguments, the registry call) is `opml_onchain::protocol`.

use crate::client::{Chain, ChainError, NoJournal, TxJournal, contract_error};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::SolCall;
use opml_onchain::bindings::{
    DisputeGame, InferenceMarket, ModelRegistry, ModelStateAdapter, OneStepVerifier,
};
use opml_onchain::protocol::{
    AigcContracts, DEPLOYMENT_VERSION, Deployment, MarketParams, ModelTerms, aigc_initcode,
    aigc_token_initcode, market_initcode, oracle_initcode, register_call,
};
use opml_vm::artifact::Artifact;

async fn create(
    chain: &Chain,
    what: &str,
    code: Vec<u8>,
    journal: &impl TxJournal,
) -> Result<(Address, u64), ChainError> {
    let sent = chain
        .send(what, None, Bytes::from(code), U256::ZERO, journal)
        .await?;
    let at = sent
        .receipt
        .contract_address
        .ok_or_else(|| ChainError::Refused {
            what: what.into(),
            detail: "the receipt has no contract address".into(),
        })?;
    Ok((at, sent.receipt.block_number.unwrap_or_default()))
}

/// Deploys the verifier, the model-state adapter and the market (which deploys
/// its registry and game contract); returns the deployment to save.
pub async fn deploy(chain: &Chain, params: &MarketParams) -> Result<Deployment, ChainError> {
    let (verifier, block) = create(
        chain,
        "deploy OneStepVerifier",
        OneStepVerifier::BYTECODE.to_vec(),
        &NoJournal,
    )
    .await?;
    let (model_state, _) = create(
        chain,
        "deploy ModelStateAdapter",
        ModelStateAdapter::BYTECODE.to_vec(),
        &NoJournal,
    )
    .await?;
    let code =
        market_initcode(params, verifier, model_state).map_err(|detail| ChainError::Refused {
            what: "deploy InferenceMarket".into(),
            detail,
        })?;
    let (market, _) = create(chain, "deploy InferenceMarket", code, &NoJournal).await?;
    let m = InferenceMarket::new(market, chain.provider.clone());
    let registry = chain.view("registry()", &m.registry()).await?;
    let dispute_game = chain.view("disputeGame()", &m.disputeGame()).await?;
    let (oracle, _) = create(
        chain,
        "deploy InferenceOracle",
        oracle_initcode(market),
        &NoJournal,
    )
    .await?;
    Ok(Deployment {
        version: DEPLOYMENT_VERSION,
        chain_id: chain.chain_id,
        block,
        deployer: chain.address(),
        market,
        registry,
        dispute_game,
        verifier,
        model_state,
        params: params.clone(),
        oracle,
        aigc: Default::default(),
    })
}

/// Deploys the ERC-7007 contracts of a registered model (its `AigcAdapter`
/// and an `AigcToken` named `name`/`symbol` over the deployment's oracle)
/// and records them in `d`.
pub async fn deploy_aigc(
    chain: &Chain,
    d: &mut Deployment,
    model_id: B256,
    name: &str,
    symbol: &str,
) -> Result<AigcContracts, ChainError> {
    if d.oracle == Address::ZERO {
        return Err(ChainError::Refused {
            what: "deploy AigcToken".into(),
            detail:
                "the deployment has no InferenceOracle (it predates it); run `opml deploy` again"
                    .into(),
        });
    }
    let (adapter, _) = create(
        chain,
        "deploy AigcAdapter",
        aigc_initcode(d.market, model_id),
        &NoJournal,
    )
    .await?;
    let (token, _) = create(
        chain,
        "deploy AigcToken",
        aigc_token_initcode(name, symbol, adapter, d.oracle),
        &NoJournal,
    )
    .await?;
    let c = AigcContracts { adapter, token };
    d.aigc.insert(model_id, c);
    Ok(c)
}

/// Registers an artifact; returns its model id and revenue-share token.
pub async fn register(
    chain: &Chain,
    d: &Deployment,
    art: &Artifact,
    terms: &ModelTerms,
) -> Result<(B256, Address), ChainError> {
    let holder = if terms.holder == Address::ZERO {
        chain.address()
    } else {
        terms.holder
    };
    let (id, call) = register_call(art, terms, holder).map_err(|detail| ChainError::Refused {
        what: "register".into(),
        detail,
    })?;
    chain
        .send(
            &format!("register model {id}"),
            Some(d.registry),
            call.abi_encode().into(),
            U256::ZERO,
            &NoJournal,
        )
        .await?;
    let reg = ModelRegistry::new(d.registry, chain.provider.clone());
    let model = reg
        .model(id)
        .call()
        .await
        .map_err(contract_error("model()"))?;
    Ok((id, model.revenueShare))
}

/// The dispute-game contract of a deployment, bound to the chain's provider.
pub fn games(
    chain: &Chain,
    d: &Deployment,
) -> DisputeGame::DisputeGameInstance<alloy::providers::DynProvider> {
    DisputeGame::new(d.dispute_game, chain.provider.clone())
}

/// The market contract of a deployment, bound to the chain's provider.
pub fn market(
    chain: &Chain,
    d: &Deployment,
) -> InferenceMarket::InferenceMarketInstance<alloy::providers::DynProvider> {
    InferenceMarket::new(d.market, chain.provider.clone())
}
