//! The pass loop: each role syncs and acts once per pass, then the gauges are
//! read from the chain, until a stop is asked for.

use crate::agent::{Agent, AgentError, Shutdown};
use crate::observe::observe;
use std::time::Duration;

/// One role's pass over the chain.
pub trait Pass {
    /// Syncs and acts once.
    fn pass(
        &mut self,
        shutdown: &Shutdown,
    ) -> impl std::future::Future<Output = Result<(), AgentError>> + Send;
    /// The pause between passes.
    fn poll(&self) -> Duration;
    /// The agent (for the metrics after each pass).
    fn agent(&self) -> &Agent;
}

/// Runs passes until a stop is asked for. A failing endpoint fails the pass,
/// which is logged; the next pass starts again from the chain.
pub async fn run_passes(
    mut role: impl Pass,
    mut shutdown: Shutdown,
    name: &str,
) -> Result<(), AgentError> {
    // The limits weigh new commitments against what the chain holds: read it first.
    if let Some(Err(e)) = shutdown.unless_stopped(observe(role.agent(), name)).await {
        tracing::warn!(error = %e, "metrics: observing the chain failed");
    }
    let mut interval = role.poll();
    let mut last_observed = tokio::time::Instant::now();
    loop {
        if shutdown.requested() {
            break;
        }
        let m = crate::metrics::global();
        role.agent().new_pass();
        let Some(done) = shutdown.unless_stopped(role.pass(&shutdown)).await else {
            break;
        };
        match done {
            Ok(()) => {
                m.passes.inc();
            }
            Err(AgentError::Chain(e)) => {
                m.pass_failures.inc();
                tracing::error!(error = %e, "pass failed; retrying");
            }
            // a database server restarting, or a conflict with another instance
            Err(AgentError::Store(e)) => {
                m.pass_failures.inc();
                tracing::error!(error = %e, "pass failed on the database; retrying");
            }
            Err(other) => return Err(other),
        };
        let a = role.agent();
        a.leases.end_pass().await;
        a.traces.end_pass();
        // Idle passes (no new events, no live game, no model run under way)
        // come less and less often, up to `idle_poll`; any work resets it.
        let busy = a.take_busy();
        interval = if busy {
            role.poll()
        } else {
            (interval * 2).min(a.idle_poll).max(role.poll())
        };
        m.poll_interval.set(interval.as_secs_f64());
        // What the chain says after the pass (a failure only leaves the gauges
        // older); while idle, every few idle intervals.
        if busy || last_observed.elapsed() >= a.idle_poll * 3 {
            match shutdown.unless_stopped(observe(a, name)).await {
                Some(Err(e)) => tracing::warn!(error = %e, "metrics: observing the chain failed"),
                Some(Ok(())) => {}
                None => break,
            }
            last_observed = tokio::time::Instant::now();
        }
        // A model run that ends wakes the loop: its result is served at once.
        let finished = role.agent().traces.finished.clone();
        tokio::select! {
            stop = shutdown.sleep(interval) => if stop { break },
            _ = finished.notified() => {}
        }
    }
    tracing::info!("{name} stopped");
    Ok(())
}
