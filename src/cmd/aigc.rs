//! `opml aigc`: a model's ERC-7007 token: deploy it, mint finalized results
//! (directly, or requested through the oracle and minted by its callback),
//! deliver callbacks, verify content.

use super::chain::{ChainArgs, DeploymentArg};
use anyhow::Result;
use clap::Subcommand;
use opml::aigc;
use opml_onchain::bindings::AigcToken;
use opml_vm::artifact::Artifact;
use opml_vm::runtime::Runtime;
use serde_json::json;
use std::path::PathBuf;

/// The ERC-7007 commands.
#[derive(Subcommand)]
pub(crate) enum AigcCommand {
    /// Deploy the model's ERC-7007 contracts (its adapter and token) and record them in the deployment file.
    Deploy {
        /// The model's artifact directory.
        artifact: PathBuf,
        /// The token's name (default: "opML <model name>").
        #[arg(long)]
        name: Option<String>,
        /// The token's symbol.
        #[arg(long, default_value = "AIGC")]
        symbol: String,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        deployment: DeploymentArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Request an inference through the oracle, to be minted to you by its
    /// callback once it finalizes and someone delivers it (`aigc deliver`;
    /// submitters do it for the reward).
    Request {
        /// The model's artifact directory.
        artifact: PathBuf,
        #[command(flatten)]
        input: super::inputs::InputArgs,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        deployment: DeploymentArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mint the finalized result of a request (to its requester). Refused for
    /// a pending, voided, cancelled or refunded request.
    Mint {
        /// The model's artifact directory.
        artifact: PathBuf,
        /// The request.
        #[arg(long)]
        request: u64,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        deployment: DeploymentArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deliver the finalized result of an oracle request: its consumer's
    /// callback runs (a mint, for `aigc request`) and you earn its reward.
    Deliver {
        /// The request.
        #[arg(long)]
        request: u64,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        deployment: DeploymentArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// ERC-7007 `verify` of a request's input and settled output on the
    /// model's token (false unless finalized), with the minted token and,
    /// for a generation program, the text. Exit code 1 when false.
    Verify {
        /// The model's artifact directory.
        artifact: PathBuf,
        /// The request.
        #[arg(long)]
        request: u64,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        deployment: DeploymentArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn model_id(art: &Artifact) -> Result<alloy::primitives::B256> {
    let (id, _, _) = opml_onchain::protocol::commitment_of(art).map_err(anyhow::Error::msg)?;
    Ok(id)
}

/// The text of a generation program's output region, if it is one.
fn text_of(art: &Artifact, artifact_dir: &std::path::Path, output: &[u8]) -> Option<String> {
    art.manifest.generation.as_ref()?;
    let tokens = opml::generate::tokens_in(art, output);
    let tok = opml::generate::tokenizer(artifact_dir, None).ok()?;
    tok.decode(&tokens, true).ok()
}

/// Runs one `aigc` command.
pub(crate) async fn run(command: AigcCommand) -> Result<()> {
    match command {
        AigcCommand::Deploy {
            artifact,
            name,
            symbol,
            chain,
            deployment,
            json,
        } => {
            let art = Artifact::load(&artifact)?;
            let id = model_id(&art)?;
            let chain = chain.connect(true).await?;
            let mut d = deployment.load(&chain)?;
            let name = name.unwrap_or_else(|| format!("opML {}", art.manifest.name));
            let c = opml_agents::deploy::deploy_aigc(&chain, &mut d, id, &name, &symbol).await?;
            d.save(&deployment.deployment)?;
            if json {
                println!(
                    "{}",
                    json!({"model_id": id, "adapter": c.adapter, "token": c.token})
                );
            } else {
                println!(
                    "ERC-7007 token of model {id}: {} (adapter {})",
                    c.token, c.adapter
                );
            }
        }
        AigcCommand::Request {
            artifact,
            input,
            chain,
            deployment,
            json,
        } => {
            let art = Artifact::load(&artifact)?;
            let id = model_id(&art)?;
            let inputs = input.load(&art, &artifact)?;
            let bytes = Runtime::new(art.clone(), false)?.input_region(&inputs)?;
            let chain = chain.connect(true).await?;
            let d = deployment.load(&chain)?;
            let c = aigc::contracts(&d, id)?;
            let request = aigc::request_mint(&chain, &d, c.token, id, bytes).await?;
            if json {
                println!("{}", json!({"request": request, "token": c.token}));
            } else {
                println!(
                    "request {request}: minted to you by the oracle's callback once it finalizes and is delivered"
                );
            }
        }
        AigcCommand::Mint {
            artifact,
            request,
            chain,
            deployment,
            json,
        } => {
            let art = Artifact::load(&artifact)?;
            let chain = chain.connect(true).await?;
            let d = deployment.load(&chain)?;
            let c = aigc::contracts(&d, model_id(&art)?)?;
            let token = aigc::mint(&chain, &d, c.token, request).await?;
            if json {
                println!(
                    "{}",
                    json!({"request": request, "token_id": token.to_string(), "contract": c.token})
                );
            } else {
                println!("minted request {request} as token {token} of {}", c.token);
            }
        }
        AigcCommand::Deliver {
            request,
            chain,
            deployment,
            json,
        } => {
            let chain = chain.connect(true).await?;
            let d = deployment.load(&chain)?;
            let ok = aigc::deliver(&chain, &d, request).await?;
            if json {
                println!("{}", json!({"request": request, "callback_ok": ok}));
            } else {
                println!(
                    "delivered request {request}; the callback {}",
                    if ok {
                        "succeeded"
                    } else {
                        "reverted (the delivery still counts)"
                    }
                );
            }
        }
        AigcCommand::Verify {
            artifact,
            request,
            chain,
            deployment,
            json,
        } => {
            let art = Artifact::load(&artifact)?;
            let chain = chain.connect(false).await?;
            let d = deployment.load(&chain)?;
            let c = aigc::contracts(&d, model_id(&art)?)?;
            let r = aigc::request_result(&chain, &d, request).await?;
            // a result that is not final is checked against nothing: verify says false
            let output = r.output.clone().unwrap_or_default();
            let verified = aigc::verify(&chain, c.token, request, &r.input, &output).await?;
            let token_id =
                alloy::primitives::U256::from_be_bytes(alloy::primitives::keccak256(&r.input).0);
            let t = AigcToken::new(c.token, chain.provider.clone());
            let owner = t.ownerOf(token_id).call().await.ok();
            let text = r
                .output
                .as_deref()
                .and_then(|o| text_of(&art, &artifact, o));
            if json {
                println!(
                    "{}",
                    json!({"request": request, "status": r.status, "verified": verified,
                           "token_id": token_id.to_string(), "owner": owner, "text": text})
                );
            } else {
                println!("request {request} ({}): verify {verified}", r.status);
                match owner {
                    Some(o) => println!("token {token_id} owned by {o}"),
                    None => println!("not minted"),
                }
                if let Some(t) = text {
                    println!("text: {t}");
                }
            }
            if !verified {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
