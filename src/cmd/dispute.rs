//! `opml dispute`: games as files for researchers.

use super::chain::{ChainArgs, DeploymentArg};
use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;

/// Disputes as files.
#[derive(Subcommand)]
pub(crate) enum DisputeCommand {
    /// Write everything a replay needs about one game (events, the one-step
    /// proof's calldata, the request and the claim) to a versioned JSON file.
    Export {
        /// The game id.
        #[arg(long)]
        game: u64,
        /// Output file.
        #[arg(short, long)]
        out: PathBuf,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        deployment: DeploymentArg,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a dispute command.
pub(crate) async fn run(c: DisputeCommand) -> Result<()> {
    match c {
        DisputeCommand::Export {
            game,
            out,
            chain,
            deployment,
            json,
        } => {
            let chain = chain.connect(false).await?;
            let d = deployment.load(&chain)?;
            let file = opml::dispute::export(&chain, &d, game).await?;
            let text = serde_json::to_string_pretty(&file)?;
            std::fs::write(&out, text + "\n")
                .with_context(|| format!("cannot write `{}`", out.display()))?;
            let status = file.outcome.as_ref().map_or("live", |o| o.status.as_str());
            if json {
                println!(
                    "{}",
                    serde_json::json!({"game": game, "file": out, "moves": file.moves.len(), "status": status})
                );
            } else {
                println!(
                    "game {game}: {} moves, {status}; written to {}",
                    file.moves.len(),
                    out.display()
                );
            }
        }
    }
    Ok(())
}
