//! `cdposture run`: the live job. Reads a frame source (the built-in demo when none is given), runs
//! the pipeline on every frame and emits one assessment per frame. With no broker configured the
//! assessments go to stdout as JSON lines, so the output can be piped into any tool.

use crate::capture::{self, DemoSource, FrameSource};
use crate::geometry::Angles;
use crate::inference::{resolve_model_dir, PoseVariant};
use crate::pipeline::PipelineOptions;
use crate::report::FrameRecord;
use crate::scoring::ScoringConfig;
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;

pub struct RunArgs {
    /// Video, image or folder; `None` = the demo source.
    pub input: Option<PathBuf>,
    pub models: Option<PathBuf>,
    pub pose: PoseVariant,
    /// Demo length in frames.
    pub demo_frames: u64,
}

pub fn run(args: &RunArgs) -> Result<()> {
    let mut source: Box<dyn FrameSource> = match &args.input {
        Some(p) => capture::open(p)?,
        None => {
            let dir = resolve_model_dir(args.models.as_deref());
            log::info!("no input given: playing the demo source ({} frames)", args.demo_frames);
            Box::new(DemoSource::new(&dir, args.demo_frames)?)
        }
    };
    let opts = PipelineOptions {
        refine_still: !source.is_sequence(),
        ..Default::default()
    };
    let mut pipeline = super::load_pipeline(args.models.as_deref(), args.pose, opts)?;
    let scoring = ScoringConfig::default();
    let neutral = Angles::default();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    while let Some(frame) = source.next_frame()? {
        if !source.is_sequence() {
            pipeline.reset();
        }
        let m = pipeline.process(&frame.image)?;
        let rec = FrameRecord::new(&frame, m, &scoring, &neutral);
        // A closed pipe (`| head`) is a normal way to stop.
        if writeln!(out, "{}", serde_json::to_string(&rec)?).is_err() {
            break;
        }
    }
    Ok(())
}
