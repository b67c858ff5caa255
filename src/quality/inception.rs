//! The FID Inception-v3 of pytorch-fid (`pt_inception-2015-12-05`: TensorFlow's FID network
//! ported to PyTorch by `mseitzer/pytorch-fid`) as a [`FeatureExtractor`] giving the pool3
//! features (2048-d). As pytorch-fid: images are resized to 299x299 (bilinear,
//! `align_corners = false`) and mapped from [0, 1] to [-1, 1]; `BasicConv2d` is a bias-free
//! convolution, batch norm (eps 0.001, running statistics) and ReLU; the FID variants of the
//! blocks average-pool without counting the zero padding (`count_include_pad = False`) and the
//! last block (`Mixed_7c`, FIDInceptionE_2) max-pools in its pool branch.
//!
//! Weights come from a safetensors file with pytorch-fid's state-dict names (e.g.
//! `Conv2d_1a_3x3.conv.weight`, `Mixed_5b.branch1x1.bn.running_mean`); convert the released
//! `pt_inception-2015-12-05-6726825d.pth` with
//! `safetensors.torch.save_file(torch.load(path), "pt_inception.safetensors")`. F32, F16, BF16
//! and F64 tensors are read; other keys (`fc.*`, `num_batches_tracked`) are ignored. Channel
//! counts come from the tensor shapes, so a narrower network with the same names (the test's
//! `tests/golden/fake_inception.safetensors`) loads through the same code; the feature size is
//! then whatever the file implies ([`FidInception::feature_dim`]).

use super::features::FeatureExtractor;
use crate::usage_error;
use anyhow::Context;
use burn::module::{Param, RunningState};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, interpolate, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, InterpolateMode, InterpolateOptions, MaxPoolOptions};
use burn::tensor::{TensorData, bf16, f16};
use safetensors::{Dtype, SafeTensors};
use std::path::Path;

/// The input resolution of the network.
const SIZE: usize = 299;

/// Batch-norm epsilon of torchvision's (and TensorFlow's) Inception-v3.
const BN_EPS: f64 = 0.001;

/// Conv (no bias) + batch norm + ReLU.
#[derive(Module, Debug)]
struct BasicConv2d {
    conv: Conv2d,
    bn: BatchNorm,
}

impl BasicConv2d {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.bn.forward(self.conv.forward(x)))
    }

    fn out_channels(&self) -> usize {
        self.conv.weight.dims()[0]
    }
}

/// The safetensors file being read: tensors by pytorch-fid name, errors that name the file.
struct Weights<'a> {
    file: String,
    tensors: SafeTensors<'a>,
    device: Device,
}

impl Weights<'_> {
    /// Tensor `key` as f32 values with its shape.
    fn get(&self, key: &str) -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
        let view = self.tensors.tensor(key).map_err(|_| {
            usage_error!(
                "{}: missing tensor `{key}` (expected pytorch-fid's FID Inception state dict \
                 with keys such as `Conv2d_1a_3x3.conv.weight`)",
                self.file
            )
        })?;
        let bytes = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::F64 => bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("chunks of 8 bytes")) as f32)
                .collect(),
            other => {
                return Err(usage_error!(
                    "{}: tensor `{key}` has dtype {other:?}, expected F32, F16, BF16 or F64",
                    self.file
                ));
            }
        };
        Ok((view.shape().to_vec(), values))
    }

    /// `BasicConv2d` `{prefix}{layer name}` fed `in_channels` channels; its output channels
    /// come from the file.
    fn conv(&self, prefix: &str, in_channels: usize, layer: &Layer) -> anyhow::Result<BasicConv2d> {
        let &(suffix, kernel, stride, padding) = layer;
        let name = format!("{prefix}{suffix}");
        let key = format!("{name}.conv.weight");
        let (shape, values) = self.get(&key)?;
        if shape.len() != 4 || shape[0] == 0 || shape[1..] != [in_channels, kernel[0], kernel[1]] {
            return Err(usage_error!(
                "{}: tensor `{key}` has shape {shape:?}, expected [out_channels, {in_channels}, \
                 {}, {}] (the {in_channels} input channels follow from the layers before it)",
                self.file,
                kernel[0],
                kernel[1]
            ));
        }
        let out = shape[0];
        let weight = Tensor::<4>::from_data(TensorData::new(values, shape), &self.device);
        let vector = |field: &str| -> anyhow::Result<Tensor<1>> {
            let key = format!("{name}.bn.{field}");
            let (shape, values) = self.get(&key)?;
            if shape != [out] {
                return Err(usage_error!(
                    "{}: tensor `{key}` has shape {shape:?}, expected [{out}] (the output \
                     channels of `{name}.conv.weight`)",
                    self.file
                ));
            }
            Ok(Tensor::from_data(
                TensorData::new(values, [out]),
                &self.device,
            ))
        };
        let conv = Conv2d {
            weight: Param::from_tensor(weight),
            bias: None,
            stride: [stride, stride],
            kernel_size: kernel,
            dilation: [1, 1],
            groups: 1,
            padding: PaddingConfig2d::Explicit(padding[0], padding[1], padding[0], padding[1]),
        };
        let bn = BatchNorm {
            gamma: Param::from_tensor(vector("weight")?),
            beta: Param::from_tensor(vector("bias")?),
            // Inference even on an autodiff device: the running statistics are the model.
            training: Param::from_bool(false),
            running_mean: RunningState::new(vector("running_mean")?),
            running_var: RunningState::new(vector("running_var")?),
            momentum: 0.1,
            epsilon: BN_EPS,
        };
        Ok(BasicConv2d { conv, bn })
    }
}

/// How a branch pools its input before its convolutions (3x3 windows).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pool {
    /// Stride 1, padding 1 not counted in the average (the FID blocks' patch of TensorFlow's).
    Avg,
    /// Stride 1, padding 1 (FIDInceptionE_2, `Mixed_7c`).
    Max,
    /// Stride 2, no padding (the stem and the reductions `Mixed_6a`, `Mixed_7a`).
    MaxReduce,
}

impl Pool {
    fn apply(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Pool::Avg => {
                let options = AvgPoolOptions::new([3, 3])
                    .with_stride([1, 1])
                    .with_padding([1, 1])
                    .with_count_include_pad(false);
                avg_pool2d(x, options)
            }
            Pool::Max => max_pool2d(
                x,
                MaxPoolOptions::new([3, 3])
                    .with_stride([1, 1])
                    .with_padding([1, 1]),
            ),
            Pool::MaxReduce => max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2])),
        }
    }
}

/// A `BasicConv2d`: key (relative to its block), kernel `[h, w]`, stride, padding `[h, w]`.
type Layer = (&'static str, [usize; 2], usize, [usize; 2]);

const fn pointwise(name: &'static str) -> Layer {
    (name, [1, 1], 1, [0, 0])
}

/// 3x3 with padding 1 (size-preserving) or stride 2 without padding (reducing).
const fn same3(name: &'static str) -> Layer {
    (name, [3, 3], 1, [1, 1])
}

const fn reduce3(name: &'static str) -> Layer {
    (name, [3, 3], 2, [0, 0])
}

/// Factorised convolutions: 1xk along the width, kx1 along the height, size-preserving.
const fn row(name: &'static str, k: usize) -> Layer {
    (name, [1, k], 1, [0, k / 2])
}

const fn col(name: &'static str, k: usize) -> Layer {
    (name, [k, 1], 1, [k / 2, 0])
}

/// One branch of a mixed block: an optional pool, convolutions in sequence, then optionally
/// convolutions that each take that output, their results concatenated (InceptionE).
struct BranchSpec {
    pool: Option<Pool>,
    layers: &'static [Layer],
    split: &'static [Layer],
}

const fn branch(layers: &'static [Layer]) -> BranchSpec {
    BranchSpec {
        pool: None,
        layers,
        split: &[],
    }
}

const fn pooled(pool: Pool, layers: &'static [Layer]) -> BranchSpec {
    BranchSpec {
        pool: Some(pool),
        layers,
        split: &[],
    }
}

// The blocks of torchvision's Inception-v3 with pytorch-fid's pooling patches.
const BLOCK_A: &[BranchSpec] = &[
    branch(&[pointwise("branch1x1")]),
    branch(&[pointwise("branch5x5_1"), ("branch5x5_2", [5, 5], 1, [2, 2])]),
    branch(&[
        pointwise("branch3x3dbl_1"),
        same3("branch3x3dbl_2"),
        same3("branch3x3dbl_3"),
    ]),
    pooled(Pool::Avg, &[pointwise("branch_pool")]),
];
const BLOCK_B: &[BranchSpec] = &[
    branch(&[reduce3("branch3x3")]),
    branch(&[
        pointwise("branch3x3dbl_1"),
        same3("branch3x3dbl_2"),
        reduce3("branch3x3dbl_3"),
    ]),
    pooled(Pool::MaxReduce, &[]),
];
const BLOCK_C: &[BranchSpec] = &[
    branch(&[pointwise("branch1x1")]),
    branch(&[
        pointwise("branch7x7_1"),
        row("branch7x7_2", 7),
        col("branch7x7_3", 7),
    ]),
    branch(&[
        pointwise("branch7x7dbl_1"),
        col("branch7x7dbl_2", 7),
        row("branch7x7dbl_3", 7),
        col("branch7x7dbl_4", 7),
        row("branch7x7dbl_5", 7),
    ]),
    pooled(Pool::Avg, &[pointwise("branch_pool")]),
];
const BLOCK_D: &[BranchSpec] = &[
    branch(&[pointwise("branch3x3_1"), reduce3("branch3x3_2")]),
    branch(&[
        pointwise("branch7x7x3_1"),
        row("branch7x7x3_2", 7),
        col("branch7x7x3_3", 7),
        reduce3("branch7x7x3_4"),
    ]),
    pooled(Pool::MaxReduce, &[]),
];
const E_1X1: BranchSpec = branch(&[pointwise("branch1x1")]);
const E_3X3: BranchSpec = BranchSpec {
    pool: None,
    layers: &[pointwise("branch3x3_1")],
    split: &[row("branch3x3_2a", 3), col("branch3x3_2b", 3)],
};
const E_3X3_DBL: BranchSpec = BranchSpec {
    pool: None,
    layers: &[pointwise("branch3x3dbl_1"), same3("branch3x3dbl_2")],
    split: &[row("branch3x3dbl_3a", 3), col("branch3x3dbl_3b", 3)],
};
const BLOCK_E_1: &[BranchSpec] = &[
    E_1X1,
    E_3X3,
    E_3X3_DBL,
    pooled(Pool::Avg, &[pointwise("branch_pool")]),
];
const BLOCK_E_2: &[BranchSpec] = &[
    E_1X1,
    E_3X3,
    E_3X3_DBL,
    pooled(Pool::Max, &[pointwise("branch_pool")]),
];

/// The stem, each part followed by a stride-2 max pool.
const STEM: [&[Layer]; 2] = [
    &[
        ("Conv2d_1a_3x3", [3, 3], 2, [0, 0]),
        ("Conv2d_2a_3x3", [3, 3], 1, [0, 0]),
        same3("Conv2d_2b_3x3"),
    ],
    &[
        pointwise("Conv2d_3b_1x1"),
        ("Conv2d_4a_3x3", [3, 3], 1, [0, 0]),
    ],
];

const BLOCKS: [(&str, &[BranchSpec]); 11] = [
    ("Mixed_5b", BLOCK_A),
    ("Mixed_5c", BLOCK_A),
    ("Mixed_5d", BLOCK_A),
    ("Mixed_6a", BLOCK_B),
    ("Mixed_6b", BLOCK_C),
    ("Mixed_6c", BLOCK_C),
    ("Mixed_6d", BLOCK_C),
    ("Mixed_6e", BLOCK_C),
    ("Mixed_7a", BLOCK_D),
    ("Mixed_7b", BLOCK_E_1),
    ("Mixed_7c", BLOCK_E_2),
];

/// Loads `layers` in sequence under `prefix` (each fed the previous output); returns them and
/// their output channels.
fn load_chain(
    w: &Weights,
    prefix: &str,
    mut channels: usize,
    layers: &[Layer],
) -> anyhow::Result<(Vec<BasicConv2d>, usize)> {
    let mut convs = Vec::with_capacity(layers.len());
    for layer in layers {
        let conv = w.conv(prefix, channels, layer)?;
        channels = conv.out_channels();
        convs.push(conv);
    }
    Ok((convs, channels))
}

fn chain(convs: &[BasicConv2d], x: Tensor<4>) -> Tensor<4> {
    convs.iter().fold(x, |x, conv| conv.forward(x))
}

#[derive(Module, Debug)]
struct Branch {
    convs: Vec<BasicConv2d>,
    split: Vec<BasicConv2d>,
    #[module(skip)]
    pool: Option<Pool>,
}

impl Branch {
    fn load(
        w: &Weights,
        block: &str,
        spec: &BranchSpec,
        input: usize,
    ) -> anyhow::Result<(Self, usize)> {
        let prefix = format!("{block}.");
        let (convs, channels) = load_chain(w, &prefix, input, spec.layers)?;
        let split = spec
            .split
            .iter()
            .map(|layer| w.conv(&prefix, channels, layer))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let out = match split.is_empty() {
            true => channels,
            false => split.iter().map(BasicConv2d::out_channels).sum(),
        };
        let pool = spec.pool;
        Ok((Self { convs, split, pool }, out))
    }

    /// The branch's outputs, in concatenation order.
    fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let x = match self.pool {
            Some(pool) => pool.apply(x),
            None => x,
        };
        let x = chain(&self.convs, x);
        match self.split.is_empty() {
            true => vec![x],
            false => self.split.iter().map(|c| c.forward(x.clone())).collect(),
        }
    }
}

/// pytorch-fid's FID Inception-v3 up to the pool3 features.
#[derive(Module, Debug)]
pub struct FidInception {
    stem: Vec<Vec<BasicConv2d>>,
    /// `Mixed_5b` .. `Mixed_7c`: branches whose outputs are concatenated along channels.
    blocks: Vec<Vec<Branch>>,
    feature_dim: usize,
}

impl FidInception {
    /// Loads the network from a safetensors file of pytorch-fid's state dict.
    pub fn load(path: &Path, device: &Device) -> anyhow::Result<Self> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| usage_error!("{file}: cannot read FID Inception weights: {e}"))?;
        let tensors = SafeTensors::deserialize(&bytes)
            .map_err(|e| usage_error!("{file}: not a safetensors file: {e}"))?;
        let w = Weights {
            file: file.clone(),
            tensors,
            device: device.clone(),
        };
        Self::from_weights(&w).with_context(|| format!("loading FID Inception from {file}"))
    }

    fn from_weights(w: &Weights) -> anyhow::Result<Self> {
        let mut channels = 3;
        let mut stem = Vec::new();
        for layers in STEM {
            let (convs, out) = load_chain(w, "", channels, layers)?;
            stem.push(convs);
            channels = out;
        }
        let mut blocks = Vec::new();
        for (name, specs) in BLOCKS {
            let mut branches = Vec::new();
            let mut out = 0;
            for spec in specs {
                let (branch, branch_out) = Branch::load(w, name, spec, channels)?;
                branches.push(branch);
                out += branch_out;
            }
            blocks.push(branches);
            channels = out;
        }
        let model = Self {
            stem,
            blocks,
            feature_dim: channels,
        };
        Ok(model.no_grad())
    }

    /// Length of the feature vectors (2048 for the real network).
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }
}

impl FeatureExtractor for FidInception {
    /// Pool3 features of RGB images (a single grey channel is repeated to three).
    ///
    /// # Panics
    /// If the images have neither 1 nor 3 channels.
    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let [batch, channels, ..] = images.dims();
        let images = match channels {
            3 => images,
            1 => images.repeat_dim(1, 3),
            _ => panic!("FID Inception: expected images with 1 or 3 channels, got {channels}"),
        };
        let resize = InterpolateOptions::new(InterpolateMode::Bilinear)
            .with_align_corners(false)
            .with_output_size([SIZE, SIZE]);
        let mut x = interpolate(images, resize).mul_scalar(2.0).sub_scalar(1.0);
        for convs in &self.stem {
            x = Pool::MaxReduce.apply(chain(convs, x));
        }
        for branches in &self.blocks {
            let outputs = branches.iter().flat_map(|b| b.forward(x.clone())).collect();
            x = Tensor::cat(outputs, 1);
        }
        let [_, c, h, w] = x.dims();
        x.reshape([batch, c, h * w]).mean_dim(2).reshape([batch, c])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use safetensors::tensor::TensorView;
    use serde::Deserialize;
    use std::path::PathBuf;

    fn fake_weights() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/fake_inception.safetensors")
    }

    /// The 8-bit test pattern of scripts/golden_inception.py, image index `b`.
    fn pixel(b: usize, c: usize, y: usize, x: usize) -> f32 {
        let v = 3 * x + 5 * y + 40 * c + 70 * b + ((x / 4 + y / 4 + c) % 2) * 60 + (x * y) % 7;
        (v % 256) as f32 / 255.0
    }

    fn images(shape: [usize; 4], first: usize, device: &Device) -> Tensor<4> {
        let [n, c, h, w] = shape;
        let mut values = Vec::with_capacity(n * c * h * w);
        for b in 0..n {
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        values.push(pixel(first + b, ch, y, x));
                    }
                }
            }
        }
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    #[derive(Deserialize)]
    struct Batch {
        shape: [usize; 4],
        first_image_index: usize,
        features: Vec<Vec<f64>>,
    }

    #[derive(Deserialize)]
    struct Golden {
        batches: std::collections::BTreeMap<String, Batch>,
    }

    /// Features of each golden batch against `golden` (JSON of scripts/golden_inception.py);
    /// asserts the largest error is at most `tolerance` times the largest feature.
    fn check_golden(model: &FidInception, golden: &str, tolerance: f64, device: &Device) {
        let golden: Golden = serde_json::from_str(golden).unwrap();
        assert_eq!(golden.batches.len(), 2);
        for (name, batch) in &golden.batches {
            let input = images(batch.shape, batch.first_image_index, device);
            let start = std::time::Instant::now();
            let features = model.features(input);
            let dims = features.dims();
            let ours: Vec<f64> = features.into_data().iter::<f64>().collect();
            let seconds = start.elapsed().as_secs_f64() / batch.shape[0] as f64;
            assert_eq!(dims, [batch.shape[0], model.feature_dim()], "{name}");
            let expected: Vec<f64> = batch.features.concat();
            let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let worst = ours
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            println!(
                "{name}: max |error| / max |feature| = {:.2e}, {seconds:.3} s per image",
                worst / scale
            );
            assert!(
                worst <= tolerance * scale,
                "{name}: {worst} (scale {scale})"
            );
        }
    }

    /// pytorch-fid's own InceptionV3 (widths / 16) on the same f16-rounded weights, evaluated in
    /// float64 by scripts/golden_inception.py. stoke runs in f32 (conv accumulation order and
    /// rounding over ~17 layers): held to 2e-5 of the largest feature, the amount by which
    /// PyTorch's own f32 forward is off on the 320x310 image (stoke: observed 1.3e-6).
    #[test]
    fn features_match_pytorch_fid_on_a_scaled_down_network() {
        let device = Device::flex();
        let model = FidInception::load(&fake_weights(), &device).unwrap();
        assert_eq!(model.feature_dim(), 128);
        let golden = include_str!("../../tests/golden/fake_inception.json");
        check_golden(&model, golden, 2e-5, &device);
    }

    /// The real-size network (random weights, 2048 features) against PyTorch, with timings:
    /// `python3 scripts/golden_inception.py --width-divisor 1 --name full_inception --out-dir
    /// /tmp/fid`, then `STOKE_FID_INCEPTION_GOLDEN=/tmp/fid/full_inception cargo test --release
    /// --lib quality::inception -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn full_size_network_matches_pytorch_fid() {
        let prefix = std::env::var("STOKE_FID_INCEPTION_GOLDEN")
            .expect("STOKE_FID_INCEPTION_GOLDEN: path of the golden files without extension");
        let device = Device::flex();
        let start = std::time::Instant::now();
        let model =
            FidInception::load(Path::new(&format!("{prefix}.safetensors")), &device).unwrap();
        println!("loaded in {:.2} s", start.elapsed().as_secs_f64());
        assert_eq!(model.feature_dim(), 2048);
        let golden = std::fs::read_to_string(format!("{prefix}.json")).unwrap();
        check_golden(&model, &golden, 2e-5, &device);
    }

    /// Rewrites the fake weights with `edit` applied to the named tensors.
    fn edited_copy(
        dir: &Path,
        edit: impl Fn(&str, TensorView<'_>) -> Option<(Vec<usize>, Vec<u8>)>,
    ) -> PathBuf {
        let bytes = std::fs::read(fake_weights()).unwrap();
        let tensors = SafeTensors::deserialize(&bytes).unwrap();
        let kept: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
            .tensors()
            .into_iter()
            .filter_map(|(name, view)| {
                let dtype = view.dtype();
                edit(&name, view).map(|(shape, data)| (name, dtype, shape, data))
            })
            .collect();
        let views: Vec<(String, TensorView<'_>)> = kept
            .iter()
            .map(|(name, dtype, shape, data)| {
                (
                    name.clone(),
                    TensorView::new(*dtype, shape.clone(), data).unwrap(),
                )
            })
            .collect();
        let path = dir.join("edited.safetensors");
        std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
        path
    }

    #[test]
    fn a_missing_or_misshaped_tensor_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let keep = |view: TensorView<'_>| Some((view.shape().to_vec(), view.data().to_vec()));

        let missing = "Mixed_6c.branch7x7dbl_3.bn.running_var";
        let path = edited_copy(dir.path(), |name, view| {
            (name != missing).then(|| keep(view))?
        });
        let error = format!("{:#}", FidInception::load(&path, &device).unwrap_err());
        assert!(error.contains(missing), "{error}");
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains("missing tensor"), "{error}");
        assert_eq!(
            crate::error::exit_code(&FidInception::load(&path, &device).unwrap_err()),
            2
        );

        // Drop one input channel of a conv: its shape no longer fits the layer before it.
        let misshaped = "Mixed_5c.branch_pool.conv.weight";
        let path = edited_copy(dir.path(), |name, view| {
            if name != misshaped {
                return keep(view);
            }
            let [out, inp, kh, kw] = view.shape().try_into().unwrap();
            let item = view.data().len() / (out * inp * kh * kw);
            Some((
                vec![out, inp - 1, kh, kw],
                view.data()[..out * (inp - 1) * item].to_vec(),
            ))
        });
        let error = format!("{:#}", FidInception::load(&path, &device).unwrap_err());
        assert!(
            error.contains(misshaped) && error.contains("shape"),
            "{error}"
        );

        let error = FidInception::load(&dir.path().join("absent.safetensors"), &device);
        assert!(format!("{:#}", error.unwrap_err()).contains("absent.safetensors"));
    }
}
