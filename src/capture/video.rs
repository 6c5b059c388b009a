//! Video files, decoded by the ffmpeg CLI into raw RGB on a pipe. Chosen over linking libav*: any
//! container and codec Debian's ffmpeg reads works, nothing to build, and a crash in a decoder cannot
//! take the daemon down. Timestamps assume the stream's average frame rate.

use super::{Frame, FrameSource};
use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

pub struct VideoFile {
    path: PathBuf,
    pub width: u32,
    pub height: u32,
    fps: f64,
    frames_hint: Option<u64>,
    child: Child,
    stdout: ChildStdout,
    /// Last lines ffmpeg wrote to stderr, drained by a thread so the pipe never fills.
    stderr_tail: Arc<Mutex<String>>,
    next: u64,
    done: bool,
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadVideo {
        path: path.into(),
        reason: reason.into(),
    }
}

fn tool_missing(tool: &str, e: std::io::Error) -> Error {
    Error::Other(format!(
        "cannot run `{tool}` ({e}); video input needs ffmpeg: apt-get install ffmpeg"
    ))
}

#[derive(serde::Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<ProbeStream>,
}
#[derive(serde::Deserialize)]
struct ProbeStream {
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    nb_frames: Option<String>,
}

fn parse_rate(r: &str) -> Option<f64> {
    let (n, d) = r.split_once('/').unwrap_or((r, "1"));
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d > 0.0 && n > 0.0).then_some(n / d)
}

impl VideoFile {
    pub fn open(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.len() == 0 {
            return Err(bad(path, "empty file (0 bytes); give a video with at least one frame"));
        }
        let out = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames",
                "-of",
                "json",
            ])
            .arg(path)
            .output()
            .map_err(|e| tool_missing("ffprobe", e))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first_err = stderr.lines().next().unwrap_or("").trim().to_string();
        if !out.status.success() {
            return Err(bad(
                path,
                format!("not a readable video ({first_err}); the file is truncated, corrupt or not a video"),
            ));
        }
        let probe: Probe =
            serde_json::from_slice(&out.stdout).map_err(|e| bad(path, format!("ffprobe output unreadable: {e}")))?;
        let Some(s) = probe.streams.first() else {
            return Err(bad(path, "contains no video stream"));
        };
        let (Some(width @ 1..), Some(height @ 1..)) = (s.width, s.height) else {
            return Err(bad(
                path,
                "video stream has no frame size; the file is truncated or corrupt",
            ));
        };
        let fps = s
            .avg_frame_rate
            .as_deref()
            .and_then(parse_rate)
            .or_else(|| s.r_frame_rate.as_deref().and_then(parse_rate))
            .unwrap_or(30.0);
        let frames_hint = s.nb_frames.as_deref().and_then(|n| n.parse().ok());
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| tool_missing("ffmpeg", e))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| bad(path, "ffmpeg gave no output pipe"))?;
        let stderr_tail = Arc::new(Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let tail = stderr_tail.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut t) = tail.lock() {
                        t.push_str(&String::from_utf8_lossy(&buf[..n]));
                        let len = t.len();
                        if len > 4096 {
                            t.drain(..len - 4096);
                        }
                    }
                }
            });
        }
        Ok(VideoFile {
            path: path.into(),
            width,
            height,
            fps,
            frames_hint,
            child,
            stdout,
            stderr_tail,
            next: 0,
            done: false,
        })
    }

    fn finish(&mut self) -> Result<Option<Frame>> {
        self.done = true;
        let status = self.child.wait().map_err(|e| Error::io(&self.path, e))?;
        // Give the stderr thread a moment to collect ffmpeg's last words.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let tail = self.stderr_tail.lock().map(|t| t.clone()).unwrap_or_default();
        let last = tail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        if !status.success() || self.next == 0 {
            let what = if self.next == 0 {
                "no frame could be decoded".to_string()
            } else {
                format!("decoding stopped after {} frames", self.next)
            };
            return Err(bad(
                &self.path,
                format!("{what} ({last}); the file is truncated or corrupt"),
            ));
        }
        if !last.is_empty() {
            log::warn!("{}: ffmpeg reported: {last}", self.path.display());
        }
        Ok(None)
    }
}

impl FrameSource for VideoFile {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        if self.done {
            return Ok(None);
        }
        let size = self.width as usize * self.height as usize * 3;
        let mut buf = vec![0u8; size];
        let mut filled = 0;
        while filled < size {
            match self.stdout.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(&self.path, e)),
            }
        }
        if filled < size {
            if filled > 0 {
                log::warn!(
                    "{}: last frame incomplete ({filled} of {size} bytes), dropped",
                    self.path.display()
                );
            }
            return self.finish();
        }
        let image = image::RgbImage::from_raw(self.width, self.height, buf)
            .ok_or_else(|| bad(&self.path, "frame size mismatch"))?;
        let index = self.next;
        self.next += 1;
        Ok(Some(Frame {
            index,
            t_s: index as f64 / self.fps,
            image,
            path: None,
        }))
    }
    fn is_sequence(&self) -> bool {
        true
    }
    fn len_hint(&self) -> Option<u64> {
        self.frames_hint
    }
    fn fps(&self) -> Option<f64> {
        Some(self.fps)
    }
}

impl Drop for VideoFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
