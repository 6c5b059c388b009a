//! The clinic gateway (`cdposture gateway`, feature `gateway`): one place for every exam room.
//! It subscribes to the rooms' MQTT topics, stores exams and their time series, and serves the
//! HTTP API and the dashboard. Runs on a clinic server, never on the device.
//!
//! * [`inbound`] checks each message (topic, size, schema version, room) before anything is stored.
//! * [`store`] keeps rooms, exams, the time series, received ids and the audit trail: SQLite or
//!   PostgreSQL, idempotent on `(room, msg_id)`.
//! * [`ingest`] is the path from the broker to the database: persistent session, batches, and an
//!   acknowledgement to the broker only after the commit.
//! * [`repair`] finds holes in each room's durable id sequence and asks the room to resend them.
//! * [`http`] serves the API (bearer token), exports ([`export`]: CSV, FHIR) and the dashboard
//!   ([`crate::report::exam_page`], the page `analyze` writes as `report.html` too).

pub mod export;
pub mod http;
pub mod inbound;
pub mod ingest;
pub mod repair;
pub mod store;

use crate::config::gateway::GatewaySettings;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Run until `shutdown` is set (SIGTERM/SIGINT at the binary).
pub fn run(settings: GatewaySettings, shutdown: Arc<AtomicBool>) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let mut store = store::Store::open(&settings.database, &settings.name)?;
    let version = store.migrate()?;
    store.audit(
        None,
        "gateway_started",
        &format!(
            "replica {} version {} schema {version}, broker {}:{}, share group {}",
            settings.name,
            env!("CARGO_PKG_VERSION"),
            settings.mqtt.host,
            settings.mqtt.port,
            settings.share_group.as_deref().unwrap_or("none")
        ),
    )?;
    let shared = Arc::new(ingest::Shared::default());
    shared.database_ok.store(true, Ordering::Relaxed);
    let (server, workers) = http::start(settings.clone(), shared.clone())?;
    let result = ingest::run(settings.clone(), store, shared, shutdown);
    server.unblock();
    for _ in 1..workers.len() {
        server.unblock();
    }
    for w in workers {
        let _ = w.join();
    }
    if let Ok(mut s) = store::Store::open(&settings.database, &settings.name) {
        let _ = s.audit(None, "gateway_stopped", &format!("replica {}", settings.name));
    }
    log::info!("gateway stopped");
    result
}
