//! Softmax by "The Two-Pass Softmax Algorithm" (Dukhan & Ablavatski, 2020).
//!
//! The usual softmax reads its input three times (max, exp-and-sum, scale). The two-pass
//! algorithm never computes the maximum: pass 1 sums `exp(x_i)` in an extended-exponent
//! representation `p * 2^n` with the exponent kept as an f32 ([`extexp`]), which cannot
//! overflow for any finite input; pass 2 recomputes each `exp(x_i)` and scales it by the
//! inverse sum in the same representation. Two reads and one write instead of three reads and
//! one or two writes.
//!
//! Layout like llm.c's kernels: [`reference`] (f64, three passes), [`scalar`] (portable, also
//! the SIMD tails), [`avx2`] and [`avx512`] (runtime-dispatched), the same-SIMD three-pass
//! kernels for comparison, correctness tests against the reference, and `stoke bench softmax`.
//!
//! Semantics: finite rows match the three-pass result (max relative error vs f64 < 2e-6,
//! tested); `-inf` entries give exactly 0; a row of only `-inf` gives zeros (not NaN); NaN or
//! `+inf` in a row gives NaN for the row; |x| up to 1e30 neither overflows nor loses accuracy.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod backend;
#[cfg(feature = "cube-kernels")]
pub mod cube;
pub mod extexp;
pub mod reference;
pub mod scalar;

use burn::backend::Dispatch;
use burn::tensor::{Device, FloatDType, Tensor};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether [`softmax`] uses Burn's built-in softmax instead of the two-pass kernel
/// (`kernels.softmax = "builtin"` in a run config), to compare the two.
static USE_BUILTIN: AtomicBool = AtomicBool::new(false);

/// Selects the softmax stoke's models and losses call, for the whole process.
pub fn use_builtin(builtin: bool) {
    USE_BUILTIN.store(builtin, Ordering::Relaxed);
}

/// Whether this device runs a two-pass kernel (flex, or a cubecl device such as wgpu; with or
/// without autodiff); others get Burn's built-in softmax.
pub fn has_kernel(device: &Device) -> bool {
    let inner = device.clone().inner();
    #[cfg(feature = "flex")]
    if inner == Device::flex() {
        return true;
    }
    #[cfg(feature = "cube-kernels")]
    if matches!(inner.as_dispatch(), burn::backend::DispatchDevice::Cube(_)) {
        return true;
    }
    let _ = inner;
    false
}

/// Softmax along `dim`: the two-pass kernel where the backend has it, Burn's built-in softmax
/// elsewhere or when `kernels.softmax = "builtin"`. What stoke's models and losses call.
/// Computes in f32 whatever the input's precision (autocast's rule for softmax; the kernels
/// read f32), and returns the input's precision.
pub fn softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let dtype = FloatDType::from(x.dtype());
    if dtype != FloatDType::F32 {
        return softmax(x.cast(FloatDType::F32), dim).cast(dtype);
    }
    if USE_BUILTIN.load(Ordering::Relaxed) || !has_kernel(&x.device()) {
        return burn::tensor::activation::softmax(x, dim);
    }
    Tensor::from_dispatch(<Dispatch as backend::TwoPassSoftmax>::two_pass_softmax(
        x.into_dispatch(),
        dim,
    ))
}

/// An implementation of the row kernels that this CPU runs. Only [`Version::available`],
/// [`Version::best`] and [`Version::scalar`] make one, so holding a `Version` proves the CPU
/// has its instructions: the safe methods below rely on that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version(Isa);

/// The instruction set of a [`Version`] (private: not constructible from outside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Version {
    /// The portable version (every CPU).
    pub fn scalar() -> Version {
        Version(Isa::Scalar)
    }

    /// The fastest version this CPU supports.
    pub fn best() -> Version {
        *Self::available()
            .last()
            .expect("scalar is always available")
    }

    /// Every version this CPU supports, slowest first.
    pub fn available() -> Vec<Version> {
        let mut versions = vec![Version(Isa::Scalar)];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                versions.push(Version(Isa::Avx2));
            }
            if is_x86_feature_detected!("avx512f") {
                versions.push(Version(Isa::Avx512));
            }
        }
        versions
    }

    /// The version called `name` (scalar, avx2, avx512) if this CPU supports it.
    pub fn named(name: &str) -> Option<Version> {
        Self::available().into_iter().find(|v| v.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            Isa::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "avx512",
        }
    }

    /// Pass 1 on a slice, summed pairwise over blocks so that the rounding error grows with
    /// the logarithm of the length, not the length.
    pub fn sum_extexp(self, x: &[f32]) -> (f32, f32) {
        if x.len() <= SUM_BLOCK {
            return self.sum_block(x);
        }
        let mid = (x.len() / 2).next_multiple_of(64);
        extexp::add(self.sum_extexp(&x[..mid]), self.sum_extexp(&x[mid..]))
    }

    fn sum_block(self, x: &[f32]) -> (f32, f32) {
        match self.0 {
            Isa::Scalar => scalar::sum_extexp(x),
            // SAFETY: only `available()` makes an Avx2 version, after detecting AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2::sum_extexp(x) },
            // SAFETY: only `available()` makes an Avx512 version, after detecting AVX-512F.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::sum_extexp(x) },
        }
    }

    /// Pass 2 on a slice; `x` and `y` must have one length (else it panics).
    pub fn scale_extexp(self, x: &[f32], y: &mut [f32], sum: (f32, f32)) {
        assert_eq!(x.len(), y.len(), "softmax: input and output lengths differ");
        match self.0 {
            Isa::Scalar => scalar::scale_extexp(x, y, sum),
            // SAFETY: only `available()` makes an Avx2 version, after detecting AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2::scale_extexp(x, y, sum) },
            // SAFETY: only `available()` makes an Avx512 version, after detecting AVX-512F.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::scale_extexp(x, y, sum) },
        }
    }

    /// Pass 2 in place.
    pub fn scale_extexp_in_place(self, y: &mut [f32], sum: (f32, f32)) {
        match self.0 {
            Isa::Scalar => scalar::scale_extexp_in_place(y, sum),
            // SAFETY: only `available()` makes an Avx2 version, after detecting AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2::scale_extexp_in_place(y, sum) },
            // SAFETY: only `available()` makes an Avx512 version, after detecting AVX-512F.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::scale_extexp_in_place(y, sum) },
        }
    }

    /// The two-pass softmax of one row; `x` and `y` must have one length (else it panics).
    pub fn two_pass(self, x: &[f32], y: &mut [f32]) {
        assert_eq!(x.len(), y.len(), "softmax: input and output lengths differ");
        let sum = self.sum_extexp(x);
        self.scale_extexp(x, y, sum);
    }

    /// The three-pass softmax of one row with the same exp (for comparisons); `x` and `y`
    /// must have one length (else it panics).
    pub fn three_pass(self, x: &[f32], y: &mut [f32]) {
        assert_eq!(x.len(), y.len(), "softmax: input and output lengths differ");
        let max = self.max(x);
        if max == f32::NEG_INFINITY {
            y.fill(0.0);
            return;
        }
        let sum = self.exp_sum(x, y, max);
        self.scale(y, 1.0 / sum);
    }

    /// Three-pass, pass 1: the maximum of a slice.
    pub fn max(self, x: &[f32]) -> f32 {
        match self.0 {
            Isa::Scalar => scalar::max(x),
            // SAFETY: only `available()` makes an Avx2 version, after detecting AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2::max(x) },
            // SAFETY: only `available()` makes an Avx512 version, after detecting AVX-512F.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::max(x) },
        }
    }

    /// Three-pass, pass 2: `y = exp(x - max)` on a slice, returning its sum; `x` and `y` must
    /// have one length (else it panics).
    pub fn exp_sum(self, x: &[f32], y: &mut [f32], max: f32) -> f32 {
        assert_eq!(x.len(), y.len(), "softmax: input and output lengths differ");
        match self.0 {
            Isa::Scalar => scalar::exp_sum(x, y, max),
            // SAFETY: only `available()` makes an Avx2 version, after detecting AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2::exp_sum(x, y, max) },
            // SAFETY: only `available()` makes an Avx512 version, after detecting AVX-512F.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::exp_sum(x, y, max) },
        }
    }

    /// Three-pass, pass 3: `y *= factor` on a slice.
    pub fn scale(self, y: &mut [f32], factor: f32) {
        match self.0 {
            Isa::Scalar => scalar::scale(y, factor),
            // SAFETY: only `available()` makes an Avx2 version, after detecting AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2::scale(y, factor) },
            // SAFETY: only `available()` makes an Avx512 version, after detecting AVX-512F.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::scale(y, factor) },
        }
    }
}

/// Pass 1 sums blocks of this many elements with the SIMD accumulators, then pairwise.
const SUM_BLOCK: usize = 1024;
/// Rows at least this long are split across threads themselves (when there are fewer rows
/// than threads). Shorter rows fit in L2, and waking a second thread for two short passes
/// costs more than it saves (measured: a single 1e5-element row ran 2.5x slower split).
const SPLIT_ROW: usize = 1 << 18;
/// Work per task when many short rows are spread over threads.
const TASK_ELEMENTS: usize = 1 << 14;

/// Which algorithm [`softmax_rows`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    TwoPass,
    ThreePass,
}

/// Softmax of each contiguous row of `row_len` elements of `x` into `y`, on all threads.
pub fn softmax_rows(
    x: &[f32],
    y: &mut [f32],
    row_len: usize,
    version: Version,
    algorithm: Algorithm,
) {
    assert_eq!(x.len(), y.len(), "softmax: input and output lengths differ");
    if row_len == 0 || x.is_empty() {
        return;
    }
    assert_eq!(
        x.len() % row_len,
        0,
        "softmax: length is not a multiple of the row"
    );
    let row = |x: &[f32], y: &mut [f32]| match algorithm {
        Algorithm::TwoPass => version.two_pass(x, y),
        Algorithm::ThreePass => version.three_pass(x, y),
    };
    let rows = x.len() / row_len;
    let threads = rayon::current_num_threads();
    // Split rows themselves only when there are too few rows to give every thread some.
    if row_len >= SPLIT_ROW && threads > 1 && rows < threads {
        // Long rows: every pass splits the row; partial results combine exactly.
        let piece = row_len.div_ceil(threads).next_multiple_of(64);
        for (xr, yr) in x.chunks(row_len).zip(y.chunks_mut(row_len)) {
            match algorithm {
                Algorithm::TwoPass => two_pass_split(xr, yr, piece, version),
                Algorithm::ThreePass => three_pass_split(xr, yr, piece, version),
            }
        }
        return;
    }
    let rows_per_task = (TASK_ELEMENTS / row_len).max(1);
    x.par_chunks(rows_per_task * row_len)
        .zip(y.par_chunks_mut(rows_per_task * row_len))
        .for_each(|(xs, ys)| {
            for (xr, yr) in xs.chunks(row_len).zip(ys.chunks_mut(row_len)) {
                row(xr, yr);
            }
        });
}

/// The two-pass softmax of one long row, each pass split into `piece`s across threads.
fn two_pass_split(x: &[f32], y: &mut [f32], piece: usize, version: Version) {
    let sum = x
        .par_chunks(piece)
        .map(|part| version.sum_extexp(part))
        .reduce(|| (0.0, f32::NEG_INFINITY), extexp::add);
    x.par_chunks(piece)
        .zip(y.par_chunks_mut(piece))
        .for_each(|(xp, yp)| version.scale_extexp(xp, yp, sum));
}

/// The same-SIMD three-pass softmax of one long row, split like [`two_pass_split`] (so the
/// comparison uses the same threads).
fn three_pass_split(x: &[f32], y: &mut [f32], piece: usize, version: Version) {
    let max = x
        .par_chunks(piece)
        .map(|part| version.max(part))
        .reduce(|| f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        y.fill(0.0);
        return;
    }
    let sum: f32 = x
        .par_chunks(piece)
        .zip(y.par_chunks_mut(piece))
        .map(|(xp, yp)| version.exp_sum(xp, yp, max))
        .sum();
    let inv = 1.0 / sum;
    y.par_chunks_mut(piece)
        .for_each(|part| version.scale(part, inv));
}

/// [`softmax_rows`] overwriting its input (the two-pass algorithm reads each element once
/// more in pass 2 before writing it, so no second buffer is needed).
pub fn softmax_rows_in_place(data: &mut [f32], row_len: usize, version: Version) {
    if row_len == 0 || data.is_empty() {
        return;
    }
    assert_eq!(
        data.len() % row_len,
        0,
        "softmax: length is not a multiple of the row"
    );
    let threads = rayon::current_num_threads();
    if row_len >= SPLIT_ROW && threads > 1 && data.len() / row_len < threads {
        let piece = row_len.div_ceil(threads).next_multiple_of(64);
        for row in data.chunks_mut(row_len) {
            let sum = row
                .par_chunks(piece)
                .map(|part| version.sum_extexp(part))
                .reduce(|| (0.0, f32::NEG_INFINITY), extexp::add);
            row.par_chunks_mut(piece)
                .for_each(|part| version.scale_extexp_in_place(part, sum));
        }
        return;
    }
    let rows_per_task = (TASK_ELEMENTS / row_len).max(1);
    data.par_chunks_mut(rows_per_task * row_len)
        .for_each(|rows| {
            for row in rows.chunks_mut(row_len) {
                let sum = version.sum_extexp(row);
                version.scale_extexp_in_place(row, sum);
            }
        });
}

#[cfg(test)]
mod tests;
