//! The protocol as one deployment: what to deploy and with which arguments,
//! the deployment file every other command reads, what registering a compiled
//! model sends, and amounts in ether units. Sending it is the agents' runtime
//! (`opml_agents::deploy`).

use crate::bindings::{InferenceMarket, ModelRegistry, registry};
use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolConstructor;
use opml_vm::artifact::Artifact;
use opml_vm::machine::model::{model_id, unhex};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of the deployment file format.
pub const DEPLOYMENT_VERSION: u32 = 2;

/// `InferenceMarket.Funding.Claim`: the claim's free stake backs the game.
pub const FUNDING_CLAIM: u8 = 0;
/// `InferenceMarket.Funding.Challenger`: the challenger's own stake backs the
/// game until the defender matches it before its first move.
pub const FUNDING_CHALLENGER: u8 = 1;
/// `InferenceMarket.Funding.Matched`: was challenger-backed, now the claim's.
pub const FUNDING_MATCHED: u8 = 2;

/// Parses an amount: wei as an integer, or a decimal with a unit
/// (`"0.5 ether"`, `"2 gwei"`, `"100 wei"`).
pub fn parse_amount(s: &str) -> Result<U256, String> {
    let s = s.trim();
    let (num, unit) = match s.split_once(char::is_whitespace) {
        Some((n, u)) => (n.trim(), u.trim()),
        None => (s, "wei"),
    };
    let decimals = match unit {
        "wei" => 0,
        "gwei" => 9,
        "ether" | "eth" => 18,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}` (use wei, gwei or ether)"
            ));
        }
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if frac.len() > decimals || int.is_empty() && frac.is_empty() {
        return Err(format!(
            "`{s}` is not an amount with at most {decimals} decimals"
        ));
    }
    let digits = format!("{int}{frac:0<decimals$}");
    U256::from_str_radix(&digits, 10).map_err(|_| format!("`{s}` is not an amount"))
}

/// Formats wei as ether with up to 6 decimals, for people.
pub fn format_ether(wei: U256) -> String {
    let unit = U256::from(10u64).pow(U256::from(18));
    let int = wei / unit;
    let micro = (wei % unit) / U256::from(1_000_000_000_000u64);
    let frac = format!("{:06}", micro.to::<u64>());
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{int} ETH")
    } else {
        format!("{int}.{frac} ETH")
    }
}

/// Amounts serialize as strings of wei, so JSON readers keep full precision.
mod wei {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_amount(&s).map_err(serde::de::Error::custom)
    }
}

/// The market's parameters (`InferenceMarket.Config` without the two contract addresses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketParams {
    /// k of the dissection, in [8, 32].
    pub arity: u64,
    /// Seconds on each party's clock per game.
    pub clock_budget: u64,
    /// Seconds after a submission during which challenges open.
    pub challenge_window: u64,
    /// Seconds after a request during which claims are accepted.
    pub request_timeout: u64,
    /// Read from files of deployments before version 2 (whose claims could
    /// refuse challenges for this long) and ignored; never written.
    #[serde(default, rename = "top_up_period", skip_serializing)]
    pub legacy_top_up_period: Option<u64>,
    /// Bond of a claim (wei, or "1 ether").
    #[serde(with = "wei")]
    pub submitter_bond: U256,
    /// Bond of a challenge.
    #[serde(with = "wei")]
    pub challenger_bond: U256,
    /// Allowance per game transaction.
    #[serde(with = "wei")]
    pub move_allowance: U256,
    /// Burnt share of a voided claim's bond (basis points, >= 5,000).
    pub burn_bps: u16,
    /// Burnt share of a losing challenger's bond beyond the allowance.
    pub challenger_burn_bps: u16,
}

impl Default for MarketParams {
    /// Parameters for a local chain: short clocks and windows, small amounts.
    fn default() -> Self {
        let ether = |s: &str| parse_amount(s).unwrap();
        MarketParams {
            arity: 8,
            clock_budget: 600,
            challenge_window: 60,
            request_timeout: 3600,
            legacy_top_up_period: None,
            submitter_bond: ether("1 ether"),
            challenger_bond: ether("0.5 ether"),
            move_allowance: ether("0.001 ether"),
            burn_bps: 5000,
            challenger_burn_bps: 2000,
        }
    }
}

/// Where the protocol lives on one chain: written by `opml deploy`, read by everything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Format version ([`DEPLOYMENT_VERSION`]).
    pub version: u32,
    /// Chain id.
    pub chain_id: u64,
    /// First block to scan for the protocol's events (the verifier's deployment).
    pub block: u64,
    /// Who deployed.
    pub deployer: Address,
    /// `InferenceMarket`.
    pub market: Address,
    /// `ModelRegistry` (deployed by the market).
    pub registry: Address,
    /// `DisputeGame` (deployed by the market).
    pub dispute_game: Address,
    /// `OneStepVerifier`.
    pub verifier: Address,
    /// `ModelStateAdapter`.
    pub model_state: Address,
    /// The market's parameters.
    pub params: MarketParams,
    /// `InferenceOracle`, the market's callback router (zero in files
    /// written before it existed).
    #[serde(default)]
    pub oracle: Address,
    /// The ERC-7007 contracts of each model (`opml aigc deploy`), by model id.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub aigc: std::collections::BTreeMap<B256, AigcContracts>,
}

/// The ERC-7007 contracts of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AigcContracts {
    /// `AigcAdapter`: `verify` over the model's finalized results.
    pub adapter: Address,
    /// `AigcToken`: the ERC-721 of its content.
    pub token: Address,
}

/// Wei per unit of callback gas limit an `InferenceOracle` request pays
/// (and its deliverer earns): 10 gwei, so the reward covers the callback and
/// the delivery's own gas while the chain's price stays below a few gwei
/// (submitters deliver only when it does).
pub const CALLBACK_GAS_PRICE: u64 = 10_000_000_000;

/// The creation code of the market's `InferenceOracle`.
pub fn oracle_initcode(market: Address) -> Vec<u8> {
    use crate::bindings::InferenceOracle;
    let mut code = InferenceOracle::BYTECODE.to_vec();
    code.extend(
        InferenceOracle::constructorCall {
            market_: market,
            callbackGasPrice_: U256::from(CALLBACK_GAS_PRICE),
        }
        .abi_encode(),
    );
    code
}

/// The creation codes of a model's `AigcAdapter` and (given the adapter's
/// address) its `AigcToken`.
pub fn aigc_initcode(market: Address, model_id: B256) -> Vec<u8> {
    use crate::bindings::AigcAdapter;
    let mut code = AigcAdapter::BYTECODE.to_vec();
    code.extend(
        AigcAdapter::constructorCall {
            market_: market,
            modelId_: model_id,
        }
        .abi_encode(),
    );
    code
}

/// The creation code of a model's `AigcToken` over `adapter` and `oracle`.
pub fn aigc_token_initcode(name: &str, symbol: &str, adapter: Address, oracle: Address) -> Vec<u8> {
    use crate::bindings::AigcToken;
    let mut code = AigcToken::BYTECODE.to_vec();
    code.extend(
        AigcToken::constructorCall {
            name_: name.into(),
            symbol_: symbol.into(),
            adapter_: adapter,
            oracle_: oracle,
        }
        .abi_encode(),
    );
    code
}

/// Errors of deployment files.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// The file cannot be read or written.
    #[error("cannot access the deployment file `{path}`: {detail}; run `opml deploy` to create it")]
    Io {
        /// File.
        path: String,
        /// Why.
        detail: String,
    },
    /// The file is not a deployment.
    #[error("`{path}` is not a deployment file ({detail}); it is written by `opml deploy`")]
    Malformed {
        /// File.
        path: String,
        /// Parser message.
        detail: String,
    },
    /// The deployment is for another chain.
    #[error(
        "the deployment `{path}` is for chain {expected} but the RPC endpoint is chain {actual}; point --rpc at the right node"
    )]
    WrongChain {
        /// File.
        path: String,
        /// Chain of the file.
        expected: u64,
        /// Chain of the endpoint.
        actual: u64,
    },
}

impl Deployment {
    /// Reads a deployment file.
    pub fn load(path: &Path) -> Result<Deployment, DeploymentError> {
        let text = std::fs::read_to_string(path).map_err(|e| DeploymentError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let d: Deployment =
            serde_json::from_str(&text).map_err(|e| DeploymentError::Malformed {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        if d.version != DEPLOYMENT_VERSION {
            return Err(DeploymentError::Malformed {
                path: path.display().to_string(),
                detail: format!(
                    "version {} (this build reads {DEPLOYMENT_VERSION})",
                    d.version
                ),
            });
        }
        Ok(d)
    }

    /// Writes the file (pretty JSON), creating its directory.
    pub fn save(&self, path: &Path) -> Result<(), DeploymentError> {
        let io = |e: std::io::Error| DeploymentError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_string_pretty(self).expect("serializable") + "\n";
        std::fs::write(path, text).map_err(io)
    }

    /// Checks that `chain` is the chain of this deployment.
    pub fn check_chain(&self, chain_id: u64, path: &Path) -> Result<(), DeploymentError> {
        if chain_id != self.chain_id {
            return Err(DeploymentError::WrongChain {
                path: path.display().to_string(),
                expected: self.chain_id,
                actual: chain_id,
            });
        }
        Ok(())
    }

    /// The contracts whose events the agents follow.
    pub fn watched(&self) -> Vec<Address> {
        vec![self.market, self.dispute_game]
    }
}

/// An amount as the contracts' `uint96`, if it fits.
pub fn to_u96(v: U256) -> Option<alloy::primitives::Uint<96, 2>> {
    (v.bit_len() <= 96).then(|| alloy::primitives::Uint::<96, 2>::from(v.to::<u128>()))
}

/// A model's terms and revenue-share token, as the publisher chooses them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelTerms {
    /// Fee of one request.
    #[serde(with = "wei")]
    pub fee: U256,
    /// Submitter's share of the fee (basis points).
    pub submitter_share_bps: u16,
    /// Step limit of a claim (0: the model's own step count).
    pub max_steps: u64,
    /// Token name.
    pub token_name: String,
    /// Token symbol.
    pub token_symbol: String,
    /// Holder of the whole supply (zero: the publisher).
    pub holder: Address,
    /// Token supply (whole tokens, 18 decimals).
    pub supply: u64,
    /// Share of each deposit that snapshots distribute (basis points).
    pub claimable_bps: u16,
    /// Seconds between snapshots (>= 3600).
    pub snapshot_interval: u32,
    /// Seconds each snapshot stays claimable (7 to 365 days).
    pub claim_window: u32,
}

impl Default for ModelTerms {
    fn default() -> Self {
        ModelTerms {
            fee: parse_amount("0.1 ether").unwrap(),
            submitter_share_bps: 3000,
            max_steps: 0,
            token_name: "opML model revenue share".into(),
            token_symbol: "OPMLRS".into(),
            holder: Address::ZERO,
            supply: 1_000_000,
            claimable_bps: 10_000,
            snapshot_interval: 3600,
            claim_window: 30 * 86_400,
        }
    }
}

/// The registry's commitment struct and input siblings for an artifact.
pub fn commitment_of(
    art: &Artifact,
) -> Result<(B256, registry::ModelState::Commitment, Vec<B256>), String> {
    let m = &art.manifest;
    let c = m.commitment.as_ref().ok_or_else(|| {
        "the artifact has no model commitment; compile it again with this version of `opml compile`"
            .to_string()
    })?;
    let h = |s: &str| {
        unhex(s)
            .map(B256::from)
            .ok_or_else(|| format!("the artifact's commitment holds a malformed hash `{s}`"))
    };
    let id = h(&model_id(m))?;
    let commitment = registry::ModelState::Commitment {
        codeRoot: h(&c.code_root)?,
        memoryRoot: h(&c.memory_root)?,
        memorySize: c.memory_size,
        globalsRoot: h(&c.globals_root)?,
        entryPc: c.entry_pc,
        entryLocals: c.entry_locals,
        inputOffset: m.inputs.offset,
        inputSize: m.inputs.size,
        outputOffset: m.outputs.offset,
        outputSize: m.outputs.size,
    };
    let siblings = c
        .input_siblings
        .iter()
        .map(|s| h(s))
        .collect::<Result<_, _>>()?;
    Ok((id, commitment, siblings))
}

/// The market's creation code with its constructor arguments, for a verifier
/// and a model-state adapter already deployed.
pub fn market_initcode(
    params: &MarketParams,
    verifier: Address,
    model_state: Address,
) -> Result<Vec<u8>, String> {
    let amount =
        |v: U256, field: &str| to_u96(v).ok_or_else(|| format!("{field} does not fit in 96 bits"));
    let cfg = InferenceMarket::Config {
        modelState: model_state,
        verifier,
        arity: U256::from(params.arity),
        clockBudget: params.clock_budget,
        challengeWindow: params.challenge_window,
        requestTimeout: params.request_timeout,
        submitterBond: amount(params.submitter_bond, "submitter_bond")?,
        challengerBond: amount(params.challenger_bond, "challenger_bond")?,
        moveAllowance: amount(params.move_allowance, "move_allowance")?,
        burnBps: params.burn_bps,
        challengerBurnBps: params.challenger_burn_bps,
    };
    let mut code = InferenceMarket::BYTECODE.to_vec();
    code.extend(InferenceMarket::constructorCall { cfg }.abi_encode());
    Ok(code)
}

/// The registry call that registers `art` under `terms`, with `holder`
/// receiving the revenue-share supply; returns the model id with it.
pub fn register_call(
    art: &Artifact,
    terms: &ModelTerms,
    holder: Address,
) -> Result<(B256, ModelRegistry::registerCall), String> {
    let (id, commitment, siblings) = commitment_of(art)?;
    let call = ModelRegistry::registerCall {
        modelId: id,
        commitment,
        inputSiblings: siblings,
        terms: registry::ModelRegistry::Terms {
            maxSteps: if terms.max_steps == 0 {
                art.manifest.steps
            } else {
                terms.max_steps
            },
            fee: to_u96(terms.fee).ok_or("the fee does not fit in 96 bits")?,
            submitterShareBps: terms.submitter_share_bps,
        },
        share: registry::ModelRegistry::ShareTerms {
            name: terms.token_name.clone(),
            symbol: terms.token_symbol.clone(),
            holder,
            supply: U256::from(terms.supply) * U256::from(10u64).pow(U256::from(18)),
            claimableBps: terms.claimable_bps,
            snapshotInterval: terms.snapshot_interval,
            claimWindow: terms.claim_window,
        },
    };
    Ok((id, call))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_with_units_and_format_back() {
        assert_eq!(parse_amount("12").unwrap(), U256::from(12));
        assert_eq!(
            parse_amount("2 gwei").unwrap(),
            U256::from(2_000_000_000u64)
        );
        assert_eq!(
            parse_amount("0.5 ether").unwrap(),
            U256::from(500_000_000_000_000_000u64)
        );
        assert!(parse_amount("1.5 wei").is_err());
        assert!(parse_amount("1 bitcoin").is_err());
        assert!(parse_amount("x ether").is_err());
        assert_eq!(
            format_ether(parse_amount("1.25 ether").unwrap()),
            "1.25 ETH"
        );
        assert_eq!(format_ether(U256::ZERO), "0 ETH");
    }

    #[test]
    fn market_params_round_trip_through_toml() {
        let p = MarketParams::default();
        let text = toml::to_string(&p).unwrap();
        assert_eq!(toml::from_str::<MarketParams>(&text).unwrap(), p);
        let err = toml::from_str::<MarketParams>("arity = 8\nbogus = 1").unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }
}
