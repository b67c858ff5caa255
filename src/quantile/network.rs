//! The multilayer perceptron of the quantile models and of local aggregation weights (the
//! official code's template): `layers` hidden Linear-ELU layers of width `hidden` (dropout
//! before each after the first), then a linear head; `layers = 0` is a linear model.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::elu;

#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    dropout: Dropout,
    head: Linear,
}

impl Mlp {
    pub fn new(
        inputs: usize,
        hidden: usize,
        layers: usize,
        outputs: usize,
        dropout: f64,
        device: &Device,
    ) -> Mlp {
        let mut linears = Vec::with_capacity(layers);
        let mut width = inputs;
        for _ in 0..layers {
            linears.push(LinearConfig::new(width, hidden).init(device));
            width = hidden;
        }
        Mlp {
            hidden: linears,
            dropout: DropoutConfig::new(dropout).init(),
            head: LinearConfig::new(width, outputs).init(device),
        }
    }

    /// `[batch, inputs]` to `[batch, outputs]`.
    pub fn forward(&self, mut x: Tensor<2>) -> Tensor<2> {
        for (i, linear) in self.hidden.iter().enumerate() {
            if i > 0 {
                x = self.dropout.forward(x);
            }
            x = elu(linear.forward(x), 1.0);
        }
        self.head.forward(x)
    }
}

/// Rows of f64 values as an f32 tensor `[rows, columns]`.
pub fn matrix(rows: &[Vec<f64>], device: &Device) -> Tensor<2> {
    let columns = rows.first().map_or(0, Vec::len);
    let values: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, [rows.len(), columns]), device)
}

/// A tensor's values as f64.
pub fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    tensor.into_data().iter::<f32>().map(f64::from).collect()
}
