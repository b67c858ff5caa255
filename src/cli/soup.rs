//! `stoke soup uniform|greedy RUN... --out DIR` and `stoke interpolate RUN_A RUN_B`: thin
//! callers of [`crate::soup`].

use crate::atomic::write_atomic;
use crate::soup::interpolate::{Shift, chart, interpolate};
use crate::soup::{Buffers, Scores};
use crate::usage_error;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SoupKind {
    /// The mean of every run.
    Uniform,
    /// Runs in decreasing held-out accuracy, each kept if the soup's rises.
    Greedy,
}

/// How averaged weights get their batch-norm statistics.
#[derive(Args, Debug)]
pub struct BufferArgs {
    /// Average the batch-norm statistics like the weights instead of recomputing them on
    /// training batches.
    #[arg(long)]
    average_buffers: bool,
    /// Training batches the statistics are recomputed on.
    #[arg(long, default_value_t = 20, value_name = "N")]
    bn_batches: usize,
}

impl BufferArgs {
    pub fn buffers(&self) -> Buffers {
        match self.average_buffers {
            true => Buffers::Average,
            false => Buffers::Recompute {
                batches: self.bn_batches,
            },
        }
    }
}

#[derive(Args, Debug)]
pub struct SoupArgs {
    kind: SoupKind,
    /// The runs to average (one architecture; each run's latest checkpoint).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The soup's run directory (new).
    #[arg(long)]
    out: PathBuf,
    /// Greedy: a run also joins when the held-out accuracy stays equal (Sparse Model Soups).
    #[arg(long)]
    ties_join: bool,
    #[command(flatten)]
    buffers: BufferArgs,
    /// Print soup.json on stdout.
    #[arg(long)]
    json: bool,
}

fn describe(scores: &Scores) -> String {
    let percent = |a: Option<f64>| a.map_or("-".to_string(), |a| format!("{:.2}%", 100.0 * a));
    format!(
        "holdout {}, test {}",
        percent(scores.holdout_accuracy),
        percent(scores.test_accuracy)
    )
}

pub fn soup(args: SoupArgs) -> anyhow::Result<()> {
    let buffers = args.buffers.buffers();
    let (summary, json) = match args.kind {
        SoupKind::Uniform => {
            let summary = crate::soup::uniform_soup(&args.runs, buffers, &args.out)?;
            let json = serde_json::to_string_pretty(&summary)?;
            (summary, json)
        }
        SoupKind::Greedy => {
            let strict = !args.ties_join;
            let greedy = crate::soup::greedy::greedy_soup(&args.runs, buffers, strict, &args.out)?;
            let json = serde_json::to_string_pretty(&greedy)?;
            (greedy.soup, json)
        }
    };
    if args.json {
        println!("{json}");
        return Ok(());
    }
    for ingredient in &summary.ingredients {
        println!(
            "{}: {}",
            ingredient.run.display(),
            describe(&ingredient.scores)
        );
    }
    println!(
        "{} soup of {} of {} runs: {}; saved in {}",
        summary.kind,
        summary.kept.len(),
        summary.ingredients.len(),
        describe(&summary.scores),
        summary.out.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct InterpolateArgs {
    /// The run at alpha = 0 (e.g. the pre-trained or zero-shot model).
    run_a: PathBuf,
    /// The run at alpha = 1 (e.g. the fine-tuned model).
    run_b: PathBuf,
    /// Comma-separated mixing coefficients.
    #[arg(long, default_value = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1")]
    alpha: String,
    /// The shifted split: `noise:STD`, the test images with Gaussian pixel noise of this
    /// standard deviation (pixel range 1), or `dataset.KEY=VALUE` (repeatable), the test
    /// split of run b's dataset with these overrides, e.g.
    /// `--shift dataset.test_correlation=-1` on a multicolor dataset.
    #[arg(long, default_value = "noise:0.2", value_name = "SHIFT")]
    shift: Vec<String>,
    #[command(flatten)]
    buffers: BufferArgs,
    /// A directory for interpolation.json and interpolation.svg.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the curve as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `noise:STD` alone, or `dataset.KEY=VALUE` overrides.
fn parse_shift(values: &[String]) -> anyhow::Result<Shift> {
    if let [single] = values
        && let Some(std) = single.strip_prefix("noise:")
    {
        return match std.parse::<f64>() {
            Ok(std) if std.is_finite() && std >= 0.0 => Ok(Shift::GaussianNoise { std }),
            _ => Err(usage_error!(
                "--shift {single}: expected a non-negative standard deviation after `noise:`"
            )),
        };
    }
    if values.iter().any(|v| !v.starts_with("dataset.")) {
        return Err(usage_error!(
            "--shift: expected `noise:STD` or dataset.KEY=VALUE overrides, got {}",
            values.join(" ")
        ));
    }
    Ok(Shift::Dataset {
        overrides: values.to_vec(),
    })
}

pub fn interpolate_runs(args: InterpolateArgs) -> anyhow::Result<()> {
    let alphas = args
        .alpha
        .split(',')
        .map(|a| {
            a.trim()
                .parse::<f64>()
                .map_err(|_| usage_error!("--alpha: `{a}` is not a number (give e.g. 0,0.5,1)"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let shift = parse_shift(&args.shift)?;
    let quiet = args.json;
    let percent = |a: Option<f64>| a.map_or("-".to_string(), |a| format!("{:.2}", 100.0 * a));
    if !quiet {
        println!("alpha  test %  shifted %  holdout %  FFT test  FFT shifted");
    }
    let points = interpolate(
        &args.run_a,
        &args.run_b,
        &alphas,
        args.buffers.buffers(),
        shift,
        &mut |p| {
            if !quiet {
                println!(
                    "{:5.2}  {:>6}  {:>9}  {:>9}  {:>8}  {:>11}",
                    p.alpha,
                    percent(p.test_accuracy),
                    percent(p.shifted_accuracy),
                    percent(p.holdout_accuracy),
                    p.test_false_false_true,
                    p.shifted_false_false_true
                );
            }
        },
    )?;
    let json = serde_json::to_string_pretty(&points)?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out)
            .map_err(|e| usage_error!("--out {}: cannot create it: {e}", out.display()))?;
        write_atomic(&out.join("interpolation.json"), json.as_bytes())?;
        let title = format!(
            "{} (alpha 0) to {} (alpha 1)",
            args.run_a.display(),
            args.run_b.display()
        );
        write_atomic(
            &out.join("interpolation.svg"),
            chart(&points, &title).as_bytes(),
        )?;
    }
    if args.json {
        println!("{json}");
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The config (preset name or TOML file) every point fine-tunes with.
    recipe: String,
    /// Overrides for every point (key=value).
    overrides: Vec<String>,
    /// The run whose latest weights every point starts from.
    #[arg(long)]
    from: PathBuf,
    /// key=v1,v2,...: one axis of the grid (repeat for more; every combination runs).
    #[arg(long, required = true)]
    grid: Vec<String>,
    /// The directory of the points' runs (point-00, point-01, ...).
    #[arg(long)]
    out: PathBuf,
    /// Points trained at once, each as its own `stoke train` process (1: in this process).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
}

pub fn sweep(args: SweepArgs) -> anyhow::Result<()> {
    use crate::soup::sweep::{Status, parse_axis, plan, run_point, status};
    let axes = args
        .grid
        .iter()
        .map(|g| parse_axis(g))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.jobs == 0 {
        return Err(usage_error!("--jobs: expected at least 1"));
    }
    // Checked once here so a bad --from fails before any point trains.
    crate::train::run_dir::locate(&args.from, false, &[])?;
    let points = plan(&axes, &args.from);
    std::fs::create_dir_all(&args.out)
        .map_err(|e| usage_error!("--out {}: cannot create it: {e}", args.out.display()))?;
    write_atomic(
        &args.out.join("sweep.json"),
        serde_json::to_string_pretty(&points)?.as_bytes(),
    )?;
    if args.jobs == 1 {
        let cancel = crate::train::CancelToken::new();
        super::interrupt::cancel_on_signals(&cancel);
        for point in &points {
            eprintln!("{}: {}", point.name, point.overrides.join(" "));
            let dir = run_point(&args.recipe, &args.overrides, &args.out, point, &cancel)?;
            println!("{}", dir.display());
        }
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let mut pending = points
        .iter()
        .filter(|p| status(&args.out, p) != Status::Finished);
    let mut running: Vec<(String, std::process::Child)> = Vec::new();
    let mut failed = Vec::new();
    loop {
        while running.len() < args.jobs {
            let Some(point) = pending.next() else { break };
            let dir = args.out.join(&point.name);
            let mut command = std::process::Command::new(&exe);
            // Their summaries are in their run directories; stdout lists the points.
            command
                .arg("train")
                .arg("--quiet")
                .stdout(std::process::Stdio::null());
            match status(&args.out, point) {
                Status::Started => command.arg("--resume").arg(&dir),
                _ => command.arg(&args.recipe).arg("--out").arg(&dir),
            };
            command.args(&args.overrides).args(&point.overrides);
            eprintln!("{}: {}", point.name, point.overrides.join(" "));
            running.push((point.name.clone(), command.spawn()?));
        }
        if running.is_empty() {
            break;
        }
        // Whichever point finishes first frees its slot.
        let mut finished = None;
        while finished.is_none() {
            for (k, (_, child)) in running.iter_mut().enumerate() {
                if let Some(exit) = child.try_wait()? {
                    finished = Some((k, exit));
                    break;
                }
            }
            if finished.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
        let (k, exit) = finished.expect("the loop ends once one finished");
        let (name, _) = running.remove(k);
        if !exit.success() {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        return Err(anyhow::anyhow!(
            "sweep points failed: {} (rerun the same command to retry them)",
            failed.join(", ")
        ));
    }
    for point in &points {
        println!("{}", args.out.join(&point.name).display());
    }
    Ok(())
}
