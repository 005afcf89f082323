//! One module per command group.

pub(crate) mod agents;
pub(crate) mod aigc;
pub(crate) mod chain;
pub(crate) mod credits;
pub(crate) mod dispute;
pub(crate) mod game;
pub(crate) mod inputs;
pub(crate) mod model;
