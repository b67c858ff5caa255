//! AVX-512F versions, 16 lanes, four accumulators per lane in pass 1. `scalef` computes
//! `p * 2^k` for any `k` (underflowing to 0, NaN-preserving), and masked loads (with -inf in the
//! masked lanes, whose share vanishes) and masked stores handle the tails without scalar code.

#![allow(unsafe_op_in_unsafe_fn)]

use super::extexp::{C2, C3, C4, C5, C6, LN2_HI, LN2_LO, LOG2E, R_MAX, X_MIN};
use std::arch::x86_64::*;

const ROUND: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

#[inline(always)]
unsafe fn extexp(x: __m512) -> (__m512, __m512) {
    let n = _mm512_roundscale_ps::<ROUND>(_mm512_mul_ps(
        _mm512_max_ps(x, _mm512_set1_ps(X_MIN)),
        _mm512_set1_ps(LOG2E),
    ));
    let r = _mm512_fmadd_ps(n, _mm512_set1_ps(-LN2_HI), x);
    let r = _mm512_fmadd_ps(n, _mm512_set1_ps(-LN2_LO), r);
    // min/max return their second operand when one is NaN: r goes second to keep NaN.
    let r = _mm512_min_ps(_mm512_set1_ps(R_MAX), r);
    let r = _mm512_max_ps(_mm512_set1_ps(-R_MAX), r);
    let mut p = _mm512_fmadd_ps(_mm512_set1_ps(C6), r, _mm512_set1_ps(C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0));
    (p, n)
}

#[inline(always)]
unsafe fn add(a: (__m512, __m512), b: (__m512, __m512)) -> (__m512, __m512) {
    let n = _mm512_max_ps(a.1, b.1);
    let p = _mm512_add_ps(
        _mm512_scalef_ps(a.0, _mm512_sub_ps(a.1, n)),
        _mm512_scalef_ps(b.0, _mm512_sub_ps(b.1, n)),
    );
    (p, n)
}

/// `exp(v) * inv / 2^m`, 0 where `v` is -inf.
#[inline(always)]
unsafe fn scaled(v: __m512, inv: __m512, m: __m512, neg_inf: __m512) -> __m512 {
    let (p, n) = extexp(v);
    let out = _mm512_scalef_ps(_mm512_mul_ps(p, inv), _mm512_sub_ps(n, m));
    let keep = _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(v, neg_inf);
    _mm512_maskz_mov_ps(keep, out)
}

/// `exp(v - max)`.
#[inline(always)]
unsafe fn exp_shifted(v: __m512, vmax: __m512) -> __m512 {
    let (p, n) = extexp(_mm512_sub_ps(v, vmax));
    _mm512_scalef_ps(p, n)
}

/// The lanes of `rest.len() < 16` elements, -inf beyond.
#[inline(always)]
unsafe fn load_tail(rest: &[f32]) -> (__m512, __mmask16) {
    let mask: __mmask16 = ((1u32 << rest.len()) - 1) as __mmask16;
    (
        _mm512_mask_loadu_ps(_mm512_set1_ps(f32::NEG_INFINITY), mask, rest.as_ptr()),
        mask,
    )
}

/// Pass 1: the sum of exp(x) as `(p, n)`.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn sum_extexp(x: &[f32]) -> (f32, f32) {
    let empty = (_mm512_setzero_ps(), _mm512_set1_ps(f32::NEG_INFINITY));
    let mut acc = [empty; 4];
    let mut chunks = x.chunks_exact(64);
    for chunk in &mut chunks {
        let ptr = chunk.as_ptr();
        for (k, a) in acc.iter_mut().enumerate() {
            *a = add(*a, extexp(_mm512_loadu_ps(ptr.add(16 * k))));
        }
    }
    let mut rest = chunks.remainder();
    while !rest.is_empty() {
        let take = rest.len().min(16);
        let (v, _) = load_tail(&rest[..take]);
        acc[0] = add(acc[0], extexp(v));
        rest = &rest[take..];
    }
    let all = add(add(acc[0], acc[1]), add(acc[2], acc[3]));
    // Lanes combined exactly: max exponent, then the scaled sum.
    let n = _mm512_reduce_max_ps(all.1);
    if n == f32::NEG_INFINITY {
        return (0.0, n);
    }
    let p = _mm512_reduce_add_ps(_mm512_scalef_ps(
        all.0,
        _mm512_sub_ps(all.1, _mm512_set1_ps(n)),
    ));
    (p, n)
}

/// Pass 2: `y = exp(x) / sum`; -inf entries give 0.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn scale_extexp(x: &[f32], y: &mut [f32], sum: (f32, f32)) {
    let inv = _mm512_set1_ps(1.0 / sum.0);
    let m = _mm512_set1_ps(sum.1);
    let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
    let full = x.len() / 16 * 16;
    for i in (0..full).step_by(16) {
        let out = scaled(_mm512_loadu_ps(x.as_ptr().add(i)), inv, m, neg_inf);
        _mm512_storeu_ps(y.as_mut_ptr().add(i), out);
    }
    if full < x.len() {
        let (v, mask) = load_tail(&x[full..]);
        _mm512_mask_storeu_ps(y.as_mut_ptr().add(full), mask, scaled(v, inv, m, neg_inf));
    }
}

/// Three passes with the same exp: max, exp(x - max) stored and summed, scale.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn three_pass(x: &[f32], y: &mut [f32]) {
    let full = x.len() / 16 * 16;
    let tail = (full < x.len()).then(|| load_tail(&x[full..]));
    let mut maxes = [_mm512_set1_ps(f32::NEG_INFINITY); 4];
    let mut i = 0;
    while i + 64 <= full {
        for (k, m) in maxes.iter_mut().enumerate() {
            *m = _mm512_max_ps(*m, _mm512_loadu_ps(x.as_ptr().add(i + 16 * k)));
        }
        i += 64;
    }
    while i < full {
        maxes[0] = _mm512_max_ps(maxes[0], _mm512_loadu_ps(x.as_ptr().add(i)));
        i += 16;
    }
    if let Some((v, _)) = tail {
        maxes[1] = _mm512_max_ps(maxes[1], v);
    }
    let max = _mm512_reduce_max_ps(_mm512_max_ps(
        _mm512_max_ps(maxes[0], maxes[1]),
        _mm512_max_ps(maxes[2], maxes[3]),
    ));
    if max == f32::NEG_INFINITY {
        y.fill(0.0);
        return;
    }
    let vmax = _mm512_set1_ps(max);
    let mut sums = _mm512_setzero_ps();
    for i in (0..full).step_by(16) {
        let e = exp_shifted(_mm512_loadu_ps(x.as_ptr().add(i)), vmax);
        _mm512_storeu_ps(y.as_mut_ptr().add(i), e);
        sums = _mm512_add_ps(sums, e);
    }
    if let Some((v, mask)) = tail {
        let e = _mm512_maskz_mov_ps(mask, exp_shifted(v, vmax));
        _mm512_mask_storeu_ps(y.as_mut_ptr().add(full), mask, e);
        sums = _mm512_add_ps(sums, e);
    }
    let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(sums));
    for i in (0..full).step_by(16) {
        let ptr = y.as_mut_ptr().add(i);
        _mm512_storeu_ps(ptr, _mm512_mul_ps(_mm512_loadu_ps(ptr), inv));
    }
    if let Some((_, mask)) = tail {
        let ptr = y.as_mut_ptr().add(full);
        let v = _mm512_maskz_loadu_ps(mask, ptr);
        _mm512_mask_storeu_ps(ptr, mask, _mm512_mul_ps(v, inv));
    }
}
