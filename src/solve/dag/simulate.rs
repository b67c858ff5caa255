//! Seeded linear structural equation models on random DAGs, as in the DAG-learning papers:
//! Erdos-Renyi or scale-free (Barabasi-Albert) graphs, edge weights uniform in
//! [-2, -0.5] ∪ [0.5, 2], Gaussian noise with equal or unequal variances.

use super::accuracy::topological_order;
use crate::rng::{Rng, Stream};
use crate::usage_error;
use faer::Mat;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GraphKind {
    /// Erdos-Renyi: every pair joined with the same probability, in a random order.
    Er,
    /// Scale-free: Barabasi-Albert preferential attachment, newer nodes pointing to older ones.
    Sf,
}

/// What to simulate: `edges` is the expected edge count (ER) or nodes x attachments (SF);
/// `variance` is every noise variance, or None for variances uniform in [0.5, 10] (the
/// CoLiDE paper's non-equal-variance setting).
#[derive(Clone, Debug, Serialize)]
pub struct SemSpec {
    pub graph: GraphKind,
    pub nodes: usize,
    pub edges: usize,
    pub samples: usize,
    pub variance: Option<f64>,
    pub seed: u64,
}

/// A simulated data set: samples (n x d), the true weights (W[i][j] for i -> j) and the
/// noise variances.
pub struct Simulated {
    pub x: Mat<f64>,
    pub weights: Vec<Vec<f64>>,
    pub variances: Vec<f64>,
}

pub fn simulate(spec: &SemSpec) -> anyhow::Result<Simulated> {
    let d = spec.nodes;
    if !(2..=2000).contains(&d) || spec.samples < 2 {
        return Err(usage_error!(
            "dag simulation: need 2 to 2,000 nodes and at least 2 samples, got {d} and {}",
            spec.samples
        ));
    }
    let max_edges = d * (d - 1) / 2;
    if spec.edges == 0 || spec.edges > max_edges {
        return Err(usage_error!(
            "dag simulation: {} edges on {d} nodes; expected 1 to {max_edges}",
            spec.edges
        ));
    }
    if let Some(v) = spec.variance.filter(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(usage_error!(
            "dag simulation: noise variance {v} must be positive"
        ));
    }
    let mut rng = Rng::new(spec.seed, Stream::Solve, 0, 0);
    let graph = match spec.graph {
        GraphKind::Er => erdos_renyi(d, spec.edges, &mut rng),
        GraphKind::Sf => barabasi_albert(d, spec.edges, &mut rng),
    };
    let weights: Vec<Vec<f64>> = graph
        .iter()
        .map(|row| {
            row.iter()
                .map(|&edge| match edge {
                    false => 0.0,
                    true => {
                        let magnitude = 0.5 + 1.5 * rng.uniform();
                        if rng.uniform() < 0.5 {
                            -magnitude
                        } else {
                            magnitude
                        }
                    }
                })
                .collect()
        })
        .collect();
    let variances: Vec<f64> = (0..d)
        .map(|_| spec.variance.unwrap_or_else(|| 0.5 + 9.5 * rng.uniform()))
        .collect();
    let order = topological_order(&weights).expect("simulated graphs are acyclic");
    let mut x = Mat::<f64>::zeros(spec.samples, d);
    for &j in &order {
        let sd = variances[j].sqrt();
        for s in 0..spec.samples {
            let parents: f64 = (0..d).map(|i| x[(s, i)] * weights[i][j]).sum();
            x[(s, j)] = parents + sd * rng.normal();
        }
    }
    Ok(Simulated {
        x,
        weights,
        variances,
    })
}

/// G(d, p) with p = 2 edges / (d (d - 1)), oriented along a random permutation.
fn erdos_renyi(d: usize, edges: usize, rng: &mut Rng) -> Vec<Vec<bool>> {
    let p = 2.0 * edges as f64 / (d * (d - 1)) as f64;
    let order = rng.permutation(d);
    let mut a = vec![vec![false; d]; d];
    for u in 0..d {
        for v in u + 1..d {
            if rng.uniform() < p {
                a[order[u]][order[v]] = true;
            }
        }
    }
    a
}

/// Barabasi-Albert with m = round(edges / d) attachments per new node, from a star on
/// m + 1 nodes; each edge points from the newer node to the older (hubs have many parents).
fn barabasi_albert(d: usize, edges: usize, rng: &mut Rng) -> Vec<Vec<bool>> {
    // Python's round (ties to even), as the official simulator.
    let m = ((edges as f64 / d as f64).round_ties_even() as usize).clamp(1, d - 1);
    // (newer, older) pairs: the star on nodes 0..=m, then m attachments per new node.
    let mut pairs: Vec<(usize, usize)> = (1..=m).map(|leaf| (leaf, 0)).collect();
    // Nodes listed once per edge end: uniform draws from it are degree-proportional.
    let mut ends: Vec<usize> = pairs.iter().flat_map(|&(a, b)| [b, a]).collect();
    for node in m + 1..d {
        let mut targets: Vec<usize> = Vec::with_capacity(m);
        while targets.len() < m {
            let t = ends[rng.below(ends.len() as u64) as usize];
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
        for &t in &targets {
            pairs.push((node, t));
            ends.extend([node, t]);
        }
    }
    let mut a = vec![vec![false; d]; d];
    for (newer, older) in pairs {
        a[newer][older] = true;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The graphs are DAGs with the expected edge counts: SF exactly m (d - m), ER on
    /// average (mean over 40 seeds within 4 standard errors of the binomial mean).
    #[test]
    fn graphs_are_acyclic_with_the_expected_edges() {
        let spec = |graph, seed| SemSpec {
            graph,
            nodes: 20,
            edges: 40,
            samples: 5,
            variance: Some(1.0),
            seed,
        };
        let count = |w: &Vec<Vec<f64>>| w.iter().flatten().filter(|v| **v != 0.0).count();
        let sf = simulate(&spec(GraphKind::Sf, 1)).unwrap();
        assert_eq!(count(&sf.weights), 2 * 18);
        let counts: Vec<usize> = (0..40)
            .map(|seed| {
                let s = simulate(&spec(GraphKind::Er, seed)).unwrap();
                assert!(super::super::accuracy::is_dag(&s.weights));
                count(&s.weights)
            })
            .collect();
        let mean = counts.iter().sum::<usize>() as f64 / 40.0;
        let p: f64 = 80.0 / 380.0;
        let se = (190.0 * p * (1.0 - p) / 40.0).sqrt();
        assert!((mean - 40.0).abs() < 4.0 * se, "mean edges {mean}");
    }

    /// With unit-variance noise and no edges into it, a source node's sample variance is ~1.
    #[test]
    fn noise_has_the_requested_variance() {
        let s = simulate(&SemSpec {
            graph: GraphKind::Sf,
            nodes: 5,
            edges: 5,
            samples: 20_000,
            variance: Some(2.0),
            seed: 3,
        })
        .unwrap();
        // Node d - 1 is the newest: no edge points into it.
        let j = 4;
        assert!(s.weights.iter().all(|row| row[j] == 0.0));
        let n = 20_000.0;
        let mean = (0..20_000).map(|i| s.x[(i, j)]).sum::<f64>() / n;
        let var = (0..20_000)
            .map(|i| (s.x[(i, j)] - mean).powi(2))
            .sum::<f64>()
            / n;
        // Standard error of a normal sample variance: v sqrt(2 / n) = 0.02.
        assert!((var - 2.0).abs() < 0.08, "variance {var}");
    }
}
