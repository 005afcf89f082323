//! The agents: `opml submitter run`, `opml challenger run`.

use anyhow::Result;
use clap::{Args, Subcommand};
use opml_agents::agent::{AgentConfig, Shutdown};
use serde::de::DeserializeOwned;
use std::path::PathBuf;

/// Flags of both agents (they override the config file and the environment).
#[derive(Args, Debug, Clone)]
pub(crate) struct AgentArgs {
    /// The agent's TOML configuration (docs/AGENTS.md).
    #[arg(long, short)]
    pub(crate) config: PathBuf,
    /// JSON-RPC endpoint (overrides the file and OPML_RPC).
    #[arg(long)]
    pub(crate) rpc: Option<String>,
    /// Data directory (overrides the file and OPML_DATA_DIR).
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// Accept the config's test-only [faults] section (the agent then lies on purpose).
    #[arg(long)]
    pub(crate) allow_faults: bool,
}

impl AgentArgs {
    fn config<P: DeserializeOwned + Default, F: DeserializeOwned>(
        &self,
    ) -> Result<AgentConfig<P, F>> {
        let mut c = AgentConfig::load(&self.config)?;
        c.apply_env();
        if let Some(r) = &self.rpc {
            c.rpc = r.clone();
        }
        if let Some(d) = &self.data_dir {
            c.data_dir = d.clone();
        }
        Ok(c)
    }
}

/// `opml submitter ...`
#[derive(Subcommand)]
pub(crate) enum SubmitterCommand {
    /// Serve requests, defend claims, settle and withdraw until SIGINT or SIGTERM.
    Run(AgentArgs),
}

/// `opml challenger ...`
#[derive(Subcommand)]
pub(crate) enum ChallengerCommand {
    /// Watch claims, challenge false ones, play the games until SIGINT or SIGTERM.
    Run(AgentArgs),
}

/// Runs the submitter.
pub(crate) async fn submitter(cmd: SubmitterCommand) -> Result<()> {
    let SubmitterCommand::Run(args) = cmd;
    let cfg: opml_submitter::Config = args.config()?;
    let s = opml_submitter::Submitter::start(&cfg, args.allow_faults).await?;
    s.run(Shutdown::on_signals()).await?;
    Ok(())
}

/// Runs the challenger.
pub(crate) async fn challenger(cmd: ChallengerCommand) -> Result<()> {
    let ChallengerCommand::Run(args) = cmd;
    let cfg: opml_challenger::Config = args.config()?;
    let c = opml_challenger::Challenger::start(&cfg, args.allow_faults).await?;
    c.run(Shutdown::on_signals()).await?;
    Ok(())
}
