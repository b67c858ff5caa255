//! The weight-sharing supernet of a small cell search space (for one-shot NAS, after
//! NAS-Bench-201's cell at a third of its size): a cell of three nodes, input 0, nodes 1 and
//! 2, with edges 0->1, 0->2 and 1->2; node 1 = op_a(x), node 2 = op_b(x) + op_c(node 1), the
//! cell's output node 2. Each edge holds every operation's weights (ReLU-conv3x3-BN,
//! ReLU-conv1x1-BN, 3x3 average pooling); an architecture picks one operation per edge,
//! the same in every cell (as the official PA&DA code samples one path for all cells):
//! 3^3 = 27 architectures. A stem conv-BN, `stages` stages of `cells_per_stage` cells with a
//! 2x2 max-pool between stages, global average pooling and a linear head.

use super::layers::{ConvBn, batch_norm, conv, global_avg_pool};
use crate::models::layers::NormInF32;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::relu;

/// The operations an edge can take, by index.
pub const OPERATIONS: [&str; 3] = ["conv3x3", "conv1x1", "avg_pool3x3"];
/// Edges of a cell: 0->1, 0->2, 1->2.
pub const EDGES: usize = 3;
/// Architectures of the space: one operation per edge.
pub const ARCHITECTURES: usize = 27;

/// The operation of each edge of architecture `index` (base-3 digits, edge 0 first):
/// `None` outside 0..27.
pub fn operations_of(index: usize) -> Option<[usize; EDGES]> {
    (index < ARCHITECTURES).then_some([index / 9, index / 3 % 3, index % 3])
}

/// An architecture's name, e.g. `conv3x3|conv1x1|avg_pool3x3`.
pub fn name_of(operations: [usize; EDGES]) -> String {
    operations.map(|o| OPERATIONS[o]).join("|")
}

/// The `[model]` options of `arch = "cell_supernet"`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellSupernetOptions {
    /// Channels of every cell.
    #[serde(default = "default_channels")]
    pub channels: usize,
    /// Stages (a 2x2 max-pool between two).
    #[serde(default = "default_two")]
    pub stages: usize,
    /// Cells per stage.
    #[serde(default = "default_two")]
    pub cells_per_stage: usize,
}

fn default_channels() -> usize {
    16
}

fn default_two() -> usize {
    2
}

fn check(o: &CellSupernetOptions) -> anyhow::Result<()> {
    for (key, value) in [
        ("channels", o.channels),
        ("stages", o.stages),
        ("cells_per_stage", o.cells_per_stage),
    ] {
        if value == 0 {
            return Err(crate::usage_error!(
                "key `model.{key}`: expected a positive integer"
            ));
        }
    }
    Ok(())
}

/// The `[model]` registry's check of the options (defaults filled in).
pub fn check_options(options: &toml::Table) -> anyhow::Result<toml::Table> {
    crate::models::architecture::checked::<CellSupernetOptions>(options, check)
        .map(|(_, table)| table)
}

/// The options of a `[model]` section, checked: an error unless it is a cell supernet.
pub fn options_of(spec: &crate::models::ModelSpec) -> anyhow::Result<CellSupernetOptions> {
    if spec.arch() != "cell_supernet" {
        return Err(crate::usage_error!(
            "key `model.arch`: the supernet recipe needs arch = \"cell_supernet\", got \"{}\"",
            spec.arch()
        ));
    }
    crate::models::architecture::checked::<CellSupernetOptions>(spec.options(), check)
        .map(|(typed, _)| typed)
}

/// ReLU, convolution, batch norm: NAS-Bench-201's convolution operation.
#[derive(Module, Debug)]
struct ReluConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ReluConvBn {
    fn new(channels: usize, kernel: usize, device: &Device) -> Self {
        Self {
            conv: conv(channels, channels, kernel, 1, device),
            bn: batch_norm(channels, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward_f32(self.conv.forward(relu(x)))
    }
}

/// One edge with the weights of every operation.
#[derive(Module, Debug)]
struct MixedEdge {
    conv3x3: ReluConvBn,
    conv1x1: ReluConvBn,
    avg_pool: AvgPool2d,
}

impl MixedEdge {
    fn new(channels: usize, device: &Device) -> Self {
        Self {
            conv3x3: ReluConvBn::new(channels, 3, device),
            conv1x1: ReluConvBn::new(channels, 1, device),
            avg_pool: AvgPoolConfigFor3x3::config().init(),
        }
    }

    fn forward(&self, x: Tensor<4>, operation: usize) -> Tensor<4> {
        match operation {
            0 => self.conv3x3.forward(x),
            1 => self.conv1x1.forward(x),
            _ => self.avg_pool.forward(x),
        }
    }
}

/// 3x3 average pooling that keeps the size and averages only real pixels at the border.
struct AvgPoolConfigFor3x3;

impl AvgPoolConfigFor3x3 {
    fn config() -> AvgPool2dConfig {
        AvgPool2dConfig::new([3, 3])
            .with_strides([1, 1])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_count_include_pad(false)
    }
}

#[derive(Module, Debug)]
struct Cell {
    edges: Vec<MixedEdge>,
}

impl Cell {
    fn forward(&self, x: Tensor<4>, operations: [usize; EDGES]) -> Tensor<4> {
        let node1 = self.edges[0].forward(x.clone(), operations[0]);
        self.edges[1].forward(x, operations[1]) + self.edges[2].forward(node1, operations[2])
    }
}

/// The supernet: every architecture of the space, sharing weights.
#[derive(Module, Debug)]
pub struct CellSupernet {
    stem: ConvBn,
    cells: Vec<Cell>,
    cells_per_stage: usize,
    pool: MaxPool2d,
    head: Linear,
}

impl CellSupernet {
    pub fn new(
        in_channels: usize,
        channels: usize,
        stages: usize,
        cells_per_stage: usize,
        num_classes: usize,
        device: &Device,
    ) -> Self {
        let cells = (0..stages * cells_per_stage)
            .map(|_| Cell {
                edges: (0..EDGES)
                    .map(|_| MixedEdge::new(channels, device))
                    .collect(),
            })
            .collect();
        Self {
            stem: ConvBn::new(in_channels, channels, 3, 1, device),
            cells,
            cells_per_stage,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            head: LinearConfig::new(channels, num_classes).init(device),
        }
    }

    /// Logits of architecture `operations` (one operation index per edge).
    pub fn forward(&self, images: Tensor<4>, operations: [usize; EDGES]) -> Tensor<2> {
        let mut x = self.stem.forward(images);
        for (i, cell) in self.cells.iter().enumerate() {
            if i > 0 && i % self.cells_per_stage == 0 {
                // The 2x2 kernel (`kernels.max_pool`); `pool` stays in the module for its record.
                x = crate::kernels::max_pool::max_pool2x2(x);
            }
            x = cell.forward(x, operations);
        }
        self.head.forward(global_avg_pool(relu(x)))
    }

    /// The L2 norms of the gradients of `operations`' convolution weights, summed per
    /// operation over every cell (weight-free operations 0): PA&DA's path importance signal.
    pub fn operation_gradient_norms(
        &self,
        grads: &GradientsParams,
        operations: [usize; EDGES],
    ) -> [f64; OPERATIONS.len()] {
        let mut owners = Vec::new();
        let mut norms = Vec::new();
        for cell in &self.cells {
            for (edge, &operation) in cell.edges.iter().zip(&operations) {
                let weight = match operation {
                    0 => &edge.conv3x3.conv.weight,
                    1 => &edge.conv1x1.conv.weight,
                    _ => continue,
                };
                if let Some(grad) = grads.get::<4>(weight.id) {
                    owners.push(operation);
                    norms.push(grad.square().sum());
                }
            }
        }
        let mut sums = [0.0; OPERATIONS.len()];
        if norms.is_empty() {
            return sums;
        }
        let values = Tensor::cat(norms, 0).into_data();
        for (operation, squared) in owners.into_iter().zip(values.iter::<f64>()) {
            sums[operation] += squared.sqrt();
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{Module, ModuleVisitor, Param};

    /// The per-operation gradient norms equal the norms of every 4-D gradient of that kernel
    /// size found by visiting the model (the stem's 3x3 convolution has 1 input channel,
    /// the cells' 4, so it is told apart by shape).
    #[test]
    fn operation_gradient_norms_sum_the_path_convolutions() {
        let device = Device::flex().autodiff();
        let net = CellSupernet::new(1, 4, 2, 1, 3, &device);
        let images =
            Tensor::<4>::random([2, 1, 8, 8], burn::tensor::Distribution::Default, &device);
        struct Norms<'a>(&'a GradientsParams, usize, f64);
        impl ModuleVisitor for Norms<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let dims: Vec<usize> = param.shape().dims::<D>().to_vec();
                if D == 4
                    && dims[1] == 4
                    && dims[2] == self.1
                    && let Some(grad) = self.0.get::<D>(param.id)
                {
                    self.2 += grad.square().sum().into_scalar::<f64>().sqrt();
                }
            }
        }
        for (path, operation, kernel) in [([0, 0, 0], 0, 3), ([1, 1, 1], 1, 1), ([1, 2, 1], 1, 1)] {
            let logits = net.forward(images.clone(), path);
            let grads = GradientsParams::from_grads(logits.sum().backward(), &net);
            let sums = net.operation_gradient_norms(&grads, path);
            let mut visit = Norms(&grads, kernel, 0.0);
            net.visit(&mut visit);
            assert!(visit.2 > 0.0);
            // f32 norms summed in another order: within 1e-6 relative.
            assert!(
                (sums[operation] - visit.2).abs() <= 1e-6 * visit.2,
                "{sums:?} vs {}",
                visit.2
            );
            assert_eq!(sums[2], 0.0);
            assert_eq!(sums[1 - operation], 0.0);
        }
    }

    #[test]
    fn architectures_enumerate_every_choice_once() {
        let all: Vec<[usize; EDGES]> = (0..ARCHITECTURES).filter_map(operations_of).collect();
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 27);
        assert_eq!(operations_of(5), Some([0, 1, 2]));
        assert_eq!(operations_of(27), None);
        assert_eq!(name_of([0, 1, 2]), "conv3x3|conv1x1|avg_pool3x3");
    }

    /// Only the chosen operations' weights get gradients: an architecture of pooling on
    /// edges 0 and 2 and a 1x1 convolution on edge 1 trains the stem, the 1x1 convolutions
    /// of edge 1 in each cell and the head, nothing else.
    #[test]
    fn a_path_trains_only_its_operations() {
        let device = Device::flex().autodiff();
        let net = CellSupernet::new(1, 4, 2, 1, 3, &device);
        let images =
            Tensor::<4>::random([2, 1, 8, 8], burn::tensor::Distribution::Default, &device);
        let logits = net.forward(images, [2, 1, 2]);
        assert_eq!(logits.dims(), [2, 3]);
        let grads = GradientsParams::from_grads(logits.sum().backward(), &net);
        struct Count<'a>(&'a GradientsParams, usize, usize);
        impl ModuleVisitor for Count<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                // Batch-norm running statistics are visited too; they are not trained.
                if !param.is_require_grad() {
                    return;
                }
                match self.0.get::<D>(param.id) {
                    Some(_) => self.1 += 1,
                    None => self.2 += 1,
                }
            }
        }
        let mut count = Count(&grads, 0, 0);
        net.visit(&mut count);
        // With gradients: stem conv + BN (3), per cell edge 1's conv1x1 conv + BN (3) x 2
        // cells, head (2): 11. Without: everything else.
        assert_eq!(count.1, 11);
        let total = count.1 + count.2;
        // Per edge 2 ReLU-conv-BN of 3 tensors, 3 edges, 2 cells: 36 more.
        assert_eq!(total, 11 + 36 - 6);
    }
}
