//! The two-pass softmax through Burn: the flex extension against the f64 reference along any
//! dimension, its autodiff backward against finite differences, and masks.

use burn::tensor::{Device, Tensor, TensorData};
use stoke::kernels::softmax::reference::softmax_f64;
use stoke::kernels::softmax::softmax;
use stoke::rng::{Rng, Stream};

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed, Stream::Synthetic, 0, 0);
    (0..n).map(|_| (rng.normal() * 2.0) as f32).collect()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// The reference softmax of a row-major `[a, b, c]` array along `dim`.
fn reference_along(x: &[f32], dims: [usize; 3], dim: usize) -> Vec<f64> {
    let strides = [dims[1] * dims[2], dims[2], 1];
    let mut out = vec![0.0; x.len()];
    let others: Vec<usize> = (0..3).filter(|&d| d != dim).collect();
    for i in 0..dims[others[0]] {
        for j in 0..dims[others[1]] {
            let base = i * strides[others[0]] + j * strides[others[1]];
            let idx: Vec<usize> = (0..dims[dim]).map(|k| base + k * strides[dim]).collect();
            let row: Vec<f32> = idx.iter().map(|&p| x[p]).collect();
            for (&p, v) in idx.iter().zip(softmax_f64(&row)) {
                out[p] = v;
            }
        }
    }
    out
}

#[test]
fn flex_extension_matches_reference_along_every_dimension() {
    let device = Device::flex();
    let dims = [3, 37, 5];
    let x = random(dims.iter().product(), 1);
    for dim in 0..3 {
        let t = Tensor::<3>::from_data(TensorData::new(x.clone(), dims), &device);
        let got = values(softmax(t, dim));
        let want = reference_along(&x, dims, dim);
        for (g, w) in got.iter().zip(&want) {
            // The kernel's bound (see src/kernels/softmax/tests.rs).
            assert!(((*g as f64 - w) / w).abs() < 2e-6, "dim {dim}: {g} vs {w}");
        }
    }
    // A non-contiguous input (a transposed view) is handled, not silently misread.
    let t = Tensor::<3>::from_data(TensorData::new(x.clone(), dims), &device).swap_dims(0, 2);
    let got = values(softmax(t, 2));
    let want = reference_along(&x, dims, 0);
    // got is [5, 37, 3] row-major: element (c, b, a) is want at (a, b, c).
    for c in 0..5 {
        for b in 0..37 {
            for a in 0..3 {
                let g = got[(c * 37 + b) * 3 + a] as f64;
                let w = want[(a * 37 + b) * 5 + c];
                assert!(((g - w) / w).abs() < 2e-6);
            }
        }
    }
}

#[test]
fn masked_rows_and_all_masked_rows() {
    // Burn's built-in softmax gives NaN for an all-masked row; the kernel gives zeros, on the
    // plain and the autodiff device (so both reach the kernel).
    for device in [Device::flex(), Device::flex().autodiff()] {
        masked(&device);
    }
}

fn masked(device: &Device) {
    let device = device.clone();
    let inf = f32::NEG_INFINITY;
    let x = Tensor::<2>::from_floats([[0.5, inf, 1.5, inf], [inf, inf, inf, inf]], &device);
    let got = values(softmax(x, 1));
    let e = (1.0f64).exp();
    assert!((got[0] as f64 - 1.0 / (1.0 + e)).abs() < 1e-6);
    assert_eq!(got[1], 0.0);
    assert_eq!(got[3], 0.0);
    assert_eq!(&got[4..], &[0.0; 4]);
}

#[test]
fn backward_matches_finite_differences() {
    let device = Device::flex().autodiff();
    let (rows, cols) = (3, 11);
    let x0 = random(rows * cols, 2);
    let w = random(rows * cols, 3);
    // f(x) = sum(w * softmax(x, 1)); its gradient from the extension's backward.
    let x =
        Tensor::<2>::from_data(TensorData::new(x0.clone(), [rows, cols]), &device).require_grad();
    let weights = Tensor::<2>::from_data(TensorData::new(w.clone(), [rows, cols]), &device);
    let loss = (softmax(x.clone(), 1) * weights).sum();
    let grads = loss.backward();
    let got = values(x.grad(&grads).unwrap());
    // Central differences of the f64 reference (h = 1e-4: truncation ~1e-8, rounding ~1e-12).
    let f = |x: &[f32]| -> f64 {
        x.chunks(cols)
            .zip(w.chunks(cols))
            .map(|(row, wr)| {
                softmax_f64(row)
                    .iter()
                    .zip(wr)
                    .map(|(s, &wv)| s * wv as f64)
                    .sum::<f64>()
            })
            .sum()
    };
    let h = 1e-3f32;
    for i in 0..rows * cols {
        let (mut up, mut down) = (x0.clone(), x0.clone());
        up[i] += h;
        down[i] -= h;
        // f32 steps: the perturbation itself is exact in f32 at this scale.
        let numeric = (f(&up) - f(&down)) / (up[i] - down[i]) as f64;
        // Within 1e-5: the kernel's 2e-6 relative error on O(1) weights, plus O(h^2) ~ 1e-7.
        assert!(
            (got[i] as f64 - numeric).abs() < 1e-5,
            "{i}: {} vs {numeric}",
            got[i]
        );
    }
}
