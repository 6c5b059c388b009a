//! Shared by the benches: process figures from `/proc/self/status`.
#![allow(dead_code)]

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`, …), 0 when unreadable.
pub fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn rss_kib() -> u64 {
    status_kib("VmRSS")
}
