//! The comparison of DAG learners on simulated data: every method on every seed's data set,
//! estimates thresholded into DAGs and scored against the true graph.

use super::accuracy::{GraphAccuracy, count_accuracy, threshold_to_dag};
use super::path_following::{DagMethod, PathSettings, fit};
use super::simulate::{SemSpec, simulate};
use crate::train::CancelToken;
use rayon::prelude::*;
use serde::Serialize;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct DagExperiment {
    /// The data of seed s is `spec` with `seed = s`.
    pub spec: SemSpec,
    pub seeds: Vec<u64>,
    pub methods: Vec<DagMethod>,
    pub settings: PathSettings,
    /// Weights with |w| <= threshold are dropped, then cycles broken from the weakest edge
    /// (CoLiDE's post-processing, used for every method alike).
    pub threshold: f64,
}

/// One method on one seed's data.
#[derive(Clone, Debug, Serialize)]
pub struct DagRun {
    pub method: DagMethod,
    pub seed: u64,
    pub accuracy: GraphAccuracy,
    pub seconds: f64,
    pub iterations: usize,
    /// The estimated noise standard deviation(s) (CoLiDE) and the true ones.
    pub sigma: Vec<f64>,
    pub true_sigma: Vec<f64>,
}

/// Runs every (seed, method) pair, in parallel; `on_done` is told each finished pair.
pub fn run_experiment(
    experiment: &DagExperiment,
    cancel: &CancelToken,
    on_done: &(dyn Fn(&DagRun) + Sync),
) -> anyhow::Result<Vec<DagRun>> {
    let data = experiment
        .seeds
        .iter()
        .map(|&seed| {
            simulate(&SemSpec {
                seed,
                ..experiment.spec.clone()
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let jobs: Vec<(usize, DagMethod)> = (0..data.len())
        .flat_map(|k| experiment.methods.iter().map(move |&m| (k, m)))
        .collect();
    let runs = Mutex::new(Vec::new());
    jobs.par_iter().try_for_each(|&(k, method)| {
        let started = Instant::now();
        let mut iterations = 0;
        let estimate = fit(&data[k].x, method, &experiment.settings, cancel, &mut |n| {
            iterations += n
        })?;
        let dag = threshold_to_dag(&estimate.weights, experiment.threshold);
        let run = DagRun {
            method,
            seed: experiment.seeds[k],
            accuracy: count_accuracy(&data[k].weights, &dag),
            seconds: started.elapsed().as_secs_f64(),
            iterations,
            sigma: estimate.sigma,
            true_sigma: data[k].variances.iter().map(|v| v.sqrt()).collect(),
        };
        on_done(&run);
        runs.lock().expect("no panics while holding it").push(run);
        anyhow::Ok(())
    })?;
    let mut runs = runs.into_inner().expect("no panics while holding it");
    runs.sort_by_key(|r| {
        (
            r.seed,
            experiment.methods.iter().position(|&m| m == r.method),
        )
    });
    Ok(runs)
}

/// Means (and the SHD's standard deviation) of one method over the seeds.
#[derive(Clone, Debug, Serialize)]
pub struct DagSummary {
    pub method: DagMethod,
    pub shd_mean: f64,
    pub shd_sd: f64,
    pub tpr_mean: f64,
    pub fdr_mean: f64,
    pub edges_mean: f64,
    pub seconds_mean: f64,
}

pub fn summarize(methods: &[DagMethod], runs: &[DagRun]) -> Vec<DagSummary> {
    methods
        .iter()
        .map(|&method| {
            let mine: Vec<&DagRun> = runs.iter().filter(|r| r.method == method).collect();
            let n = mine.len().max(1) as f64;
            let mean = |f: &dyn Fn(&DagRun) -> f64| mine.iter().map(|r| f(r)).sum::<f64>() / n;
            let shd_mean = mean(&|r| r.accuracy.shd as f64);
            let shd_var = mean(&|r| (r.accuracy.shd as f64 - shd_mean).powi(2));
            DagSummary {
                method,
                shd_mean,
                shd_sd: (shd_var * n / (n - 1.0).max(1.0)).sqrt(),
                tpr_mean: mean(&|r| r.accuracy.tpr),
                fdr_mean: mean(&|r| r.accuracy.fdr),
                edges_mean: mean(&|r| r.accuracy.edges as f64),
                seconds_mean: mean(&|r| r.seconds),
            }
        })
        .collect()
}
