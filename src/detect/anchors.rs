//! SSD anchors as MediaPipe's SsdAnchorsCalculator makes them for BlazeFace and BlazePose:
//! fixed anchor size, aspect ratio 1 plus one interpolated scale, so 2 anchors per cell per layer;
//! consecutive layers with the same stride share one feature map (and stack their anchors).

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub cx: f32,
    pub cy: f32,
}

pub fn ssd_anchors(input_size: usize, strides: &[usize]) -> Vec<Anchor> {
    let mut anchors = Vec::new();
    let mut layer = 0;
    while layer < strides.len() {
        let stride = strides[layer];
        let mut per_cell = 0;
        while layer < strides.len() && strides[layer] == stride {
            per_cell += 2;
            layer += 1;
        }
        let fm = input_size.div_ceil(stride);
        for y in 0..fm {
            for x in 0..fm {
                for _ in 0..per_cell {
                    anchors.push(Anchor {
                        cx: (x as f32 + 0.5) / fm as f32,
                        cy: (y as f32 + 0.5) / fm as f32,
                    });
                }
            }
        }
    }
    anchors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_counts_match_the_models() {
        assert_eq!(ssd_anchors(128, &[8, 16, 16, 16]).len(), 896);
        assert_eq!(ssd_anchors(224, &[8, 16, 32, 32, 32]).len(), 2254);
        let a = ssd_anchors(128, &[8, 16, 16, 16]);
        assert_eq!(
            a[0],
            Anchor {
                cx: 0.5 / 16.0,
                cy: 0.5 / 16.0
            }
        );
        assert_eq!(
            a[512],
            Anchor {
                cx: 0.5 / 8.0,
                cy: 0.5 / 8.0
            }
        );
    }
}
