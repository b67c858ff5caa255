//! RSVRB, the baseline of the official code (its `RSVRB()`, the randomized STORM-type
//! multi-block bilevel method the paper compares against): STORM estimators (weight beta) of
//! every block's grad_w g_i, grad_w f_i, full cross Jacobian grad^2_pw g_i (an n x d matrix
//! per block) and Hessian, with the sampled blocks' new information scaled by m / I and every
//! unsampled block's estimators decayed by (1 - beta); the hyper-gradient averages
//! -V_i H_i^-1 v_i over a second, independent sample of I blocks. Every w_i steps by tau s_i.

use super::bsvrb::{storm_and_step, uniform};
use super::dense::{matvec, solve};
use super::parallel::Workers;
use super::problem::BilevelProblem;
use super::sampling::Batch;
use super::settings::{BsvrbSettings, Quirks, project_h};

#[derive(Clone, Debug, PartialEq)]
pub struct RsvrbBlock {
    pub w_prev: Vec<f64>,
    pub w: Vec<f64>,
    /// Estimates of grad_w g_i, grad_w f_i, grad^2_pw g_i (n x d, row-major) and
    /// grad^2_ww g_i (d x d).
    pub s: Vec<f64>,
    pub v: Vec<f64>,
    pub cross: Vec<f64>,
    pub h: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RsvrbState {
    pub p_prev: Vec<f64>,
    pub p: Vec<f64>,
    /// The STORM estimate of grad F(p) (the official `d_1`).
    pub d: Vec<f64>,
    pub blocks: Vec<RsvrbBlock>,
}

impl RsvrbState {
    pub fn init(problem: &BilevelProblem, seed: u64) -> RsvrbState {
        let (n, d) = (problem.n_train(), problem.dim);
        let blocks = (0..problem.tasks() as u64)
            .map(|i| {
                let k = 8 * (i + 1);
                RsvrbBlock {
                    w_prev: uniform(seed, k, d),
                    w: uniform(seed, k + 1, d),
                    s: uniform(seed, k + 2, d),
                    v: uniform(seed, k + 3, d),
                    cross: uniform(seed, k + 4, n * d),
                    h: uniform(seed, k + 5, d * d),
                }
            })
            .collect();
        RsvrbState {
            p_prev: uniform(seed, 0, n),
            p: uniform(seed, 1, n),
            d: uniform(seed, 2, n),
            blocks,
        }
    }
}

/// -V H^-1 v, a dense n-vector.
fn term(cross: &[f64], h: &[f64], v: &[f64]) -> Vec<f64> {
    let y = solve(h, v);
    matvec(cross, &y).into_iter().map(|x| -x).collect()
}

/// One iteration of RSVRB on `batch` (`tasks` and `tasks2` each distinct).
pub fn step(
    problem: &BilevelProblem,
    settings: &BsvrbSettings,
    quirks: Quirks,
    state: &mut RsvrbState,
    batch: &Batch,
    workers: &Workers,
) {
    let m = problem.tasks();
    // The official loop runs over tasks in increasing id and hands the k-th sampled one the
    // k-th data slice.
    let mut slot = vec![None; m];
    let mut count = 0;
    for (i, s) in slot.iter_mut().enumerate() {
        if batch.tasks.contains(&i) {
            *s = Some(count);
            count += 1;
        }
    }
    let (p, p_prev) = (&state.p, &state.p_prev);
    let (beta, scale) = (settings.beta, m as f64 / batch.tasks.len() as f64);
    let sign = quirks.hessian_sign();
    let d = problem.dim;
    let terms = workers.map_mut(&mut state.blocks, |i, block| {
        let second = batch.tasks2.contains(&i);
        let g_old = second.then(|| term(&block.cross, &block.h, &block.v));
        if let Some(t) = slot[i] {
            let (train, val) = (batch.train_slice(t), batch.val_slice(t));
            let new = problem.lower_oracles(i, p, &block.w, train, sign, settings.lambda);
            let old = problem.lower_oracles(i, p_prev, &block.w_prev, train, sign, settings.lambda);
            let f_new = problem.upper_grad(i, &block.w, val);
            let f_old = problem.upper_grad(i, &block.w_prev, val);
            let storm = |e: &mut [f64], new: &[f64], old: &[f64]| {
                for ((ek, nk), ok) in e.iter_mut().zip(new).zip(old) {
                    *ek = (1.0 - beta) * (*ek - ok * scale) + nk * scale;
                }
            };
            storm(&mut block.s, &new.grad, &old.grad);
            storm(&mut block.v, &f_new, &f_old);
            storm(&mut block.h, &new.hessian, &old.hessian);
            project_h(&mut block.h, settings.h_bound);
            // The cross Jacobians are zero outside the batch's rows, whose new values come
            // from the old ones before the decay of all the others.
            let rows: Vec<(usize, Vec<f64>)> = old
                .cross
                .iter()
                .zip(&new.cross)
                .map(|(&(j, c_old), &(_, c_new))| {
                    let x = &problem.train_x[j * d..(j + 1) * d];
                    let v = &block.cross[j * d..(j + 1) * d];
                    let row = v
                        .iter()
                        .zip(x)
                        .map(|(vk, xk)| {
                            (1.0 - beta) * (vk - c_old * xk * scale) + c_new * xk * scale
                        })
                        .collect();
                    (j, row)
                })
                .collect();
            block.cross.iter_mut().for_each(|x| *x *= 1.0 - beta);
            for (j, row) in rows {
                block.cross[j * d..(j + 1) * d].copy_from_slice(&row);
            }
        } else {
            for e in [&mut block.s, &mut block.v, &mut block.cross, &mut block.h] {
                e.iter_mut().for_each(|x| *x *= 1.0 - beta);
            }
        }
        let g_new = second.then(|| term(&block.cross, &block.h, &block.v));
        let w: Vec<f64> = block
            .w
            .iter()
            .zip(&block.s)
            .map(|(wk, sk)| wk - settings.tau * sk)
            .collect();
        block.w_prev = std::mem::replace(&mut block.w, w);
        g_old.zip(g_new)
    });
    let n = state.p.len();
    let (mut g_old, mut g_new) = (vec![0.0; n], vec![0.0; n]);
    // Summed in increasing task id, the official order.
    for (a, b) in terms.iter().flatten() {
        g_old.iter_mut().zip(a).for_each(|(g, x)| *g += x);
        g_new.iter_mut().zip(b).for_each(|(g, x)| *g += x);
    }
    let upper = (&mut state.p_prev, &mut state.p, &mut state.d);
    storm_and_step(upper, &g_old, &g_new, batch.tasks.len(), settings);
}
