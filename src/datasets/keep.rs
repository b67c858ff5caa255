//! `dataset.keep` (Data Diet's pruned training sets): train on a subset of the training split, chosen by a scores file or at
//! random. `"FILE:top:F"` keeps the fraction F of images with the highest scores (Data
//! Diet keeps the hardest), `"FILE:bottom:F"` the lowest, `"random:F"` a seeded random
//! fraction (the baseline). The kept images keep their order; the count is F x n rounded.

use super::ImageSet;
use crate::rng::{Rng, Stream};
use crate::usage_error;
use serde::{Deserialize, Serialize};

/// A scores file (`stoke score --out`, `crate::data_diet`): one score per training image,
/// in the order of the training split as the config loads it (after `dataset.holdout`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScoreFile {
    pub method: String,
    /// Epochs each run trained before scoring.
    pub epochs: usize,
    /// Independent runs (seeds seed, seed + 1, ...) the scores average.
    pub seeds: usize,
    pub train_images: usize,
    pub scores: Vec<f64>,
}

/// Which images a `dataset.keep` spec keeps (ascending indices of `train`).
pub fn kept_indices(spec: &str, train: &ImageSet, seed: u64) -> anyhow::Result<Vec<usize>> {
    let bad = || {
        usage_error!(
            "key `dataset.keep`: expected \"FILE:top:F\", \"FILE:bottom:F\" or \"random:F\" \
             with F in (0, 1], got \"{spec}\""
        )
    };
    let (head, fraction) = spec.rsplit_once(':').ok_or_else(bad)?;
    let fraction: f64 = fraction.parse().map_err(|_| bad())?;
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(bad());
    }
    let n = train.len();
    if n == 0 {
        return Err(usage_error!(
            "key `dataset.keep`: the training split holds no images to keep"
        ));
    }
    let count = ((fraction * n as f64).round() as usize).clamp(1, n);
    let mut chosen: Vec<usize> = match head {
        "random" => {
            let order = Rng::new(seed, Stream::Holdout, 1, 0).permutation(n);
            order[..count].to_vec()
        }
        _ => {
            let (file, end) = head.rsplit_once(':').ok_or_else(bad)?;
            let scores = read_scores(file, n)?;
            let mut order: Vec<usize> = (0..n).collect();
            // Stable: equal scores keep index order.
            match end {
                "top" => order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a])),
                "bottom" => order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b])),
                _ => return Err(bad()),
            }
            order.truncate(count);
            order
        }
    };
    chosen.sort_unstable();
    Ok(chosen)
}

fn read_scores(file: &str, images: usize) -> anyhow::Result<Vec<f64>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| usage_error!("key `dataset.keep`: cannot read the scores file {file}: {e}"))?;
    let scores: ScoreFile = serde_json::from_str(&text).map_err(|e| {
        usage_error!("key `dataset.keep`: {file} is not a scores file of `stoke score` ({e})")
    })?;
    if scores.scores.len() != images || scores.train_images != images {
        return Err(usage_error!(
            "key `dataset.keep`: {file} scores {} training images, this config's training split \
             has {images} (score the same dataset, holdout and size)",
            scores.scores.len()
        ));
    }
    if let Some(i) = scores.scores.iter().position(|s| !s.is_finite()) {
        return Err(usage_error!(
            "key `dataset.keep`: {file}: score {i} is not a finite number"
        ));
    }
    Ok(scores.scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: usize) -> ImageSet {
        ImageSet {
            pixels: vec![0; n],
            labels: vec![0; n],
            channels: 1,
            height: 1,
            width: 1,
            num_classes: 2,
        }
    }

    fn scores_file(dir: &std::path::Path, scores: &[f64]) -> String {
        let file = ScoreFile {
            method: "el2n".into(),
            epochs: 1,
            seeds: 1,
            train_images: scores.len(),
            scores: scores.to_vec(),
        };
        let path = dir.join("scores.json");
        std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn top_bottom_and_random_keep_what_they_say() {
        let dir = tempfile::tempdir().unwrap();
        let file = scores_file(dir.path(), &[0.5, 0.9, 0.1, 0.9, 0.3]);
        let train = set(5);
        // 0.4 x 5 = 2: the two 0.9s; the two lowest 0.1 and 0.3; 0.5 x 5 = 2.5 rounds to 3.
        assert_eq!(
            kept_indices(&format!("{file}:top:0.4"), &train, 0).unwrap(),
            vec![1, 3]
        );
        assert_eq!(
            kept_indices(&format!("{file}:bottom:0.4"), &train, 0).unwrap(),
            vec![2, 4]
        );
        assert_eq!(
            kept_indices(&format!("{file}:top:0.5"), &train, 0).unwrap(),
            vec![0, 1, 3]
        );
        let random = kept_indices("random:0.6", &set(100), 7).unwrap();
        assert_eq!(random.len(), 60);
        assert_eq!(random, kept_indices("random:0.6", &set(100), 7).unwrap());
        assert_ne!(random, kept_indices("random:0.6", &set(100), 8).unwrap());
    }

    #[test]
    fn bad_specs_and_mismatched_files_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = scores_file(dir.path(), &[0.5, 0.9]);
        for spec in [
            "random:0".to_string(),
            "random:1.5".to_string(),
            "top:0.5".to_string(),
            format!("{file}:middle:0.5"),
            format!("{file}:top:0.5"),
        ] {
            let error = kept_indices(&spec, &set(5), 0).unwrap_err().to_string();
            assert!(error.contains("dataset.keep"), "{spec}: {error}");
        }
        let error = kept_indices("random:0.5", &set(0), 0)
            .unwrap_err()
            .to_string();
        assert!(error.contains("no images"), "{error}");
    }
}
