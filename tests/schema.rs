//! Every JSON line the daemon prints (`cdposture run` without a broker) is validated against the
//! definition in docs/schema.json for its `topic` by a real JSON Schema validator: types, required
//! keys, enums, ranges and undeclared keys, not only key names. The MQTT payloads go through the
//! same validator in tests/mqtt.rs.

mod common;
use common::schema::{def_for_topic, validator, validator_from, Validator};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Runs the binary, validates every stdout line (each must be JSON with a `topic`), returns them.
fn run_and_validate(args: &[&str]) -> Vec<Value> {
    let o = common::cdposture(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "cdposture {args:?} failed: {err}");
    let mut validators: BTreeMap<&str, Validator> = BTreeMap::new();
    let mut lines = Vec::new();
    for (i, line) in String::from_utf8_lossy(&o.stdout).lines().enumerate() {
        let mut v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}", i + 1));
        let topic = v
            .as_object_mut()
            .and_then(|o| o.remove("topic"))
            .and_then(|t| t.as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("line {} has no topic: {line}", i + 1));
        let def = def_for_topic(&topic);
        let val = validators.entry(def).or_insert_with(|| validator(def));
        if topic == "camera" {
            // On MQTT the camera status is the plain text `online`/`offline`; on stdout it is
            // wrapped as {"status", "time"}: the status is what the schema describes.
            let status = v.get("status").cloned().unwrap_or(Value::Null);
            val.check(&status, &format!("line {} (camera status)", i + 1));
        } else {
            val.check(&v, &format!("line {} ({topic})", i + 1));
        }
        v["topic"] = topic.into();
        lines.push(v);
    }
    lines
}

fn on<'a>(lines: &'a [Value], topic: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["topic"] == topic).collect()
}

#[test]
fn every_line_of_a_demo_exam_with_neutral_capture_matches_the_schema() {
    let dir = common::tmp("schema-demo");
    let cfg = dir.join("cdposture.toml");
    // The timeline stretched by the slowdown: under emulation (~10x slower inference) the same
    // 30 frames at 15/k fps, so most are processed instead of replaced in the drop-oldest queue.
    let k = common::slowdown() as f64;
    std::fs::write(
        &cfg,
        format!(
            "[room]\nid = \"schema-room\"\n[source]\ndemo_frames = 30\ndemo_fps = {}\n\
             [exam]\nupdate_interval_s = {}\nneutral_capture_s = {}\n",
            15.0 / k,
            0.5 * k,
            0.3 * k
        ),
    )
    .unwrap();
    let lines = run_and_validate(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--exam",
        "visit-1",
        "--neutral",
    ]);
    // What was validated: every state, the whole exam life cycle with a neutral, the stats.
    let states = on(&lines, "state");
    // One state per processed frame; the demo is paced and a slow machine replaces frames in the
    // drop-oldest queue.
    let stats = on(&lines, "stats");
    let dropped = stats
        .last()
        .and_then(|s| s["frames_dropped"].as_u64())
        .expect("a stats line at the end");
    assert_eq!(
        states.len() as u64 + dropped,
        30,
        "every demo frame is a state or dropped"
    );
    assert!(states.len() >= 5, "{} states", states.len());
    assert!(states.iter().any(|s| s["neutral_capturing"] == true));
    assert!(states
        .iter()
        .any(|s| s["exam_id"] == "visit-1" && s["angles"].is_object()));
    let kinds: Vec<&str> = on(&lines, "exam").iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"new"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"end"), "{kinds:?}");
    assert!(kinds.contains(&"update"), "2 s with 0.5 s updates: {kinds:?}");
}

#[test]
fn frames_without_a_face_match_the_schema_too() {
    // A folder: the astronaut (face and shoulders) and the cat (no human face: nulls everywhere).
    let dir = common::tmp("schema-noface");
    for p in ["astronaut.png", "chelsea.png"] {
        std::fs::copy(common::photo(p), dir.join(p)).unwrap();
    }
    let lines = run_and_validate(&["run", "--input", dir.to_str().unwrap(), "--exam"]);
    let states = on(&lines, "state");
    assert_eq!(states.len(), 2, "{lines:?}");
    assert!(states
        .iter()
        .any(|s| s["quality_ok"] == true && s["scores"]["rotation"].is_object()));
    assert!(states.iter().any(|s| s["quality_ok"] == false && s["angles"].is_null()));
    assert!(on(&lines, "exam").iter().any(|e| e["type"] == "end"));
}

/// A state message as the daemon writes it (keys and types of a real line).
fn state() -> Value {
    let sub = json!({"score": 1, "confidence": 0.9});
    let a = json!({"yaw": 1.0, "pitch": -2.0, "roll": 3.5});
    json!({
        "schema": 1, "room": "r1", "time": 1.7e9, "t_s": 0.4, "frame": 6, "quality_ok": true,
        "face_found": true, "face_confidence": 0.99, "pose_found": true, "scored_in": "trunk",
        "raw_head": a, "raw_relative": a, "rotation_source": "blend", "model_weight": 0.4,
        "posture_model": {"yaw": 1.0, "pitch": -2.0, "roll": 3.5, "lateral_shift": 0.01,
            "sagittal_shift": 0.0, "shoulder_elevation": 1.2, "trunk_yaw": -3.0, "trunk_pitch": 2.0, "trunk_roll": -1.0, "yaw_b": 4.0,
            "pitch_b": 3.0, "roll_b": 3.0, "lateral_shift_b": 0.02, "sagittal_shift_b": 0.02,
            "shoulder_elevation_b": 1.0, "trunk_yaw_b": 3.0, "trunk_pitch_b": 2.5, "trunk_roll_b": 1.5},
        "angles": a, "shoulder_elevation": 1.2,
        "lateral_shift": 0.01, "sagittal_shift": null,
        "scores": {"rotation": sub, "laterocollis": sub, "antero_retrocollis": sub,
                   "lateral_shift": sub, "sagittal_shift": null},
        "exam_id": null, "neutral_capturing": false
    })
}

/// Makes a valid message invalid in one way.
type Spoil = fn(&mut Value);

#[test]
fn the_validator_rejects_undeclared_keys_wrong_types_and_missing_keys() {
    let v = validator("state");
    v.check(&state(), "the reference state");
    let bad: [(&str, Spoil); 8] = [
        ("an undeclared top-level key", |m| m["yaw_deg"] = json!(3.0)),
        ("an undeclared key in the angles", |m| m["angles"]["tilt"] = json!(3.0)),
        ("an undeclared key in a sub-score", |m| {
            m["scores"]["rotation"]["band"] = json!(1)
        }),
        ("a string for a number", |m| m["angles"]["yaw"] = json!("1.0")),
        ("a float for an integer", |m| m["frame"] = json!(6.5)),
        ("a score out of range", |m| {
            m["scores"]["laterocollis"]["score"] = json!(7)
        }),
        ("an unknown frame of reference", |m| m["scored_in"] = json!("world")),
        ("a missing required key", |m| {
            m.as_object_mut().unwrap().remove("quality_ok");
        }),
    ];
    for (what, spoil) in bad {
        let mut m = state();
        spoil(&mut m);
        assert!(!v.errors(&m).is_empty(), "{what} was accepted: {m}");
    }
    // And a schema that drops a declared key makes the real message invalid (the validator reads
    // the schema, it does not only know key names).
    let mut schema = common::schema::load();
    schema["$defs"]["angles"]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("roll");
    let narrowed = validator_from(&schema, "state");
    assert!(!narrowed.errors(&state()).is_empty());
}

#[test]
fn tremor_in_live_states_and_the_exam_summary_matches_the_schema() {
    // 5 s at 30 fps of the photo with a 5 Hz, 3° roll tremor, every frame measured.
    let dir = common::tmp("schema-tremor");
    let base = cdposture::capture::load_image(&common::photo("astronaut.png")).unwrap();
    let clip = dir.join("tremor.mp4");
    let frames = (0..150u64).map(|i| common::oscillating_frame(&base, i as f64 / 30.0, 5.0, 3.0, i));
    common::encode_video(&clip, frames, 30.0);
    let lines = run_and_validate(&["run", "--input", clip.to_str().unwrap(), "--exam", "--no-pacing"]);
    let with_tremor = on(&lines, "state")
        .into_iter()
        .filter(|s| s["tremor"]["roll"].is_object())
        .count();
    assert!(with_tremor >= 30, "{with_tremor} states with a roll tremor");
    let end = on(&lines, "exam")
        .into_iter()
        .find(|e| e["type"] == "end")
        .expect("an exam end");
    assert!(end["summary"]["tremor"]["roll"]["frequency_hz"].is_number(), "{end}");
}
