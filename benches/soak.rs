//! Soak (`scripts/soak.sh [MINUTES]`, or `SOAK_MINUTES=60 cargo bench --bench soak`): the real
//! daemon in-process, wired as `cdposture run` wires it for a broker (outbox, MQTT task on its own
//! thread, MqttSink, Daemon), measuring a live 30 fps "camera" with an exam running throughout, while
//!
//! * a real mosquitto (persistence on) is killed with SIGKILL and restarted every 5 minutes, and
//! * the camera is interrupted twice (minutes 17 and 41): it stalls (a `Stalled` error after the
//!   frame timeout) and then refuses to reopen for 10 s (ENODEV), so the capture thread's real
//!   offline / reopen-with-backoff / online path runs.
//!
//! A subscriber in this process (persistent session, QoS 1, `cdposture/#`) collects the `msg_id` of
//! every `assessment` and `exam` message. Every 30 s: RSS, open fds, frames, outbox size. Pass: RSS
//! and open fds at the end within 2 % of their value after the first 5 minutes, and no durable
//! message id missing. Every time scales with the run: a 3-minute run is the hour compressed 20x
//! (broker restarts every 15 s, outages at 51 s and 123 s, baseline after 15 s), except the camera
//! outage (10 s) and the broker's down time (at least 2 s).
//!
//! Message ids: the outbox issues consecutive ids from a fresh folder's first id (read from its
//! `ids` file before anything is sent), one per durable message handed over by the daemon (counted
//! here), so the issued ids are exactly `first ..= first + handed_over - 1`; missing = those not
//! received. The last line is the machine-readable `SOAK …` summary.

mod common;
use cdposture::capture::camera::CameraError;
use cdposture::capture::{DemoSource, Frame, FrameSource};
use cdposture::config::{Settings, SourceSettings};
use cdposture::daemon::capture::{CaptureOptions, CaptureThread, Opener};
use cdposture::daemon::Daemon;
use cdposture::inference::ModelSet;
use cdposture::pipeline::Pipeline;
use cdposture::protocol::messages::{ExamEvent, StateMessage, StatsMessage};
use cdposture::protocol::sink::Sink;
use cdposture::protocol::Command;
use cdposture::publish::mqtt::MqttTask;
use cdposture::publish::outbox::Outbox;
use cdposture::publish::{LinkStatus, MqttSink, Topics};
use common::rss_kib;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Process figures.

/// glibc's `struct mallinfo2` (all `size_t`).
#[repr(C)]
#[derive(Default)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

extern "C" {
    fn mallinfo2() -> MallInfo2;
}

/// Heap bytes the program holds (allocated chunks, mmapped ones included), KiB. Unlike RSS it does
/// not move when the allocator keeps freed memory or opens an arena for a thread: a leak grows it.
fn heap_in_use_kib() -> u64 {
    // SAFETY: mallinfo2 takes no arguments and returns a plain struct by value (glibc ≥ 2.33).
    let m = unsafe { mallinfo2() };
    ((m.uordblks + m.hblkhd) / 1024) as u64
}

/// Open file descriptors: the least of 5 counts 20 ms apart, so that a file the outbox writer has
/// open for a moment (or a socket being reconnected) does not read as growth; a leak persists.
fn open_fds() -> u64 {
    (0..5)
        .map(|i| {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count() as u64)
                .unwrap_or(0)
        })
        .min()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The broker: a real mosquitto, as in tests/common/broker.rs (own config and folder, persistence
// saved every second so the subscriber's persistent session survives a SIGKILL).

struct Broker {
    port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

fn mosquitto() -> &'static str {
    if Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    }
}

impl Broker {
    fn start(dir: &Path, port: u16) -> Broker {
        std::fs::create_dir_all(dir).expect("broker folder");
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\n\
                 user root\npersistence true\npersistence_location {0}/\nautosave_interval 1\n\
                 log_dest file {0}/mosquitto.log\n",
                dir.display()
            ),
        )
        .expect("broker config");
        let mut b = Broker {
            port,
            conf,
            child: None,
        };
        b.restart();
        b
    }

    fn restart(&mut self) {
        let child = std::process::Command::new(mosquitto())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is needed (scripts/setup.sh installs it)");
        self.child = Some(child);
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "mosquitto did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no goodbye to anybody, the state since the last autosave is gone.
    fn kill(&mut self) {
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

// ---------------------------------------------------------------------------------------------
// The subscriber: persistent session, QoS 1. Keeps only what is counted (ids in a buffer allocated
// and touched up front), so that its bookkeeping does not show as the daemon's memory growth.

#[derive(Default)]
struct Received {
    /// (msg_id, replayed) of every `assessment` / `exam` message, duplicates included.
    ids: Vec<(u64, bool)>,
    states: u64,
    stats: u64,
    camera_offline: u64,
    camera_online: u64,
    /// `assessment` / `exam` messages without a msg_id (should be none).
    unnumbered: u64,
}

struct Subscriber {
    got: Arc<Mutex<Received>>,
    _client: rumqttc::Client,
}

impl Subscriber {
    fn connect(port: u16, id: &str, capacity: usize) -> Subscriber {
        let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        o.set_clean_session(false);
        o.set_keep_alive(Duration::from_secs(5));
        let (client, mut conn) = rumqttc::Client::new(o, 100);
        client
            .subscribe("cdposture/#", rumqttc::QoS::AtLeastOnce)
            .expect("subscribe");
        let mut ids = vec![(0u64, false); capacity];
        ids.clear();
        let got = Arc::new(Mutex::new(Received {
            ids,
            ..Default::default()
        }));
        let g = got.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("subscriber".into())
            .spawn(move || {
                for ev in conn.iter() {
                    match ev {
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                            let _ = ready_tx.send(());
                        }
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                            let leaf = p.topic.rsplit('/').next().unwrap_or("");
                            let mut r = g.lock().unwrap();
                            match leaf {
                                "assessment" | "exam" => {
                                    let v: serde_json::Value = serde_json::from_slice(&p.payload).unwrap_or_default();
                                    match v["msg_id"].as_u64() {
                                        Some(id) => r.ids.push((id, v["replayed"] == true)),
                                        None => r.unnumbered += 1,
                                    }
                                }
                                "state" => r.states += 1,
                                "stats" => r.stats += 1,
                                "camera" if &p.payload[..] == b"offline" => r.camera_offline += 1,
                                "camera" => r.camera_online += 1,
                                _ => {}
                            }
                        }
                        Ok(_) => {}
                        Err(rumqttc::ConnectionError::RequestsDone) => break,
                        // Broker away: try again shortly (the session waits on the broker's side).
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            })
            .expect("subscriber thread");
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("subscribed");
        Subscriber { got, _client: client }
    }

    /// Copies received per id.
    fn counts(&self) -> BTreeMap<u64, u32> {
        let mut seen = BTreeMap::new();
        for (id, _) in &self.got.lock().unwrap().ids {
            *seen.entry(*id).or_insert(0) += 1;
        }
        seen
    }
}

// ---------------------------------------------------------------------------------------------
// The camera stand-in: the demo photo (tilting its head) delivered live at 30 fps, frame numbers
// and times continuing across reopens like `camera_opener`'s, interrupted on schedule.

const FPS: f64 = 30.0;
/// One tilt cycle (4 s) at 30 fps: the demo loops seamlessly.
const DEMO_LOOP: u64 = 120;
const DEVICE: &str = "/dev/video-soak";

struct CameraState {
    t0: Instant,
    frames: AtomicU64,
    photo: Arc<image::RgbImage>,
    /// Stall at these times since t0, once each.
    outages: Vec<Duration>,
    next_outage: AtomicUsize,
    /// How long a stalled camera takes to say so (`camera.frame_timeout_s`).
    frame_timeout: Duration,
    /// After a stall, the device is gone for this long (opens fail with ENODEV).
    gone_for: Duration,
    gone_until: Mutex<Option<Instant>>,
    opens: AtomicU64,
    refused: AtomicU64,
}

struct LiveDemo {
    cam: Arc<CameraState>,
    demo: DemoSource,
    next_due: Instant,
}

impl FrameSource for LiveDemo {
    fn next_frame(&mut self) -> cdposture::Result<Option<Frame>> {
        let cam = &self.cam;
        let i = cam.next_outage.load(Ordering::Relaxed);
        if cam.outages.get(i).is_some_and(|&at| cam.t0.elapsed() >= at) {
            cam.next_outage.store(i + 1, Ordering::Relaxed);
            // Frames stop; the driver's watchdog gives up after the frame timeout.
            std::thread::sleep(cam.frame_timeout);
            *cam.gone_until.lock().unwrap() = Some(Instant::now() + cam.gone_for);
            return Err(CameraError::Stalled {
                device: DEVICE.into(),
                waited: cam.frame_timeout.as_secs_f64(),
                detail: "soak: camera interrupted".into(),
            }
            .into());
        }
        // Paced like a camera: frames on a fixed 1/30 s grid; a camera nobody reads fast enough
        // does not queue up frames, it starts the grid again.
        let period = Duration::from_secs_f64(1.0 / FPS);
        let now = Instant::now();
        match self.next_due.checked_duration_since(now) {
            Some(wait) => std::thread::sleep(wait),
            None if now - self.next_due > period => self.next_due = now,
            None => {}
        }
        self.next_due += period;
        let mut f = match self.demo.next_frame()? {
            Some(f) => f,
            None => {
                self.demo = DemoSource::from_photo(cam.photo.clone(), DEMO_LOOP).with_fps(FPS);
                self.demo.next_frame()?.expect("a fresh demo has frames")
            }
        };
        f.index = cam.frames.fetch_add(1, Ordering::Relaxed);
        f.t_s = cam.t0.elapsed().as_secs_f64();
        Ok(Some(f))
    }
    fn is_sequence(&self) -> bool {
        true
    }
    fn fps(&self) -> Option<f64> {
        Some(FPS)
    }
    fn is_live(&self) -> bool {
        true
    }
}

fn camera_opener(cam: Arc<CameraState>) -> Opener {
    Box::new(move || {
        let gone = cam.gone_until.lock().unwrap().is_some_and(|t| Instant::now() < t);
        if gone {
            cam.refused.fetch_add(1, Ordering::Relaxed);
            return Err(CameraError::Open {
                device: DEVICE.into(),
                cause: std::io::Error::from_raw_os_error(libc::ENODEV),
                hint: "soak: unplugged".into(),
            }
            .into());
        }
        cam.opens.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(LiveDemo {
            cam: cam.clone(),
            demo: DemoSource::from_photo(cam.photo.clone(), DEMO_LOOP).with_fps(FPS),
            next_due: Instant::now(),
        }) as Box<dyn FrameSource>)
    })
}

// ---------------------------------------------------------------------------------------------
// A tap on the daemon's sink: forwards everything to the MqttSink and counts what was handed over.

#[derive(Default)]
struct Tapped {
    assessments: AtomicU64,
    exams: AtomicU64,
    camera_offline: AtomicU64,
    camera_online: AtomicU64,
    last_stats: Mutex<Option<StatsMessage>>,
}

struct Tap {
    inner: MqttSink,
    seen: Arc<Tapped>,
}

impl Sink for Tap {
    fn state(&mut self, msg: &StateMessage) {
        self.inner.state(msg);
    }
    fn assessment(&mut self, msg: &StateMessage) {
        self.seen.assessments.fetch_add(1, Ordering::Relaxed);
        self.inner.assessment(msg);
    }
    fn exam(&mut self, ev: &ExamEvent) {
        self.seen.exams.fetch_add(1, Ordering::Relaxed);
        self.inner.exam(ev);
    }
    fn stats(&mut self, msg: &StatsMessage) {
        *self.seen.last_stats.lock().unwrap() = Some(msg.clone());
        self.inner.stats(msg);
    }
    fn camera(&mut self, online: bool) {
        let n = if online {
            &self.seen.camera_online
        } else {
            &self.seen.camera_offline
        };
        n.fetch_add(1, Ordering::Relaxed);
        self.inner.camera(online);
    }
    fn flush(&mut self) {
        self.inner.flush();
    }
}

// ---------------------------------------------------------------------------------------------

/// The MQTT task on its own thread with a current-thread runtime, as `cdposture run` starts it.
struct Net {
    thread: std::thread::JoinHandle<()>,
    shutdown: Arc<tokio::sync::Notify>,
}

fn start_net(
    settings: &Settings,
    outbox: Arc<Mutex<Outbox>>,
    wake: Arc<tokio::sync::Notify>,
    live: tokio::sync::mpsc::Receiver<(String, String, bool)>,
    status: Arc<LinkStatus>,
) -> Net {
    let mqtt = settings.mqtt.clone().expect("[mqtt] in the soak config");
    let (cmd_tx, _cmd_rx) = std::sync::mpsc::channel();
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let task = MqttTask {
        topics: Topics::new(&mqtt.prefix, &settings.room),
        settings: mqtt,
        outbox,
        wake,
        live,
        commands: cmd_tx,
        status,
        shutdown: shutdown.clone(),
        info: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let thread = std::thread::Builder::new()
        .name("mqtt".into())
        .spawn(move || runtime.block_on(task.run()))
        .expect("mqtt thread");
    Net { thread, shutdown }
}

/// The first id a fresh outbox will issue: its `ids` file holds the bound below it.
fn first_id(outbox_dir: &Path) -> u64 {
    let b = std::fs::read(outbox_dir.join("ids")).expect("the outbox's ids file");
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) + 1
}

#[derive(Clone, Copy, Default)]
struct Sample {
    t_s: f64,
    rss_kib: u64,
    heap_kib: u64,
    fds: u64,
    captured: u64,
    dropped: u64,
    outbox_messages: usize,
    outbox_bytes: u64,
    received: usize,
    camera_online: bool,
}

fn minutes_arg() -> f64 {
    let from_args = std::env::args().skip(1).find_map(|a| a.parse::<f64>().ok());
    from_args
        .or_else(|| std::env::var("SOAK_MINUTES").ok().and_then(|s| s.parse().ok()))
        .unwrap_or(60.0)
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let minutes = minutes_arg();
    assert!(minutes > 0.0, "minutes must be positive");
    let total = Duration::from_secs_f64(minutes * 60.0);
    let scale = minutes / 60.0;
    let sample_every = Duration::from_secs(30).min(total / 120);
    let baseline_at = Duration::from_secs(300).min(total / 12);
    let broker_every = total / 12;
    let broker_down = (broker_every / 30).clamp(Duration::from_secs(2), Duration::from_secs(10));
    let planned_restarts = 11u64;
    let camera_gone_for = Duration::from_secs(10);
    let outages = vec![
        Duration::from_secs_f64(17.0 * 60.0 * scale),
        Duration::from_secs_f64(41.0 * 60.0 * scale),
    ];

    let dir = std::env::temp_dir().join(format!("cdposture-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp folder");
    let mut broker = Broker::start(&dir.join("broker"), free_port());
    let expected_ids = (minutes * 60.0 * 1.2) as usize * 4 + 10_000;
    let sub = Subscriber::connect(broker.port, "soak-subscriber", expected_ids);

    let config = format!(
        "[room]\nid = \"soak\"\n\
         [source]\nkind = \"camera\"\n\
         [camera]\ndevice = \"{DEVICE}\"\nfps = 30.0\nframe_timeout_s = 2.0\nreopen_min_s = 0.25\nreopen_max_s = 2.0\n\
         [mqtt]\nhost = \"127.0.0.1\"\nport = {}\nkeep_alive_s = 5\nstate_interval_s = 1\n\
         assessment_interval_s = 1\nstats_interval_s = 10\n\
         [exam]\nupdate_interval_s = 10\n\
         [outbox]\ndir = \"{}\"\n",
        broker.port,
        dir.join("outbox").display()
    );
    let settings = Settings::parse(&config, &dir.join("cdposture.toml")).expect("soak config");
    let SourceSettings::Camera(camera) = settings.source.clone() else {
        unreachable!("a camera source")
    };
    let model_dir = settings.model_dir.clone();
    let models = ModelSet::load(&model_dir, settings.pose).expect("models: run models/fetch.sh");
    let photo = cdposture::capture::load_image(&model_dir.join(cdposture::capture::demo::DEMO_PHOTO))
        .expect("the demo photo (models/fetch.sh)");

    // The source: what `opener(&settings.source, …)` would give for a camera, replaced.
    let cam = Arc::new(CameraState {
        t0: Instant::now(),
        frames: AtomicU64::new(0),
        photo: Arc::new(photo),
        outages: outages.clone(),
        next_outage: AtomicUsize::new(0),
        frame_timeout: camera.request.frame_timeout,
        gone_for: camera_gone_for,
        gone_until: Mutex::new(None),
        opens: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    });
    let capture = CaptureThread::start_with(
        camera_opener(cam.clone()),
        CaptureOptions {
            paced: false,
            looping: false,
            capacity: 2,
            reconnect: Some((camera.reopen_min, camera.reopen_max)),
            wait_for_space: false,
        },
    )
    .expect("the camera stand-in");
    let (capture_stats, capture_queue) = (capture.stats.clone(), capture.queue.clone());

    // As `cdposture run` wires a broker config.
    let outbox = Outbox::open(&settings.outbox.dir, settings.outbox.max_bytes).expect("outbox");
    let first = first_id(&settings.outbox.dir);
    let outbox = Arc::new(Mutex::new(outbox));
    let wake = Arc::new(tokio::sync::Notify::new());
    let status = Arc::new(LinkStatus::default());
    let (live_tx, live_rx) = tokio::sync::mpsc::channel(64);
    let net = start_net(&settings, outbox.clone(), wake.clone(), live_rx, status.clone());
    let mqtt = settings.mqtt.clone().expect("mqtt");
    let sink = MqttSink::new(
        Topics::new(&mqtt.prefix, &settings.room),
        outbox.clone(),
        wake,
        live_tx,
        status.clone(),
    )
    .expect("sink");
    let tapped = Arc::new(Tapped::default());
    let tap = Tap {
        inner: sink,
        seen: tapped.clone(),
    };
    let mut opts = settings.pipeline.clone();
    opts.refine_still = false;
    let pipeline = Pipeline::new(models, opts);
    let (_cmd_tx, cmd_rx) = std::sync::mpsc::channel();
    let settings_copy = settings.clone();
    let mut daemon = Daemon::new(settings, pipeline, tap).with_commands(cmd_rx);
    let stop = daemon.stop.clone();

    println!(
        "soak: {minutes} min at {FPS} fps, exam running; broker SIGKILLed every {:.0} s (down {:.0} s, {planned_restarts} times); \
         camera interrupted at {:.0} s and {:.0} s ({:.0} s stall + {:.0} s gone); samples every {:.1} s, baseline at {:.0} s; folder {}",
        broker_every.as_secs_f64(),
        broker_down.as_secs_f64(),
        outages[0].as_secs_f64(),
        outages[1].as_secs_f64(),
        cam.frame_timeout.as_secs_f64(),
        camera_gone_for.as_secs_f64(),
        sample_every.as_secs_f64(),
        baseline_at.as_secs_f64(),
        dir.display()
    );
    println!(
        "{:>8} {:>9} {:>9} {:>5} {:>8} {:>7} {:>7} {:>7} {:>8} {:>6} {:>6}",
        "t_s", "rss_kib", "heap_kib", "fds", "captured", "dropped", "outbox", "out_kib", "received", "broker", "camera"
    );

    // Chaos and samples on their own thread; the daemon loop runs here, as in `cdposture run`.
    let start = Instant::now();
    let got = sub.got.clone();
    let ob = outbox.clone();
    let controller = std::thread::Builder::new()
        .name("soak".into())
        .spawn(move || {
            let mut samples = Vec::with_capacity(400);
            let mut next_sample = sample_every;
            let mut next_kill = broker_every;
            let mut restart_at = None::<Duration>;
            let mut kills = 0u64;
            let mut restarts = 0u64;
            let mut take = |t: Duration, broker_up: bool| {
                let (outbox_messages, outbox_bytes) = {
                    let o = ob.lock().unwrap();
                    (o.len(), o.bytes())
                };
                let s = Sample {
                    t_s: t.as_secs_f64(),
                    rss_kib: rss_kib(),
                    heap_kib: heap_in_use_kib(),
                    fds: open_fds(),
                    captured: capture_stats.captured(),
                    dropped: capture_queue.dropped(),
                    outbox_messages,
                    outbox_bytes,
                    received: got.lock().unwrap().ids.len(),
                    camera_online: capture_stats.online(),
                };
                println!(
                    "{:8.1} {:9} {:9} {:5} {:8} {:7} {:7} {:7} {:8} {:>6} {:>6}",
                    s.t_s,
                    s.rss_kib,
                    s.heap_kib,
                    s.fds,
                    s.captured,
                    s.dropped,
                    s.outbox_messages,
                    s.outbox_bytes / 1024,
                    s.received,
                    if broker_up { "up" } else { "DOWN" },
                    if s.camera_online { "online" } else { "OFF" }
                );
                samples.push(s);
            };
            loop {
                let t = start.elapsed();
                if t >= total {
                    break;
                }
                if t >= next_sample {
                    take(t, restart_at.is_none());
                    next_sample += sample_every;
                }
                if let Some(at) = restart_at {
                    if t >= at {
                        broker.restart();
                        restarts += 1;
                        restart_at = None;
                        log::info!("soak: broker restarted ({restarts})");
                    }
                }
                if restart_at.is_none() && kills < planned_restarts && t >= next_kill {
                    broker.kill();
                    kills += 1;
                    restart_at = Some(t + broker_down);
                    next_kill += broker_every;
                    log::info!("soak: broker killed with SIGKILL ({kills})");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if restart_at.is_some() {
                broker.restart();
                restarts += 1;
            }
            take(start.elapsed(), true);
            stop.store(true, Ordering::Relaxed);
            (samples, broker, restarts)
        })
        .expect("controller thread");

    let result = daemon.run(
        capture,
        vec![Command::StartExam {
            id: Some("soak".into()),
            by: cdposture::protocol::Origin::Startup,
        }],
    );
    let ran = start.elapsed();
    let (samples, broker, restarts) = controller.join().expect("controller");
    if let Err(e) = result {
        println!("daemon loop ended with an error: {e}");
    }
    // Every durable message is in the outbox now (`run` flushed the sink); the MQTT task drains.
    let handed_over = tapped.assessments.load(Ordering::Relaxed) + tapped.exams.load(Ordering::Relaxed);
    net.shutdown.notify_one();
    let _ = net.thread.join();
    let left_at_stop = outbox.lock().unwrap().len();
    if left_at_stop > 0 {
        // What a clean stop could not deliver stays on disk for the next start: play that start.
        println!("{left_at_stop} messages left in the outbox at stop: delivering them with a new connection");
        let (_live_tx, live_rx) = tokio::sync::mpsc::channel(64);
        let wake = Arc::new(tokio::sync::Notify::new());
        let again = start_net(&settings_copy, outbox.clone(), wake.clone(), live_rx, status.clone());
        let t = Instant::now();
        while !outbox.lock().unwrap().is_empty() && t.elapsed() < Duration::from_secs(60) {
            wake.notify_one();
            std::thread::sleep(Duration::from_millis(100));
        }
        again.shutdown.notify_one();
        let _ = again.thread.join();
    }

    // Wait (bounded) until the subscriber has every id issued.
    let issued = first..first + handed_over;
    let t = Instant::now();
    loop {
        let seen = sub.counts();
        let all = issued.clone().all(|i| seen.contains_key(&i));
        if all || t.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let seen = sub.counts();
    drop(broker);

    // Figures.
    let missing: Vec<u64> = issued.clone().filter(|i| !seen.contains_key(i)).collect();
    let unexpected: Vec<u64> = seen.keys().copied().filter(|i| !issued.contains(i)).collect();
    let duplicates: u64 = seen.values().map(|&c| c as u64 - 1).sum();
    let r = sub.got.lock().unwrap();
    let replayed = r.ids.iter().filter(|(_, rep)| *rep).count();
    let (evicted, lost, write_failures, high_water, left) = {
        let o = outbox.lock().unwrap();
        (o.evicted, o.lost, o.write_failures, o.high_water, o.len())
    };
    let stats = tapped.last_stats.lock().unwrap().clone().expect("final stats");
    let base = samples
        .iter()
        .find(|s| s.t_s + sample_every.as_secs_f64() / 2.0 >= baseline_at.as_secs_f64())
        .copied()
        .unwrap_or_default();
    let end = samples.last().copied().unwrap_or_default();
    let growth = |a: u64, b: u64| (b as f64 - a as f64) / (a.max(1) as f64) * 100.0;
    let rss_growth = growth(base.rss_kib, end.rss_kib);
    let heap_growth = growth(base.heap_kib, end.heap_kib);
    let fd_growth = growth(base.fds, end.fds);
    let rss_max = samples
        .iter()
        .filter(|s| s.t_s >= base.t_s)
        .map(|s| s.rss_kib)
        .max()
        .unwrap_or(0);
    let fds_range = samples
        .iter()
        .filter(|s| s.t_s >= base.t_s)
        .fold((u64::MAX, 0), |(lo, hi), s| (lo.min(s.fds), hi.max(s.fds)));
    let outages_seen = tapped.camera_offline.load(Ordering::Relaxed);
    let secs = ran.as_secs_f64();
    let fps = stats.frames_processed as f64 / secs;

    println!("\n--- soak summary ---");
    println!(
        "ran {:.2} min; frames captured {} processed {} measured {} failed {} dropped {} ({fps:.1} processed fps, camera {:.1} fps)",
        secs / 60.0,
        stats.frames_captured,
        stats.frames_processed,
        stats.frames_measured,
        stats.frames_failed,
        stats.frames_dropped,
        stats.frames_captured as f64 / secs,
    );
    println!(
        "RSS {} KiB at {:.0} s (baseline) -> {} KiB at the end ({rss_growth:+.2} %), max after baseline {rss_max} KiB; \
         first sample {} KiB at {:.0} s",
        base.rss_kib,
        base.t_s,
        end.rss_kib,
        samples.first().map(|s| s.rss_kib).unwrap_or(0),
        samples.first().map(|s| s.t_s).unwrap_or(0.0)
    );
    println!(
        "open fds {} at {:.0} s -> {} at the end ({fd_growth:+.2} %), range after baseline {}..{}",
        base.fds, base.t_s, end.fds, fds_range.0, fds_range.1
    );
    println!(
        "durable ids issued {} ({}..={}: {} assessments + {} exam events), received distinct {}, missing {}, \
         duplicates {duplicates}, replayed copies {replayed}, unexpected ids {}, without msg_id {}",
        handed_over,
        first,
        first + handed_over.saturating_sub(1),
        tapped.assessments.load(Ordering::Relaxed),
        tapped.exams.load(Ordering::Relaxed),
        seen.len(),
        missing.len(),
        unexpected.len(),
        r.unnumbered
    );
    if !missing.is_empty() {
        println!("missing ids (first 50): {:?}", &missing[..missing.len().min(50)]);
    }
    println!(
        "outbox: evicted {evicted}, lost {lost}, write failures {write_failures}, high-water {high_water}, \
         left at stop {left_at_stop}, left at the end {left}"
    );
    println!(
        "broker: {restarts} SIGKILL + restarts (planned {planned_restarts}); daemon connections {} ({} reconnects)",
        status.connects.load(Ordering::Relaxed),
        status.connects.load(Ordering::Relaxed).saturating_sub(1)
    );
    println!(
        "camera: {outages_seen} outages (planned {}), reconnects {}, opens {}, refused opens {}, camera messages received offline {} / online {}",
        outages.len(),
        stats.camera_reconnects,
        cam.opens.load(Ordering::Relaxed),
        cam.refused.load(Ordering::Relaxed),
        r.camera_offline,
        r.camera_online
    );
    println!("subscriber: {} state, {} stats messages", r.states, r.stats);
    println!(
        "heap in use (glibc mallinfo2): {} KiB at the baseline -> {} KiB at the end ({heap_growth:+.2} %)",
        base.heap_kib, end.heap_kib
    );

    let mut failures = Vec::new();
    if rss_growth > 2.0 {
        failures.push(format!("RSS grew {rss_growth:.2} %"));
    }
    if fd_growth > 2.0 {
        failures.push(format!("open fds grew {fd_growth:.2} %"));
    }
    if !missing.is_empty() {
        failures.push(format!("{} durable messages missing", missing.len()));
    }
    if restarts != planned_restarts || outages_seen != outages.len() as u64 {
        failures.push("the planned broker restarts / camera outages did not all happen".into());
    }
    if !failures.is_empty() {
        println!("FAIL: {}", failures.join("; "));
    }
    println!(
        "SOAK minutes={:.2} frames={} fps={fps:.2} rss_first5_kib={} rss_end_kib={} rss_growth_pct={rss_growth:.2} \
         fds_first5={} fds_end={} fd_growth_pct={fd_growth:.2} durable={handed_over} missing={} duplicates={duplicates} \
         broker_restarts={restarts} camera_outages={outages_seen} heap_growth_pct={heap_growth:.2} {}",
        secs / 60.0,
        stats.frames_processed,
        base.rss_kib,
        end.rss_kib,
        base.fds,
        end.fds,
        missing.len(),
        if failures.is_empty() { "PASS" } else { "FAIL" }
    );
    drop(r);
    drop(daemon);
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("kept for inspection: {} (broker/mosquitto.log)", dir.display());
        std::process::exit(1);
    }
}
