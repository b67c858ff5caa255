//! AdaHessian's finite-difference Hessian-vector products against exact ones: a quadratic
//! (Hz = Az in closed form) and a small tanh MLP whose Hz is computed on the host in f64 by
//! nested central differences. Plus: the perturbed passes leave batch-norm statistics alone.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use stoke::optim::hutchinson::{Difference, Hutchinson, probe};

const SEED: u64 = 11;
const STEP: usize = 3;

fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

fn tensor<const D: usize>(values: &[f64], dims: [usize; D], device: &Device) -> Tensor<D> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// max |a - b| / max |b|.
fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

#[derive(Module, Debug)]
struct Vector {
    w: Param<Tensor<1>>,
}

/// A fixed symmetric positive definite 6x6 matrix.
fn spd() -> Vec<f64> {
    let n = 6;
    let m: Vec<f64> = (0..n * n).map(|k| (0.37 * k as f64 + 0.1).sin()).collect();
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = (0..n).map(|k| m[k * n + i] * m[k * n + j]).sum::<f64>()
                + if i == j { 1.0 } else { 0.0 };
        }
    }
    a
}

#[test]
fn quadratic_hessian_vector_product_is_az() {
    let device = Device::flex().autodiff();
    let a = spd();
    let w0: Vec<f64> = (0..6).map(|i| 0.5 - 0.3 * i as f64).collect();
    let model = Vector {
        w: Param::from_tensor(tensor(&w0, [6], &device)),
    };
    let matrix = tensor(&a, [6, 6], &device);
    let loss = |m: &Vector| {
        let w = m.w.val().reshape([1, 6]);
        (w.clone().matmul(matrix.clone()) * w).sum().mul_scalar(0.5)
    };
    let grads = GradientsParams::from_grads(loss(&model).backward(), &model);
    let z = host(probe::<1>(SEED, STEP, 0, [6], &device));
    let exact: Vec<f64> = (0..6)
        .map(|i| (0..6).map(|j| a[i * 6 + j] * z[j]).sum())
        .collect();
    for difference in [Difference::Central, Difference::Forward] {
        let hutchinson = Hutchinson::new(difference, None, 1).unwrap();
        let hz = hutchinson.hessian_vector(&model, &grads, SEED, STEP, loss, |_, g| g);
        let got = host(hz.get::<1>(model.w.id).unwrap());
        // A quadratic has no truncation error; what is left is f32 rounding of gradients of
        // size ~5 divided by the step r ~ 5e-3 (central) or 3.5e-4 (forward).
        let tolerance = match difference {
            Difference::Central => 1e-4,
            Difference::Forward => 2e-3,
        };
        let error = relative_error(&got, &exact);
        assert!(
            error < tolerance,
            "{difference:?}: {error:e}\n{got:?}\n{exact:?}"
        );
    }
}

#[derive(Module, Debug)]
struct Mlp {
    w1: Param<Tensor<2>>,
    b1: Param<Tensor<1>>,
    w2: Param<Tensor<2>>,
}

const INPUTS: usize = 3;
const HIDDEN: usize = 4;
const OUTPUTS: usize = 2;
const SAMPLES: usize = 5;

fn data() -> (Vec<f64>, Vec<f64>) {
    let x = (0..SAMPLES * INPUTS)
        .map(|k| (0.9 * k as f64 + 0.2).sin())
        .collect();
    let y = (0..SAMPLES * OUTPUTS)
        .map(|k| 0.5 * (1.3 * k as f64).cos())
        .collect();
    (x, y)
}

/// The MLP's loss in f64 on the host; `theta` is w1 (row-major [3, 4]), b1, w2 ([4, 2]).
fn mlp_loss_f64(theta: &[f64]) -> f64 {
    let (x, y) = data();
    let (w1, rest) = theta.split_at(INPUTS * HIDDEN);
    let (b1, w2) = rest.split_at(HIDDEN);
    let mut total = 0.0;
    for s in 0..SAMPLES {
        let hidden: Vec<f64> = (0..HIDDEN)
            .map(|h| {
                let pre: f64 = (0..INPUTS)
                    .map(|i| x[s * INPUTS + i] * w1[i * HIDDEN + h])
                    .sum();
                (pre + b1[h]).tanh()
            })
            .collect();
        for o in 0..OUTPUTS {
            let out: f64 = (0..HIDDEN).map(|h| hidden[h] * w2[h * OUTPUTS + o]).sum();
            total += (out - y[s * OUTPUTS + o]).powi(2);
        }
    }
    total / (SAMPLES * OUTPUTS) as f64
}

fn mlp_loss(m: &Mlp) -> Tensor<1> {
    let device = m.w1.val().device();
    let (x, y) = data();
    let x = tensor(&x, [SAMPLES, INPUTS], &device);
    let y = tensor(&y, [SAMPLES, OUTPUTS], &device);
    let hidden = (x.matmul(m.w1.val()) + m.b1.val().reshape([1, HIDDEN])).tanh();
    (hidden.matmul(m.w2.val()) - y).square().mean()
}

/// Hz in f64 by central differences of a central-difference gradient.
fn reference_hz(theta: &[f64], z: &[f64]) -> Vec<f64> {
    let (eps, delta) = (1e-4, 1e-4);
    let gradient = |at: &[f64]| -> Vec<f64> {
        (0..at.len())
            .map(|i| {
                let (mut up, mut down) = (at.to_vec(), at.to_vec());
                up[i] += delta;
                down[i] -= delta;
                (mlp_loss_f64(&up) - mlp_loss_f64(&down)) / (2.0 * delta)
            })
            .collect()
    };
    let moved = |sign: f64| -> Vec<f64> {
        theta
            .iter()
            .zip(z)
            .map(|(t, v)| t + sign * eps * v)
            .collect()
    };
    let (plus, minus) = (gradient(&moved(1.0)), gradient(&moved(-1.0)));
    plus.iter()
        .zip(minus)
        .map(|(p, m)| (p - m) / (2.0 * eps))
        .collect()
}

#[test]
fn mlp_hessian_vector_product_matches_f64_reference() {
    let device = Device::flex().autodiff();
    let theta: Vec<f64> = (0..INPUTS * HIDDEN + HIDDEN + HIDDEN * OUTPUTS)
        .map(|k| 0.8 * (0.61 * k as f64 + 0.4).sin())
        .collect();
    let (w1, rest) = theta.split_at(INPUTS * HIDDEN);
    let (b1, w2) = rest.split_at(HIDDEN);
    let model = Mlp {
        w1: Param::from_tensor(tensor(w1, [INPUTS, HIDDEN], &device)),
        b1: Param::from_tensor(tensor(b1, [HIDDEN], &device)),
        w2: Param::from_tensor(tensor(w2, [HIDDEN, OUTPUTS], &device)),
    };
    // The probes of parameters 0, 1, 2 in module order, flattened like theta.
    let mut z = host(probe::<2>(SEED, STEP, 0, [INPUTS, HIDDEN], &device));
    z.extend(host(probe::<1>(SEED, STEP, 1, [HIDDEN], &device)));
    z.extend(host(probe::<2>(SEED, STEP, 2, [HIDDEN, OUTPUTS], &device)));
    let exact = reference_hz(&theta, &z);

    let grads = GradientsParams::from_grads(mlp_loss(&model).backward(), &model);
    for (difference, tolerance) in [(Difference::Central, 2e-3), (Difference::Forward, 2e-2)] {
        let hz = Hutchinson::new(difference, None, 1)
            .unwrap()
            .hessian_vector(&model, &grads, SEED, STEP, mlp_loss, |_, g| g);
        let mut got = host(hz.get::<2>(model.w1.id).unwrap());
        got.extend(host(hz.get::<1>(model.b1.id).unwrap()));
        got.extend(host(hz.get::<2>(model.w2.id).unwrap()));
        // Central: O(r^2) truncation with r ~ 4e-3 plus f32 gradient rounding / r; forward:
        // O(r) truncation with r ~ 3e-4 and rounding / r. Measured well inside these bounds.
        let error = relative_error(&got, &exact);
        println!("{difference:?}: relative error {error:.2e}");
        assert!(
            error < tolerance,
            "{difference:?}: {error:e}\n{got:?}\n{exact:?}"
        );
    }
}

/// Every float tensor of a module, running statistics included.
fn all_values<M: Module>(model: &M) -> Vec<Vec<f64>> {
    struct Collect(Vec<Vec<f64>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(host(param.val()));
        }
    }
    let mut collect = Collect(Vec::new());
    model.valid().visit(&mut collect);
    collect.0
}

#[test]
fn perturbed_passes_leave_batch_norm_statistics_alone() {
    let device = Device::flex().autodiff();
    let (config, _) = stoke::config::resolve("smoke", &[]).unwrap();
    let model = config.model.build([1, 8, 8], 3, &device).unwrap();
    let images = Tensor::<4>::from_data(
        TensorData::new(
            (0..4 * 64).map(|k| (k as f32 * 0.1).sin()).collect(),
            [4, 1, 8, 8],
        ),
        &device,
    );
    let loss = |m: &stoke::models::Classifier| m.forward(images.clone()).square().mean();
    let grads = GradientsParams::from_grads(loss(&model).backward(), &model);
    let before = all_values(&model);
    Hutchinson::new(Difference::Central, None, 1)
        .unwrap()
        .hessian_vector(&model, &grads, SEED, STEP, loss, |_, g| g);
    assert_eq!(all_values(&model), before);
}
