//! Seconds per aggregation for every rule of `stoke::aggregate` as the number of workers n
//! grows, at the small CNN's size (61,042 values per vector), f = (n - 3) / 4 faulty (the
//! most Bulyan allows). Median of 5 repetitions, one thread of work per rule call.
//!
//!     cargo run --release --example aggregation_time [RULE]

use stoke::aggregate::{Rule, combine_flat};
use stoke::rng::{Rng, Stream};

/// A rule given f.
type RuleOf = Box<dyn Fn(usize) -> Rule>;

fn main() -> anyhow::Result<()> {
    let d = 61_042;
    let sizes = [7, 15, 31, 63];
    print!("{:<28}", "rule \\ n");
    for n in sizes {
        print!(" {n:>10}");
    }
    println!();
    let rules: Vec<(&str, RuleOf)> = vec![
        ("mean", Box::new(|_| Rule::Mean)),
        ("median", Box::new(|_| Rule::Median)),
        ("trimmed_mean", Box::new(|f| Rule::TrimmedMean { f })),
        ("phocas", Box::new(|f| Rule::Phocas { f })),
        ("meamed", Box::new(|f| Rule::Meamed { f })),
        ("krum", Box::new(|f| Rule::Krum { f })),
        ("multi_krum", Box::new(|f| Rule::MultiKrum { f, m: None })),
        ("bulyan", Box::new(|f| Rule::Bulyan { f })),
        (
            "geometric_median",
            Box::new(|_| Rule::GeometricMedian {
                nu: 0.1,
                iterations: 3,
            }),
        ),
        (
            "flag (r 1, 1 iteration)",
            Box::new(|_| Rule::Flag {
                rank: 1,
                lambda: 0.0,
                iterations: 1,
            }),
        ),
        (
            "flag (r 3, 10 iterations)",
            Box::new(|_| Rule::Flag {
                rank: 3,
                lambda: 0.0,
                iterations: 10,
            }),
        ),
        (
            "flag (r 1, lambda 1, 3 it.)",
            Box::new(|_| Rule::Flag {
                rank: 1,
                lambda: 1.0,
                iterations: 3,
            }),
        ),
    ];
    // An argument keeps the rules whose names contain it.
    let only = std::env::args().nth(1).unwrap_or_default();
    for (name, rule) in rules.iter().filter(|(name, _)| name.contains(&only)) {
        print!("{name:<28}");
        for n in sizes {
            let f = (n - 3) / 4;
            let mut rng = Rng::new(0, Stream::Synthetic, n as u64, 0);
            let vectors: Vec<Vec<f32>> = (0..n)
                .map(|_| (0..d).map(|_| rng.normal() as f32).collect())
                .collect();
            let mut times: Vec<f64> = (0..5)
                .map(|_| {
                    let started = std::time::Instant::now();
                    combine_flat(&rule(f), &vectors).map(|_| started.elapsed().as_secs_f64())
                })
                .collect::<anyhow::Result<_>>()?;
            times.sort_by(f64::total_cmp);
            print!(" {:>9.4}s", times[2]);
        }
        println!();
    }
    Ok(())
}
