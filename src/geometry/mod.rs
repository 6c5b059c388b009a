//! Geometry: from landmarks to clinical angles. Owns the small linear algebra we need (3-vectors,
//! 3×3 rotations), the weighted Procrustes fit of the head, the trunk frame from the shoulders, and the
//! angle conventions, and the fusion of the face mesh's and the posture model's rotations. No model or image code here, so the maths is testable on exact synthetic data.

pub mod angles;
pub mod canonical;
pub mod fusion;
pub mod procrustes;
pub mod trunk;

pub use angles::{Angles, Axes};
pub use canonical::CanonicalFace;
pub use fusion::{FusedRotation, RotationSource};
pub use trunk::{TrunkFrame, TrunkInput};

/// A 3-vector in the camera frame (x = image right, y = up, z = toward the camera) unless noted.
pub type Vec3 = [f64; 3];
/// Row-major 3×3 matrix.
pub type Mat3 = [[f64; 3]; 3];

pub const IDENTITY: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

pub fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
pub fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
pub fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}
pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
pub fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}
/// Unit vector, or `None` for a (near) zero vector.
pub fn normalize(a: Vec3) -> Option<Vec3> {
    let n = norm(a);
    (n > 1e-12).then(|| scale(a, 1.0 / n))
}
pub fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}
pub fn transpose(a: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = a[j][i];
        }
    }
    m
}
pub fn mat_vec(a: &Mat3, v: Vec3) -> Vec3 {
    [dot(a[0], v), dot(a[1], v), dot(a[2], v)]
}
/// Matrix whose columns are the given vectors.
pub fn from_columns(c0: Vec3, c1: Vec3, c2: Vec3) -> Mat3 {
    [[c0[0], c1[0], c2[0]], [c0[1], c1[1], c2[1]], [c0[2], c1[2], c2[2]]]
}
