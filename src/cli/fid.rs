//! `stoke fid`: the Fréchet distance between a diffusion run's samples and a dataset split, in
//! the feature space of a stoke classifier run ("FID-classifier") or of the FID Inception
//! network when the user supplies its weights as safetensors.

use super::sample::SampleArgs;
use crate::quality::classifier::ClassifierFeatures;
use crate::quality::features::{FeatureExtractor, collect_features};
use crate::quality::fid::{FeatureStats, frechet_distance};
use crate::quality::images::{generated_tensor, split_tensor};
use crate::quality::inception::FidInception;
use crate::train::run_dir::locate;
use crate::usage_error;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct FidArgs {
    /// The diffusion run and how to sample it (`--out` is ignored unless `--grid` is set).
    #[command(flatten)]
    pub sample: SampleArgs,
    /// A classification run (erm, ...) on the same data whose penultimate features define
    /// the distance ("FID-classifier").
    #[arg(long, conflicts_with = "inception")]
    pub classifier: Option<PathBuf>,
    /// pytorch-fid's Inception weights (`pt_inception-2015-12-05`) as safetensors.
    #[arg(long)]
    pub inception: Option<PathBuf>,
    /// The split the samples are compared with: test or train.
    #[arg(long, default_value = "test")]
    pub reference: String,
    /// Also write the samples' grid to `--out`.
    #[arg(long)]
    pub grid: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: FidArgs) -> anyhow::Result<()> {
    let located = locate(&args.sample.target, args.sample.best, &[])?;
    let device = crate::device::parse(&located.config.device)?;
    let (extractor, features_from): (Box<dyn FeatureExtractor>, String) = match (
        &args.classifier,
        &args.inception,
    ) {
        (Some(run), None) => {
            let classifier = locate(run, false, &[])?;
            let features =
                ClassifierFeatures::load(&classifier.config, &classifier.checkpoint, &device)?;
            (
                Box::new(features),
                format!("classifier {}", classifier.checkpoint.display()),
            )
        }
        (None, Some(weights)) => (
            Box::new(FidInception::load(weights, &device)?),
            format!("FID Inception {}", weights.display()),
        ),
        _ => {
            return Err(usage_error!(
                "give the feature network: --classifier <run> or --inception <weights.safetensors>"
            ));
        }
    };
    let data = crate::datasets::load(&located.config.dataset, located.config.seed)?;
    let split = match args.reference.as_str() {
        "test" => &data.test,
        "train" => &data.train,
        other => {
            return Err(usage_error!("--reference {other}: expected test or train"));
        }
    };
    if args.inception.is_some() && ![1, 3].contains(&split.channels) {
        // The Inception network takes RGB (grey is repeated); it cannot score other images.
        return Err(usage_error!(
            "--inception: FID Inception takes 1- or 3-channel images, the data has {}",
            split.channels
        ));
    }
    let sampling_device = crate::device::parse(&located.config.device)?;
    let trainer =
        crate::Trainer::from_checkpoint(&located.config, &located.checkpoint, &sampling_device)?;
    let bar = super::progress::work_bar(0, "sampling", args.sample.quiet);
    let mut request = args.sample.request();
    request.progress = Some(super::progress::report_to(&bar));
    let generated = trainer.generate(&request)?;
    bar.finish_and_clear();
    if args.grid {
        crate::diffusion::grid::write_grid(
            &generated,
            args.sample.columns,
            args.sample.scale,
            &args.sample.out,
        )?;
    }
    let batch = args.sample.batch_size.max(1);
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
    let kind = if args.classifier.is_some() {
        "fid_classifier"
    } else {
        "fid"
    };
    if args.json {
        println!(
            "{}",
            json!({
                kind: distance,
                "generated": fake.len(),
                "reference": real.len(),
                "reference_split": args.reference,
                "features": features_from,
                "feature_dim": fake.first().map_or(0, Vec::len),
                "sampler": generated.sampler,
                "steps": generated.steps,
                "checkpoint": located.checkpoint.display().to_string(),
            })
        );
    } else {
        println!(
            "{kind} {distance:.4}: {} samples ({:?}, {} steps) of {} vs {} {} images, features of {}",
            fake.len(),
            generated.sampler,
            generated.steps,
            located.checkpoint.display(),
            real.len(),
            args.reference,
            features_from
        );
    }
    Ok(())
}
