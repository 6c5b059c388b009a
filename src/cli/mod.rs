//! Command-line front ends, one file per subcommand. Each takes validated arguments and returns an
//! exit code; parsing lives in the thin binary `src/bin/cdposture.rs`.

/// `println!` that ignores a closed stdout (`cdposture cameras | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod analyze;
pub mod cameras;
pub mod eval_headpose;
pub mod eval_postures;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod run;

use crate::inference::{resolve_model_dir, ModelSet, PoseVariant};
use crate::pipeline::{Pipeline, PipelineOptions};
use std::path::Path;

/// Load the models (once) and build a pipeline, with a message that says where the models were sought.
pub fn load_pipeline(models: Option<&Path>, pose: PoseVariant, opts: PipelineOptions) -> crate::Result<Pipeline> {
    let dir = resolve_model_dir(models);
    let set = ModelSet::load(&dir, pose)?;
    Ok(Pipeline::new(set, opts))
}
