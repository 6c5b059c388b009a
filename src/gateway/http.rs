//! The HTTP side: the JSON API (`docs/gateway-openapi.yaml`), CSV and FHIR exports, the
//! dashboard, `/healthz`. Plain HTTP on the configured address; TLS is a reverse proxy's job
//! (README). Every `/api/` route needs `Authorization: Bearer <token>` and answers 401 without it,
//! saying nothing else. Worker threads each hold their own database connection.

use super::ingest::Shared;
use super::store::{ExamFilter, RoomRow, Store, StoreError};
use crate::config::gateway::GatewaySettings;
use std::io::Cursor;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tiny_http::{Header, Method, Request, Response, Server};

type Reply = Response<Cursor<Vec<u8>>>;

/// Start the server and its workers; returns the server (to `unblock` it at shutdown) and the
/// worker threads.
pub fn start(
    settings: Arc<GatewaySettings>,
    shared: Arc<Shared>,
) -> anyhow::Result<(Arc<Server>, Vec<std::thread::JoinHandle<()>>)> {
    let server = Server::http(settings.http.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (http.listen): {e}", settings.http.listen))?;
    let server = Arc::new(server);
    let mut workers = Vec::new();
    for i in 0..settings.http.workers {
        let store = Store::open(&settings.database, &settings.name)?;
        let (server, settings, shared) = (server.clone(), settings.clone(), shared.clone());
        workers.push(
            std::thread::Builder::new()
                .name(format!("gateway-http-{i}"))
                .spawn(move || serve(&server, &settings, &shared, store))?,
        );
    }
    log::info!("HTTP API and dashboard on http://{}/", settings.http.listen);
    Ok((server, workers))
}

fn serve(server: &Server, settings: &GatewaySettings, shared: &Shared, mut store: Store) {
    while let Ok(request) = server.recv() {
        let reply = handle(&request, settings, shared, &mut store);
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                log::warn!("{} {}: {e}", request.method(), request.url());
                // A broken connection is reopened for the next request.
                if let Ok(s) = Store::open(&settings.database, &settings.name) {
                    store = s;
                }
                json(503, &serde_json::json!({"error": "database unavailable"}))
            }
        };
        let _ = request.respond(reply);
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header names are valid")
}

fn json(status: u16, v: &serde_json::Value) -> Reply {
    Response::from_data(v.to_string().into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
        .with_header(header("Cache-Control", "no-store"))
}

fn text(status: u16, content_type: &str, body: String) -> Reply {
    Response::from_data(body.into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", content_type))
        .with_header(header("Cache-Control", "no-store"))
}

fn not_found() -> Reply {
    json(404, &serde_json::json!({"error": "not found"}))
}

/// Constant-time comparison: the time to refuse says nothing about how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= (*x ^ b.get(i).copied().unwrap_or(0)) as usize;
    }
    diff == 0
}

fn authorized(request: &Request, settings: &GatewaySettings) -> bool {
    let want = settings.http.token.expose().as_bytes();
    request.headers().iter().any(|h| {
        h.field.equiv("Authorization")
            && h.value
                .as_str()
                .strip_prefix("Bearer ")
                .is_some_and(|t| same(t.trim().as_bytes(), want))
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'%' => return None,
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn query_params(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn handle(
    request: &Request,
    settings: &GatewaySettings,
    shared: &Shared,
    store: &mut Store,
) -> Result<Reply, StoreError> {
    let url = request.url();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if *request.method() != Method::Get {
        return Ok(json(405, &serde_json::json!({"error": "only GET"})));
    }
    match path {
        "/healthz" => return healthz(shared, store),
        "/" | "/index.html" => {
            return Ok(text(
                200,
                "text/html; charset=utf-8",
                crate::report::exam_page::page(None),
            ))
        }
        _ => {}
    }
    let Some(api) = path.strip_prefix("/api/") else {
        return Ok(not_found());
    };
    if !authorized(request, settings) {
        return Ok(
            json(401, &serde_json::json!({"error": "unauthorized"})).with_header(header("WWW-Authenticate", "Bearer"))
        );
    }
    let Some(segments) = api.split('/').map(percent_decode).collect::<Option<Vec<String>>>() else {
        return Ok(json(
            400,
            &serde_json::json!({"error": "bad percent-encoding in the path"}),
        ));
    };
    let params = query_params(query);
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["rooms"] => Ok(json(
            200,
            &serde_json::to_value(rooms(store, shared)?).unwrap_or_default(),
        )),
        ["rooms", room, "ids"] => {
            let ranges = store.id_ranges(room)?;
            let count: u64 = ranges.iter().map(|r| r[1] - r[0] + 1).sum();
            Ok(json(
                200,
                &serde_json::json!({"room": room, "count": count, "ranges": ranges}),
            ))
        }
        ["exams"] => {
            let filter = match exam_filter(&params) {
                Ok(f) => f,
                Err(e) => return Ok(json(400, &serde_json::json!({ "error": e }))),
            };
            Ok(json(
                200,
                &serde_json::to_value(store.exams(&filter)?).unwrap_or_default(),
            ))
        }
        ["exams", room, exam] => Ok(match store.exam(room, exam)? {
            Some(e) => json(200, &serde_json::to_value(e).unwrap_or_default()),
            None => not_found(),
        }),
        ["exams", room, exam, "series"] => Ok(match store.exam(room, exam)? {
            Some(_) => json(
                200,
                &serde_json::to_value(store.series(room, exam)?).unwrap_or_default(),
            ),
            None => not_found(),
        }),
        ["exams", room, exam, "series.csv"] => Ok(match store.exam(room, exam)? {
            Some(_) => text(
                200,
                "text/csv; charset=utf-8",
                super::export::series_csv(&store.series(room, exam)?),
            )
            .with_header(header(
                "Content-Disposition",
                &format!(
                    "attachment; filename=\"{}.csv\"",
                    super::export::file_safe(&format!("{room}-{exam}"))
                ),
            )),
            None => not_found(),
        }),
        ["exams", room, exam, "fhir"] => Ok(match store.exam(room, exam)? {
            Some(e) => {
                json(200, &super::export::fhir_bundle(&e)).with_header(header("Content-Type", "application/fhir+json"))
            }
            None => not_found(),
        }),
        ["gateway"] => Ok(json(200, &gateway_status(settings, shared))),
        ["audit"] => {
            let limit = params
                .iter()
                .find(|(k, _)| k == "limit")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(200);
            Ok(json(
                200,
                &serde_json::to_value(store.audit_trail(limit)?).unwrap_or_default(),
            ))
        }
        _ => Ok(not_found()),
    }
}

fn healthz(shared: &Shared, store: &mut Store) -> Result<Reply, StoreError> {
    let db = store.ping().is_ok();
    let mqtt = shared.mqtt_connected.load(Ordering::Relaxed);
    let status = if db { 200 } else { 503 };
    Ok(json(
        status,
        &serde_json::json!({"ok": db, "database": db, "mqtt": mqtt}),
    ))
}

/// The database's rooms with the in-memory live state, which is newer.
fn rooms(store: &mut Store, shared: &Shared) -> Result<Vec<RoomRow>, StoreError> {
    let mut rows = store.rooms()?;
    let live = shared.live.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for r in &mut rows {
        let Some(l) = live.get(&r.room) else { continue };
        if let Some((t, payload)) = &l.state {
            if r.state_time.is_none_or(|db| db <= *t) {
                r.state = serde_json::from_str(payload).ok();
                r.state_time = Some(*t);
            }
        }
        if let Some((_, payload)) = &l.stats {
            r.stats = serde_json::from_str(payload).ok();
        }
    }
    Ok(rows)
}

fn exam_filter(params: &[(String, String)]) -> Result<ExamFilter, String> {
    let mut f = ExamFilter {
        limit: 500,
        ..Default::default()
    };
    for (k, v) in params {
        let num = || {
            v.parse::<f64>()
                .map_err(|_| format!("{k} must be a number (Unix seconds)"))
        };
        match k.as_str() {
            "room" => f.room = Some(v.clone()),
            "since" => f.since = Some(num()?),
            "until" => f.until = Some(num()?),
            "open" => {
                f.open = Some(match v.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err("open must be true or false".into()),
                })
            }
            "limit" => f.limit = v.parse().map_err(|_| "limit must be an integer".to_string())?,
            _ => return Err(format!("unknown parameter `{k}` (room, since, until, open, limit)")),
        }
    }
    Ok(f)
}

fn gateway_status(settings: &GatewaySettings, shared: &Shared) -> serde_json::Value {
    let c = &shared.counters;
    let rejected: serde_json::Map<String, serde_json::Value> = super::inbound::Rejection::ALL
        .iter()
        .zip(&c.rejected)
        .map(|(r, n)| (r.name().to_string(), n.load(Ordering::Relaxed).into()))
        .collect();
    serde_json::json!({
        "replica": settings.name,
        "version": env!("CARGO_PKG_VERSION"),
        "mqtt_connected": shared.mqtt_connected.load(Ordering::Relaxed),
        "received": c.received.load(Ordering::Relaxed),
        "stored": c.stored.load(Ordering::Relaxed),
        "duplicates": c.duplicates.load(Ordering::Relaxed),
        "ignored": c.ignored.load(Ordering::Relaxed),
        "rejected": rejected,
        "database_errors": c.database_errors.load(Ordering::Relaxed),
        "batches": c.batches.load(Ordering::Relaxed),
        "replayed_stored": c.replayed_stored.load(Ordering::Relaxed),
        "gaps_detected": c.gaps_detected.load(Ordering::Relaxed),
        "resend_requests": c.resend_requests.load(Ordering::Relaxed),
        "ids_gone": c.ids_gone.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abcdef", b"abcdef"));
        for other in [&b"abcde"[..], b"abcdeg", b"abcdefg", b""] {
            assert!(!same(other, b"abcdef"), "{other:?}");
        }
    }

    #[test]
    fn paths_and_queries_decode() {
        assert_eq!(percent_decode("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(
            query_params("room=a&open=true"),
            vec![("room".into(), "a".into()), ("open".into(), "true".into())]
        );
        assert!(exam_filter(&query_params("nope=1")).is_err());
        assert_eq!(
            exam_filter(&query_params("since=5&open=false")).unwrap().since,
            Some(5.0)
        );
    }
}
