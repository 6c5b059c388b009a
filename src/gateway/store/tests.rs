//! The storage rules on SQLite (PostgreSQL runs the same code in tests/gateway.rs).

use super::*;
use crate::gateway::inbound::{classify, Filter};

fn store(name: &str) -> Store {
    let dir = std::env::temp_dir().join(format!("cdposture-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = Store::open(&DatabaseSettings::Sqlite(dir.join("gw.db")), "test").unwrap();
    assert_eq!(s.migrate().unwrap(), MIGRATIONS.len() as u32);
    // A second migration is a no-op.
    s.migrate().unwrap();
    s
}

fn msg(room: &str, leaf: &str, json: &str) -> Inbound {
    let f = Filter {
        prefix: "cdposture",
        rooms: None,
        max_payload_bytes: 1 << 20,
    };
    classify(&f, &format!("cdposture/{room}/{leaf}"), json.as_bytes(), 100.0)
        .unwrap()
        .unwrap()
}

fn exam(room: &str, id: u64, kind: &str, time: f64, frames: u64) -> Inbound {
    msg(
        room,
        "exam",
        &format!(
            r#"{{"schema":1,"room":"{room}","exam_id":"e1","type":"{kind}","time":{time},"msg_id":{id},
               "neutral":{{"yaw":0,"pitch":0,"roll":0}},"summary":{{"frames":{frames}}}}}"#
        ),
    )
}

fn sample(room: &str, id: u64, time: f64, yaw: f64) -> Inbound {
    msg(
        room,
        "assessment",
        &format!(
            r#"{{"schema":1,"room":"{room}","time":{time},"frame":{id},"quality_ok":true,"msg_id":{id},"exam_id":"e1",
               "angles":{{"yaw":{yaw},"pitch":1,"roll":2}},"scores":{{"rotation":{{"score":1,"confidence":0.9}}}}}}"#
        ),
    )
}

#[test]
fn replays_and_duplicates_change_nothing() {
    let mut s = store("dup");
    let batch = vec![
        exam("a", 1, "new", 10.0, 0),
        sample("a", 2, 11.0, 20.0),
        sample("a", 3, 12.0, 25.0),
    ];
    assert_eq!(s.apply(&batch).unwrap(), vec![Applied::Stored; 3]);
    assert_eq!(s.apply(&batch).unwrap(), vec![Applied::Duplicate; 3]);
    let exams = s
        .exams(&ExamFilter {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(exams.len(), 1);
    assert_eq!(exams[0].samples, 2);
    let series = s.series("a", "e1").unwrap();
    assert_eq!(
        series.iter().map(|r| r.yaw.unwrap()).collect::<Vec<_>>(),
        vec![20.0, 25.0]
    );
    assert_eq!(series[0].rotation, Some(1));
    // The same msg_id in another room is another message.
    assert_eq!(s.apply(&[sample("b", 2, 11.0, 5.0)]).unwrap(), vec![Applied::Stored]);
}

#[test]
fn the_newest_event_wins_whatever_the_order_and_an_exam_ends_once() {
    let mut s = store("order");
    // The end arrives first, then a replayed older update, then the new.
    s.apply(&[exam("a", 9, "end", 30.0, 90)]).unwrap();
    s.apply(&[exam("a", 5, "update", 20.0, 50)]).unwrap();
    s.apply(&[exam("a", 1, "new", 10.0, 0)]).unwrap();
    let e = s.exam("a", "e1").unwrap().unwrap();
    assert_eq!(
        e.summary["frames"], 90,
        "an older update must not roll the summary back"
    );
    assert_eq!((e.started, e.ended), (10.0, Some(30.0)));
    // A second end (a replay with a new id after a restart) does not move the end.
    s.apply(&[exam("a", 12, "end", 40.0, 90)]).unwrap();
    assert_eq!(s.exam("a", "e1").unwrap().unwrap().ended, Some(30.0));
    let trail = s.audit_trail(100).unwrap();
    assert_eq!(trail.iter().filter(|r| r.event == "exam_ended").count(), 1);
    assert_eq!(trail.iter().filter(|r| r.event == "exam_started").count(), 1);
}

#[test]
fn availability_history_records_changes_only() {
    let mut s = store("avail");
    for status in ["online", "online", "offline", "offline", "online"] {
        s.apply(&[msg("a", "available", status)]).unwrap();
    }
    let rooms = s.rooms().unwrap();
    assert_eq!(rooms[0].available, "online");
    let n = s.db.query("SELECT COUNT(*) FROM availability", &[]).unwrap()[0][0].i64();
    assert_eq!(n, Some(3));
}

#[test]
fn an_older_state_never_replaces_a_newer_one() {
    let mut s = store("state");
    let st = |t: f64| {
        msg(
            "a",
            "state",
            &format!(r#"{{"schema":1,"room":"a","time":{t},"frame":1}}"#),
        )
    };
    s.apply(&[st(20.0), st(10.0)]).unwrap();
    assert_eq!(s.rooms().unwrap()[0].state_time, Some(20.0));
}

#[test]
fn a_failed_batch_stores_nothing() {
    let mut s = store("atomic");
    let mut bad = sample("a", 2, 11.0, 20.0);
    if let Body::Assessment { msg_id, .. } = &mut bad.body {
        *msg_id = u64::MAX; // beyond BIGINT: the store refuses it
    }
    assert!(s.apply(&[sample("a", 1, 10.0, 5.0), bad]).is_err());
    assert!(s.series("a", "e1").unwrap().is_empty());
    assert_eq!(s.received_ids("a", 0).unwrap(), Vec::<u64>::new());
}
