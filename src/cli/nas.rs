//! `stoke nas rank SUPERNET --standalone RUN...`: ranking consistency of a supernet, a thin
//! caller of [`crate::nas::rank::rank`].

use super::soup::BufferArgs;
use crate::atomic::write_atomic;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum NasCommand {
    /// Score every architecture with the supernet's weights (held-out split) and rank them
    /// against stand-alone runs (Kendall's tau-b).
    Rank(RankArgs),
}

#[derive(Args, Debug)]
pub struct RankArgs {
    /// A run of the `supernet` recipe trained with dataset.holdout = N.
    supernet: PathBuf,
    /// Runs of single architectures (recipe.architecture = K); several of one architecture
    /// are averaged.
    #[arg(long, num_args = 1..)]
    standalone: Vec<PathBuf>,
    #[command(flatten)]
    buffers: BufferArgs,
    /// Write the ranking as JSON to this file too.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(command: NasCommand) -> anyhow::Result<()> {
    match command {
        NasCommand::Rank(args) => rank(args),
    }
}

fn rank(args: RankArgs) -> anyhow::Result<()> {
    let quiet = args.json;
    let mut progress = |done: usize, total: usize| {
        if !quiet {
            eprint!("\rscored {done}/{total}");
            if done == total {
                eprintln!();
            }
        }
    };
    let ranking = crate::nas::rank::rank(
        &args.supernet,
        &args.standalone,
        args.buffers.buffers(),
        &mut progress,
    )?;
    let json = serde_json::to_string_pretty(&ranking)?;
    if let Some(out) = &args.out {
        write_atomic(out, json.as_bytes())?;
    }
    if args.json {
        println!("{json}");
        return Ok(());
    }
    let percent = |a: Option<f64>| a.map_or("-".to_string(), |a| format!("{:.2}", 100.0 * a));
    println!("arch  operations                       inherited holdout %  stand-alone test %");
    for a in &ranking.architectures {
        println!(
            "{:4}  {:<31}  {:>19}  {:>18}",
            a.architecture,
            a.name,
            percent(Some(a.inherited_holdout_accuracy)),
            percent(a.standalone_test_accuracy)
        );
    }
    match ranking.kendall_tau {
        Some(tau) => println!(
            "Kendall's tau-b over {} architectures: {tau:.3}",
            ranking.ranked_architectures
        ),
        None => println!(
            "Kendall's tau-b: undefined ({} architectures with stand-alone runs)",
            ranking.ranked_architectures
        ),
    }
    Ok(())
}
