//! Portable versions: the two-pass algorithm and, for comparison, the three-pass one, on the
//! same scalar `extexp`. Also the tails of the SIMD versions.

use super::extexp::{add, exp2_nonpositive, extexp};

/// Pass 1 over `x`: the sum of `exp(x_i)` as `(p, n)`, with four independent accumulators.
pub fn sum_extexp(x: &[f32]) -> (f32, f32) {
    let mut acc = [(0.0f32, f32::NEG_INFINITY); 4];
    let mut chunks = x.chunks_exact(4);
    for chunk in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a = add(*a, extexp(v));
        }
    }
    let mut total = acc.into_iter().fold((0.0, f32::NEG_INFINITY), add);
    for &v in chunks.remainder() {
        total = add(total, extexp(v));
    }
    total
}

/// Pass 2: `y_i = exp(x_i) / sum`, with `sum = (s, m)` from pass 1; -inf entries give 0.
pub fn scale_extexp(x: &[f32], y: &mut [f32], sum: (f32, f32)) {
    let inv = 1.0 / sum.0;
    for (out, &v) in y.iter_mut().zip(x) {
        let (p, n) = extexp(v);
        *out = if v == f32::NEG_INFINITY {
            0.0
        } else {
            p * inv * exp2_nonpositive(n - sum.1)
        };
    }
}

/// Pass 2 in place: `y = exp(y) / sum`.
pub fn scale_extexp_in_place(y: &mut [f32], sum: (f32, f32)) {
    let inv = 1.0 / sum.0;
    for v in y.iter_mut() {
        let (p, n) = extexp(*v);
        *v = if *v == f32::NEG_INFINITY {
            0.0
        } else {
            p * inv * exp2_nonpositive(n - sum.1)
        };
    }
}

pub fn two_pass(x: &[f32], y: &mut [f32]) {
    let sum = sum_extexp(x);
    scale_extexp(x, y, sum);
}

/// Three-pass softmax, pass 1: the maximum.
pub fn max(x: &[f32]) -> f32 {
    x.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// Three-pass softmax, pass 2: `y = exp(x - max)`, returning the sum of `y`.
pub fn exp_sum(x: &[f32], y: &mut [f32], max: f32) -> f32 {
    // A sequential f32 sum would lose ~sqrt(n) ulps; this comparison kernel sums in f64.
    let mut sum = 0.0f64;
    for (out, &v) in y.iter_mut().zip(x) {
        let (p, n) = extexp(v - max);
        *out = p * exp2_nonpositive(n);
        sum += *out as f64;
    }
    sum as f32
}

/// Three-pass softmax, pass 3: `y *= factor`.
pub fn scale(y: &mut [f32], factor: f32) {
    y.iter_mut().for_each(|v| *v *= factor);
}
