//! Gap repair: a PUBACK only says the broker has a message. A broker restarted without its
//! sessions loses what it held for an absent gateway, so the gateway checks, per room, that the
//! durable ids (one consecutive sequence per daemon: `assessment` and `exam` share it) have no
//! holes, and asks the room for the missing ones (`cmd/resend {"from", "to"}`). The daemon sends
//! them again from its retained outbox, or replies which ids are gone (evicted, pruned, or an
//! id-file reset that skipped ahead).
//!
//! Per room a watermark (in the database, shared by replicas) marks the ids up to which
//! everything is stored or known gone; only ids above it are read each check. A hole must last
//! [`SETTLE`] before it is asked for (replicas and reconnects reorder messages), is asked again
//! every [`RETRY`], and is given up after [`MAX_ASKS`] (logged, audited). The end of the
//! sequence is known from the daemon's `stats` (`mqtt.last_msg_id`), so a loss at the very end
//! (the last messages of an exam) is found too.

use super::ingest::Shared;
use super::store::{Store, StoreError};
use crate::config::gateway::GatewaySettings;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the rooms are checked.
const CHECK: Duration = Duration::from_secs(2);
/// A hole younger than this may still fill by itself.
const SETTLE: Duration = Duration::from_secs(3);
const RETRY: Duration = Duration::from_secs(20);
const MAX_ASKS: u32 = 10;
/// Ids per request at most (the daemon accepts up to a million).
const MAX_RANGE: u64 = 100_000;

/// What the MQTT task hands the repair thread.
pub enum Input {
    /// `mqtt.last_msg_id` from a room's `stats`: the highest id it has issued.
    LastIssued { room: String, id: u64 },
    /// A room's reply to `cmd/resend`: the ranges it no longer has.
    Gone { room: String, ranges: Vec<(u64, u64)> },
}

/// A resend request for the MQTT task to publish: (room, from, to).
pub type Request = (String, u64, u64);

struct Hole {
    noticed: Instant,
    last_asked: Option<Instant>,
    asks: u32,
}

#[derive(Default)]
struct Room {
    /// Every id up to this is stored or gone (None: not loaded yet).
    watermark: Option<u64>,
    last_issued: u64,
    gone: Vec<(u64, u64)>,
    holes: HashMap<(u64, u64), Hole>,
}

/// The holes above `watermark`, given the stored ids above it (ascending), the ranges known gone
/// and the highest id issued; and the new watermark (the end of the unbroken run from it).
pub fn find_holes(watermark: u64, ids: &[u64], gone: &[(u64, u64)], last_issued: u64) -> (u64, Vec<(u64, u64)>) {
    let mut present: Vec<(u64, u64)> = ids.iter().map(|&i| (i, i)).collect();
    present.extend(gone.iter().copied());
    present.sort_unstable();
    let mut holes = Vec::new();
    let mut next = watermark + 1;
    let mut new_watermark = watermark;
    let mut unbroken = true;
    for (a, b) in present {
        if b < next {
            continue;
        }
        if a > next {
            holes.push((next, a - 1));
            unbroken = false;
        }
        next = next.max(b + 1);
        if unbroken {
            new_watermark = b.max(new_watermark);
        }
    }
    if last_issued >= next {
        holes.push((next, last_issued));
    }
    (new_watermark, holes)
}

pub struct Repair {
    settings: Arc<GatewaySettings>,
    store: Store,
    rooms: HashMap<String, Room>,
}

impl Repair {
    pub fn new(settings: Arc<GatewaySettings>, store: Store) -> Repair {
        Repair {
            settings,
            store,
            rooms: HashMap::new(),
        }
    }

    /// Run until `shutdown`; `requests` go to the MQTT task.
    pub fn run(
        mut self,
        inputs: mpsc::Receiver<Input>,
        requests: tokio::sync::mpsc::UnboundedSender<Request>,
        shared: &Shared,
        shutdown: &AtomicBool,
    ) {
        let mut last_check = Instant::now();
        while !shutdown.load(Ordering::Relaxed) {
            match inputs.recv_timeout(Duration::from_millis(200)) {
                Ok(input) => self.take(input, shared),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            if last_check.elapsed() >= CHECK {
                last_check = Instant::now();
                if let Err(e) = self.check(&requests, shared) {
                    log::warn!("gap check failed: {e}");
                    if let Ok(s) = Store::open(&self.settings.database, &self.settings.name) {
                        self.store = s;
                    }
                }
            }
        }
    }

    fn take(&mut self, input: Input, shared: &Shared) {
        match input {
            Input::LastIssued { room, id } => {
                let r = self.rooms.entry(room).or_default();
                r.last_issued = r.last_issued.max(id);
            }
            Input::Gone { room, ranges } => {
                let n: u64 = ranges.iter().map(|(a, b)| b - a + 1).sum();
                if n == 0 {
                    return;
                }
                shared.counters.ids_gone.fetch_add(n, Ordering::Relaxed);
                let detail = ranges
                    .iter()
                    .map(|(a, b)| format!("{a}..={b}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                log::warn!(
                    "room {room}: {n} durable messages are gone at the daemon ({detail}): they cannot be repaired"
                );
                let _ = self.store.audit(Some(&room), "messages_gone", &detail);
                self.rooms.entry(room).or_default().gone.extend(ranges);
            }
        }
    }

    fn check(
        &mut self,
        requests: &tokio::sync::mpsc::UnboundedSender<Request>,
        shared: &Shared,
    ) -> Result<(), StoreError> {
        for room in self.store.room_names()? {
            let r = self.rooms.entry(room.clone()).or_default();
            let watermark = match r.watermark {
                Some(w) => w,
                None => match self.store.watermark(&room)? {
                    Some(w) => w,
                    None => match self.store.received_ids(&room, 0)?.first() {
                        Some(&first) => first - 1,
                        None => continue,
                    },
                },
            };
            let ids = self.store.received_ids(&room, watermark + 1)?;
            let (new_watermark, holes) = find_holes(watermark, &ids, &r.gone, r.last_issued);
            if r.watermark != Some(new_watermark) {
                self.store.set_watermark(&room, new_watermark)?;
            }
            r.watermark = Some(new_watermark);
            r.gone.retain(|&(_, b)| b > new_watermark);
            let now = Instant::now();
            r.holes.retain(|k, _| holes.contains(k));
            for hole in holes {
                let h = r.holes.entry(hole).or_insert_with(|| {
                    shared.counters.gaps_detected.fetch_add(1, Ordering::Relaxed);
                    Hole {
                        noticed: now,
                        last_asked: None,
                        asks: 0,
                    }
                });
                let due = now.duration_since(h.noticed) >= SETTLE
                    && h.last_asked.is_none_or(|t| now.duration_since(t) >= RETRY);
                if !due || h.asks >= MAX_ASKS {
                    continue;
                }
                h.asks += 1;
                h.last_asked = Some(now);
                if h.asks == MAX_ASKS {
                    log::error!(
                        "room {room}: ids {}..={} still missing after {MAX_ASKS} resend requests; asking no more",
                        hole.0,
                        hole.1
                    );
                    let _ = self
                        .store
                        .audit(Some(&room), "gap_unrepaired", &format!("{}..={}", hole.0, hole.1));
                }
                let to = hole.1.min(hole.0 + MAX_RANGE - 1);
                log::info!(
                    "room {room}: ids {}..={to} missing; asking the room to send them again",
                    hole.0
                );
                shared.counters.resend_requests.fetch_add(1, Ordering::Relaxed);
                let _ = requests.send((room.clone(), hole.0, to));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::find_holes;

    #[test]
    fn holes_between_stored_ids_and_at_the_end() {
        // Stored 11, 12, 15, 16; 13-14 missing; 17-20 issued but not seen.
        let (w, holes) = find_holes(10, &[11, 12, 15, 16], &[], 20);
        assert_eq!(w, 12);
        assert_eq!(holes, vec![(13, 14), (17, 20)]);
        // Known-gone ranges count as present: the watermark passes them.
        let (w, holes) = find_holes(10, &[11, 12, 15, 16], &[(13, 14)], 16);
        assert_eq!((w, holes), (16, vec![]));
        // An id-file reset that skipped ahead is one big hole until the daemon says it is gone.
        let (w, holes) = find_holes(5, &[6, 1_000_000_000], &[], 0);
        assert_eq!((w, holes), (6, vec![(7, 999_999_999)]));
        // Nothing new.
        assert_eq!(find_holes(7, &[], &[], 7), (7, vec![]));
    }
}
