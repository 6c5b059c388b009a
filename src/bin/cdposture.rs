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
    /// BlazePose landmark model for the trunk [default: lite, or the config's models.pose].
    #[arg(long, global = true, value_enum)]
    pose: Option<PoseVariant>,
    /// Measure without our posture model (face mesh and BlazePose geometry only, as before
    /// 2026-11-28), for comparison; `run` takes the config's pipeline.posture_model.
    #[arg(long, global = true)]
    no_posture_model: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The exam-room daemon. Without --config it plays the built-in demo; without a broker it
    /// prints every assessment as a JSON line.
    Run {
        /// TOML config file (see deploy/cdposture.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Video, image or folder of images instead of the configured source.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Length of the demo in frames (without --config).
        #[arg(long, default_value_t = 60)]
        demo_frames: u64,
        /// Start an exam at start-up; optional opaque exam id from the clinic.
        #[arg(long, num_args = 0..=1, default_missing_value = "")]
        exam: Option<String>,
        /// Capture the patient's neutral pose at start-up (exam.neutral_capture_s seconds).
        #[arg(long)]
        neutral: bool,
        /// Files only: process every frame as fast as the pipeline goes (none dropped) instead of
        /// at the file's frame rate like a camera.
        #[arg(long)]
        no_pacing: bool,
    },
    /// The clinic gateway: stores every room's exams and serves the API and dashboard
    /// (docs/gateway.toml, docs/gateway-openapi.yaml).
    #[cfg(feature = "gateway")]
    Gateway {
        /// TOML config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate a config file and print the resolved settings (secrets shown as <redacted>).
    CheckConfig {
        file: PathBuf,
        /// Also read secrets from this environment file, as the service does (e.g. /etc/cdposture/env).
        #[arg(long)]
        env_file: Option<PathBuf>,
    },
    /// Analyse an image, a video or a folder of images offline; writes frames.csv, frames.jsonl, summary.json.
    Analyze {
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Neutral head pose to score against, "yaw,pitch,roll" in degrees (per-patient calibration).
        #[arg(long, value_parser = parse_angles, default_value = "0,0,0", allow_hyphen_values = true)]
        neutral: Angles,
        #[arg(long, short)]
        quiet: bool,
    },
    /// Head-pose accuracy on a labelled CSV (image,yaw_deg,pitch_deg,roll_deg).
    EvalHeadpose { labels: PathBuf },
    /// Posture accuracy against exact labels (rendered avatars): head relative to the trunk,
    /// shifts, shoulder elevation, TWSTRS rotation bands. LABELS.csv: image (or frame),yaw_deg,
    /// pitch_deg,roll_deg,lateral_shift_sw,sagittal_shift_sw,shoulder_elevation_deg.
    EvalPostures {
        labels: PathBuf,
        /// The video that per-frame labels (a `frame` column) belong to [default: same name, .mp4].
        #[arg(long)]
        video: Option<PathBuf>,
        /// Write labels, measurements and raw landmarks per row to this CSV.
        #[arg(long)]
        features: Option<PathBuf>,
        /// Write each row's posture crop (head and shoulders, 128 px) to DIR/<row>.png and its
        /// head crop (112 px) to DIR/<row>_head.png.
        #[arg(long, value_name = "DIR")]
        crops: Option<PathBuf>,
        /// Turn the trunk frame by BlazePose's shoulder depth (the pre-2026-11 trunk frame).
        #[arg(long)]
        trunk_yaw_from_depth: bool,
        /// Keep the camera's pitch and roll as the trunk's instead of the posture model's trunk
        /// pitch and roll (the trunk frame before 2026-11-28, for comparison).
        #[arg(long)]
        trunk_tilt_from_camera: bool,
        /// Take each row's camera placement from its cam_azimuth_deg and cam_elevation_deg
        /// columns, as pipeline.camera_azimuth_deg/camera_elevation_deg would configure it.
        #[arg(long)]
        camera_from_labels: bool,
        /// On a video: run the body models at least on every N-th frame, and on every frame
        /// while the face moves (pipeline.pose_every; the daemon's config decides for the camera).
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        pose_every: u32,
        /// On a video: run the body models' refresh of a still patient on a worker thread, its
        /// result taken on the next frame the body is due (pipeline.body_worker).
        #[arg(long)]
        body_worker: bool,
        /// Run the posture model on the picture only, not also on its mirror image
        /// (pipeline.posture_mirror off), for the baseline.
        #[arg(long)]
        no_posture_mirror: bool,
    },
    /// List V4L2 cameras with their formats, sizes and rates; with --capture, test one.
    Cameras(cli::cameras::CamerasArgs),
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
        Command::Run {
            config,
            input,
            demo_frames,
            exam,
            neutral,
            no_pacing,
        } => cli::run::run(&cli::run::RunArgs {
            config,
            input,
            models: cli.models,
            pose: cli.pose,
            demo_frames,
            exam,
            neutral,
            no_pacing,
        }),
        #[cfg(feature = "gateway")]
        Command::Gateway { config } => cli::gateway::run(&config),
        Command::CheckConfig { file, env_file } => cli::run::check_config(&file, env_file.as_deref()),
        Command::Analyze {
            input,
            out,
            neutral,
            quiet,
        } => cli::analyze::run(&cli::analyze::AnalyzeArgs {
            input,
            out,
            models: cli.models,
            pose: cli.pose.unwrap_or_default(),
            neutral,
            quiet,
            posture_model: !cli.no_posture_model,
        }),
        Command::EvalHeadpose { labels } => cli::eval_headpose::run(&cli::eval_headpose::EvalArgs {
            labels,
            models: cli.models,
            pose: cli.pose.unwrap_or_default(),
            posture_model: !cli.no_posture_model,
        }),
        Command::EvalPostures {
            labels,
            video,
            features,
            crops,
            trunk_yaw_from_depth,
            trunk_tilt_from_camera,
            camera_from_labels,
            pose_every,
            body_worker,
            no_posture_mirror,
        } => cli::eval_postures::run(&cli::eval_postures::EvalPosturesArgs {
            labels,
            video,
            features,
            crops,
            trunk_yaw_from_depth,
            trunk_tilt_from_camera,
            camera_from_labels,
            pose_every,
            body_worker,
            models: cli.models,
            pose: cli.pose.unwrap_or_default(),
            posture_model: !cli.no_posture_model,
            posture_mirror: !no_posture_mirror,
        }),
        Command::Cameras(args) => cli::cameras::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
