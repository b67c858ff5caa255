//! Boxes `[x, y, width, height]`: read from JSON, and their intersection over union as
//! pycocotools' `bbIou` computes it (continuous coordinates, no +1; a crowd region divides by
//! the detection's area only).

/// `[x, y, width, height]`, finite, with width and height >= 0.
pub fn parse_box(values: &[f64]) -> anyhow::Result<[f64; 4]> {
    let bbox: [f64; 4] = values.try_into().map_err(|_| {
        anyhow::anyhow!(
            "bbox has {} numbers, expected [x, y, width, height]",
            values.len()
        )
    })?;
    if bbox.iter().any(|v| !v.is_finite()) || bbox[2] < 0.0 || bbox[3] < 0.0 {
        anyhow::bail!("bbox {bbox:?}: expected finite numbers with width and height >= 0");
    }
    Ok(bbox)
}

/// IoU of a detection with a ground-truth box; `crowd` gives intersection / detection area.
pub fn box_iou(detection: &[f64; 4], truth: &[f64; 4], crowd: bool) -> f64 {
    let [dx, dy, dw, dh] = *detection;
    let [gx, gy, gw, gh] = *truth;
    let w = (dx + dw).min(gx + gw) - dx.max(gx);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (dy + dh).min(gy + gh) - dy.max(gy);
    if h <= 0.0 {
        return 0.0;
    }
    let intersection = w * h;
    let union = if crowd {
        dw * dh
    } else {
        dw * dh + gw * gh - intersection
    };
    intersection / union
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        // Identical boxes; half-overlapping boxes (intersection 50, union 150); disjoint; a
        // box touching another's edge has no intersection.
        assert_eq!(
            box_iou(&[0.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0], false),
            1.0
        );
        assert_eq!(
            box_iou(&[5.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0], false),
            1.0 / 3.0
        );
        assert_eq!(
            box_iou(&[20.0, 0.0, 5.0, 5.0], &[0.0, 0.0, 10.0, 10.0], false),
            0.0
        );
        assert_eq!(
            box_iou(&[10.0, 0.0, 5.0, 5.0], &[0.0, 0.0, 10.0, 10.0], false),
            0.0
        );
        // A detection inside a crowd region: intersection / detection area = 1.
        assert_eq!(
            box_iou(&[2.0, 2.0, 4.0, 4.0], &[0.0, 0.0, 10.0, 10.0], true),
            1.0
        );
        assert_eq!(
            box_iou(&[2.0, 2.0, 4.0, 4.0], &[0.0, 0.0, 10.0, 10.0], false),
            0.16
        );
    }
}
