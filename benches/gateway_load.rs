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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

/// One simulated room for `seconds`; returns (messages published, durable messages published).
fn room(
    port: u16,
    name: String,
    rate: u64,
    seconds: u64,
    template: serde_json::Value,
    published: Arc<AtomicU64>,
) -> u64 {
    let mut o = MqttOptions::new(format!("load-{name}"), "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(15));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = Client::new(o, 1000);
    let done = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let poller = {
        let (done, acked) = (done.clone(), acked.clone());
        std::thread::spawn(move || {
            for ev in conn.iter() {
                if let Ok(Event::Incoming(Packet::PubAck(_))) = ev {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                if done.load(Ordering::Relaxed) {
                    break;
                }
            }
        })
    };
    let topic = |leaf: &str| format!("cdposture/{name}/{leaf}");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    client
        .publish(topic("available"), QoS::AtLeastOnce, true, "online")
        .unwrap();
    let mut msg_id = 1u64;
    let mut durable = 0u64;
    let exam = |kind: &str, id: u64| {
        serde_json::json!({"schema": 1, "room": name, "exam_id": format!("load-{name}"), "type": kind, "time": now(),
            "msg_id": id, "neutral": {"yaw": 0, "pitch": 0, "roll": 0}, "summary": {"frames": id}})
        .to_string()
    };
    client
        .publish(topic("exam"), QoS::AtLeastOnce, false, exam("new", msg_id))
        .unwrap();
    durable += 1;
    let start = Instant::now();
    let ticks = seconds * rate;
    for tick in 0..ticks {
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
            client
                .publish(topic("assessment"), QoS::AtLeastOnce, false, state.to_string())
                .unwrap();
            durable += 1;
            published.fetch_add(1, Ordering::Relaxed);
        }
        if tick % (5 * rate) == 0 && tick > 0 {
            msg_id += 1;
            client
                .publish(topic("exam"), QoS::AtLeastOnce, false, exam("update", msg_id))
                .unwrap();
            durable += 1;
            published.fetch_add(1, Ordering::Relaxed);
        }
    }
    msg_id += 1;
    client
        .publish(topic("exam"), QoS::AtLeastOnce, false, exam("end", msg_id))
        .unwrap();
    durable += 1;
    client
        .publish(topic("available"), QoS::AtLeastOnce, true, "stopped")
        .unwrap();
    // Durable messages (and the retained status) acknowledged by the broker before leaving.
    let t = Instant::now();
    while acked.load(Ordering::Relaxed) < durable + 2 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    done.store(true, Ordering::Relaxed);
    let _ = client.disconnect();
    let _ = poller.join();
    durable
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
    std::fs::write(
        dir.join("gateway.toml"),
        format!(
            "[gateway]\nname = \"load\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {mqtt}\n[http]\nlisten = \"127.0.0.1:{http}\"\n\
             token_env = \"GW_TOKEN\"\n[database]\nurl = \"sqlite:{}\"\n",
            dir.join("gw.db").display()
        ),
    )
    .unwrap();
    let gateway = Killed(
        Command::new(env!("CARGO_BIN_EXE_cdposture"))
            .args(["gateway", "--config"])
            .arg(dir.join("gateway.toml"))
            .env("GW_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stderr(std::fs::File::create(dir.join("gateway.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let pid = gateway.0.id();
    wait_port(http);
    std::thread::sleep(Duration::from_secs(1));
    let template: serde_json::Value = serde_json::from_str(include_str!("data/state.json")).unwrap();
    let published = Arc::new(AtomicU64::new(0));
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    println!("{rooms} rooms × {rate} states/s for {seconds} s through mosquitto into the gateway (SQLite)");
    let clients: Vec<_> = (0..rooms)
        .map(|i| {
            let (template, published) = (template.clone(), published.clone());
            std::thread::spawn(move || room(mqtt, format!("room-{i:02}"), rate, seconds, template, published))
        })
        .collect();
    let mut max_backlog = 0i64;
    while clients.iter().any(|c| !c.is_finished()) {
        std::thread::sleep(Duration::from_secs(1));
        let received = get(http, "/api/gateway")["received"].as_i64().unwrap_or(0);
        // Published counts states and assessments; received also counts the handful of status
        // and exam messages, so the backlog is a slight under-estimate at the start only.
        max_backlog = max_backlog.max(published.load(Ordering::Relaxed) as i64 - received);
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
    while stored() < durable_sent && drain.elapsed() < Duration::from_secs(60) {
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
