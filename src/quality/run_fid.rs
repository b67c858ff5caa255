//! The FID workflow of `stoke fid` as a library function: sample a diffusion run, extract the
//! features of the samples and of a data split with a classifier run ("FID-classifier") or
//! the FID Inception network, and compute the Fréchet distance.

use super::classifier::ClassifierFeatures;
use super::features::{FeatureExtractor, collect_features};
use super::fid::{FeatureStats, frechet_distance};
use super::images::{generated_tensor, split_tensor};
use super::inception::FidInception;
use crate::diffusion::generate::{GeneratedImages, SampleRequest};
use crate::train::Trainer;
use crate::train::run_dir::locate;
use crate::usage_error;
use std::path::PathBuf;

/// Whose features define the distance.
#[derive(Clone, Debug)]
pub enum FeatureSource {
    /// The penultimate features of a classification run on the same data.
    Classifier(PathBuf),
    /// pytorch-fid's Inception weights as safetensors.
    Inception(PathBuf),
}

/// Which split the samples are compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Test,
    Train,
}

impl Split {
    pub fn parse(text: &str) -> anyhow::Result<Split> {
        match text {
            "test" => Ok(Split::Test),
            "train" => Ok(Split::Train),
            other => Err(usage_error!("--reference {other}: expected test or train")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Train => "train",
        }
    }
}

/// One FID measurement.
#[derive(Clone, Debug)]
pub struct FidRequest {
    /// The diffusion run (a run directory or a checkpoint directory).
    pub run: PathBuf,
    /// Its best checkpoint instead of the latest.
    pub best: bool,
    pub sample: SampleRequest,
    pub features: FeatureSource,
    pub reference: Split,
}

/// What was measured.
#[derive(Clone, Debug)]
pub struct FidReport {
    /// `fid_classifier` or `fid`.
    pub kind: &'static str,
    pub distance: f64,
    pub generated: GeneratedImages,
    pub generated_count: usize,
    pub reference_count: usize,
    pub feature_dim: usize,
    /// What the features come from (the classifier checkpoint or the weights file).
    pub features_from: String,
    /// The diffusion checkpoint sampled.
    pub checkpoint: PathBuf,
}

/// FID-classifier compares feature spaces only when the classifier saw the diffusion run's
/// data: the same dataset (format, files, labels, generated shape), hence the same images.
fn same_data(
    classifier_run: &std::path::Path,
    data: &crate::config::DatasetConfig,
) -> anyhow::Result<()> {
    let classifier = locate(classifier_run, false, &[])?.config.dataset;
    let key = |d: &crate::config::DatasetConfig| {
        (
            d.format.clone(),
            d.path.clone(),
            d.labels.clone(),
            d.channels,
            d.image_size,
            d.num_classes,
        )
    };
    if key(&classifier) != key(data) {
        return Err(usage_error!(
            "--classifier {}: trained on dataset `{}` (format {}, {}), but the diffusion run \
             generates images of `{}` (format {}, {}); FID-classifier needs a classifier of the \
             same data (or use --inception)",
            classifier_run.display(),
            classifier.name.as_deref().unwrap_or(&classifier.path),
            classifier.format,
            describe(&classifier),
            data.name.as_deref().unwrap_or(&data.path),
            data.format,
            describe(data)
        ));
    }
    Ok(())
}

fn describe(d: &crate::config::DatasetConfig) -> String {
    match (d.path.is_empty(), d.image_size) {
        (false, _) => format!("path {}", d.path),
        (true, Some([h, w])) => format!("{h}x{w} images"),
        (true, None) => "default images".to_string(),
    }
}

/// Samples the run and measures the distance of its samples to the reference split.
pub fn fid_of_run(request: &FidRequest) -> anyhow::Result<FidReport> {
    let located = locate(&request.run, request.best, &[])?;
    let device = crate::device::parse(&located.config.device)?;
    let (extractor, features_from, kind): (Box<dyn FeatureExtractor>, String, &str) =
        match &request.features {
            FeatureSource::Classifier(run) => {
                let classifier = locate(run, false, &[])?;
                let features =
                    ClassifierFeatures::load(&classifier.config, &classifier.checkpoint, &device)?;
                let from = format!("classifier {}", classifier.checkpoint.display());
                (Box::new(features), from, "fid_classifier")
            }
            FeatureSource::Inception(weights) => {
                let network = FidInception::load(weights, &device)?;
                let from = format!("FID Inception {}", weights.display());
                (Box::new(network), from, "fid")
            }
        };
    if let FeatureSource::Classifier(run) = &request.features {
        same_data(run, &located.config.dataset)?;
    }
    let data = crate::datasets::load(&located.config.dataset, located.config.seed)?;
    let split = match request.reference {
        Split::Test => &data.test,
        Split::Train => &data.train,
    };
    if matches!(request.features, FeatureSource::Inception(_)) && ![1, 3].contains(&split.channels)
    {
        // The Inception network takes RGB (grey is repeated); it cannot score other images.
        return Err(usage_error!(
            "--inception: FID Inception takes 1- or 3-channel images, the data has {}",
            split.channels
        ));
    }
    let trainer = Trainer::from_checkpoint(&located.config, &located.checkpoint, &device)?;
    let generated = trainer.generate(&request.sample)?;
    let batch = request.sample.batch_size.max(1);
    let fake = collect_features(
        extractor.as_ref(),
        generated_tensor(&generated, &device),
        batch,
    )?;
    let real = collect_features(extractor.as_ref(), split_tensor(split, &device), batch)?;
    let distance = frechet_distance(
        &FeatureStats::from_rows(&fake)?,
        &FeatureStats::from_rows(&real)?,
    )?;
    Ok(FidReport {
        kind,
        distance,
        generated_count: fake.len(),
        reference_count: real.len(),
        feature_dim: fake.first().map_or(0, Vec::len),
        generated,
        features_from,
        checkpoint: located.checkpoint,
    })
}
