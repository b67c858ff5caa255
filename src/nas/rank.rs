//! Ranking consistency of a trained supernet: every architecture of the space scored with
//! the weights it inherits from the supernet (batch-norm statistics recomputed for that
//! architecture on training batches, scored on the held-out split: the test split never
//! selects), against the test accuracy of the same architectures trained alone, as
//! Kendall's tau-b (the official PA&DA code's `scipy.stats.kendalltau`).

use super::kendall::kendall_tau_b;
use crate::config::RunConfig;
use crate::models::cell_supernet::{ARCHITECTURES, name_of, operations_of};
use crate::soup::{Buffers, Scorer, load_ingredients};
use crate::usage_error;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One architecture's scores.
#[derive(Clone, Debug, Serialize)]
pub struct ArchitectureScores {
    pub architecture: usize,
    pub name: String,
    /// Held-out accuracy with the supernet's weights.
    pub inherited_holdout_accuracy: f64,
    /// Test accuracy with the supernet's weights (for information; not ranked on).
    pub inherited_test_accuracy: Option<f64>,
    /// Mean test accuracy of the stand-alone runs of this architecture.
    pub standalone_test_accuracy: Option<f64>,
    pub standalone_runs: Vec<PathBuf>,
}

/// What `stoke nas rank` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Ranking {
    pub supernet: PathBuf,
    pub buffers: Buffers,
    pub architectures: Vec<ArchitectureScores>,
    /// Kendall's tau-b between inherited held-out and stand-alone test accuracy over the
    /// architectures that have both; None with fewer than two, or when either side is
    /// constant.
    pub kendall_tau: Option<f64>,
    pub ranked_architectures: usize,
}

/// `config` scoring architecture `architecture` alone (importance sampling off: a fixed
/// architecture has one path).
fn config_for(config: &RunConfig, architecture: usize) -> RunConfig {
    let mut config = config.clone();
    let options = &mut config.recipe.options;
    options.remove("path_sampling");
    options.remove("data_sampling");
    options.insert(
        "architecture".into(),
        toml::Value::Integer(architecture as i64),
    );
    config
}

fn check_supernet_run(run: &Path, config: &RunConfig) -> anyhow::Result<()> {
    if config.recipe.name != "supernet" {
        return Err(usage_error!(
            "{}: a run of recipe `{}`; ranking needs a run of the `supernet` recipe",
            run.display(),
            config.recipe.name
        ));
    }
    Ok(())
}

/// The architecture a stand-alone run trained (`recipe.architecture` of its config).
fn architecture_of(run: &Path, config: &RunConfig) -> anyhow::Result<usize> {
    check_supernet_run(run, config)?;
    config
        .recipe
        .options
        .get("architecture")
        .and_then(toml::Value::as_integer)
        .and_then(|a| usize::try_from(a).ok())
        .filter(|&a| a < ARCHITECTURES)
        .ok_or_else(|| {
            usage_error!(
                "{}: not a stand-alone run (its config has no recipe.architecture in \
                 0..{ARCHITECTURES})",
                run.display()
            )
        })
}

/// Scores every architecture of `supernet`'s latest weights and, for the architectures
/// among `standalone` runs, ranks them. `progress(done, total)` follows the scoring.
pub fn rank(
    supernet: &Path,
    standalone: &[PathBuf],
    buffers: Buffers,
    progress: &mut dyn FnMut(usize, usize),
) -> anyhow::Result<Ranking> {
    let ingredient = load_ingredients(&[supernet.to_path_buf()])?.remove(0);
    check_supernet_run(supernet, &ingredient.config)?;
    if ingredient
        .config
        .recipe
        .options
        .contains_key("architecture")
    {
        return Err(usage_error!(
            "{}: a stand-alone run (recipe.architecture is set); give a supernet run",
            supernet.display()
        ));
    }
    if ingredient.config.dataset.holdout == 0 {
        return Err(usage_error!(
            "{}: the supernet run holds no images out (dataset.holdout = 0); architectures \
             are ranked on held-out images, never on the test split: train it with \
             dataset.holdout = N",
            supernet.display()
        ));
    }
    // Stand-alone test accuracies first: a bad run fails before the long scoring.
    let mut alone: BTreeMap<usize, Vec<(PathBuf, f64)>> = BTreeMap::new();
    for run in standalone {
        let ingredient = load_ingredients(std::slice::from_ref(run))?.remove(0);
        let architecture = architecture_of(run, &ingredient.config)?;
        let (_, scores) =
            Scorer::new(&ingredient.config, Buffers::Average)?.score(&ingredient.weights)?;
        let accuracy = scores
            .test_accuracy
            .ok_or_else(|| usage_error!("{}: its test split gives no accuracy", run.display()))?;
        alone
            .entry(architecture)
            .or_default()
            .push((run.clone(), accuracy));
    }
    let total = ARCHITECTURES + standalone.len();
    progress(standalone.len(), total);
    let mut architectures = Vec::with_capacity(ARCHITECTURES);
    for architecture in 0..ARCHITECTURES {
        let config = config_for(&ingredient.config, architecture);
        let (_, scores) = Scorer::new(&config, buffers)?.score(&ingredient.weights)?;
        let runs = alone.remove(&architecture).unwrap_or_default();
        let standalone_test_accuracy = (!runs.is_empty())
            .then(|| runs.iter().map(|(_, a)| a).sum::<f64>() / runs.len() as f64);
        architectures.push(ArchitectureScores {
            architecture,
            name: name_of(operations_of(architecture).expect("in range")),
            inherited_holdout_accuracy: scores.holdout_accuracy.ok_or_else(|| {
                anyhow::anyhow!("{}: no held-out accuracy was measured", supernet.display())
            })?,
            inherited_test_accuracy: scores.test_accuracy,
            standalone_test_accuracy,
            standalone_runs: runs.into_iter().map(|(run, _)| run).collect(),
        });
        progress(standalone.len() + architecture + 1, total);
    }
    let (inherited, trained): (Vec<f64>, Vec<f64>) = architectures
        .iter()
        .filter_map(|a| Some((a.inherited_holdout_accuracy, a.standalone_test_accuracy?)))
        .unzip();
    Ok(Ranking {
        supernet: supernet.to_path_buf(),
        buffers,
        ranked_architectures: inherited.len(),
        kendall_tau: kendall_tau_b(&inherited, &trained),
        architectures,
    })
}
