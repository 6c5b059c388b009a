//! Pixel formats a camera delivers, and their conversion to RGB. Each converter writes straight
//! from the driver's mmap buffer into the frame's RGB buffer: one pass, no intermediate copy.
//! YUV uses BT.601 limited range (what UVC webcams and vivid's default colorspace produce).
//! MJPEG frames are decoded with the `image` crate; a corrupt frame is an error the camera counts
//! and skips, never a crash.

use super::yuv422::yuv_to_rgb;
use image::codecs::jpeg::JpegDecoder;
use image::{DynamicImage, ImageDecoder, RgbImage};
use std::fmt;
use std::io::Cursor;

/// The pixel formats cdposture can decode, by their V4L2 fourcc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    Yuyv,
    Uyvy,
    Mjpeg,
    Nv12,
    Grey,
    Rgb24,
}

impl PixelFormat {
    pub const ALL: [PixelFormat; 6] = [
        PixelFormat::Yuyv,
        PixelFormat::Mjpeg,
        PixelFormat::Nv12,
        PixelFormat::Uyvy,
        PixelFormat::Grey,
        PixelFormat::Rgb24,
    ];

    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Uyvy => *b"UYVY",
            PixelFormat::Mjpeg => *b"MJPG",
            PixelFormat::Nv12 => *b"NV12",
            PixelFormat::Grey => *b"GREY",
            PixelFormat::Rgb24 => *b"RGB3",
        }
    }

    /// The config file's name for it.
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Yuyv => "yuyv",
            PixelFormat::Uyvy => "uyvy",
            PixelFormat::Mjpeg => "mjpeg",
            PixelFormat::Nv12 => "nv12",
            PixelFormat::Grey => "grey",
            PixelFormat::Rgb24 => "rgb24",
        }
    }

    pub fn from_name(name: &str) -> Option<PixelFormat> {
        Self::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// `JPEG` is what some drivers call motion JPEG.
    pub fn from_fourcc(code: [u8; 4]) -> Option<PixelFormat> {
        if &code == b"JPEG" {
            return Some(PixelFormat::Mjpeg);
        }
        Self::ALL.into_iter().find(|f| f.fourcc() == code)
    }

    /// Bytes a frame of this size needs at least (compressed formats: unknown, 0).
    pub fn min_bytes(self, width: u32, height: u32, stride: u32) -> usize {
        let (w, h, s) = (width as usize, height as usize, stride as usize);
        match self {
            PixelFormat::Yuyv | PixelFormat::Uyvy => s.max(w * 2) * h,
            PixelFormat::Nv12 => {
                let (luma, chroma) = nv12_pitches(w, s);
                luma * h + chroma * h.div_ceil(2)
            }
            PixelFormat::Grey => s.max(w) * h,
            PixelFormat::Rgb24 => s.max(w * 3) * h,
            PixelFormat::Mjpeg => 0,
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.fourcc()).unwrap_or("????"))
    }
}

/// Why a frame could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("frame has {got} bytes, {need} needed for {format} {width}x{height}")]
    Short {
        got: usize,
        need: usize,
        format: PixelFormat,
        width: u32,
        height: u32,
    },
    #[error("corrupt MJPEG frame: {0}")]
    Jpeg(String),
    #[error("MJPEG frame is {got_w}x{got_h}, the camera negotiated {width}x{height}")]
    JpegSize {
        got_w: u32,
        got_h: u32,
        width: u32,
        height: u32,
    },
}

/// Convert one frame to RGB. `stride` is the driver's bytes per line (0 = packed).
pub fn to_rgb(
    format: PixelFormat,
    data: &[u8],
    width: u32,
    height: u32,
    stride: u32,
) -> Result<RgbImage, ConvertError> {
    let need = format.min_bytes(width, height, stride);
    if data.len() < need {
        return Err(ConvertError::Short {
            got: data.len(),
            need,
            format,
            width,
            height,
        });
    }
    let (w, h) = (width as usize, height as usize);
    let mut out = RgbImage::new(width, height);
    let rgb: &mut [u8] = &mut out;
    match format {
        PixelFormat::Yuyv | PixelFormat::Uyvy => {
            let s = (stride as usize).max(w * 2);
            for row in 0..h {
                let (src, dst) = (
                    &data[row * s..row * s + w * 2],
                    &mut rgb[row * w * 3..(row + 1) * w * 3],
                );
                super::yuv422::row_to_rgb(src, dst, format == PixelFormat::Uyvy);
            }
        }
        PixelFormat::Nv12 => {
            let (s, cs) = nv12_pitches(w, stride as usize);
            let chroma = &data[s * h..];
            for row in 0..h {
                let luma = &data[row * s..row * s + w];
                let uv = &chroma[(row / 2) * cs..];
                for (col, &y) in luma.iter().enumerate() {
                    let c = (col / 2) * 2;
                    let px = yuv_to_rgb(y, uv[c], uv[c + 1]);
                    rgb[(row * w + col) * 3..(row * w + col) * 3 + 3].copy_from_slice(&px);
                }
            }
        }
        PixelFormat::Grey => {
            let s = (stride as usize).max(w);
            for row in 0..h {
                for (col, &g) in data[row * s..row * s + w].iter().enumerate() {
                    rgb[(row * w + col) * 3..(row * w + col) * 3 + 3].fill(g);
                }
            }
        }
        PixelFormat::Rgb24 => {
            let s = (stride as usize).max(w * 3);
            for row in 0..h {
                rgb[row * w * 3..(row + 1) * w * 3].copy_from_slice(&data[row * s..row * s + w * 3]);
            }
        }
        PixelFormat::Mjpeg => return decode_mjpeg(data, width, height),
    }
    Ok(out)
}

/// NV12 line pitches in bytes: luma, and the interleaved chroma lines (one per two luma lines,
/// rounded up). An odd width still has a CbCr pair for its last pixel, so a chroma line is at
/// least the width rounded up to even, even when the stride says the width.
fn nv12_pitches(width: usize, stride: usize) -> (usize, usize) {
    let luma = stride.max(width);
    (luma, luma.max(width.div_ceil(2) * 2))
}

/// Decode an MJPEG frame. Many UVC cameras omit the Huffman tables (the AVI1 convention: the
/// standard tables are implied). The decoder supplies them only when it sees the `AVI1` APP0
/// marker, so a frame without any DHT segment gets that marker inserted (a copy of ~10 bytes
/// more than the frame; only for such cameras).
pub fn decode_mjpeg(data: &[u8], width: u32, height: u32) -> Result<RgbImage, ConvertError> {
    // The driver's buffer may be longer than the JPEG (bytesused covers it, but some pad).
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(ConvertError::Jpeg("no JPEG start marker".into()));
    }
    // A frame cut short (USB bandwidth, unplug) would decode "leniently" into a half-grey image.
    // The end marker cannot occur inside entropy-coded data (0xFF is always stuffed there), so
    // its absence means truncation. Padding after it is ignored.
    let Some(end) = data.windows(2).rposition(|w| w == [0xFF, 0xD9]) else {
        return Err(ConvertError::Jpeg("truncated frame (no end marker)".into()));
    };
    let data = &data[..end + 2];
    let patched;
    let bytes = if has_huffman_tables(data) {
        data
    } else {
        let mut v = Vec::with_capacity(data.len() + AVI1_APP0.len());
        v.extend_from_slice(&data[..2]);
        v.extend_from_slice(&AVI1_APP0);
        v.extend_from_slice(&data[2..]);
        patched = v;
        &patched
    };
    // The size comes from the frame header, checked before anything is decoded: a corrupt header
    // may claim up to 65535x65535, and decoding that first would cost seconds and gigabytes.
    let jpeg_err = |e: image::ImageError| ConvertError::Jpeg(e.to_string());
    let decoder = JpegDecoder::new(Cursor::new(bytes)).map_err(jpeg_err)?;
    let (got_w, got_h) = decoder.dimensions();
    if got_w != width || got_h != height {
        return Err(ConvertError::JpegSize {
            got_w,
            got_h,
            width,
            height,
        });
    }
    Ok(DynamicImage::from_decoder(decoder).map_err(jpeg_err)?.into_rgb8())
}

/// APP0 segment "AVI1": length 16, identifier, then padding the decoder skips.
const AVI1_APP0: [u8; 18] = [
    0xFF, 0xE0, 0x00, 0x10, b'A', b'V', b'I', b'1', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Walk the marker segments up to the start of scan; true if any is a DHT (0xFFC4).
fn has_huffman_tables(data: &[u8]) -> bool {
    let mut i = 2;
    while i + 4 <= data.len() {
        if data[i] != 0xFF {
            return false;
        }
        let marker = data[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if marker == 0xC4 {
            return true;
        }
        if marker == 0xDA {
            return false;
        }
        let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        i += 2 + len;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reverse of `yuv_to_rgb` (BT.601 limited range), for building test frames.
    fn rgb_to_yuv(p: [u8; 3]) -> [u8; 3] {
        let (r, g, b) = (p[0] as f64, p[1] as f64, p[2] as f64);
        let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
        let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
        let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
        [y.round() as u8, u.round() as u8, v.round() as u8]
    }

    fn colour_bars(w: u32, h: u32) -> RgbImage {
        const BARS: [[u8; 3]; 8] = [
            [235, 235, 235],
            [235, 235, 16],
            [16, 235, 235],
            [16, 235, 16],
            [235, 16, 235],
            [235, 16, 16],
            [16, 16, 235],
            [16, 16, 16],
        ];
        RgbImage::from_fn(w, h, |x, _| image::Rgb(BARS[(x * 8 / w) as usize]))
    }

    fn max_diff(a: &RgbImage, b: &RgbImage) -> u8 {
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn yuyv_and_uyvy_reproduce_colour_bars_with_row_padding() {
        let (w, h, stride) = (64u32, 4u32, 64 * 2 + 16);
        let bars = colour_bars(w, h);
        let mut yuyv = vec![0u8; (stride * h) as usize];
        let mut uyvy = yuyv.clone();
        for y in 0..h {
            for x in (0..w).step_by(2) {
                let a = rgb_to_yuv(bars.get_pixel(x, y).0);
                let b = rgb_to_yuv(bars.get_pixel(x + 1, y).0);
                let o = (y * stride + x * 2) as usize;
                yuyv[o..o + 4].copy_from_slice(&[a[0], a[1], b[0], a[2]]);
                uyvy[o..o + 4].copy_from_slice(&[a[1], a[0], a[2], b[0]]);
            }
        }
        let from_yuyv = to_rgb(PixelFormat::Yuyv, &yuyv, w, h, stride).unwrap();
        let from_uyvy = to_rgb(PixelFormat::Uyvy, &uyvy, w, h, stride).unwrap();
        assert!(max_diff(&from_yuyv, &bars) <= 2, "{}", max_diff(&from_yuyv, &bars));
        assert_eq!(from_yuyv, from_uyvy);
    }

    #[test]
    fn nv12_grey_and_rgb24() {
        let (w, h) = (16u32, 4u32);
        let bars = colour_bars(w, h);
        let mut nv12 = vec![0u8; (w * h * 3 / 2) as usize];
        for y in 0..h {
            for x in 0..w {
                let p = rgb_to_yuv(bars.get_pixel(x, y).0);
                nv12[(y * w + x) as usize] = p[0];
                if y % 2 == 0 && x % 2 == 0 {
                    let o = (w * h + (y / 2) * w + x) as usize;
                    nv12[o] = p[1];
                    nv12[o + 1] = p[2];
                }
            }
        }
        // Bars are 2 pixels wide, so 2x2 chroma subsampling loses nothing here.
        assert!(max_diff(&to_rgb(PixelFormat::Nv12, &nv12, w, h, 0).unwrap(), &bars) <= 2);
        let grey: Vec<u8> = (0..w * h).map(|i| (i * 3) as u8).collect();
        let g = to_rgb(PixelFormat::Grey, &grey, w, h, w).unwrap();
        assert_eq!(g.get_pixel(5, 1).0, [63, 63, 63]);
        let rgb = to_rgb(PixelFormat::Rgb24, bars.as_raw(), w, h, w * 3).unwrap();
        assert_eq!(rgb, bars);
    }

    #[test]
    fn short_frames_are_errors_not_panics() {
        let e = to_rgb(PixelFormat::Yuyv, &[0u8; 100], 640, 480, 0).unwrap_err();
        assert!(e.to_string().contains("614400 needed"), "{e}");
        assert!(to_rgb(PixelFormat::Nv12, &[0u8; 10], 4, 4, 0).is_err());
    }

    fn jpeg(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(img)
            .unwrap();
        out
    }

    /// Remove every DHT segment, as cameras that rely on the implied standard tables send them.
    fn strip_dht(data: &[u8]) -> Vec<u8> {
        let mut out = data[..2].to_vec();
        let mut i = 2;
        while data[i + 1] != 0xDA {
            let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
            if data[i + 1] != 0xC4 {
                out.extend_from_slice(&data[i..i + 2 + len]);
            }
            i += 2 + len;
        }
        out.extend_from_slice(&data[i..]);
        out
    }

    #[test]
    fn mjpeg_decodes_with_and_without_huffman_tables() {
        let bars = colour_bars(64, 32);
        let full = jpeg(&bars);
        assert!(has_huffman_tables(&full));
        let reference = decode_mjpeg(&full, 64, 32).unwrap();
        assert!(max_diff(&reference, &bars) < 40);
        let stripped = strip_dht(&full);
        assert!(!has_huffman_tables(&stripped), "test frame still has tables");
        assert!(stripped.len() < full.len());
        // The encoder uses the standard tables, so the implied ones decode it exactly.
        assert_eq!(decode_mjpeg(&stripped, 64, 32).unwrap(), reference);
    }

    #[test]
    fn corrupt_mjpeg_is_an_error() {
        let full = jpeg(&colour_bars(64, 32));
        for bad in [&full[..full.len() / 3], &full[10..], &[0u8; 64][..], &[][..]] {
            assert!(decode_mjpeg(bad, 64, 32).is_err());
        }
        let e = decode_mjpeg(&full, 640, 480).unwrap_err();
        assert!(e.to_string().contains("negotiated 640x480"), "{e}");
        // Random garbage after a valid header must not panic either.
        let mut junk = full.clone();
        for (i, b) in junk.iter_mut().enumerate().skip(200) {
            *b = (i * 7919 % 251) as u8;
        }
        let _ = decode_mjpeg(&junk, 64, 32);
    }

    #[test]
    fn names_round_trip() {
        for f in PixelFormat::ALL {
            assert_eq!(PixelFormat::from_name(f.name()), Some(f));
            assert_eq!(PixelFormat::from_fourcc(f.fourcc()), Some(f));
        }
        assert_eq!(PixelFormat::from_fourcc(*b"JPEG"), Some(PixelFormat::Mjpeg));
        assert_eq!(PixelFormat::Yuyv.to_string(), "YUYV");
    }
}
