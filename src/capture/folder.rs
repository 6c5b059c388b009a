//! Still images: one file or every JPEG/PNG in a folder (sorted by name, not recursive).
//!
//! A folder is played as a slide show at [`IMAGES_FPS`]: image n is at n seconds. Time must move
//! (the neutral capture, the exam's time shares and durations all run on it), and one second per
//! image weighs every photo equally. Images are unrelated stills, so nothing is smoothed across them.

use super::{is_image_path, load_image, Frame, FrameSource};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Source time per image in a list: one per second.
pub const IMAGES_FPS: f64 = 1.0;

pub struct ImageList {
    paths: Vec<PathBuf>,
    next: usize,
}

impl ImageList {
    pub fn single(path: &Path) -> Self {
        ImageList {
            paths: vec![path.into()],
            next: 0,
        }
    }

    pub fn folder(dir: &Path) -> Result<Self> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_image_path(p))
            .collect();
        if paths.is_empty() {
            return Err(Error::EmptyFolder { path: dir.into() });
        }
        paths.sort();
        Ok(ImageList { paths, next: 0 })
    }
}

impl FrameSource for ImageList {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let Some(path) = self.paths.get(self.next).cloned() else {
            return Ok(None);
        };
        let index = self.next as u64;
        self.next += 1;
        let image = load_image(&path)?;
        Ok(Some(Frame {
            index,
            t_s: index as f64 / IMAGES_FPS,
            image,
            path: Some(path),
        }))
    }
    fn is_sequence(&self) -> bool {
        false
    }
    fn len_hint(&self) -> Option<u64> {
        Some(self.paths.len() as u64)
    }
    fn fps(&self) -> Option<f64> {
        Some(IMAGES_FPS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_a_slide_show_whose_time_moves() {
        let dir = std::env::temp_dir().join(format!("cdposture-folder-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..3 {
            image::RgbImage::new(8, 8).save(dir.join(format!("{i}.png"))).unwrap();
        }
        let mut list = ImageList::folder(&dir).unwrap();
        let mut times = Vec::new();
        while let Some(f) = list.next_frame().unwrap() {
            times.push(f.t_s);
        }
        assert_eq!(times, vec![0.0, 1.0, 2.0]);
        assert!(!list.is_sequence());
    }
}
