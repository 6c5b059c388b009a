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
        by: Origin,
    },
    EndExam {
        by: Origin,
    },
    /// Average the next `exam.neutral_capture` seconds and make them the zero.
    CaptureNeutral,
}

/// Who gave a command: the exam events say who started and who ended an exam (the gateway's
/// audit trail keeps it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `run --exam` at start-up.
    Startup,
    /// The exam-room button (GPIO).
    Button,
    /// A `cmd/…` message from the clinic over MQTT.
    Clinic,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Startup => "startup",
            Origin::Button => "button",
            Origin::Clinic => "clinic",
        }
    }
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
