//! AVX-512F versions, 16 lanes. `scalef` computes `p * 2^k` for any `k` (0 for -inf, NaN for
//! NaN), which makes -inf entries vanish and NaN propagate without extra work; masked loads
//! (with -inf in the masked lanes) and masked stores handle the tails without scalar code.
//!
//! Pass 1 keeps two accumulators; each takes four vectors at a time under one shared maximum
//! exponent, so the accumulator is rescaled once per 64 elements rather than per vector.

#![allow(unsafe_op_in_unsafe_fn)]

use super::extexp::{C1, C2, C3, C4, C5, LN2_HI, LN2_LO, LOG2E, R_MAX};
use std::arch::x86_64::*;

/// 1.5 2^23: adding and subtracting it rounds an f32 below 2^22 to the nearest integer.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `(p, n)` with `exp(x) = p 2^n`. Here `n` is -inf for x = -inf and NaN for NaN; `r` is
/// clamped with NaN going first, so `p` is always finite and the special values live in `n`.
#[inline(always)]
unsafe fn extexp(x: __m512) -> (__m512, __m512) {
    // Round to nearest by the 1.5 2^23 trick: an FMA and a subtraction, which issue on two
    // ports where `roundscale` has one. Beyond 2^22 every f32 is an integer already, and
    // -inf, +inf and NaN pass through as they would through `roundscale`.
    let magic = _mm512_set1_ps(ROUND_MAGIC);
    let n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(LOG2E), magic), magic);
    let r = _mm512_fmadd_ps(n, _mm512_set1_ps(-LN2_HI), x);
    let r = _mm512_fmadd_ps(n, _mm512_set1_ps(-LN2_LO), r);
    let r = _mm512_min_ps(r, _mm512_set1_ps(R_MAX));
    let r = _mm512_max_ps(r, _mm512_set1_ps(-R_MAX));
    let mut p = _mm512_fmadd_ps(_mm512_set1_ps(C5), r, _mm512_set1_ps(C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0));
    (p, n)
}

/// An empty accumulator: its exponent is the most negative finite f32 (not -inf, so that
/// `acc_n - max` stays 0 when only -inf entries were seen).
#[inline(always)]
unsafe fn empty() -> (__m512, __m512) {
    (_mm512_setzero_ps(), _mm512_set1_ps(f32::MIN))
}

/// Adds four vectors of inputs to the accumulator under one shared maximum exponent.
#[inline(always)]
unsafe fn accumulate4(acc: (__m512, __m512), v: [__m512; 4]) -> (__m512, __m512) {
    // (No closures here: they would not inherit the caller's target features.)
    let e = [extexp(v[0]), extexp(v[1]), extexp(v[2]), extexp(v[3])];
    // max returns its second operand when one is NaN: NaN exponents win and propagate.
    let m = _mm512_max_ps(
        acc.1,
        _mm512_max_ps(_mm512_max_ps(e[0].1, e[1].1), _mm512_max_ps(e[2].1, e[3].1)),
    );
    let mut p = _mm512_scalef_ps(acc.0, _mm512_sub_ps(acc.1, m));
    for (pk, nk) in e {
        p = _mm512_add_ps(p, _mm512_scalef_ps(pk, _mm512_sub_ps(nk, m)));
    }
    (p, m)
}

#[inline(always)]
unsafe fn combine(a: (__m512, __m512), b: (__m512, __m512)) -> (__m512, __m512) {
    let m = _mm512_max_ps(a.1, b.1);
    let p = _mm512_add_ps(
        _mm512_scalef_ps(a.0, _mm512_sub_ps(a.1, m)),
        _mm512_scalef_ps(b.0, _mm512_sub_ps(b.1, m)),
    );
    (p, m)
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

/// Up to 64 elements as four vectors, -inf beyond the end.
#[inline(always)]
unsafe fn load_partial4(rest: &[f32]) -> [__m512; 4] {
    let mut v = [_mm512_set1_ps(f32::NEG_INFINITY); 4];
    for (k, part) in rest.chunks(16).enumerate() {
        v[k] = if part.len() == 16 {
            _mm512_loadu_ps(part.as_ptr())
        } else {
            load_tail(part).0
        };
    }
    v
}

/// Pass 1: the sum of exp(x) as `(p, n)`.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn sum_extexp(x: &[f32]) -> (f32, f32) {
    let (mut a, mut b) = (empty(), empty());
    let mut chunks = x.chunks_exact(128);
    for chunk in &mut chunks {
        let ptr = chunk.as_ptr();
        a = accumulate4(
            a,
            [
                _mm512_loadu_ps(ptr),
                _mm512_loadu_ps(ptr.add(16)),
                _mm512_loadu_ps(ptr.add(32)),
                _mm512_loadu_ps(ptr.add(48)),
            ],
        );
        b = accumulate4(
            b,
            [
                _mm512_loadu_ps(ptr.add(64)),
                _mm512_loadu_ps(ptr.add(80)),
                _mm512_loadu_ps(ptr.add(96)),
                _mm512_loadu_ps(ptr.add(112)),
            ],
        );
    }
    for part in chunks.remainder().chunks(64) {
        a = accumulate4(a, load_partial4(part));
    }
    let all = combine(a, b);
    // Lanes combined exactly: the largest exponent, then the scaled sum.
    let n = _mm512_reduce_max_ps(all.1);
    let p = _mm512_reduce_add_ps(_mm512_scalef_ps(
        all.0,
        _mm512_sub_ps(all.1, _mm512_set1_ps(n)),
    ));
    (p, n)
}

/// `exp(v) * inv / 2^m`: 0 where `v` is -inf.
#[inline(always)]
unsafe fn scaled(v: __m512, inv: __m512, m: __m512) -> __m512 {
    let (p, n) = extexp(v);
    _mm512_scalef_ps(_mm512_mul_ps(p, inv), _mm512_sub_ps(n, m))
}

/// Pass 2: `y = exp(x) / sum`; -inf entries give 0, and a row without any finite share (all
/// -inf) gives zeros.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn scale_extexp(x: &[f32], y: &mut [f32], sum: (f32, f32)) {
    if sum.0 == 0.0 {
        y.fill(0.0);
        return;
    }
    let inv = _mm512_set1_ps(1.0 / sum.0);
    let m = _mm512_set1_ps(sum.1);
    let full = x.len() / 16 * 16;
    let mut i = 0;
    while i + 64 <= full {
        for k in 0..4 {
            let out = scaled(_mm512_loadu_ps(x.as_ptr().add(i + 16 * k)), inv, m);
            _mm512_storeu_ps(y.as_mut_ptr().add(i + 16 * k), out);
        }
        i += 64;
    }
    while i < full {
        let out = scaled(_mm512_loadu_ps(x.as_ptr().add(i)), inv, m);
        _mm512_storeu_ps(y.as_mut_ptr().add(i), out);
        i += 16;
    }
    if full < x.len() {
        let (v, mask) = load_tail(&x[full..]);
        _mm512_mask_storeu_ps(y.as_mut_ptr().add(full), mask, scaled(v, inv, m));
    }
}

/// Pass 2 in place: `y = exp(y) / sum`.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn scale_extexp_in_place(y: &mut [f32], sum: (f32, f32)) {
    if sum.0 == 0.0 {
        y.fill(0.0);
        return;
    }
    let inv = _mm512_set1_ps(1.0 / sum.0);
    let m = _mm512_set1_ps(sum.1);
    let full = y.len() / 16 * 16;
    for i in (0..full).step_by(16) {
        let ptr = y.as_mut_ptr().add(i);
        _mm512_storeu_ps(ptr, scaled(_mm512_loadu_ps(ptr), inv, m));
    }
    if full < y.len() {
        let ptr = y.as_mut_ptr().add(full);
        let (v, mask) = load_tail(&y[full..]);
        _mm512_mask_storeu_ps(ptr, mask, scaled(v, inv, m));
    }
}

/// `exp(v - max)`.
#[inline(always)]
unsafe fn exp_shifted(v: __m512, vmax: __m512) -> __m512 {
    let (p, n) = extexp(_mm512_sub_ps(v, vmax));
    _mm512_scalef_ps(p, n)
}

/// Three-pass softmax, pass 1: the maximum.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn max(x: &[f32]) -> f32 {
    let full = x.len() / 16 * 16;
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
    if full < x.len() {
        maxes[1] = _mm512_max_ps(maxes[1], load_tail(&x[full..]).0);
    }
    _mm512_reduce_max_ps(_mm512_max_ps(
        _mm512_max_ps(maxes[0], maxes[1]),
        _mm512_max_ps(maxes[2], maxes[3]),
    ))
}

/// Three-pass softmax, pass 2: `y = exp(x - max)`, returning the sum of `y`.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn exp_sum(x: &[f32], y: &mut [f32], max: f32) -> f32 {
    let full = x.len() / 16 * 16;
    let vmax = _mm512_set1_ps(max);
    let mut sums = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= full {
        for (k, s) in sums.iter_mut().enumerate() {
            let e = exp_shifted(_mm512_loadu_ps(x.as_ptr().add(i + 16 * k)), vmax);
            _mm512_storeu_ps(y.as_mut_ptr().add(i + 16 * k), e);
            *s = _mm512_add_ps(*s, e);
        }
        i += 64;
    }
    while i < full {
        let e = exp_shifted(_mm512_loadu_ps(x.as_ptr().add(i)), vmax);
        _mm512_storeu_ps(y.as_mut_ptr().add(i), e);
        sums[0] = _mm512_add_ps(sums[0], e);
        i += 16;
    }
    if full < x.len() {
        let (v, mask) = load_tail(&x[full..]);
        let e = _mm512_maskz_mov_ps(mask, exp_shifted(v, vmax));
        _mm512_mask_storeu_ps(y.as_mut_ptr().add(full), mask, e);
        sums[1] = _mm512_add_ps(sums[1], e);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(sums[0], sums[1]),
        _mm512_add_ps(sums[2], sums[3]),
    ))
}

/// Three-pass softmax, pass 3: `y *= factor`.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn scale(y: &mut [f32], factor: f32) {
    let full = y.len() / 16 * 16;
    let factor = _mm512_set1_ps(factor);
    for i in (0..full).step_by(16) {
        let ptr = y.as_mut_ptr().add(i);
        _mm512_storeu_ps(ptr, _mm512_mul_ps(_mm512_loadu_ps(ptr), factor));
    }
    if full < y.len() {
        let mask: __mmask16 = ((1u32 << (y.len() - full)) - 1) as __mmask16;
        let ptr = y.as_mut_ptr().add(full);
        let v = _mm512_maskz_loadu_ps(mask, ptr);
        _mm512_mask_storeu_ps(ptr, mask, _mm512_mul_ps(v, factor));
    }
}
