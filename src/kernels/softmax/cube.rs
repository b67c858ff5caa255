//! The two-pass softmax as a CubeCL kernel, for Burn's cubecl backend (wgpu: Vulkan, OpenGL,
//! Metal; CUDA). One workgroup ("cube") per row, for any row length:
//!
//! - pass 1: each unit strides over the row and keeps the sum of `exp(x)` as `(p, n)` with
//!   `exp(x) = p 2^n` (the same extended-exponent form and constants as the CPU kernels in
//!   [`super::extexp`]); the units' partial sums are combined by a tree in shared memory;
//! - pass 2: each unit recomputes `exp(x)` for its elements and scales it by the inverse sum.
//!
//! No maximum pass. The semantics are those of the scalar CPU kernel: `-inf` gives 0, a row of
//! only `-inf` gives zeros, NaN or `+inf` in a row gives NaN for the row, outputs below 2^-126
//! flush to zero. Special values are tested explicitly rather than left to `min`/`max`, whose
//! NaN behaviour GPU languages leave undefined; WGSL has no literal for NaN or infinities, so
//! the NaN is made by reinterpreting bits.

use super::extexp::{C1, C2, C3, C4, C5, LN2_HI, LN2_LO, LOG2E, R_MAX};
use burn::backend::TensorMetadata;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

/// The exponent of an empty accumulator: finite, below any real exponent.
const EMPTY_EXPONENT: f32 = -3.0e38;
/// Inputs are clamped to +-this before computing the exponent, so `x * log2(e)` stays finite.
const X_LIMIT: f32 = 1.0e37;
/// The bits of a quiet NaN.
const NAN_BITS: u32 = 0x7fc0_0000;
/// Units per workgroup (a power of two, for the tree reduction), at most.
const UNITS: u32 = 256;

/// `n = round(x log2 e)`: the exponent of `exp(x) = p 2^n`.
#[cube]
fn exponent(x: f32) -> f32 {
    (clamp(x, -X_LIMIT, X_LIMIT) * LOG2E).round()
}

/// `p = exp(x - n ln 2)` by Cody-Waite reduction and a degree-5 polynomial.
#[cube]
fn mantissa(x: f32, n: f32) -> f32 {
    let r = fma(n, -LN2_HI, x);
    // The same n, but a value the shader compiler cannot prove equal to it: without it,
    // Mesa's inexact-math rules turn `n a + n b` into `n (a + b)`, which rounds the product
    // and costs |x| 2^-24 of accuracy (measured: 4e-6 at |x| = 72 on llvmpipe).
    let n_again = f32::cast_from(i32::cast_from(n));
    let r = fma(n_again, -LN2_LO, r);
    let r = clamp(r, -R_MAX, R_MAX);
    let p = fma(C5, r, C4);
    let p = fma(p, r, C3);
    let p = fma(p, r, C2);
    let p = fma(p, r, C1);
    fma(p, r, 1.0f32)
}

/// `2^k` for an integral `k <= 0`, exactly (from the bits; `exp2` is not exact on GPUs);
/// 0 below the normal range.
#[cube]
fn exp2_nonpositive(k: f32) -> f32 {
    let mut out = f32::new(0.0);
    if k >= -126.0f32 {
        let bits = u32::cast_from(k + 127.0f32) << 23u32;
        out = f32::reinterpret(bits);
    }
    out
}

/// Whether `x` makes the whole row NaN (NaN or `+inf`).
#[cube]
fn poisons(x: f32) -> bool {
    x.is_nan() || (x.is_inf() && x > 0.0f32)
}

/// Softmax of each contiguous row of `row_len` elements; one workgroup per row.
#[cube(launch)]
fn two_pass_softmax_kernel(
    input: &Tensor<f32>,
    output: &mut Tensor<f32>,
    row_len: u32,
    rows: u32,
    #[comptime] units: usize,
) {
    let row = CUBE_POS_Y * CUBE_COUNT_X + CUBE_POS_X;
    // The whole workgroup leaves together, so the barriers below stay uniform.
    if row >= rows {
        terminate!();
    }
    let len = row_len as usize;
    let base = row as usize * len;
    let unit = UNIT_POS_X as usize;
    let stride = CUBE_DIM_X as usize;

    // Pass 1: this unit's share of the sum, as (p, n), and whether it saw NaN or +inf.
    let mut acc_p = f32::new(0.0);
    let mut acc_n = f32::new(EMPTY_EXPONENT);
    let mut poisoned = u32::new(0);
    let mut i = unit;
    while i < len {
        let x = input[base + i];
        if poisons(x) {
            poisoned = u32::new(1);
        } else if !x.is_inf() {
            let n = exponent(x);
            let p = mantissa(x, n);
            if n > acc_n {
                acc_p = acc_p * exp2_nonpositive(acc_n - n) + p;
                acc_n = n;
            } else {
                acc_p += p * exp2_nonpositive(n - acc_n);
            }
        }
        i += stride;
    }

    // Combine the units' shares: a tree over shared memory.
    let mut shared_p = Shared::<[f32]>::new_slice(units);
    let mut shared_n = Shared::<[f32]>::new_slice(units);
    let mut shared_poison = Shared::<[u32]>::new_slice(units);
    shared_p[unit] = acc_p;
    shared_n[unit] = acc_n;
    shared_poison[unit] = poisoned;
    sync_cube();
    // A runtime loop counter (a comptime one would be evaluated while expanding the kernel).
    let mut half = CUBE_DIM_X / 2;
    while half > 0 {
        if UNIT_POS_X < half {
            let other = unit + half as usize;
            let pa = shared_p[unit];
            let na = shared_n[unit];
            let pb = shared_p[other];
            let nb = shared_n[other];
            let n = max(na, nb);
            shared_p[unit] = pa * exp2_nonpositive(na - n) + pb * exp2_nonpositive(nb - n);
            shared_n[unit] = n;
            shared_poison[unit] = max(shared_poison[unit], shared_poison[other]);
        }
        sync_cube();
        half /= 2;
    }
    let inv = 1.0f32 / shared_p[0];
    let sum_n = shared_n[0];
    let nan = f32::reinterpret(NAN_BITS);
    let row_poisoned = shared_poison[0] > 0u32;

    // Pass 2: y = exp(x) / sum, recomputed.
    let mut i = unit;
    while i < len {
        let x = input[base + i];
        let mut y = f32::new(0.0);
        if row_poisoned {
            y = nan;
        } else if !x.is_inf() {
            let n = exponent(x);
            y = mantissa(x, n) * inv * exp2_nonpositive(n - sum_n);
        }
        output[base + i] = y;
        i += stride;
    }
}

/// Softmax along `dim` of an f32 tensor on a cubecl device.
pub fn softmax(x: CubeTensor, dim: usize) -> CubeTensor {
    let shape = x.shape();
    let last = shape.num_dims() - 1;
    assert!(
        dim <= last,
        "softmax: dim {dim} of a rank-{} tensor",
        last + 1
    );
    // Rows along `dim`: move it last and make the rows contiguous, then move it back.
    let mut axes: Vec<usize> = (0..=last).collect();
    axes.swap(dim, last);
    let moved = if dim == last {
        x
    } else {
        burn_cubecl::ops::permute(x, &axes)
    };
    let input = into_contiguous(moved);
    let moved_shape = input.shape();
    let row_len = moved_shape[last];
    let rows = moved_shape.num_elements() / row_len.max(1);
    let output = empty_device_dtype(
        input.client.clone(),
        input.device.clone(),
        moved_shape,
        input.dtype,
    );
    if rows > 0 && row_len > 0 {
        let hardware = &input.client.properties().hardware;
        let max_units = hardware.max_cube_dim.0.min(hardware.max_units_per_cube);
        let max_count = hardware.max_cube_count.0;
        // A power of two no larger than the row (idle units in short rows cost a launch slot
        // each) nor than the hardware allows.
        let units = (row_len as u32)
            .next_power_of_two()
            .min(UNITS)
            .min(prev_power_of_two(max_units));
        let across = (rows as u32).min(max_count);
        let down = (rows as u32).div_ceil(across);
        let client = input.client.clone();
        two_pass_softmax_kernel::launch(
            &client,
            CubeCount::Static(across, down, 1),
            CubeDim::new_1d(units),
            input.into_tensor_arg(),
            output.clone().into_tensor_arg(),
            row_len as u32,
            rows as u32,
            units as usize,
        );
    }
    if dim == last {
        output
    } else {
        burn_cubecl::ops::permute(output, &axes)
    }
}

fn prev_power_of_two(n: u32) -> u32 {
    if n == 0 {
        1
    } else {
        1 << (31 - n.leading_zeros())
    }
}
