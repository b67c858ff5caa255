//! AdamP/SGDP's projection (Heo et al., 2021, official `adamp.py`/`sgdp.py`): when a weight
//! looks scale-invariant (its gradient is nearly orthogonal to it), remove the radial component
//! of the update so the weight norm does not grow, and shrink the weight decay by `wd_ratio`.
//!
//! The test runs on the channel view (one row per output unit) and then, if that does not
//! fire, on the layer view (the whole tensor as one row): it fires when
//! `max_r |cos(g_r, p_r)| < delta / sqrt(row length)`. Firing replaces the update by
//! `u - p_hat * <p_hat, u>_row` with `p_hat = p / (||p_r|| + eps)`.
//!
//! The channel view is [`super::channels`]: the output unit, the last axis of a Burn
//! `Linear` weight and the first of a conv kernel.
//!
//! Cosine similarity follows PyTorch 2.x: `<x/max(||x||, eps), y/max(||y||, eps)>`.
//! The decision is taken on the device with masks (no host read per tensor per step).

use super::channels::{channel_rows, per_channel};
use burn::tensor::Tensor;

/// Row norms of `rows` clamped below by `eps` (PyTorch's cosine-similarity convention).
fn unit_rows(rows: Tensor<2>, eps: f64) -> Tensor<2> {
    let norms = rows.clone().square().sum_dim(1).sqrt().clamp_min(eps);
    rows / norms
}

/// `max_r |cos(g_r, p_r)| < delta / sqrt(row length)` as a `[1]` tensor of 0.0 / 1.0.
fn fires(g_rows: Tensor<2>, p_rows: Tensor<2>, delta: f64, eps: f64) -> Tensor<1> {
    let per = p_rows.dims()[1] as f64;
    let cos = (unit_rows(g_rows, eps) * unit_rows(p_rows, eps))
        .sum_dim(1)
        .abs();
    cos.max().lower_elem(delta / per.sqrt()).float()
}

pub struct Projected<const D: usize> {
    /// The update with its radial component removed where the test fired.
    pub update: Tensor<D>,
    /// The factor on weight decay: `wd_ratio` where the test fired, 1 elsewhere (`[1; D]`).
    pub wd_factor: Tensor<D>,
}

/// Applies the projection to `update` for the parameter `param` with raw gradient `grad`.
/// Tensors of rank 0 or 1 are returned unchanged, as in the official code.
pub fn project<const D: usize>(
    param: &Tensor<D>,
    grad: &Tensor<D>,
    update: Tensor<D>,
    delta: f64,
    wd_ratio: f64,
    eps: f64,
) -> Projected<D> {
    let device = param.device();
    if D <= 1 {
        return Projected {
            update,
            wd_factor: Tensor::<1>::ones([1], &device).reshape([1usize; D]),
        };
    }
    let dims = param.dims();
    let numel = dims.iter().product::<usize>();

    // Channel view.
    let p_rows = channel_rows(param.clone());
    let channel = fires(channel_rows(grad.clone()), p_rows.clone(), delta, eps);
    let p_norms = p_rows.square().sum_dim(1).sqrt().add_scalar(eps);
    let p_hat = param.clone() / per_channel(p_norms, dims);
    let radial = channel_rows(p_hat.clone() * update.clone()).sum_dim(1);
    let channel_projection = p_hat * per_channel(radial, dims);

    // Layer view, used only where the channel view did not fire.
    let p_flat = param.clone().reshape([1, numel]);
    let layer = fires(grad.clone().reshape([1, numel]), p_flat.clone(), delta, eps);
    let p_hat = param.clone()
        / p_flat
            .square()
            .sum()
            .sqrt()
            .add_scalar(eps)
            .reshape([1usize; D]);
    let radial = (p_hat.clone() * update.clone()).sum().reshape([1usize; D]);
    let layer_projection = p_hat * radial;

    let layer_only = layer * channel.clone().neg().add_scalar(1.0);
    let any = channel.clone() + layer_only.clone();
    let update = update
        - channel_projection * channel.reshape([1usize; D])
        - layer_projection * layer_only.reshape([1usize; D]);
    let wd_factor = any
        .mul_scalar(wd_ratio - 1.0)
        .add_scalar(1.0)
        .reshape([1usize; D]);
    Projected { update, wd_factor }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().iter::<f32>().collect()
    }

    #[test]
    fn radial_component_removed_per_output_unit_when_gradient_is_orthogonal() {
        let device = Device::flex();
        // Burn Linear layout [in = 3, out = 2]: columns are the output units.
        let p = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], &device);
        // Gradient orthogonal to each column.
        let g = Tensor::<2>::from_floats([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], &device);
        let u = Tensor::<2>::from_floats([[3.0, 1.0], [1.0, 5.0], [2.0, 2.0]], &device);
        let out = project(&p, &g, u, 0.1, 0.1, 1e-8);
        // Column 0 direction (1,0,0): its first entry is removed; column 1 direction (0,1,0).
        let got = values(out.update);
        let want = [0.0, 1.0, 1.0, 0.0, 2.0, 2.0];
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{got:?}");
        }
        assert!((values(out.wd_factor)[0] - 0.1).abs() < 1e-7);
    }

    #[test]
    fn aligned_gradient_leaves_update_alone() {
        let device = Device::flex();
        let p = Tensor::<4>::ones([2, 1, 2, 2], &device);
        let u = Tensor::<4>::ones([2, 1, 2, 2], &device).mul_scalar(0.3);
        let out = project(&p, &p.clone(), u.clone(), 0.1, 0.1, 1e-8);
        assert_eq!(values(out.update), values(u));
        assert_eq!(values(out.wd_factor), vec![1.0]);
    }
}
