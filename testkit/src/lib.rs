//! The test harness, kept out of the product crates: [`devnet`] (a local
//! chain from the npm-pinned anvil with the protocol deployed, PostgreSQL as
//! its own user in a temporary directory, agents as real processes) and
//! [`hostile`] (a JSON-RPC endpoint that misbehaves on purpose, including a
//! public provider's limits). The demo, the benchmarks and the end-to-end
//! tests use it.

pub mod devnet;
pub mod hostile;
