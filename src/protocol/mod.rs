//! The protocol between the measuring loop and the outside world, shared by [`crate::daemon`] (which
//! produces it) and [`crate::publish`] (which carries it to the clinic): the JSON payloads
//! ([`messages`]), the commands the loop accepts ([`Command`]), and where messages go ([`sink`]).
//! It sits below both so that neither imports the other.

pub mod messages;
pub mod sink;

use std::time::{SystemTime, UNIX_EPOCH};

/// Commands the loop accepts (from the CLI at start-up, later from MQTT and GPIO).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Start an exam; the id is the clinic's opaque id, or generated when absent.
    StartExam {
        id: Option<String>,
    },
    EndExam,
    /// Average the next `exam.neutral_capture` seconds and make them the zero.
    CaptureNeutral,
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
