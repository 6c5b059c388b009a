//! Commands from the clinic (`<prefix>/<room>/cmd/<name>`, JSON payload, may be empty) and their
//! replies (`<prefix>/<room>/reply`). A bad command gets a reply saying why; it never stops anything.

use crate::protocol::Command;
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
}

/// Parse one command message. `Err` carries the reply to send.
pub fn parse(name: &str, payload: &[u8]) -> Result<(Command, Reply), Reply> {
    let reply = |ok: bool, error: Option<String>, request_id| Reply {
        schema: crate::protocol::messages::SCHEMA_VERSION,
        command: name.to_string(),
        request_id,
        ok,
        error,
    };
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
            Command::StartExam { id: p.exam_id }
        }
        "exam_end" => Command::EndExam,
        "neutral" => Command::CaptureNeutral,
        other => {
            return Err(reply(
                false,
                Some(format!(
                    "unknown command `{other}`; known: exam_start, exam_end, neutral"
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
        assert_eq!(c, Command::StartExam { id: Some("v-1".into()) });
        assert!(r.ok && r.request_id == Some(serde_json::json!(7)));
        assert_eq!(parse("exam_end", b"").unwrap().0, Command::EndExam);
        assert_eq!(parse("neutral", b"{}").unwrap().0, Command::CaptureNeutral);
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
