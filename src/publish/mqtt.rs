//! The MQTT connection: a tokio current-thread runtime on its own OS thread, so that the network
//! never blocks the measuring loop. Owns connecting (TLS, credentials, last will), backoff while the
//! broker is away, re-subscribing and re-announcing `online` after every reconnect, replaying the
//! outbox, mapping PUBACKs back to outbox entries, and turning `cmd/…` messages into commands.
//!
//! PUBACK bookkeeping: rumqttc reports each publish it writes as `Outgoing::Publish(pkid)` in the
//! order we submitted them, so a FIFO of "which outbox entry was that" maps pkid → entry. On a
//! connection error rumqttc discards everything queued (we use clean sessions), so the FIFO and the
//! pkid map are cleared too; the outbox, which still holds every un-acked message, is replayed.

use super::commands;
use super::outbox::Outbox;
use super::{LinkStatus, Topics};
use crate::config::MqttSettings;
use crate::protocol::Command;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, LastWill, MqttOptions, Outgoing, Packet, QoS,
    TlsConfiguration, Transport,
};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Durable messages in flight at once (below rumqttc's default of 100).
const WINDOW: usize = 64;
const BACKOFF_MAX: Duration = Duration::from_secs(30);

pub struct MqttTask {
    pub settings: MqttSettings,
    pub topics: Topics,
    pub outbox: Arc<Mutex<Outbox>>,
    pub wake: Arc<tokio::sync::Notify>,
    /// QoS 0 messages, and retained status (`camera`) when the flag is set.
    pub live: tokio::sync::mpsc::Receiver<(String, String, bool)>,
    pub commands: mpsc::Sender<Command>,
    pub status: Arc<LinkStatus>,
    pub shutdown: Arc<tokio::sync::Notify>,
    /// The retained `info` payload (see `publish::info`), sent at every connect.
    pub info: Option<String>,
}

fn read(path: &std::path::Path, key: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key} {}: {e}", path.display()))
}

pub fn options(s: &MqttSettings, topics: &Topics) -> Result<MqttOptions, String> {
    let mut o = connection_options(s)?;
    o.set_clean_session(true);
    o.set_last_will(LastWill::new(
        topics.get("available"),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    Ok(o)
}

/// What every client of ours sets the same way (the daemon, the gateway): broker, keep-alive,
/// packet limits, credentials and TLS.
pub fn connection_options(s: &MqttSettings) -> Result<MqttOptions, String> {
    let mut o = MqttOptions::new(&s.client_id, &s.host, s.port);
    o.set_keep_alive(s.keep_alive);
    o.set_max_packet_size(1 << 20, 1 << 20);
    if let Some(user) = &s.username {
        let password = s.password.as_ref().map(|p| p.expose()).unwrap_or_default();
        o.set_credentials(user, password);
    }
    if let Some(tls) = &s.tls {
        let ca = read(&tls.ca, "mqtt.tls.ca")?;
        let client_auth = match &tls.client_cert {
            Some((c, k)) => Some((read(c, "mqtt.tls.client_cert")?, read(k, "mqtt.tls.client_key")?)),
            None => None,
        };
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
            ca,
            alpn: None,
            client_auth,
        }));
    }
    Ok(o)
}

/// One line a technician can act on.
pub fn explain(e: &ConnectionError, s: &MqttSettings) -> String {
    let target = format!("{}:{}", s.host, s.port);
    match e {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword,
        ) => {
            format!("broker {target} refused the login (not authorized): check mqtt.username and the password in mqtt.password_env")
        }
        ConnectionError::ConnectionRefused(code) => format!("broker {target} refused the connection ({code:?})"),
        ConnectionError::Tls(t) => format!(
            "TLS with {target} failed ({t}): check mqtt.tls.ca (and the broker's certificate names {})",
            s.host
        ),
        ConnectionError::Io(io) => format!("cannot reach broker {target} ({io}); retrying"),
        other => format!("broker {target}: {other}; retrying"),
    }
}

/// Retained status messages must arrive; live ones may be lost.
fn qos_for(retain: bool) -> QoS {
    if retain {
        QoS::AtLeastOnce
    } else {
        QoS::AtMostOnce
    }
}

/// What a submitted publish carried, so that its PUBACK can be mapped back to it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sent {
    /// QoS 0 live data, retained status, command replies: nothing to remove when acknowledged.
    Live,
    /// An outbox entry: removed from disk on its PUBACK.
    Durable(u64),
    /// The clean-exit `stopped`: the connection may close only after its PUBACK.
    Farewell,
}

fn written(fifo: &mut VecDeque<Sent>, pkids: &mut HashMap<u16, Sent>, pkid: u16) {
    if let Some(sent @ (Sent::Durable(_) | Sent::Farewell)) = fifo.pop_front() {
        pkids.insert(pkid, sent);
    }
}

impl MqttTask {
    pub async fn run(mut self) {
        let opts = match options(&self.settings, &self.topics) {
            Ok(o) => o,
            Err(e) => {
                log::error!("MQTT disabled: {e}");
                return;
            }
        };
        let (client, mut events) = AsyncClient::new(opts, 512);
        let mut fifo: VecDeque<Sent> = VecDeque::new();
        let mut pkids: HashMap<u16, Sent> = HashMap::new();
        let mut connected = false;
        let mut backoff = Duration::from_millis(500);
        let mut last_error = String::new();
        let available = self.topics.get("available");
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.notified() => {
                    if connected {
                        // The final stats and state were queued just before the shutdown: send them too.
                        while let Ok((topic, payload, retain)) = self.live.try_recv() {
                            if client.try_publish(topic, qos_for(retain), retain, payload).is_ok() {
                                fifo.push_back(Sent::Live);
                            }
                        }
                        self.drain(&client, &mut events, &mut fifo, &mut pkids, &available).await;
                    }
                    return;
                }
                ev = events.poll() => match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected = true;
                        self.status.connected.store(true, Ordering::Relaxed);
                        let n = self.status.connects.fetch_add(1, Ordering::Relaxed) + 1;
                        let pending = self.outbox.lock().unwrap_or_else(|e| e.into_inner()).len();
                        log::info!("connected to broker {}:{} (connection {n}); {pending} messages in the outbox", self.settings.host, self.settings.port);
                        backoff = Duration::from_millis(500);
                        last_error.clear();
                        if client.try_subscribe(self.topics.get("cmd/+"), QoS::AtLeastOnce).is_err() {
                            log::warn!("could not subscribe to commands");
                        }
                        if client.try_publish(&available, QoS::AtLeastOnce, true, "online").is_ok() {
                            fifo.push_back(Sent::Live);
                        }
                        if let Some(info) = &self.info {
                            if client.try_publish(self.topics.get("info"), QoS::AtLeastOnce, true, info.clone()).is_ok() {
                                fifo.push_back(Sent::Live);
                            }
                        }
                        // The camera's status may have changed while the broker was away.
                        let camera = *self.status.camera.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(c) = camera {
                            if client.try_publish(self.topics.get("camera"), QoS::AtLeastOnce, true, c).is_ok() {
                                fifo.push_back(Sent::Live);
                            }
                        }
                        self.outbox.lock().unwrap_or_else(|e| e.into_inner()).reconnected();
                        self.pump(&client, &mut fifo, &pkids);
                    }
                    Ok(Event::Incoming(Packet::PubAck(a))) => {
                        self.acked(&mut pkids, a.pkid);
                        self.pump(&client, &mut fifo, &pkids);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let name = p.topic.rsplit('/').next().unwrap_or("").to_string();
                        let reply = if name == "resend" {
                            // The gateway's repair: served from the outbox here, not by the loop.
                            let reply = self.resend(&p.payload);
                            self.pump(&client, &mut fifo, &pkids);
                            reply
                        } else { match commands::parse(&name, &p.payload) {
                            Ok((cmd, reply)) => {
                                log::info!("command {name} received");
                                let _ = self.commands.send(cmd);
                                reply
                            }
                            Err(reply) => {
                                log::warn!("command {name} rejected: {}", reply.error.as_deref().unwrap_or(""));
                                reply
                            }
                        } };
                        let body = serde_json::to_string(&reply).unwrap_or_default();
                        if client.try_publish(self.topics.get("reply"), QoS::AtLeastOnce, false, body).is_ok() {
                            fifo.push_back(Sent::Live);
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => written(&mut fifo, &mut pkids, pkid),
                    Ok(_) => {}
                    Err(e) => {
                        let msg = explain(&e, &self.settings);
                        if connected {
                            log::warn!("lost the broker: {msg}");
                        } else if msg != last_error {
                            log::error!("{msg}");
                        }
                        last_error = msg;
                        connected = false;
                        self.status.connected.store(false, Ordering::Relaxed);
                        // rumqttc dropped whatever was queued (clean session): start the books afresh.
                        fifo.clear();
                        pkids.clear();
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = self.shutdown.notified() => { return; }
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                },
                _ = self.wake.notified(), if connected => self.pump(&client, &mut fifo, &pkids),
                Some((topic, payload, retain)) = self.live.recv(), if connected => {
                    if client.try_publish(topic, qos_for(retain), retain, payload).is_ok() {
                        fifo.push_back(Sent::Live);
                    }
                }
            }
        }
    }

    /// The broker acknowledged `pkid`: the outbox entry it carried is delivered (and kept for
    /// resends when retention is on). Returns what it was.
    fn acked(&self, pkids: &mut HashMap<u16, Sent>, pkid: u16) -> Option<Sent> {
        let sent = pkids.remove(&pkid);
        if let Some(Sent::Durable(seq)) = sent {
            self.outbox.lock().unwrap_or_else(|e| e.into_inner()).acknowledged(seq);
        }
        sent
    }

    /// `cmd/resend`: put the range back into the outbox; the reply says what was found.
    fn resend(&self, payload: &[u8]) -> commands::Reply {
        match commands::parse_resend(payload) {
            Ok((from, to, request_id)) => {
                let r = self.outbox.lock().unwrap_or_else(|e| e.into_inner()).resend(from, to);
                log::info!(
                    "resend {from}..={to} asked: {} sent again, {} pending, {} ranges gone",
                    r.resent,
                    r.pending,
                    r.gone.len()
                );
                commands::resend_reply(request_id, &r)
            }
            Err(reply) => {
                log::warn!("command resend rejected: {}", reply.error.as_deref().unwrap_or(""));
                reply
            }
        }
    }

    /// Clean exit: send what the outbox holds (up to 3 s), then `stopped`, retained, which replaces
    /// the will only if the broker has it before the connection closes: so wait for its PUBACK (up
    /// to 2 s), then DISCONNECT, then the broker's close (up to 1 s). Whatever is still un-acked
    /// stays on disk for the next start.
    async fn drain(
        &self,
        client: &AsyncClient,
        events: &mut rumqttc::EventLoop,
        fifo: &mut VecDeque<Sent>,
        pkids: &mut HashMap<u16, Sent>,
        available: &str,
    ) {
        let outbox_deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        let mut farewell_deadline = None;
        let mut connection_lost = false;
        loop {
            let outbox_empty = self.outbox.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
            let now = tokio::time::Instant::now();
            if farewell_deadline.is_none() && (outbox_empty || now >= outbox_deadline) {
                if client
                    .try_publish(available, QoS::AtLeastOnce, true, "stopped")
                    .is_err()
                {
                    break;
                }
                fifo.push_back(Sent::Farewell);
                farewell_deadline = Some(now + Duration::from_secs(2));
            }
            if farewell_deadline.is_none() {
                self.pump(client, fifo, pkids);
            }
            let deadline = farewell_deadline.unwrap_or(outbox_deadline);
            match tokio::time::timeout_at(deadline, events.poll()).await {
                Ok(Ok(Event::Incoming(Packet::PubAck(a)))) => {
                    if self.acked(pkids, a.pkid) == Some(Sent::Farewell) {
                        break;
                    }
                }
                Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => written(fifo, pkids, pkid),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    log::warn!("broker lost while stopping: {}", explain(&e, &self.settings));
                    connection_lost = true;
                    break;
                }
                // The outbox's time is up (the farewell goes next) or the farewell's (give up on it).
                Err(_) if farewell_deadline.is_some() => break,
                Err(_) => {}
            }
        }
        let left = self.outbox.lock().unwrap_or_else(|e| e.into_inner()).len();
        if left > 0 {
            log::warn!(
                "{left} messages not acknowledged at exit; they stay in the outbox and are sent at the next start"
            );
        }
        // After DISCONNECT, read until the broker closes its side: closing a socket with unread
        // bytes (a late PUBACK) sends a TCP reset, and a reset makes the broker discard what it
        // has not read yet: the farewell and the DISCONNECT, so the will would fire.
        // (After a lost connection there is nothing to close: a poll would connect anew.)
        if !connection_lost && client.try_disconnect().is_ok() {
            let until = tokio::time::Instant::now() + Duration::from_secs(1);
            while let Ok(Ok(ev)) = tokio::time::timeout_at(until, events.poll()).await {
                if let Event::Incoming(Packet::PubAck(a)) = ev {
                    self.acked(pkids, a.pkid);
                }
            }
        }
    }

    /// Send outbox messages not yet sent on this connection, keeping at most WINDOW in flight.
    fn pump(&self, client: &AsyncClient, fifo: &mut VecDeque<Sent>, pkids: &HashMap<u16, Sent>) {
        let in_flight = pkids.len() + fifo.iter().filter(|x| **x != Sent::Live).count();
        if in_flight >= WINDOW {
            return;
        }
        let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        for (seq, topic, replayed) in outbox.take_unsent(WINDOW - in_flight) {
            let Some(payload) = outbox.payload(seq) else { continue };
            let body = match serde_json::from_str::<serde_json::Value>(&payload) {
                Ok(mut v) => {
                    if let Some(o) = v.as_object_mut() {
                        o.insert("msg_id".into(), seq.into());
                        if replayed {
                            o.insert("replayed".into(), true.into());
                        }
                    }
                    v.to_string()
                }
                Err(_) => payload,
            };
            if client.try_publish(topic, QoS::AtLeastOnce, false, body).is_ok() {
                fifo.push_back(Sent::Durable(seq));
            } else {
                // Channel full: leave it for the next pump after a reconnect or ack.
                outbox.reconnected_one(seq);
                break;
            }
        }
    }
}
