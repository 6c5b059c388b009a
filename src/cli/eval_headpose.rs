//! `cdposture eval-headpose <labels.csv>`: head-pose accuracy on labelled photos. Reads
//! `image,yaw_deg,pitch_deg,roll_deg` (paths relative to the CSV), prints one row per image, a split
//! by |yaw| ≤ 45° / > 45°, and as its LAST line exactly
//! `MAE yaw=<f> pitch=<f> roll=<f> mean=<f> n=<int> missed=<int>` (images without a detection are
//! counted as missed and left out of the MAE).

use crate::capture::load_image;
use crate::inference::PoseVariant;
use crate::pipeline::PipelineOptions;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub struct EvalArgs {
    pub labels: PathBuf,
    pub models: Option<PathBuf>,
    pub pose: PoseVariant,
    /// Use the posture model (`--no-posture-model` turns it off).
    pub posture_model: bool,
}

struct Label {
    image: PathBuf,
    yaw: f64,
    pitch: f64,
    roll: f64,
}

fn read_labels(path: &Path) -> Result<Vec<Label>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read labels", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .context("labels file is empty")?
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).with_context(|| {
            format!(
                "{}: no column `{name}` (need image,yaw_deg,pitch_deg,roll_deg)",
                path.display()
            )
        })
    };
    let (ci, cy, cp, cr) = (col("image")?, col("yaw_deg")?, col("pitch_deg")?, col("roll_deg")?);
    let mut labels = Vec::new();
    for (n, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let num = |c: usize| -> Result<f64> {
            f.get(c).and_then(|s| s.parse().ok()).with_context(|| {
                format!(
                    "{}: line {}: column {} is not a number",
                    path.display(),
                    n + 2,
                    header[c]
                )
            })
        };
        let image = f
            .get(ci)
            .with_context(|| format!("{}: line {}: no image column", path.display(), n + 2))?;
        labels.push(Label {
            image: base.join(image),
            yaw: num(cy)?,
            pitch: num(cp)?,
            roll: num(cr)?,
        });
    }
    if labels.is_empty() {
        bail!("{}: no labelled images", path.display());
    }
    Ok(labels)
}

#[derive(Default)]
struct Errors {
    sum: [f64; 3],
    n: usize,
}

impl Errors {
    fn add(&mut self, e: [f64; 3]) {
        for (s, x) in self.sum.iter_mut().zip(e) {
            *s += x.abs();
        }
        self.n += 1;
    }
    fn mae(&self) -> [f64; 3] {
        let n = self.n.max(1) as f64;
        [self.sum[0] / n, self.sum[1] / n, self.sum[2] / n]
    }
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let labels = read_labels(&args.labels)?;
    let opts = PipelineOptions {
        refine_still: true,
        posture_model: args.posture_model,
        threads: crate::pipeline::useful_threads(),
        ..Default::default()
    };
    let mut pipeline = super::load_pipeline(args.models.as_deref(), args.pose, opts)?;
    out!(
        "{:<28} {:>7} {:>7} {:>7}   {:>7} {:>7} {:>7}   {:>6} {:>6} {:>6}",
        "image",
        "yaw",
        "pitch",
        "roll",
        "label_y",
        "label_p",
        "label_r",
        "err_y",
        "err_p",
        "err_r"
    );
    let (mut all, mut near, mut far) = (Errors::default(), Errors::default(), Errors::default());
    let mut missed = 0;
    for l in &labels {
        let name = l
            .image
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let img = match load_image(&l.image) {
            Ok(i) => i,
            Err(e) => {
                out!("{name:<28} unreadable: {e}");
                missed += 1;
                continue;
            }
        };
        pipeline.reset();
        let m = pipeline.process(&img)?;
        let Some(h) = m.head else {
            out!(
                "{name:<28} {:>7} {:>7} {:>7}   {:>7.1} {:>7.1} {:>7.1}   no face",
                "-",
                "-",
                "-",
                l.yaw,
                l.pitch,
                l.roll
            );
            missed += 1;
            continue;
        };
        let e = [h.yaw - l.yaw, h.pitch - l.pitch, h.roll - l.roll];
        log::debug!("{name}: body yaw {:?} label {}", m.body_yaw, l.yaw);
        out!(
            "{name:<28} {:>7.1} {:>7.1} {:>7.1}   {:>7.1} {:>7.1} {:>7.1}   {:>6.1} {:>6.1} {:>6.1}",
            h.yaw,
            h.pitch,
            h.roll,
            l.yaw,
            l.pitch,
            l.roll,
            e[0],
            e[1],
            e[2]
        );
        all.add(e);
        if l.yaw.abs() <= 45.0 {
            near.add(e)
        } else {
            far.add(e)
        }
    }
    for (name, e) in [("|yaw| <= 45", &near), ("|yaw| > 45", &far)] {
        let m = e.mae();
        out!(
            "split {name:<12} MAE yaw={:.2} pitch={:.2} roll={:.2} n={}",
            m[0],
            m[1],
            m[2],
            e.n
        );
    }
    let m = all.mae();
    out!(
        "MAE yaw={:.2} pitch={:.2} roll={:.2} mean={:.2} n={} missed={}",
        m[0],
        m[1],
        m[2],
        (m[0] + m[1] + m[2]) / 3.0,
        all.n,
        missed
    );
    Ok(())
}
