//! Commands from the clinic (`<prefix>/<room>/cmd/<name>`, JSON payload, may be empty) and their
//! replies (`<prefix>/<room>/reply`). A bad command gets a reply saying why; it never stops anything.

use crate::protocol::{Command, Origin};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    /// Echoed in the reply so the sender can match it.
    request_id: Option<serde_json::Value>,
    /// `exam_start` only: the clinic's opaque exam id (no names, no patient data).
    exam_id: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Reply {
    pub schema: u32,
    pub command: String,
    pub request_id: Option<serde_json::Value>,
    pub ok: bool,
    pub error: Option<String>,
    /// `resend` only: what the outbox found for the range (boxed: rare, and replies travel in
    /// `Result`s).
    #[serde(flatten)]
    pub resend: Option<Box<ResendCounts>>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ResendCounts {
    pub resent: u64,
    pub pending: u64,
    pub gone: Vec<[u64; 2]>,
}

impl Reply {
    fn new(name: &str, ok: bool, error: Option<String>, request_id: Option<serde_json::Value>) -> Reply {
        Reply {
            schema: crate::protocol::messages::SCHEMA_VERSION,
            command: name.to_string(),
            request_id,
            ok,
            error,
            resend: None,
        }
    }
}

/// `cmd/resend {"from": id, "to": id}` from the gateway: the durable messages it is missing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResendPayload {
    request_id: Option<serde_json::Value>,
    from: u64,
    to: u64,
}

/// The largest range one request may name: a typo must not walk billions of ids.
pub const MAX_RESEND_RANGE: u64 = 1_000_000;

/// Parse `cmd/resend`: the inclusive id range and the request id to echo. `Err` is the reply.
pub fn parse_resend(payload: &[u8]) -> Result<(u64, u64, Option<serde_json::Value>), Reply> {
    let bad = |e: String| Reply::new("resend", false, Some(e), None);
    let body = std::str::from_utf8(payload).map_err(|_| bad("payload is not UTF-8 JSON".into()))?;
    let p: ResendPayload =
        serde_json::from_str(body).map_err(|e| bad(format!("payload must be {{\"from\": id, \"to\": id}}: {e}")))?;
    if p.from > p.to || p.to - p.from >= MAX_RESEND_RANGE {
        return Err(Reply::new(
            "resend",
            false,
            Some(format!("from must be <= to, at most {MAX_RESEND_RANGE} ids at once")),
            p.request_id,
        ));
    }
    Ok((p.from, p.to, p.request_id))
}

/// The reply to a resend that was carried out.
pub fn resend_reply(request_id: Option<serde_json::Value>, r: &super::outbox::Resend) -> Reply {
    Reply {
        resend: Some(Box::new(ResendCounts {
            resent: r.resent,
            pending: r.pending,
            gone: r.gone.clone(),
        })),
        ..Reply::new("resend", true, None, request_id)
    }
}

/// Parse one command message. `Err` carries the reply to send.
pub fn parse(name: &str, payload: &[u8]) -> Result<(Command, Reply), Reply> {
    let reply = |ok: bool, error: Option<String>, request_id| Reply::new(name, ok, error, request_id);
    let body =
        std::str::from_utf8(payload).map_err(|_| reply(false, Some("payload is not UTF-8 JSON".into()), None))?;
    let p: Payload = if body.trim().is_empty() {
        Payload::default()
    } else {
        serde_json::from_str(body).map_err(|e| reply(false, Some(format!("payload is not valid: {e}")), None))?
    };
    let id = p.request_id.clone();
    let cmd = match name {
        "exam_start" => {
            if let Some(e) = &p.exam_id {
                if e.is_empty() || e.len() > 128 || e.chars().any(|c| c.is_control()) {
                    return Err(reply(
                        false,
                        Some("exam_id must be 1-128 printable characters".into()),
                        id,
                    ));
                }
            }
            Command::StartExam {
                id: p.exam_id,
                by: Origin::Clinic,
            }
        }
        "exam_end" => Command::EndExam { by: Origin::Clinic },
        "neutral" => Command::CaptureNeutral,
        other => {
            return Err(reply(
                false,
                Some(format!(
                    "unknown command `{other}`; known: exam_start, exam_end, neutral, resend"
                )),
                id,
            ))
        }
    };
    Ok((cmd, reply(true, None, id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_commands_parse_and_echo_the_request_id() {
        let (c, r) = parse("exam_start", br#"{"exam_id":"v-1","request_id":7}"#).unwrap();
        assert_eq!(
            c,
            Command::StartExam {
                id: Some("v-1".into()),
                by: Origin::Clinic
            }
        );
        assert!(r.ok && r.request_id == Some(serde_json::json!(7)));
        assert_eq!(
            parse("exam_end", b"").unwrap().0,
            Command::EndExam { by: Origin::Clinic }
        );
        assert_eq!(parse("neutral", b"{}").unwrap().0, Command::CaptureNeutral);
    }

    #[test]
    fn resend_replies_carry_the_counts_flat() {
        let r = crate::publish::outbox::Resend {
            resent: 2,
            pending: 1,
            gone: vec![[3, 4]],
        };
        let v = serde_json::to_value(resend_reply(Some(serde_json::json!(1)), &r)).unwrap();
        assert_eq!((v["resent"].as_u64(), v["pending"].as_u64()), (Some(2), Some(1)));
        assert_eq!(v["gone"], serde_json::json!([[3, 4]]));
        let plain = serde_json::to_value(Reply::new("neutral", true, None, None)).unwrap();
        assert!(plain.get("resent").is_none(), "{plain}");
    }

    #[test]
    fn resend_ranges_are_checked() {
        assert_eq!(parse_resend(br#"{"from":5,"to":9,"request_id":"x"}"#).unwrap().0, 5);
        for bad in [
            &br#"{"from":9,"to":5}"#[..],
            br#"{"from":0,"to":5000000}"#,
            br#"{"from":1}"#,
            b"",
            br#"{"from":1,"to":2,"x":1}"#,
        ] {
            let r = parse_resend(bad).unwrap_err();
            assert!(!r.ok && r.error.is_some(), "{bad:?}");
        }
    }

    #[test]
    fn bad_commands_get_a_reply_not_a_crash() {
        let r = parse("reboot", b"{}").unwrap_err();
        assert!(!r.ok && r.error.unwrap().contains("unknown command"));
        assert!(parse("exam_start", b"{not json")
            .unwrap_err()
            .error
            .unwrap()
            .contains("not valid"));
        assert!(
            parse("exam_start", br#"{"patient_name":"x"}"#).is_err(),
            "unknown fields are refused"
        );
        assert!(parse("exam_start", &[0xff, 0xfe]).is_err());
    }
}
