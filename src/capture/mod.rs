//! Capture: where frames come from. Owns decoding and timestamps so that the rest of the pipeline
//! sees only RGB frames. Sources sit behind one trait: a still image, a folder of images, a video
//! file (decoded by the ffmpeg CLI), and a V4L2 camera ([`camera`], with [`pixels`] for its
//! pixel formats). [`exposure`] brightens a frame too dim for the models.

pub mod camera;
pub mod demo;
pub mod exposure;
pub mod folder;
pub mod pixels;
pub mod video;
mod yuv422;

use crate::{Error, Result};
use image::RgbImage;
use std::path::{Path, PathBuf};

pub use demo::DemoSource;
pub use folder::ImageList;
pub use video::VideoFile;

/// One frame and where it came from.
#[derive(Debug, Clone)]
pub struct Frame {
    /// 0-based position in the source.
    pub index: u64,
    /// Seconds since the source started (video time, or capture time for cameras).
    pub t_s: f64,
    pub image: RgbImage,
    /// File the frame came from, for image lists.
    pub path: Option<PathBuf>,
}

/// A sequence of frames. `Ok(None)` is the clean end. An `Err` on one item is not fatal for image
/// lists (the caller may report it and go on); sources say in `is_sequence` whether frames are
/// consecutive moments (tracking applies) or unrelated images.
pub trait FrameSource: Send {
    fn next_frame(&mut self) -> Result<Option<Frame>>;
    /// Consecutive frames of one scene (video, camera) rather than unrelated images.
    fn is_sequence(&self) -> bool;
    /// Total number of frames if known (progress display).
    fn len_hint(&self) -> Option<u64> {
        None
    }
    /// Nominal frame rate, if any.
    fn fps(&self) -> Option<f64> {
        None
    }
    /// Frames skipped as corrupt so far (cameras).
    fn corrupt_frames(&self) -> u64 {
        0
    }
    /// A live device (paced by itself; losing it is worth a reopen) rather than a file.
    fn is_live(&self) -> bool {
        false
    }
}

const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];
/// File extensions opened as videos.
pub const VIDEO_EXTENSIONS: [&str; 8] = ["mp4", "mkv", "avi", "mov", "webm", "m4v", "y4m", "ts"];

fn has_extension(path: &Path, list: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| list.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

pub fn is_image_path(path: &Path) -> bool {
    has_extension(path, &IMAGE_EXTENSIONS)
}

/// Open whatever `path` is: a folder of images, a video, or one image.
pub fn open(path: &Path) -> Result<Box<dyn FrameSource>> {
    if !path.exists() {
        return Err(Error::Input {
            path: path.into(),
            reason: "no such file or folder".into(),
        });
    }
    if path.is_dir() {
        return Ok(Box::new(ImageList::folder(path)?));
    }
    if has_extension(path, &VIDEO_EXTENSIONS) {
        return Ok(Box::new(VideoFile::open(path)?));
    }
    // Anything else is treated as one image; a non-image fails with a clear message when decoded.
    Ok(Box::new(ImageList::single(path)))
}

/// Decode one image file to RGB.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let img = image::load_from_memory(&bytes).map_err(|e| Error::BadImage {
        path: path.into(),
        reason: e.to_string(),
    })?;
    Ok(img.to_rgb8())
}
