//! Results over seeds: each method's mean scores, and the check of the paper's proposition
//! that post-sorting (or isotonic regression) never worsens the WIS.

use super::experiment::{MethodScores, SeedResult};
use serde::Serialize;

/// A method's scores over seeds: mean and standard deviation of the post-sorted WIS, and
/// means of the others.
#[derive(Clone, Debug, Serialize)]
pub struct MethodSummary {
    pub method: String,
    pub wis_sorted_mean: f64,
    pub wis_sorted_sd: f64,
    pub wis_raw_mean: f64,
    pub wis_isotonic_mean: f64,
    pub coverage_mean: f64,
    pub coverage_cqr_mean: f64,
    pub wis_cqr_mean: f64,
}

/// Per method over seeds, plus "best-single": each seed's base model with the lowest
/// out-of-fold WIS.
pub fn summarize(results: &[SeedResult]) -> Vec<MethodSummary> {
    let Some(first) = results.first() else {
        return Vec::new();
    };
    let mut names: Vec<String> = first.methods.iter().map(|m| m.method.clone()).collect();
    names.push("best-single".into());
    names
        .into_iter()
        .map(|name| {
            let per_seed: Vec<&MethodScores> = results
                .iter()
                .filter_map(|r| {
                    let wanted = if name == "best-single" {
                        &r.best_single
                    } else {
                        &name
                    };
                    r.methods.iter().find(|m| &m.method == wanted)
                })
                .collect();
            let mean = |f: &dyn Fn(&MethodScores) -> f64| {
                per_seed.iter().map(|m| f(m)).sum::<f64>() / per_seed.len() as f64
            };
            let wis = mean(&|m| m.wis_sorted);
            let variance = per_seed
                .iter()
                .map(|m| (m.wis_sorted - wis).powi(2))
                .sum::<f64>()
                / (per_seed.len().max(2) - 1) as f64;
            MethodSummary {
                method: name,
                wis_sorted_mean: wis,
                wis_sorted_sd: if per_seed.len() > 1 {
                    variance.sqrt()
                } else {
                    0.0
                },
                wis_raw_mean: mean(&|m| m.wis_raw),
                wis_isotonic_mean: mean(&|m| m.wis_isotonic),
                coverage_mean: mean(&|m| m.coverage),
                coverage_cqr_mean: mean(&|m| m.coverage_cqr),
                wis_cqr_mean: mean(&|m| m.wis_cqr),
            }
        })
        .collect()
}

/// The paper's proposition on the test rows: post-sorting (and isotonic regression) never
/// increased any method's WIS. Returns the number of (method, seed) pairs checked and the
/// number where a repair made it worse (beyond 1e-12 of rounding).
pub fn repairs_never_worse(results: &[SeedResult]) -> (usize, usize) {
    let all: Vec<&MethodScores> = results.iter().flat_map(|r| &r.methods).collect();
    let worse = all
        .iter()
        .filter(|m| m.wis_sorted > m.wis_raw + 1e-12 || m.wis_isotonic > m.wis_raw + 1e-12)
        .count();
    (all.len(), worse)
}
