//! A real mosquitto for the integration tests: started on a free loopback port with its own config
//! and folder, and controllable like a misbehaving production broker (pause, kill, restart).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    pub port: u16,
    pub dir: PathBuf,
    conf: PathBuf,
    child: Option<Child>,
}

/// One definition for the test crate: `postgres.rs` holds it because the load bench includes that
/// file on its own.
#[allow(unused_imports)]
pub use super::postgres::free_port;

fn mosquitto() -> &'static str {
    if Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    }
}

impl Broker {
    /// `extra` is appended to the listener's config (TLS, passwords). Persistence is on, saved
    /// every second, so persistent subscriber sessions survive a SIGKILL of the broker.
    pub fn start(dir: &Path, port: u16, extra: &str) -> Broker {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("mosquitto.conf");
        let anonymous = if extra.contains("password_file") {
            ""
        } else {
            "allow_anonymous true\n"
        };
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\n{anonymous}{extra}\nuser root\npersistence true\npersistence_location {}/\nautosave_interval 1\nlog_dest file {}/mosquitto.log\n",
                dir.display(),
                dir.display()
            ),
        )
        .unwrap();
        let mut b = Broker {
            port,
            dir: dir.into(),
            conf,
            child: None,
        };
        b.restart();
        b
    }

    pub fn restart(&mut self) {
        let child = Command::new(mosquitto())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is needed for the MQTT tests (apt-get install mosquitto)");
        self.child = Some(child);
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "mosquitto did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill").args([sig, &c.id().to_string()]).status();
        }
    }
    pub fn pause(&self) {
        self.signal("-STOP");
    }
    pub fn resume(&self) {
        self.signal("-CONT");
    }
    pub fn kill(&mut self) {
        self.signal("-CONT");
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A subscriber in the test process (rumqttc), collecting every message on `cdposture/#`.
/// Persistent session (clean_session = false, QoS 1): nothing is missed across broker restarts.
pub struct Subscriber {
    pub messages: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    pub client: rumqttc::Client,
}

impl Subscriber {
    pub fn connect(port: u16, id: &str) -> Subscriber {
        Self::connect_with(port, id, |_| {})
    }

    pub fn connect_with(port: u16, id: &str, configure: impl FnOnce(&mut rumqttc::MqttOptions)) -> Subscriber {
        let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        o.set_clean_session(false);
        o.set_keep_alive(Duration::from_secs(5));
        configure(&mut o);
        let (client, mut conn) = rumqttc::Client::new(o, 100);
        client.subscribe("cdposture/#", rumqttc::QoS::AtLeastOnce).unwrap();
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let m = messages.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        m.lock()
                            .unwrap()
                            .push((p.topic.clone(), String::from_utf8_lossy(&p.payload).into_owned()));
                    }
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::RequestsDone) => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("subscribed");
        Subscriber { messages, client }
    }

    pub fn on(&self, leaf: &str) -> Vec<serde_json::Value> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.ends_with(&format!("/{leaf}")))
            .map(|(_, p)| serde_json::from_str(p).unwrap_or(serde_json::Value::String(p.clone())))
            .collect()
    }

    /// Wait until `pred` holds on the collected messages (or panic after `secs`).
    pub fn wait_for(&self, secs: u64, what: &str, pred: impl Fn(&Subscriber) -> bool) {
        let t = Instant::now();
        let secs = secs * super::slowdown();
        while !pred(self) {
            assert!(t.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The daemon binary as a child process, stderr and stdout captured to files.
pub struct DaemonProcess {
    pub child: Child,
    pub log: PathBuf,
    pub stdout: PathBuf,
}

impl DaemonProcess {
    pub fn start(config: &Path, args: &[&str], env: &[(&str, &str)]) -> DaemonProcess {
        let log = config.with_extension("log");
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cdposture"));
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .args(args)
            .env("CDPOSTURE_MODELS", super::model_dir())
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let stdout = config.with_extension("out");
        let out = std::fs::File::create(&stdout).unwrap();
        let child = cmd.stdout(out).stderr(err).spawn().unwrap();
        DaemonProcess { child, log, stdout }
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([sig, &self.child.id().to_string()]).status();
    }
    /// SIGTERM and wait (bounded) for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20 * super::slowdown()),
                "daemon did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// Wait for the process to end by itself (finite sources), bounded.
    pub fn stop_when_done(&mut self, secs: u64) -> std::process::ExitStatus {
        let secs = secs * super::slowdown();
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "daemon did not finish:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_log(&self, secs: u64, needle: &str) {
        let secs = secs * super::slowdown();
        let t = Instant::now();
        while !self.log().contains(needle) {
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "log never said `{needle}`:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
