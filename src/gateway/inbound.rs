//! What arrives from the rooms, checked before anything is stored: the topic names the room and
//! the kind, the payload must be JSON of a schema version we know, for the room in its topic (and
//! an allowed room), within the size limit. Anything else is a [`Rejection`]: counted by reason,
//! logged once per reason and room, never a crash. Parsing is lenient about fields added by later
//! daemons (unknown keys are kept in the stored payload, not refused).

use serde::Deserialize;

/// Schema versions of `docs/schema.json` this gateway understands.
pub const KNOWN_SCHEMAS: &[u64] = &[1];

/// One message from a room, parsed.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub room: String,
    /// Unix seconds when the gateway received it.
    pub received: f64,
    /// Sent again (after a reconnect, a restart or a resend request).
    pub replayed: bool,
    pub body: Body,
}

#[derive(Debug, Clone)]
pub enum Body {
    /// The retained `available` status: online, stopped or offline.
    Available(String),
    /// Live state (QoS 0): only the latest per room is kept.
    State { time: f64, payload: String },
    /// Periodic device statistics: the latest per room is kept.
    Stats { time: f64, payload: String },
    /// The device's retained identity card (version, model hashes, config fingerprint).
    Info { payload: String },
    /// One durable sample of the time series.
    Assessment {
        msg_id: u64,
        sample: Box<Sample>,
        payload: String,
    },
    /// An exam event (new, update, end) with its running summary.
    Exam {
        msg_id: u64,
        event: Box<ExamEventIn>,
        payload: String,
    },
}

impl Body {
    /// The daemon's durable message id, for messages that have one.
    pub fn msg_id(&self) -> Option<u64> {
        match self {
            Body::Assessment { msg_id, .. } | Body::Exam { msg_id, .. } => Some(*msg_id),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct AnglesIn {
    pub yaw: f64,
    pub pitch: f64,
    pub roll: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct SubScoreIn {
    pub score: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Item1In {
    pub rotation: Option<SubScoreIn>,
    pub laterocollis: Option<SubScoreIn>,
    pub antero_retrocollis: Option<SubScoreIn>,
    pub lateral_shift: Option<SubScoreIn>,
    pub sagittal_shift: Option<SubScoreIn>,
}

/// The columns of a time-series row (an `assessment` payload is a `state` payload).
#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    pub time: f64,
    #[serde(default)]
    pub frame: u64,
    #[serde(default)]
    pub quality_ok: bool,
    pub scored_in: Option<String>,
    pub angles: Option<AnglesIn>,
    pub shoulder_elevation: Option<f64>,
    pub lateral_shift: Option<f64>,
    pub sagittal_shift: Option<f64>,
    #[serde(default)]
    pub scores: Item1In,
    pub rotation_source: Option<String>,
    pub exam_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExamEventKind {
    New,
    Update,
    End,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExamEventIn {
    pub exam_id: String,
    #[serde(rename = "type")]
    pub kind: ExamEventKind,
    pub time: f64,
    pub summary: serde_json::Value,
    #[serde(default)]
    pub neutral: serde_json::Value,
    #[serde(default)]
    pub interrupted: bool,
    #[serde(default)]
    pub resumed: bool,
    /// Who started or ended it (`startup`, `button`, `clinic`, …), for the audit trail.
    #[serde(default)]
    pub by: Option<String>,
}

/// Why a message was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    Oversized,
    NotJson,
    UnknownSchema,
    UnknownRoom,
    /// The payload's `room` is not the room in its topic.
    RoomMismatch,
    /// Valid JSON without a field the kind needs (or with a wrong type).
    Malformed,
    /// A durable kind without its `msg_id`: it could be neither de-duplicated nor repaired.
    NoMsgId,
}

impl Rejection {
    pub const ALL: [Rejection; 7] = [
        Rejection::Oversized,
        Rejection::NotJson,
        Rejection::UnknownSchema,
        Rejection::UnknownRoom,
        Rejection::RoomMismatch,
        Rejection::Malformed,
        Rejection::NoMsgId,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Rejection::Oversized => "oversized",
            Rejection::NotJson => "not_json",
            Rejection::UnknownSchema => "unknown_schema",
            Rejection::UnknownRoom => "unknown_room",
            Rejection::RoomMismatch => "room_mismatch",
            Rejection::Malformed => "malformed",
            Rejection::NoMsgId => "no_msg_id",
        }
    }
}

/// What decides acceptance besides the payload itself.
pub struct Filter<'a> {
    pub prefix: &'a str,
    pub rooms: Option<&'a [String]>,
    pub max_payload_bytes: usize,
}

/// `Ok(None)`: a topic the gateway does not store (replies, camera status, commands).
pub fn classify(
    f: &Filter,
    topic: &str,
    payload: &[u8],
    received: f64,
) -> Result<Option<Inbound>, (String, Rejection)> {
    let Some(rest) = topic.strip_prefix(f.prefix).and_then(|r| r.strip_prefix('/')) else {
        return Ok(None);
    };
    let Some((room, leaf)) = rest.split_once('/') else {
        return Ok(None);
    };
    let room = room.to_string();
    let reject = |r: Rejection| Err((room.clone(), r));
    if !matches!(leaf, "available" | "state" | "stats" | "assessment" | "exam" | "info") {
        return Ok(None);
    }
    if f.rooms.is_some_and(|allowed| !allowed.contains(&room)) {
        return reject(Rejection::UnknownRoom);
    }
    if payload.len() > f.max_payload_bytes {
        return reject(Rejection::Oversized);
    }
    if leaf == "available" {
        return match std::str::from_utf8(payload) {
            Ok(s @ ("online" | "stopped" | "offline")) => Ok(Some(Inbound {
                room,
                received,
                replayed: false,
                body: Body::Available(s.to_string()),
            })),
            _ => reject(Rejection::Malformed),
        };
    }
    let Ok(text) = std::str::from_utf8(payload) else {
        return reject(Rejection::NotJson);
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return reject(Rejection::NotJson);
    };
    let Some(obj) = value.as_object() else {
        return reject(Rejection::Malformed);
    };
    match obj.get("schema").and_then(|s| s.as_u64()) {
        Some(v) if KNOWN_SCHEMAS.contains(&v) => {}
        _ => return reject(Rejection::UnknownSchema),
    }
    if obj.get("room").and_then(|r| r.as_str()) != Some(room.as_str()) {
        return reject(Rejection::RoomMismatch);
    }
    let time = obj.get("time").and_then(|t| t.as_f64()).filter(|t| t.is_finite());
    let msg_id = obj.get("msg_id").and_then(|m| m.as_u64());
    let replayed = obj.get("replayed").and_then(|r| r.as_bool()).unwrap_or(false);
    let payload = text.to_string();
    let body = match leaf {
        "info" => Body::Info { payload },
        "state" | "stats" => {
            let Some(time) = time else {
                return reject(Rejection::Malformed);
            };
            if leaf == "state" {
                Body::State { time, payload }
            } else {
                Body::Stats { time, payload }
            }
        }
        "assessment" => {
            let Some(msg_id) = msg_id else {
                return reject(Rejection::NoMsgId);
            };
            match serde_json::from_value::<Sample>(value) {
                Ok(s) if s.time.is_finite() => Body::Assessment {
                    msg_id,
                    sample: Box::new(s),
                    payload,
                },
                _ => return reject(Rejection::Malformed),
            }
        }
        _ => {
            let Some(msg_id) = msg_id else {
                return reject(Rejection::NoMsgId);
            };
            match serde_json::from_value::<ExamEventIn>(value) {
                Ok(e) if e.time.is_finite() && !e.exam_id.is_empty() && e.exam_id.len() <= 128 => Body::Exam {
                    msg_id,
                    event: Box::new(e),
                    payload,
                },
                _ => return reject(Rejection::Malformed),
            }
        }
    };
    Ok(Some(Inbound {
        room,
        received,
        replayed,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(rooms: Option<&[String]>) -> Filter<'_> {
        Filter {
            prefix: "cdposture",
            rooms,
            max_payload_bytes: 2048,
        }
    }

    #[test]
    fn each_bad_input_has_its_reason() {
        let allowed = vec!["a".to_string()];
        let cases: [(&str, String, Rejection); 7] = [
            (
                "cdposture/b/state",
                r#"{"schema":1,"room":"b","time":1}"#.into(),
                Rejection::UnknownRoom,
            ),
            ("cdposture/a/state", "x".repeat(3000), Rejection::Oversized),
            ("cdposture/a/state", "{not json".into(), Rejection::NotJson),
            (
                "cdposture/a/state",
                r#"{"schema":7,"room":"a","time":1}"#.into(),
                Rejection::UnknownSchema,
            ),
            (
                "cdposture/a/state",
                r#"{"schema":1,"room":"c","time":1}"#.into(),
                Rejection::RoomMismatch,
            ),
            (
                "cdposture/a/exam",
                r#"{"schema":1,"room":"a","time":1,"msg_id":3}"#.into(),
                Rejection::Malformed,
            ),
            (
                "cdposture/a/assessment",
                r#"{"schema":1,"room":"a","time":1}"#.into(),
                Rejection::NoMsgId,
            ),
        ];
        for (topic, payload, want) in cases {
            let got = classify(&f(Some(&allowed)), topic, payload.as_bytes(), 0.0).unwrap_err();
            assert_eq!(got.1, want, "{topic} {payload}");
        }
    }

    #[test]
    fn good_messages_parse_and_other_topics_are_ignored() {
        let a = classify(&f(None), "cdposture/r1/available", b"online", 5.0)
            .unwrap()
            .unwrap();
        assert!(matches!(a.body, Body::Available(ref s) if s == "online") && a.room == "r1");
        let p = r#"{"schema":1,"room":"r1","time":10.5,"frame":3,"quality_ok":true,"msg_id":42,
            "angles":{"yaw":30,"pitch":-2,"roll":4},"scores":{"rotation":{"score":2,"confidence":0.8}},
            "exam_id":"e1","future_field":1}"#;
        let s = classify(&f(None), "cdposture/r1/assessment", p.as_bytes(), 11.0)
            .unwrap()
            .unwrap();
        match s.body {
            Body::Assessment { msg_id, sample, .. } => {
                assert_eq!(msg_id, 42);
                assert_eq!(sample.angles.unwrap().yaw, 30.0);
                assert_eq!(sample.scores.rotation.unwrap().score, 2);
                assert_eq!(sample.exam_id.as_deref(), Some("e1"));
            }
            other => panic!("{other:?}"),
        }
        for t in [
            "cdposture/r1/reply",
            "cdposture/r1/cmd/resend",
            "other/r1/state",
            "cdposture/r1",
        ] {
            assert!(classify(&f(None), t, b"{}", 0.0).unwrap().is_none(), "{t}");
        }
    }
}
