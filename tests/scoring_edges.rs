//! Every band edge of the TWSTRS item-1 scoring, probed 0.01° (0.001 shoulder widths) on each side
//! through the public API, for both signs: an off-by-one edge (23 instead of 22.5, `<=` instead of
//! `<`) or an edge moved by half a degree fails here. The bands are those of the README ("Scoring").

use cdposture::geometry::Angles;
use cdposture::scoring::{Item1, ScoringConfig, Shifts, SubScore};

fn score_head(yaw: f64, pitch: f64, roll: f64) -> Item1 {
    ScoringConfig::default().score(Some(&Angles { yaw, pitch, roll }), Shifts::default(), 1.0)
}

fn rotation(deg: f64) -> SubScore {
    score_head(deg, 0.0, 0.0).rotation.expect("rotation scored")
}
fn laterocollis(deg: f64) -> SubScore {
    score_head(0.0, 0.0, deg).laterocollis.expect("laterocollis scored")
}
fn antero_retrocollis(deg: f64) -> SubScore {
    score_head(0.0, deg, 0.0)
        .antero_retrocollis
        .expect("antero/retrocollis scored")
}
fn lateral_shift(sw: f64) -> SubScore {
    let shifts = Shifts {
        lateral: Some(sw),
        sagittal: None,
    };
    ScoringConfig::default()
        .score(None, shifts, 1.0)
        .lateral_shift
        .expect("lateral shift scored")
}
fn sagittal_shift(sw: f64) -> SubScore {
    let shifts = Shifts {
        lateral: None,
        sagittal: Some(sw),
    };
    ScoringConfig::default()
        .score(None, shifts, 1.0)
        .sagittal_shift
        .expect("sagittal shift scored")
}

/// For each edge (value just below, score there, value just above, score there): both signs give
/// the same score, and the confidence on either side of an edge is about one half (the true value
/// is as likely to be on the other side).
fn check(item: &str, f: fn(f64) -> SubScore, edges: &[(f64, u8, f64, u8)]) {
    for &(below, want_below, above, want_above) in edges {
        for sign in [1.0, -1.0] {
            for (x, want) in [(below, want_below), (above, want_above)] {
                let s = f(sign * x);
                assert_eq!(s.score, want, "{item} {}: score {} (want {want})", sign * x, s.score);
                assert!(
                    (0.4..0.6).contains(&s.confidence),
                    "{item} {}: confidence {:.3} this close to an edge should be about 0.5",
                    sign * x,
                    s.confidence
                );
            }
        }
    }
}

#[test]
fn rotation_edges_at_5_22_5_45_5_67_5() {
    check(
        "rotation",
        rotation,
        &[
            (4.99, 0, 5.01, 1),
            (22.49, 1, 22.51, 2),
            (45.49, 2, 45.51, 3),
            (67.49, 3, 67.51, 4),
        ],
    );
}

#[test]
fn laterocollis_edges_at_5_15_5_35_5() {
    check(
        "laterocollis",
        laterocollis,
        &[(4.99, 0, 5.01, 1), (15.49, 1, 15.51, 2), (35.49, 2, 35.51, 3)],
    );
}

#[test]
fn flexion_and_extension_edges_at_5_20_35() {
    // Both signs: anterocollis (chin down, −pitch) and retrocollis (chin up, +pitch) alike.
    check(
        "antero/retrocollis",
        antero_retrocollis,
        &[(4.99, 0, 5.01, 1), (19.99, 1, 20.01, 2), (34.99, 2, 35.01, 3)],
    );
}

#[test]
fn shift_thresholds_at_0_10_and_0_25_shoulder_widths() {
    check("lateral shift", lateral_shift, &[(0.099, 0, 0.101, 1)]);
    check("sagittal shift", sagittal_shift, &[(0.249, 0, 0.251, 1)]);
    // The lateral threshold does not apply to the sagittal shift and vice versa.
    assert_eq!(sagittal_shift(0.2).score, 0);
    assert_eq!(lateral_shift(0.2).score, 1);
}

#[test]
fn each_axis_is_scored_on_its_own_band_table() {
    // 20° sits in a different band on each table: rotation 1 (5–22.5), laterocollis 2 (15.5–35.5),
    // antero/retrocollis 2 (20–35). A swapped axis shows here.
    let i = score_head(20.0, 0.0, 0.0);
    assert_eq!(
        (
            i.rotation.unwrap().score,
            i.laterocollis.unwrap().score,
            i.antero_retrocollis.unwrap().score
        ),
        (1, 0, 0)
    );
    let i = score_head(0.0, 0.0, 20.0);
    assert_eq!(
        (
            i.rotation.unwrap().score,
            i.laterocollis.unwrap().score,
            i.antero_retrocollis.unwrap().score
        ),
        (0, 2, 0)
    );
    let i = score_head(0.0, 19.0, 0.0);
    assert_eq!(
        (
            i.rotation.unwrap().score,
            i.laterocollis.unwrap().score,
            i.antero_retrocollis.unwrap().score
        ),
        (0, 0, 1)
    );
    // Not measured stays not measured.
    let none = ScoringConfig::default().score(None, Shifts::default(), 1.0);
    assert_eq!(none, Item1::default());
}
