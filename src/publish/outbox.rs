//! The durable outbox: every QoS 1 message (exam events, assessments) is on disk before it is
//! sent, and leaves only when the broker's PUBACK for it arrives. rumqttc alone is not enough: after
//! a reconnect without a session it silently drops every un-acked publish.
//!
//! Layout: one file per message, `<seq>.msg` = topic, newline, JSON payload. Written as `.tmp`,
//! fsynced, renamed, and the directory fsynced: a crash leaves either the whole message or nothing
//! (stray `.tmp` files are removed at start). fsync policy: every message, because these are few
//! (assessments at ~1 Hz, exam events every few seconds) and each is a clinical record.
//!
//! Bound (`outbox.max_bytes`): when full, the OLDEST `assessment` messages are evicted first (they are
//! periodic samples and the exam summaries carry the aggregate), then the oldest exam `update`
//! events; exam `new`/`end` events are never evicted. Every eviction is counted and logged.
//! Disk errors (full disk, read-only mount): the message is still sent from memory (best effort, not
//! durable), the failure is counted in `stats` and logged once a minute; nothing stops.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// File holding the last message id issued.
const LAST_ID: &str = "last_id";

/// How a message may be evicted when the outbox is full (lower goes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Assessment = 0,
    ExamUpdate = 1,
    Keep = 2,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub topic: String,
    pub priority: Priority,
    pub bytes: u64,
    /// In memory only when the disk write failed.
    pub payload_in_memory: Option<String>,
    /// Sent on the current connection (cleared at every reconnect, so everything un-acked is replayed).
    pub sent: bool,
    /// Sent at least once before (a previous connection or a previous run): replayed copies say so.
    pub sent_before: bool,
}

pub struct Outbox {
    dir: PathBuf,
    max_bytes: u64,
    entries: BTreeMap<u64, Entry>,
    next_seq: u64,
    bytes: u64,
    /// Largest number of messages held at once since start (reported in stats).
    pub high_water: usize,
    pub evicted: u64,
    pub write_failures: u64,
    last_failure_log: Option<Instant>,
}

#[derive(Debug, thiserror::Error)]
#[error("outbox {dir}: {reason}; check that the folder exists and is writable (outbox.dir), or fix the disk")]
pub struct OutboxError {
    pub dir: PathBuf,
    pub reason: String,
}

fn priority_code(p: Priority) -> char {
    match p {
        Priority::Assessment => 'a',
        Priority::ExamUpdate => 'u',
        Priority::Keep => 'k',
    }
}

fn parse_priority(c: char) -> Priority {
    match c {
        'a' => Priority::Assessment,
        'u' => Priority::ExamUpdate,
        _ => Priority::Keep,
    }
}

impl Outbox {
    /// Open (creating if needed) and load what a previous run left: those messages are replayed.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Outbox, OutboxError> {
        let err = |reason: String| OutboxError {
            dir: dir.into(),
            reason,
        };
        fs::create_dir_all(dir).map_err(|e| err(format!("cannot create: {e}")))?;
        let mut entries = BTreeMap::new();
        let mut bytes = 0;
        for e in fs::read_dir(dir).map_err(|e| err(format!("cannot read: {e}")))? {
            let Ok(e) = e else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(e.path());
                continue;
            }
            let Some(stem) = name.strip_suffix(".msg") else {
                continue;
            };
            let Some((seq, prio)) = stem.split_once('-') else {
                continue;
            };
            let (Ok(seq), Some(p)) = (seq.parse::<u64>(), prio.chars().next()) else {
                continue;
            };
            let text = match fs::read_to_string(e.path()) {
                Ok(t) => t,
                Err(_) => continue,
            };
            let Some((topic, _)) = text.split_once('\n') else {
                let _ = fs::remove_file(e.path());
                continue;
            };
            let size = text.len() as u64;
            bytes += size;
            entries.insert(
                seq,
                Entry {
                    topic: topic.to_string(),
                    priority: parse_priority(p),
                    bytes: size,
                    payload_in_memory: None,
                    sent: false,
                    sent_before: true,
                },
            );
        }
        // Probe writability now, so a read-only outbox is a start-up error, not a silent loss later.
        let probe = dir.join(".probe.tmp");
        fs::write(&probe, b"").map_err(|e| err(format!("not writable: {e}")))?;
        let _ = fs::remove_file(probe);
        // Message ids must never repeat, even after every message was acked and deleted: the last
        // issued id is kept in `last_id` (renamed into place together with each message).
        let from_files = entries.keys().next_back().map(|s| s + 1).unwrap_or(1);
        let from_counter = fs::read_to_string(dir.join(LAST_ID))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map(|s| s + 1)
            .unwrap_or(1);
        let next_seq = from_files.max(from_counter);
        if !entries.is_empty() {
            log::info!(
                "outbox {}: {} messages from a previous run will be replayed",
                dir.display(),
                entries.len()
            );
        }
        let high_water = entries.len();
        Ok(Outbox {
            dir: dir.into(),
            max_bytes,
            entries,
            next_seq,
            bytes,
            high_water,
            evicted: 0,
            write_failures: 0,
            last_failure_log: None,
        })
    }

    fn path(&self, seq: u64, p: Priority) -> PathBuf {
        self.dir.join(format!("{seq:020}-{}.msg", priority_code(p)))
    }

    /// Store a message durably; returns its sequence number (also the message id subscribers see).
    pub fn push(&mut self, topic: &str, payload: &str, priority: Priority) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let body = format!("{topic}\n{payload}");
        let size = body.len() as u64;
        self.make_room(size);
        let durable = self.write(seq, priority, &body);
        if let Err(e) = &durable {
            self.write_failures += 1;
            if self.last_failure_log.is_none_or(|t| t.elapsed().as_secs() >= 60) {
                log::error!(
                    "outbox {}: cannot store message ({e}); sending it from memory, NOT durable ({} failures so far)",
                    self.dir.display(),
                    self.write_failures
                );
                self.last_failure_log = Some(Instant::now());
            }
        }
        self.bytes += size;
        self.entries.insert(
            seq,
            Entry {
                topic: topic.into(),
                priority,
                bytes: size,
                payload_in_memory: durable.is_err().then(|| payload.to_string()),
                sent: false,
                sent_before: false,
            },
        );
        self.high_water = self.high_water.max(self.entries.len());
        seq
    }

    fn write(&self, seq: u64, priority: Priority, body: &str) -> std::io::Result<()> {
        let path = self.path(seq, priority);
        let tmp = path.with_extension("tmp");
        // A failed write (full disk) must not leave a partial file eating the little space left.
        self.write_inner(seq, &path, &tmp, body).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    fn write_inner(&self, seq: u64, path: &Path, tmp: &Path, body: &str) -> std::io::Result<()> {
        let mut f = fs::File::create(tmp)?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
        fs::rename(tmp, path)?;
        let counter = self.dir.join(format!("{LAST_ID}.tmp"));
        fs::write(&counter, seq.to_string())?;
        fs::rename(&counter, self.dir.join(LAST_ID))?;
        // One directory fsync makes both renames durable.
        fs::File::open(&self.dir)?.sync_all()
    }

    fn make_room(&mut self, incoming: u64) {
        while self.bytes + incoming > self.max_bytes {
            let victim = [Priority::Assessment, Priority::ExamUpdate]
                .iter()
                .find_map(|&p| self.entries.iter().find(|(_, e)| e.priority == p).map(|(s, _)| *s));
            let Some(seq) = victim else { break };
            self.remove(seq);
            self.evicted += 1;
            if self.evicted == 1 || self.evicted.is_multiple_of(1000) {
                log::warn!(
                    "outbox {} full ({} bytes): evicted {} oldest messages so far",
                    self.dir.display(),
                    self.max_bytes,
                    self.evicted
                );
            }
        }
    }

    /// The broker acknowledged `seq`: forget it.
    pub fn remove(&mut self, seq: u64) -> bool {
        match self.entries.remove(&seq) {
            Some(e) => {
                self.bytes -= e.bytes;
                if e.payload_in_memory.is_none() {
                    let _ = fs::remove_file(self.path(seq, e.priority));
                }
                true
            }
            None => false,
        }
    }

    /// The payload of `seq` (from memory or disk).
    pub fn payload(&self, seq: u64) -> Option<String> {
        let e = self.entries.get(&seq)?;
        if let Some(p) = &e.payload_in_memory {
            return Some(p.clone());
        }
        let text = fs::read_to_string(self.path(seq, e.priority)).ok()?;
        text.split_once('\n').map(|(_, p)| p.to_string())
    }

    /// A new connection: everything still here must be sent again.
    pub fn reconnected(&mut self) {
        for e in self.entries.values_mut() {
            if e.sent {
                e.sent_before = true;
            }
            e.sent = false;
        }
    }

    /// Undo `take_unsent` for one message that could not be handed to the client.
    pub fn reconnected_one(&mut self, seq: u64) {
        if let Some(e) = self.entries.get_mut(&seq) {
            e.sent = false;
        }
    }

    /// Up to `limit` messages not yet sent on this connection, oldest first; marks them sent.
    pub fn take_unsent(&mut self, limit: usize) -> Vec<(u64, String, bool)> {
        let mut out = Vec::new();
        for (seq, e) in self.entries.iter_mut() {
            if out.len() >= limit {
                break;
            }
            if !e.sent {
                e.sent = true;
                out.push((*seq, e.topic.clone(), e.sent_before));
            }
        }
        out
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cdposture-outbox-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn survives_a_restart_and_replays_marked_as_sent_before() {
        let d = dir("restart");
        let mut o = Outbox::open(&d, 1 << 20).unwrap();
        let a = o.push("t/a", "{\"x\":1}", Priority::Keep);
        let b = o.push("t/b", "{\"x\":2}", Priority::Assessment);
        assert!(o.remove(a));
        drop(o);
        let mut o = Outbox::open(&d, 1 << 20).unwrap();
        assert_eq!(o.len(), 1);
        let unsent = o.take_unsent(10);
        assert_eq!(unsent, vec![(b, "t/b".to_string(), true)]);
        assert_eq!(o.payload(b).as_deref(), Some("{\"x\":2}"));
        assert!(
            o.push("t/c", "{}", Priority::Keep) > b,
            "sequence continues after a restart"
        );
    }

    #[test]
    fn reconnect_replays_everything_unacked() {
        let d = dir("reconnect");
        let mut o = Outbox::open(&d, 1 << 20).unwrap();
        for i in 0..5 {
            o.push("t", &format!("{i}"), Priority::Assessment);
        }
        assert_eq!(o.take_unsent(3).len(), 3);
        assert_eq!(o.take_unsent(10).len(), 2);
        assert!(o.take_unsent(10).is_empty());
        o.reconnected();
        let again = o.take_unsent(10);
        assert_eq!(again.len(), 5);
        assert!(again.iter().all(|m| m.2), "replayed copies are marked");
    }

    #[test]
    fn full_outbox_evicts_oldest_assessments_first_and_keeps_exam_boundaries() {
        let d = dir("full");
        let mut o = Outbox::open(&d, 1000).unwrap();
        let new = o.push("exam", &"n".repeat(100), Priority::Keep);
        let upd = o.push("exam", &"u".repeat(100), Priority::ExamUpdate);
        for _ in 0..20 {
            o.push("assessment", &"a".repeat(100), Priority::Assessment);
        }
        assert!(o.bytes() <= 1000);
        assert!(o.evicted > 0);
        assert!(
            o.payload(new).is_some() && o.payload(upd).is_some(),
            "exam events outlive assessments"
        );
        for _ in 0..20 {
            o.push("exam", &"u".repeat(100), Priority::ExamUpdate);
        }
        assert!(o.payload(new).is_some(), "exam new/end are never evicted");
        assert!(
            o.payload(upd).is_none(),
            "the oldest update goes once assessments are gone"
        );
    }

    #[test]
    fn unwritable_folder_is_a_clear_startup_error() {
        let e = Outbox::open(Path::new("/proc/cdposture-outbox"), 1 << 20)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("/proc/cdposture-outbox") && e.contains("outbox.dir"), "{e}");
    }
}
