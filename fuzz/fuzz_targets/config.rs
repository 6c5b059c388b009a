//! The config file: any bytes, as the daemon reads them (UTF-8 text, then TOML, then validation).
//! Must return `Ok` or `Err`, never panic.

use std::path::Path;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = cdposture::config::Settings::parse(text, Path::new("fuzz.toml"));
        }
    });
}
