//! Load on the clinic gateway, all real: a mosquitto, the gateway binary (SQLite), and N simulated
//! rooms (one MQTT client each) publishing what a daemon publishes: `available`, live `state` at R
//! per second (QoS 0, a real 1.6 KB state payload), a durable `assessment` each second and an
//! `exam` update every 5 s (QoS 1, consecutive `msg_id`s), an exam `new` at the start and `end`
//! at the end. Reports the backlog (published − received, sampled each second), whether every
//! durable id and every exam arrived, and the gateway's peak RSS and CPU.
//!
//! `cargo bench --bench gateway_load` (defaults: 50 rooms × 10 states/s × 300 s; LOAD_ROOMS,
//! LOAD_RATE, LOAD_SECONDS override). Last line:
//! `GATEWAY_LOAD rooms= rate= seconds= published= received= max_backlog= durable_sent= durable_stored= exams_ended= rss_mb= cpu_pct=`

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "load-test-token-0123456789";

fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn wait_port(port: u16) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, path: &str) -> serde_json::Value {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// utime + stime of a process, seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// What one simulated room shares with its poller thread.
type Kept = Arc<std::sync::Mutex<std::collections::BTreeMap<u64, (String, String)>>>;

/// The room's network thread: counts PUBACKs, and answers `cmd/resend` from the messages kept,
/// as the daemon's outbox retention does.
fn poll_room(mut conn: rumqttc::Connection, client: Client, acked: Arc<AtomicU64>, kept: Kept, done: Arc<AtomicBool>) {
    for ev in conn.iter() {
        match ev {
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let v: serde_json::Value = serde_json::from_slice(&p.payload).unwrap_or_default();
                let (from, to) = (v["from"].as_u64().unwrap_or(1), v["to"].as_u64().unwrap_or(0));
                let again: Vec<(String, String)> =
                    kept.lock().unwrap().range(from..=to).map(|(_, m)| m.clone()).collect();
                for (topic, body) in again {
                    let _ = client.try_publish(topic, QoS::AtLeastOnce, false, body);
                }
            }
            _ => {}
        }
        if done.load(Ordering::Relaxed) {
            break;
        }
    }
}

/// One simulated room for `seconds` (then `linger` seconds up for resend requests); returns the
/// number of durable messages it published.
fn room(
    port: u16,
    name: String,
    rate: u64,
    seconds: u64,
    linger: u64,
    template: serde_json::Value,
    published: Arc<AtomicU64>,
) -> u64 {
    let mut o = MqttOptions::new(format!("load-{name}"), "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(15));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, conn) = Client::new(o, 1000);
    let done = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let kept: Kept = Default::default();
    client
        .subscribe(format!("cdposture/{name}/cmd/resend"), QoS::AtLeastOnce)
        .unwrap();
    let poller = {
        let (client, acked, kept, done) = (client.clone(), acked.clone(), kept.clone(), done.clone());
        std::thread::spawn(move || poll_room(conn, client, acked, kept, done))
    };
    let topic = |leaf: &str| format!("cdposture/{name}/{leaf}");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let durable = |leaf: &str, id: u64, body: String| {
        kept.lock().unwrap().insert(id, (topic(leaf), body.clone()));
        client.publish(topic(leaf), QoS::AtLeastOnce, false, body).unwrap();
    };
    let exam = |kind: &str, id: u64| {
        serde_json::json!({"schema": 1, "room": name, "exam_id": format!("load-{name}"), "type": kind, "time": now(),
            "msg_id": id, "neutral": {"yaw": 0, "pitch": 0, "roll": 0}, "summary": {"frames": id}})
        .to_string()
    };
    client
        .publish(topic("available"), QoS::AtLeastOnce, true, "online")
        .unwrap();
    let mut msg_id = 1u64;
    durable("exam", msg_id, exam("new", msg_id));
    let start = Instant::now();
    for tick in 0..seconds * rate {
        let due = start + Duration::from_secs_f64(tick as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut state = template.clone();
        state["room"] = name.clone().into();
        state["time"] = now().into();
        state["frame"] = tick.into();
        state["exam_id"] = format!("load-{name}").into();
        client
            .publish(topic("state"), QoS::AtMostOnce, false, state.to_string())
            .unwrap();
        published.fetch_add(1, Ordering::Relaxed);
        if tick % rate == 0 {
            msg_id += 1;
            state["msg_id"] = msg_id.into();
            durable("assessment", msg_id, state.to_string());
            published.fetch_add(1, Ordering::Relaxed);
        }
        if tick % (5 * rate) == 0 && tick > 0 {
            msg_id += 1;
            durable("exam", msg_id, exam("update", msg_id));
            published.fetch_add(1, Ordering::Relaxed);
        }
    }
    msg_id += 1;
    durable("exam", msg_id, exam("end", msg_id));
    client
        .publish(topic("available"), QoS::AtLeastOnce, true, "stopped")
        .unwrap();
    // Everything acknowledged by the broker, then up a while for resend requests.
    let t = Instant::now();
    while acked.load(Ordering::Relaxed) < msg_id + 2 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(linger));
    done.store(true, Ordering::Relaxed);
    let _ = client.disconnect();
    let _ = poller.join();
    msg_id
}

#[path = "../tests/common/postgres.rs"]
mod postgres;
use postgres::{free_port, Postgres};

/// Start a gateway process on `database`, answering HTTP on `http`.
fn start_gateway(dir: &std::path::Path, name: &str, mqtt: u16, http: u16, database: &str) -> Killed {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[gateway]\nname = \"{name}\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {mqtt}\n[http]\nlisten = \"127.0.0.1:{http}\"\n\
             token_env = \"GW_TOKEN\"\n[database]\nurl = \"{database}\"\n"
        ),
    )
    .unwrap();
    let gateway = Killed(
        Command::new(env!("CARGO_BIN_EXE_cdposture"))
            .args(["gateway", "--config"])
            .arg(&cfg)
            .env("GW_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_port(http);
    gateway
}

fn main() {
    let rooms = env_or("LOAD_ROOMS", 50);
    let rate = env_or("LOAD_RATE", 10);
    let seconds = env_or("LOAD_SECONDS", 300);
    let dir = std::env::temp_dir().join(format!("cdposture-gateway-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (mqtt, http) = (free_port(), free_port());
    std::fs::write(
        dir.join("mosquitto.conf"),
        format!("listener {mqtt} 127.0.0.1\nallow_anonymous true\nuser root\nmax_queued_messages 100000\n"),
    )
    .unwrap();
    let _broker = Killed(
        Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto"),
    );
    wait_port(mqtt);
    let replicas = env_or("LOAD_REPLICAS", 1);
    let pg = (replicas > 1).then(|| Postgres::start(&dir));
    let database = match &pg {
        Some(pg) => pg.url(),
        None => format!("sqlite:{}", dir.join("gw.db").display()),
    };
    let gateway = start_gateway(&dir, "load", mqtt, http, &database);
    let http2 = free_port();
    let mut second = (replicas > 1).then(|| start_gateway(&dir, "load-2", mqtt, http2, &database));
    let pid = gateway.0.id();
    wait_port(http);
    std::thread::sleep(Duration::from_secs(1));
    let template: serde_json::Value = serde_json::from_str(include_str!("data/state.json")).unwrap();
    let published = Arc::new(AtomicU64::new(0));
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    let engine = if replicas > 1 {
        "2 replicas on PostgreSQL, the second killed half way"
    } else {
        "SQLite"
    };
    println!("{rooms} rooms × {rate} states/s for {seconds} s through mosquitto into the gateway ({engine})");
    let linger = if replicas > 1 { 30 } else { 0 };
    let clients: Vec<_> = (0..rooms)
        .map(|i| {
            let (template, published) = (template.clone(), published.clone());
            std::thread::spawn(move || room(mqtt, format!("room-{i:02}"), rate, seconds, linger, template, published))
        })
        .collect();
    let mut max_backlog = 0i64;
    while clients.iter().any(|c| !c.is_finished()) {
        std::thread::sleep(Duration::from_secs(1));
        if second.is_some() && t0.elapsed().as_secs() >= seconds / 2 {
            let stored = get(http2, "/api/gateway")["stored"].as_u64().unwrap_or(0);
            println!("killing the second replica (it had stored {stored})");
            second = None;
        }
        // With replicas the durable share of the other one is not counted here: live topics
        // reach both, so the backlog is measured on the first one's share.
        let received = get(http, "/api/gateway")["received"].as_i64().unwrap_or(0);
        // Published counts states and assessments; received also counts the handful of status
        // and exam messages, so the backlog is a slight under-estimate at the start only.
        if replicas == 1 {
            max_backlog = max_backlog.max(published.load(Ordering::Relaxed) as i64 - received);
        }
    }
    let durable_sent: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let wall = t0.elapsed().as_secs_f64();
    let cpu_pct = 100.0 * (cpu_seconds(pid) - cpu0) / wall;
    // Drain: every durable id and every exam end stored.
    let drain = Instant::now();
    let stored = || -> u64 {
        (0..rooms)
            .map(|i| {
                get(http, &format!("/api/rooms/room-{i:02}/ids"))["count"]
                    .as_u64()
                    .unwrap_or(0)
            })
            .sum()
    };
    while stored() < durable_sent && drain.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let durable_stored = stored();
    let ended = get(http, "/api/exams?open=false&limit=10000")
        .as_array()
        .map(|a| a.len())
        .unwrap_or(0);
    let status = get(http, "/api/gateway");
    let rss = peak_rss_mb(pid);
    println!("gateway counters: {status}");
    println!("drained {:.1} s after the last message", drain.elapsed().as_secs_f64());
    println!(
        "GATEWAY_LOAD rooms={rooms} rate={rate} seconds={seconds} published={} received={} max_backlog={max_backlog} \
         durable_sent={durable_sent} durable_stored={durable_stored} exams_ended={ended} rss_mb={rss:.1} cpu_pct={cpu_pct:.1}",
        published.load(Ordering::Relaxed),
        status["received"]
    );
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}
