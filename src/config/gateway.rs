//! The gateway's config file (`cdposture gateway --config FILE`): raw TOML tables, then validated
//! [`GatewaySettings`]. Same rules as the daemon's: unknown keys rejected, every error names the
//! key, secrets (the broker password, the HTTP bearer token, the database password) come only from
//! the environment and are held as [`Secret`]s. `[mqtt]` takes the daemon's keys with the same
//! meanings, so one broker account recipe serves both.

use super::{mqtt_settings, raw, ConfigError, Ctx, MqttSettings, Secret};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGatewayConfig {
    gateway: RawGateway,
    mqtt: Option<RawGatewayMqtt>,
    http: RawHttp,
    database: RawDatabase,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGateway {
    name: String,
    rooms: Option<Vec<String>>,
    share_group: Option<String>,
    max_payload_bytes: usize,
    state_flush_s: f64,
}
impl Default for RawGateway {
    fn default() -> Self {
        RawGateway {
            name: "gateway".into(),
            rooms: None,
            share_group: None,
            max_payload_bytes: 256 * 1024,
            state_flush_s: 1.0,
        }
    }
}

/// The daemon's `[mqtt]` keys that mean something to a subscriber.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGatewayMqtt {
    host: String,
    port: u16,
    client_id: Option<String>,
    prefix: String,
    username: Option<String>,
    password: Option<serde::de::IgnoredAny>,
    password_env: Option<String>,
    tls: Option<raw::RawTls>,
    keep_alive_s: f64,
}
impl Default for RawGatewayMqtt {
    fn default() -> Self {
        let d = raw::RawMqtt::default();
        RawGatewayMqtt {
            host: d.host,
            port: d.port,
            client_id: None,
            prefix: d.prefix,
            username: None,
            password: None,
            password_env: None,
            tls: None,
            keep_alive_s: d.keep_alive_s,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHttp {
    listen: String,
    token_env: String,
    workers: usize,
}
impl Default for RawHttp {
    fn default() -> Self {
        RawHttp {
            listen: "127.0.0.1:8080".into(),
            token_env: "CDPOSTURE_GATEWAY_TOKEN".into(),
            workers: 4,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDatabase {
    url: String,
    password_env: Option<String>,
}
impl Default for RawDatabase {
    fn default() -> Self {
        RawDatabase {
            url: "sqlite:/var/lib/cdposture-gateway/gateway.db".into(),
            password_env: None,
        }
    }
}

/// Where exams are kept.
pub enum DatabaseSettings {
    /// One file; one gateway process.
    Sqlite(PathBuf),
    /// A server several gateway replicas share. `url` never holds the password (rejected there).
    Postgres { url: String, password: Option<Secret> },
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseSettings::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            DatabaseSettings::Postgres { url, password } => {
                write!(
                    f,
                    "Postgres({url}, password {:?})",
                    password.as_ref().map(|_| "<redacted>")
                )
            }
        }
    }
}

#[derive(Debug)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// Every `/api/` request must carry `Authorization: Bearer <token>`.
    pub token: Secret,
    /// Threads answering requests, each with its own database connection.
    pub workers: usize,
}

#[derive(Debug)]
pub struct GatewaySettings {
    /// This replica's name: its MQTT client id suffix and who it was in the audit trail.
    pub name: String,
    pub mqtt: MqttSettings,
    /// Replicas in one group split the durable topics (MQTT shared subscription); `None` with
    /// SQLite, which only one process may write.
    pub share_group: Option<String>,
    /// Rooms accepted; `None` = any room that publishes under the prefix.
    pub rooms: Option<Vec<String>>,
    /// Larger payloads are rejected (counted, logged once), never parsed.
    pub max_payload_bytes: usize,
    /// How often a room's latest live state is written to the database (it is kept in memory
    /// between): live state at 10 Hz from 50 rooms must not become 500 writes a second.
    pub state_flush: Duration,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
}

impl GatewaySettings {
    pub fn load(path: &Path) -> Result<GatewaySettings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse_with_env(&text, path, &|k| std::env::var(k).ok())
    }

    pub fn parse_with_env(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GatewaySettings, ConfigError> {
        let raw: RawGatewayConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let cx = Ctx {
            path,
            base: path.parent().unwrap_or(Path::new(".")),
        };
        validate(raw, env, &cx)
    }
}

fn validate(
    raw: RawGatewayConfig,
    env: &dyn Fn(&str) -> Option<String>,
    cx: &Ctx,
) -> Result<GatewaySettings, ConfigError> {
    let g = raw.gateway;
    if !super::topic_safe(&g.name) {
        return Err(cx.invalid("gateway.name", format!("`{}` must be letters, digits, - or _", g.name)));
    }
    if let Some(rooms) = &g.rooms {
        if let Some(bad) = rooms.iter().find(|r| !super::topic_safe(r)) {
            return Err(cx.invalid(
                "gateway.rooms",
                format!("`{bad}` is not a room id (letters, digits, - or _)"),
            ));
        }
    }
    if !(1024..=16 << 20).contains(&g.max_payload_bytes) {
        return Err(cx.invalid(
            "gateway.max_payload_bytes",
            format!("{} must be 1024..16777216", g.max_payload_bytes),
        ));
    }
    let m = raw.mqtt.ok_or_else(|| {
        cx.invalid(
            "mqtt",
            "the gateway needs a broker: add an [mqtt] table with host".into(),
        )
    })?;
    let daemon_like = raw::RawMqtt {
        host: m.host,
        port: m.port,
        client_id: Some(m.client_id.unwrap_or_else(|| format!("cdposture-gateway-{}", g.name))),
        prefix: m.prefix,
        username: m.username,
        password: m.password,
        password_env: m.password_env,
        tls: m.tls,
        keep_alive_s: m.keep_alive_s,
        ..raw::RawMqtt::default()
    };
    let mqtt = mqtt_settings(daemon_like, &g.name, env, cx)?;
    let database = database_settings(&raw.database, env, cx)?;
    let share_group = match (&database, g.share_group) {
        (DatabaseSettings::Sqlite(_), Some(_)) => {
            return Err(cx.invalid(
                "gateway.share_group",
                "replicas need a database they share: set database.url to postgres://… (SQLite is one process)".into(),
            ))
        }
        (DatabaseSettings::Sqlite(_), None) => None,
        (DatabaseSettings::Postgres { .. }, group) => {
            let group = group.unwrap_or_else(|| "cdposture-gateway".into());
            if !super::topic_safe(&group) {
                return Err(cx.invalid(
                    "gateway.share_group",
                    format!("`{group}` must be letters, digits, - or _"),
                ));
            }
            Some(group)
        }
    };
    Ok(GatewaySettings {
        name: g.name,
        mqtt,
        share_group,
        rooms: g.rooms,
        max_payload_bytes: g.max_payload_bytes,
        state_flush: cx.secs("gateway.state_flush_s", g.state_flush_s)?,
        http: http_settings(&raw.http, env, cx)?,
        database,
    })
}

fn http_settings(h: &RawHttp, env: &dyn Fn(&str) -> Option<String>, cx: &Ctx) -> Result<HttpSettings, ConfigError> {
    let listen = h.listen.parse::<SocketAddr>().map_err(|_| {
        cx.invalid(
            "http.listen",
            format!("`{}` must be an address and port, e.g. 127.0.0.1:8080", h.listen),
        )
    })?;
    let token = env(&h.token_env).filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        cx.invalid(
            "http.token_env",
            format!(
                "environment variable `{}` is not set: the API needs a bearer token (e.g. `openssl rand -hex 32`)",
                h.token_env
            ),
        )
    })?;
    if token.len() < 16 {
        return Err(cx.invalid(
            "http.token_env",
            format!("the token in `{}` is shorter than 16 characters", h.token_env),
        ));
    }
    if !(1..=64).contains(&h.workers) {
        return Err(cx.invalid("http.workers", format!("{} must be 1..64", h.workers)));
    }
    Ok(HttpSettings {
        listen,
        token: Secret::new(token),
        workers: h.workers,
    })
}

fn database_settings(
    d: &RawDatabase,
    env: &dyn Fn(&str) -> Option<String>,
    cx: &Ctx,
) -> Result<DatabaseSettings, ConfigError> {
    if let Some(file) = d.url.strip_prefix("sqlite:") {
        if file.is_empty() {
            return Err(cx.invalid(
                "database.url",
                "sqlite: needs a file, e.g. sqlite:/var/lib/cdposture-gateway/gateway.db".into(),
            ));
        }
        if d.password_env.is_some() {
            return Err(cx.invalid("database.password_env", "SQLite has no password: remove the key".into()));
        }
        return Ok(DatabaseSettings::Sqlite(cx.resolve(Path::new(file))));
    }
    let Some(rest) = d
        .url
        .strip_prefix("postgres://")
        .or_else(|| d.url.strip_prefix("postgresql://"))
    else {
        return Err(cx.invalid(
            "database.url",
            "must start with sqlite: or postgres:// (e.g. postgres://cdposture@db.clinic/cdposture)".into(),
        ));
    };
    let userinfo = rest
        .split(['/', '?'])
        .next()
        .unwrap_or("")
        .rsplit_once('@')
        .map(|(u, _)| u);
    if userinfo.is_some_and(|u| u.contains(':')) || d.url.contains("password=") {
        // Not echoed: the value is the secret.
        return Err(cx.invalid(
            "database.url",
            "holds a password: put it in an environment variable and name it in database.password_env".into(),
        ));
    }
    let password = match &d.password_env {
        Some(var) => Some(Secret::new(env(var).ok_or_else(|| {
            cx.invalid(
                "database.password_env",
                format!("environment variable `{var}` is not set"),
            )
        })?)),
        None => None,
    };
    Ok(DatabaseSettings::Postgres {
        url: d.url.clone(),
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123";

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<GatewaySettings, ConfigError> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        GatewaySettings::parse_with_env(text, Path::new("/etc/gw.toml"), &move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn minimal_config_has_sqlite_and_the_token_from_the_environment() {
        let s = parse("[mqtt]\nhost = \"broker\"\n", &[("CDPOSTURE_GATEWAY_TOKEN", TOKEN)]).unwrap();
        assert!(
            matches!(&s.database, DatabaseSettings::Sqlite(p) if p == Path::new("/var/lib/cdposture-gateway/gateway.db"))
        );
        assert_eq!(s.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.mqtt.client_id, "cdposture-gateway-gateway");
        assert_eq!(s.share_group, None);
        assert_eq!(s.http.token.expose(), TOKEN);
    }

    #[test]
    fn the_documented_example_is_valid() {
        let s = parse(
            include_str!("../../docs/gateway.toml"),
            &[("CDPOSTURE_GATEWAY_TOKEN", TOKEN)],
        )
        .unwrap();
        assert_eq!(s.name, "gateway");
        assert_eq!(s.http.workers, 4);
    }

    #[test]
    fn errors_name_the_key() {
        let env = [("CDPOSTURE_GATEWAY_TOKEN", TOKEN)];
        let cases = [
            ("", &env[..], "`mqtt`"),
            ("[mqtt]\nhost = \"b\"\n", &[][..], "http.token_env"),
            (
                "[mqtt]\nhost = \"b\"\n[http]\nlisten = \"localhost\"\n",
                &env[..],
                "http.listen",
            ),
            (
                "[mqtt]\nhost = \"b\"\nstate_interval_s = 1\n",
                &env[..],
                "state_interval_s",
            ),
            (
                "[mqtt]\nhost = \"b\"\n[database]\nurl = \"mysql://x\"\n",
                &env[..],
                "database.url",
            ),
            (
                "[mqtt]\nhost = \"b\"\n[gateway]\nshare_group = \"g\"\n",
                &env[..],
                "gateway.share_group",
            ),
            (
                "[mqtt]\nhost = \"b\"\n[gateway]\nrooms = [\"a/b\"]\n",
                &env[..],
                "gateway.rooms",
            ),
        ];
        for (text, env, key) in cases {
            let e = parse(text, env).unwrap_err().to_string();
            assert!(e.contains(key), "{text:?}: {e}");
        }
    }

    #[test]
    fn database_passwords_never_sit_in_the_file_or_in_debug_output() {
        let env = [("CDPOSTURE_GATEWAY_TOKEN", TOKEN), ("PGPW", "s3cret-db")];
        let e = parse(
            "[mqtt]\nhost = \"b\"\n[database]\nurl = \"postgres://u:s3cret-db@h/db\"\n",
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("database.password_env") && !e.contains("s3cret"), "{e}");
        let s = parse(
            "[mqtt]\nhost = \"b\"\n[database]\nurl = \"postgres://u@h/db\"\npassword_env = \"PGPW\"\n",
            &env,
        )
        .unwrap();
        assert_eq!(s.share_group.as_deref(), Some("cdposture-gateway"));
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret-db") && !shown.contains(TOKEN), "{shown}");
    }
}
