//! Still images: one file or every JPEG/PNG in a folder (sorted by name, not recursive).

use super::{is_image_path, load_image, Frame, FrameSource};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

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
            t_s: 0.0,
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
}
