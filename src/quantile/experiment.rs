//! The paper's comparison on one data set: per seed, a split into training (60%),
//! calibration (20%) and test (20%) rows; the base models cross-fitted on the training rows
//! (their out-of-fold predictions train the aggregators) and refitted on all of them (their
//! predictions on calibration and test rows are aggregated); every method scored on the test
//! rows by the weighted interval score, raw, post-sorted and isotonic, and its central
//! interval's coverage before and after conformal calibration (CQR) on the calibration rows.
//! Targets are standardized on the training rows, so scores are in standard deviations.

use super::aggregator::{Aggregator, CrossingPenalty, Granularity, Weighting, fit_aggregator};
use super::base_models::{BaseKind, fit_base};
use super::conformal::Calibration;
use super::fit::{FitSettings, shuffled};
use super::noncrossing::Repair;
use super::scores::{QuantilePredictions, coverage, mean_weighted_interval_score};
use super::standardizer::Standardizer;
use super::table::RegressionTable;
use burn::prelude::Device;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct ExperimentSettings {
    pub levels: Vec<f64>,
    pub seeds: Vec<u64>,
    pub folds: usize,
    pub base: Vec<BaseKind>,
    pub aggregators: Vec<(Weighting, Granularity)>,
    pub base_fit: FitSettings,
    pub aggregator_fit: FitSettings,
    pub penalty: CrossingPenalty,
    /// The central interval whose coverage is reported and calibrated (0.8: levels 0.1, 0.9).
    pub nominal_coverage: f64,
}

impl ExperimentSettings {
    /// The paper's setting: 99 levels, 5 folds, global and local weights at every
    /// granularity (local-fine is the paper's DQA).
    pub fn paper(seeds: Vec<u64>) -> ExperimentSettings {
        let mut aggregators = Vec::new();
        for w in [Weighting::Global, Weighting::Local] {
            for g in [Granularity::Coarse, Granularity::Medium, Granularity::Fine] {
                aggregators.push((w, g));
            }
        }
        ExperimentSettings {
            levels: levels(99),
            seeds,
            folds: 5,
            base: BaseKind::ALL.to_vec(),
            aggregators,
            base_fit: FitSettings::default(),
            aggregator_fit: FitSettings::default(),
            penalty: CrossingPenalty {
                weight: 1.0,
                delta: 1e-3,
            },
            nominal_coverage: 0.8,
        }
    }
}

/// The most weights per row of a fine aggregator (99 levels allow 20 base models).
pub const MAX_FINE_WEIGHTS: usize = 200_000;

/// `count` levels k / (count + 1).
pub fn levels(count: usize) -> Vec<f64> {
    (1..=count).map(|k| k as f64 / (count + 1) as f64).collect()
}

/// One method's test scores for one seed.
#[derive(Clone, Debug, Serialize)]
pub struct MethodScores {
    pub method: String,
    pub wis_raw: f64,
    pub wis_sorted: f64,
    pub wis_isotonic: f64,
    /// Coverage of the nominal interval (post-sorted predictions).
    pub coverage: f64,
    /// After CQR on the calibration rows.
    pub coverage_cqr: f64,
    /// Central intervals CQR could not calibrate (too few calibration rows for their level).
    pub cqr_clamped: usize,
    pub wis_cqr: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SeedResult {
    pub seed: u64,
    /// The base model with the lowest out-of-fold WIS (chosen without test rows).
    pub best_single: String,
    pub methods: Vec<MethodScores>,
}

/// What a progress observer is told: the seed and the stage.
pub type Progress<'a> = &'a dyn Fn(u64, &str);

pub fn run_experiment(
    table: &RegressionTable,
    settings: &ExperimentSettings,
    device: &Device,
    progress: Progress,
) -> anyhow::Result<Vec<SeedResult>> {
    check(table, settings)?;
    settings
        .seeds
        .iter()
        .map(|&seed| run_seed(table, settings, seed, device, progress))
        .collect()
}

fn check(table: &RegressionTable, settings: &ExperimentSettings) -> anyhow::Result<()> {
    let alpha = 1.0 - settings.nominal_coverage;
    let has = |level: f64| settings.levels.iter().any(|&t| (t - level).abs() < 1e-9);
    if !(has(alpha / 2.0) && has(1.0 - alpha / 2.0)) {
        return Err(crate::usage_error!(
            "the levels do not include {:.3} and {:.3} (the {:.0}% interval); use a level \
             count (--levels) that does, e.g. 99 or 19",
            alpha / 2.0,
            1.0 - alpha / 2.0,
            settings.nominal_coverage * 100.0
        ));
    }
    // Fine weights have M Q x Q logits (local ones per row, from a 64-wide layer): past a
    // few hundred thousand the run is dominated, or killed, by their memory.
    let (models, levels) = (settings.base.len(), settings.levels.len());
    let fine = models * levels * levels;
    if settings
        .aggregators
        .iter()
        .any(|(_, g)| *g == Granularity::Fine)
        && fine > MAX_FINE_WEIGHTS
    {
        return Err(crate::usage_error!(
            "{models} models x {levels} levels give fine aggregation {fine} weights per row \
             (at most {MAX_FINE_WEIGHTS}); use fewer levels (--levels), e.g. 99"
        ));
    }
    if settings.folds < 2 {
        return Err(crate::usage_error!(
            "folds must be at least 2, got {}",
            settings.folds
        ));
    }
    if table.rows() < 5 * settings.folds {
        return Err(crate::usage_error!(
            "{} rows are too few for {} folds",
            table.rows(),
            settings.folds
        ));
    }
    Standardizer::fit_checked(&table.x, &table.features).map_err(|e| crate::usage_error!("{e}"))?;
    let y: Vec<Vec<f64>> = table.y.iter().map(|&v| vec![v]).collect();
    Standardizer::fit_checked(&y, std::slice::from_ref(&table.target))
        .map_err(|e| crate::usage_error!("{e}"))?;
    if settings.base.is_empty() || settings.seeds.is_empty() {
        return Err(crate::usage_error!(
            "at least one base model and one seed are needed"
        ));
    }
    Ok(())
}

struct Split {
    train: RegressionTable,
    calibration: RegressionTable,
    test: RegressionTable,
}

fn split(table: &RegressionTable, seed: u64) -> Split {
    let order = shuffled(table.rows(), seed, 0);
    let fifth = table.rows() / 5;
    let x_scale = Standardizer::fit(
        &order[2 * fifth..]
            .iter()
            .map(|&i| table.x[i].clone())
            .collect::<Vec<_>>(),
    );
    let train_y: Vec<Vec<f64>> = order[2 * fifth..]
        .iter()
        .map(|&i| vec![table.y[i]])
        .collect();
    let y_scale = Standardizer::fit(&train_y);
    let part = |idx: &[usize]| {
        let raw = table.subset(idx);
        RegressionTable {
            x: x_scale.apply(&raw.x),
            y: raw
                .y
                .iter()
                .map(|v| (v - y_scale.mean[0]) / y_scale.scale[0])
                .collect(),
            ..raw
        }
    };
    Split {
        test: part(&order[..fifth]),
        calibration: part(&order[fifth..2 * fifth]),
        train: part(&order[2 * fifth..]),
    }
}

fn run_seed(
    table: &RegressionTable,
    s: &ExperimentSettings,
    seed: u64,
    device: &Device,
    progress: Progress,
) -> anyhow::Result<SeedResult> {
    let data = split(table, seed);
    let n = data.train.rows();
    // Out-of-fold predictions: fold f holds rows f, f + K, f + 2K, ... of the training part.
    let mut oof: Vec<QuantilePredictions> = Vec::new();
    let mut calibration = Vec::new();
    let mut test = Vec::new();
    for (m, &kind) in s.base.iter().enumerate() {
        progress(seed, &format!("cross-fitting {}", kind.name()));
        let mut values = vec![0.0; n * s.levels.len()];
        for fold in 0..s.folds {
            let (held, kept): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % s.folds == fold);
            let part = data.train.subset(&kept);
            let fold_seed = crate::rng::key(
                seed,
                crate::rng::Stream::Quantile,
                1 + m as u64,
                fold as u64,
            );
            let model = fit_base(
                kind,
                &part.x,
                &part.y,
                &s.levels,
                &s.base_fit,
                fold_seed,
                device,
            );
            let predicted = model.predict(&data.train.subset(&held).x);
            for (k, &i) in held.iter().enumerate() {
                let l = s.levels.len();
                values[i * l..(i + 1) * l].copy_from_slice(predicted.row(k));
            }
        }
        oof.push(QuantilePredictions {
            levels: s.levels.clone(),
            values,
        });
        progress(seed, &format!("fitting {}", kind.name()));
        let full_seed = crate::rng::key(seed, crate::rng::Stream::Quantile, 1 + m as u64, u64::MAX);
        let model = fit_base(
            kind,
            &data.train.x,
            &data.train.y,
            &s.levels,
            &s.base_fit,
            full_seed,
            device,
        );
        calibration.push(model.predict(&data.calibration.x));
        test.push(model.predict(&data.test.x));
    }

    let mut candidates: Vec<(String, QuantilePredictions, QuantilePredictions)> = Vec::new();
    for (m, kind) in s.base.iter().enumerate() {
        candidates.push((
            kind.name().to_string(),
            calibration[m].clone(),
            test[m].clone(),
        ));
    }
    candidates.push(("average".into(), average(&calibration), average(&test)));
    let oof_wis: Vec<f64> = oof
        .iter()
        .map(|p| mean_weighted_interval_score(p, &data.train.y))
        .collect();
    let best = (0..s.base.len())
        .min_by(|&a, &b| oof_wis[a].total_cmp(&oof_wis[b]))
        .unwrap_or(0);
    let best_single = s.base[best].name().to_string();

    // Aggregators train on 80% of the out-of-fold rows and stop early on the rest.
    let order = shuffled(n, seed, 1);
    let cut = n * 4 / 5;
    let rows = |idx: &[usize]| {
        let preds: Vec<QuantilePredictions> = oof.iter().map(|p| subset(p, idx)).collect();
        let part = data.train.subset(idx);
        (preds, part.x, part.y)
    };
    let (fit_part, held_part) = (rows(&order[..cut]), rows(&order[cut..]));
    for (a, &(weighting, granularity)) in s.aggregators.iter().enumerate() {
        let name = format!("{}-{}", name_of(weighting), name_of(granularity));
        progress(seed, &format!("aggregating {name}"));
        let features = data.train.features.len();
        let aggregator_seed =
            crate::rng::key(seed, crate::rng::Stream::Quantile, 100 + a as u64, 0);
        device.seed(aggregator_seed);
        let aggregator = Aggregator::new(
            s.base.len(),
            s.levels.len(),
            granularity,
            weighting,
            features,
            device,
        );
        let aggregator = fit_aggregator(
            aggregator,
            (&fit_part.0, &fit_part.1, &fit_part.2),
            (&held_part.0, &held_part.1, &held_part.2),
            &s.levels,
            s.penalty,
            &s.aggregator_fit,
            aggregator_seed,
            device,
        );
        let on_calibration = aggregator.predict(&calibration, &data.calibration.x, device);
        let on_test = aggregator.predict(&test, &data.test.x, device);
        candidates.push((name, on_calibration, on_test));
    }

    let methods = candidates
        .into_iter()
        .map(|(method, on_calibration, on_test)| {
            score(method, on_calibration, on_test, &data, s.nominal_coverage)
        })
        .collect();
    Ok(SeedResult {
        seed,
        best_single,
        methods,
    })
}

fn name_of<T: Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn subset(p: &QuantilePredictions, idx: &[usize]) -> QuantilePredictions {
    QuantilePredictions {
        levels: p.levels.clone(),
        values: idx.iter().flat_map(|&i| p.row(i).to_vec()).collect(),
    }
}

/// The plain average of the models at each level.
fn average(predictions: &[QuantilePredictions]) -> QuantilePredictions {
    let mut values = vec![0.0; predictions[0].values.len()];
    for p in predictions {
        for (sum, v) in values.iter_mut().zip(&p.values) {
            *sum += v / predictions.len() as f64;
        }
    }
    QuantilePredictions {
        levels: predictions[0].levels.clone(),
        values,
    }
}

fn score(
    method: String,
    on_calibration: QuantilePredictions,
    on_test: QuantilePredictions,
    data: &Split,
    nominal: f64,
) -> MethodScores {
    let y = &data.test.y;
    let repaired = |repair: Repair, p: &QuantilePredictions| {
        let mut p = p.clone();
        repair.apply(&mut p);
        p
    };
    let sorted_test = repaired(Repair::Sort, &on_test);
    let alpha = 1.0 - nominal;
    let calibration = Calibration::fit(
        &repaired(Repair::Sort, &on_calibration),
        &data.calibration.y,
    );
    let mut calibrated = sorted_test.clone();
    calibration.apply(&mut calibrated);
    // Coverage as calibrated; the WIS after sorting again (shifts differ between pairs).
    let coverage_cqr = coverage(&calibrated, y, alpha).unwrap_or(f64::NAN);
    Repair::Sort.apply(&mut calibrated);
    MethodScores {
        method,
        wis_raw: mean_weighted_interval_score(&on_test, y),
        wis_sorted: mean_weighted_interval_score(&sorted_test, y),
        wis_isotonic: mean_weighted_interval_score(&repaired(Repair::Isotonic, &on_test), y),
        coverage: coverage(&sorted_test, y, alpha).unwrap_or(f64::NAN),
        coverage_cqr,
        cqr_clamped: calibration.clamped,
        wis_cqr: mean_weighted_interval_score(&calibrated, y),
    }
}
