//! Reports: one record per frame (CSV row and JSON line) and the summary over many frames. Shared by
//! `analyze`, `run` and `eval-headpose` so every tool writes the same columns with the same meaning.

pub mod exam_page;

use crate::assess::Assessment;
use crate::capture::Frame;
use crate::exam::{ExamStats, ExamSummary, ItemStats};
use crate::geometry::Angles;
use crate::pipeline::{Measurement, StageTimes};
use crate::scoring::{Item1, ScoredIn, ScoringConfig, SubScore};
use crate::tremor::Tremor;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    pub frame: u64,
    pub t_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(flatten)]
    pub measurement: Measurement,
    pub scored_in: Option<ScoredIn>,
    /// What was scored: smoothed (videos), relative to the neutral, in `scored_in`'s frame.
    pub scored_angles: Option<Angles>,
    pub scores: Item1,
    /// Head tremor in the window ending at this frame (see [`crate::tremor`]).
    pub tremor: Option<Tremor>,
}

impl FrameRecord {
    /// The frame's raw measurement and its assessment (the daemon's, see [`crate::assess`]).
    pub fn new(frame: &Frame, m: Measurement, a: &Assessment) -> FrameRecord {
        FrameRecord {
            frame: frame.index,
            t_s: frame.t_s,
            file: frame.path.as_ref().map(|p| p.display().to_string()),
            measurement: m,
            scored_in: a.scored_in,
            scored_angles: a.angles,
            scores: a.scores.clone(),
            tremor: a.tremor,
        }
    }
}

pub const CSV_HEADER: &str = "frame,t_s,file,face_found,face_conf,pose_found,yaw,pitch,roll,rel_yaw,rel_pitch,rel_roll,\
shoulder_elevation,lateral_shift,sagittal_shift,scored_in,rotation_score,rotation_conf,laterocollis_score,laterocollis_conf,\
antero_retro_score,antero_retro_conf,lateral_shift_score,sagittal_shift_score,detector_ran,detector_ms,face_landmarks_ms,pose_ms,geometry_ms,\
tremor_yaw_hz,tremor_yaw_deg,tremor_pitch_hz,tremor_pitch_deg,tremor_roll_hz,tremor_roll_deg,\
rotation_source,model_weight,model_yaw,model_pitch,model_roll,model_yaw_b,model_lateral_shift_b,model_sagittal_shift_b,\
mesh_rel_yaw,mesh_rel_pitch,mesh_rel_roll,posture_model_ms";

fn f(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}")).unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl FrameRecord {
    pub fn csv_row(&self) -> String {
        let m = &self.measurement;
        let sc = |s: Option<SubScore>| {
            (
                s.map(|s| s.score.to_string()).unwrap_or_default(),
                f(s.map(|s| s.confidence), 3),
            )
        };
        let (rs, rc) = sc(self.scores.rotation);
        let (ls, lc) = sc(self.scores.laterocollis);
        let (as_, ac) = sc(self.scores.antero_retrocollis);
        let cols = [
            self.frame.to_string(),
            format!("{:.3}", self.t_s),
            csv_field(self.file.as_deref().unwrap_or("")),
            (m.face_found as u8).to_string(),
            format!("{:.3}", m.face_confidence),
            (m.pose_found as u8).to_string(),
            f(m.head.map(|a| a.yaw), 2),
            f(m.head.map(|a| a.pitch), 2),
            f(m.head.map(|a| a.roll), 2),
            f(m.relative.map(|a| a.yaw), 2),
            f(m.relative.map(|a| a.pitch), 2),
            f(m.relative.map(|a| a.roll), 2),
            f(m.trunk.map(|t| t.shoulder_elevation), 2),
            f(m.trunk.and_then(|t| t.lateral_shift), 3),
            f(m.trunk.and_then(|t| t.sagittal_shift), 3),
            self.scored_in
                .map(|s| format!("{s:?}").to_lowercase())
                .unwrap_or_default(),
            rs,
            rc,
            ls,
            lc,
            as_,
            ac,
            self.scores
                .lateral_shift
                .map(|s| s.score.to_string())
                .unwrap_or_default(),
            self.scores
                .sagittal_shift
                .map(|s| s.score.to_string())
                .unwrap_or_default(),
            (m.face_detector_ran as u8).to_string(),
            format!("{:.2}", m.timings.detector_ms),
            format!("{:.2}", m.timings.face_landmarks_ms),
            format!("{:.2}", m.timings.pose_ms),
            format!("{:.3}", m.timings.geometry_ms),
        ];
        // Tremor columns: filled only on an axis with a tremor detected in the window.
        let axes = self.tremor.map(|t| t.axes()).unwrap_or_default();
        let tremor = axes
            .iter()
            .flat_map(|a| [f(a.map(|a| a.frequency_hz), 2), f(a.map(|a| a.amplitude_deg), 2)]);
        // The fusion's parts, so a reader can see which instrument answered and how sure it was.
        let p = m.posture;
        let fused = [
            m.rotation.map(|r| r.source.as_str().to_string()).unwrap_or_default(),
            f(m.rotation.map(|r| r.model_weight), 3),
            f(p.map(|p| p.yaw), 2),
            f(p.map(|p| p.pitch), 2),
            f(p.map(|p| p.roll), 2),
            f(p.map(|p| p.yaw_b), 2),
            f(p.map(|p| p.lateral_shift_b), 3),
            f(p.map(|p| p.sagittal_shift_b), 3),
            f(m.mesh_relative.map(|a| a.yaw), 2),
            f(m.mesh_relative.map(|a| a.pitch), 2),
            f(m.mesh_relative.map(|a| a.roll), 2),
            format!("{:.2}", m.timings.posture_model_ms),
        ];
        cols.into_iter()
            .chain(tremor)
            .chain(fused)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What `analyze` reports: the exam summary the daemon would publish for the same frames (one
/// implementation, [`ExamStats`]), plus what only an offline run knows.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub exam: ExamSummary,
    pub frames_without_face: u64,
    pub frames_without_trunk: u64,
    /// Mean milliseconds per frame for each stage.
    pub mean_stage_ms: StageTimes,
    /// Frames processed per second of wall time, decoding included.
    pub fps: f64,
}

/// Collects an offline run: the exam statistics plus counts and timings (constant memory).
pub struct SummaryBuilder {
    exam: ExamStats,
    frames: u64,
    no_face: u64,
    no_trunk: u64,
    times: StageTimes,
}

impl SummaryBuilder {
    pub fn new(deviated_deg: f64) -> Self {
        SummaryBuilder {
            exam: ExamStats::new("analyze".into(), 0.0, deviated_deg),
            frames: 0,
            no_face: 0,
            no_trunk: 0,
            times: StageTimes::default(),
        }
    }

    pub fn add(&mut self, r: &FrameRecord, a: &Assessment) {
        self.frames += 1;
        let m = &r.measurement;
        self.no_face += !m.face_found as u64;
        self.no_trunk += m.trunk.is_none() as u64;
        self.exam.add(&a.exam_frame(r.t_s));
        self.times.detector_ms += m.timings.detector_ms;
        self.times.face_landmarks_ms += m.timings.face_landmarks_ms;
        self.times.pose_ms += m.timings.pose_ms;
        self.times.posture_model_ms += m.timings.posture_model_ms;
        self.times.geometry_ms += m.timings.geometry_ms;
    }

    pub fn finish(self, scoring: &ScoringConfig, wall_s: f64) -> Summary {
        let n = self.frames.max(1) as f64;
        Summary {
            exam: self.exam.summary(scoring),
            frames_without_face: self.no_face,
            frames_without_trunk: self.no_trunk,
            mean_stage_ms: StageTimes {
                detector_ms: self.times.detector_ms / n,
                face_landmarks_ms: self.times.face_landmarks_ms / n,
                pose_ms: self.times.pose_ms / n,
                posture_model_ms: self.times.posture_model_ms / n,
                geometry_ms: self.times.geometry_ms / n,
                body_looks: 0,
            },
            fps: if wall_s > 0.0 { self.frames as f64 / wall_s } else { 0.0 },
        }
    }
}

impl Summary {
    /// Human-readable table for the terminal.
    pub fn to_text(&self) -> String {
        let e = &self.exam;
        let mut out = format!(
            "frames {}  without face {}  without trunk {}  scored in the {} frame\n{:<20} {:>10} {:>8}  share of time per score\n",
            e.frames,
            self.frames_without_face,
            self.frames_without_trunk,
            if e.scored_in == ScoredIn::Trunk { "trunk" } else { "CAMERA" },
            "item",
            "max",
            "median"
        );
        let items: [(&str, &ItemStats); 6] = [
            ("rotation (deg)", &e.rotation),
            ("laterocollis (deg)", &e.laterocollis),
            ("antero/retro (deg)", &e.antero_retrocollis),
            ("lateral shift (sw)", &e.lateral_shift),
            ("sagittal shift (sw)", &e.sagittal_shift),
            ("shoulder elev (deg)", &e.shoulder_elevation),
        ];
        for (name, it) in items {
            let share: Vec<String> = it
                .score_share
                .iter()
                .map(|(k, v)| format!("{k}:{:.0}%", v * 100.0))
                .collect();
            out += &format!(
                "{:<20} {:>10} {:>8}  {}\n",
                name,
                f(it.max_excursion, 2),
                f(it.median, 2),
                share.join(" ")
            );
        }
        out += &format!(
            "duration {:.1} s, measured {:.1} s: deviated {:.0}% (item B {}), within 10° {:.0}%, longest within 10° {:.1} s\n",
            e.duration_s,
            e.measured_s,
            e.deviated_share * 100.0,
            e.duration_factor,
            e.within_10deg_share * 100.0,
            e.longest_within_10deg_s
        );
        let tr = &e.tremor;
        let axis = |name: &str, a: &crate::exam::AxisTremorSummary| match (a.frequency_hz, a.amplitude_deg) {
            (Some(f), Some(d)) => format!("{name} {f:.1} Hz {d:.1}° {:.0}%", a.share * 100.0),
            _ => format!("{name} none"),
        };
        out += &format!(
            "tremor (analysed {:.1} s, up to {} Hz): {}, {}, {}; grade {} (severity {} × duration {})\n",
            tr.analysed_s,
            tr.max_frequency_hz.map_or("-".into(), |x| format!("{x:.1}")),
            axis("yaw", &tr.yaw),
            axis("pitch", &tr.pitch),
            axis("roll", &tr.roll),
            tr.score,
            tr.severity,
            tr.duration
        );
        let t = &self.mean_stage_ms;
        out += &format!(
            "timing ms/frame: detector {:.1}  face landmarks {:.1}  pose {:.1}  posture model {:.1}  geometry {:.2}  |  overall {:.1} fps\n",
            t.detector_ms, t.face_landmarks_ms, t.pose_ms, t.posture_model_ms, t.geometry_ms, self.fps
        );
        out
    }
}
