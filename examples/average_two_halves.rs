//! Two Trainers on the two halves of the built-in Fashion-MNIST subset, their weights
//! averaged, set back and evaluated: one round of federated averaging with the library API.
//!
//! cargo run --release --example average_two_halves

use stoke::{Trainer, Weights};

fn main() -> anyhow::Result<()> {
    let overrides = ["train.steps=40".to_string()];
    let (config, _) = stoke::config::resolve("quickstart", &overrides)?;
    let device = stoke::device::parse(&config.device)?;
    let data = stoke::datasets::load(&config.dataset, config.seed)?;
    let half = data.train.len() / 2;
    let halves = [
        data.train.slice(0..half),
        data.train.slice(half..data.train.len()),
    ];

    let mut clients = Vec::new();
    for shard in halves {
        let mut client = Trainer::with_data(&config, shard, data.test.clone(), &device)?;
        let last = client.run_steps(40)?.pop().expect("40 steps");
        println!("client: step {} loss {:.4}", last.step, last.loss);
        clients.push(client);
    }
    let weights: Vec<Weights> = clients.iter().map(Trainer::weights).collect();
    let average = Weights::mean(&[&weights[0], &weights[1]])?;
    println!(
        "distance between the clients: {:.4}",
        weights[0].l2_distance(&weights[1])?
    );

    for (i, client) in clients.iter_mut().enumerate() {
        let alone = client.evaluate()?;
        client.set_weights(&average)?;
        let averaged = client.evaluate()?;
        println!(
            "client {i}: test accuracy {:.2}% alone, {:.2}% with the averaged weights",
            100.0 * alone.test_accuracy.unwrap_or(f64::NAN),
            100.0 * averaged.test_accuracy.unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
