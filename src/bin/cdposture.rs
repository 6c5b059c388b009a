//! The `cdposture` binary: parses arguments and dispatches to `cdposture::cli`. Nothing else.

use cdposture::cli;
use cdposture::geometry::Angles;
use cdposture::inference::PoseVariant;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cdposture",
    version,
    about = "Objective cervical dystonia posture measurement from one camera"
)]
struct Cli {
    /// Folder with the ONNX models (default: $CDPOSTURE_MODELS, models/build, /usr/share/cdposture/models).
    #[arg(long, global = true)]
    models: Option<PathBuf>,
    /// BlazePose landmark model for the trunk.
    #[arg(long, global = true, value_enum, default_value_t = PoseVariant::Lite)]
    pose: PoseVariant,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure every frame and print one JSON assessment per line (demo input when none is given).
    Run {
        /// Video, image or folder of images instead of the demo.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Length of the demo in frames.
        #[arg(long, default_value_t = 60)]
        demo_frames: u64,
    },
    /// Analyse an image, a video or a folder of images offline; writes frames.csv, frames.jsonl, summary.json.
    Analyze {
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Neutral head pose to score against, "yaw,pitch,roll" in degrees (per-patient calibration).
        #[arg(long, value_parser = parse_angles, default_value = "0,0,0")]
        neutral: Angles,
        #[arg(long, short)]
        quiet: bool,
    },
    /// Head-pose accuracy on a labelled CSV (image,yaw_deg,pitch_deg,roll_deg).
    EvalHeadpose { labels: PathBuf },
}

fn parse_angles(s: &str) -> Result<Angles, String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{s}`: expected yaw,pitch,roll in degrees, e.g. 5,-3,0"))?;
    match v[..] {
        [yaw, pitch, roll] => Ok(Angles { yaw, pitch, roll }),
        _ => Err(format!("`{s}`: expected three numbers yaw,pitch,roll")),
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp(None)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { input, demo_frames } => cli::run::run(&cli::run::RunArgs {
            input,
            models: cli.models,
            pose: cli.pose,
            demo_frames,
        }),
        Command::Analyze {
            input,
            out,
            neutral,
            quiet,
        } => cli::analyze::run(&cli::analyze::AnalyzeArgs {
            input,
            out,
            models: cli.models,
            pose: cli.pose,
            neutral,
            quiet,
        }),
        Command::EvalHeadpose { labels } => cli::eval_headpose::run(&cli::eval_headpose::EvalArgs {
            labels,
            models: cli.models,
            pose: cli.pose,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
