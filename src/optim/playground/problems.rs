//! Test functions for optimizers, each a loss of parameters held in a small Burn module.
//! Definitions and constants: docs/optimizer-playground.md.

use burn::module::{Module, Param};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

/// (name, formula) of every problem, for `--problem` and `stoke ls`.
pub const PROBLEMS: &[(&str, &str)] = &[
    ("rosenbrock", "(1-x)^2 + (y-x^2)^2, minimum (1, 1)"),
    ("rosenbrock100", "(1-x)^2 + 100 (y-x^2)^2, minimum (1, 1)"),
    ("quadratic", "x^2 + y^2, minimum (0, 0)"),
    (
        "beale",
        "(1.5-x+xy)^2 + (2.25-x+xy^2)^2 + (2.625-x+xy^3)^2, minimum (3, 0.5)",
    ),
    (
        "rastrigin",
        "20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y), minimum (0, 0)",
    ),
    (
        "scale-invariant",
        "least squares through a row-normalised 4x8 weight (AdamP/SGDP's projection fires)",
    ),
    (
        "conv",
        "least squares through tanh of a 2x1x3x3 conv kernel (AdaHessian's spatial averaging)",
    ),
];

/// A test function of the parameters in `Self::Params`.
pub trait Problem {
    type Params: Module + Clone;
    fn init(&self, device: &Device) -> Self::Params;
    fn loss(&self, params: &Self::Params) -> Tensor<1>;
    /// The parameters as printed in a trajectory (PyTorch layout, row-major).
    fn point(&self, params: &Self::Params) -> Vec<f64>;
}

fn floats<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    tensor.into_data().iter::<f64>().collect()
}

/// A fixed tensor from a formula of the row-major index, computed in f64 and cast to f32.
fn table<const D: usize>(dims: [usize; D], f: impl Fn(usize) -> f64, device: &Device) -> Tensor<D> {
    let n: usize = dims.iter().product();
    let values: Vec<f32> = (0..n).map(|i| f(i) as f32).collect();
    Tensor::from_data(TensorData::new(values, dims), device)
}

#[derive(Module, Debug)]
pub struct Point {
    pub xy: Param<Tensor<1>>,
}

/// The 2-D functions.
#[derive(Clone, Copy, Debug)]
pub enum Plane {
    Rosenbrock(f64),
    Quadratic,
    Beale,
    Rastrigin,
}

/// A 2-D function started at `start`.
#[derive(Clone, Copy, Debug)]
pub struct PlaneProblem {
    pub function: Plane,
    pub start: [f64; 2],
}

impl Plane {
    /// The function and its minimiser by name.
    pub fn by_name(name: &str) -> Option<(Self, [f64; 2])> {
        Some(match name {
            "rosenbrock" => (Plane::Rosenbrock(1.0), [1.0, 1.0]),
            "rosenbrock100" => (Plane::Rosenbrock(100.0), [1.0, 1.0]),
            "quadratic" => (Plane::Quadratic, [0.0, 0.0]),
            "beale" => (Plane::Beale, [3.0, 0.5]),
            "rastrigin" => (Plane::Rastrigin, [0.0, 0.0]),
            _ => return None,
        })
    }

    /// f(x, y) on tensors of any shape (elementwise), so it serves the contour plot too.
    pub fn eval<const D: usize>(self, x: Tensor<D>, y: Tensor<D>) -> Tensor<D> {
        match self {
            Plane::Rosenbrock(b) => {
                x.clone().neg().add_scalar(1.0).square() + (y - x.square()).square().mul_scalar(b)
            }
            Plane::Quadratic => x.square() + y.square(),
            Plane::Beale => {
                let term = |c: f64, power: i32| {
                    (x.clone().neg() + x.clone() * y.clone().powi_scalar(power))
                        .add_scalar(c)
                        .square()
                };
                term(1.5, 1) + term(2.25, 2) + term(2.625, 3)
            }
            Plane::Rastrigin => {
                let tau = 2.0 * std::f64::consts::PI;
                let bowl =
                    |v: Tensor<D>| v.clone().square() - v.mul_scalar(tau).cos().mul_scalar(10.0);
                (bowl(x) + bowl(y)).add_scalar(20.0)
            }
        }
    }
}

impl Problem for PlaneProblem {
    type Params = Point;

    fn init(&self, device: &Device) -> Point {
        let xy = Tensor::from_data(
            TensorData::new(vec![self.start[0] as f32, self.start[1] as f32], [2]),
            device,
        );
        Point {
            xy: Param::from_tensor(xy),
        }
    }

    fn loss(&self, params: &Point) -> Tensor<1> {
        let xy = params.xy.val();
        self.function
            .eval(xy.clone().narrow(0, 0, 1), xy.narrow(0, 1, 1))
    }

    fn point(&self, params: &Point) -> Vec<f64> {
        floats(params.xy.val())
    }
}

#[derive(Module, Debug)]
pub struct Weight {
    /// Burn `Linear` layout `[inputs = 8, outputs = 4]`.
    pub w: Param<Tensor<2>>,
}

/// Least squares through a weight whose output units are normalised: the loss is invariant
/// to the scale of each unit's weights.
pub struct ScaleInvariant;

impl Problem for ScaleInvariant {
    type Params = Weight;

    fn init(&self, device: &Device) -> Weight {
        // W0[r][i] = sin(1.1 (8r + i) + 0.5) in PyTorch's [4, 8]; stored transposed.
        let torch_layout = table([4, 8], |k| (1.1 * k as f64 + 0.5).sin(), device);
        Weight {
            w: Param::from_tensor(torch_layout.transpose()),
        }
    }

    fn loss(&self, params: &Weight) -> Tensor<1> {
        let device = params.w.val().device();
        let x = table([16, 8], |k| (0.7 * k as f64 + 0.3).sin(), &device);
        let y = table([16, 4], |k| (1.3 * k as f64).cos(), &device);
        let w = params.w.val();
        let unit = w.clone() / w.square().sum_dim(0).sqrt();
        (x.matmul(unit) - y).square().mean()
    }

    fn point(&self, params: &Weight) -> Vec<f64> {
        floats(params.w.val().transpose())
    }
}

#[derive(Module, Debug)]
pub struct Kernel {
    /// `[out = 2, in = 1, kh = 3, kw = 3]`.
    pub k: Param<Tensor<4>>,
}

/// Least squares through tanh of a convolution with one kernel.
pub struct ConvFit;

impl Problem for ConvFit {
    type Params = Kernel;

    fn init(&self, device: &Device) -> Kernel {
        let k = table([2, 1, 3, 3], |i| 0.4 * (1.7 * i as f64 + 0.2).sin(), device);
        Kernel {
            k: Param::from_tensor(k),
        }
    }

    fn loss(&self, params: &Kernel) -> Tensor<1> {
        let device = params.k.val().device();
        let image = table([1, 1, 6, 6], |i| (0.5 * i as f64 + 0.1).sin(), &device);
        let target = table([1, 2, 4, 4], |i| 0.5 * (0.9 * i as f64).cos(), &device);
        let out = conv2d(
            image,
            params.k.val(),
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        (out.tanh() - target).square().mean()
    }

    fn point(&self, params: &Kernel) -> Vec<f64> {
        floats(params.k.val())
    }
}
