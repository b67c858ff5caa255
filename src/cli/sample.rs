//! `stoke sample`: images from a trained diffusion run, as a PNG grid and optionally raw.

use crate::diffusion::generate::{SampleRequest, Sampler};
use crate::diffusion::grid::{write_grid, write_raw};
use crate::train::run_dir::{check_output, locate, run_of_checkpoint};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A run directory (its latest checkpoint) or a checkpoint directory.
    pub target: PathBuf,
    /// Images to generate.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Sampler steps (default: all timesteps for ddpm, 50 for ddim, 18 for heun).
    #[arg(long)]
    pub steps: Option<usize>,
    /// ddpm or ddim (ddpm runs), heun (edm runs); the recipe's own by default.
    #[arg(long)]
    pub sampler: Option<Sampler>,
    /// Class of every image (class-conditional runs; default: the classes in turn).
    #[arg(long)]
    pub class: Option<usize>,
    /// Seed of the starting noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sample with the raw weights instead of their moving average.
    #[arg(long)]
    pub no_ema: bool,
    /// Use the best checkpoint (lowest test loss) instead of the latest.
    #[arg(long)]
    pub best: bool,
    /// Images generated at once.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// The PNG grid to write.
    #[arg(long, default_value = "samples.png")]
    pub out: PathBuf,
    /// Grid columns (default: a square grid).
    #[arg(long)]
    pub columns: Option<usize>,
    /// Enlarge each pixel this many times in the grid.
    #[arg(long, default_value_t = 2)]
    pub scale: usize,
    /// Also write the values (f32 in [0, 1]) and classes as safetensors here.
    #[arg(long)]
    pub raw: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Overwrite existing output files (never one of a run directory's own files).
    #[arg(long)]
    pub force: bool,
}

impl SampleArgs {
    pub fn request(&self) -> SampleRequest {
        SampleRequest {
            n: self.n,
            steps: self.steps,
            sampler: self.sampler,
            class: self.class,
            seed: self.seed,
            use_ema: !self.no_ema,
            batch_size: self.batch_size,
            progress: None,
        }
    }
}

pub fn run(args: SampleArgs) -> anyhow::Result<()> {
    // Checked before sampling, which may take minutes.
    let max_scale = crate::diffusion::grid::MAX_SCALE;
    if !(1..=max_scale).contains(&args.scale) {
        return Err(crate::usage_error!(
            "--scale {}: expected 1..={max_scale}",
            args.scale
        ));
    }
    if args.columns == Some(0) {
        return Err(crate::usage_error!("--columns 0: expected at least 1"));
    }
    let located = locate(&args.target, args.best, &[])?;
    let run: Vec<&std::path::Path> = run_of_checkpoint(&located.checkpoint).into_iter().collect();
    check_output(&args.out, args.force, &run)?;
    if let Some(raw) = &args.raw {
        check_output(raw, args.force, &run)?;
    }
    let device = crate::device::parse(&located.config.device)?;
    let trainer = crate::Trainer::from_checkpoint(&located.config, &located.checkpoint, &device)?;
    let started = std::time::Instant::now();
    let bar = super::progress::work_bar(0, "sampling", args.quiet);
    let mut request = args.request();
    request.progress = Some(super::progress::report_to(&bar));
    let images = trainer.generate(&request)?;
    bar.finish_and_clear();
    write_grid(&images, args.columns, args.scale, &args.out)?;
    if let Some(raw) = &args.raw {
        write_raw(&images, raw)?;
    }
    println!(
        "{} images ({:?}, {} steps) from {} in {:.1} s: {}{}",
        images.shape[0],
        images.sampler,
        images.steps,
        located.checkpoint.display(),
        started.elapsed().as_secs_f64(),
        args.out.display(),
        args.raw
            .as_ref()
            .map(|r| format!(" and {}", r.display()))
            .unwrap_or_default()
    );
    Ok(())
}
