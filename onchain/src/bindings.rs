//! Typed bindings over alloy for every deployable contract, generated at
//! compile time from the committed artifacts (`onchain/artifacts/*.json`, ABI
//! and creation code), so building needs no Node and no Solidity compiler.
//!
//! Each contract gets its own module because the ABIs name shared structs
//! (`ModelState.Commitment`, `IDisputeGame.Status`) that would otherwise clash.

#![allow(missing_docs, clippy::too_many_arguments)]

/// `InferenceMarket`: requests, claims, challenges, settlement, withdrawals.
pub mod market {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        InferenceMarket,
        "artifacts/InferenceMarket.json"
    );
}

/// `ModelRegistry`: model commitments and terms, one `RevenueShare` per model.
pub mod registry {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        ModelRegistry,
        "artifacts/ModelRegistry.json"
    );
}

/// `DisputeGame`: the k-ary dissection games with chess clocks.
pub mod game {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        DisputeGame,
        "artifacts/DisputeGame.json"
    );
}

/// `RevenueShare`: the ERC-7641 revenue-share token of one model.
pub mod revenue {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        RevenueShare,
        "artifacts/RevenueShare.json"
    );
}

/// `ModelStateAdapter`: the commitment scheme behind `IModelState`.
pub mod model_state {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        ModelStateAdapter,
        "artifacts/ModelStateAdapter.json"
    );
}

/// `OneStepVerifier`: the Solidity one-step verifier.
pub mod osp {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        OneStepVerifier,
        "artifacts/OneStepVerifier.json"
    );
}

pub use game::DisputeGame;
pub use market::InferenceMarket;
pub use model_state::ModelStateAdapter;
pub use osp::OneStepVerifier;
pub use registry::ModelRegistry;
pub use revenue::RevenueShare;

/// Decodes revert data of any protocol contract into a readable reason:
/// the custom error with its arguments, or `Error(string)` / `Panic(uint256)`.
pub fn revert_reason(data: &[u8]) -> String {
    use alloy::sol_types::{Panic, Revert, SolError, SolInterface};
    if data.is_empty() {
        return "reverted without data".into();
    }
    if let Ok(e) = market::InferenceMarket::InferenceMarketErrors::abi_decode(data) {
        return format!("InferenceMarket.{e:?}");
    }
    if let Ok(e) = game::DisputeGame::DisputeGameErrors::abi_decode(data) {
        return format!("DisputeGame.{e:?}");
    }
    if let Ok(e) = registry::ModelRegistry::ModelRegistryErrors::abi_decode(data) {
        return format!("ModelRegistry.{e:?}");
    }
    if let Ok(e) = revenue::RevenueShare::RevenueShareErrors::abi_decode(data) {
        return format!("RevenueShare.{e:?}");
    }
    if let Ok(e) = osp::OneStepVerifier::OneStepVerifierErrors::abi_decode(data) {
        return format!("OneStepVerifier.{e:?}");
    }
    if let Ok(r) = Revert::abi_decode(data) {
        return format!("Error({:?})", r.reason);
    }
    if let Ok(p) = Panic::abi_decode(data) {
        return format!("Panic({})", p.code);
    }
    format!(
        "unknown revert data 0x{}",
        data.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}
