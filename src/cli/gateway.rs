//! `cdposture gateway --config FILE`: the clinic gateway (see `gateway`).

use anyhow::{Context, Result};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub fn run(config: &Path) -> Result<()> {
    let settings = crate::config::gateway::GatewaySettings::load(config)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    crate::gateway::run(settings, stop)
}
