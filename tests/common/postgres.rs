//! A throw-away PostgreSQL cluster for the gateway's tests and load benchmark (Debian's
//! `postgresql`, initdb'd in the test folder, trust auth on loopback, stopped on drop). Included by
//! path from `benches/gateway_load.rs` too, so it is self-contained.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A free loopback port (also used by the load bench, which includes this file).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A throw-away PostgreSQL cluster (Debian's `postgresql`), on a free port, trust auth on
/// loopback; run as the `postgres` user when the tests run as root (PostgreSQL refuses root).
pub struct Postgres {
    data: PathBuf,
    pub port: u16,
    bin: PathBuf,
}

impl Postgres {
    fn as_owner(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if unsafe { libc::geteuid() } == 0 {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    pub fn start(dir: &Path) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is needed for the replica test (apt-get install postgresql)")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())
            .expect("no initdb under /usr/lib/postgresql/*/bin");
        let root = dir.join("pg");
        std::fs::create_dir_all(&root).unwrap();
        if unsafe { libc::geteuid() } == 0 {
            assert!(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root)
                .status()
                .unwrap()
                .success());
        }
        let pg = Postgres {
            data: root.join("data"),
            port: free_port(),
            bin,
        };
        let out = pg
            .as_owner("initdb")
            .args(["-A", "trust", "-U", "cdposture", "-D"])
            .arg(&pg.data)
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            pg.port,
            root.display()
        );
        let out = pg
            .as_owner("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&pg.data)
            .args(["-o", &opts, "-l"])
            .arg(root.join("log"))
            .arg("start")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg
    }

    pub fn url(&self) -> String {
        format!("postgres://cdposture@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .as_owner("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }
}
