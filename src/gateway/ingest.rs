//! From the broker into the database, losing nothing: a single gateway's MQTT session is
//! persistent (the broker queues QoS 1 messages while it is away; replicas use clean sessions, see
//! `mqtt_task`), and each durable message is acknowledged only after the transaction holding it
//! has committed (rumqttc manual acks). A crash between receipt
//! and commit means the broker sends it again, and the store's unique `(room, msg_id)` makes that
//! harmless.
//!
//! Two threads: the MQTT task (tokio current-thread runtime: network, classification) and the
//! writer (blocking database calls, batches of up to [`BATCH`] messages per transaction). Live
//! `state`/`stats` are kept in memory ([`Live`]) and written at most every `state_flush`.

use super::inbound::{classify, Body, Filter, Inbound, Rejection};
use super::repair;
use super::store::{Applied, Store};
use crate::config::gateway::GatewaySettings;
use rumqttc::{AsyncClient, Event, Packet, Publish, QoS};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Messages per transaction, at most: one fsync carries many messages at 500 messages a second.
const BATCH: usize = 500;
/// Messages waiting for the writer; beyond this the MQTT task waits (and the broker holds them).
const QUEUE: usize = 20_000;

/// What the gateway has done, for `/api/gateway` and the logs.
#[derive(Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub ignored: AtomicU64,
    pub rejected: [AtomicU64; Rejection::ALL.len()],
    pub database_errors: AtomicU64,
    pub batches: AtomicU64,
    /// Stored messages that came as `replayed` (after a reconnect, a restart or a resend).
    pub replayed_stored: AtomicU64,
    /// Holes found in a room's id sequence, resend requests sent, ids the rooms said are gone.
    pub gaps_detected: AtomicU64,
    pub resend_requests: AtomicU64,
    pub ids_gone: AtomicU64,
}

/// A room's latest live messages, newer than the database's copy.
#[derive(Clone, Default)]
pub struct LiveRoom {
    pub state: Option<(f64, String)>,
    pub stats: Option<(f64, String)>,
}

/// What the MQTT task, the writer and the HTTP workers share.
#[derive(Default)]
pub struct Shared {
    pub counters: Counters,
    pub live: Mutex<HashMap<String, LiveRoom>>,
    pub mqtt_connected: AtomicBool,
    pub database_ok: AtomicBool,
    /// Each (reason, room) is logged once; the counters keep counting.
    logged: Mutex<HashSet<(Rejection, String)>>,
}

impl Shared {
    fn reject(&self, room: &str, why: Rejection, topic: &str) {
        let i = Rejection::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.counters.rejected[i].fetch_add(1, Ordering::Relaxed);
        let first = self
            .logged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((why, room.to_string()));
        if first {
            log::warn!(
                "rejected a message on {topic}: {} (counted in /api/gateway; further ones from room `{room}` for this reason are not logged)",
                why.name()
            );
        }
    }
}

/// One message for the writer, with what acknowledges it once stored.
struct Work {
    inbound: Inbound,
    ack: Option<Publish>,
}

/// Topics the gateway subscribes to. Durable kinds go through the shared group when replicas
/// share the work; live kinds and the retained availability go to every replica (retained
/// messages are not delivered to shared subscriptions, and every replica serves the live view).
pub fn subscriptions(prefix: &str, share_group: Option<&str>) -> Vec<(String, QoS)> {
    let share = share_group.map(|g| format!("$share/{g}/")).unwrap_or_default();
    vec![
        (format!("{prefix}/+/available"), QoS::AtLeastOnce),
        (format!("{prefix}/+/info"), QoS::AtLeastOnce),
        (format!("{prefix}/+/state"), QoS::AtMostOnce),
        (format!("{prefix}/+/stats"), QoS::AtMostOnce),
        // Replies to our resend requests (gap repair): every replica hears which ids are gone.
        (format!("{prefix}/+/reply"), QoS::AtLeastOnce),
        (format!("{share}{prefix}/+/assessment"), QoS::AtLeastOnce),
        (format!("{share}{prefix}/+/exam"), QoS::AtLeastOnce),
    ]
}

/// Start the writer thread and run the MQTT task on this thread until `shutdown`.
pub fn run(
    settings: Arc<GatewaySettings>,
    store: Store,
    shared: Arc<Shared>,
    shutdown: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let (work_tx, work_rx) = mpsc::sync_channel::<Work>(QUEUE);
    let (ack_tx, ack_rx) = tokio::sync::mpsc::unbounded_channel::<Publish>();
    let writer = {
        let (settings, shared, shutdown) = (settings.clone(), shared.clone(), shutdown.clone());
        std::thread::Builder::new()
            .name("gateway-writer".into())
            .spawn(move || Writer::new(settings, store, shared).run(work_rx, ack_tx, &shutdown))?
    };
    let (repair_tx, repair_rx) = mpsc::channel::<repair::Input>();
    let (request_tx, request_rx) = tokio::sync::mpsc::unbounded_channel::<repair::Request>();
    let repairer = {
        let (settings, shared, shutdown) = (settings.clone(), shared.clone(), shutdown.clone());
        let store = Store::open(&settings.database, &settings.name)?;
        std::thread::Builder::new()
            .name("gateway-repair".into())
            .spawn(move || repair::Repair::new(settings, store).run(repair_rx, request_tx, &shared, &shutdown))?
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let links = Links {
        work: work_tx,
        acks: ack_rx,
        repair: repair_tx,
        requests: request_rx,
    };
    let result = rt.block_on(mqtt_task(settings, shared, links, shutdown));
    let _ = writer.join();
    let _ = repairer.join();
    result
}

/// The MQTT task's channels to the other threads.
struct Links {
    /// To the writer: messages to store.
    work: mpsc::SyncSender<Work>,
    /// From the writer: messages committed, to acknowledge.
    acks: tokio::sync::mpsc::UnboundedReceiver<Publish>,
    /// To gap repair: the rooms' last issued ids and their resend replies.
    repair: mpsc::Sender<repair::Input>,
    /// From gap repair: resend requests to publish.
    requests: tokio::sync::mpsc::UnboundedReceiver<repair::Request>,
}

/// What the repair thread needs from a message the gateway does not store (a reply) or stores
/// only as the latest (stats).
fn repair_input(inbound: Option<&Inbound>, topic: &str, payload: &[u8]) -> Option<repair::Input> {
    if let Some(Inbound {
        room,
        body: Body::Stats { payload, .. },
        ..
    }) = inbound
    {
        let v: serde_json::Value = serde_json::from_str(payload).ok()?;
        let id = v["mqtt"]["last_msg_id"].as_u64().filter(|&id| id > 0)?;
        return Some(repair::Input::LastIssued { room: room.clone(), id });
    }
    let room = topic.strip_suffix("/reply")?.rsplit('/').next()?.to_string();
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    if v["command"] != "resend" {
        return None;
    }
    let ranges = v["gone"]
        .as_array()?
        .iter()
        .filter_map(|r| Some((r[0].as_u64()?, r[1].as_u64()?)))
        .filter(|(a, b)| a <= b)
        .collect();
    Some(repair::Input::Gone { room, ranges })
}

async fn mqtt_task(
    settings: Arc<GatewaySettings>,
    shared: Arc<Shared>,
    links: Links,
    shutdown: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let Links {
        work,
        mut acks,
        repair,
        mut requests,
    } = links;
    let s = &settings.mqtt;
    let mut opts = crate::publish::mqtt::connection_options(s).map_err(anyhow::Error::msg)?;
    // One gateway: a persistent session, so the broker queues QoS 1 messages while it is away.
    // Replicas: clean sessions, because the broker keeps routing a shared subscription's share to
    // a dead member's persistent session; with a clean one the living replicas get it at once, and
    // what was in flight to the dead one is found and resent by gap repair.
    opts.set_clean_session(settings.share_group.is_some());
    opts.set_manual_acks(true);
    // Any size the protocol allows is read, then refused by `max_payload_bytes`: a smaller limit
    // here would drop the connection on an oversized message, which the broker would send again.
    opts.set_max_packet_size(268_435_455, 1 << 20);
    let (client, mut events) = AsyncClient::new(opts, 1024);
    let filter = Filter {
        prefix: &s.prefix,
        rooms: settings.rooms.as_deref(),
        max_payload_bytes: settings.max_payload_bytes,
    };
    let mut backoff = Duration::from_millis(500);
    let mut last_error = String::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            ev = events.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    shared.mqtt_connected.store(true, Ordering::Relaxed);
                    backoff = Duration::from_millis(500);
                    last_error.clear();
                    log::info!("connected to broker {}:{} (session present: {})", s.host, s.port, ack.session_present);
                    for (topic, qos) in subscriptions(&s.prefix, settings.share_group.as_deref()) {
                        if let Err(e) = client.subscribe(topic.clone(), qos).await {
                            log::error!("cannot subscribe to {topic}: {e}");
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    shared.counters.received.fetch_add(1, Ordering::Relaxed);
                    let classified = classify(&filter, &p.topic, &p.payload, super::store::now());
                    if let Some(input) = repair_input(classified.as_ref().ok().and_then(Option::as_ref), &p.topic, &p.payload) {
                        let _ = repair.send(input);
                    }
                    match classified {
                        Ok(Some(inbound)) => {
                            let ack = (p.qos != QoS::AtMostOnce).then_some(p);
                            if !enqueue(&work, Work { inbound, ack }, &shutdown).await {
                                break;
                            }
                        }
                        Ok(None) => {
                            shared.counters.ignored.fetch_add(1, Ordering::Relaxed);
                            let _ = client.try_ack(&p);
                        }
                        Err((room, why)) => {
                            shared.reject(&room, why, &p.topic);
                            // Junk is acknowledged: redelivering it would not make it valid.
                            let _ = client.try_ack(&p);
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    shared.mqtt_connected.store(false, Ordering::Relaxed);
                    let msg = crate::publish::mqtt::explain(&e, s);
                    if msg != last_error {
                        log::error!("{msg}");
                    }
                    last_error = msg;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            },
            Some((room, from, to)) = requests.recv() => {
                let topic = format!("{}/{room}/cmd/resend", s.prefix);
                let body = serde_json::json!({"from": from, "to": to, "request_id": format!("{}-repair", settings.name)});
                if let Err(e) = client.publish(topic, QoS::AtLeastOnce, false, body.to_string()).await {
                    log::warn!("cannot ask room {room} to resend: {e}");
                }
            }
            Some(p) = acks.recv() => {
                // After a reconnect the packet id belongs to the old connection: the broker
                // redelivers those messages, and the store recognises them.
                let _ = client.try_ack(&p);
            }
            _ = tick.tick() => {
                if shutdown.load(Ordering::Relaxed) {
                    break;
                }
            }
        }
    }
    // Acknowledge what the writer committed before the end, then leave the session to the broker.
    drop(work);
    while let Ok(p) = tokio::time::timeout(Duration::from_secs(2), acks.recv()).await {
        match p {
            Some(p) => {
                let _ = client.try_ack(&p);
            }
            None => break,
        }
    }
    let _ = client.try_disconnect();
    let until = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Ok(_)) = tokio::time::timeout_at(until, events.poll()).await {}
    Ok(())
}

/// Hand a message to the writer, waiting (without blocking the runtime) while its queue is full.
async fn enqueue(work: &mpsc::SyncSender<Work>, mut w: Work, shutdown: &AtomicBool) -> bool {
    loop {
        match work.try_send(w) {
            Ok(()) => return true,
            Err(mpsc::TrySendError::Full(back)) => {
                if shutdown.load(Ordering::Relaxed) {
                    return false;
                }
                w = back;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return false,
        }
    }
}

struct Writer {
    settings: Arc<GatewaySettings>,
    store: Store,
    shared: Arc<Shared>,
    /// Live messages not yet written, per room.
    unflushed: HashSet<String>,
    last_flush: Instant,
}

impl Writer {
    fn new(settings: Arc<GatewaySettings>, store: Store, shared: Arc<Shared>) -> Writer {
        Writer {
            settings,
            store,
            shared,
            unflushed: HashSet::new(),
            last_flush: Instant::now(),
        }
    }

    fn run(
        mut self,
        rx: mpsc::Receiver<Work>,
        acks: tokio::sync::mpsc::UnboundedSender<Publish>,
        shutdown: &AtomicBool,
    ) {
        let mut batch: Vec<Work> = Vec::with_capacity(BATCH);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(w) => batch.push(w),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.flush_live(true, shutdown);
                    return;
                }
            }
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(w) => batch.push(w),
                    Err(_) => break,
                }
            }
            let durable: Vec<Work> = batch.drain(..).filter_map(|w| self.keep_live(w)).collect();
            if !durable.is_empty() {
                self.store_batch(durable, &acks, shutdown);
            }
            self.flush_live(false, shutdown);
        }
    }

    /// Live messages go to memory (returns None); the rest is for the database.
    fn keep_live(&mut self, w: Work) -> Option<Work> {
        let (time, payload, is_state) = match &w.inbound.body {
            Body::State { time, payload } => (*time, payload, true),
            Body::Stats { time, payload } => (*time, payload, false),
            _ => return Some(w),
        };
        let mut live = self.shared.live.lock().unwrap_or_else(|e| e.into_inner());
        let room = live.entry(w.inbound.room.clone()).or_default();
        let slot = if is_state { &mut room.state } else { &mut room.stats };
        if slot.as_ref().is_none_or(|(t, _)| *t <= time) {
            *slot = Some((time, payload.clone()));
            self.unflushed.insert(w.inbound.room.clone());
        }
        None
    }

    /// Store until it works: the messages are acknowledged only then, so the broker keeps them
    /// meanwhile. A broken connection is reopened.
    fn store_batch(
        &mut self,
        batch: Vec<Work>,
        acks: &tokio::sync::mpsc::UnboundedSender<Publish>,
        shutdown: &AtomicBool,
    ) {
        let mut delay = Duration::from_millis(200);
        let applied = loop {
            match self.store.apply(batch.iter().map(|w| &w.inbound)) {
                Ok(a) => {
                    self.shared.database_ok.store(true, Ordering::Relaxed);
                    break a;
                }
                Err(e) => {
                    self.shared.database_ok.store(false, Ordering::Relaxed);
                    self.shared.counters.database_errors.fetch_add(1, Ordering::Relaxed);
                    log::error!("storing {} messages failed: {e}; retrying in {delay:?} (they stay unacknowledged at the broker)", batch.len());
                    if shutdown.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                    self.reopen();
                }
            }
        };
        let c = &self.shared.counters;
        c.batches.fetch_add(1, Ordering::Relaxed);
        for (a, w) in applied.iter().zip(&batch) {
            match a {
                Applied::Stored => c.stored.fetch_add(1, Ordering::Relaxed),
                Applied::Duplicate => c.duplicates.fetch_add(1, Ordering::Relaxed),
            };
            if *a == Applied::Stored && w.inbound.replayed {
                c.replayed_stored.fetch_add(1, Ordering::Relaxed);
            }
        }
        for w in batch {
            if let Some(p) = w.ack {
                let _ = acks.send(p);
            }
        }
    }

    fn reopen(&mut self) {
        match Store::open(&self.settings.database, &self.settings.name) {
            Ok(s) => self.store = s,
            Err(e) => log::warn!("{e}"),
        }
    }

    /// Write each room's latest live messages, at most every `state_flush` (or now, at the end).
    fn flush_live(&mut self, now: bool, shutdown: &AtomicBool) {
        if self.unflushed.is_empty() || (!now && self.last_flush.elapsed() < self.settings.state_flush) {
            return;
        }
        self.last_flush = Instant::now();
        let received = super::store::now();
        let rooms: Vec<String> = self.unflushed.drain().collect();
        let live = self.shared.live.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut batch = Vec::new();
        for room in rooms {
            let Some(l) = live.get(&room) else { continue };
            if let Some((time, payload)) = &l.state {
                batch.push(Inbound {
                    room: room.clone(),
                    received,
                    replayed: false,
                    body: Body::State {
                        time: *time,
                        payload: payload.clone(),
                    },
                });
            }
            if let Some((time, payload)) = &l.stats {
                batch.push(Inbound {
                    room: room.clone(),
                    received,
                    replayed: false,
                    body: Body::Stats {
                        time: *time,
                        payload: payload.clone(),
                    },
                });
            }
        }
        if let Err(e) = self.store.apply(&batch) {
            // Live data: the next flush carries newer values; nothing durable depends on it.
            if !shutdown.load(Ordering::Relaxed) {
                log::warn!("writing the live state failed: {e}");
            }
        }
    }
}
