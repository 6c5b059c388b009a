//! The clinic gateway end to end, all real: mosquitto, two daemons on the demo input, the gateway
//! binary with SQLite, its HTTP API over TCP; bad input published on purpose; and two gateway
//! replicas sharing a real PostgreSQL (initdb'd by the test) through a shared subscription.
#![cfg(feature = "gateway")]

mod common;
use common::broker::{free_port, Broker, DaemonProcess, Subscriber};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "test-token-0123456789abcdef";

fn daemon_config(dir: &Path, room: &str, port: u16, frames: u64) -> PathBuf {
    let p = dir.join(format!("{room}.toml"));
    std::fs::write(
        &p,
        format!(
            "[room]\nid = \"{room}\"\n[source]\ndemo_frames = {frames}\n[exam]\nupdate_interval_s = 0.5\n\
             [mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nstate_interval_s = 0.2\nassessment_interval_s = 0.2\n\
             stats_interval_s = 1\nkeep_alive_s = 5\n[outbox]\ndir = \"{}\"\n",
            dir.join(room).join("outbox").display()
        ),
    )
    .unwrap();
    p
}

struct Gateway {
    child: Child,
    http: u16,
    log: PathBuf,
}

impl Gateway {
    fn start(dir: &Path, name: &str, broker: u16, database: &str, extra: &str) -> Gateway {
        let http = free_port();
        let cfg = dir.join(format!("gateway-{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[gateway]\nname = \"{name}\"\n{extra}\n[mqtt]\nhost = \"127.0.0.1\"\nport = {broker}\nkeep_alive_s = 5\n\
                 [http]\nlisten = \"127.0.0.1:{http}\"\ntoken_env = \"GW_TOKEN\"\n[database]\nurl = \"{database}\"\n"
            ),
        )
        .unwrap();
        let log = dir.join(format!("gateway-{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_cdposture"))
            .args(["gateway", "--config"])
            .arg(&cfg)
            .env("GW_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let g = Gateway { child, http, log };
        g.wait(30, "healthz", |g| g.get("/healthz", false).0 == 200);
        g
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET over a plain TCP connection: (status, body).
    fn get(&self, path: &str, with_token: bool) -> (u16, String) {
        self.get_with(path, with_token.then_some(TOKEN))
    }

    fn get_with(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.http)) else {
            return (0, String::new());
        };
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path, true);
        assert_eq!(status, 200, "{path}: {body}\n{}", self.log());
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }

    fn wait(&self, secs: u64, what: &str, pred: impl Fn(&Gateway) -> bool) {
        let t = Instant::now();
        while !pred(self) {
            assert!(
                t.elapsed() < Duration::from_secs(secs * common::slowdown()),
                "timed out waiting for {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(t.elapsed() < Duration::from_secs(15), "gateway did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The durable ids the daemons issued, per room, as an independent subscriber saw them.
fn issued(sub: &Subscriber, leaf: &str) -> BTreeSet<(String, u64)> {
    sub.messages
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| t.ends_with(&format!("/{leaf}")))
        .filter_map(|(_, p)| {
            let v: Value = serde_json::from_str(p).ok()?;
            Some((v["room"].as_str()?.to_string(), v["msg_id"].as_u64()?))
        })
        .collect()
}

fn stored_assessments(g: &Gateway, room: &str, exam: &str) -> BTreeSet<(String, u64)> {
    g.json(&format!("/api/exams/{room}/{exam}/series"))
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (room.to_string(), r["msg_id"].as_u64().unwrap()))
        .collect()
}

#[test]
fn two_rooms_through_mosquitto_into_the_gateway_and_out_of_its_api() {
    let dir = common::tmp("gateway-two-rooms");
    let broker = Broker::start(&dir.join("broker"), free_port(), "");
    let sub = Subscriber::connect(broker.port, "t-gw-witness");
    let db = format!("sqlite:{}", dir.join("gw.db").display());
    let mut gw = Gateway::start(&dir, "gw1", broker.port, &db, "");
    let mut daemons: Vec<DaemonProcess> = ["room-a", "room-b"]
        .iter()
        .map(|room| {
            let cfg = daemon_config(&dir, room, broker.port, 60);
            DaemonProcess::start(&cfg, &["--exam", &format!("exam-{room}")], &[])
        })
        .collect();
    for d in &mut daemons {
        assert!(d.stop_when_done(60).success(), "{}", d.log());
    }
    sub.wait_for(15, "both exams ended", |s| {
        s.on("exam").iter().filter(|e| e["type"] == "end").count() == 2
    });
    gw.wait(20, "both exams ended in the gateway", |g| {
        let e = g.json("/api/exams?open=false");
        e.as_array().unwrap().len() == 2
    });

    // Rooms: both known, availability from the retained status.
    let rooms = gw.json("/api/rooms");
    let names: Vec<&str> = rooms
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["room-a", "room-b"]);
    for r in rooms.as_array().unwrap() {
        assert_eq!(r["available"], "stopped", "{r}");
        assert!(r["state"]["angles"]["yaw"].is_number(), "live state kept: {r}");
    }
    // Every durable message any daemon issued is stored, once.
    let witnessed = issued(&sub, "assessment");
    assert!(witnessed.len() >= 10, "{witnessed:?}");
    let mut stored = BTreeSet::new();
    for room in ["room-a", "room-b"] {
        let exam = gw.json(&format!("/api/exams/{room}/exam-{room}"));
        assert!(
            exam["ended"].is_number() && exam["summary"]["frames"].as_u64().unwrap() > 0,
            "{exam}"
        );
        assert_eq!(
            exam["samples"].as_i64().unwrap() as usize,
            stored_assessments(&gw, room, &format!("exam-{room}")).len()
        );
        stored.extend(stored_assessments(&gw, room, &format!("exam-{room}")));
    }
    let witnessed_in_exams: BTreeSet<_> = sub
        .on("assessment")
        .iter()
        .filter(|a| a["exam_id"].is_string())
        .map(|a| (a["room"].as_str().unwrap().to_string(), a["msg_id"].as_u64().unwrap()))
        .collect();
    assert_eq!(stored, witnessed_in_exams, "stored vs issued assessment ids");
    let status = gw.json("/api/gateway");
    println!("gateway counters: {status}");
    assert_eq!(
        status["rejected"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        0
    );

    // Exports.
    let (code, csv) = gw.get("/api/exams/room-a/exam-room-a/series.csv", true);
    assert_eq!(code, 200);
    assert!(csv.starts_with("msg_id,time,frame,quality_ok"), "{csv}");
    assert_eq!(
        csv.lines().count(),
        stored_assessments(&gw, "room-a", "exam-room-a").len() + 1
    );
    let fhir = gw.json("/api/exams/room-b/exam-room-b/fhir");
    assert_eq!(fhir["resourceType"], "Bundle");
    let obs = &fhir["entry"][0]["resource"];
    assert_eq!(
        (obs["resourceType"].as_str(), obs["status"].as_str()),
        (Some("Observation"), Some("final"))
    );
    assert!(
        obs["component"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["valueInteger"].is_i64()),
        "{obs}"
    );
    let audit = gw.json("/api/audit");
    let events: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["event"].as_str().unwrap())
        .collect();
    assert_eq!(events.iter().filter(|e| **e == "exam_started").count(), 2, "{events:?}");
    // Who: `--exam` at start-up started both, the end of the demo input ended both.
    let details: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["detail"].as_str().unwrap())
        .collect();
    assert!(details.contains(&"exam exam-room-a by startup"), "{details:?}");
    // Which models and settings each room measured with.
    let cards: Vec<Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["event"] == "device_info")
        .map(|a| serde_json::from_str(a["detail"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(cards.len(), 2, "one card per room: {cards:?}");
    for c in &cards {
        assert!(
            c["models"]["face_landmark.onnx"]
                .as_str()
                .is_some_and(|h| h.len() == 64),
            "{c}"
        );
        assert!(c["config"].as_str().unwrap().starts_with("fnv1a64:"), "{c}");
    }
    assert!(
        rooms
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["info"]["version"].is_string()),
        "{rooms}"
    );
    assert!(details.contains(&"exam exam-room-b by stopped"), "{details:?}");
    assert_eq!(events.iter().filter(|e| **e == "exam_ended").count(), 2, "{events:?}");

    // Without the token (or with a wrong one) every /api/ route is 401 and says nothing more.
    for path in [
        "/api/rooms",
        "/api/exams",
        "/api/exams/room-a/exam-room-a",
        "/api/exams/room-a/exam-room-a/series",
        "/api/exams/room-a/exam-room-a/series.csv",
        "/api/exams/room-a/exam-room-a/fhir",
        "/api/gateway",
        "/api/audit",
        "/api/nonexistent",
    ] {
        for token in [None, Some("wrong-token-0123456789abcdef"), Some("")] {
            let (code, body) = gw.get_with(path, token);
            assert_eq!(code, 401, "{path} {token:?}");
            assert!(!body.contains("room-a") && !body.contains(TOKEN), "{path}: {body}");
        }
    }
    assert_eq!(gw.get("/healthz", false).0, 200);
    let (code, page) = gw.get("/", false);
    assert!(code == 200 && page.contains("<title>cdposture</title>"));
    assert!(!gw.log().contains(TOKEN), "the token must never be logged");
    dashboard_in_a_real_browser(&gw, &dir);

    // A restart keeps everything (and stores nothing twice when the broker replays).
    gw.stop();
    let gw = Gateway::start(&dir, "gw1", broker.port, &db, "");
    assert_eq!(gw.json("/api/exams").as_array().unwrap().len(), 2);
    let mut again = BTreeSet::new();
    for room in ["room-a", "room-b"] {
        again.extend(stored_assessments(&gw, room, &format!("exam-{room}")));
    }
    assert_eq!(again, stored);
}

#[test]
fn bad_input_is_counted_logged_once_and_never_stops_the_gateway() {
    let dir = common::tmp("gateway-bad-input");
    let broker = Broker::start(&dir.join("broker"), free_port(), "");
    let db = format!("sqlite:{}", dir.join("gw.db").display());
    let gw = Gateway::start(
        &dir,
        "gw-bad",
        broker.port,
        &db,
        "rooms = [\"room-a\"]\nmax_payload_bytes = 4096",
    );
    gw.wait(10, "subscribed", |g| g.log().contains("connected to broker"));
    std::thread::sleep(Duration::from_millis(500));
    let mut o = rumqttc::MqttOptions::new("t-bad-publisher", "127.0.0.1", broker.port);
    o.set_keep_alive(Duration::from_secs(5));
    let (client, mut conn) = rumqttc::Client::new(o, 100);
    std::thread::spawn(move || for _ in conn.iter() {});
    let q = rumqttc::QoS::AtLeastOnce;
    let good = |id: u64| {
        format!(
            r#"{{"schema":1,"room":"room-a","time":{id},"msg_id":{id},"frame":{id},"quality_ok":true,"exam_id":null}}"#
        )
    };
    let bad: Vec<(&str, String)> = vec![
        ("cdposture/room-a/assessment", "{not json".into()),
        ("cdposture/room-a/assessment", "{not json either".into()),
        (
            "cdposture/room-a/assessment",
            good(1).replace("\"schema\":1", "\"schema\":99"),
        ),
        ("cdposture/room-x/assessment", good(2).replace("room-a", "room-x")),
        (
            "cdposture/room-a/assessment",
            format!("{{\"pad\":\"{}\"}}", "x".repeat(10_000)),
        ),
        ("cdposture/room-a/exam", good(3)),
        (
            "cdposture/room-a/assessment",
            good(4).replace("\"room\":\"room-a\"", "\"room\":\"room-b\""),
        ),
        ("cdposture/room-a/assessment", good(5).replace(",\"msg_id\":5", "")),
        ("cdposture/room-a/available", "maybe".into()),
    ];
    for (topic, payload) in &bad {
        client.publish(*topic, q, false, payload.as_bytes()).unwrap();
    }
    for id in [10, 11, 11] {
        client
            .publish("cdposture/room-a/assessment", q, false, good(id).as_bytes())
            .unwrap();
    }
    gw.wait(20, "every message handled", |g| {
        let s = g.json("/api/gateway");
        let rejected: u64 = s["rejected"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        rejected == bad.len() as u64 && s["stored"].as_u64() == Some(2) && s["duplicates"].as_u64() == Some(1)
    });
    let s = gw.json("/api/gateway");
    println!("{s}");
    let r = &s["rejected"];
    assert_eq!(
        (
            r["not_json"].as_u64(),
            r["unknown_schema"].as_u64(),
            r["unknown_room"].as_u64(),
            r["oversized"].as_u64()
        ),
        (Some(2), Some(1), Some(1), Some(1)),
        "{s}"
    );
    assert_eq!(
        (
            r["malformed"].as_u64(),
            r["room_mismatch"].as_u64(),
            r["no_msg_id"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let log = gw.log();
    assert_eq!(
        log.matches("not_json").count(),
        1,
        "logged once per reason and room:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(gw.get("/healthz", false).0, 200);
}

#[test]
fn two_replicas_on_postgresql_share_the_rooms_and_lose_nothing_when_one_dies() {
    let dir = common::tmp("gateway-replicas");
    let broker = Broker::start(&dir.join("broker"), free_port(), "");
    let sub = Subscriber::connect(broker.port, "t-gw-replicas-witness");
    let pg = common::postgres::Postgres::start(&dir);
    // Both start together: the migration runs once (advisory lock).
    let g1 = Gateway::start(&dir, "gw-r1", broker.port, &pg.url(), "");
    let mut g2 = Gateway::start(&dir, "gw-r2", broker.port, &pg.url(), "");
    g1.wait(10, "r1 subscribed", |g| g.log().contains("connected to broker"));
    g2.wait(10, "r2 subscribed", |g| g.log().contains("connected to broker"));
    std::thread::sleep(Duration::from_millis(500));
    let stored_all = |g: &Gateway| -> BTreeSet<(String, u64)> {
        ["room-a", "room-b"]
            .iter()
            .flat_map(|room| {
                let exam = format!("exam-{room}");
                if g.get(&format!("/api/exams/{room}/{exam}"), true).0 != 200 {
                    return BTreeSet::new();
                }
                stored_assessments(g, room, &exam)
            })
            .collect()
    };
    let issued_in_exams = || -> BTreeSet<(String, u64)> {
        sub.on("assessment")
            .iter()
            .filter(|a| a["exam_id"].is_string())
            .map(|a| (a["room"].as_str().unwrap().to_string(), a["msg_id"].as_u64().unwrap()))
            .collect()
    };
    let mut daemons: Vec<DaemonProcess> = ["room-a", "room-b"]
        .iter()
        .map(|room| {
            let cfg = daemon_config(&dir, room, broker.port, 60);
            let text = std::fs::read_to_string(&cfg)
                .unwrap()
                .replace("demo_frames = 60", "loop = true");
            std::fs::write(&cfg, text).unwrap();
            DaemonProcess::start(&cfg, &["--exam", &format!("exam-{room}")], &[])
        })
        .collect();
    // Mid-run, one replica dies hard and stays dead: the other gets the whole stream, and what
    // was in flight to the dead one is found missing and sent again by the rooms.
    g2.wait(60, "r2 stored its share", |g| {
        g.json("/api/gateway")["stored"].as_u64().unwrap_or(0) >= 5
    });
    let r2_stored = g2.json("/api/gateway")["stored"].as_u64().unwrap();
    g2.child.kill().unwrap();
    let _ = g2.child.wait();
    // The rooms keep measuring until the survivor holds everything issued so far.
    g1.wait(90, "the survivor has every issued assessment", |g| {
        let issued = issued_in_exams();
        issued.len() >= 60 && issued.is_subset(&stored_all(g))
    });
    for d in &mut daemons {
        assert!(d.stop().success(), "{}", d.log());
    }
    sub.wait_for(15, "both exams ended", |s| {
        s.on("exam").iter().filter(|e| e["type"] == "end").count() == 2
    });
    let issued = issued_in_exams();
    g1.wait(60, "every issued assessment stored", |g| stored_all(g) == issued);
    let r1 = g1.json("/api/gateway");
    println!(
        "issued {} durable assessments in the exams; all stored; r2 stored {r2_stored} before its kill; r1: {r1}",
        issued.len()
    );
    assert!(
        r2_stored > 0 && r1["stored"].as_u64().unwrap() > 0,
        "the work is shared"
    );
    for room in ["room-a", "room-b"] {
        let e = g1.json(&format!("/api/exams/{room}/exam-{room}"));
        assert!(e["ended"].is_number(), "{e}");
    }
}

/// Every durable id a daemon issued, from its outbox folder: pending messages and the
/// acknowledged ones it retains (the retention holds them all in a short test).
fn issued_from_outbox(outbox: &Path) -> BTreeSet<u64> {
    let mut ids = BTreeSet::new();
    for dir in [outbox.to_path_buf(), outbox.join("acked")] {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".msg").and_then(|s| s.split('-').next()) {
                ids.insert(id.parse::<u64>().unwrap());
            }
        }
    }
    ids
}

#[test]
fn messages_lost_by_a_broker_restarted_without_sessions_are_resent_and_stored() {
    let dir = common::tmp("gateway-repair");
    let mut broker = Broker::start(&dir.join("broker"), free_port(), "");
    let db = format!("sqlite:{}", dir.join("gw.db").display());
    let mut gw = Gateway::start(&dir, "gw-repair", broker.port, &db, "");
    let cfg = daemon_config(&dir, "room-r", broker.port, 60);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("demo_frames = 60", "loop = true");
    std::fs::write(&cfg, text).unwrap();
    let mut d = DaemonProcess::start(&cfg, &["--exam", "exam-r"], &[]);
    gw.wait(60, "first assessments stored", |g| {
        g.json("/api/gateway")["stored"].as_u64().unwrap_or(0) >= 5
    });

    // The gateway goes away; its persistent session at the broker collects what the room sends.
    gw.stop();
    std::thread::sleep(Duration::from_secs(3));
    // The broker restarts WITHOUT its sessions: what it held for the gateway is gone, although
    // the daemon has its PUBACKs.
    broker.kill();
    let _ = std::fs::remove_file(broker.dir.join("mosquitto.db"));
    broker.restart();
    let gw = Gateway::start(&dir, "gw-repair", broker.port, &db, "");
    d.wait_log(30, "connection 2");
    // While the room keeps measuring, the gateway finds the hole and the room fills it.
    gw.wait(60, "the hole filled", |g| {
        let r = g.json("/api/rooms/room-r/ids")["ranges"].clone();
        r.as_array().unwrap().len() == 1 && g.json("/api/gateway")["resend_requests"].as_u64().unwrap() >= 1
    });
    assert!(d.stop().success(), "{}", d.log());

    let issued = issued_from_outbox(&dir.join("room-r").join("outbox"));
    let (first, last) = (*issued.first().unwrap(), *issued.last().unwrap());
    assert_eq!(
        issued.len() as u64,
        last - first + 1,
        "the daemon's ids are consecutive"
    );
    gw.wait(60, "every issued id stored", |g| {
        g.json("/api/rooms/room-r/ids")["ranges"] == serde_json::json!([[first, last]])
    });
    let s = gw.json("/api/gateway");
    println!(
        "issued {} durable messages; stored all of them; this gateway run: stored {}, resend requests {}, replayed stored {}, gaps {}",
        issued.len(),
        s["stored"],
        s["resend_requests"],
        s["replayed_stored"],
        s["gaps_detected"]
    );
    assert!(
        s["gaps_detected"].as_u64().unwrap() >= 1 && s["resend_requests"].as_u64().unwrap() >= 1,
        "{s}"
    );
    assert!(s["replayed_stored"].as_u64().unwrap() >= 1, "{s}");
    assert!(d.log().contains("sent again"), "{}", d.log());
    let exam = gw.json("/api/exams/room-r/exam-r");
    assert!(exam["ended"].is_number(), "{exam}");
}

/// The dashboard in headless chromium: both rooms, the exam list, an exam page with its plots.
/// Screenshots stay in the test folder (printed) for a human to look at.
fn dashboard_in_a_real_browser(gw: &Gateway, dir: &Path) {
    let profile = dir.join("chromium");
    let base = format!("http://127.0.0.1:{}/", gw.http);
    let home = common::browser::dom(&profile, &format!("{base}#token={TOKEN}"));
    for room in ["room-a", "room-b"] {
        assert!(
            home.contains(&format!("data-room=\"{room}\"")),
            "room card {room} missing:\n{home}"
        );
        assert!(home.contains(&format!("exam-{room}</a>")), "exam row of {room} missing");
    }
    assert!(
        !home.contains(r#"id="login" style="display: block"#),
        "the token was refused:\n{home}"
    );
    let exam = format!("{base}#/exam/room-a/exam-room-a&token={TOKEN}");
    let page = common::browser::dom(&profile, &exam);
    assert!(page.contains("Exam exam-room-a"), "{page}");
    for series in ["yaw", "pitch", "roll", "lateral_shift"] {
        let needle = format!("data-series=\"{series}\"");
        let at = page
            .find(&needle)
            .unwrap_or_else(|| panic!("plot of {series} missing:\n{page}"));
        // A drawn line, not an empty path.
        let path = &page[page[..at].rfind("<path").unwrap()..at];
        assert!(path.matches('L').count() >= 5, "{series}: {path}");
    }
    // Without the token the page shows the login form, and no data.
    let locked = common::browser::dom(&dir.join("chromium-2"), &base);
    assert!(
        !locked.contains("data-room=\"room-a\"") && locked.contains(r#"id="login" style="display: block"#),
        "{locked}"
    );
    let shots = [
        common::browser::screenshot(&profile, &format!("{base}#token={TOKEN}"), &dir.join("dashboard.png")),
        common::browser::screenshot(&profile, &exam, &dir.join("exam.png")),
    ];
    println!("screenshots: {} {}", shots[0].display(), shots[1].display());
}
