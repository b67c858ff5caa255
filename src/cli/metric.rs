//! `stoke metric rank SCORES.csv [--method all|mean|borda|kemeny] [--json]`: systems ranked
//! across tasks, a thin caller of [`crate::ranking`].

use crate::ranking::{Method, Ranking, ScoreTable, rank};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum MetricCommand {
    /// Rank systems across tasks from a CSV of scores (a system column, one column per task,
    /// higher is better; empty or NA for missing) by mean, Borda count and Kemeny consensus.
    Rank(RankArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Which {
    All,
    Mean,
    Borda,
    Kemeny,
}

#[derive(Args, Debug)]
pub struct RankArgs {
    scores: PathBuf,
    #[arg(long, value_enum, default_value = "all")]
    method: Which,
    #[arg(long)]
    json: bool,
}

pub fn run(command: MetricCommand) -> anyhow::Result<()> {
    match command {
        MetricCommand::Rank(args) => rank_command(args),
    }
}

fn rank_command(args: RankArgs) -> anyhow::Result<()> {
    let table = ScoreTable::read_csv(&args.scores)?;
    let methods = match args.method {
        Which::All => vec![Method::Mean, Method::Borda, Method::Kemeny],
        Which::Mean => vec![Method::Mean],
        Which::Borda => vec![Method::Borda],
        Which::Kemeny => vec![Method::Kemeny],
    };
    let rankings: Vec<Ranking> = methods.into_iter().map(|m| rank(&table, m)).collect();
    if args.json {
        let named: Vec<serde_json::Value> = rankings
            .iter()
            .map(|r| {
                let mut value = serde_json::to_value(r).expect("a ranking encodes");
                value["systems"] = r.order.iter().map(|&i| table.systems[i].clone()).collect();
                value
            })
            .collect();
        write_out(&serde_json::to_string_pretty(&named)?);
        return Ok(());
    }
    let mut text = String::new();
    for r in &rankings {
        let mut line = format!("{:?}", r.method).to_lowercase();
        if let (Some(d), Some(exact)) = (r.disagreement, r.exact) {
            let kind = if exact { "exact" } else { "local optimum" };
            line += &format!(" (Kendall disagreement {d}, {kind})");
        }
        text += &format!("{line}:\n");
        for (place, &i) in r.order.iter().enumerate() {
            let score = match r.method {
                Method::Mean => format!("{:.4}", r.scores[i]),
                _ => format!("{}", r.scores[i]),
            };
            text += &format!("  {:>3}. {}  {score}\n", place + 1, table.systems[i]);
        }
    }
    write_out(text.trim_end());
    Ok(())
}

/// Prints `text`; a closed pipe (`| head`) is not an error.
fn write_out(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}
