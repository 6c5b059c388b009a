//! Reports: one record per frame (CSV row and JSON line) and the summary over many frames. Shared by
//! `analyze`, `run` and `eval-headpose` so every tool writes the same columns with the same meaning.

use crate::capture::Frame;
use crate::geometry::Angles;
use crate::pipeline::{Measurement, StageTimes};
use crate::scoring::{Item1, ScoringConfig, SubScore};
use serde::Serialize;
use std::collections::BTreeMap;

/// Which frame the scored angles are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoredIn {
    /// Head relative to the trunk (the clinical quantity).
    Trunk,
    /// Head relative to the camera: no shoulders were visible.
    Camera,
}

#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    pub frame: u64,
    pub t_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(flatten)]
    pub measurement: Measurement,
    pub scored_in: Option<ScoredIn>,
    pub scores: Item1,
}

impl FrameRecord {
    pub fn new(frame: &Frame, m: Measurement, scoring: &ScoringConfig, neutral: &Angles) -> FrameRecord {
        let (angles, scored_in) = match (m.relative, m.head) {
            (Some(r), _) => (Some(r), Some(ScoredIn::Trunk)),
            (None, Some(h)) => (Some(h), Some(ScoredIn::Camera)),
            _ => (None, None),
        };
        let angles = angles.map(|a| a.relative_to(neutral));
        let scores = scoring.score(
            angles.as_ref(),
            m.trunk.as_ref().map(Into::into).unwrap_or_default(),
            m.face_confidence as f64,
        );
        FrameRecord {
            frame: frame.index,
            t_s: frame.t_s,
            file: frame.path.as_ref().map(|p| p.display().to_string()),
            measurement: m,
            scored_in,
            scores,
        }
    }
}

pub const CSV_HEADER: &str = "frame,t_s,file,face_found,face_conf,pose_found,yaw,pitch,roll,rel_yaw,rel_pitch,rel_roll,\
shoulder_elevation,lateral_shift,sagittal_shift,scored_in,rotation_score,rotation_conf,laterocollis_score,laterocollis_conf,\
antero_retro_score,antero_retro_conf,lateral_shift_score,sagittal_shift_score,detector_ran,detector_ms,face_landmarks_ms,pose_ms,geometry_ms";

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
        cols.join(",")
    }
}

/// Summary of one item over all frames.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ItemSummary {
    /// The value with the largest magnitude (signed), degrees or shoulder widths.
    pub max_excursion: Option<f64>,
    pub median: Option<f64>,
    /// Share of measured frames per sub-score, keyed by score.
    pub score_share: BTreeMap<u8, f64>,
    pub frames_measured: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub frames: u64,
    pub frames_without_face: u64,
    pub frames_without_trunk: u64,
    pub rotation: ItemSummary,
    pub laterocollis: ItemSummary,
    pub antero_retrocollis: ItemSummary,
    pub lateral_shift: ItemSummary,
    pub sagittal_shift: ItemSummary,
    pub shoulder_elevation: ItemSummary,
    /// Mean milliseconds per frame for each stage.
    pub mean_stage_ms: StageTimes,
    /// Frames processed per second of wall time, decoding included.
    pub fps: f64,
}

/// Collects values per item; memory grows with the number of frames (offline analysis only).
#[derive(Default)]
pub struct SummaryBuilder {
    frames: u64,
    no_face: u64,
    no_trunk: u64,
    values: [Vec<(f64, Option<u8>)>; 6],
    times: StageTimes,
}

impl SummaryBuilder {
    pub fn add(&mut self, r: &FrameRecord, neutral: &Angles) {
        self.frames += 1;
        let m = &r.measurement;
        if !m.face_found {
            self.no_face += 1;
        }
        if m.trunk.is_none() {
            self.no_trunk += 1;
        }
        let angles = m.relative.or(m.head).map(|a| a.relative_to(neutral));
        let s = &r.scores;
        if let Some(a) = angles {
            self.values[0].push((a.yaw, s.rotation.map(|x| x.score)));
            self.values[1].push((a.roll, s.laterocollis.map(|x| x.score)));
            self.values[2].push((a.pitch, s.antero_retrocollis.map(|x| x.score)));
        }
        if let Some(t) = m.trunk {
            if let Some(v) = t.lateral_shift {
                self.values[3].push((v, s.lateral_shift.map(|x| x.score)));
            }
            if let Some(v) = t.sagittal_shift {
                self.values[4].push((v, s.sagittal_shift.map(|x| x.score)));
            }
            self.values[5].push((t.shoulder_elevation, None));
        }
        self.times.detector_ms += m.timings.detector_ms;
        self.times.face_landmarks_ms += m.timings.face_landmarks_ms;
        self.times.pose_ms += m.timings.pose_ms;
        self.times.geometry_ms += m.timings.geometry_ms;
    }

    pub fn finish(self, wall_s: f64) -> Summary {
        let item = |v: &Vec<(f64, Option<u8>)>| {
            let mut s = ItemSummary {
                frames_measured: v.len() as u64,
                ..Default::default()
            };
            if v.is_empty() {
                return s;
            }
            s.max_excursion = v.iter().map(|x| x.0).max_by(|a, b| a.abs().total_cmp(&b.abs()));
            let mut sorted: Vec<f64> = v.iter().map(|x| x.0).collect();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len();
            s.median = Some(if n % 2 == 1 {
                sorted[n / 2]
            } else {
                (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
            });
            for score in v.iter().filter_map(|x| x.1) {
                *s.score_share.entry(score).or_insert(0.0) += 1.0 / n as f64;
            }
            s
        };
        let n = self.frames.max(1) as f64;
        Summary {
            frames: self.frames,
            frames_without_face: self.no_face,
            frames_without_trunk: self.no_trunk,
            rotation: item(&self.values[0]),
            laterocollis: item(&self.values[1]),
            antero_retrocollis: item(&self.values[2]),
            lateral_shift: item(&self.values[3]),
            sagittal_shift: item(&self.values[4]),
            shoulder_elevation: item(&self.values[5]),
            mean_stage_ms: StageTimes {
                detector_ms: self.times.detector_ms / n,
                face_landmarks_ms: self.times.face_landmarks_ms / n,
                pose_ms: self.times.pose_ms / n,
                geometry_ms: self.times.geometry_ms / n,
            },
            fps: if wall_s > 0.0 { self.frames as f64 / wall_s } else { 0.0 },
        }
    }
}

impl Summary {
    /// Human-readable table for the terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "frames {}  without face {}  without trunk {}\n{:<20} {:>10} {:>8}  share per score\n",
            self.frames, self.frames_without_face, self.frames_without_trunk, "item", "max", "median"
        );
        for (name, it) in [
            ("rotation (deg)", &self.rotation),
            ("laterocollis (deg)", &self.laterocollis),
            ("antero/retro (deg)", &self.antero_retrocollis),
            ("lateral shift (sw)", &self.lateral_shift),
            ("sagittal shift (sw)", &self.sagittal_shift),
            ("shoulder elev (deg)", &self.shoulder_elevation),
        ] {
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
        let t = &self.mean_stage_ms;
        out += &format!(
            "timing ms/frame: detector {:.1}  face landmarks {:.1}  pose {:.1}  geometry {:.2}  |  overall {:.1} fps\n",
            t.detector_ms, t.face_landmarks_ms, t.pose_ms, t.geometry_ms, self.fps
        );
        out
    }
}
