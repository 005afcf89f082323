//! A local chain with the protocol on it, and agents as real processes: what
//! the demo and the end-to-end tests run.
//!
//! anvil comes from the npm-pinned Foundry (`onchain/node_modules/.bin/anvil`,
//! installed by `just node-setup`), listens on a free port chosen by the OS,
//! and is killed with the [`Anvil`] value. Waiting is on chain state, polled:
//! no fixed sleeps.

use anyhow::{Context, Result, bail};
use opml_agents::client::{Chain, TxPolicy, parse_key};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The workspace root (where `onchain/` is; this crate is `testkit/` in it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ sits in the workspace")
        .to_path_buf()
}

/// The pinned anvil binary, or `OPML_ANVIL`.
pub fn anvil_path() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("OPML_ANVIL") {
        return Ok(p.into());
    }
    // The platform package's binary itself: `.bin/anvil` is a Node shim whose
    // child would outlive a kill of the shim.
    let p = workspace_root().join("onchain/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if !p.exists() {
        bail!(
            "anvil is not installed at `{}`; run `./dev node-setup` (npm ci of the pinned Foundry)",
            p.display()
        );
    }
    Ok(p)
}

/// A running anvil, killed on drop.
pub struct Anvil {
    child: Child,
    /// Where anvil persists old states (`--cache-path`): removed with the
    /// node, or a long chain would leave gigabytes in `~/.foundry/anvil/tmp`.
    _states: tempfile::TempDir,
    /// HTTP endpoint.
    pub url: String,
    /// The dev accounts' private keys (hex), funded with 10,000 ETH each.
    pub keys: Vec<String>,
}

impl Anvil {
    /// Starts anvil with automine (`block_time = None`) or interval mining.
    pub fn start(block_time: Option<u64>) -> Result<Anvil> {
        Anvil::start_on(0, block_time, &[])
    }

    /// Starts anvil whose genesis is block `number`: a chain with that much
    /// history before anything the test deploys.
    pub fn start_at_block(number: u64) -> Result<Anvil> {
        Anvil::start_on(0, None, &["--number".into(), number.to_string()])
    }

    /// Dumps the chain's state (`anvil_dumpState`), kills the node, starts a
    /// new one on the same port and loads the state into it: a node restarted
    /// from a snapshot, as its clients see it.
    pub async fn restart_from_dump(&mut self) -> Result<()> {
        let c = Chain::connect(&self.url, None, TxPolicy::default()).await?;
        let state: serde_json::Value =
            alloy::providers::Provider::raw_request(&c.provider, "anvil_dumpState".into(), ())
                .await
                .context("anvil_dumpState")?;
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .context("anvil's port")?;
        let _ = self.child.kill();
        let _ = self.child.wait();
        // the port is free once the old process is gone; retry briefly for the OS
        let mut attempt = 0;
        let fresh = loop {
            match Anvil::start_on(port, None, &[]) {
                Ok(a) => break a,
                Err(e) if attempt < 50 => {
                    attempt += 1;
                    tracing::debug!(error = %e, "anvil restart: port not free yet");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        };
        let old = std::mem::replace(self, fresh);
        drop(old);
        let c = Chain::connect(&self.url, None, TxPolicy::default()).await?;
        let _: serde_json::Value = alloy::providers::Provider::raw_request(
            &c.provider,
            "anvil_loadState".into(),
            (state,),
        )
        .await
        .context("anvil_loadState")?;
        Ok(())
    }

    fn start_on(port: u16, block_time: Option<u64>, extra: &[String]) -> Result<Anvil> {
        let states = tempfile::Builder::new()
            .prefix("opml-anvil-states")
            .tempdir()
            .context("a directory for anvil's states")?;
        let mut cmd = Command::new(anvil_path()?);
        cmd.arg("--cache-path").arg(states.path());
        cmd.args([
            "--port",
            &port.to_string(),
            "--accounts",
            "10",
            "--balance",
            "10000",
        ])
        // the contracts are large; the game's calls stay under 30M gas
        .args(["--code-size-limit", "65536", "--gas-limit", "60000000"]);
        if let Some(t) = block_time {
            cmd.args(["--block-time", &t.to_string()]);
        }
        cmd.args(extra);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start anvil")?;
        let out = child.stdout.take().context("anvil has no stdout")?;
        let mut lines = BufReader::new(out).lines();
        let mut keys = vec![];
        let mut in_keys = false;
        let url = loop {
            let Some(line) = lines.next() else {
                bail!("anvil exited before listening");
            };
            let line = line?;
            if line.starts_with("Private Keys") {
                in_keys = true;
            } else if in_keys {
                if let Some(k) = line.split_whitespace().find(|w| w.starts_with("0x")) {
                    keys.push(k.to_string());
                } else if line.starts_with("Wallet") {
                    in_keys = false;
                }
            }
            if let Some(addr) = line.strip_prefix("Listening on ") {
                break format!("http://{}", addr.trim());
            }
        };
        // Keep draining stdout so anvil never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        if keys.len() < 10 {
            bail!("anvil printed {} private keys, expected 10", keys.len());
        }
        Ok(Anvil {
            child,
            _states: states,
            url,
            keys,
        })
    }

    /// A client with dev key `i`.
    pub async fn chain(&self, i: usize) -> Result<Chain> {
        let policy = TxPolicy {
            poll: Duration::from_millis(50),
            ..TxPolicy::default()
        };
        Ok(Chain::connect(&self.url, Some(parse_key(&self.keys[i])?), policy).await?)
    }

    /// Replaces the last `depth` blocks with empty ones (`anvil_reorg`): their
    /// transactions are gone.
    pub async fn reorg(&self, depth: u64) -> Result<()> {
        let c = Chain::connect(&self.url, None, TxPolicy::default()).await?;
        alloy::providers::Provider::raw_request::<_, serde_json::Value>(
            &c.provider,
            "anvil_reorg".into(),
            (depth, Vec::<serde_json::Value>::new()),
        )
        .await
        .context("anvil_reorg")?;
        Ok(())
    }

    /// Mines `n` empty blocks at once (`anvil_mine`), one second apart.
    pub async fn mine(&self, n: u64) -> Result<()> {
        self.mine_spaced(n, 1).await
    }

    /// Mines `n` empty blocks at once, `seconds` apart (a week offline is
    /// 100,800 blocks 6 s apart).
    pub async fn mine_spaced(&self, n: u64, seconds: u64) -> Result<()> {
        // anvil takes about a millisecond a block: no request timeout fits every `n`
        let policy = TxPolicy {
            rpc_timeout: Duration::from_secs(600),
            ..TxPolicy::default()
        };
        let c = Chain::connect(&self.url, None, policy).await?;
        alloy::providers::Provider::raw_request::<_, serde_json::Value>(
            &c.provider,
            "anvil_mine".into(),
            (format!("0x{n:x}"), format!("0x{seconds:x}")),
        )
        .await
        .context("anvil_mine")?;
        Ok(())
    }

    /// Sets the balance of `who` (`anvil_setBalance`).
    pub async fn set_balance(
        &self,
        who: alloy::primitives::Address,
        wei: alloy::primitives::U256,
    ) -> Result<()> {
        let c = Chain::connect(&self.url, None, TxPolicy::default()).await?;
        alloy::providers::Provider::raw_request::<_, serde_json::Value>(
            &c.provider,
            "anvil_setBalance".into(),
            (who, wei),
        )
        .await
        .context("anvil_setBalance")?;
        Ok(())
    }

    /// Advances the chain clock by `secs` and mines a block.
    pub async fn warp(&self, secs: u64) -> Result<()> {
        let c = Chain::connect(&self.url, None, TxPolicy::default()).await?;
        let p = alloy::providers::Provider::raw_request::<_, serde_json::Value>(
            &c.provider,
            "evm_increaseTime".into(),
            (secs,),
        );
        p.await.context("evm_increaseTime")?;
        alloy::providers::Provider::raw_request::<_, serde_json::Value>(
            &c.provider,
            "evm_mine".into(),
            (),
        )
        .await
        .context("evm_mine")?;
        Ok(())
    }

    /// Stops anvil (also on drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How long an agent may take to stop after SIGTERM: it finishes the
/// transaction it is sending, and a model run under way.
pub const STOP_PATIENCE: Duration = Duration::from_secs(60);

/// An agent process (`opml submitter run` or `opml challenger run`), stopped on drop.
pub struct AgentProcess {
    child: Option<Child>,
    /// Role name, for messages.
    pub name: String,
    /// Its log file.
    pub log: PathBuf,
    /// The command that starts it again.
    pub args: Vec<String>,
    /// Environment variables it starts with (besides `RUST_LOG`).
    pub env: Vec<(String, String)>,
    exe: PathBuf,
}

impl AgentProcess {
    /// Starts `exe role run --config config` with logs to `log`.
    pub fn spawn(
        exe: &Path,
        name: &str,
        role: &str,
        config: &Path,
        faults: bool,
        log: &Path,
    ) -> Result<AgentProcess> {
        let mut p = AgentProcess::prepare(exe, name, role, config, faults, log);
        p.restart()?;
        Ok(p)
    }

    /// The process [`AgentProcess::spawn`] would start, not started yet (set
    /// [`AgentProcess::env`], then [`AgentProcess::restart`]).
    pub fn prepare(
        exe: &Path,
        name: &str,
        role: &str,
        config: &Path,
        faults: bool,
        log: &Path,
    ) -> AgentProcess {
        let mut args = vec![
            role.to_string(),
            "run".into(),
            "--config".into(),
            config.display().to_string(),
        ];
        if faults {
            args.push("--allow-faults".into());
        }
        AgentProcess {
            child: None,
            name: name.into(),
            log: log.to_path_buf(),
            args,
            env: vec![],
            exe: exe.to_path_buf(),
        }
    }

    /// Starts the process (again), appending to its log.
    pub fn restart(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open `{}`", self.log.display()))?;
        let child = Command::new(&self.exe)
            .args(&self.args)
            .env("RUST_LOG", "info,opml_agents=debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start the {}", self.name))?;
        self.child = Some(child);
        Ok(())
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status. An agent
    /// that has not exited within [`STOP_PATIENCE`] is killed (its log says
    /// where it was) and `None` is returned: a clean stop never takes that long.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let start = std::time::Instant::now();
        loop {
            match c.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if start.elapsed() < STOP_PATIENCE => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break,
            }
        }
        let _ = c.kill();
        let _ = c.wait();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        eprintln!(
            "the {} did not stop within {STOP_PATIENCE:?} of SIGTERM; killed. Its last lines:\n{}",
            self.name,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        None
    }

    /// Waits for the process to end by itself (a crash point); its status.
    pub fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.wait().ok()
    }

    /// Whether it is still running (false when it exited by itself).
    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Writes an agent's key file (mode 0600) and config; returns the config path.
#[allow(clippy::too_many_arguments)]
pub fn write_agent_config(
    dir: &Path,
    rpc: &str,
    deployment: &Path,
    models_dir: &Path,
    key: &str,
    policy: &str,
    faults: Option<&str>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let key_file = dir.join("key");
    std::fs::write(&key_file, key)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;
    }
    let mut text = format!(
        "rpc = {rpc:?}\ndeployment = {:?}\ndata_dir = {:?}\nmodels_dir = {:?}\nkey_file = \"key\"\npoll_ms = 100\nidle_poll_ms = 1000\nbump_after_s = 5\nmetrics_addr = \"127.0.0.1:0\"\n\n[policy]\n{policy}\n",
        deployment.display().to_string(),
        dir.join("data").display().to_string(),
        models_dir.display().to_string(),
    );
    if let Some(f) = faults {
        text.push_str(&format!("\n[faults]\n{f}\n"));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// A PostgreSQL server from Debian's packages, for tests: a fresh cluster in
/// a temporary directory owned by the `postgres` user (the server refuses to
/// run as root), on a free loopback port with trust authentication, without
/// fsync. Stopped and deleted on drop.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Postgres {
    /// Creates and starts the cluster.
    pub fn start() -> Result<Postgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
            .max()
            .context(
                "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/initdb): run `./dev setup`, which installs Debian's postgresql",
            )?;
        let dir = tempfile::Builder::new().prefix("opml-pg").tempdir()?;
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()?
                .success();
            if !ok {
                bail!("cannot hand {} to the postgres user", dir.path().display());
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let pg = Postgres { bin, dir, port };
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-U",
                "opml",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("server.log").display().to_string();
        pg.run(
            "pg_ctl",
            &[
                "-D",
                &pg.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs one of the server's programs as the `postgres` user (when root).
    fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        let exe = self.bin.join(program);
        let mut c = if unsafe { libc::geteuid() } == 0 {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = c.args(args).current_dir(self.dir.path()).output()?;
        if !out.status.success() {
            bail!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Creates database `name`; returns its URL.
    pub fn database(&self, name: &str) -> Result<String> {
        let port = self.port.to_string();
        self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "opml",
                "-d",
                "postgres",
                "-q",
                "-c",
                &format!("CREATE DATABASE \"{name}\""),
            ],
        )?;
        Ok(format!("postgres://opml@127.0.0.1:{}/{name}", self.port))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

/// The body of `GET path` from an agent's metrics server (its address is in
/// `data_dir/metrics.addr`), with the HTTP status.
pub fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status line")?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_string()))
}

/// Every series of metric `name` in Prometheus text, as (labels, value):
/// labels are the text between the braces, empty for a series without.
pub fn metric_series(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => r.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            Some((labels.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The sum of every series of metric `name` in Prometheus text.
pub fn metric_total(text: &str, name: &str) -> f64 {
    metric_series(text, name).iter().map(|(_, v)| v).sum()
}

/// Polls `check` every 100 ms until it gives a value or `timeout` passes.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TCP proxy in front of an RPC endpoint that a test can cut, to play a
/// node that goes away and comes back.
pub struct RpcProxy {
    /// The proxy's endpoint.
    pub url: String,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl RpcProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Result<RpcProxy> {
        use std::sync::atomic::Ordering;
        let target = upstream
            .strip_prefix("http://")
            .context("the proxy forwards plain http only")?
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (d, c) = (down.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees a reset
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().unwrap().push(task);
            }
        });
        Ok(RpcProxy {
            url,
            down,
            connections,
            accept,
        })
    }

    /// Refuses and drops every connection for `d`, then serves again.
    pub async fn cut(&self, d: Duration) {
        use std::sync::atomic::Ordering;
        self.down.store(true, Ordering::SeqCst);
        for t in self.connections.lock().unwrap().drain(..) {
            t.abort();
        }
        tokio::time::sleep(d).await;
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.accept.abort();
        for t in self.connections.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// The arguments the project's benchmarks share: `--quick` (CI-sized) and
/// `--write FILE` (a section of `docs/BENCHMARKS.md`); `None` for `--list`,
/// which `cargo test --benches` asks and which has no cases to name.
pub fn bench_args() -> Option<(bool, Option<PathBuf>)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return None;
    }
    let write = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    Some((args.iter().any(|a| a == "--quick"), write))
}

/// Replaces the `<!-- BEGIN name -->` section of `doc` (relative to the
/// workspace) with "Measured DATE " and `body`.
pub fn write_bench_section(doc: &Path, name: &str, body: &str) -> Result<()> {
    let p = if doc.is_absolute() {
        doc.to_path_buf()
    } else {
        workspace_root().join(doc)
    };
    let text = std::fs::read_to_string(&p).unwrap_or_default();
    let date = Command::new("date").args(["-u", "+%Y-%m-%d"]).output()?;
    let body = format!(
        "Measured {} {body}",
        String::from_utf8_lossy(&date.stdout).trim()
    );
    let text = opml_onchain::report::replace_section(
        &text,
        &format!("<!-- BEGIN {name} -->"),
        &format!("<!-- END {name} -->"),
        &body,
    )
    .map_err(anyhow::Error::msg)?;
    std::fs::write(&p, text)?;
    Ok(())
}
