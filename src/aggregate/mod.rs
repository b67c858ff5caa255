//! Rules that combine many workers' vectors (gradients or model updates) into one: the plain
//! mean and the Byzantine-robust rules, each in its own file. [`combine_flat`] works on plain
//! vectors, [`combine`] on [`Weights`] (their parameters, flattened in name order), so the
//! rules serve outside training too.
//!
//! Conventions, as in the reference code each file names: ties between equal scores go to
//! the lower worker index; "median" is the lower median for an even count (torch's); rules
//! that order values per coordinate order them by `f32::total_cmp`, so NaN and infinities
//! from faulty workers sort to the ends instead of poisoning comparisons.

pub mod bulyan;
pub mod flag;
pub mod geometric_median;
pub mod krum;
pub mod meamed;
pub mod mean;
pub mod median;
pub mod phocas;
pub mod trimmed_mean;

use crate::train::{TensorKind, WeightTensor, Weights};
use serde::{Deserialize, Serialize};

/// A rule and its options; `f` is the number of faulty workers the rule tolerates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    Mean,
    /// Coordinate-wise (lower) median.
    Median,
    /// Per coordinate, the mean without the f lowest and f highest values.
    TrimmedMean {
        f: usize,
    },
    /// The vector whose n - f - 1 nearest others are nearest (sum of un-squared distances).
    Krum {
        f: usize,
    },
    /// The mean of the m best-scored vectors by Krum's score (m = n - f - 2 by default).
    MultiKrum {
        f: usize,
        #[serde(default)]
        m: Option<usize>,
    },
    /// n - 2f vectors chosen by Krum one at a time, then per coordinate the mean of the
    /// n - 4f of them nearest their median (El Mhamdi et al., 2018).
    Bulyan {
        f: usize,
    },
    /// Per coordinate, the mean of the n - f values nearest the trimmed mean (Xie et al.).
    Phocas {
        f: usize,
    },
    /// Per coordinate, the mean of the n - f values nearest the median (Xie et al.).
    Meamed {
        f: usize,
    },
    /// Smoothed Weiszfeld iterations from zero (byzfl's GeometricMedian).
    GeometricMedian {
        #[serde(default = "default_nu")]
        nu: f64,
        #[serde(default = "default_weiszfeld_iterations")]
        iterations: usize,
    },
    /// The Flag Aggregator (Almasi et al.): IRLS for a rank-`rank` subspace of the
    /// normalised vectors, `lambda` weighting pairwise differences.
    Flag {
        #[serde(default = "one")]
        rank: usize,
        #[serde(default)]
        lambda: f64,
        #[serde(default = "one")]
        iterations: usize,
    },
}

fn default_nu() -> f64 {
    0.1
}

fn default_weiszfeld_iterations() -> usize {
    3
}

fn one() -> usize {
    1
}

/// What a rule reports besides its result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Combined {
    pub vector: Vec<f32>,
    /// Workers whose vectors the rule selected (Krum, Multi-Krum, Bulyan), ascending.
    pub selected: Option<Vec<usize>>,
    /// IRLS iterations taken (Flag).
    pub iterations: Option<usize>,
}

impl Rule {
    /// The rule's name as configs spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Mean => "mean",
            Rule::Median => "median",
            Rule::TrimmedMean { .. } => "trimmed_mean",
            Rule::Krum { .. } => "krum",
            Rule::MultiKrum { .. } => "multi_krum",
            Rule::Bulyan { .. } => "bulyan",
            Rule::Phocas { .. } => "phocas",
            Rule::Meamed { .. } => "meamed",
            Rule::GeometricMedian { .. } => "geometric_median",
            Rule::Flag { .. } => "flag",
        }
    }

    /// Why the rule cannot combine `n` vectors (None: it can).
    pub fn check(&self, n: usize) -> Option<String> {
        let name = self.name();
        if n == 0 {
            return Some(format!("{name} needs at least one vector"));
        }
        match *self {
            Rule::TrimmedMean { f } | Rule::Phocas { f } | Rule::Meamed { f } if 2 * f >= n => {
                Some(format!(
                    "{name} tolerates f < n/2 faulty of n = {n}, not f = {f}"
                ))
            }
            Rule::Krum { f } | Rule::MultiKrum { f, .. } if n < 2 * f + 3 => Some(format!(
                "{name} needs n >= 2f + 3 = {} vectors, got n = {n}",
                2 * f + 3
            )),
            Rule::MultiKrum { f, m: Some(m) } if m == 0 || m > n - f - 2 => Some(format!(
                "multi_krum averages 1 <= m <= n - f - 2 = {} vectors, not m = {m}",
                n - f - 2
            )),
            Rule::Bulyan { f } if n < 4 * f + 3 => Some(format!(
                "bulyan needs n >= 4f + 3 = {} vectors, got n = {n}",
                4 * f + 3
            )),
            Rule::GeometricMedian { nu, .. } if !(nu > 0.0 && nu.is_finite()) => Some(format!(
                "geometric_median's smoothing nu must be positive, got {nu}"
            )),
            Rule::Flag { rank, .. } if rank == 0 || rank > n => Some(format!(
                "flag's subspace rank must be 1..={n} (the number of vectors), got {rank}"
            )),
            Rule::Flag { lambda, .. } if !(lambda >= 0.0 && lambda.is_finite()) => {
                Some(format!("flag's lambda must be >= 0, got {lambda}"))
            }
            _ => None,
        }
    }
}

/// `vectors` combined by `rule`: an error when the rule cannot take that many vectors or
/// their lengths differ.
pub fn combine_flat(rule: &Rule, vectors: &[Vec<f32>]) -> anyhow::Result<Combined> {
    if let Some(problem) = rule.check(vectors.len()) {
        anyhow::bail!(problem);
    }
    let d = vectors[0].len();
    if let Some((i, v)) = vectors.iter().enumerate().find(|(_, v)| v.len() != d) {
        anyhow::bail!(
            "vector {i} has {} values, vector 0 has {d}: all must have the same length",
            v.len()
        );
    }
    let plain = |vector| Combined {
        vector,
        ..Default::default()
    };
    Ok(match *rule {
        Rule::Mean => plain(mean::mean(vectors)),
        Rule::Median => plain(median::median(vectors)),
        Rule::TrimmedMean { f } => plain(trimmed_mean::trimmed_mean(vectors, f)),
        Rule::Krum { f } => krum::multi_krum(vectors, f, 1),
        Rule::MultiKrum { f, m } => {
            krum::multi_krum(vectors, f, m.unwrap_or(vectors.len() - f - 2))
        }
        Rule::Bulyan { f } => bulyan::bulyan(vectors, f),
        Rule::Phocas { f } => plain(phocas::phocas(vectors, f)),
        Rule::Meamed { f } => plain(meamed::meamed(vectors, f)),
        Rule::GeometricMedian { nu, iterations } => {
            plain(geometric_median::geometric_median(vectors, nu, iterations))
        }
        Rule::Flag {
            rank,
            lambda,
            iterations,
        } => flag::flag(vectors, &flag::FlagOptions::new(rank, lambda, iterations))?,
    })
}

/// The parameters of `updates` (same tensors and shapes each) combined by `rule`, as
/// weights shaped like the first; buffers (batch-norm statistics) are left out.
pub fn combine(rule: &Rule, updates: &[Weights]) -> anyhow::Result<Weights> {
    let Some(first) = updates.first() else {
        anyhow::bail!("{} needs at least one update", rule.name());
    };
    let layout = first.only(TensorKind::Parameter);
    let flat: Vec<Vec<f32>> = updates
        .iter()
        .enumerate()
        .map(|(i, update)| {
            let parameters = update.only(TensorKind::Parameter);
            let same = parameters.len() == layout.len()
                && parameters
                    .iter()
                    .all(|(name, t)| layout.get(name).is_some_and(|l| l.shape == t.shape));
            anyhow::ensure!(
                same,
                "update {i} does not have update 0's tensors and shapes"
            );
            Ok(parameters
                .iter()
                .flat_map(|(_, t)| t.values.iter().copied())
                .collect())
        })
        .collect::<anyhow::Result<_>>()?;
    let combined = combine_flat(rule, &flat)?.vector;
    Ok(unflatten(&layout, &combined))
}

/// `layout`'s tensors filled with `values` in order. Panics when `values` is not exactly
/// `layout.num_values()` long (callers pass what they flattened from it).
pub fn unflatten(layout: &Weights, values: &[f32]) -> Weights {
    assert_eq!(
        values.len(),
        layout.num_values(),
        "unflatten: {} values for weights of {}",
        values.len(),
        layout.num_values()
    );
    let mut offset = 0;
    let tensors: Vec<(String, WeightTensor)> = layout
        .iter()
        .map(|(name, t)| {
            let len = t.values.len();
            let tensor = WeightTensor {
                shape: t.shape.clone(),
                values: values[offset..offset + len].to_vec(),
                kind: t.kind,
            };
            offset += len;
            (name.to_string(), tensor)
        })
        .collect();
    Weights::from_tensors(tensors).expect("the names come from a valid Weights")
}

/// `per_coordinate(values)` of each coordinate's n values (in worker order).
fn coordinate_wise(vectors: &[Vec<f32>], per_coordinate: impl Fn(&mut [f32]) -> f32) -> Vec<f32> {
    let mut column = vec![0.0; vectors.len()];
    (0..vectors[0].len())
        .map(|j| {
            for (slot, v) in column.iter_mut().zip(vectors) {
                *slot = v[j];
            }
            per_coordinate(&mut column)
        })
        .collect()
}

/// The mean of `values` in f64, rounded to f32.
fn mean_of(values: &[f32]) -> f32 {
    (values.iter().map(|&x| f64::from(x)).sum::<f64>() / values.len() as f64) as f32
}

/// The mean of the `k` of `values` nearest `center` (ties: the earlier value).
fn mean_of_nearest(values: &[f32], center: f32, k: usize) -> f32 {
    let mut order: Vec<usize> = (0..values.len()).collect();
    let distance = |i: usize| (f64::from(values[i]) - f64::from(center)).abs();
    order.sort_by(|&a, &b| distance(a).total_cmp(&distance(b)));
    let nearest: Vec<f32> = order[..k].iter().map(|&i| values[i]).collect();
    mean_of(&nearest)
}
