//! The daemon against a REAL mosquitto started by the test on a free port: availability and will,
//! exam events on a video source, commands and replies, TLS with a password, clear errors for a
//! wrong password and a wrong CA, and a broker that is not there at start.

mod common;
use cdposture::capture::demo::rotate_image;
use cdposture::capture::load_image;
use common::broker::{free_port, Broker, DaemonProcess, Subscriber};
use std::path::Path;
use std::time::Duration;

fn config(dir: &Path, port: u16, source: &str, mqtt_extra: &str) -> std::path::PathBuf {
    let p = dir.join("cdposture.toml");
    std::fs::write(
        &p,
        format!(
            "[room]\nid = \"r1\"\n{source}\n[exam]\nupdate_interval_s = 0.5\nneutral_capture_s = 0.3\n\
             [mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nstate_interval_s = 0.2\nassessment_interval_s = 0.5\n\
             stats_interval_s = 1\nkeep_alive_s = 5\n{mqtt_extra}\n[outbox]\ndir = \"{}\"\n",
            dir.join("outbox").display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn availability_exam_events_on_a_video_and_the_will() {
    let dir = common::tmp("mqtt-exam");
    let broker = Broker::start(&dir.join("broker"), free_port(), "");
    let sub = Subscriber::connect(broker.port, "t-exam");
    let face = load_image(&common::photo("astronaut.png")).unwrap();
    let frames: Vec<_> = (0..30)
        .map(|i| rotate_image(&face, 25.0 * (i as f64 / 29.0), false))
        .collect();
    // Each frame shown 4 times: an 8 s clip, so that even under emulation (~10x slower inference,
    // the drop-oldest queue keeping only the newest frame) the processed frames span the whole tilt.
    let video = common::make_video(&dir, &frames, 4, "tilt.mp4", "512:512");
    let cfg = config(
        &dir,
        broker.port,
        &format!("[source]\nkind = \"video\"\npath = \"{}\"", video.display()),
        "",
    );
    let mut d = DaemonProcess::start(&cfg, &["--exam", "clinic-1"], &[]);
    assert!(d.stop_when_done(30).success(), "{}", d.log());
    sub.wait_for(10, "available=stopped", |s| {
        s.on("available").last().is_some_and(|v| v == "stopped")
    });
    let avail: Vec<String> = sub
        .on("available")
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(avail, ["online", "stopped"], "{avail:?}");
    sub.wait_for(10, "exam end", |s| s.on("exam").iter().any(|e| e["type"] == "end"));
    let exams = sub.on("exam");
    let kinds: Vec<&str> = exams.iter().map(|e| e["type"].as_str().unwrap()).collect();
    println!("exam events: {kinds:?}");
    assert_eq!(kinds.first(), Some(&"new"));
    assert_eq!(kinds.last(), Some(&"end"));
    assert!(kinds.contains(&"update"), "8 s of video with 0.5 s updates: {kinds:?}");
    assert!(exams
        .iter()
        .all(|e| e["exam_id"] == "clinic-1" && e["schema"] == 1 && e["msg_id"].is_u64()));
    let end = exams.last().unwrap();
    // Paced at the video's 15 fps: a frame that arrives while the previous one is still being
    // measured replaces the queued one (drop-oldest), so processed + dropped = 120.
    let stats = sub.on("stats");
    let last = stats.last().unwrap();
    let (processed, dropped) = (
        last["frames_processed"].as_u64().unwrap(),
        last["frames_dropped"].as_u64().unwrap(),
    );
    assert_eq!(processed + dropped, 120, "{last}");
    assert_eq!(end["summary"]["frames"].as_u64().unwrap(), processed, "{end}");
    // The video turns the whole picture by up to 25° (the head tilts 3° in the photo): as far as
    // the picture tells, the trunk leans with the head, and the trunk frame takes as much of that
    // lean as the posture model is sure of. It read ~27° of tilt from crops the camera's way up,
    // ~21.5° from crops turned with the trunk (README, "Turned crops").
    let tilt = end["summary"]["laterocollis"]["max_excursion"].as_f64().unwrap();
    assert!(
        tilt > 15.0 && tilt < 32.0,
        "the video turns the picture by up to 25° (+3° in the photo): {tilt}"
    );
    assert_eq!(end["summary"]["item1"]["laterocollis"]["score"], 2);
    assert!(!sub.on("state").is_empty() && !sub.on("assessment").is_empty() && !sub.on("stats").is_empty());
    assert!(last["mqtt"]["connected"].as_bool().unwrap());

    // The will: a daemon that dies is announced `offline` by the broker.
    let cfg = config(&dir, broker.port, "[source]\nloop = true", "");
    let d = DaemonProcess::start(&cfg, &[], &[]);
    sub.wait_for(30, "online", |s| {
        s.on("available").last().is_some_and(|v| v == "online")
    });
    d.signal("-KILL");
    sub.wait_for(15, "will", |s| s.on("available").last().is_some_and(|v| v == "offline"));
}

#[test]
fn commands_start_and_end_exams_and_bad_ones_get_a_reply() {
    let dir = common::tmp("mqtt-cmd");
    let broker = Broker::start(&dir.join("broker"), free_port(), "");
    let sub = Subscriber::connect(broker.port, "t-cmd");
    let cfg = config(&dir, broker.port, "[source]\nloop = true", "");
    let mut d = DaemonProcess::start(&cfg, &[], &[]);
    sub.wait_for(30, "online", |s| s.on("available").iter().any(|v| v == "online"));
    let send = |name: &str, body: &str| {
        sub.client
            .publish(
                format!("cdposture/r1/cmd/{name}"),
                rumqttc::QoS::AtLeastOnce,
                false,
                body.as_bytes().to_vec(),
            )
            .unwrap();
    };
    send("neutral", r#"{"request_id": 1}"#);
    send("exam_start", r#"{"request_id": 2, "exam_id": "v-9"}"#);
    send("reboot", r#"{"request_id": 3}"#);
    send("exam_start", "{not json");
    sub.wait_for(20, "4 replies", |s| s.on("reply").len() >= 4);
    // Measure inside the exam, after the neutral capture, before ending it.
    sub.wait_for(60, "a measured frame in exam v-9 after the neutral", |s| {
        s.on("state")
            .iter()
            .any(|m| m["exam_id"] == "v-9" && m["neutral_capturing"] == false && m["quality_ok"] == true)
    });
    send("exam_end", r#"{"request_id": 5}"#);
    sub.wait_for(20, "exam end", |s| s.on("exam").iter().any(|e| e["type"] == "end"));
    let replies = sub.on("reply");
    let reply_schema = common::schema::validator("reply");
    for r in &replies {
        reply_schema.check(r, "reply");
    }
    let by_id = |id: i64| {
        replies
            .iter()
            .find(|r| r["request_id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_id(1)["ok"], true);
    assert_eq!(by_id(2)["ok"], true);
    assert_eq!(by_id(3)["ok"], false);
    assert!(by_id(3)["error"].as_str().unwrap().contains("unknown command"));
    assert!(replies
        .iter()
        .any(|r| r["ok"] == false && r["error"].as_str().unwrap_or("").contains("not valid")));
    let exams = sub.on("exam");
    assert!(exams.iter().any(|e| e["type"] == "new" && e["exam_id"] == "v-9"));
    let end = exams.iter().find(|e| e["type"] == "end").unwrap();
    // A neutral was captured: the astronaut's head is turned and bowed a little (yaw ~-7°, pitch
    // ~-5°); its roll depends on where in the demo's tilt the capture fell (under emulation, a
    // frame or two near the zero crossing), so any axis away from zero will do.
    let neutral = ["yaw", "pitch", "roll"].map(|a| end["neutral"][a].as_f64().unwrap().abs());
    assert!(
        neutral.iter().any(|v| *v > 0.1),
        "neutral captured before the exam: {end}"
    );
    assert!(d.stop().success(), "still healthy after bad commands: {}", d.log());
}

fn openssl(dir: &Path, args: &[&str]) {
    let s = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(s.success(), "openssl {args:?}");
}

/// A CA, a server certificate for localhost/127.0.0.1 signed by it, and an unrelated second CA.
fn certificates(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for ca in ["ca", "other-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ],
    );
}

#[test]
fn tls_with_password_and_clear_errors_for_wrong_password_and_wrong_ca() {
    let dir = common::tmp("mqtt-tls");
    let certs = dir.join("certs");
    certificates(&certs);
    let pw = certs.join("passwd");
    std::fs::write(&pw, "").unwrap();
    let s = std::process::Command::new("mosquitto_passwd")
        .arg("-b")
        .arg(&pw)
        .args(["device", "s3cret"])
        .status()
        .unwrap();
    assert!(s.success());
    let c = |f: &str| certs.join(f).display().to_string();
    let broker = Broker::start(
        &dir.join("broker"),
        free_port(),
        &format!(
            "cafile {}\ncertfile {}\nkeyfile {}\npassword_file {}\n",
            c("ca.pem"),
            c("server.pem"),
            c("server.key"),
            pw.display()
        ),
    );
    let port = broker.port;
    let tls = |ca: &str| {
        format!(
            "username = \"device\"\npassword_env = \"MQTT_PW\"\n[mqtt.tls]\nca = \"{}\"\n",
            c(ca)
        )
    };
    let src = "[source]\nloop = true";

    // Right CA, right password: connected, messages flow (seen through the daemon's own log).
    let cfg = config(&dir, port, src, &tls("ca.pem"));
    let mut d = DaemonProcess::start(&cfg, &[], &[("MQTT_PW", "s3cret")]);
    d.wait_log(30, "connected to broker");
    assert!(d.stop().success());

    let dir2 = dir.join("wrong-pw");
    std::fs::create_dir_all(&dir2).unwrap();
    let cfg = config(&dir2, port, src, &tls("ca.pem"));
    let mut d = DaemonProcess::start(&cfg, &[], &[("MQTT_PW", "wrong")]);
    d.wait_log(30, "refused the login");
    println!("{}", d.log().lines().find(|l| l.contains("refused")).unwrap());
    assert!(d.log().contains("mqtt.password_env"));
    assert!(
        d.stop().success(),
        "a wrong password is not fatal: the daemon keeps measuring and retrying"
    );

    let dir3 = dir.join("wrong-ca");
    std::fs::create_dir_all(&dir3).unwrap();
    let cfg = config(&dir3, port, src, &tls("other-ca.pem"));
    let mut d = DaemonProcess::start(&cfg, &[], &[("MQTT_PW", "s3cret")]);
    d.wait_log(30, "mqtt.tls.ca");
    println!("{}", d.log().lines().find(|l| l.contains("TLS")).unwrap());
    assert!(
        d.log().to_lowercase().contains("unknownissuer") || d.log().contains("certificate"),
        "{}",
        d.log()
    );
    assert!(d.stop().success());
}

/// The broker password never reaches a terminal or the journal: not from `check-config` (the unit's
/// ExecStartPre), not from the daemon at the most verbose log level, connected or refused.
#[test]
fn the_password_is_never_printed() {
    const SECRET: &str = "hunter2-Zq9";
    let dir = common::tmp("mqtt-secret");
    let pw = dir.join("passwd");
    std::fs::write(&pw, "").unwrap();
    let s = std::process::Command::new("mosquitto_passwd")
        .arg("-b")
        .arg(&pw)
        .args(["device", SECRET])
        .status()
        .unwrap();
    assert!(s.success());
    let broker = Broker::start(
        &dir.join("broker"),
        free_port(),
        &format!("password_file {}\n", pw.display()),
    );
    let auth = "username = \"device\"\npassword_env = \"CDPOSTURE_MQTT_PASSWORD\"";
    let cfg = config(&dir, broker.port, "[source]\nloop = true", auth);
    for level in ["info", "debug", "trace"] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_cdposture"))
            .arg("check-config")
            .arg(&cfg)
            .env("CDPOSTURE_MQTT_PASSWORD", SECRET)
            .env("RUST_LOG", level)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "{all}");
        assert!(
            all.contains("password"),
            "check-config shows that a password is set: {all}"
        );
        assert!(
            !all.contains(SECRET),
            "check-config at {level} printed the password:\n{all}"
        );
    }
    for (case, secret) in [("connected", SECRET), ("refused", "wrong-Zq9-password")] {
        let sub = dir.join(case);
        std::fs::create_dir_all(&sub).unwrap();
        let cfg = config(&sub, broker.port, "[source]\nloop = true", auth);
        let mut d = DaemonProcess::start(
            &cfg,
            &["--exam"],
            &[("CDPOSTURE_MQTT_PASSWORD", secret), ("RUST_LOG", "trace")],
        );
        d.wait_log(
            30,
            if case == "connected" {
                "connected to broker"
            } else {
                "refused the login"
            },
        );
        std::thread::sleep(Duration::from_secs(1));
        assert!(d.stop().success());
        let all = d.log() + &d.stdout();
        assert!(all.len() > 1000, "trace logging is on: {} bytes", all.len());
        assert!(!all.contains(secret), "the daemon ({case}) printed the password");
    }
}

#[test]
fn broker_down_at_start_buffers_and_delivers_later() {
    let dir = common::tmp("mqtt-late");
    let port = free_port();
    let cfg = config(&dir, port, "[source]\nloop = true", "");
    let mut d = DaemonProcess::start(&cfg, &["--exam", "early"], &[]);
    d.wait_log(30, "cannot reach broker");
    std::thread::sleep(Duration::from_secs(2));
    let broker = Broker::start(&dir.join("broker"), port, "");
    let sub = Subscriber::connect(broker.port, "t-late");
    // The exam started while the broker was away; its `new` event waited in the outbox.
    sub.wait_for(60, "buffered exam new", |s| {
        s.on("exam")
            .iter()
            .any(|e| e["type"] == "new" && e["exam_id"] == "early")
    });
    assert!(d.stop().success());
    sub.wait_for(10, "exam end", |s| s.on("exam").iter().any(|e| e["type"] == "end"));
    let log = d.log();
    assert_eq!(
        log.matches("cannot reach broker").count(),
        1,
        "one error line per streak, not spam:\n{log}"
    );
}

/// Full disk under the outbox: a clear error in the log, the daemon keeps measuring, messages are
/// still delivered from memory (not durable), and stats count the failures. Needs root to mount a
/// tiny tmpfs (CI runs as root).
#[test]
fn full_disk_for_the_outbox_is_reported_and_survived() {
    let dir = common::tmp("mqtt-full");
    let outbox = dir.join("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8k"])
        .arg("tmpfs")
        .arg(&outbox)
        .status();
    assert!(
        mounted.is_ok_and(|s| s.success()),
        "this test mounts a tiny tmpfs: run it as root"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(outbox.clone());
    let broker = Broker::start(&dir.join("broker"), free_port(), "");
    let sub = Subscriber::connect(broker.port, "t-full");
    let cfg = config(&dir, broker.port, "[source]\nloop = true", "");
    // assessments every frame fill 8 KiB within a second or two.
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("assessment_interval_s = 0.5", "assessment_interval_s = 0.001"),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let mut d = DaemonProcess::start(&cfg, &["--exam", "full"], &[]);
    d.wait_log(60, "NOT durable");
    println!("{}", d.log().lines().find(|l| l.contains("NOT durable")).unwrap());
    sub.wait_for(30, "stats with write failures", |s| {
        s.on("stats")
            .iter()
            .any(|m| m["mqtt"]["outbox_write_failures"].as_u64().unwrap_or(0) > 0)
    });
    let before = sub.on("assessment").len();
    sub.wait_for(30, "assessments still flowing", |s| {
        s.on("assessment").len() > before + 20
    });
    assert!(d.stop().success(), "{}", d.log());
    let minutes = started.elapsed().as_secs() / 60;
    let lines = d.log().matches("NOT durable").count() as u64;
    assert!(
        lines >= 1 && lines <= minutes + 1,
        "logged once a minute, not per message: {lines} lines in {minutes} min"
    );
}

/// Every published message is valid against its definition in docs/schema.json, checked by a real
/// JSON Schema validator (types, required keys, ranges, and no undeclared key): the schema a
/// gateway is written against stays true to the code.
#[test]
fn published_messages_match_the_documented_schema() {
    let dir = common::tmp("mqtt-schema");
    let broker = Broker::start(&dir.join("broker"), free_port(), "");
    let sub = Subscriber::connect(broker.port, "t-schema");
    let cfg = config(&dir, broker.port, "[source]\ndemo_frames = 20", "");
    let mut d = DaemonProcess::start(&cfg, &["--exam", "s"], &[]);
    assert!(d.stop_when_done(60).success());
    sub.wait_for(10, "stopped", |s| {
        s.on("available").last().is_some_and(|v| v == "stopped")
    });
    for leaf in ["state", "assessment", "exam", "stats", "info"] {
        let v = common::schema::validator(common::schema::def_for_topic(leaf));
        let msgs = sub.on(leaf);
        assert!(!msgs.is_empty(), "no {leaf} message");
        for (i, m) in msgs.iter().enumerate() {
            v.check(m, &format!("{leaf} message {i}"));
        }
    }
}

/// The camera's status topic: retained, so a gateway that connects later still learns it, and
/// announced again after the broker restarts (a restarted mosquitto has forgotten retained
/// messages). Driven through the daemon's MQTT sink and task, as `run` wires them.
#[test]
fn camera_status_is_retained_and_announced_again_after_a_broker_restart() {
    use cdposture::protocol::sink::Sink;
    use cdposture::publish::{mqtt::MqttTask, outbox::Outbox, LinkStatus, MqttSink, Topics};
    use std::sync::{Arc, Mutex};
    let dir = common::tmp("mqtt-camera");
    let mut broker = Broker::start(&dir.join("broker"), free_port(), "");
    let settings = cdposture::config::Settings::load(&config(&dir, broker.port, "", "")).unwrap();
    let mqtt = settings.mqtt.clone().unwrap();
    let outbox = Arc::new(Mutex::new(
        Outbox::open(&settings.outbox.dir, settings.outbox.max_bytes).unwrap(),
    ));
    let wake = Arc::new(tokio::sync::Notify::new());
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let status = Arc::new(LinkStatus::default());
    let (live_tx, live_rx) = tokio::sync::mpsc::channel(64);
    let (cmd_tx, _cmd_rx) = std::sync::mpsc::channel();
    let task = MqttTask {
        settings: mqtt.clone(),
        topics: Topics::new(&mqtt.prefix, &settings.room),
        outbox: outbox.clone(),
        wake: wake.clone(),
        live: live_rx,
        commands: cmd_tx,
        status: status.clone(),
        shutdown: shutdown.clone(),
        info: None,
    };
    let net = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(task.run())
    });
    let mut sink = MqttSink::new(
        Topics::new(&mqtt.prefix, &settings.room),
        outbox,
        wake,
        live_tx,
        status.clone(),
    )
    .unwrap();
    let connected = |s: &LinkStatus| s.connected.load(std::sync::atomic::Ordering::Relaxed);
    let t = std::time::Instant::now();
    while !connected(&status) {
        assert!(t.elapsed() < Duration::from_secs(10), "never connected");
        std::thread::sleep(Duration::from_millis(20));
    }
    let early = Subscriber::connect(broker.port, "t-camera-early");
    sink.camera(true);
    sink.camera(false);
    // Both reached the broker before the late subscriber connects (else it may see both: a race).
    early.wait_for(10, "camera offline", |s| {
        s.on("camera").last().is_some_and(|v| v == "offline")
    });
    // A gateway connecting afterwards gets the retained status.
    let late = Subscriber::connect(broker.port, "t-camera-late");
    late.wait_for(10, "retained camera offline", |s| {
        s.on("camera").last().is_some_and(|v| v == "offline")
    });
    assert_eq!(late.on("camera").len(), 1, "only the retained (last) status");
    // The broker restarts and forgets; the daemon reconnects and announces the status again.
    broker.kill();
    // Its persisted retained messages go too: only the daemon can bring the status back.
    let _ = std::fs::remove_file(dir.join("broker").join("mosquitto.db"));
    broker.restart();
    let t = std::time::Instant::now();
    while !(connected(&status) && status.connects.load(std::sync::atomic::Ordering::Relaxed) >= 2) {
        assert!(t.elapsed() < Duration::from_secs(30), "never reconnected");
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = Subscriber::connect(broker.port, "t-camera-after");
    after.wait_for(10, "camera status re-announced", |s| {
        s.on("camera").last().is_some_and(|v| v == "offline")
    });
    sink.camera(true);
    after.wait_for(10, "camera back online", |s| {
        s.on("camera").last().is_some_and(|v| v == "online")
    });
    let camera_schema = common::schema::validator("camera");
    for v in late.on("camera").iter().chain(after.on("camera").iter()) {
        camera_schema.check(v, "camera status");
    }
    shutdown.notify_one();
    net.join().unwrap();
}

/// A clean stop must replace the will: `stopped` is retained and no `offline` follows. The daemon
/// must not close its socket before the broker has read the farewell and the DISCONNECT (closing
/// with a PUBACK unread, or before the farewell's PUBACK arrives, resets the connection and the
/// broker drops what it has not read yet). The broker is paused across the SIGTERM and comes back
/// after the daemon's 3 s for the outbox, as after a network stall: the farewell then goes out
/// with a backlog ahead of it. Twice, because part of the loss is a race.
#[test]
fn a_clean_stop_is_announced_even_after_a_broker_stall() {
    let dir = common::tmp("mqtt-farewell");
    let broker = Broker::start(&dir.join("broker"), free_port(), "");
    let sub = Subscriber::connect(broker.port, "t-farewell");
    let cfg = config(&dir, broker.port, "[source]\nloop = true\ndemo_fps = 60", "");
    // 50 durable assessments a second: a backlog the outbox cannot send while the broker is paused.
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("assessment_interval_s = 0.5"),
        "the backlog needs this key: {text}"
    );
    std::fs::write(
        &cfg,
        text.replace("assessment_interval_s = 0.5", "assessment_interval_s = 0.02"),
    )
    .unwrap();
    for round in 1..=2 {
        let mut d = DaemonProcess::start(&cfg, &[], &[]);
        sub.wait_for(30, "online", |s| {
            s.on("available").iter().filter(|v| *v == "online").count() == round
        });
        let seen = sub.on("assessment").len();
        sub.wait_for(30, "assessments", |s| s.on("assessment").len() >= seen + 2);
        broker.pause();
        std::thread::sleep(Duration::from_millis(300));
        d.signal("-TERM");
        std::thread::sleep(Duration::from_millis(3700));
        broker.resume();
        assert!(d.stop_when_done(20).success(), "{}", d.log());
        sub.wait_for(10, "available=stopped", |s| {
            s.on("available").iter().filter(|v| *v == "stopped").count() == round
        });
        // The will would arrive after `stopped` if the broker had lost the DISCONNECT.
        std::thread::sleep(Duration::from_millis(1500));
        let avail = sub.on("available");
        assert_eq!(
            avail.last().and_then(|v| v.as_str()),
            Some("stopped"),
            "round {round}: {avail:?}"
        );
    }
}
