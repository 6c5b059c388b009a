//! A real browser for the page tests: Debian's `chromium`, headless, with the page's scripts run
//! (virtual time lets its fetches and timers finish before the DOM is read or the picture taken).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> &'static str {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(c).exists() {
            return c;
        }
    }
    panic!("chromium is needed for the dashboard tests (apt-get install chromium; scripts/setup.sh does)")
}

fn run(profile: &Path, args: &[&str], url: &str) -> std::process::Output {
    let out = Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args([
            "--virtual-time-budget=8000",
            "--window-size=1280,1000",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The DOM after the page's scripts ran.
pub fn dom(profile: &Path, url: &str) -> String {
    String::from_utf8_lossy(&run(profile, &["--dump-dom"], url).stdout).into_owned()
}

/// A screenshot (PNG) of the page after its scripts ran.
pub fn screenshot(profile: &Path, url: &str, png: &Path) -> PathBuf {
    run(profile, &[&format!("--screenshot={}", png.display())], url);
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "{}: {size} bytes", png.display());
    png.to_path_buf()
}
