//! One module per command group.

pub(crate) mod agents;
pub(crate) mod chain;
pub(crate) mod dispute;
pub(crate) mod inputs;
pub(crate) mod model;
