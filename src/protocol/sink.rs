//! Where the daemon's messages go. Without a broker: stdout, one JSON object per line, each tagged
//! with its topic suffix so a pipe can tell them apart.

use super::messages::{ExamEvent, StateMessage, StatsMessage};
use std::io::Write;

pub trait Sink {
    fn state(&mut self, msg: &StateMessage);
    /// The durable per-interval record (MQTT `assessment`); stdout already has every state.
    fn assessment(&mut self, _msg: &StateMessage) {}
    fn exam(&mut self, ev: &ExamEvent);
    fn stats(&mut self, msg: &StatsMessage);
    /// The camera went offline or came back (cameras only).
    fn camera(&mut self, _online: bool) {}
    fn flush(&mut self) {}
}

/// JSON lines on stdout: `{"topic":"state", ...}`.
pub struct StdoutSink {
    out: std::io::Stdout,
    /// Stop writing after a closed pipe (`| head`), without failing the daemon.
    broken: bool,
}

impl Default for StdoutSink {
    fn default() -> Self {
        StdoutSink {
            out: std::io::stdout(),
            broken: false,
        }
    }
}

impl StdoutSink {
    fn write<T: serde::Serialize>(&mut self, topic: &str, msg: &T) {
        if self.broken {
            return;
        }
        let mut v = serde_json::to_value(msg).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("topic".into(), topic.into());
        }
        if writeln!(self.out.lock(), "{v}").is_err() {
            self.broken = true;
        }
    }
}

impl Sink for StdoutSink {
    fn state(&mut self, msg: &StateMessage) {
        self.write("state", msg)
    }
    fn exam(&mut self, ev: &ExamEvent) {
        self.write("exam", ev)
    }
    fn stats(&mut self, msg: &StatsMessage) {
        self.write("stats", msg)
    }
    fn camera(&mut self, online: bool) {
        let status = if online { "online" } else { "offline" };
        self.write(
            "camera",
            &serde_json::json!({ "status": status, "time": super::unix_now() }),
        )
    }
    fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

/// Keeps everything in memory: for tests of the loop.
#[derive(Default)]
pub struct MemorySink {
    pub states: Vec<StateMessage>,
    pub exams: Vec<ExamEvent>,
    pub stats: Vec<StatsMessage>,
    pub camera: Vec<bool>,
}

impl Sink for MemorySink {
    fn state(&mut self, msg: &StateMessage) {
        self.states.push(msg.clone())
    }
    fn exam(&mut self, ev: &ExamEvent) {
        self.exams.push(ev.clone())
    }
    fn stats(&mut self, msg: &StatsMessage) {
        self.stats.push(msg.clone())
    }
    fn camera(&mut self, online: bool) {
        self.camera.push(online)
    }
}
