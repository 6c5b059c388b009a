//! The running exam's checkpoint: its statistics and the neutral in force, written to the state
//! folder at every exam update (and at start), so that a crash, a watchdog kill or a power cut does
//! not lose a visit. Written on its own thread (temporary file, fsync, rename, folder fsync): the
//! measuring thread never waits for the disk. After a restart the daemon resumes a recent exam, or
//! ends an old one as interrupted (see `Daemon::recover_exam`).

use crate::exam::ExamStats;
use crate::geometry::Angles;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

#[derive(Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Wall-clock time of the write, Unix seconds: how old the exam is at the next start.
    pub saved_unix: f64,
    pub neutral: Angles,
    pub exam: ExamStats,
}

enum Job {
    Save(String),
    Clear,
}

/// Writes checkpoints on a background thread; a failure is logged (once a minute), never fatal.
pub struct Checkpointer {
    path: PathBuf,
    tx: Option<mpsc::Sender<Job>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Checkpointer {
    pub fn start(path: PathBuf) -> Checkpointer {
        let (tx, rx) = mpsc::channel::<Job>();
        let p = path.clone();
        let handle = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || {
                let mut last_log = None::<std::time::Instant>;
                while let Ok(mut job) = rx.recv() {
                    // Only the newest state matters.
                    while let Ok(newer) = rx.try_recv() {
                        job = newer;
                    }
                    let result = match job {
                        Job::Save(text) => write_atomically(&p, &text),
                        Job::Clear => match std::fs::remove_file(&p) {
                            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                            _ => Ok(()),
                        },
                    };
                    if let Err(e) = result {
                        if last_log.is_none_or(|t| t.elapsed().as_secs() >= 60) {
                            log::error!(
                                "exam checkpoint {}: {e}; a restart now would lose the running exam (check exam.checkpoint and the disk)",
                                p.display()
                            );
                            last_log = Some(std::time::Instant::now());
                        }
                    }
                }
            })
            .ok();
        Checkpointer {
            path,
            tx: handle.is_some().then_some(tx),
            handle,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn save(&self, exam: &ExamStats, neutral: Angles) {
        let c = Checkpoint {
            saved_unix: crate::protocol::unix_now(),
            neutral,
            exam: exam.clone(),
        };
        if let (Some(tx), Ok(text)) = (&self.tx, serde_json::to_string(&c)) {
            let _ = tx.send(Job::Save(text));
        }
    }

    pub fn clear(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Job::Clear);
        }
    }

    /// What a previous run left, if anything. A file that does not parse is moved aside (`.bad`)
    /// and reported: it must not block every start.
    pub fn load(path: &Path) -> Option<Checkpoint> {
        let text = std::fs::read_to_string(path).ok()?;
        match serde_json::from_str(&text) {
            Ok(c) => Some(c),
            Err(e) => {
                let bad = path.with_extension("bad");
                let _ = std::fs::rename(path, &bad);
                log::error!(
                    "exam checkpoint {} is damaged ({e}); moved to {} and ignored",
                    path.display(),
                    bad.display()
                );
                None
            }
        }
    }
}

impl Drop for Checkpointer {
    /// Finish the pending write before the process goes.
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
