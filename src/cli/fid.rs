//! `stoke fid`: the Fréchet distance between a diffusion run's samples and a dataset split, in
//! the feature space of a stoke classifier run ("FID-classifier") or of the FID Inception
//! network when the user supplies its weights as safetensors.

use super::sample::SampleArgs;
use crate::quality::run_fid::{FeatureSource, FidRequest, Split, fid_of_run};
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
    let features = match (&args.classifier, &args.inception) {
        (Some(run), None) => FeatureSource::Classifier(run.clone()),
        (None, Some(weights)) => FeatureSource::Inception(weights.clone()),
        _ => {
            return Err(usage_error!(
                "give the feature network: --classifier <run> or --inception <weights.safetensors>"
            ));
        }
    };
    if args.grid {
        let located = crate::train::run_dir::locate(&args.sample.target, args.sample.best, &[])?;
        let run: Vec<&std::path::Path> =
            crate::train::run_dir::run_of_checkpoint(&located.checkpoint)
                .into_iter()
                .collect();
        crate::train::run_dir::check_output(&args.sample.out, args.sample.force, &run)?;
    }
    let bar = super::progress::work_bar(0, "sampling", args.sample.quiet);
    let mut sample = args.sample.request();
    sample.progress = Some(super::progress::report_to(&bar));
    let request = FidRequest {
        run: args.sample.target.clone(),
        best: args.sample.best,
        sample,
        features,
        reference: Split::parse(&args.reference)?,
    };
    let report = fid_of_run(&request);
    bar.finish_and_clear();
    let report = report?;
    if args.grid {
        crate::diffusion::grid::write_grid(
            &report.generated,
            args.sample.columns,
            args.sample.scale,
            &args.sample.out,
        )?;
    }
    if args.json {
        println!(
            "{}",
            json!({
                report.kind: report.distance,
                "generated": report.generated_count,
                "reference": report.reference_count,
                "reference_split": args.reference,
                "features": report.features_from,
                "feature_dim": report.feature_dim,
                "sampler": report.generated.sampler,
                "steps": report.generated.steps,
                "checkpoint": report.checkpoint.display().to_string(),
            })
        );
    } else {
        println!(
            "{} {:.4}: {} samples ({:?}, {} steps) of {} vs {} {} images, features of {}",
            report.kind,
            report.distance,
            report.generated_count,
            report.generated.sampler,
            report.generated.steps,
            report.checkpoint.display(),
            report.reference_count,
            args.reference,
            report.features_from
        );
    }
    Ok(())
}
