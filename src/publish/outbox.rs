//! The durable outbox: every QoS 1 message (exam events, assessments) is on disk before it is
//! sent, and leaves only when the broker's PUBACK for it arrives. rumqttc alone is not enough: after
//! a reconnect without a session it silently drops every un-acked publish.
//!
//! Layout: one file per message, `<seq>-<priority>.msg` = topic, newline, JSON payload. Written as
//! `.tmp`, fsynced, renamed, and the directory fsynced: a crash leaves either the whole message or
//! nothing (stray `.tmp` files are removed at start). fsync policy: every message, because these are
//! few (assessments at ~1 Hz, exam events every few seconds) and each is a clinical record. The
//! writes happen on the [`OutboxWriter`] thread, never on the measuring thread, and never while
//! holding the lock the MQTT task needs: a message enters the outbox (and can be sent) only once
//! it is on disk.
//!
//! Message ids (the sequence numbers, `msg_id` on the wire) never repeat, across write failures,
//! acknowledged-and-deleted messages, crashes and power loss, and they stay consecutive across
//! restarts (a gap at the gateway means a lost message, not a restart). Each id is recorded in the
//! `ids` file, fsynced, after its message file and before the message can be sent. That file has
//! two fixed 16-byte slots (value, bitwise complement) overwritten in place, alternately: a full
//! disk still takes an in-place overwrite (so an id whose message could not be stored is still
//! recorded), and a write torn by power loss spoils at most the slot being written. A crash
//! between the message file and its record leaves the file, which counts too. A missing, empty,
//! garbled or torn `ids` file is not trusted to be the whole story: ids then continue above a floor
//! from the clock (Unix time in microseconds: no id can
//! be issued faster than one per microsecond, each costs an fsync; still below 2^53, so JSON
//! readers in any language keep it exact), logged.
//!
//! Bound (`outbox.max_bytes`): when full, the OLDEST `assessment` messages are evicted first (they are
//! periodic samples and the exam summaries carry the aggregate), then the oldest exam `update`
//! events; exam `new`/`end` events are never evicted. Every eviction is counted and logged.
//! Retention (`outbox.retain_bytes`, `outbox.retain_s`): an acknowledged message is not deleted
//! but moved to `acked/`, bounded by size and age (oldest go first), so that the clinic gateway
//! can ask for it again (`cmd/resend {"from", "to"}`): a PUBACK only says the broker has it, and a
//! broker restarted without its sessions loses what it held for an absent subscriber. A resend
//! moves the messages back into the outbox with their ids; the reply says which ids are gone.
//! Disk errors (full disk, read-only mount): the message is still sent from memory (best effort, not
//! durable), the failure is counted in `stats` and logged once a minute; nothing stops.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

/// Acknowledged messages kept for resends, under the outbox folder.
const ACKED: &str = "acked";

/// How much of what the broker acknowledged is kept for the gateway's resend requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    pub max_bytes: u64,
    pub max_age: std::time::Duration,
}

/// A message acknowledged by the broker and kept in `acked/`.
#[derive(Debug, Clone, Copy)]
struct Retained {
    priority: Priority,
    bytes: u64,
    acked_at: std::time::SystemTime,
}

/// What a resend request found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resend {
    /// Moved back into the outbox, to be sent again with their ids.
    pub resent: u64,
    /// Still waiting in the outbox (not acknowledged yet): they go out anyway.
    pub pending: u64,
    /// Issued ids in the range that are no longer here (evicted, pruned, or never stored), as
    /// inclusive ranges.
    pub gone: Vec<[u64; 2]>,
}

/// The reserved-id file (two slots) and the single-value file of earlier versions.
const IDS: &str = "ids";
const LEGACY_LAST_ID: &str = "last_id";

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
    ids: IdAllocator,
    bytes: u64,
    /// Largest number of messages held at once since start (reported in stats).
    pub high_water: usize,
    pub evicted: u64,
    pub write_failures: u64,
    /// Messages whose file vanished or became unreadable before they were sent (counted, dropped).
    pub lost: u64,
    last_failure_log: Option<Instant>,
    retention: Option<Retention>,
    retained: BTreeMap<u64, Retained>,
    retained_bytes: u64,
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

fn message_path(dir: &Path, seq: u64, p: Priority) -> PathBuf {
    dir.join(format!("{seq:020}-{}.msg", priority_code(p)))
}

/// Issues consecutive message ids and records each one durably (see the module doc).
struct IdAllocator {
    file: Arc<fs::File>,
    next: u64,
    /// Which slot the next record overwrites (the other one holds the previous id).
    slot: u64,
    record_failures: u64,
}

/// Where one id is to be recorded: the file and the slot. Used outside the outbox lock.
pub struct IdRecord {
    file: Arc<fs::File>,
    slot: u64,
    id: u64,
}

fn write_slot(file: &fs::File, slot: u64, value: u64) -> std::io::Result<()> {
    file.write_all_at(&encode_slot(value), slot * 16)?;
    file.sync_data()
}

impl IdRecord {
    pub fn id(&self) -> u64 {
        self.id
    }
    fn write(&self) -> std::io::Result<()> {
        write_slot(&self.file, self.slot, self.id)
    }
}

fn encode_slot(v: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&v.to_le_bytes());
    b[8..].copy_from_slice(&(!v).to_le_bytes());
    b
}

fn decode_slot(b: &[u8]) -> Option<u64> {
    let v = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
    let check = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
    (check == !v).then_some(v)
}

/// The clock-based floor for ids when the reservation on disk cannot be trusted: microseconds.
fn clock_floor() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl IdAllocator {
    /// `after`: the largest id known from message files. Errors only when the file cannot be created.
    fn open(dir: &Path, after: u64) -> std::io::Result<IdAllocator> {
        let path = dir.join(IDS);
        let existing = fs::read(&path).ok();
        let slots: Vec<Option<u64>> = match &existing {
            Some(b) => vec![
                decode_slot(b.get(..16).unwrap_or(&[])),
                decode_slot(b.get(16..32).unwrap_or(&[])),
            ],
            None => vec![],
        };
        let legacy = fs::read_to_string(dir.join(LEGACY_LAST_ID))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok());
        let trusted = slots.len() == 2 && slots.iter().all(Option::is_some);
        let mut next = after + 1;
        if let Some(v) = slots.iter().flatten().max() {
            next = next.max(v + 1);
        }
        if let Some(v) = legacy {
            next = next.max(v + 1);
        }
        if !trusted && legacy.is_none() {
            // Fresh folder, or a damaged file: the ids issued before are unknown.
            let floor = clock_floor();
            if existing.is_some() || after > 0 {
                log::warn!(
                    "outbox {}: the id file is missing or damaged; message ids continue above {floor} (from the clock) so that none repeats",
                    dir.display()
                );
            }
            next = next.max(floor);
        }
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        // Both slots hold the last id to start with, so that either alone is enough.
        write_slot(&file, 0, next - 1)?;
        write_slot(&file, 1, next - 1)?;
        fs::File::open(dir)?.sync_all()?;
        Ok(IdAllocator {
            file: Arc::new(file),
            next,
            slot: 0,
            record_failures: 0,
        })
    }

    /// The next id, and where to record it once its message file is written.
    fn allocate(&mut self) -> IdRecord {
        let record = IdRecord {
            file: self.file.clone(),
            slot: self.slot,
            id: self.next,
        };
        self.slot ^= 1;
        self.next += 1;
        record
    }
}

/// Write message `id`, then record its id: the order that keeps ids consecutive and unique
/// whatever happens between the two (see the module doc). Both results, for counting.
pub fn store(dir: &Path, id: &IdRecord, priority: Priority, body: &str) -> (std::io::Result<()>, std::io::Result<()>) {
    let written = write_message(dir, id.id(), priority, body);
    (written, id.write())
}

/// Write one message durably: temporary file, fsync, rename, directory fsync.
pub fn write_message(dir: &Path, seq: u64, priority: Priority, body: &str) -> std::io::Result<()> {
    let path = message_path(dir, seq, priority);
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        fs::File::open(dir)?.sync_all()
    };
    // A failed write (full disk) must not leave a partial file eating the little space left.
    write().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
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
        let after = entries.keys().next_back().copied().unwrap_or(0);
        // Also the writability probe: a read-only outbox is a start-up error, not a silent loss later.
        let ids = IdAllocator::open(dir, after).map_err(|e| err(format!("not writable: {e}")))?;
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
            ids,
            bytes,
            high_water,
            evicted: 0,
            write_failures: 0,
            lost: 0,
            last_failure_log: None,
            retention: None,
            retained: BTreeMap::new(),
            retained_bytes: 0,
        })
    }

    /// Keep acknowledged messages for resends (loads what an earlier run kept, then prunes).
    pub fn with_retention(mut self, r: Retention) -> Result<Outbox, OutboxError> {
        let acked = self.dir.join(ACKED);
        fs::create_dir_all(&acked).map_err(|e| OutboxError {
            dir: acked.clone(),
            reason: format!("cannot create: {e}"),
        })?;
        for e in fs::read_dir(&acked).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some((seq, prio)) = name.strip_suffix(".msg").and_then(|s| s.split_once('-')) else {
                continue;
            };
            let (Ok(seq), Some(p), Ok(meta)) = (seq.parse::<u64>(), prio.chars().next(), e.metadata()) else {
                continue;
            };
            let acked_at = meta.modified().unwrap_or_else(|_| std::time::SystemTime::now());
            self.retained_bytes += meta.len();
            self.retained.insert(
                seq,
                Retained {
                    priority: parse_priority(p),
                    bytes: meta.len(),
                    acked_at,
                },
            );
        }
        self.retention = Some(r);
        self.prune_retained();
        Ok(self)
    }

    /// The broker acknowledged `seq`: keep it for resends (with retention), else forget it.
    pub fn acknowledged(&mut self, seq: u64) -> bool {
        let keep = self.retention.is_some_and(|r| r.max_bytes > 0)
            && self.entries.get(&seq).is_some_and(|e| e.payload_in_memory.is_none());
        if !keep {
            return self.remove(seq);
        }
        let Some(e) = self.entries.remove(&seq) else {
            return false;
        };
        self.bytes -= e.bytes;
        let from = message_path(&self.dir, seq, e.priority);
        let to = message_path(&self.dir.join(ACKED), seq, e.priority);
        if fs::rename(&from, &to).is_ok() {
            self.retained_bytes += e.bytes;
            self.retained.insert(
                seq,
                Retained {
                    priority: e.priority,
                    bytes: e.bytes,
                    acked_at: std::time::SystemTime::now(),
                },
            );
            self.prune_retained();
        } else {
            let _ = fs::remove_file(&from);
        }
        true
    }

    /// Drop the oldest retained messages beyond the size or age bound.
    fn prune_retained(&mut self) {
        let Some(r) = self.retention else { return };
        let now = std::time::SystemTime::now();
        while let Some((&seq, old)) = self.retained.iter().next() {
            let too_old = now.duration_since(old.acked_at).is_ok_and(|age| age > r.max_age);
            if self.retained_bytes <= r.max_bytes && !too_old {
                break;
            }
            let _ = fs::remove_file(message_path(&self.dir.join(ACKED), seq, old.priority));
            self.retained_bytes -= old.bytes;
            self.retained.remove(&seq);
        }
    }

    /// Messages `from..=to` again: retained ones go back into the outbox (sent again with their
    /// ids, `replayed`), pending ones are counted, the rest of the issued ids are reported gone.
    pub fn resend(&mut self, from: u64, to: u64) -> Resend {
        self.prune_retained();
        let mut out = Resend::default();
        let to = to.min(self.ids.next.saturating_sub(1));
        if from > to {
            return out;
        }
        let back: Vec<(u64, Retained)> = self.retained.range(from..=to).map(|(s, r)| (*s, *r)).collect();
        for (seq, r) in back {
            let src = message_path(&self.dir.join(ACKED), seq, r.priority);
            let text = fs::read_to_string(&src).ok();
            let topic = text
                .as_deref()
                .and_then(|t| t.split_once('\n'))
                .map(|(t, _)| t.to_string());
            self.retained.remove(&seq);
            self.retained_bytes -= r.bytes;
            let Some(topic) = topic else {
                let _ = fs::remove_file(&src);
                continue;
            };
            if fs::rename(&src, message_path(&self.dir, seq, r.priority)).is_err() {
                continue;
            }
            self.bytes += r.bytes;
            self.entries.insert(
                seq,
                Entry {
                    topic,
                    priority: r.priority,
                    bytes: r.bytes,
                    payload_in_memory: None,
                    sent: false,
                    sent_before: true,
                },
            );
            out.resent += 1;
        }
        out.pending = self.entries.range(from..=to).count() as u64 - out.resent;
        // Whatever in from..=to is now neither in the outbox nor retained is gone.
        let mut next = from;
        for &seq in self.entries.range(from..=to).map(|(s, _)| s) {
            if seq > next {
                out.gone.push([next, seq - 1]);
            }
            next = seq + 1;
        }
        if next <= to {
            out.gone.push([next, to]);
        }
        out
    }

    /// The last id issued (0 before the first): lets the gateway see a loss at the very end.
    pub fn last_issued(&self) -> u64 {
        self.ids.next.saturating_sub(1)
    }

    /// Messages kept for resends, and their bytes (for stats).
    pub fn retained(&self) -> (usize, u64) {
        (self.retained.len(), self.retained_bytes)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The next message id. Record it (see [`store`]) before the message counts as sent.
    pub fn allocate(&mut self) -> IdRecord {
        self.ids.allocate()
    }

    /// Store a message durably, here and now; returns its id. The daemon goes through
    /// [`OutboxWriter`], which does the same off the measuring thread.
    pub fn push(&mut self, topic: &str, payload: &str, priority: Priority) -> u64 {
        let id = self.allocate();
        let body = format!("{topic}\n{payload}");
        let (written, recorded) = store(&self.dir, &id, priority, &body);
        self.insert(id.id(), topic, payload, body.len() as u64, priority, written);
        self.count_record(recorded);
        id.id()
    }

    /// The id record's result: a failure is counted and logged (the id is still unique in this run).
    pub fn count_record(&mut self, recorded: std::io::Result<()>) {
        if let Err(e) = recorded {
            self.ids.record_failures += 1;
            log::error!("outbox {}: cannot record a message id ({e})", self.dir.display());
        }
    }

    /// Account for message `seq`, already written (or not: `written` is the write's result).
    pub fn insert(
        &mut self,
        seq: u64,
        topic: &str,
        payload: &str,
        size: u64,
        priority: Priority,
        written: std::io::Result<()>,
    ) {
        if let Err(e) = &written {
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
        self.make_room(size);
        self.bytes += size;
        self.entries.insert(
            seq,
            Entry {
                topic: topic.into(),
                priority,
                bytes: size,
                payload_in_memory: written.is_err().then(|| payload.to_string()),
                sent: false,
                sent_before: false,
            },
        );
        self.high_water = self.high_water.max(self.entries.len());
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
                    let _ = fs::remove_file(message_path(&self.dir, seq, e.priority));
                }
                true
            }
            None => false,
        }
    }

    /// The payload of `seq` (from memory or disk). A message whose file is gone or unreadable can
    /// never be sent: it is dropped here (counted in `lost`, logged) instead of waiting forever.
    pub fn payload(&mut self, seq: u64) -> Option<String> {
        let e = self.entries.get(&seq)?;
        if let Some(p) = &e.payload_in_memory {
            return Some(p.clone());
        }
        let path = message_path(&self.dir, seq, e.priority);
        let read = fs::read_to_string(&path);
        match read.as_ref().ok().and_then(|t| t.split_once('\n')) {
            Some((_, p)) => Some(p.to_string()),
            None => {
                let why = read
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "no topic line".into());
                log::error!("outbox: message {} is lost ({}: {why})", seq, path.display());
                self.remove(seq);
                self.lost += 1;
                None
            }
        }
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
    /// Times an id could not be recorded (ids stay unique within this run).
    pub fn id_record_failures(&self) -> u64 {
        self.ids.record_failures
    }
}

enum Job {
    Write {
        topic: String,
        payload: String,
        priority: Priority,
    },
    /// Answered once every job before it is done.
    Flush(mpsc::Sender<()>),
}

/// The thread that makes messages durable, so that the measuring thread never waits for a disk
/// (three fsyncs per message on an SD card) nor for the lock while one runs. A message enters the
/// outbox, and becomes visible to the MQTT task, only after its file is on disk.
pub struct OutboxWriter {
    tx: Option<mpsc::Sender<Job>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl OutboxWriter {
    /// `written` is called after each message enters the outbox (wakes the MQTT task).
    pub fn start(outbox: Arc<Mutex<Outbox>>, written: impl Fn() + Send + 'static) -> std::io::Result<OutboxWriter> {
        let (tx, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new().name("outbox".into()).spawn(move || {
            let lock = || outbox.lock().unwrap_or_else(|e| e.into_inner());
            for job in rx {
                match job {
                    Job::Write {
                        topic,
                        payload,
                        priority,
                    } => {
                        let (id, dir) = {
                            let mut o = lock();
                            (o.allocate(), o.dir.clone())
                        };
                        let body = format!("{topic}\n{payload}");
                        // The disk work happens outside the lock the MQTT task needs.
                        let (result, recorded) = store(&dir, &id, priority, &body);
                        let mut o = lock();
                        o.insert(id.id(), &topic, &payload, body.len() as u64, priority, result);
                        o.count_record(recorded);
                        drop(o);
                        written();
                    }
                    Job::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        })?;
        Ok(OutboxWriter {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Queue a message; returns at once.
    pub fn push(&self, topic: String, payload: String, priority: Priority) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Job::Write {
                topic,
                payload,
                priority,
            });
        }
    }

    /// Wait until every message queued so far is in the outbox.
    pub fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if let Some(tx) = &self.tx {
            if tx.send(Job::Flush(done_tx)).is_ok() {
                let _ = done_rx.recv();
            }
        }
    }
}

impl Drop for OutboxWriter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
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

    fn retention(bytes: u64) -> Retention {
        Retention {
            max_bytes: bytes,
            max_age: std::time::Duration::from_secs(3600),
        }
    }

    #[test]
    fn acknowledged_messages_are_kept_and_sent_again_with_their_ids() {
        let d = dir("resend");
        let mut o = Outbox::open(&d, 1 << 20)
            .unwrap()
            .with_retention(retention(1 << 20))
            .unwrap();
        let ids: Vec<u64> = (0..6)
            .map(|i| o.push("t/a", &format!("{{\"i\":{i}}}"), Priority::Assessment))
            .collect();
        o.take_unsent(10);
        for &id in &ids[..5] {
            assert!(o.acknowledged(id));
        }
        assert_eq!((o.len(), o.retained().0), (1, 5));
        // Survives a restart.
        drop(o);
        let mut o = Outbox::open(&d, 1 << 20)
            .unwrap()
            .with_retention(retention(1 << 20))
            .unwrap();
        assert_eq!(o.retained().0, 5);
        o.take_unsent(10);
        // Ask for one id before the first, two kept, and the pending last one.
        let r = o.resend(ids[0] - 1, ids[5]);
        assert_eq!(r.resent, 5);
        assert_eq!(r.pending, 1);
        assert_eq!(
            r.gone,
            vec![[ids[0] - 1, ids[0] - 1]],
            "ids issued before this outbox are gone"
        );
        let again = o.take_unsent(10);
        assert_eq!(again.iter().map(|m| m.0).collect::<Vec<_>>(), ids[..5].to_vec());
        assert!(again.iter().all(|m| m.2), "sent again as replayed");
        assert_eq!(o.payload(ids[2]).as_deref(), Some("{\"i\":2}"));
        // Ids not issued yet are neither resent nor gone.
        assert_eq!(o.resend(ids[5] + 1, ids[5] + 100), Resend::default());
    }

    #[test]
    fn retention_is_bounded_oldest_first_and_what_was_pruned_is_gone() {
        let d = dir("retain-bound");
        let body = "x".repeat(100);
        let mut o = Outbox::open(&d, 1 << 20)
            .unwrap()
            .with_retention(retention(350))
            .unwrap();
        let ids: Vec<u64> = (0..6).map(|_| o.push("t", &body, Priority::Assessment)).collect();
        o.take_unsent(10);
        for &id in &ids {
            o.acknowledged(id);
        }
        // 102 bytes a message (topic, newline, body): three fit in 350.
        assert_eq!(o.retained().0, 3);
        let r = o.resend(ids[0], ids[5]);
        assert_eq!((r.resent, r.gone), (3, vec![[ids[0], ids[2]]]));
        // Without retention an acknowledged message is deleted, as before.
        let d2 = dir("retain-none");
        let mut o = Outbox::open(&d2, 1 << 20).unwrap();
        let id = o.push("t", "{}", Priority::Keep);
        o.acknowledged(id);
        assert_eq!(o.retained().0, 0);
        assert_eq!(o.resend(id, id).gone, vec![[id, id]]);
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

    /// Makes the next message's write fail: a directory where its temporary file must go.
    fn block_next_write(o: &Outbox, p: Priority) {
        let tmp = message_path(&o.dir, o.ids.next, p).with_extension("tmp");
        fs::create_dir_all(tmp).unwrap();
    }

    #[test]
    fn ids_never_repeat_after_a_failed_write() {
        let d = dir("ids-write-failure");
        let mut o = Outbox::open(&d, 1 << 20).unwrap();
        let a = o.push("t", "{}", Priority::Keep);
        block_next_write(&o, Priority::Keep);
        let b = o.push("t", "{}", Priority::Keep);
        assert_eq!(o.write_failures, 1, "the write really failed");
        assert_eq!(o.payload(b).as_deref(), Some("{}"), "sent from memory");
        drop(o);
        let mut o = Outbox::open(&d, 1 << 20).unwrap();
        let c = o.push("t", "{}", Priority::Keep);
        assert_eq!(
            (b, c),
            (a + 1, b + 1),
            "ids {a}, {b} (not durable), then {c} after a restart"
        );
    }

    #[test]
    fn ids_never_repeat_after_every_message_was_acked() {
        let d = dir("ids-acked");
        let mut o = Outbox::open(&d, 1 << 20).unwrap();
        let issued: Vec<u64> = (0..3).map(|_| o.push("t", "{}", Priority::Keep)).collect();
        for id in &issued {
            assert!(o.remove(*id));
        }
        drop(o);
        let mut o = Outbox::open(&d, 1 << 20).unwrap();
        let next = o.push("t", "{}", Priority::Keep);
        assert_eq!(next, issued[2] + 1, "consecutive after {issued:?}");
    }

    #[test]
    fn a_crash_between_the_message_and_its_id_record_neither_repeats_nor_skips() {
        let d = dir("ids-crash");
        let mut o = Outbox::open(&d, 1 << 20).unwrap();
        let a = o.push("t", "{}", Priority::Keep);
        // The next message's file is written, then the process dies before recording its id.
        let id = o.allocate();
        write_message(&d, id.id(), Priority::Keep, "t\n{}").unwrap();
        drop(o);
        let mut o = Outbox::open(&d, 1 << 20).unwrap();
        assert_eq!(o.len(), 2, "the unrecorded message is replayed");
        assert_eq!(o.push("t", "{}", Priority::Keep), a + 2);
        // Dies before the message file: the id was never used, and is used next.
        let unused = o.allocate().id();
        drop(o);
        let mut o = Outbox::open(&d, 1 << 20).unwrap();
        assert_eq!(o.push("t", "{}", Priority::Keep), unused);
    }

    #[test]
    fn a_damaged_id_file_never_restarts_the_ids() {
        for (case, damage) in [
            ("empty", vec![]),
            ("garbled", b"not a number\n".to_vec()),
            ("one slot torn", {
                let mut b = encode_slot(7).to_vec();
                b.extend_from_slice(&[0xff; 16]);
                b
            }),
        ] {
            let d = dir(&format!("ids-damaged-{}", case.replace(' ', "-")));
            let mut o = Outbox::open(&d, 1 << 20).unwrap();
            let mut last = 0;
            for _ in 0..10 {
                last = o.push("t", "{}", Priority::Assessment);
                o.remove(last);
            }
            drop(o);
            fs::write(d.join(IDS), &damage).unwrap();
            let mut o = Outbox::open(&d, 1 << 20).unwrap();
            let next = o.push("t", "{}", Priority::Assessment);
            assert!(next > last, "{case}: {next} after {last}");
        }
    }

    #[test]
    fn a_vanished_message_file_is_dropped_and_counted_not_kept_forever() {
        let d = dir("vanished");
        let mut o = Outbox::open(&d, 1 << 20).unwrap();
        let a = o.push("t/a", "{}", Priority::Keep);
        let b = o.push("t/b", "{}", Priority::Keep);
        fs::remove_file(message_path(&d, a, Priority::Keep)).unwrap();
        let unsent = o.take_unsent(10);
        assert_eq!(unsent.len(), 2);
        assert_eq!(o.payload(a), None);
        assert_eq!(o.payload(b).as_deref(), Some("{}"));
        assert_eq!(
            (o.len(), o.lost),
            (1, 1),
            "the lost entry does not wait for an ack forever"
        );
    }

    #[test]
    fn the_writer_thread_stores_messages_before_they_can_be_sent() {
        let d = dir("writer");
        let outbox = Arc::new(Mutex::new(Outbox::open(&d, 1 << 20).unwrap()));
        let woken = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let w = woken.clone();
        let writer = OutboxWriter::start(outbox.clone(), move || {
            w.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        for i in 0..20 {
            writer.push("t".into(), format!("{{\"i\":{i}}}"), Priority::Assessment);
        }
        writer.flush();
        assert_eq!(woken.load(std::sync::atomic::Ordering::Relaxed), 20);
        let mut o = outbox.lock().unwrap();
        let unsent = o.take_unsent(100);
        assert_eq!(unsent.len(), 20);
        for (seq, _, _) in unsent {
            assert!(
                message_path(&d, seq, Priority::Assessment).is_file(),
                "on disk before it is visible"
            );
        }
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
