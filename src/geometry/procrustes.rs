//! Weighted similarity Procrustes (rotation, uniform scale, translation), solved in closed form with
//! Horn's unit-quaternion method. Chosen over an SVD because it needs only a 4×4 symmetric eigen
//! problem (a few Jacobi sweeps, no dependency) and always returns a proper rotation (det = +1).

use super::{Mat3, Vec3};

#[derive(Debug, Clone, Copy)]
pub struct Similarity {
    /// Rotation taking model points into the observed frame.
    pub rotation: Mat3,
    pub scale: f64,
    pub translation: Vec3,
    /// Weighted RMS residual in observed units, to flag bad fits.
    pub rms: f64,
}

/// Find `s, R, t` minimising Σ wᵢ ‖s·R·modelᵢ + t − observedᵢ‖².
pub fn fit(model: &[Vec3], observed: &[Vec3], weights: &[f64]) -> Option<Similarity> {
    let n = model.len();
    if n < 3 || observed.len() != n || weights.len() != n {
        return None;
    }
    let wsum: f64 = weights.iter().sum();
    if wsum <= 0.0 {
        return None;
    }
    let centroid = |pts: &[Vec3]| {
        let mut c = [0.0; 3];
        for (p, w) in pts.iter().zip(weights) {
            for k in 0..3 {
                c[k] += w * p[k];
            }
        }
        [c[0] / wsum, c[1] / wsum, c[2] / wsum]
    };
    let (cm, co) = (centroid(model), centroid(observed));
    // Cross-covariance S[a][b] = Σ w · m_a · o_b over centred points.
    let mut s = [[0.0; 3]; 3];
    let mut model_var = 0.0;
    for i in 0..n {
        let m = super::sub(model[i], cm);
        let o = super::sub(observed[i], co);
        for a in 0..3 {
            for b in 0..3 {
                s[a][b] += weights[i] * m[a] * o[b];
            }
        }
        model_var += weights[i] * super::dot(m, m);
    }
    let (sxx, sxy, sxz) = (s[0][0], s[0][1], s[0][2]);
    let (syx, syy, syz) = (s[1][0], s[1][1], s[1][2]);
    let (szx, szy, szz) = (s[2][0], s[2][1], s[2][2]);
    let nmat = [
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
    ];
    let q = largest_eigenvector(nmat);
    let rotation = quat_to_matrix(q);
    let mut num = 0.0;
    for i in 0..n {
        let m = super::mat_vec(&rotation, super::sub(model[i], cm));
        num += weights[i] * super::dot(m, super::sub(observed[i], co));
    }
    if model_var <= 0.0 {
        return None;
    }
    let scale = num / model_var;
    let translation = super::sub(co, super::scale(super::mat_vec(&rotation, cm), scale));
    let mut err = 0.0;
    for i in 0..n {
        let p = super::add(super::scale(super::mat_vec(&rotation, model[i]), scale), translation);
        let d = super::sub(p, observed[i]);
        err += weights[i] * super::dot(d, d);
    }
    Some(Similarity {
        rotation,
        scale,
        translation,
        rms: (err / wsum).sqrt(),
    })
}

fn quat_to_matrix(q: [f64; 4]) -> Mat3 {
    let [w, x, y, z] = q;
    [
        [
            w * w + x * x - y * y - z * z,
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            w * w - x * x + y * y - z * z,
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            w * w - x * x - y * y + z * z,
        ],
    ]
}

/// Cyclic Jacobi eigen-decomposition of a symmetric 4×4; returns the unit eigenvector of the largest
/// eigenvalue. Converges to machine precision in well under 20 sweeps for any input.
fn largest_eigenvector(mut a: [[f64; 4]; 4]) -> [f64; 4] {
    let mut v = [[0.0; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..50 {
        let off: f64 = (0..4)
            .flat_map(|i| (0..4).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..3 {
            for q in p + 1..4 {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ·A·J: first the columns p and q, then the rows.
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (row_p, row_q) = (a[p], a[q]);
                for k in 0..4 {
                    a[p][k] = c * row_p[k] - s * row_q[k];
                    a[q][k] = s * row_p[k] + c * row_q[k];
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    let best = (0..4).max_by(|&i, &j| a[i][i].total_cmp(&a[j][j])).unwrap_or(0);
    let q = [v[0][best], v[1][best], v[2][best], v[3][best]];
    let n = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    [q[0] / n, q[1] / n, q[2] / n, q[3] / n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{add, mat_vec, scale, Angles};

    #[test]
    fn recovers_a_known_similarity() {
        let model: Vec<Vec3> = (0..40)
            .map(|i| {
                let f = i as f64;
                [(f * 0.7).sin() * 5.0, (f * 1.3).cos() * 4.0, (f * 0.37).sin() * 3.0]
            })
            .collect();
        for truth in [
            Angles {
                yaw: 35.0,
                pitch: -12.0,
                roll: 8.0,
            },
            Angles {
                yaw: -80.0,
                pitch: 20.0,
                roll: -25.0,
            },
        ] {
            let r = truth.to_matrix();
            let observed: Vec<Vec3> = model
                .iter()
                .map(|&p| add(scale(mat_vec(&r, p), 2.5), [10.0, -3.0, 7.0]))
                .collect();
            let w = vec![1.0; model.len()];
            let fit = fit(&model, &observed, &w).unwrap();
            let got = Angles::from_matrix(&fit.rotation);
            assert!((got.yaw - truth.yaw).abs() < 1e-6, "{got:?} vs {truth:?}");
            assert!((got.pitch - truth.pitch).abs() < 1e-6);
            assert!((got.roll - truth.roll).abs() < 1e-6);
            assert!((fit.scale - 2.5).abs() < 1e-9 && fit.rms < 1e-6);
        }
    }

    #[test]
    fn degenerate_input_is_none_not_a_panic() {
        assert!(fit(&[[0.0; 3]; 2], &[[0.0; 3]; 2], &[1.0; 2]).is_none());
        assert!(fit(&[[0.0; 3]; 4], &[[1.0; 3]; 4], &[1.0; 4]).is_none());
    }
}
