//! AVX2 + FMA versions, 8 lanes, four independent accumulators per lane in pass 1.

use super::extexp::{C1, C2, C3, C4, C5, LN2_HI, LN2_LO, LOG2E, R_MAX, X_MIN};
use super::scalar;
use std::arch::x86_64::*;

const ROUND: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// 8 lanes from `x[i..i + 8]` (bounds checked).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn load(x: &[f32], i: usize) -> __m256 {
    let lanes = &x[i..i + 8];
    // SAFETY: `lanes` holds 8 readable f32s; unaligned loads need no alignment.
    unsafe { _mm256_loadu_ps(lanes.as_ptr()) }
}

/// Writes 8 lanes to `y[i..i + 8]` (bounds checked).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn store(y: &mut [f32], i: usize, v: __m256) {
    let lanes = &mut y[i..i + 8];
    // SAFETY: `lanes` holds 8 writable f32s; unaligned stores need no alignment.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) }
}

/// The 8 lanes as an array.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn lanes(v: __m256) -> [f32; 8] {
    let mut out = [0f32; 8];
    store(&mut out, 0, v);
    out
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn extexp(x: __m256) -> (__m256, __m256) {
    // max(x, X_MIN) maps -inf (and NaN) to X_MIN for n; NaN still reaches r through x.
    let n = _mm256_round_ps::<ROUND>(_mm256_mul_ps(
        _mm256_max_ps(x, _mm256_set1_ps(X_MIN)),
        _mm256_set1_ps(LOG2E),
    ));
    let r = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_HI), x);
    let r = _mm256_fmadd_ps(n, _mm256_set1_ps(-LN2_LO), r);
    // min/max return their second operand when one is NaN: r goes second to keep NaN.
    let r = _mm256_min_ps(_mm256_set1_ps(R_MAX), r);
    let r = _mm256_max_ps(_mm256_set1_ps(-R_MAX), r);
    let mut p = _mm256_fmadd_ps(_mm256_set1_ps(C5), r, _mm256_set1_ps(C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0));
    (p, n)
}

/// `2^k` for integral `k <= 0`, 0 below -126 (and for NaN, whose NaN lives in `p`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn exp2_nonpositive(k: __m256) -> __m256 {
    let k = _mm256_max_ps(k, _mm256_set1_ps(-127.0));
    let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(
        _mm256_cvtps_epi32(k),
        _mm256_set1_epi32(127),
    ));
    _mm256_castsi256_ps(bits)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn add(a: (__m256, __m256), b: (__m256, __m256)) -> (__m256, __m256) {
    let n = _mm256_max_ps(a.1, b.1);
    let p = _mm256_fmadd_ps(
        a.0,
        exp2_nonpositive(_mm256_sub_ps(a.1, n)),
        _mm256_mul_ps(b.0, exp2_nonpositive(_mm256_sub_ps(b.1, n))),
    );
    (p, n)
}

/// Pass 1: the sum of exp(x) as `(p, n)`.
///
/// # Safety
/// Code not compiled for AVX2 and FMA may call it (in `unsafe`) only where the CPU has both.
#[target_feature(enable = "avx2,fma")]
pub fn sum_extexp(x: &[f32]) -> (f32, f32) {
    let empty = (_mm256_setzero_ps(), _mm256_set1_ps(f32::NEG_INFINITY));
    let mut acc = [empty; 4];
    let mut chunks = x.chunks_exact(32);
    for chunk in &mut chunks {
        for (k, a) in acc.iter_mut().enumerate() {
            *a = add(*a, extexp(load(chunk, 8 * k)));
        }
    }
    let all = add(add(acc[0], acc[1]), add(acc[2], acc[3]));
    let (ps, ns) = (lanes(all.0), lanes(all.1));
    let lanes = ps
        .into_iter()
        .zip(ns)
        .fold((0.0, f32::NEG_INFINITY), super::extexp::add);
    super::extexp::add(lanes, scalar::sum_extexp(chunks.remainder()))
}

/// Pass 2: `y = exp(x) / sum`; -inf entries give 0.
///
/// # Safety
/// Code not compiled for AVX2 and FMA may call it (in `unsafe`) only where the CPU has both.
#[target_feature(enable = "avx2,fma")]
pub fn scale_extexp(x: &[f32], y: &mut [f32], sum: (f32, f32)) {
    let inv = _mm256_set1_ps(1.0 / sum.0);
    let m = _mm256_set1_ps(sum.1);
    let neg_inf = _mm256_set1_ps(f32::NEG_INFINITY);
    let full = x.len() / 8 * 8;
    for i in (0..full).step_by(8) {
        let v = load(x, i);
        let (p, n) = extexp(v);
        let out = _mm256_mul_ps(_mm256_mul_ps(p, inv), exp2_nonpositive(_mm256_sub_ps(n, m)));
        let masked = _mm256_cmp_ps::<_CMP_EQ_OQ>(v, neg_inf);
        store(y, i, _mm256_andnot_ps(masked, out));
    }
    scalar::scale_extexp(&x[full..], &mut y[full..], sum);
}

/// Pass 2 in place: `y = exp(y) / sum`.
///
/// # Safety
/// Code not compiled for AVX2 and FMA may call it (in `unsafe`) only where the CPU has both.
#[target_feature(enable = "avx2,fma")]
pub fn scale_extexp_in_place(y: &mut [f32], sum: (f32, f32)) {
    let inv = _mm256_set1_ps(1.0 / sum.0);
    let m = _mm256_set1_ps(sum.1);
    let neg_inf = _mm256_set1_ps(f32::NEG_INFINITY);
    let full = y.len() / 8 * 8;
    for i in (0..full).step_by(8) {
        let v = load(y, i);
        let (p, n) = extexp(v);
        let out = _mm256_mul_ps(_mm256_mul_ps(p, inv), exp2_nonpositive(_mm256_sub_ps(n, m)));
        let masked = _mm256_cmp_ps::<_CMP_EQ_OQ>(v, neg_inf);
        store(y, i, _mm256_andnot_ps(masked, out));
    }
    scalar::scale_extexp_in_place(&mut y[full..], sum);
}

/// Three-pass softmax, pass 1: the maximum.
///
/// # Safety
/// Code not compiled for AVX2 and FMA may call it (in `unsafe`) only where the CPU has both.
#[target_feature(enable = "avx2,fma")]
pub fn max(x: &[f32]) -> f32 {
    let full = x.len() / 8 * 8;
    let mut maxes = [_mm256_set1_ps(f32::NEG_INFINITY); 4];
    let mut i = 0;
    while i + 32 <= full {
        for (k, m) in maxes.iter_mut().enumerate() {
            *m = _mm256_max_ps(*m, load(x, i + 8 * k));
        }
        i += 32;
    }
    while i < full {
        maxes[0] = _mm256_max_ps(maxes[0], load(x, i));
        i += 8;
    }
    let m4 = _mm256_max_ps(
        _mm256_max_ps(maxes[0], maxes[1]),
        _mm256_max_ps(maxes[2], maxes[3]),
    );
    lanes(m4)
        .into_iter()
        .chain(x[full..].iter().copied())
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Three-pass softmax, pass 2: `y = exp(x - max)`, returning the sum of `y`.
///
/// # Safety
/// Code not compiled for AVX2 and FMA may call it (in `unsafe`) only where the CPU has both.
#[target_feature(enable = "avx2,fma")]
pub fn exp_sum(x: &[f32], y: &mut [f32], max: f32) -> f32 {
    let full = x.len() / 8 * 8;
    let vmax = _mm256_set1_ps(max);
    let mut sums = _mm256_setzero_ps();
    for i in (0..full).step_by(8) {
        let (p, n) = extexp(_mm256_sub_ps(load(x, i), vmax));
        let e = _mm256_mul_ps(p, exp2_nonpositive(n));
        store(y, i, e);
        sums = _mm256_add_ps(sums, e);
    }
    let mut sum: f32 = lanes(sums).iter().sum();
    for (out, &v) in y[full..].iter_mut().zip(&x[full..]) {
        let (p, n) = super::extexp::extexp(v - max);
        *out = p * super::extexp::exp2_nonpositive(n);
        sum += *out;
    }
    sum
}

/// Three-pass softmax, pass 3: `y *= factor`.
///
/// # Safety
/// Code not compiled for AVX2 and FMA may call it (in `unsafe`) only where the CPU has both.
#[target_feature(enable = "avx2,fma")]
pub fn scale(y: &mut [f32], factor: f32) {
    let full = y.len() / 8 * 8;
    let inv = _mm256_set1_ps(factor);
    for i in (0..full).step_by(8) {
        let out = _mm256_mul_ps(load(y, i), inv);
        store(y, i, out);
    }
    y[full..].iter_mut().for_each(|v| *v *= factor);
}
