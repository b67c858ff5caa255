//! AVX-512F versions, 16 lanes. `scalef` computes `p * 2^k` for any `k` (0 for -inf, NaN for
//! NaN), which makes -inf entries vanish and NaN propagate without extra work; masked loads
//! (with -inf in the masked lanes) and masked stores handle the tails without scalar code.
//!
//! Pass 1 keeps two accumulators; each takes four vectors at a time under one shared maximum
//! exponent, so the accumulator is rescaled once per 64 elements rather than per vector.

use super::extexp::{C1, C2, C3, C4, C5, LN2_HI, LN2_LO, LOG2E, R_MAX};
use std::arch::x86_64::*;

/// 1.5 2^23: adding and subtracting it rounds an f32 below 2^22 to the nearest integer.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `(p, n)` with `exp(x) = p 2^n`. Here `n` is -inf for x = -inf and NaN for NaN; `r` is
/// clamped with NaN going first, so `p` is always finite and the special values live in `n`.
#[inline]
#[target_feature(enable = "avx512f")]
fn extexp(x: __m512) -> (__m512, __m512) {
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
#[inline]
#[target_feature(enable = "avx512f")]
fn empty() -> (__m512, __m512) {
    (_mm512_setzero_ps(), _mm512_set1_ps(f32::MIN))
}

/// Adds four vectors of inputs to the accumulator under one shared maximum exponent.
#[inline]
#[target_feature(enable = "avx512f")]
fn accumulate4(acc: (__m512, __m512), v: [__m512; 4]) -> (__m512, __m512) {
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

#[inline]
#[target_feature(enable = "avx512f")]
fn combine(a: (__m512, __m512), b: (__m512, __m512)) -> (__m512, __m512) {
    let m = _mm512_max_ps(a.1, b.1);
    let p = _mm512_add_ps(
        _mm512_scalef_ps(a.0, _mm512_sub_ps(a.1, m)),
        _mm512_scalef_ps(b.0, _mm512_sub_ps(b.1, m)),
    );
    (p, m)
}

/// The mask of the first `len <= 16` lanes.
#[inline]
fn tail_mask(len: usize) -> __mmask16 {
    assert!(len <= 16, "a tail of {len} lanes");
    ((1u32 << len) - 1) as __mmask16
}

/// The lanes of `rest.len() <= 16` elements, -inf beyond.
#[inline]
#[target_feature(enable = "avx512f")]
fn load_tail(rest: &[f32]) -> (__m512, __mmask16) {
    let mask = tail_mask(rest.len());
    // SAFETY: the mask selects the first `rest.len()` lanes, all inside `rest`; masked-off
    // lanes are not read (AVX-512 suppresses their faults).
    let v = unsafe { _mm512_mask_loadu_ps(_mm512_set1_ps(f32::NEG_INFINITY), mask, rest.as_ptr()) };
    (v, mask)
}

/// Writes the lanes of `mask` (from [`tail_mask`] of `rest.len()`) to `rest`.
#[inline]
#[target_feature(enable = "avx512f")]
fn store_tail(rest: &mut [f32], mask: __mmask16, v: __m512) {
    assert_eq!(mask, tail_mask(rest.len()), "the mask of another tail");
    // SAFETY: the mask selects the first `rest.len()` lanes, all inside `rest`; masked-off
    // lanes are not written.
    unsafe { _mm512_mask_storeu_ps(rest.as_mut_ptr(), mask, v) }
}

/// 16 lanes from `x[i..i + 16]` (bounds checked).
#[inline]
#[target_feature(enable = "avx512f")]
fn load(x: &[f32], i: usize) -> __m512 {
    let lanes = &x[i..i + 16];
    // SAFETY: `lanes` holds 16 readable f32s; unaligned loads need no alignment.
    unsafe { _mm512_loadu_ps(lanes.as_ptr()) }
}

/// Writes 16 lanes to `y[i..i + 16]` (bounds checked).
#[inline]
#[target_feature(enable = "avx512f")]
fn store(y: &mut [f32], i: usize, v: __m512) {
    let lanes = &mut y[i..i + 16];
    // SAFETY: `lanes` holds 16 writable f32s; unaligned stores need no alignment.
    unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), v) }
}

/// Up to 64 elements as four vectors, -inf beyond the end.
#[inline]
#[target_feature(enable = "avx512f")]
fn load_partial4(rest: &[f32]) -> [__m512; 4] {
    let mut v = [_mm512_set1_ps(f32::NEG_INFINITY); 4];
    for (k, part) in rest.chunks(16).enumerate() {
        v[k] = if part.len() == 16 {
            load(part, 0)
        } else {
            load_tail(part).0
        };
    }
    v
}

/// Pass 1: the sum of exp(x) as `(p, n)`.
///
/// # Safety
/// Code not compiled for AVX-512F may call it (in `unsafe`) only where the CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub fn sum_extexp(x: &[f32]) -> (f32, f32) {
    let (mut a, mut b) = (empty(), empty());
    let mut chunks = x.chunks_exact(128);
    for chunk in &mut chunks {
        let c = chunk;
        a = accumulate4(a, [load(c, 0), load(c, 16), load(c, 32), load(c, 48)]);
        b = accumulate4(b, [load(c, 64), load(c, 80), load(c, 96), load(c, 112)]);
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
#[inline]
#[target_feature(enable = "avx512f")]
fn scaled(v: __m512, inv: __m512, m: __m512) -> __m512 {
    let (p, n) = extexp(v);
    _mm512_scalef_ps(_mm512_mul_ps(p, inv), _mm512_sub_ps(n, m))
}

/// Pass 2: `y = exp(x) / sum`; -inf entries give 0, and a row without any finite share (all
/// -inf) gives zeros.
///
/// # Safety
/// Code not compiled for AVX-512F may call it (in `unsafe`) only where the CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub fn scale_extexp(x: &[f32], y: &mut [f32], sum: (f32, f32)) {
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
            store(y, i + 16 * k, scaled(load(x, i + 16 * k), inv, m));
        }
        i += 64;
    }
    while i < full {
        store(y, i, scaled(load(x, i), inv, m));
        i += 16;
    }
    if full < x.len() {
        let (v, mask) = load_tail(&x[full..]);
        store_tail(&mut y[full..], mask, scaled(v, inv, m));
    }
}

/// Pass 2 in place: `y = exp(y) / sum`.
///
/// # Safety
/// Code not compiled for AVX-512F may call it (in `unsafe`) only where the CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub fn scale_extexp_in_place(y: &mut [f32], sum: (f32, f32)) {
    if sum.0 == 0.0 {
        y.fill(0.0);
        return;
    }
    let inv = _mm512_set1_ps(1.0 / sum.0);
    let m = _mm512_set1_ps(sum.1);
    let full = y.len() / 16 * 16;
    for i in (0..full).step_by(16) {
        let out = scaled(load(y, i), inv, m);
        store(y, i, out);
    }
    if full < y.len() {
        let (v, mask) = load_tail(&y[full..]);
        store_tail(&mut y[full..], mask, scaled(v, inv, m));
    }
}

/// `exp(v - max)`.
#[inline]
#[target_feature(enable = "avx512f")]
fn exp_shifted(v: __m512, vmax: __m512) -> __m512 {
    let (p, n) = extexp(_mm512_sub_ps(v, vmax));
    _mm512_scalef_ps(p, n)
}

/// Three-pass softmax, pass 1: the maximum.
///
/// # Safety
/// Code not compiled for AVX-512F may call it (in `unsafe`) only where the CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub fn max(x: &[f32]) -> f32 {
    let full = x.len() / 16 * 16;
    let mut maxes = [_mm512_set1_ps(f32::NEG_INFINITY); 4];
    let mut i = 0;
    while i + 64 <= full {
        for (k, m) in maxes.iter_mut().enumerate() {
            *m = _mm512_max_ps(*m, load(x, i + 16 * k));
        }
        i += 64;
    }
    while i < full {
        maxes[0] = _mm512_max_ps(maxes[0], load(x, i));
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
/// Code not compiled for AVX-512F may call it (in `unsafe`) only where the CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub fn exp_sum(x: &[f32], y: &mut [f32], max: f32) -> f32 {
    let full = x.len() / 16 * 16;
    let vmax = _mm512_set1_ps(max);
    let mut sums = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= full {
        for (k, s) in sums.iter_mut().enumerate() {
            let e = exp_shifted(load(x, i + 16 * k), vmax);
            store(y, i + 16 * k, e);
            *s = _mm512_add_ps(*s, e);
        }
        i += 64;
    }
    while i < full {
        let e = exp_shifted(load(x, i), vmax);
        store(y, i, e);
        sums[0] = _mm512_add_ps(sums[0], e);
        i += 16;
    }
    if full < x.len() {
        let (v, mask) = load_tail(&x[full..]);
        let e = _mm512_maskz_mov_ps(mask, exp_shifted(v, vmax));
        store_tail(&mut y[full..], mask, e);
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
/// Code not compiled for AVX-512F may call it (in `unsafe`) only where the CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub fn scale(y: &mut [f32], factor: f32) {
    let full = y.len() / 16 * 16;
    let factor = _mm512_set1_ps(factor);
    for i in (0..full).step_by(16) {
        let out = _mm512_mul_ps(load(y, i), factor);
        store(y, i, out);
    }
    if full < y.len() {
        let (v, mask) = load_tail(&y[full..]);
        store_tail(&mut y[full..], mask, _mm512_mul_ps(v, factor));
    }
}
