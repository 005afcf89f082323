//! The runtime the opML agents share (the submitter and the challenger crates
//! are thin policies over it).
//!
//! Layers, each importing only those above it (checked by a test, so the
//! crate stays free of import circles):
//! - [`metrics`]: Prometheus counters and gauges, `/metrics` and `/healthz`.
//! - [`client`]: a chain connection that owns its nonces, caps its fees,
//!   journals before it broadcasts, retries what is transient and redacts
//!   secrets; [`deploy`] sends the protocol's contracts and registrations.
//! - [`follow`]: bounded, adaptive log paging; [`store`]: what the logs said,
//!   in SQLite or PostgreSQL, with the transaction journal and leases.
//! - [`player`]: the dissection game as pure rules; [`play`]: reading a game
//!   and sending its moves; [`faults`]: lies, injected for tests and demos.
//! - [`agent`]: configuration, models, trace sessions, isolated units of work
//!   scheduled by remaining clock; [`observe`]: the gauges an operator
//!   watches, read after each pass; [`passes`]: the pass loop.

pub mod agent;
pub mod client;
pub mod deploy;
pub mod faults;
pub mod follow;
pub mod metrics;
pub mod observe;
pub mod passes;
pub mod play;
pub mod player;
pub mod store;

#[cfg(test)]
mod layering {
    use std::collections::{BTreeMap, BTreeSet};

    /// `crate::x` imports of every module, and a check that they form no circle.
    #[test]
    fn modules_import_each_other_without_circles() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if name == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let uses = text
                .match_indices("crate::")
                .map(|(i, _)| {
                    text[i + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .filter(|m| *m != name)
                .collect();
            graph.insert(name, uses);
        }
        assert!(graph.len() >= 10, "{graph:?}");
        // Depth-first search for a back edge.
        fn visit(
            m: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) {
            if done.contains(m) {
                return;
            }
            if let Some(i) = path.iter().position(|p| p == m) {
                panic!("import circle: {} -> {m}", path[i..].join(" -> "));
            }
            path.push(m.to_string());
            for next in graph.get(m).into_iter().flatten() {
                visit(next, graph, path, done);
            }
            path.pop();
            done.insert(m.to_string());
        }
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            visit(m, &graph, &mut Vec::new(), &mut done);
        }
    }
}
