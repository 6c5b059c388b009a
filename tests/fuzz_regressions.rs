//! Inputs the fuzzers in `fuzz/` found (AFL++, `fuzz/run.sh`), minimized with `afl-tmin`, kept as
//! regression tests: each must give a clean `Ok` or `Err`, never a panic. The byte strings are the
//! fuzz inputs exactly as saved, decoded here the way the fuzz target decodes them.

use cdposture::capture::pixels::{to_rgb, ConvertError, PixelFormat};
use image::RgbImage;
use std::time::{Duration, Instant};

/// The `pixels` target's input layout: format index, width, height (each mod 65), stride, frame.
fn pixels(input: &[u8]) -> Result<RgbImage, ConvertError> {
    let format = PixelFormat::ALL[input[0] as usize % PixelFormat::ALL.len()];
    let (width, height) = (u32::from(input[1]) % 65, u32::from(input[2]) % 65);
    to_rgb(format, &input[4..], width, height, u32::from(input[3]))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// NV12 with an odd width: the last pixel of a row read its V sample one byte past the chroma
/// line, and past the end of the buffer on the last line (index out of bounds).
#[test]
fn nv12_odd_width_is_not_read_past_the_chroma_plane() {
    // NV12 7x3 packed, 31 bytes (what the old size check asked for).
    let mut input = vec![0x0e, 0x07, 0x03, 0x00];
    input.extend_from_slice(&[b'0'; 31]);
    assert!(matches!(pixels(&input), Err(ConvertError::Short { .. })));
    // NV12 7x3, stride 3 (below the width, so packed), 31 bytes.
    let mut input = vec![0x08, 0x07, 0x03, 0x03];
    input.extend_from_slice(&[b'0'; 31]);
    assert!(matches!(pixels(&input), Err(ConvertError::Short { .. })));
}

/// NV12 with an odd height: the last luma line still has a chroma line (rounded up), which the
/// old size check (width × height × 3 / 2, rounded down) did not count.
#[test]
fn nv12_odd_height_needs_a_last_chroma_line() {
    assert!(matches!(
        to_rgb(PixelFormat::Nv12, &[16; 3], 2, 1, 0),
        Err(ConvertError::Short { .. })
    ));
    assert!(to_rgb(PixelFormat::Nv12, &[16; 4], 2, 1, 0).is_ok());
    // Odd width with the chroma line padded to an even count decodes.
    let img = to_rgb(PixelFormat::Nv12, &[128; 7 * 3 + 8 * 2], 7, 3, 0).unwrap();
    assert_eq!(img.dimensions(), (7, 3));
}

/// A 106-byte MJPEG frame whose header claims 12336x12336 (no Huffman tables, so the implied ones
/// are inserted): it was decoded in full, a 456 MB image and its RGB copy (16 s and 900 MB in the
/// fuzz build, a hang for AFL++), before its size was compared with the negotiated 48x48.
#[test]
fn mjpeg_with_a_huge_declared_size_is_refused_before_decoding() {
    let input = hex(concat!(
        "01303030ffd8ffdb0043003030303030303030303030303030303030303030303030303030303030303030",
        "3030303030303030303030303030303030303030303030303030303030303030ffc0001108303030300301",
        "2200301200031200ffda000c03010030110311303030ffd9"
    ));
    let start = Instant::now();
    let r = pixels(&input);
    let took = start.elapsed();
    assert!(
        matches!(
            r,
            Err(ConvertError::JpegSize {
                got_w: 12336,
                got_h: 12336,
                width: 48,
                height: 48
            })
        ),
        "{r:?}"
    );
    assert!(took < Duration::from_millis(500), "took {took:?}");
}

/// Seconds that are finite but beyond `Duration`'s range (about 1.8e19 s) passed the "positive and
/// finite" check and panicked in `Duration::from_secs_f64` (`src/config/mod.rs`, the `secs` helper
/// of `validate`: exam.update_interval_s, exam.neutral_capture_s, mqtt.*_s); now bounded to a day.
#[test]
fn config_seconds_beyond_duration_range_are_an_error() {
    use cdposture::config::Settings;
    use std::path::Path;
    for text in [
        "[exam]\nupdate_interval_s = 1e20\n",
        "[exam]\nneutral_capture_s = 1e300\n",
        "[mqtt]\nhost = \"h\"\nkeep_alive_s = 1.8e308\n",
    ] {
        let r = Settings::parse(text, Path::new("fuzz.toml"));
        assert!(r.is_err(), "{text:?} was accepted");
    }
}
