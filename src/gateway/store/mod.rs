//! Everything the gateway keeps: rooms and their availability history, exams with their running
//! summary, the assessment time series, the ids received per room (for de-duplication and gap
//! repair) and an append-only audit table. One implementation of the logic on a small [`Db`]
//! interface with two engines: SQLite (one file, one process) and PostgreSQL (replicas share it).
//!
//! Idempotent by construction: every durable message first claims `(room, msg_id)` in `received`
//! (unique); a replayed or duplicated message claims nothing and changes nothing. An exam's summary
//! is the one of its event with the highest `msg_id`, so events applied out of order (two replicas,
//! a resend) cannot roll it back, and `ended` is set once. Conditional UPDATEs make the same rules
//! hold between concurrent replicas on PostgreSQL.

mod postgres;
mod sqlite;

use super::inbound::{Body, ExamEventIn, ExamEventKind, Inbound, Sample};
use crate::config::gateway::DatabaseSettings;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(String),
    #[error("cannot open the database at {target}: {why}")]
    Open { target: String, why: String },
}

/// A value crossing the [`Db`] interface. Columns are typed the same on both engines: REAL/DOUBLE
/// PRECISION ↔ `F64`, INTEGER/BIGINT ↔ `I64`, TEXT ↔ `Text`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    I64(i64),
    F64(f64),
    Text(String),
}

impl Value {
    pub fn f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            Value::I64(v) => Some(*v as f64),
            _ => None,
        }
    }
    pub fn i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    fn opt_f64(v: Option<f64>) -> Value {
        v.filter(|x| x.is_finite()).map_or(Value::Null, Value::F64)
    }
    fn opt_text(v: Option<&str>) -> Value {
        v.map_or(Value::Null, |s| Value::Text(s.to_string()))
    }
    fn opt_i64(v: Option<i64>) -> Value {
        v.map_or(Value::Null, Value::I64)
    }
}

/// The engine underneath: SQL with `?` placeholders (PostgreSQL's are rewritten to `$n`).
pub trait Db: Send {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StoreError>;
    /// Several statements without parameters (DDL, BEGIN, COMMIT).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// DDL spelled for this engine: `{id}` an auto-increment key, `{real}`, `{bigint}`.
    fn ddl(&self, template: &str) -> String;
    /// Held across migrations so replicas starting together do not both migrate.
    fn lock_migrations(&mut self) -> Result<(), StoreError>;
}

/// Schema versions in order; each runs once, in a transaction, recorded in `schema_version`.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE rooms (
        room TEXT PRIMARY KEY,
        available TEXT NOT NULL,
        available_since {real} NOT NULL,
        first_seen {real} NOT NULL,
        state TEXT,
        state_time {real},
        stats TEXT,
        stats_time {real}
    );
    CREATE TABLE availability (
        id {id},
        room TEXT NOT NULL,
        status TEXT NOT NULL,
        time {real} NOT NULL
    );
    CREATE INDEX availability_room ON availability (room, time);
    CREATE TABLE received (
        room TEXT NOT NULL,
        msg_id {bigint} NOT NULL,
        topic TEXT NOT NULL,
        time {real} NOT NULL,
        replica TEXT NOT NULL,
        PRIMARY KEY (room, msg_id)
    );
    CREATE TABLE exams (
        room TEXT NOT NULL,
        exam_id TEXT NOT NULL,
        started {real} NOT NULL,
        ended {real},
        updated {real} NOT NULL,
        summary TEXT NOT NULL,
        neutral TEXT NOT NULL,
        last_msg_id {bigint} NOT NULL,
        interrupted {bigint} NOT NULL,
        PRIMARY KEY (room, exam_id)
    );
    CREATE INDEX exams_started ON exams (started);
    CREATE TABLE exam_events (
        room TEXT NOT NULL,
        msg_id {bigint} NOT NULL,
        exam_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        time {real} NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (room, msg_id)
    );
    CREATE TABLE samples (
        room TEXT NOT NULL,
        msg_id {bigint} NOT NULL,
        exam_id TEXT,
        time {real} NOT NULL,
        frame {bigint} NOT NULL,
        quality_ok {bigint} NOT NULL,
        scored_in TEXT,
        yaw {real}, pitch {real}, roll {real},
        shoulder_elevation {real}, lateral_shift {real}, sagittal_shift {real},
        rotation {bigint}, laterocollis {bigint}, antero_retrocollis {bigint},
        lateral_shift_score {bigint}, sagittal_shift_score {bigint},
        rotation_source TEXT,
        payload TEXT NOT NULL,
        PRIMARY KEY (room, msg_id)
    );
    CREATE INDEX samples_exam ON samples (room, exam_id, time);
    CREATE TABLE audit (
        id {id},
        time {real} NOT NULL,
        replica TEXT NOT NULL,
        room TEXT,
        event TEXT NOT NULL,
        detail TEXT NOT NULL
    );",
    // 2: gap repair's per-room watermark (every id up to it is stored or known gone).
    "CREATE TABLE repair (
        room TEXT PRIMARY KEY,
        watermark {bigint} NOT NULL,
        updated {real} NOT NULL
    );",
    // 3: the device's identity card (`info`: version, model hashes, config fingerprint).
    "ALTER TABLE rooms ADD COLUMN info TEXT;",
];

/// What applying one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Stored,
    /// Its `(room, msg_id)` was stored before: nothing changed.
    Duplicate,
}

pub struct Store {
    db: Box<dyn Db>,
    /// Who writes (the replica's name), for `received` and the audit trail.
    replica: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RoomRow {
    pub room: String,
    pub available: String,
    pub available_since: f64,
    pub first_seen: f64,
    pub state: Option<serde_json::Value>,
    pub state_time: Option<f64>,
    pub stats: Option<serde_json::Value>,
    pub open_exam: Option<String>,
    /// The device's identity card: version, model hashes, config fingerprint.
    pub info: Option<serde_json::Value>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExamRow {
    pub room: String,
    pub exam_id: String,
    pub started: f64,
    pub ended: Option<f64>,
    pub updated: f64,
    pub interrupted: bool,
    pub summary: serde_json::Value,
    pub neutral: serde_json::Value,
    pub samples: i64,
}

/// One row of an exam's time series: the report's row type, so the page reads both alike.
pub use crate::report::exam_page::SeriesRow as SampleRow;

#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub time: f64,
    pub replica: String,
    pub room: Option<String>,
    pub event: String,
    pub detail: String,
}

/// `GET /api/exams` filters.
#[derive(Debug, Clone, Default)]
pub struct ExamFilter {
    pub room: Option<String>,
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub open: Option<bool>,
    pub limit: i64,
}

fn json_or_null(v: Option<&Value>) -> Option<serde_json::Value> {
    v.and_then(Value::text).and_then(|s| serde_json::from_str(s).ok())
}

impl Store {
    pub fn open(settings: &DatabaseSettings, replica: &str) -> Result<Store, StoreError> {
        let db: Box<dyn Db> = match settings {
            DatabaseSettings::Sqlite(path) => Box::new(sqlite::Sqlite::open(path)?),
            DatabaseSettings::Postgres { url, password } => Box::new(postgres::Postgres::open(url, password.as_ref())?),
        };
        Ok(Store {
            db,
            replica: replica.to_string(),
        })
    }

    /// Bring the schema up to date (idempotent; safe with replicas starting together).
    pub fn migrate(&mut self) -> Result<u32, StoreError> {
        self.db.batch("BEGIN")?;
        let r = self.migrate_locked();
        match r {
            Ok(v) => {
                self.db.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.db.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn migrate_locked(&mut self) -> Result<u32, StoreError> {
        self.db.lock_migrations()?;
        self.db
            .batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
        let rows = self.db.query("SELECT MAX(version) FROM schema_version", &[])?;
        let current = rows.first().and_then(|r| r[0].i64()).unwrap_or(0) as usize;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(current) {
            let ddl = self.db.ddl(m);
            self.db.batch(&ddl)?;
            self.db.execute(
                "INSERT INTO schema_version (version) VALUES (?)",
                &[Value::I64(i as i64 + 1)],
            )?;
            log::info!("database schema migrated to version {}", i + 1);
        }
        Ok(MIGRATIONS.len() as u32)
    }

    /// Apply a batch in one transaction: all of it is stored, or none (the caller acknowledges
    /// the messages to the broker only after this returns `Ok`).
    pub fn apply<'a>(&mut self, batch: impl IntoIterator<Item = &'a Inbound>) -> Result<Vec<Applied>, StoreError> {
        self.db.batch("BEGIN")?;
        let mut out = Vec::new();
        for m in batch {
            match self.apply_one(m) {
                Ok(a) => out.push(a),
                Err(e) => {
                    let _ = self.db.batch("ROLLBACK");
                    return Err(e);
                }
            }
        }
        self.db.batch("COMMIT")?;
        Ok(out)
    }

    fn apply_one(&mut self, m: &Inbound) -> Result<Applied, StoreError> {
        self.ensure_room(&m.room, m.received)?;
        match &m.body {
            Body::Available(status) => {
                self.available(&m.room, status, m.received)?;
                Ok(Applied::Stored)
            }
            Body::State { time, payload } => {
                self.latest(&m.room, "state", *time, payload)?;
                Ok(Applied::Stored)
            }
            Body::Stats { time, payload } => {
                self.latest(&m.room, "stats", *time, payload)?;
                Ok(Applied::Stored)
            }
            Body::Info { payload } => {
                self.device_info(&m.room, payload)?;
                Ok(Applied::Stored)
            }
            Body::Assessment {
                msg_id,
                sample,
                payload,
            } => {
                if !self.claim(&m.room, *msg_id, "assessment", m.received)? {
                    return Ok(Applied::Duplicate);
                }
                self.sample(&m.room, *msg_id, sample, payload)?;
                Ok(Applied::Stored)
            }
            Body::Exam { msg_id, event, payload } => {
                if !self.claim(&m.room, *msg_id, "exam", m.received)? {
                    return Ok(Applied::Duplicate);
                }
                self.exam_event(&m.room, *msg_id, event, payload)?;
                Ok(Applied::Stored)
            }
        }
    }

    fn ensure_room(&mut self, room: &str, now: f64) -> Result<(), StoreError> {
        let n = self.db.execute(
            "INSERT INTO rooms (room, available, available_since, first_seen) VALUES (?, 'unknown', ?, ?) \
             ON CONFLICT (room) DO NOTHING",
            &[Value::Text(room.into()), Value::F64(now), Value::F64(now)],
        )?;
        if n == 1 {
            self.audit_in_tx(Some(room), "room_first_seen", "")?;
        }
        Ok(())
    }

    fn available(&mut self, room: &str, status: &str, now: f64) -> Result<(), StoreError> {
        let changed = self.db.execute(
            "UPDATE rooms SET available = ?, available_since = ? WHERE room = ? AND available <> ?",
            &[
                Value::Text(status.into()),
                Value::F64(now),
                Value::Text(room.into()),
                Value::Text(status.into()),
            ],
        )?;
        if changed == 1 {
            self.db.execute(
                "INSERT INTO availability (room, status, time) VALUES (?, ?, ?)",
                &[Value::Text(room.into()), Value::Text(status.into()), Value::F64(now)],
            )?;
        }
        Ok(())
    }

    /// A room's identity card; a new or changed one goes to the audit trail (once, whichever
    /// replica sees it first).
    fn device_info(&mut self, room: &str, payload: &str) -> Result<(), StoreError> {
        let changed = self.db.execute(
            "UPDATE rooms SET info = ? WHERE room = ? AND (info IS NULL OR info <> ?)",
            &[
                Value::Text(payload.into()),
                Value::Text(room.into()),
                Value::Text(payload.into()),
            ],
        )?;
        if changed == 1 {
            self.audit_in_tx(Some(room), "device_info", payload)?;
        }
        Ok(())
    }

    /// The latest `state` or `stats` of a room; an older one never overwrites a newer one.
    fn latest(&mut self, room: &str, column: &str, time: f64, payload: &str) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE rooms SET {column} = ?, {column}_time = ? WHERE room = ? AND ({column}_time IS NULL OR {column}_time <= ?)"
        );
        self.db.execute(
            &sql,
            &[
                Value::Text(payload.into()),
                Value::F64(time),
                Value::Text(room.into()),
                Value::F64(time),
            ],
        )?;
        Ok(())
    }

    /// Claim `(room, msg_id)`; false if it was stored before.
    fn claim(&mut self, room: &str, msg_id: u64, topic: &str, now: f64) -> Result<bool, StoreError> {
        let id = i64::try_from(msg_id).map_err(|_| StoreError::Db(format!("msg_id {msg_id} is out of range")))?;
        let n = self.db.execute(
            "INSERT INTO received (room, msg_id, topic, time, replica) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (room, msg_id) DO NOTHING",
            &[
                Value::Text(room.into()),
                Value::I64(id),
                Value::Text(topic.into()),
                Value::F64(now),
                Value::Text(self.replica.clone()),
            ],
        )?;
        Ok(n == 1)
    }

    fn sample(&mut self, room: &str, msg_id: u64, s: &Sample, payload: &str) -> Result<(), StoreError> {
        let score = |x: Option<super::inbound::SubScoreIn>| Value::opt_i64(x.map(|s| s.score));
        let a = s.angles;
        self.db.execute(
            "INSERT INTO samples (room, msg_id, exam_id, time, frame, quality_ok, scored_in, yaw, pitch, roll, \
             shoulder_elevation, lateral_shift, sagittal_shift, rotation, laterocollis, antero_retrocollis, \
             lateral_shift_score, sagittal_shift_score, rotation_source, payload) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (room, msg_id) DO NOTHING",
            &[
                Value::Text(room.into()),
                Value::I64(msg_id as i64),
                Value::opt_text(s.exam_id.as_deref()),
                Value::F64(s.time),
                Value::I64(s.frame.min(i64::MAX as u64) as i64),
                Value::I64(s.quality_ok as i64),
                Value::opt_text(s.scored_in.as_deref()),
                Value::opt_f64(a.map(|a| a.yaw)),
                Value::opt_f64(a.map(|a| a.pitch)),
                Value::opt_f64(a.map(|a| a.roll)),
                Value::opt_f64(s.shoulder_elevation),
                Value::opt_f64(s.lateral_shift),
                Value::opt_f64(s.sagittal_shift),
                score(s.scores.rotation),
                score(s.scores.laterocollis),
                score(s.scores.antero_retrocollis),
                score(s.scores.lateral_shift),
                score(s.scores.sagittal_shift),
                Value::opt_text(s.rotation_source.as_deref()),
                Value::Text(payload.into()),
            ],
        )?;
        Ok(())
    }

    fn exam_event(&mut self, room: &str, msg_id: u64, e: &ExamEventIn, payload: &str) -> Result<(), StoreError> {
        let kind = match e.kind {
            ExamEventKind::New => "new",
            ExamEventKind::Update => "update",
            ExamEventKind::End => "end",
        };
        let (r, x, id) = (
            Value::Text(room.into()),
            Value::Text(e.exam_id.clone()),
            Value::I64(msg_id as i64),
        );
        let summary = Value::Text(e.summary.to_string());
        let neutral = Value::Text(e.neutral.to_string());
        self.db.execute(
            "INSERT INTO exam_events (room, msg_id, exam_id, kind, time, payload) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (room, msg_id) DO NOTHING",
            &[
                r.clone(),
                id.clone(),
                x.clone(),
                Value::Text(kind.into()),
                Value::F64(e.time),
                Value::Text(payload.into()),
            ],
        )?;
        let inserted = self.db.execute(
            "INSERT INTO exams (room, exam_id, started, ended, updated, summary, neutral, last_msg_id, interrupted) \
             VALUES (?, ?, ?, NULL, ?, ?, ?, ?, 0) ON CONFLICT (room, exam_id) DO NOTHING",
            &[
                r.clone(),
                x.clone(),
                Value::F64(e.time),
                Value::F64(e.time),
                summary.clone(),
                neutral.clone(),
                id.clone(),
            ],
        )?;
        if inserted == 0 {
            // The `new` event is the earliest of an exam's events, whichever arrives first.
            self.db.execute(
                "UPDATE exams SET started = ? WHERE room = ? AND exam_id = ? AND started > ?",
                &[Value::F64(e.time), r.clone(), x.clone(), Value::F64(e.time)],
            )?;
            self.db.execute(
                "UPDATE exams SET summary = ?, neutral = ?, updated = ?, last_msg_id = ? \
                 WHERE room = ? AND exam_id = ? AND last_msg_id < ?",
                &[
                    summary,
                    neutral,
                    Value::F64(e.time),
                    id.clone(),
                    r.clone(),
                    x.clone(),
                    id,
                ],
            )?;
        }
        let by = e.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
        match e.kind {
            ExamEventKind::New => self.audit_in_tx(Some(room), "exam_started", &format!("exam {}{by}", e.exam_id))?,
            ExamEventKind::End => {
                let ended = self.db.execute(
                    "UPDATE exams SET ended = ?, interrupted = ? WHERE room = ? AND exam_id = ? AND ended IS NULL",
                    &[Value::F64(e.time), Value::I64(e.interrupted as i64), r, x],
                )?;
                if ended == 1 {
                    let how = if e.interrupted {
                        " (interrupted by a restart)"
                    } else {
                        ""
                    };
                    self.audit_in_tx(Some(room), "exam_ended", &format!("exam {}{by}{how}", e.exam_id))?;
                }
            }
            ExamEventKind::Update if e.resumed => self.audit_in_tx(
                Some(room),
                "exam_resumed",
                &format!("exam {} after a restart", e.exam_id),
            )?,
            ExamEventKind::Update => {}
        }
        Ok(())
    }

    fn audit_in_tx(&mut self, room: Option<&str>, event: &str, detail: &str) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO audit (time, replica, room, event, detail) VALUES (?, ?, ?, ?, ?)",
            &[
                Value::F64(now()),
                Value::Text(self.replica.clone()),
                Value::opt_text(room),
                Value::Text(event.into()),
                Value::Text(detail.into()),
            ],
        )?;
        Ok(())
    }

    /// Append to the audit trail (its own transaction).
    pub fn audit(&mut self, room: Option<&str>, event: &str, detail: &str) -> Result<(), StoreError> {
        self.audit_in_tx(room, event, detail)
    }

    pub fn rooms(&mut self) -> Result<Vec<RoomRow>, StoreError> {
        let rows = self.db.query(
            "SELECT r.room, r.available, r.available_since, r.first_seen, r.state, r.state_time, r.stats, \
             (SELECT e.exam_id FROM exams e WHERE e.room = r.room AND e.ended IS NULL ORDER BY e.started DESC LIMIT 1), \
             r.info FROM rooms r ORDER BY r.room",
            &[],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| RoomRow {
                room: r[0].text().unwrap_or_default().into(),
                available: r[1].text().unwrap_or_default().into(),
                available_since: r[2].f64().unwrap_or(0.0),
                first_seen: r[3].f64().unwrap_or(0.0),
                state: json_or_null(r.get(4)),
                state_time: r[5].f64(),
                stats: json_or_null(r.get(6)),
                open_exam: r[7].text().map(str::to_string),
                info: json_or_null(r.get(8)),
            })
            .collect())
    }

    const EXAM_COLUMNS: &'static str =
        "e.room, e.exam_id, e.started, e.ended, e.updated, e.interrupted, e.summary, e.neutral, \
         (SELECT COUNT(*) FROM samples s WHERE s.room = e.room AND s.exam_id = e.exam_id)";

    fn exam_row(r: Vec<Value>) -> ExamRow {
        ExamRow {
            room: r[0].text().unwrap_or_default().into(),
            exam_id: r[1].text().unwrap_or_default().into(),
            started: r[2].f64().unwrap_or(0.0),
            ended: r[3].f64(),
            updated: r[4].f64().unwrap_or(0.0),
            interrupted: r[5].i64() == Some(1),
            summary: json_or_null(r.get(6)).unwrap_or(serde_json::Value::Null),
            neutral: json_or_null(r.get(7)).unwrap_or(serde_json::Value::Null),
            samples: r[8].i64().unwrap_or(0),
        }
    }

    pub fn exams(&mut self, f: &ExamFilter) -> Result<Vec<ExamRow>, StoreError> {
        let mut sql = format!("SELECT {} FROM exams e WHERE 1 = 1", Self::EXAM_COLUMNS);
        let mut params = Vec::new();
        if let Some(room) = &f.room {
            sql.push_str(" AND e.room = ?");
            params.push(Value::Text(room.clone()));
        }
        if let Some(t) = f.since {
            sql.push_str(" AND e.started >= ?");
            params.push(Value::F64(t));
        }
        if let Some(t) = f.until {
            sql.push_str(" AND e.started < ?");
            params.push(Value::F64(t));
        }
        match f.open {
            Some(true) => sql.push_str(" AND e.ended IS NULL"),
            Some(false) => sql.push_str(" AND e.ended IS NOT NULL"),
            None => {}
        }
        sql.push_str(" ORDER BY e.started DESC, e.room, e.exam_id LIMIT ?");
        params.push(Value::I64(f.limit.clamp(1, 10_000)));
        Ok(self.db.query(&sql, &params)?.into_iter().map(Self::exam_row).collect())
    }

    pub fn exam(&mut self, room: &str, exam_id: &str) -> Result<Option<ExamRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM exams e WHERE e.room = ? AND e.exam_id = ?",
            Self::EXAM_COLUMNS
        );
        let rows = self
            .db
            .query(&sql, &[Value::Text(room.into()), Value::Text(exam_id.into())])?;
        Ok(rows.into_iter().next().map(Self::exam_row))
    }

    pub fn series(&mut self, room: &str, exam_id: &str) -> Result<Vec<SampleRow>, StoreError> {
        let rows = self.db.query(
            "SELECT msg_id, time, frame, quality_ok, scored_in, yaw, pitch, roll, shoulder_elevation, lateral_shift, \
             sagittal_shift, rotation, laterocollis, antero_retrocollis, lateral_shift_score, sagittal_shift_score, \
             rotation_source FROM samples WHERE room = ? AND exam_id = ? ORDER BY time, msg_id",
            &[Value::Text(room.into()), Value::Text(exam_id.into())],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| SampleRow {
                msg_id: r[0].i64().unwrap_or(0),
                time: r[1].f64().unwrap_or(0.0),
                frame: r[2].i64().unwrap_or(0),
                quality_ok: r[3].i64() == Some(1),
                scored_in: r[4].text().map(str::to_string),
                yaw: r[5].f64(),
                pitch: r[6].f64(),
                roll: r[7].f64(),
                shoulder_elevation: r[8].f64(),
                lateral_shift: r[9].f64(),
                sagittal_shift: r[10].f64(),
                rotation: r[11].i64(),
                laterocollis: r[12].i64(),
                antero_retrocollis: r[13].i64(),
                lateral_shift_score: r[14].i64(),
                sagittal_shift_score: r[15].i64(),
                rotation_source: r[16].text().map(str::to_string),
            })
            .collect())
    }

    pub fn audit_trail(&mut self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = self.db.query(
            "SELECT id, time, replica, room, event, detail FROM audit ORDER BY id DESC LIMIT ?",
            &[Value::I64(limit.clamp(1, 10_000))],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| AuditRow {
                id: r[0].i64().unwrap_or(0),
                time: r[1].f64().unwrap_or(0.0),
                replica: r[2].text().unwrap_or_default().into(),
                room: r[3].text().map(str::to_string),
                event: r[4].text().unwrap_or_default().into(),
                detail: r[5].text().unwrap_or_default().into(),
            })
            .collect())
    }

    /// Every durable `msg_id` stored for a room, ascending (for gap detection).
    pub fn received_ids(&mut self, room: &str, from: u64) -> Result<Vec<u64>, StoreError> {
        let rows = self.db.query(
            "SELECT msg_id FROM received WHERE room = ? AND msg_id >= ? ORDER BY msg_id",
            &[Value::Text(room.into()), Value::I64(from.min(i64::MAX as u64) as i64)],
        )?;
        Ok(rows.into_iter().filter_map(|r| r[0].i64()).map(|v| v as u64).collect())
    }

    pub fn room_names(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = self.db.query("SELECT room FROM rooms ORDER BY room", &[])?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r[0].text().map(str::to_string))
            .collect())
    }

    pub fn watermark(&mut self, room: &str) -> Result<Option<u64>, StoreError> {
        let rows = self.db.query(
            "SELECT watermark FROM repair WHERE room = ?",
            &[Value::Text(room.into())],
        )?;
        Ok(rows.first().and_then(|r| r[0].i64()).map(|v| v as u64))
    }

    /// Raise a room's watermark (never lowers it: another replica may be ahead).
    pub fn set_watermark(&mut self, room: &str, watermark: u64) -> Result<(), StoreError> {
        let w = Value::I64(watermark.min(i64::MAX as u64) as i64);
        let (r, t) = (Value::Text(room.into()), Value::F64(now()));
        self.db.execute(
            "INSERT INTO repair (room, watermark, updated) VALUES (?, ?, ?) ON CONFLICT (room) DO NOTHING",
            &[r.clone(), w.clone(), t.clone()],
        )?;
        self.db.execute(
            "UPDATE repair SET watermark = ?, updated = ? WHERE room = ? AND watermark < ?",
            &[w.clone(), t, r, w],
        )?;
        Ok(())
    }

    /// The stored durable ids of a room as inclusive ranges (for `/api/rooms/{room}/ids`).
    pub fn id_ranges(&mut self, room: &str) -> Result<Vec<[u64; 2]>, StoreError> {
        let mut ranges: Vec<[u64; 2]> = Vec::new();
        for id in self.received_ids(room, 0)? {
            match ranges.last_mut() {
                Some(last) if last[1] + 1 == id => last[1] = id,
                _ => ranges.push([id, id]),
            }
        }
        Ok(ranges)
    }

    /// A cheap round trip, for `/healthz`.
    pub fn ping(&mut self) -> Result<(), StoreError> {
        self.db.query("SELECT 1", &[]).map(|_| ())
    }
}

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests;
