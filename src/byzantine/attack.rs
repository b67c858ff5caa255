//! What faulty workers send, as the Flag repository's Byzantine workers
//! (garfieldpp/byzWorker.py): each faulty worker first computes its honest gradient on its
//! own data; `reversed` scales it, `little` and `empire` collude through the faulty workers'
//! honest gradients (their mean mu and unbiased standard deviation sigma: the repository's
//! worker estimates them from f gradients of its own), `random` ignores it, `label_flip`
//! and `augmented` already trained on flipped labels or warped images ([`super::augment`]).

use crate::config::byzantine::{AttackName, ByzantineConfig};
use crate::rng::{Rng, Stream};

/// The vectors the faulty workers send at `step`, from their honest gradients `own` (in
/// worker order, the first being worker `first`).
pub fn forge(
    config: &ByzantineConfig,
    own: &[Vec<f32>],
    seed: u64,
    step: usize,
    first: usize,
) -> Vec<Vec<f32>> {
    let same_for_all = |vector: Vec<f32>| vec![vector; own.len()];
    match config.attack {
        AttackName::None | AttackName::LabelFlip | AttackName::Augmented => own.to_vec(),
        AttackName::Random => (0..own.len())
            .map(|i| {
                let mut rng = Rng::new(seed, Stream::Byzantine, step as u64, (first + i) as u64);
                own[i].iter().map(|_| rng.uniform() as f32).collect()
            })
            .collect(),
        AttackName::Reversed => {
            let scale = config.reverse_scale as f32;
            own.iter()
                .map(|g| g.iter().map(|x| scale * x).collect())
                .collect()
        }
        AttackName::Little => {
            let (mean, std) = moments(own);
            let z = config.little_z;
            same_for_all(
                mean.iter()
                    .zip(&std)
                    .map(|(m, s)| (m - z * s) as f32)
                    .collect(),
            )
        }
        AttackName::Empire => {
            let (mean, _) = moments(own);
            let eps = config.empire_eps;
            same_for_all(mean.iter().map(|m| (-eps * m) as f32).collect())
        }
    }
}

/// Coordinate-wise mean and unbiased standard deviation (zero for a single vector: torch
/// would give NaN, which no rule could use).
fn moments(vectors: &[Vec<f32>]) -> (Vec<f64>, Vec<f64>) {
    let n = vectors.len() as f64;
    let d = vectors[0].len();
    let mean: Vec<f64> = (0..d)
        .map(|j| vectors.iter().map(|v| f64::from(v[j])).sum::<f64>() / n)
        .collect();
    let std = (0..d)
        .map(|j| match vectors.len() {
            1 => 0.0,
            _ => (vectors
                .iter()
                .map(|v| (f64::from(v[j]) - mean[j]).powi(2))
                .sum::<f64>()
                / (n - 1.0))
                .sqrt(),
        })
        .collect();
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(attack: &str) -> ByzantineConfig {
        toml::from_str(&format!("workers = 5\nfaulty = 2\nattack = \"{attack}\"")).unwrap()
    }

    /// By hand, faulty gradients [1, 2] and [3, 6]: mean [2, 4], unbiased std [sqrt 2,
    /// 2 sqrt 2]. reversed: -10 g; little: mu - 0.21 sigma; empire: -0.1 mu; random: in
    /// [0, 1), keyed by (seed, step, worker).
    #[test]
    fn forges_by_hand() {
        let own = vec![vec![1.0, 2.0], vec![3.0, 6.0]];
        assert_eq!(
            forge(&config("reversed"), &own, 0, 0, 3),
            [[-10.0, -20.0], [-30.0, -60.0]]
        );
        let s = 2f64.sqrt();
        let little = [(2.0 - 0.21 * s) as f32, (4.0 - 0.21 * 2.0 * s) as f32];
        assert_eq!(forge(&config("little"), &own, 0, 0, 3), [little, little]);
        let empire = [-0.2f32, -0.4];
        assert_eq!(forge(&config("empire"), &own, 0, 0, 3), [empire, empire]);
        assert_eq!(forge(&config("label_flip"), &own, 0, 0, 3), own);
        let random = forge(&config("random"), &own, 7, 4, 3);
        assert!(random.iter().flatten().all(|x| (0.0..1.0).contains(x)));
        assert_ne!(random[0], random[1]);
        assert_eq!(random, forge(&config("random"), &own, 7, 4, 3));
        assert_ne!(random, forge(&config("random"), &own, 7, 5, 3));
        // One faulty worker: little is its own gradient (sigma 0).
        assert_eq!(forge(&config("little"), &own[..1], 0, 0, 4), [[1.0, 2.0]]);
    }
}
