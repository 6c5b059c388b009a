//! The yaw and pitch SIGNS on real photos whose head pose is known by eye. The mirror test in
//! tests/photos.rs passes under either yaw convention (a mirror flips yaw whatever its sign means);
//! these do not: with yaw or pitch counted the other way round in src/geometry/angles.rs, they fail.
//!
//! The photos (fetched with the models by models/fetch.sh, pinned by sha256):
//! * `camera.png` (scikit-image, public domain): a man looking into a video camera at the right
//!   edge of the picture. His face is turned toward IMAGE RIGHT nearly to profile (his left ear
//!   shows fully, the far eye barely) and bowed into the eyepiece, chin down: yaw strongly
//!   negative, pitch negative.
//! * `luispedro.jpg` (mahotas' demo data, a portrait of its author): the face turned toward IMAGE
//!   LEFT (the nose points left, his left ear shows on the right) about a third of the way to profile,
//!   looking up past the camera with the chin raised (the underside of the jaw and the nostrils
//!   show, the forehead is foreshortened): yaw positive, pitch positive.
//!
//! Conventions (README, src/geometry/angles.rs): +yaw = face toward image left (the subject's
//! right), +pitch = chin up.

mod common;
use cdposture::capture::load_image;
use cdposture::geometry::Angles;
use cdposture::inference::{ModelSet, PoseVariant};
use cdposture::pipeline::{Pipeline, PipelineOptions};

fn head(photo: &str) -> Angles {
    let models = ModelSet::load(&common::model_dir(), PoseVariant::Lite).unwrap();
    let mut p = Pipeline::new(
        models,
        PipelineOptions {
            refine_still: true,
            ..Default::default()
        },
    );
    let m = p.process(&load_image(&common::photo(photo)).unwrap()).unwrap();
    assert!(m.face_found && m.face_confidence > 0.5, "{photo}: no face: {m:?}");
    let h = m.head.unwrap();
    println!("{photo}: yaw {:.1} pitch {:.1} roll {:.1}", h.yaw, h.pitch, h.roll);
    h
}

#[test]
fn a_face_turned_toward_image_right_has_negative_yaw_and_a_bowed_head_negative_pitch() {
    let h = head("camera.png");
    assert!(
        h.yaw < -30.0,
        "camera.png: the face is turned toward image right, nearly in profile: yaw must be \
         strongly negative (+yaw = toward image left), measured {:.1}",
        h.yaw
    );
    assert!(
        h.pitch < -5.0,
        "camera.png: the head is bowed into the eyepiece, chin down: pitch must be negative \
         (+pitch = chin up), measured {:.1}",
        h.pitch
    );
}

#[test]
fn a_face_turned_toward_image_left_has_positive_yaw_and_a_raised_chin_positive_pitch() {
    let h = head("luispedro.jpg");
    assert!(
        h.yaw > 15.0 && h.yaw < 60.0,
        "luispedro.jpg: the face is turned toward image left, about a third of the way to \
         profile: yaw must be positive (+yaw = toward image left), measured {:.1}",
        h.yaw
    );
    assert!(
        h.pitch > 0.0,
        "luispedro.jpg: the chin is raised: pitch must be positive (+pitch = chin up), measured {:.1}",
        h.pitch
    );
    // Pitch reads a few degrees low on these portraits (the astronaut's level gaze reads about
    // -9°, this raised chin about +4°, where by eye it is 10-20° up): compared with the astronaut,
    // whatever that common offset, the raised chin must read clearly more chin-up.
    let level = head("astronaut.png");
    assert!(
        h.pitch - level.pitch > 8.0,
        "luispedro.jpg (chin raised) must read more chin-up than the astronaut (level gaze): \
         pitch {:.1} vs {:.1}",
        h.pitch,
        level.pitch
    );
}
