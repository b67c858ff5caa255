//! BSVRB (Hu et al., ICML 2023, Algorithm 1 "v1" and Algorithm 2 "v2"), as in the official
//! `BSVRB()` of Hyperparameter_Optimization/HO/main.py.
//!
//! Each iteration samples I blocks. For a sampled block i, MSVR estimators (weights alpha,
//! gamma) track grad_w g_i (s_i) and either the Hessian grad^2_ww g_i (v1: H_i, kept at
//! Frobenius norm >= H_bound) or the residual H v_i - grad_w f_i of the linear system whose
//! solution v_i tracks [grad^2_ww g_i]^-1 grad_w f_i (v2: u_i, with v_i stepped by tau_v and
//! kept in a ball, so no inverse is formed). The block's hyper-gradient term
//! -grad^2_pw g_i H_i^-1 grad_w f_i (v1) or -grad^2_pw g_i v_i (v2) is evaluated at the new and
//! the previous iterate, and STORM (weight beta) averages their block means into z, the
//! estimate of grad F(p); p steps by eta z.
//!
//! v1 steps every w_i by tau s_i (unsampled blocks keep their last s_i); v2 steps only sampled
//! blocks, by tau times the number of iterations since the block's last update.
//!
//! The per-block work runs on [`Workers`]; contributions are summed in the batch's order.

use super::dense::{dot, matvec, norm, solve};
use super::parallel::Workers;
use super::problem::{BilevelProblem, LowerOracles};
use super::sampling::Batch;
use super::settings::{BsvrbSettings, Quirks, project_h};
use crate::rng::{Rng, Stream};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BsvrbVariant {
    /// Tracks the block Hessians H_i and solves with them.
    V1,
    /// Tracks v_i ~ H_i^-1 grad f_i through the residual estimator u_i.
    V2,
}

/// One block's variables; `_prev` is the value one iteration earlier (the official `_0`).
#[derive(Clone, Debug, PartialEq)]
pub struct BsvrbBlock {
    pub w_prev: Vec<f64>,
    pub w: Vec<f64>,
    /// Estimate of grad_w g_i.
    pub s: Vec<f64>,
    /// v1: Hessian estimates, row-major (carried but unused by v2, as in the official code).
    pub h_prev: Vec<f64>,
    pub h: Vec<f64>,
    /// v2: the approximate solutions v_i and the residual estimate u_i.
    pub v_prev: Vec<f64>,
    pub v: Vec<f64>,
    pub u: Vec<f64>,
    /// v2: iterations since the block was last sampled.
    pub delay: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BsvrbState {
    pub p_prev: Vec<f64>,
    pub p: Vec<f64>,
    /// The STORM estimate of grad F(p).
    pub z: Vec<f64>,
    pub blocks: Vec<BsvrbBlock>,
}

/// Uniform [0, 1) values (the official code initialises every variable with np.random.rand).
pub(super) fn uniform(seed: u64, variable: u64, n: usize) -> Vec<f64> {
    let mut rng = Rng::new(seed, Stream::Solve, 41, variable);
    (0..n).map(|_| rng.uniform()).collect()
}

impl BsvrbState {
    pub fn init(problem: &BilevelProblem, seed: u64) -> BsvrbState {
        let (n, d) = (problem.n_train(), problem.dim);
        let blocks = (0..problem.tasks() as u64)
            .map(|i| {
                let k = 8 * (i + 1);
                BsvrbBlock {
                    w_prev: uniform(seed, k, d),
                    w: uniform(seed, k + 1, d),
                    s: uniform(seed, k + 2, d),
                    h_prev: uniform(seed, k + 3, d * d),
                    h: uniform(seed, k + 4, d * d),
                    v_prev: uniform(seed, k + 5, d),
                    v: uniform(seed, k + 6, d),
                    u: uniform(seed, k + 7, d),
                    delay: 0.0,
                }
            })
            .collect();
        BsvrbState {
            p_prev: uniform(seed, 0, n),
            p: uniform(seed, 1, n),
            z: uniform(seed, 2, n),
            blocks,
        }
    }
}

/// A block's term of the hyper-gradient sum G: entries at the batch's rows, or (the official
/// v2 indexing bug) one scalar added to every entry.
#[derive(Clone, Debug)]
pub(super) enum Contribution {
    Rows(Vec<(usize, f64)>),
    Everywhere(f64),
}

impl Contribution {
    pub(super) fn add_to(&self, g: &mut [f64]) {
        match self {
            Contribution::Rows(rows) => rows.iter().for_each(|&(j, x)| g[j] += x),
            Contribution::Everywhere(x) => g.iter_mut().for_each(|gj| *gj += x),
        }
    }
}

/// -grad^2_pw g_i y: row j of the cross Jacobian is coefficient_j x_j.
fn minus_cross_times(problem: &BilevelProblem, o: &LowerOracles, y: &[f64]) -> Vec<(usize, f64)> {
    let d = problem.dim;
    o.cross
        .iter()
        .map(|&(j, c)| (j, -(c * dot(&problem.train_x[j * d..(j + 1) * d], y))))
        .collect()
}

/// `(1 - alpha) e + (alpha + gamma) new - gamma old`, in place.
fn msvr(e: &mut [f64], new: &[f64], old: &[f64], s: &BsvrbSettings) {
    for ((ek, nk), ok) in e.iter_mut().zip(new).zip(old) {
        *ek = (1.0 - s.alpha) * *ek + (s.alpha + s.gamma) * nk - s.gamma * ok;
    }
}

/// One iteration of BSVRB on `batch` (its sampled tasks must be distinct).
pub fn step(
    problem: &BilevelProblem,
    settings: &BsvrbSettings,
    variant: BsvrbVariant,
    quirks: Quirks,
    state: &mut BsvrbState,
    batch: &Batch,
    workers: &Workers,
) {
    let mut slot = vec![None; problem.tasks()];
    for (t, &i) in batch.tasks.iter().enumerate() {
        slot[i] = Some(t);
    }
    let (p, p_prev) = (&state.p, &state.p_prev);
    let sign = quirks.hessian_sign();
    let terms = workers.map_mut(&mut state.blocks, |i, block| {
        let t = slot[i]?;
        let (train, val) = (batch.train_slice(t), batch.val_slice(t));
        let new = problem.lower_oracles(i, p, &block.w, train, sign, settings.lambda);
        let old = problem.lower_oracles(i, p_prev, &block.w_prev, train, sign, settings.lambda);
        msvr(&mut block.s, &new.grad, &old.grad, settings);
        let f_new = problem.upper_grad(i, &block.w, val);
        let f_old = problem.upper_grad(i, &block.w_prev, val);
        let terms = match variant {
            BsvrbVariant::V1 => {
                let mut h = block.h.clone();
                msvr(&mut h, &new.hessian, &old.hessian, settings);
                project_h(&mut h, settings.h_bound);
                let g_old = minus_cross_times(problem, &old, &solve(&block.h_prev, &f_old));
                let g_new = minus_cross_times(problem, &new, &solve(&block.h, &f_new));
                block.h_prev = std::mem::replace(&mut block.h, h);
                (Contribution::Rows(g_old), Contribution::Rows(g_new))
            }
            BsvrbVariant::V2 => {
                let residual = |o: &LowerOracles, v: &[f64], f: &[f64]| -> Vec<f64> {
                    let hv = matvec(&o.hessian, v);
                    if quirks.v2_first_entry {
                        f.iter().map(|fk| hv[0] - fk).collect()
                    } else {
                        hv.iter().zip(f).map(|(a, b)| a - b).collect()
                    }
                };
                let r_new = residual(&new, &block.v, &f_new);
                let r_old = residual(&old, &block.v_prev, &f_old);
                msvr(&mut block.u, &r_new, &r_old, settings);
                let g_old = minus_cross_times(problem, &old, &block.v_prev);
                let g_new = minus_cross_times(problem, &new, &block.v);
                if quirks.v2_first_entry {
                    // Entry 0 of grad^2_pw g_i v_i: nonzero only when sample 0 is in the batch.
                    let first = |g: &[(usize, f64)]| {
                        g.iter().find(|(j, _)| *j == 0).map_or(0.0, |&(_, x)| x)
                    };
                    (
                        Contribution::Everywhere(first(&g_old)),
                        Contribution::Everywhere(first(&g_new)),
                    )
                } else {
                    (Contribution::Rows(g_old), Contribution::Rows(g_new))
                }
            }
        };
        Some((t, terms))
    });
    // Lower-level steps of every block (cheap; sequential).
    for (i, block) in state.blocks.iter_mut().enumerate() {
        let mut w = block.w.clone();
        match variant {
            BsvrbVariant::V1 => {
                for (wk, sk) in w.iter_mut().zip(&block.s) {
                    *wk -= settings.tau * sk;
                }
                if slot[i].is_none() {
                    block.h_prev.clone_from(&block.h);
                }
            }
            BsvrbVariant::V2 => {
                block.h_prev.clone_from(&block.h);
                let mut v = block.v.clone();
                if slot[i].is_some() {
                    let k = block.delay + 1.0;
                    for (wk, sk) in w.iter_mut().zip(&block.s) {
                        *wk -= settings.tau * k * sk;
                    }
                    for (vk, uk) in v.iter_mut().zip(&block.u) {
                        *vk -= settings.tau_v * k * uk;
                    }
                    let n = norm(&v);
                    if n > settings.v_bound {
                        v.iter_mut().for_each(|x| *x = *x / n * settings.v_bound);
                    }
                    block.delay = 0.0;
                } else {
                    block.delay += 1.0;
                }
                block.v_prev = std::mem::replace(&mut block.v, v);
            }
        }
        block.w_prev = std::mem::replace(&mut block.w, w);
    }
    // G_0, G_1 summed in the batch's task order, whatever the thread count.
    let mut ordered: Vec<_> = terms.into_iter().flatten().collect();
    ordered.sort_by_key(|(t, _)| *t);
    let n = state.p.len();
    let (mut g_old, mut g_new) = (vec![0.0; n], vec![0.0; n]);
    for (_, (old, new)) in &ordered {
        old.add_to(&mut g_old);
        new.add_to(&mut g_new);
    }
    let upper = (&mut state.p_prev, &mut state.p, &mut state.z);
    storm_and_step(upper, &g_old, &g_new, batch.tasks.len(), settings);
}

/// z <- (1 - beta)(z - G_0 / I) + G_1 / I; p_prev <- p; p <- p - eta z.
pub(super) fn storm_and_step(
    (p_prev, p, z): (&mut Vec<f64>, &mut Vec<f64>, &mut Vec<f64>),
    g_old: &[f64],
    g_new: &[f64],
    sampled: usize,
    settings: &BsvrbSettings,
) {
    let i = sampled as f64;
    for ((zk, a), b) in z.iter_mut().zip(g_old).zip(g_new) {
        *zk = (1.0 - settings.beta) * (*zk - a / i) + b / i;
    }
    p_prev.clone_from(p);
    for (pk, zk) in p.iter_mut().zip(z.iter()) {
        *pk -= settings.eta * zk;
    }
}
