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
    loop {
        if shutdown.requested() {
            break;
        }
        let m = crate::metrics::global();
        match role.pass(&shutdown).await {
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
        role.agent().leases.end_pass().await;
        // what the chain says after the pass; a failure here only leaves the gauges older
        if let Err(e) = observe(role.agent(), name).await {
            tracing::warn!(error = %e, "metrics: observing the chain failed");
        }
        if shutdown.sleep(role.poll()).await {
            break;
        }
    }
    tracing::info!("{name} stopped");
    Ok(())
}
