//! The step sizes and estimator weights of BSVRB and RSVRB, with the official defaults, and
//! the switches that reproduce the official code's two oracle bugs for parity runs.

use crate::usage_error;
use serde::Serialize;

/// The hyper-parameters of the official `main.py` (its argparse defaults in `official()`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BsvrbSettings {
    /// lambda: the lower level's L2 weight.
    pub lambda: f64,
    /// eta: step on the upper variable p.
    pub eta: f64,
    /// alpha, gamma: the MSVR estimator weights, s <- (1 - alpha) s + (alpha + gamma) g(new)
    /// - gamma g(old).
    pub alpha: f64,
    pub gamma: f64,
    /// beta: the STORM weight of the upper estimator z (and of all of RSVRB's estimators).
    pub beta: f64,
    /// tau: step on the lower variables w_i.
    pub tau: f64,
    /// tau_v: step on v_i (BSVRB v2); the official `--tau_v 0` means "same as tau".
    pub tau_v: f64,
    /// The Frobenius norm below which an H_i estimate is scaled up to it (v1, RSVRB).
    pub h_bound: f64,
    /// The radius of the ball v_i is projected onto (v2).
    pub v_bound: f64,
    /// I: tasks sampled per iteration.
    pub task_batch: usize,
    /// B: training and validation samples per sampled task.
    pub data_batch: usize,
}

impl BsvrbSettings {
    /// `main.py`'s defaults: lamb 1e-5, eta 1e-3, alpha 0.9, gamma 1, beta 0.9, tau 0.5,
    /// tau_v = tau, H_bound 10, v_bound 10, task batch 10, data batch 32.
    pub fn official() -> BsvrbSettings {
        BsvrbSettings {
            lambda: 1e-5,
            eta: 1e-3,
            alpha: 0.9,
            gamma: 1.0,
            beta: 0.9,
            tau: 0.5,
            tau_v: 0.5,
            h_bound: 10.0,
            v_bound: 10.0,
            task_batch: 10,
            data_batch: 32,
        }
    }

    /// Checks values and that the batches fit a problem with `tasks` blocks, `train` training
    /// and `val` validation samples.
    pub fn validate(&self, tasks: usize, train: usize, val: usize) -> anyhow::Result<()> {
        for (name, value) in [
            ("lambda", self.lambda),
            ("eta", self.eta),
            ("tau", self.tau),
            ("tau_v", self.tau_v),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(usage_error!(
                    "bilevel: {name} = {value}: expected a finite number >= 0"
                ));
            }
        }
        for (name, value) in [("alpha", self.alpha), ("beta", self.beta)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(usage_error!(
                    "bilevel: {name} = {value}: expected a weight in [0, 1]"
                ));
            }
        }
        if !self.gamma.is_finite() {
            return Err(usage_error!(
                "bilevel: gamma = {}: expected a finite number",
                self.gamma
            ));
        }
        for (name, value) in [("h_bound", self.h_bound), ("v_bound", self.v_bound)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(usage_error!(
                    "bilevel: {name} = {value}: expected a finite number > 0"
                ));
            }
        }
        if self.task_batch == 0 || self.task_batch > tasks {
            return Err(usage_error!(
                "bilevel: task_batch = {}: expected 1 to the number of tasks ({tasks})",
                self.task_batch
            ));
        }
        let per_iteration = self.task_batch * self.data_batch;
        if self.data_batch == 0 || per_iteration > train.min(val) {
            return Err(usage_error!(
                "bilevel: data_batch = {} (x task_batch {} = {per_iteration} samples an \
                 iteration): expected at least 1 and at most the smaller of the training ({train}) \
                 and validation ({val}) sizes",
                self.data_batch,
                self.task_batch
            ));
        }
        Ok(())
    }
}

/// Reproductions of two bugs in the official oracles, off by default; parity tests against
/// the unmodified official code turn them on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Quirks {
    /// `hess_yy_g` multiplies the data term by -e/(1+e)^2 instead of +e/(1+e)^2, so H_i
    /// estimates a negated (indefinite) Hessian (BSVRB v1, v2 and RSVRB).
    pub negated_hessian: bool,
    /// BSVRB v2 takes `np.transpose(1-D)[0]`, the first entry of H_i v_i and of
    /// grad^2_pw g_i v_i, and broadcasts that scalar over the whole vector.
    pub v2_first_entry: bool,
}

impl Quirks {
    pub const NONE: Quirks = Quirks {
        negated_hessian: false,
        v2_first_entry: false,
    };
    pub const OFFICIAL: Quirks = Quirks {
        negated_hessian: true,
        v2_first_entry: true,
    };

    pub fn hessian_sign(&self) -> f64 {
        if self.negated_hessian { -1.0 } else { 1.0 }
    }
}

/// Scales H up to Frobenius norm `bound` when it is smaller (the official `proj_mat`).
pub fn project_h(h: &mut [f64], bound: f64) {
    let norm = super::dense::norm(h);
    if norm < bound {
        let scale = bound / norm;
        h.iter_mut().for_each(|x| *x *= scale);
    }
}
