//! `opml`: compile ONNX models to deterministic fixed-point WebAssembly, run
//! and prove them, and play the protocol on a chain. See `docs/CLI.md` and
//! `docs/AGENTS.md`.

mod cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "opml",
    version,
    about = "opML: provable fixed-point inference for ONNX models"
)]
struct Cli {
    /// Log filter for the agents (as RUST_LOG: `info`, `opml_agents=debug`).
    #[arg(long, global = true, env = "RUST_LOG", default_value = "info")]
    log: String,
    /// Log as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Model(cmd::model::ModelCommand),
    #[command(flatten)]
    Chain(cmd::chain::ChainCommand),
    /// The submitter agent.
    #[command(subcommand)]
    Submitter(cmd::agents::SubmitterCommand),
    /// The challenger agent.
    #[command(subcommand)]
    Challenger(cmd::agents::ChallengerCommand),
    /// What the market holds for an account: withdrawable credits, the bonds
    /// and stakes of its pending claims and of its live games, and totals.
    Credits(cmd::credits::CreditsArgs),
    /// One game by hand, for operators: show, move, step, resolve.
    #[command(subcommand)]
    Game(cmd::game::GameCommand),
    /// Verified AI-generated content (ERC-7007): deploy a model's token,
    /// request, mint, deliver, verify.
    #[command(subcommand)]
    Aigc(cmd::aigc::AigcCommand),
    /// Disputes as files, for researchers.
    #[command(subcommand)]
    Dispute(cmd::dispute::DisputeCommand),
    /// The end-to-end demo on a local anvil: two models, an honest and a lying
    /// submitter, a challenger; exits 0 when the lies are voided, the honest
    /// results finalized and revenue claimed.
    Demo {
        /// Working directory (recreated, compiled models kept).
        #[arg(long, default_value = "out/demo")]
        out: std::path::PathBuf,
    },
}

fn main() {
    // `opml run ... | head` ends quietly, as Unix tools do, instead of panicking in println!
    // SAFETY: restoring the default disposition of a signal, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if cli.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let result = match cli.command {
        Command::Model(c) => cmd::model::run(c),
        other => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| {
                let result = rt.block_on(async {
                    match other {
                        Command::Chain(c) => cmd::chain::run(c).await,
                        Command::Submitter(c) => cmd::agents::submitter(c).await,
                        Command::Challenger(c) => cmd::agents::challenger(c).await,
                        Command::Credits(c) => cmd::credits::run(c).await,
                        Command::Game(c) => cmd::game::run(c).await,
                        Command::Dispute(c) => cmd::dispute::run(c).await,
                        Command::Aigc(c) => cmd::aigc::run(c).await,
                        Command::Demo { out } => opml::demo::run(&out).await,
                        Command::Model(_) => unreachable!(),
                    }
                });
                // A model run still under way on the blocking pool is of no
                // use now: exit without waiting for it (a MiniLM run takes minutes).
                rt.shutdown_background();
                result
            }),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
