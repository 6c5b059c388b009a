//! `cdposture analyze <image | video | folder> --out DIR`: offline analysis. Writes
//! `DIR/frames.csv`, `DIR/frames.jsonl`, `DIR/summary.json` and `DIR/report.html` (the gateway's
//! exam page with this run embedded: plots and summary, offline), prints the summary table.
//! Frames without a face are kept and flagged; they never stop a video.

use crate::assess::Assessor;
use crate::capture;
use crate::config::Settings;
use crate::geometry::Angles;
use crate::inference::PoseVariant;
use crate::pipeline::PipelineOptions;
use crate::report::exam_page::SeriesRow;
use crate::report::{FrameRecord, SummaryBuilder, CSV_HEADER};
use anyhow::{bail, Context, Result};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct AnalyzeArgs {
    pub input: PathBuf,
    pub out: PathBuf,
    pub models: Option<PathBuf>,
    pub pose: PoseVariant,
    /// Neutral pose to subtract before scoring (per-patient calibration), degrees.
    pub neutral: Angles,
    pub quiet: bool,
    /// Use the posture model (`--no-posture-model` turns it off).
    pub posture_model: bool,
}

pub fn run(args: &AnalyzeArgs) -> Result<()> {
    let mut source = capture::open(&args.input)?;
    let opts = PipelineOptions {
        refine_still: !source.is_sequence(),
        posture_model: args.posture_model,
        threads: crate::pipeline::useful_threads(),
        ..Default::default()
    };
    let mut pipeline = super::load_pipeline(args.models.as_deref(), args.pose, opts)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create output folder", args.out.display()))?;
    let create = |name: &str| -> Result<std::io::BufWriter<std::fs::File>> {
        let p = args.out.join(name);
        Ok(std::io::BufWriter::new(
            std::fs::File::create(&p).with_context(|| format!("{}: cannot write", p.display()))?,
        ))
    };
    let mut csv = create("frames.csv")?;
    let mut jsonl = create("frames.jsonl")?;
    writeln!(csv, "{CSV_HEADER}")?;

    // The daemon's defaults (smoothing, quality gate, scoring) and its assessment code, so a
    // video summarised here and by `run` gives the same numbers.
    let defaults = Settings::demo(PathBuf::new(), 1);
    let mut assessor = Assessor::new(defaults.assess_settings(source.is_sequence()));
    assessor.set_neutral(args.neutral);
    let mut summary = SummaryBuilder::new(defaults.exam.deviated_deg);
    let mut series = Vec::new();
    let progress = Progress::new(
        source.len_hint(),
        source.is_sequence() && !args.quiet && std::io::stderr().is_terminal(),
    );
    let start = Instant::now();
    let mut failed: Vec<String> = Vec::new();
    // Frames where a face or a body was seen (the body alone still gives the shifts, and the head's
    // rotation when the posture model is sure of it).
    let mut seen = 0u64;
    let mut source_error = None;
    loop {
        let frame = match source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            // A bad file in a list of images is reported and skipped; a broken video ends the loop
            // but everything decoded so far is still written out.
            Err(e) if !source.is_sequence() && source.len_hint().unwrap_or(1) > 1 => {
                log::error!("{e}");
                failed.push(e.to_string());
                continue;
            }
            Err(e) => {
                source_error = Some(e);
                break;
            }
        };
        if !source.is_sequence() {
            pipeline.reset();
        }
        let m = pipeline.process(&frame.image)?;
        let a = assessor.assess(frame.t_s, &m);
        seen += (m.face_found || m.pose_found) as u64;
        if !m.face_found && !m.pose_found && !source.is_sequence() {
            log::warn!(
                "{}: no face and no body found",
                frame.path.as_deref().unwrap_or(Path::new("?")).display()
            );
        }
        let rec = FrameRecord::new(&frame, m, &a);
        writeln!(csv, "{}", rec.csv_row())?;
        writeln!(jsonl, "{}", serde_json::to_string(&rec)?)?;
        series.push(series_row(&rec, &a));
        summary.add(&rec, &a);
        progress.tick(frame.index + 1, start);
    }
    progress.done();
    let summary = summary.finish(assessor.scoring(), start.elapsed().as_secs_f64());
    csv.flush()?;
    jsonl.flush()?;
    std::fs::write(args.out.join("summary.json"), serde_json::to_string_pretty(&summary)?)?;
    write_report(&args.out, &args.input, &summary, series)?;
    if !args.quiet {
        print!("{}", summary.to_text());
        out!(
            "wrote {}/frames.csv, frames.jsonl, summary.json, report.html",
            args.out.display()
        );
    }
    if let Some(e) = source_error {
        if summary.exam.frames == 0 {
            bail!("{e}");
        }
        bail!(
            "{e} (the {} frames before it were analysed and written to {})",
            summary.exam.frames,
            args.out.display()
        );
    }
    if summary.exam.frames == 0 {
        bail!("{}: no frame could be analysed", args.input.display());
    }
    if seen == 0 {
        bail!("{}: no face or body found in any frame; the head and both shoulders must be visible (or the face, roughly frontal to profile, at least ~40 px wide)", args.input.display());
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} images could not be read (first: {})",
            failed.len(),
            failed.len() as u64 + summary.exam.frames,
            failed[0]
        );
    }
    Ok(())
}

/// A one-line progress bar on a terminal; silent otherwise (logs and CI stay clean).
struct Progress {
    total: Option<u64>,
    enabled: bool,
    last: std::cell::Cell<f64>,
}

impl Progress {
    fn new(total: Option<u64>, enabled: bool) -> Self {
        Progress {
            total,
            enabled,
            last: std::cell::Cell::new(-1.0),
        }
    }
    fn tick(&self, done: u64, start: Instant) {
        if !self.enabled {
            return;
        }
        let el = start.elapsed().as_secs_f64();
        if el - self.last.get() < 0.25 {
            return;
        }
        self.last.set(el);
        let fps = done as f64 / el.max(1e-9);
        match self.total {
            Some(t) if t > 0 => {
                let w = 30;
                let filled = ((done as f64 / t as f64) * w as f64).min(w as f64) as usize;
                eprint!(
                    "\r[{}{}] {done}/{t} frames  {fps:.1} fps ",
                    "#".repeat(filled),
                    " ".repeat(w - filled)
                );
            }
            _ => eprint!("\r{done} frames  {fps:.1} fps "),
        }
    }
    fn done(&self) {
        if self.enabled {
            eprintln!();
        }
    }
}

/// The plotted points of a report: enough for any screen, not one per frame of a long video.
const REPORT_POINTS: usize = 5000;

fn series_row(rec: &FrameRecord, a: &crate::assess::Assessment) -> SeriesRow {
    let score = |s: Option<crate::scoring::SubScore>| s.map(|s| i64::from(s.score));
    SeriesRow {
        msg_id: rec.frame as i64,
        time: rec.t_s,
        frame: rec.frame as i64,
        quality_ok: a.quality_ok,
        scored_in: a
            .scored_in
            .and_then(|s| serde_json::to_value(s).ok()?.as_str().map(str::to_string)),
        yaw: a.angles.map(|x| x.yaw),
        pitch: a.angles.map(|x| x.pitch),
        roll: a.angles.map(|x| x.roll),
        shoulder_elevation: a.trunk.as_ref().map(|t| t.shoulder_elevation),
        lateral_shift: a.trunk.as_ref().and_then(|t| t.lateral_shift),
        sagittal_shift: a.trunk.as_ref().and_then(|t| t.sagittal_shift),
        rotation: score(a.scores.rotation),
        laterocollis: score(a.scores.laterocollis),
        antero_retrocollis: score(a.scores.antero_retrocollis),
        lateral_shift_score: score(a.scores.lateral_shift),
        sagittal_shift_score: score(a.scores.sagittal_shift),
        rotation_source: None,
    }
}

/// `DIR/report.html`: the gateway's exam page with this run embedded (self-contained, offline).
fn write_report(out: &Path, input: &Path, summary: &crate::report::Summary, mut series: Vec<SeriesRow>) -> Result<()> {
    let frames = series.len();
    if series.len() > REPORT_POINTS {
        let step = series.len().div_ceil(REPORT_POINTS);
        series = series.into_iter().step_by(step).collect();
    }
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let data = serde_json::json!({
        "exam": {
            "room": "analyze",
            "exam_id": name,
            "source": input.display().to_string(),
            "started": 0, "ended": null, "updated": 0, "interrupted": false,
            "summary": summary.exam,
            "neutral": null,
            "samples": frames,
        },
        "series": series,
    });
    let path = out.join("report.html");
    std::fs::write(&path, crate::report::exam_page::page(Some(&data)))
        .with_context(|| format!("{}: cannot write", path.display()))
}
