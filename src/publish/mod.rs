//! Publishing to the clinic over MQTT (rumqttc), with the conventions edge daemons use:
//!
//! | topic (under `<prefix>/<room>/`) | QoS | what |
//! |---|---|---|
//! | `available` | 1, retained | `online` on every connect, `stopped` on clean exit, `offline` as the will |
//! | `camera` | 1, retained | `online` / `offline`: the camera's status (camera sources only) |
//! | `state` | 0 | live smoothed angles and scores at `mqtt.state_interval_s` |
//! | `assessment` | 1, outbox | the same, at `mqtt.assessment_interval_s`: the durable record |
//! | `exam` | 1, outbox | exam events `new` / `update` / `end` with the summary |
//! | `info` | 1, retained | the device's version, model hashes and config fingerprint, at every connect |
//! | `stats` | 0 | fps, drops, stage timings, reconnects, outbox size, at `mqtt.stats_interval_s` |
//! | `cmd/<name>` | in | `exam_start`, `exam_end`, `neutral`, `resend`; answered on `reply` |
//!
//! Durable messages carry `msg_id` (stable across retries, for de-duplication) and `replayed: true`
//! when sent again after a reconnect or restart. See [`outbox`] for durability and bounds.

pub mod commands;
pub mod info;
pub mod mqtt;
pub mod outbox;

use crate::protocol::messages::{ExamEvent, ExamEventKind, StateMessage, StatsMessage};
use crate::protocol::sink::Sink;
use outbox::{Outbox, OutboxWriter, Priority};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Shared between the MQTT task and the daemon loop (stats).
#[derive(Default)]
pub struct LinkStatus {
    pub connected: AtomicBool,
    /// Successful connections since start (the first one included).
    pub connects: AtomicU64,
    /// Last camera status, re-announced on every connect.
    pub camera: Mutex<Option<&'static str>>,
}

pub struct Topics {
    pub base: String,
}

impl Topics {
    pub fn new(prefix: &str, room: &str) -> Self {
        Topics {
            base: format!("{prefix}/{room}"),
        }
    }
    pub fn get(&self, leaf: &str) -> String {
        format!("{}/{leaf}", self.base)
    }
}

/// The daemon's sink when a broker is configured. Never blocks on the network or the disk: QoS 0
/// messages go through a bounded channel (dropped when full), durable ones to the outbox writer.
pub struct MqttSink {
    topics: Topics,
    /// Read for stats only; the writer thread fills it.
    outbox: Arc<Mutex<Outbox>>,
    writer: OutboxWriter,
    live: tokio::sync::mpsc::Sender<(String, String, bool)>,
    status: Arc<LinkStatus>,
    live_dropped: u64,
}

impl MqttSink {
    /// Starts the outbox writer thread, which wakes the MQTT task after each durable message.
    pub fn new(
        topics: Topics,
        outbox: Arc<Mutex<Outbox>>,
        wake: Arc<tokio::sync::Notify>,
        live: tokio::sync::mpsc::Sender<(String, String, bool)>,
        status: Arc<LinkStatus>,
    ) -> std::io::Result<Self> {
        let writer = OutboxWriter::start(outbox.clone(), move || wake.notify_one())?;
        Ok(MqttSink {
            topics,
            outbox,
            writer,
            live,
            status,
            live_dropped: 0,
        })
    }

    fn live(&mut self, leaf: &str, payload: String) {
        if self.live.try_send((self.topics.get(leaf), payload, false)).is_err() {
            self.live_dropped += 1;
        }
    }

    fn durable(&mut self, leaf: &str, payload: String, p: Priority) {
        self.writer.push(self.topics.get(leaf), payload, p);
    }
}

impl Sink for MqttSink {
    fn camera(&mut self, online: bool) {
        let status = if online { "online" } else { "offline" };
        *self.status.camera.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
        // If this cannot be queued now, the next connect announces it from `status.camera`.
        let _ = self.live.try_send((self.topics.get("camera"), status.into(), true));
    }
    fn state(&mut self, msg: &StateMessage) {
        self.live("state", serde_json::to_string(msg).unwrap_or_default());
    }
    fn assessment(&mut self, msg: &StateMessage) {
        self.durable(
            "assessment",
            serde_json::to_string(msg).unwrap_or_default(),
            Priority::Assessment,
        );
    }
    fn exam(&mut self, ev: &ExamEvent) {
        let p = if ev.kind == ExamEventKind::Update {
            Priority::ExamUpdate
        } else {
            Priority::Keep
        };
        self.durable("exam", serde_json::to_string(ev).unwrap_or_default(), p);
    }
    fn stats(&mut self, msg: &StatsMessage) {
        let mut v = serde_json::to_value(msg).unwrap_or_default();
        let o = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        let mqtt = serde_json::json!({
            "connected": self.status.connected.load(Ordering::Relaxed),
            "reconnects": self.status.connects.load(Ordering::Relaxed).saturating_sub(1),
            "outbox_messages": o.len(),
            "outbox_bytes": o.bytes(),
            "outbox_high_water": o.high_water,
            "outbox_evicted": o.evicted,
            "outbox_write_failures": o.write_failures,
            "outbox_lost": o.lost,
            "retained_messages": o.retained().0,
            "retained_bytes": o.retained().1,
            "last_msg_id": o.last_issued(),
            "live_dropped": self.live_dropped,
        });
        drop(o);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("mqtt".into(), mqtt);
        }
        self.live("stats", v.to_string());
    }
    /// Every durable message handed over so far is in the outbox (before the final drain).
    fn flush(&mut self) {
        self.writer.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A durable message must not wait for the disk or for the lock the MQTT task holds: the
    /// measuring thread hands it over and goes on.
    #[test]
    fn durable_messages_never_block_the_measuring_thread() {
        let dir = std::env::temp_dir().join(format!("cdposture-sink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let outbox = Arc::new(Mutex::new(Outbox::open(&dir, 1 << 20).unwrap()));
        let (live_tx, _live_rx) = tokio::sync::mpsc::channel(4);
        let mut sink = MqttSink::new(
            Topics::new("p", "r"),
            outbox.clone(),
            Arc::new(tokio::sync::Notify::new()),
            live_tx,
            Arc::new(LinkStatus::default()),
        )
        .unwrap();
        let held = outbox.lock().unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let measuring = std::thread::spawn(move || {
            for _ in 0..10 {
                sink.durable("assessment", "{}".into(), Priority::Assessment);
            }
            done_tx.send(()).unwrap();
            sink
        });
        assert!(
            done_rx.recv_timeout(std::time::Duration::from_secs(2)).is_ok(),
            "the measuring thread waited for the outbox lock"
        );
        drop(held);
        let mut sink = measuring.join().unwrap();
        sink.flush();
        assert_eq!(outbox.lock().unwrap().len(), 10, "all stored once the lock was free");
    }
}
