//! The multi-block hyper-parameter optimisation problem of the official BSVRB code
//! (Hyperparameter_Optimization/HO/main.py): m tasks share one binary data set; task i fits a
//! linear logistic model w_i to the training set with per-sample weights sigmoid(p_j) and a
//! task scale sigma_i (margins y w.x / sigma_i), and the upper level picks p to minimise the
//! validation loss averaged over tasks:
//!
//!   min_p F(p) = 1/m sum_i f_i(w_i*(p)),  f_i(w) = mean_val ln(1 + exp(-y w.x / sigma_i)),
//!   w_i*(p) = argmin_w g_i(p, w) = mean_train sigmoid(p_j) ln(1 + exp(-y_j w.x_j / sigma_i))
//!                                  + lambda / 2 |w|^2.
//!
//! Features carry a leading 1 (the bias, `np.append([1], x)` in the official code). The
//! oracles are the official ones on a batch of sample indices.

use super::dense::{dot, sigmoid, softplus};
use crate::usage_error;

#[derive(Clone, Debug)]
pub struct BilevelProblem {
    /// Length of each w_i: features + 1.
    pub dim: usize,
    /// Rows of `dim` values, bias first.
    pub train_x: Vec<f64>,
    /// Labels in {-1, +1}.
    pub train_y: Vec<f64>,
    pub val_x: Vec<f64>,
    pub val_y: Vec<f64>,
    pub test_x: Vec<f64>,
    pub test_y: Vec<f64>,
    /// The scale sigma_i of each task (the official `sig_list.p` holds 1 + 10 U[0, 1)).
    pub sigma: Vec<f64>,
}

/// The lower-level oracles of one task on one training batch at (p, w).
#[derive(Clone, Debug, PartialEq)]
pub struct LowerOracles {
    /// grad_w g_i.
    pub grad: Vec<f64>,
    /// grad^2_ww g_i, row-major dim x dim.
    pub hessian: Vec<f64>,
    /// grad^2_pw g_i is zero except for the batch's rows; row j is `coefficient * x_j`,
    /// stored as (j, coefficient) in batch order.
    pub cross: Vec<(usize, f64)>,
}

/// A data set of rows without the bias: (features, labels).
pub type Split<'a> = (&'a [Vec<f64>], &'a [f64]);

impl BilevelProblem {
    /// Builds a problem from feature rows without the bias column; labels must be -1 or +1,
    /// scales positive, every value finite.
    pub fn from_rows(
        train: Split,
        val: Split,
        test: Split,
        sigma: Vec<f64>,
    ) -> anyhow::Result<BilevelProblem> {
        let features = train.0.first().map_or(0, |r| r.len());
        let pack = |(rows, labels): Split, name: &str| -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
            if rows.is_empty() || rows.len() != labels.len() {
                return Err(usage_error!(
                    "bilevel: the {name} set has {} rows and {} labels: expected as many of \
                     each, at least one",
                    rows.len(),
                    labels.len()
                ));
            }
            let mut x = Vec::with_capacity(rows.len() * (features + 1));
            for row in rows {
                if row.len() != features || row.iter().any(|v| !v.is_finite()) {
                    return Err(usage_error!(
                        "bilevel: a {name} row has {} values or a non-finite one: expected \
                         {features} finite features",
                        row.len()
                    ));
                }
                x.push(1.0);
                x.extend_from_slice(row);
            }
            if let Some(y) = labels.iter().find(|&&y| y != 1.0 && y != -1.0) {
                return Err(usage_error!("bilevel: {name} label {y}: expected -1 or 1"));
            }
            Ok((x, labels.to_vec()))
        };
        let (train_x, train_y) = pack(train, "training")?;
        let (val_x, val_y) = pack(val, "validation")?;
        let (test_x, test_y) = pack(test, "test")?;
        if sigma.is_empty() || sigma.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(usage_error!(
                "bilevel: task scales {sigma:?}: expected at least one task, each scale \
                 finite and positive"
            ));
        }
        Ok(BilevelProblem {
            dim: features + 1,
            train_x,
            train_y,
            val_x,
            val_y,
            test_x,
            test_y,
            sigma,
        })
    }

    pub fn tasks(&self) -> usize {
        self.sigma.len()
    }

    pub fn n_train(&self) -> usize {
        self.train_y.len()
    }

    pub fn n_val(&self) -> usize {
        self.val_y.len()
    }

    fn train_row(&self, j: usize) -> &[f64] {
        &self.train_x[j * self.dim..(j + 1) * self.dim]
    }

    fn val_row(&self, j: usize) -> &[f64] {
        &self.val_x[j * self.dim..(j + 1) * self.dim]
    }

    /// grad_w g_i, grad^2_ww g_i and grad^2_pw g_i of task `task` on the training samples
    /// `batch` at (p, w). `hessian_sign` multiplies the data term of the Hessian: +1 is the
    /// true Hessian, -1 the official code's `hess_yy_g` (its -e/(1+e)^2 factor).
    pub fn lower_oracles(
        &self,
        task: usize,
        p: &[f64],
        w: &[f64],
        batch: &[usize],
        hessian_sign: f64,
        lambda: f64,
    ) -> LowerOracles {
        let d = self.dim;
        let b = batch.len() as f64;
        let mut grad = vec![0.0; d];
        let mut hessian = vec![0.0; d * d];
        let mut cross = Vec::with_capacity(batch.len());
        for &j in batch {
            let x = self.train_row(j);
            let a = self.train_y[j] / self.sigma[task];
            let z = a * dot(w, x);
            // 1 - 1 / (1 + e^-z) = sigmoid(-z): minus the loss's derivative in the margin.
            let r = sigmoid(-z);
            let weight = sigmoid(p[j]);
            let g = -weight * r * a;
            for (gk, xk) in grad.iter_mut().zip(x) {
                *gk += g * xk;
            }
            let h = hessian_sign * weight * a * a * sigmoid(z) * r;
            for (row, xr) in hessian.chunks_exact_mut(d).zip(x) {
                for (hk, xk) in row.iter_mut().zip(x) {
                    *hk += h * xr * xk;
                }
            }
            // d sigmoid(p) / dp = sigmoid(p) sigmoid(-p) (the official e^p / (1 + e^p)^2).
            cross.push((j, -weight * sigmoid(-p[j]) * r * a / b));
        }
        for (gk, wk) in grad.iter_mut().zip(w) {
            *gk = *gk / b + lambda * wk;
        }
        for (k, hk) in hessian.iter_mut().enumerate() {
            *hk /= b;
            if k % (d + 1) == 0 {
                *hk += lambda;
            }
        }
        LowerOracles {
            grad,
            hessian,
            cross,
        }
    }

    /// grad_w f_i of task `task` on the validation samples `batch` at w.
    pub fn upper_grad(&self, task: usize, w: &[f64], batch: &[usize]) -> Vec<f64> {
        let mut grad = vec![0.0; self.dim];
        for &j in batch {
            let x = self.val_row(j);
            let a = self.val_y[j] / self.sigma[task];
            let g = -sigmoid(-a * dot(w, x)) * a;
            for (gk, xk) in grad.iter_mut().zip(x) {
                *gk += g * xk;
            }
        }
        let b = batch.len() as f64;
        grad.iter_mut().for_each(|g| *g /= b);
        grad
    }

    /// The mean over tasks and samples of ln(1 + exp(-y w_i.x / sigma_i)) on the validation
    /// set (the upper objective F, the official `f_evaluation`) or the test set, and the test
    /// accuracy of sign(w_i.x) averaged the same way.
    pub fn evaluate(&self, w: &[&[f64]]) -> Evaluation {
        let loss = |x: &[f64], y: &[f64]| {
            let mut total = 0.0;
            for (i, wi) in w.iter().enumerate() {
                for (row, &yj) in x.chunks_exact(self.dim).zip(y) {
                    total += softplus(-yj / self.sigma[i] * dot(wi, row));
                }
            }
            total / (w.len() * y.len()) as f64
        };
        let mut correct = 0usize;
        for wi in w {
            for (row, &yj) in self.test_x.chunks_exact(self.dim).zip(&self.test_y) {
                correct += usize::from(yj * dot(wi, row) > 0.0);
            }
        }
        Evaluation {
            upper_objective: loss(&self.val_x, &self.val_y),
            test_loss: loss(&self.test_x, &self.test_y),
            test_accuracy: correct as f64 / (w.len() * self.test_y.len()) as f64,
        }
    }
}

/// The upper objective and test metrics of one iterate.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// F: the validation loss averaged over tasks.
    pub upper_objective: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
}
