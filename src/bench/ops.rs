//! `stoke bench ops`: every layer of a model's training step timed alone, forward and each
//! gradient apart, on the autodiff device as training runs it: a convolution's forward, its
//! data gradient (only the input tracked) and its weight gradient (only the weight tracked);
//! batch norm in training mode (Burn's `batch_norm_train`) forward and backward (input,
//! scale and shift tracked); ReLU, 2x2 max pooling and the linear head likewise.
//! Max pooling and batch norm run stoke's kernels (`crate::kernels`) unless `--builtin` asks
//! for Burn's. `benches/reference/ops.py` times the same list in PyTorch, and `benches/ops_vs_pytorch.sh`
//! puts the two side by side: where a step's time goes, op by op (issue 17, part 4).

use crate::kernels::batch_norm::batch_norm_train as fused_batch_norm;
use crate::kernels::max_pool::max_pool2x2;
use crate::models::ModelSpec;
use crate::models::small_cnn::{Head, SmallCnnOptions};
use crate::rng::{Rng, Stream};
use crate::usage_error;
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::module::{batch_norm_train, conv2d, linear, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// One layer of a training step (shapes per image; the batch is the bench's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A bias-free k x k convolution with padding k / 2 on `side` x `side` inputs.
    Conv {
        cin: usize,
        cout: usize,
        side: usize,
        kernel: usize,
        stride: usize,
    },
    BatchNorm {
        channels: usize,
        side: usize,
    },
    Relu {
        channels: usize,
        side: usize,
    },
    MaxPool {
        channels: usize,
        side: usize,
    },
    Linear {
        inputs: usize,
        outputs: usize,
    },
}

/// The layers of `model`'s training step on `input` images ([c, h, w], square), each
/// with how many times the step runs it.
pub fn layers(model: &ModelSpec, input: [usize; 3]) -> anyhow::Result<BTreeMap<Op, usize>> {
    let [channels, side, width] = input;
    if side != width {
        return Err(usage_error!("--input: the op list is for square images"));
    }
    let mut ops = BTreeMap::new();
    let mut add = |op: Op| *ops.entry(op).or_insert(0) += 1;
    match model.arch() {
        "small_cnn" => {
            let options: SmallCnnOptions = toml::Value::Table(model.options().clone())
                .try_into()
                .map_err(|e| usage_error!("model options: {e}"))?;
            let (mut c, mut s) = (channels, side);
            for &w in &options.widths {
                for _ in 0..options.convs_per_stage {
                    add(conv(c, w, s, 3, 1));
                    add(Op::BatchNorm {
                        channels: w,
                        side: s,
                    });
                    add(Op::Relu {
                        channels: w,
                        side: s,
                    });
                    c = w;
                }
                add(Op::MaxPool {
                    channels: c,
                    side: s,
                });
                s /= 2;
            }
            let inputs = match options.head {
                Head::Avg => c,
                Head::Flatten => c * s * s,
            };
            add(Op::Linear {
                inputs,
                outputs: 10,
            });
        }
        "resnet"
            if model
                .options()
                .get("layers")
                .and_then(|l| l.as_array())
                .map(Vec::len)
                == Some(4) =>
        {
            // The CIFAR ResNet-18: 3x3 stem, BasicBlocks [2, 2, 2, 2] of 64-512 channels.
            add(conv(channels, 64, side, 3, 1));
            add(Op::BatchNorm { channels: 64, side });
            add(Op::Relu { channels: 64, side });
            let (mut c, mut s) = (64, side);
            for (stage, w) in [64, 128, 256, 512].into_iter().enumerate() {
                for block in 0..2 {
                    let stride = if stage > 0 && block == 0 { 2 } else { 1 };
                    let out_side = s / stride;
                    add(conv(c, w, s, 3, stride));
                    add(Op::BatchNorm {
                        channels: w,
                        side: out_side,
                    });
                    add(Op::Relu {
                        channels: w,
                        side: out_side,
                    });
                    add(conv(w, w, out_side, 3, 1));
                    add(Op::BatchNorm {
                        channels: w,
                        side: out_side,
                    });
                    if stride == 2 {
                        add(conv(c, w, s, 1, 2));
                        add(Op::BatchNorm {
                            channels: w,
                            side: out_side,
                        });
                    }
                    add(Op::Relu {
                        channels: w,
                        side: out_side,
                    });
                    (c, s) = (w, out_side);
                }
            }
            add(Op::Linear {
                inputs: 512,
                outputs: 10,
            });
        }
        other => {
            return Err(usage_error!(
                "--model: the op list is written for small_cnn and the CIFAR resnet18, not `{other}`"
            ));
        }
    }
    Ok(ops)
}

fn conv(cin: usize, cout: usize, side: usize, kernel: usize, stride: usize) -> Op {
    Op::Conv {
        cin,
        cout,
        side,
        kernel,
        stride,
    }
}

/// Median milliseconds of one layer's parts (None where the op has no such part).
#[derive(Clone, Debug, Serialize)]
pub struct OpTiming {
    #[serde(flatten)]
    pub op: Op,
    /// Times the step runs this layer.
    pub count: usize,
    pub forward_ms: f64,
    /// The input's gradient (convolution, linear) or the whole backward (the others).
    pub data_grad_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_grad_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OpsResult {
    pub framework: &'static str,
    pub batch: usize,
    pub threads: usize,
    pub ops: Vec<OpTiming>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A seeded standard-normal tensor on `device` (made once per layer: the timed closures
/// reuse it as a leaf, so only the op is timed).
fn normal<const D: usize>(dims: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    let mut rng = Rng::new(seed, Stream::Init, 0, 0);
    let n = dims.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// Median milliseconds of `forward` and of the backward of its output (seeded with ones),
/// over `reps` runs after one warm-up; each run records a fresh graph from the same leaves.
fn time_op<const D: usize>(reps: usize, mut forward: impl FnMut() -> Tensor<D>) -> (f64, f64) {
    let (mut fwd, mut bwd) = (Vec::new(), Vec::new());
    for rep in 0..=reps {
        let start = Instant::now();
        let out = forward();
        // Flex computes eagerly; reading one value makes sure the op is done on any backend.
        let _ = out.clone().slice(0..1).into_data();
        let forward_ms = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        let grads = out.backward();
        drop(grads);
        let backward_ms = start.elapsed().as_secs_f64() * 1e3;
        if rep > 0 {
            fwd.push(forward_ms);
            bwd.push(backward_ms);
        }
    }
    (median(fwd), median(bwd))
}

/// Times every layer of `ops` at `batch` on `device` (an autodiff one is made of it), with
/// stoke's kernels where it has them (max pooling, batch norm) or, with `builtin`, Burn's operations.
pub fn time_ops(
    ops: &BTreeMap<Op, usize>,
    batch: usize,
    reps: usize,
    device: &Device,
    builtin: bool,
) -> anyhow::Result<OpsResult> {
    if batch == 0 || reps == 0 {
        return Err(usage_error!("--batch and --reps must be positive"));
    }
    let device = device.clone().autodiff();
    let mut timings = Vec::new();
    for (&op, &count) in ops {
        let timing = match op {
            Op::Conv {
                cin,
                cout,
                side,
                kernel,
                stride,
            } => {
                let options = || ConvOptions::new([stride; 2], [kernel / 2; 2], [1, 1], 1);
                let x_dims = [batch, cin, side, side];
                let w_dims = [cout, cin, kernel, kernel];
                let (x, w) = (normal(x_dims, 1, &device), normal(w_dims, 2, &device));
                let (xg, wg) = (x.clone().require_grad(), w.clone().require_grad());
                let (forward_ms, data_grad_ms) =
                    time_op(reps, || conv2d(xg.clone(), w.clone(), None, options()));
                let (_, weight_grad_ms) =
                    time_op(reps, || conv2d(x.clone(), wg.clone(), None, options()));
                (forward_ms, data_grad_ms, Some(weight_grad_ms))
            }
            Op::BatchNorm { channels, side } => {
                let x = normal([batch, channels, side, side], 1, &device).require_grad();
                let gamma = normal([channels], 2, &device).require_grad();
                let beta = normal([channels], 3, &device).require_grad();
                let (forward_ms, backward_ms) = match builtin {
                    true => time_op(reps, || {
                        batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5).output
                    }),
                    false => time_op(reps, || {
                        fused_batch_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5).output
                    }),
                };
                (forward_ms, backward_ms, None)
            }
            Op::Relu { channels, side } => {
                let x = normal([batch, channels, side, side], 1, &device).require_grad();
                let (forward_ms, backward_ms) =
                    time_op(reps, || burn::tensor::activation::relu(x.clone()));
                (forward_ms, backward_ms, None)
            }
            Op::MaxPool { channels, side } => {
                let x = normal([batch, channels, side, side], 1, &device).require_grad();
                let options = || MaxPoolOptions::new([2, 2]);
                let (forward_ms, backward_ms) = match builtin {
                    true => time_op(reps, || max_pool2d(x.clone(), options())),
                    false => time_op(reps, || max_pool2x2(x.clone())),
                };
                (forward_ms, backward_ms, None)
            }
            Op::Linear { inputs, outputs } => {
                let x = normal([batch, inputs], 1, &device);
                let w = normal([inputs, outputs], 2, &device);
                let (xg, wg) = (x.clone().require_grad(), w.clone().require_grad());
                let (forward_ms, data_grad_ms) =
                    time_op(reps, || linear(xg.clone(), w.clone(), None));
                let (_, weight_grad_ms) = time_op(reps, || linear(x.clone(), wg.clone(), None));
                (forward_ms, data_grad_ms, Some(weight_grad_ms))
            }
        };
        timings.push(OpTiming {
            op,
            count,
            forward_ms: timing.0,
            data_grad_ms: timing.1,
            weight_grad_ms: timing.2,
        });
    }
    Ok(OpsResult {
        framework: "stoke",
        batch,
        threads: rayon::current_num_threads(),
        ops: timings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_small_cnn_and_resnet18_lists_count_every_layer() {
        let small = layers(&crate::bench::model_spec("small_cnn").unwrap(), [1, 28, 28]).unwrap();
        // 3 stages of conv-BN-ReLU-pool and the head.
        assert_eq!(small.values().sum::<usize>(), 13);
        assert_eq!(
            small.keys().last(),
            Some(&Op::Linear {
                inputs: 96 * 3 * 3,
                outputs: 10
            })
        );
        let resnet = layers(&crate::bench::model_spec("resnet18").unwrap(), [3, 32, 32]).unwrap();
        let convs: usize = resnet
            .iter()
            .filter(|(op, _)| matches!(op, Op::Conv { .. }))
            .map(|(_, n)| n)
            .sum();
        // The stem, 16 block convolutions and 3 shortcut projections; a BN after each.
        assert_eq!(convs, 20);
        let norms: usize = resnet
            .iter()
            .filter(|(op, _)| matches!(op, Op::BatchNorm { .. }))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(norms, 20);
    }
}
