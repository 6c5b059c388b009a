//! Shared by the benches: process figures from `/proc/self/status`, and a held posture's frames.
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

/// A held posture's frame: the demo photo still, at a 10° tilt, with a camera's sensor noise
/// (each channel of each pixel ±3 levels, new on every frame), where the body models can rest
/// (`pipeline.pose_every`).
pub fn held_frame(photo: &image::RgbImage, noise: &mut Noise) -> image::RgbImage {
    let mut still = cdposture::capture::demo::rotate_image(photo, 10.0, false);
    noise.add_to(&mut still);
    still
}

/// Deterministic sensor noise (xorshift64).
pub struct Noise(pub u64);

impl Default for Noise {
    fn default() -> Self {
        Noise(0x2545_f491_4f6c_dd1d)
    }
}

impl Noise {
    pub fn add_to(&mut self, img: &mut image::RgbImage) {
        for v in img.iter_mut() {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let d = (self.0 % 7) as i16 - 3;
            *v = (*v as i16 + d).clamp(0, 255) as u8;
        }
    }
}

/// Counts the heap allocations (calls and bytes) of the whole process, for the benches'
/// "allocations per frame" figures: install it with `#[global_allocator]`.
pub struct CountingAlloc;

pub static ALLOCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
pub static ALLOC_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        count(layout.size());
        std::alloc::System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        count(layout.size());
        std::alloc::System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        count(new);
        std::alloc::System.realloc(ptr, layout, new)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        std::alloc::System.dealloc(ptr, layout)
    }
}

fn count(bytes: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    ALLOCS.fetch_add(1, Relaxed);
    ALLOC_BYTES.fetch_add(bytes as u64, Relaxed);
}

/// (allocation calls, bytes) so far.
pub fn allocations() -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (ALLOCS.load(Relaxed), ALLOC_BYTES.load(Relaxed))
}
