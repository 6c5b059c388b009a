//! An exam out of the gateway: its time series as CSV, and the exam as a FHIR R4 `Bundle` of one
//! `Observation` (TWSTRS item 1: the sub-scores and the maximal excursions as components). Codes
//! are text with a local system (`urn:cdposture`): LOINC has no code for TWSTRS item 1's parts.

use super::store::{ExamRow, SampleRow};
use serde_json::{json, Value};

const SYSTEM: &str = "urn:cdposture";

/// Safe as a download file name.
pub fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn cell<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

pub const CSV_HEADER: &str = "msg_id,time,frame,quality_ok,scored_in,yaw_deg,pitch_deg,roll_deg,shoulder_elevation_deg,\
lateral_shift_sw,sagittal_shift_sw,rotation,laterocollis,antero_retrocollis,lateral_shift_score,sagittal_shift_score,rotation_source";

pub fn series_csv(rows: &[SampleRow]) -> String {
    let mut out = String::with_capacity(64 + rows.len() * 120);
    out.push_str(CSV_HEADER);
    out.push('\n');
    for r in rows {
        let fields = [
            r.msg_id.to_string(),
            format!("{:.3}", r.time),
            r.frame.to_string(),
            (r.quality_ok as u8).to_string(),
            cell(r.scored_in.as_deref()),
            cell(r.yaw.map(|v| format!("{v:.2}"))),
            cell(r.pitch.map(|v| format!("{v:.2}"))),
            cell(r.roll.map(|v| format!("{v:.2}"))),
            cell(r.shoulder_elevation.map(|v| format!("{v:.2}"))),
            cell(r.lateral_shift.map(|v| format!("{v:.4}"))),
            cell(r.sagittal_shift.map(|v| format!("{v:.4}"))),
            cell(r.rotation),
            cell(r.laterocollis),
            cell(r.antero_retrocollis),
            cell(r.lateral_shift_score),
            cell(r.sagittal_shift_score),
            cell(r.rotation_source.as_deref()),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// Unix seconds as an RFC 3339 / FHIR `dateTime` in UTC, to the millisecond.
pub fn iso8601(t: f64) -> String {
    let ms = (t * 1000.0).round() as i64;
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn code(name: &str, display: &str) -> Value {
    json!({"coding": [{"system": SYSTEM, "code": name, "display": display}], "text": display})
}

fn quantity(v: f64, unit: &str, ucum: &str) -> Value {
    json!({"value": (v * 100.0).round() / 100.0, "unit": unit, "system": "http://unitsofmeasure.org", "code": ucum})
}

/// The exam as a FHIR R4 `Bundle` (type `collection`) with one `Observation`.
pub fn fhir_bundle(e: &ExamRow) -> Value {
    const ITEMS: [(&str, &str, &str, &str); 6] = [
        ("rotation", "Torticollis (rotation), TWSTRS 1A", "deg", "deg"),
        ("laterocollis", "Laterocollis (tilt), TWSTRS 1B", "deg", "deg"),
        ("antero_retrocollis", "Antero-/retrocollis, TWSTRS 1C", "deg", "deg"),
        ("lateral_shift", "Lateral shift, TWSTRS 1D", "shoulder widths", "1"),
        ("sagittal_shift", "Sagittal shift, TWSTRS 1E", "shoulder widths", "1"),
        ("shoulder_elevation", "Shoulder elevation", "deg", "deg"),
    ];
    let mut components = Vec::new();
    for (key, display, unit, ucum) in ITEMS {
        if let Some(score) = e.summary["item1"][key]["score"].as_i64() {
            components.push(json!({
                "code": code(&format!("{key}-score"), &format!("{display} sub-score")),
                "valueInteger": score,
            }));
        }
        if let Some(max) = e.summary[key]["max_excursion"].as_f64() {
            components.push(json!({
                "code": code(&format!("{key}-max-excursion"), &format!("{display}: maximal excursion")),
                "valueQuantity": quantity(max, unit, ucum),
            }));
        }
    }
    if let Some(d) = e.summary["duration_factor"].as_i64() {
        components.push(json!({"code": code("duration-factor", "TWSTRS item B (duration factor)"), "valueInteger": d}));
    }
    let id = file_safe(&format!("{}-{}", e.room, e.exam_id));
    let mut period = json!({"start": iso8601(e.started)});
    if let Some(end) = e.ended {
        period["end"] = Value::String(iso8601(end));
    }
    let observation = json!({
        "resourceType": "Observation",
        "id": id,
        "status": if e.ended.is_some() { "final" } else { "preliminary" },
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                   "code": "exam", "display": "Exam"}]}],
        "code": code("twstrs-item1", "TWSTRS item 1: maximal excursion, measured by cdposture"),
        "identifier": [{"system": format!("{SYSTEM}:exam:{}", e.room), "value": e.exam_id}],
        "effectivePeriod": period,
        "issued": iso8601(e.updated),
        "device": {"display": format!("cdposture, room {}", e.room)},
        "note": [{"text": format!("{} assessments stored; angles relative to the {}.", e.samples,
                   e.summary["scored_in"].as_str().unwrap_or("trunk"))}],
        "component": components,
    });
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": iso8601(e.updated),
        "entry": [{"fullUrl": format!("urn:cdposture:observation:{id}"), "resource": observation}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_iso() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400.5), "2000-02-29T00:00:00.500Z");
        assert_eq!(iso8601(1_795_839_537.0), "2026-11-28T04:18:57.000Z");
    }

    #[test]
    fn fhir_has_scores_and_angles_as_components() {
        let e = ExamRow {
            room: "a".into(),
            exam_id: "e/1".into(),
            started: 0.0,
            ended: Some(60.0),
            updated: 60.0,
            interrupted: false,
            summary: json!({"item1": {"rotation": {"score": 3, "confidence": 0.9}},
                            "rotation": {"max_excursion": 52.345}, "scored_in": "trunk", "duration_factor": 2}),
            neutral: Value::Null,
            samples: 10,
        };
        let b = fhir_bundle(&e);
        let o = &b["entry"][0]["resource"];
        assert_eq!(o["resourceType"], "Observation");
        assert_eq!(o["status"], "final");
        assert_eq!(o["id"], "a-e_1");
        let comps = o["component"].as_array().unwrap();
        assert!(comps.iter().any(|c| c["valueInteger"] == 3));
        assert!(comps
            .iter()
            .any(|c| c["valueQuantity"]["value"] == 52.35 && c["valueQuantity"]["code"] == "deg"));
    }
}
