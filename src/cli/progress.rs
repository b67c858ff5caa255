//! Progress display: an indicatif bar on a terminal, plain periodic lines otherwise; an
//! observer of the Trainer `stoke train` runs.

use crate::train::observer::{Event, Observer, TrainerAccess};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

/// What the display shows about the latest logging window.
pub struct Status {
    pub step: usize,
    pub total: usize,
    pub epoch: f64,
    pub loss: f64,
    pub accuracy: Option<f64>,
    pub lr: f64,
    pub images_per_second: f64,
    /// Non-finite steps dropped since the last update.
    pub skipped: usize,
}

impl Progress {
    pub fn new(total: usize, start: usize, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_position(start as u64);
            bar
        });
        Self { bar, quiet }
    }

    pub fn update(&self, status: &Status) {
        let accuracy = status
            .accuracy
            .map(|a| format!(" acc {:.2}%", 100.0 * a))
            .unwrap_or_default();
        let skipped = match status.skipped {
            0 => String::new(),
            n => format!(" ({n} non-finite steps skipped)"),
        };
        let text = format!(
            "epoch {:.2} loss {:.4}{accuracy} lr {:.3e} {:.0} img/s{skipped}",
            status.epoch, status.loss, status.lr, status.images_per_second
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(status.step as u64);
                bar.set_message(text);
            }
            None if !self.quiet => eprintln!("step {}/{} {text}", status.step, status.total),
            None => {}
        }
    }

    /// A line that stays (evaluation results, checkpoints).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Shows a Trainer's progress: the bar (or a line per logging window), evaluations and
/// early stops.
pub struct ProgressObserver {
    quiet: bool,
    progress: Option<Progress>,
}

impl ProgressObserver {
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            progress: None,
        }
    }
}

impl Observer for ProgressObserver {
    fn on_event(&mut self, event: &Event<'_>, _: &mut dyn TrainerAccess) -> anyhow::Result<()> {
        if let Event::Started { step, total_steps } = event {
            self.progress = Some(Progress::new(*total_steps, *step, self.quiet));
        }
        let Some(progress) = &self.progress else {
            return Ok(());
        };
        match event {
            Event::Log(log) => progress.update(&Status {
                step: log.step,
                total: log.total_steps,
                epoch: log.epoch,
                loss: log.loss,
                accuracy: log.accuracy,
                lr: log.lr,
                images_per_second: log.images_per_second,
                skipped: log.skipped,
            }),
            Event::Evaluation(eval) => progress.println(&eval.text),
            Event::CollapseStop(stop) => progress.println(&stop.text()),
            Event::Interrupted { .. } | Event::NonFinite { .. } | Event::Finished(_) => {
                progress.finish()
            }
            _ => {}
        }
        Ok(())
    }
}

impl Drop for ProgressObserver {
    fn drop(&mut self) {
        // A run that failed leaves no half-drawn bar behind.
        if let Some(progress) = &self.progress {
            progress.finish();
        }
    }
}

/// A bar counting `total` units of work (e.g. sampler network evaluations) on a terminal;
/// hidden when `quiet` or when stderr is not a terminal.
pub fn work_bar(total: u64, message: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30.cyan/blue} {pos}/{len} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(message.to_string());
    bar
}

/// A sampling progress callback that moves `bar`.
pub fn report_to(bar: &ProgressBar) -> crate::diffusion::generate::ProgressFn {
    let bar = bar.clone();
    crate::diffusion::generate::ProgressFn(std::sync::Arc::new(move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }))
}
