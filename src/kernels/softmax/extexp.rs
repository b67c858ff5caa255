//! exp(x) in extended-exponent form, `exp(x) = p * 2^n` with `p` in about [0.7, 1.42] and the
//! exponent `n` kept as an f32 (so it cannot overflow for any finite x): the representation the
//! two-pass softmax accumulates in. Scalar version; the SIMD versions use the same constants.
//!
//! `n = round(x / ln 2)`, `r = x - n ln 2` by Cody-Waite with FMA (two-constant ln 2), then a
//! degree-5 polynomial on |r| <= ln2/2 (relative error < 1.7e-7). `r` is clamped
//! to that interval, so even for |x| ~ 1e30, where the reduction is inexact, `p` stays finite
//! and equal inputs give equal `(p, n)` (then the softmax is decided by `n` alone, which is
//! exact: entries below the maximum by more than the f32 resolution vanish). x = -inf is
//! mapped to `n = -1.4e37` (its share vanishes); NaN propagates through `p`.

pub const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split for Cody-Waite: `LN2_HI` has trailing zero bits, `LN2_LO` the rest.
pub const LN2_HI: f32 = 0.693_145_75;
pub const LN2_LO: f32 = 1.428_606_8e-6;
/// |r| is clamped to this (just above ln2/2).
pub const R_MAX: f32 = 0.347;
/// Inputs are clamped below here before computing `n` (so -inf gives a finite exponent).
pub const X_MIN: f32 = -1.0e37;
/// Degree-5 polynomial for exp on |r| <= ln2/2, fitted for minimal relative error (our own
/// Lawson-weighted least-squares fit; 1.7e-7 max relative error evaluated in f32 Horner form).
pub const C1: f32 = 0.999_999_7;
pub const C2: f32 = 0.499_991_5;
pub const C3: f32 = 0.166_676_37;
pub const C4: f32 = 0.041_897_964;
pub const C5: f32 = 0.008_290_309;

/// `(p, n)` with `exp(x) = p * 2^n`.
#[inline(always)]
pub fn extexp(x: f32) -> (f32, f32) {
    let n = (x.max(X_MIN) * LOG2E).round_ties_even();
    let r = n.mul_add(-LN2_HI, x);
    let r = n.mul_add(-LN2_LO, r);
    // f32::clamp keeps NaN, as the SIMD versions do.
    let r = r.clamp(-R_MAX, R_MAX);
    let p = C5.mul_add(r, C4);
    let p = p.mul_add(r, C3);
    let p = p.mul_add(r, C2);
    let p = p.mul_add(r, C1);
    let p = p.mul_add(r, 1.0);
    (p, n)
}

/// `2^k` for an integral `k <= 0` (0 below the normal range; NaN gives 0, the NaN lives in `p`).
#[inline(always)]
pub fn exp2_nonpositive(k: f32) -> f32 {
    if k >= -126.0 {
        f32::from_bits((((k as i32) + 127) as u32) << 23)
    } else {
        0.0
    }
}

/// `(p_a, n_a) + (p_b, n_b)` in the same representation.
#[inline(always)]
pub fn add(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    let n = a.1.max(b.1);
    (
        a.0 * exp2_nonpositive(a.1 - n) + b.0 * exp2_nonpositive(b.1 - n),
        n,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_f64_exp_over_the_normal_range() {
        let mut worst = 0.0f64;
        for i in -8000..8000 {
            let x = i as f32 * 0.0107;
            let (p, n) = extexp(x);
            let got = p as f64 * 2f64.powf(n as f64);
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "{worst:e}");
    }

    #[test]
    fn extremes_stay_finite_and_ordered() {
        let (p, n) = extexp(1e30);
        assert!(p.is_finite() && p > 0.5 && n > 1e29);
        let (p, n) = extexp(f32::NEG_INFINITY);
        assert!(p.is_finite() && n < -1e36);
        assert!(extexp(f32::NAN).0.is_nan());
        assert_eq!(exp2_nonpositive(0.0), 1.0);
        assert_eq!(exp2_nonpositive(-3.0), 0.125);
        assert_eq!(exp2_nonpositive(-1e30), 0.0);
    }
}
