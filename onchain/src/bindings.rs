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

/// `InferenceOracle`: requests with a callback when the result finalizes.
pub mod oracle {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        InferenceOracle,
        "artifacts/InferenceOracle.json"
    );
}

/// `AigcAdapter`: ERC-7007's `verify` over one model's finalized results.
pub mod adapter {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        AigcAdapter,
        "artifacts/AigcAdapter.json"
    );
}

/// `AigcToken`: the ERC-7007 token of one model's generated content.
pub mod aigc {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        AigcToken,
        "artifacts/AigcToken.json"
    );
}

pub use adapter::AigcAdapter;
pub use aigc::AigcToken;
pub use game::DisputeGame;
pub use market::InferenceMarket;
pub use model_state::ModelStateAdapter;
pub use oracle::InferenceOracle;
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

/// The calls to the dispute game at `game` that a transaction to `to` with
/// calldata `input` carries as its signer: the call itself, the calls of its
/// `multicall`, or the moves of the market's `challengeManyAndPlay` and
/// `topUpAndPlay` (which the game runs for the caller), with one level of
/// `multicall` inside those flattened. Empty for anything else.
pub fn game_calls(
    to: Option<alloy::primitives::Address>,
    input: &[u8],
    market: alloy::primitives::Address,
    game: alloy::primitives::Address,
) -> Vec<alloy::primitives::Bytes> {
    use alloy::sol_types::SolCall;
    use game::DisputeGame::multicallCall;
    use market::InferenceMarket::{challengeManyAndPlayCall, topUpAndPlayCall};
    let flatten = |calls: Vec<alloy::primitives::Bytes>| {
        calls
            .into_iter()
            .flat_map(|c| match multicallCall::abi_decode(&c) {
                Ok(m) => m.calls,
                Err(_) => vec![c],
            })
            .collect()
    };
    if to == Some(game) {
        return flatten(vec![input.to_vec().into()]);
    }
    if to == Some(market) {
        if let Ok(c) = challengeManyAndPlayCall::abi_decode(input) {
            return flatten(c.moves);
        }
        if let Ok(c) = topUpAndPlayCall::abi_decode(input) {
            return flatten(c.moves);
        }
    }
    vec![]
}

#[cfg(test)]
mod tests {
    use super::game::DisputeGame;
    use super::market::InferenceMarket;
    use super::*;
    use alloy::primitives::{Address, B256, Bytes, U256};
    use alloy::sol_types::SolCall;

    #[test]
    fn game_calls_finds_moves_wherever_a_transaction_carries_them() {
        let (market, game, other) = (
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            Address::repeat_byte(3),
        );
        let dissect: Bytes = DisputeGame::dissectCall {
            gameId: U256::from(7),
            points: vec![B256::ZERO; 3],
        }
        .abi_encode()
        .into();
        let timeout: Bytes = DisputeGame::timeoutCall {
            gameId: U256::from(8),
        }
        .abi_encode()
        .into();
        let batch: Bytes = DisputeGame::multicallCall {
            calls: vec![dissect.clone(), timeout.clone()],
        }
        .abi_encode()
        .into();
        assert_eq!(
            game_calls(Some(game), &dissect, market, game),
            vec![dissect.clone()]
        );
        assert_eq!(
            game_calls(Some(game), &batch, market, game),
            [dissect.clone(), timeout.clone()]
        );
        let challenge = InferenceMarket::challengeManyAndPlayCall {
            requestIds: vec![U256::from(1)],
            claimIds: vec![U256::from(2)],
            moves: vec![batch.clone(), dissect.clone()],
        }
        .abi_encode();
        assert_eq!(
            game_calls(Some(market), &challenge, market, game),
            [dissect.clone(), timeout.clone(), dissect.clone()]
        );
        let top_up = InferenceMarket::topUpAndPlayCall {
            claimIds: vec![U256::from(2)],
            amounts: vec![U256::from(5)],
            moves: vec![timeout.clone()],
        }
        .abi_encode();
        assert_eq!(
            game_calls(Some(market), &top_up, market, game),
            vec![timeout.clone()]
        );
        // Another contract, or a market call that carries no moves.
        assert!(game_calls(Some(other), &dissect, market, game).is_empty());
        let plain = InferenceMarket::topUpCall {
            claimId: U256::from(2),
        }
        .abi_encode();
        assert!(game_calls(Some(market), &plain, market, game).is_empty());
        assert!(game_calls(None, &dissect, market, game).is_empty());
    }
}
