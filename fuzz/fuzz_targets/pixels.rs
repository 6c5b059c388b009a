//! The pixel converters, every format including MJPEG. The first 4 bytes are the frame header:
//! format (index into `PixelFormat::ALL`), width and height (0..=64 each, so frames stay small and
//! runs fast) and the stride (0 = packed, else bytes per line, below or above the packed size);
//! the rest is the driver's buffer.

use cdposture::capture::pixels::{to_rgb, PixelFormat};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if data.len() < 4 {
            return;
        }
        let format = PixelFormat::ALL[data[0] as usize % PixelFormat::ALL.len()];
        let width = u32::from(data[1]) % 65;
        let height = u32::from(data[2]) % 65;
        let stride = u32::from(data[3]);
        let frame = &data[4..];
        if let Ok(img) = to_rgb(format, frame, width, height, stride) {
            assert_eq!((img.width(), img.height()), (width, height));
        }
        // The names and fourccs a driver or config may hand us.
        let _ = PixelFormat::from_fourcc([data[0], data[1], data[2], data[3]]);
        let _ = PixelFormat::from_name(&String::from_utf8_lossy(&data[..4]));
    });
}
