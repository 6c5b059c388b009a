//! The broker access control documented in `deploy/mosquitto/` (`mosquitto.conf` and `acl`), enforced
//! by a REAL mosquitto started with those very files (only the listener and certificate lines are
//! left out, the password file is the test's): a room's credentials cannot command any room, cannot
//! spoof another room's records nor read them, cannot take over another room's client id; anonymous
//! clients are refused; the gateway reads and commands every room; the daemon works under it.
//!
//! mosquitto drops an unauthorised publish silently for MQTT 3.1.1 (rumqttc): the evidence is that
//! the message does not arrive while a later message on the same connection, or from the gateway,
//! does (so no test passes just because nothing arrives), plus mosquitto's own `Denied PUBLISH` line.

mod common;
use common::broker::{free_port, Broker, DaemonProcess};
use rumqttc::{ConnectReturnCode, ConnectionError, Event, MqttOptions, Outgoing, Packet, QoS};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/mosquitto");
const USERS: [(&str, &str); 3] = [("gateway", "gw-secret"), ("room1", "r1-secret"), ("room2", "r2-secret")];
/// Every leaf the daemon publishes under `cdposture/<room>/` (README "MQTT").
const DEVICE_LEAVES: [&str; 7] = ["available", "camera", "state", "assessment", "exam", "stats", "reply"];
/// After the last evidence that the broker has processed a forbidden publish, how long more a
/// message that got through would be given to arrive anyway.
const GRACE: Duration = Duration::from_secs(1);

/// A broker configured with the files in deploy/mosquitto/, with users gateway, room1 and room2.
struct Clinic {
    broker: Broker,
}

impl Clinic {
    fn start(dir: &Path) -> Clinic {
        let passwd = dir.join("passwd");
        for (i, (user, password)) in USERS.iter().enumerate() {
            let mut c = std::process::Command::new("mosquitto_passwd");
            c.arg("-b");
            if i == 0 {
                c.arg("-c");
            }
            let s = c
                .arg(&passwd)
                .args([user, password])
                .status()
                .expect("mosquitto_passwd (apt-get install mosquitto)");
            assert!(s.success());
        }
        // The documented configuration, as is, but for the TLS listener (tests/mqtt.rs covers TLS
        // with a password) and the file paths; `log_type all` for the `Denied PUBLISH` lines.
        let documented = std::fs::read_to_string(format!("{DEPLOY}/mosquitto.conf")).unwrap();
        let mut conf = String::new();
        for line in documented.lines().map(str::trim) {
            let key = line.split_whitespace().next().unwrap_or("");
            match key {
                "" | "listener" | "cafile" | "certfile" | "keyfile" => {}
                k if k.starts_with('#') => {}
                "password_file" => conf += &format!("password_file {}\n", passwd.display()),
                "acl_file" => conf += &format!("acl_file {DEPLOY}/acl\n"),
                _ => conf += &format!("{line}\n"),
            }
        }
        // The paths were substituted (the rest is checked by what the broker then lets through).
        for needed in ["password_file", "acl_file"] {
            assert!(
                conf.contains(needed),
                "deploy/mosquitto/mosquitto.conf lost `{needed}`:\n{conf}"
            );
        }
        conf += "log_type all\n";
        Clinic {
            broker: Broker::start(&dir.join("broker"), free_port(), &conf),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.broker.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// mosquitto's debug line for a publish to `topic` the ACL refused.
    fn denied(&self, topic: &str) -> bool {
        self.log()
            .lines()
            .any(|l| l.contains("Denied PUBLISH from ") && l.contains(&format!("'{topic}'")))
    }

    fn peer(&self, user: &str, client_id: &str, subscribe: Option<&str>) -> Peer {
        let password = USERS.iter().find(|(u, _)| *u == user).unwrap().1;
        Peer::connect(self.broker.port, Some((user, password)), client_id, subscribe)
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s * common::slowdown())
}

/// An MQTT client in the test (rumqttc, MQTT 3.1.1 like the daemon) that records what it receives,
/// how often it got connected and why it was refused.
struct Peer {
    name: String,
    client: rumqttc::Client,
    messages: Arc<Mutex<Vec<(String, String)>>>,
    connects: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    refused: Arc<Mutex<Option<ConnectReturnCode>>>,
    closed: Arc<AtomicBool>,
}

impl Drop for Peer {
    /// Disconnect for good (no reconnecting that would take the id back from a later peer).
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.disconnect();
    }
}

impl Peer {
    fn connect(port: u16, login: Option<(&str, &str)>, client_id: &str, subscribe: Option<&str>) -> Peer {
        let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5));
        if let Some((user, password)) = login {
            o.set_credentials(user, password);
        }
        let (client, mut conn) = rumqttc::Client::new(o, 100);
        if let Some(filter) = subscribe {
            client.subscribe(filter, QoS::AtLeastOnce).unwrap();
        }
        let peer = Peer {
            name: format!("{} as {client_id}", login.map_or("anonymous", |l| l.0)),
            client,
            messages: Default::default(),
            connects: Default::default(),
            errors: Default::default(),
            refused: Default::default(),
            closed: Default::default(),
        };
        let (messages, connects, errors, refused, closed) = (
            peer.messages.clone(),
            peer.connects.clone(),
            peer.errors.clone(),
            peer.refused.clone(),
            peer.closed.clone(),
        );
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let wants_suback = subscribe.is_some();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connects.fetch_add(1, Ordering::SeqCst);
                        if !wants_suback {
                            let _ = ready_tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let payload = String::from_utf8_lossy(&p.payload).into_owned();
                        messages.lock().unwrap().push((p.topic.clone(), payload));
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(ConnectionError::ConnectionRefused(code)) => {
                        *refused.lock().unwrap() = Some(code);
                        let _ = ready_tx.send(());
                        break;
                    }
                    Err(ConnectionError::RequestsDone) => break,
                    Err(_) if closed.load(Ordering::SeqCst) => break,
                    Err(_) => {
                        errors.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        });
        ready_rx.recv_timeout(secs(10)).expect("connected (or refused)");
        peer
    }

    fn publish(&self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .unwrap();
    }

    fn received(&self, topic: &str, payload: &str) -> bool {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .any(|(t, p)| t == topic && p.contains(payload))
    }

    fn topics(&self) -> Vec<String> {
        self.messages.lock().unwrap().iter().map(|(t, _)| t.clone()).collect()
    }

    fn wait_for(&self, secs_: u64, topic: &str, payload: &str) {
        let t = Instant::now();
        while !self.received(topic, payload) {
            if t.elapsed() > secs(secs_) {
                let got = self.messages.lock().unwrap().clone();
                panic!("{} never received `{payload}` on {topic}; got {got:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// (a) A room's credentials publishing a command to another room (or to its own room) reach
/// nobody; the same command from the gateway reaches both the room and the gateway's monitor.
#[test]
fn a_room_cannot_command_any_room_only_the_gateway_can() {
    let dir = common::tmp("acl-cmd");
    let clinic = Clinic::start(&dir);
    let gateway = clinic.peer("gateway", "t-gateway", Some("cdposture/#"));
    // room2's device, subscribed like the daemon: its own commands.
    let room2 = clinic.peer("room2", "cdposture-room2", Some("cdposture/room2/cmd/+"));
    let room1 = clinic.peer("room1", "cdposture-room1", None);

    room1.publish(
        "cdposture/room2/cmd/exam_start",
        r#"{"request_id": "forged-by-room1"}"#,
        false,
    );
    room1.publish("cdposture/room1/cmd/exam_end", r#"{"request_id": "forged-own"}"#, false);
    // Same connection, after those: once the gateway has this one, mosquitto has handled them.
    room1.publish("cdposture/room1/state", "sentinel-a", false);
    gateway.wait_for(10, "cdposture/room1/state", "sentinel-a");
    std::thread::sleep(GRACE);

    // Positive control: the very same command from the gateway is delivered.
    gateway.publish(
        "cdposture/room2/cmd/exam_start",
        r#"{"request_id": "from-gateway"}"#,
        false,
    );
    room2.wait_for(10, "cdposture/room2/cmd/exam_start", "from-gateway");
    gateway.wait_for(10, "cdposture/room2/cmd/exam_start", "from-gateway");

    for peer in [&room2, &gateway] {
        assert!(
            !peer.received("cdposture/room2/cmd/exam_start", "forged-by-room1"),
            "room1's credentials commanded room2 ({} received it)",
            peer.name
        );
    }
    assert!(
        !gateway.received("cdposture/room1/cmd/exam_end", "forged-own"),
        "room1's credentials sent a command to room1"
    );
    assert!(clinic.denied("cdposture/room2/cmd/exam_start"), "{}", clinic.log());
    assert!(clinic.denied("cdposture/room1/cmd/exam_end"), "{}", clinic.log());
    println!(
        "{}",
        clinic.log().lines().find(|l| l.contains("Denied PUBLISH")).unwrap()
    );
}

/// (b) A room's credentials cannot write any of another room's topics (records, status, replies;
/// a retained `available` would even greet every later subscriber) while they can write each of
/// their own; they read nothing but their own commands; the gateway writes no records either.
#[test]
fn a_room_cannot_spoof_nor_read_another_rooms_records() {
    let dir = common::tmp("acl-spoof");
    let clinic = Clinic::start(&dir);
    let gateway = clinic.peer("gateway", "t-gateway", Some("cdposture/#"));
    // room2's credentials listening to everything: mosquitto accepts the subscription and filters
    // every delivery through the ACL's `read` rules.
    let room2 = clinic.peer("room2", "cdposture-room2", Some("cdposture/#"));
    let room1 = clinic.peer("room1", "cdposture-room1", None);

    for leaf in DEVICE_LEAVES {
        let retain = leaf == "available" || leaf == "camera";
        room1.publish(&format!("cdposture/room2/{leaf}"), &format!("spoof-{leaf}"), retain);
        room1.publish(&format!("cdposture/room1/{leaf}"), &format!("own-{leaf}"), retain);
    }
    // Each own message arrives (the ACL lets the device publish all it publishes), and each comes
    // after the spoofed one on the same connection.
    for leaf in DEVICE_LEAVES {
        gateway.wait_for(10, &format!("cdposture/room1/{leaf}"), &format!("own-{leaf}"));
    }
    std::thread::sleep(GRACE);
    // The gateway commands, it does not write records either.
    gateway.publish("cdposture/room2/assessment", "spoof-by-gateway", false);
    // room2 reads its own commands (positive control for its subscription) and, since room1's
    // messages were routed before this command, would have had them by now. The gateway gets its
    // own command back after its forged assessment, were that one let through.
    gateway.publish("cdposture/room2/cmd/neutral", "{}", false);
    room2.wait_for(10, "cdposture/room2/cmd/neutral", "{}");
    gateway.wait_for(10, "cdposture/room2/cmd/neutral", "{}");

    let spoofed: Vec<String> = gateway
        .messages
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| t.starts_with("cdposture/room2/") && !t.contains("/cmd/"))
        .map(|(t, p)| format!("{t} {p}"))
        .collect();
    assert!(spoofed.is_empty(), "room2's topics were written by others: {spoofed:?}");
    for leaf in DEVICE_LEAVES {
        assert!(
            clinic.denied(&format!("cdposture/room2/{leaf}")),
            "no denial logged for {leaf}:\n{}",
            clinic.log()
        );
    }
    assert_eq!(
        room2.topics(),
        ["cdposture/room2/cmd/neutral"],
        "room2's credentials read more than their own commands"
    );

    // A gateway connecting later gets room1's retained status, and no spoofed one for room2.
    drop(gateway);
    std::thread::sleep(Duration::from_millis(200));
    let late = clinic.peer("gateway", "t-gateway-late", Some("cdposture/+/available"));
    late.wait_for(10, "cdposture/room1/available", "own-available");
    std::thread::sleep(GRACE);
    assert_eq!(late.topics(), ["cdposture/room1/available"]);
}

/// Nobody without a password gets in: no anonymous reading of patient records, no anonymous
/// commands.
#[test]
fn anonymous_clients_are_refused() {
    let dir = common::tmp("acl-anon");
    let clinic = Clinic::start(&dir);
    let anon = Peer::connect(clinic.broker.port, None, "cdposture-room1", Some("cdposture/#"));
    let code = *anon.refused.lock().unwrap();
    assert!(
        matches!(
            code,
            Some(ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword)
        ),
        "anonymous client not refused: {code:?}"
    );
    // Positive control: the same client with a password is let in.
    let room1 = clinic.peer("room1", "cdposture-room1", Some("cdposture/room1/cmd/+"));
    assert!(room1.refused.lock().unwrap().is_none());
    assert_eq!(room1.connects.load(Ordering::SeqCst), 1);
}

/// A stolen room credential connecting with another room's client id does not disconnect that
/// room (mosquitto drops the older of two connections with one client id; `use_username_as_clientid`
/// makes the id the username, so they no longer collide).
#[test]
fn a_room_cannot_take_over_another_rooms_client_id() {
    let dir = common::tmp("acl-takeover");
    let clinic = Clinic::start(&dir);
    let gateway = clinic.peer("gateway", "t-gateway", Some("cdposture/#"));
    let room2 = clinic.peer("room2", "cdposture-room2", Some("cdposture/room2/cmd/+"));
    let thief = clinic.peer("room1", "cdposture-room2", None);
    assert_eq!(thief.connects.load(Ordering::SeqCst), 1, "the thief is connected");
    thief.publish("cdposture/room1/state", "sentinel-d", false);
    gateway.wait_for(10, "cdposture/room1/state", "sentinel-d");
    std::thread::sleep(GRACE);
    assert_eq!(
        (
            room2.connects.load(Ordering::SeqCst),
            room2.errors.load(Ordering::SeqCst)
        ),
        (1, 0),
        "room2 was disconnected by room1's credentials using its client id"
    );
    assert_eq!(thief.errors.load(Ordering::SeqCst), 0);
    // And room2 still gets its commands on that first connection.
    gateway.publish("cdposture/room2/cmd/neutral", r#"{"request_id": "still-there"}"#, false);
    room2.wait_for(10, "cdposture/room2/cmd/neutral", "still-there");
}

fn daemon_config(dir: &Path, port: u16) -> PathBuf {
    let p = dir.join("cdposture.toml");
    std::fs::write(
        &p,
        format!(
            "[room]\nid = \"room1\"\n[source]\nloop = true\n[exam]\nupdate_interval_s = 0.5\nneutral_capture_s = 0.3\n\
             [mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"room1\"\npassword_env = \"MQTT_PW\"\n\
             state_interval_s = 0.2\nassessment_interval_s = 0.5\nstats_interval_s = 1\nkeep_alive_s = 5\n\
             [outbox]\ndir = \"{}\"\n",
            dir.join("outbox").display()
        ),
    )
    .unwrap();
    p
}

/// (c) The daemon itself under the documented ACL, with room credentials: everything it publishes
/// (will, status, records, stats, replies) reaches the gateway and nothing of it is denied; the
/// gateway's command is obeyed and answered; the same command forged with another room's
/// credentials is neither obeyed nor answered.
#[test]
fn the_daemon_works_under_the_documented_acl_and_obeys_only_the_gateway() {
    let dir = common::tmp("acl-daemon");
    let clinic = Clinic::start(&dir);
    let gateway = clinic.peer("gateway", "t-gateway", Some("cdposture/#"));
    let room2 = clinic.peer("room2", "cdposture-room2", None);
    let cfg = daemon_config(&dir, clinic.broker.port);
    let mut d = DaemonProcess::start(&cfg, &["--exam", "acl-1"], &[("MQTT_PW", "r1-secret")]);

    gateway.wait_for(30, "cdposture/room1/available", "online");
    gateway.wait_for(30, "cdposture/room1/exam", "\"new\"");
    for leaf in ["assessment", "state", "stats"] {
        gateway.wait_for(30, &format!("cdposture/room1/{leaf}"), "\"schema\":1");
    }

    // Forged by room2's credentials: dropped by the broker, so never obeyed nor answered.
    room2.publish(
        "cdposture/room1/cmd/exam_end",
        r#"{"request_id": "forged-by-room2"}"#,
        false,
    );
    room2.publish("cdposture/room2/state", "sentinel-c", false);
    gateway.wait_for(10, "cdposture/room2/state", "sentinel-c");
    std::thread::sleep(GRACE * 2);
    assert!(
        !gateway.received("cdposture/room1/reply", "forged-by-room2"),
        "the daemon answered a command forged with room2's credentials"
    );
    assert!(
        !gateway.received("cdposture/room1/exam", "\"end\""),
        "the forged command ended the exam"
    );
    assert!(clinic.denied("cdposture/room1/cmd/exam_end"), "{}", clinic.log());

    // The gateway's command: obeyed and answered.
    gateway.publish(
        "cdposture/room1/cmd/exam_end",
        r#"{"request_id": "from-gateway"}"#,
        false,
    );
    gateway.wait_for(20, "cdposture/room1/reply", "from-gateway");
    let replies: Vec<serde_json::Value> = gateway
        .messages
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| t == "cdposture/room1/reply")
        .map(|(_, p)| serde_json::from_str(p).unwrap())
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["ok"], true, "{replies:?}");
    assert_eq!(replies[0]["request_id"], "from-gateway");
    gateway.wait_for(20, "cdposture/room1/exam", "\"end\"");

    assert!(d.stop().success(), "{}", d.log());
    gateway.wait_for(10, "cdposture/room1/available", "stopped");
    let log = clinic.log();
    assert!(log.contains("u'room1'"), "the daemon logged in as room1:\n{log}");
    for leaf in DEVICE_LEAVES {
        assert!(
            !clinic.denied(&format!("cdposture/room1/{leaf}")),
            "the ACL refused the daemon's {leaf}:\n{log}"
        );
    }
}
