//! systemd's sd_notify protocol, by hand (a datagram to `$NOTIFY_SOCKET`): READY=1 once models are
//! loaded, WATCHDOG=1 while the loop makes progress, STOPPING=1 on a clean exit. Without
//! NOTIFY_SOCKET: no-ops.
//!
//! Progress is a processed frame, or a lost camera that the capture thread is visibly reopening: a
//! daemon waiting for an unplugged camera is doing its job, and killing it would defeat the reopening
//! (and, after `StartLimitBurst`, stop the service for good). A hung pipeline or loop sends nothing
//! (pings come only from the loop thread), nor does a capture thread stuck on an online source.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

pub struct Notifier {
    socket: Option<(UnixDatagram, std::path::PathBuf)>,
    /// Half of WATCHDOG_USEC: ping at twice the rate systemd demands.
    interval: Option<Duration>,
    last_ping: Instant,
    /// Progress (a frame, or a camera being reopened) since the last ping.
    progress: bool,
}

impl Notifier {
    pub fn from_env() -> Self {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|p| {
            let path = std::path::PathBuf::from(p);
            // Abstract sockets ("@name") are not supported by std's path-based API: skip them.
            if path.to_string_lossy().starts_with('@') {
                log::warn!("NOTIFY_SOCKET is an abstract socket; sd_notify disabled");
                return None;
            }
            UnixDatagram::unbound().ok().map(|s| (s, path))
        });
        let interval = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(|us| Duration::from_micros(us / 2));
        Notifier {
            socket,
            interval,
            last_ping: Instant::now(),
            progress: false,
        }
    }

    fn send(&self, msg: &str) {
        if let Some((s, path)) = &self.socket {
            if let Err(e) = s.send_to(msg.as_bytes(), path) {
                log::warn!("sd_notify {msg}: {e}");
            }
        }
    }

    pub fn ready(&mut self) {
        self.send("READY=1");
    }

    pub fn stopping(&mut self) {
        self.send("STOPPING=1");
    }

    pub fn frame_processed(&mut self) {
        self.progress = true;
        self.tick();
    }

    /// The camera is offline and the capture thread is alive, reopening it.
    pub fn camera_reopening(&mut self) {
        self.progress = true;
    }

    /// Ping the watchdog if due and there was progress since the last ping.
    pub fn tick(&mut self) {
        if let Some(every) = self.interval {
            if self.progress && self.last_ping.elapsed() >= every {
                self.send("WATCHDOG=1");
                self.last_ping = Instant::now();
                self.progress = false;
            }
        }
    }
}
