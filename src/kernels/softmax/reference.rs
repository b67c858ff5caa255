//! The f64 three-pass softmax every version is checked against.

/// `y_i = exp(x_i - max) / sum_j exp(x_j - max)` in f64; a row of all -inf gives zeros (the
/// kernels' documented convention); NaN anywhere gives NaN.
pub fn softmax_f64(x: &[f32]) -> Vec<f64> {
    if x.iter().any(|v| v.is_nan()) {
        return vec![f64::NAN; x.len()];
    }
    let max = x
        .iter()
        .map(|&v| v as f64)
        .fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return vec![0.0; x.len()];
    }
    let exps: Vec<f64> = x.iter().map(|&v| (v as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// The largest relative error of `y` against `want`, over entries whose reference is at least
/// 1e-30. Smaller entries only have to be tiny (below 1e-28; kernels flush outputs below 2^-126
/// to zero): one that is not makes the result infinite.
pub fn max_relative_error(y: &[f32], want: &[f64]) -> f64 {
    y.iter().zip(want).fold(0.0f64, |worst, (&got, &w)| {
        if w >= 1e-30 {
            worst.max(((got as f64 - w) / w).abs())
        } else if (got as f64) < 1e-28 {
            worst
        } else {
            f64::INFINITY
        }
    })
}
