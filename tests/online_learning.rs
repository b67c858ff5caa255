//! Online learning in the SEA model (issue 25 part 1): the learners' updates against
//! hand-computed rounds, the simulator's variance and variation against their closed forms,
//! the best fixed decision against a search, the optimistic regret bound, and the command.

mod common;

use serde_json::Value;
use stoke::solve::online::ball::{Eigen, project, project_in_norm};
use stoke::solve::online::environment::{Constants, Environment, Hindsight, LossKind, SeaSpec};
use stoke::solve::online::experiment::{OnlineSettings, play, run};
use stoke::solve::online::learner::{Curvature, Geometry, Learner, Method};
use stoke::train::CancelToken;

fn constants(diameter: f64, gradient_bound: f64) -> Constants {
    Constants {
        diameter,
        gradient_bound,
        smoothness: 0.0,
        strong_convexity: 0.0,
        exp_concavity: 0.0,
    }
}

fn close(a: &[f64], b: &[f64], tolerance: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tolerance)
}

/// Three rounds of Euclidean optimistic OMD on a ball of radius 1 (D = 2, G = 1, L = 0),
/// written out by hand: eta_t = D / sqrt(4 G^2 + V_{t-1}), x_t = x_hat_t - eta_t M_t,
/// x_hat_t+1 = x_hat_t - eta_t g_t (no projection is active until the third play). The
/// tolerance is a few ulps of the values (about 1).
#[test]
fn optimistic_omd_rounds_by_hand() {
    let mut learner = Learner::new(
        Method::Oomd,
        Curvature::Convex,
        Geometry::Ball,
        constants(2.0, 1.0),
        2,
    )
    .unwrap();
    let (g1, g2) = ([0.3, 0.0], [0.5, 0.5]);
    // Round 1: no hint, eta 1.
    assert!((learner.step_size() - 1.0).abs() < 1e-15);
    assert_eq!(learner.predict(), vec![0.0, 0.0]);
    learner.observe(&g1);
    let hat2 = [-0.3, 0.0];
    // Round 2: V = 0.09, hint g1.
    let eta2 = 2.0 / (4.09f64).sqrt();
    let x2 = learner.predict();
    assert!(close(&x2, &[hat2[0] - eta2 * g1[0], 0.0], 1e-15), "{x2:?}");
    learner.observe(&g2);
    let hat3 = [hat2[0] - eta2 * g2[0], hat2[1] - eta2 * g2[1]];
    // Round 3: V = 0.09 + ||g2 - g1||^2 = 0.38, hint g2; the play leaves the ball.
    let eta3 = 2.0 / (4.38f64).sqrt();
    let x3 = learner.predict();
    let want = project(&[hat3[0] - eta3 * g2[0], hat3[1] - eta3 * g2[1]], 1.0);
    assert!((want[0].hypot(want[1]) - 1.0).abs() < 1e-15);
    assert!(close(&x3, &want, 1e-15), "{x3:?} vs {want:?}");
    // Online gradient descent on the same gradients: eta_t = D / (G sqrt t), no hint.
    let mut ogd = Learner::new(
        Method::Ogd,
        Curvature::Convex,
        Geometry::Ball,
        constants(2.0, 1.0),
        2,
    )
    .unwrap();
    ogd.predict();
    ogd.observe(&g1);
    let x2 = ogd.predict();
    assert!(close(&x2, &[-0.6, 0.0], 1e-15), "{x2:?}");
}

/// The exp-concave learner without a hint is Hazan, Agarwal and Kale's online Newton step:
/// A_t = eps I + sum g g^T, y = x - A_t^-1 g / gamma, projected in the A_t norm; two
/// interior rounds by hand in 2-D, then a round whose projection is active, checked by its
/// optimality condition U (x - y) = -mu x with mu >= 0 and ||x|| = 1.
#[test]
fn online_newton_step_by_hand_and_its_projection() {
    let c = Constants {
        diameter: 2.0,
        gradient_bound: 1.0,
        smoothness: 0.0,
        strong_convexity: 0.0,
        exp_concavity: 1.0,
    };
    let gamma = 0.5 * (1.0f64 / 8.0).min(1.0);
    let eps = 1.0 / (gamma * gamma * 4.0);
    let mut ons = Learner::new(Method::Ons, Curvature::ExpConcave, Geometry::Ball, c, 2).unwrap();
    assert_eq!(ons.predict(), vec![0.0, 0.0]);
    let g1 = [0.4, -0.2];
    ons.observe(&g1);
    // A_1 = eps I + g1 g1^T; A^-1 g1 = g1 / (eps + ||g1||^2) (g1 is an eigenvector).
    let scale = 1.0 / (gamma * (eps + 0.2));
    let x2 = ons.predict();
    assert!(close(&x2, &[-0.4 * scale, 0.2 * scale], 1e-15), "{x2:?}");
    // A second, orthogonal gradient: again an eigenvector of A_2.
    let g2 = [0.2, 0.4];
    ons.observe(&g2);
    let x3 = ons.predict();
    let s2 = 1.0 / (gamma * (eps + 0.2));
    let want = [x2[0] - 0.2 * s2, x2[1] - 0.4 * s2];
    assert!(close(&x3, &want, 1e-15), "{x3:?} vs {want:?}");

    // The generalised projection of a point far outside the ball.
    let u = [3.0, 1.0, 1.0, 2.0];
    let eigen = Eigen::of(&u, 2);
    let y = [4.0, -1.0];
    let x = project_in_norm(&y, &eigen, 1.0);
    assert!((x[0].hypot(x[1]) - 1.0).abs() < 1e-15);
    let r = [
        u[0] * (x[0] - y[0]) + u[1] * (x[1] - y[1]),
        u[2] * (x[0] - y[0]) + u[3] * (x[1] - y[1]),
    ];
    let mu = -r[0] / x[0];
    assert!(mu > 0.0);
    // Both components give the same multiplier up to the bisection's last bits.
    assert!((r[1] + mu * x[1]).abs() < 1e-12, "{r:?} {mu}");
}

/// Optimistic Hedge in its FTRL form: x_t proportional to exp(-eta_t (S_{t-1} + M_t)), eta_t =
/// sqrt(ln N / (4 G^2 + V_{t-1})) with V in the max norm; Hedge without the hint and with
/// eta_t = sqrt(ln N / t) / G.
#[test]
fn optimistic_hedge_by_hand() {
    let n = 3;
    let mut hedge = Learner::new(
        Method::Oomd,
        Curvature::Convex,
        Geometry::Simplex,
        constants(1.0, 1.0),
        n,
    )
    .unwrap();
    let first = hedge.predict();
    assert!(close(&first, &[1.0 / 3.0; 3], 1e-16));
    let g1 = [0.5, 0.0, 1.0];
    hedge.observe(&g1);
    let eta = ((3.0f64).ln() / (4.0 + 1.0)).sqrt();
    let w: Vec<f64> = g1.iter().map(|g| (-eta * 2.0 * g).exp()).collect();
    let total: f64 = w.iter().sum();
    let want: Vec<f64> = w.iter().map(|v| v / total).collect();
    assert!(close(&hedge.predict(), &want, 1e-15));
    let mut plain = Learner::new(
        Method::Ogd,
        Curvature::Convex,
        Geometry::Simplex,
        constants(1.0, 1.0),
        n,
    )
    .unwrap();
    plain.predict();
    plain.observe(&g1);
    let eta = ((3.0f64).ln() / 2.0).sqrt();
    let w: Vec<f64> = g1.iter().map(|g| (-eta * g).exp()).collect();
    let total: f64 = w.iter().sum();
    let want: Vec<f64> = w.iter().map(|v| v / total).collect();
    assert!(close(&plain.predict(), &want, 1e-15));
}

/// The simulator: ||z_t - theta_t|| = sigma exactly, the centre moves by exactly
/// `variation` per round, and the regression loss's gradient variance at the farthest point
/// of the ball, averaged over 400,000 draws, matches the closed form within 1% (the
/// Monte-Carlo error is about 0.3%); at the centre it is smaller.
#[test]
fn environment_variance_and_variation_match_their_closed_forms() {
    let spec = SeaSpec {
        loss: LossKind::Quadratic,
        dim: 6,
        sigma: 0.3,
        variation: 0.2,
        seed: 4,
    };
    let env = Environment::new(&spec).unwrap();
    for t in 1..50 {
        let theta = env.centre(t);
        let stoke::solve::online::environment::Round::Quadratic { z } = env.round(t) else {
            panic!("a quadratic round");
        };
        let noise = z
            .iter()
            .zip(&theta)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>();
        assert!((noise - 0.09).abs() < 1e-15, "{noise}");
        if t > 1 {
            let step = theta
                .iter()
                .zip(env.centre(t - 1))
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>();
            assert!((step - 0.04).abs() < 1e-14, "{step}");
            assert!((env.adversarial_variation(t) - 0.04).abs() < 1e-15);
        }
        assert_eq!(env.stochastic_variance(t), 0.09);
    }

    let spec = SeaSpec {
        loss: LossKind::Regression,
        dim: 4,
        sigma: 0.5,
        variation: 0.0,
        seed: 1,
    };
    let env = Environment::new(&spec).unwrap();
    let theta = env.centre(1);
    let norm = theta.iter().map(|v| v * v).sum::<f64>().sqrt();
    let far: Vec<f64> = theta.iter().map(|v| -v / norm).collect();
    let expected_gradient: Vec<f64> = far.iter().zip(&theta).map(|(x, c)| (x - c) / 4.0).collect();
    let draws = 400_000;
    let mut total = 0.0;
    for t in 1..=draws {
        let g = env.round(t).gradient(&far);
        total += g
            .iter()
            .zip(&expected_gradient)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>();
    }
    let measured = total / draws as f64;
    let formula = env.stochastic_variance(1);
    assert!(
        (measured / formula - 1.0).abs() < 0.01,
        "{measured} vs {formula}"
    );
}

/// The best fixed decision in hindsight of every loss family is no worse than 20,000 random
/// decisions and than small perturbations of itself (a local search that would find a
/// better point of a convex function near a wrong answer).
#[test]
fn hindsight_minimum_beats_every_searched_point() {
    for loss in [
        LossKind::Linear,
        LossKind::Quadratic,
        LossKind::Regression,
        LossKind::Experts,
    ] {
        let spec = SeaSpec {
            loss,
            dim: 4,
            sigma: 0.8,
            variation: 0.3,
            seed: 2,
        };
        let env = Environment::new(&spec).unwrap();
        let rounds: Vec<_> = (1..=300).map(|t| env.round(t)).collect();
        let mut hindsight = Hindsight::new(loss, 4);
        rounds.iter().for_each(|r| hindsight.add(r));
        let (best, value) = hindsight.best();
        let total = |x: &[f64]| rounds.iter().map(|r| r.value(x)).sum::<f64>();
        // The closed-form value equals the sum of the losses at the decision (rounding of
        // 300 terms of order 1).
        assert!((total(&best) - value).abs() < 1e-10, "{loss:?}");
        let mut rng = stoke::rng::Rng::new(9, stoke::rng::Stream::Solve, 0, 0);
        let mut candidates: Vec<Vec<f64>> = Vec::new();
        for _ in 0..20_000 {
            let v: Vec<f64> = (0..4).map(|_| rng.normal()).collect();
            candidates.push(if loss == LossKind::Experts {
                let w: Vec<f64> = v.iter().map(|a| a.exp()).collect();
                let s: f64 = w.iter().sum();
                w.into_iter().map(|a| a / s).collect()
            } else {
                let r = rng.uniform().powf(0.25);
                project(&v.iter().map(|a| a * 1e3).collect::<Vec<_>>(), r)
            });
        }
        for k in 0..2000 {
            let dir: Vec<f64> = (0..4).map(|_| 1e-3 * rng.normal()).collect();
            let moved: Vec<f64> = best.iter().zip(&dir).map(|(a, b)| a + b).collect();
            candidates.push(if loss == LossKind::Experts {
                let clipped: Vec<f64> = moved.iter().map(|a| a.max(0.0)).collect();
                let s: f64 = clipped.iter().sum();
                clipped.into_iter().map(|a| a / s).collect()
            } else {
                project(&moved, 1.0 - 1e-4 * (k % 2) as f64)
            });
        }
        for x in &candidates {
            assert!(total(x) >= value - 1e-10, "{loss:?}: {x:?} beats {best:?}");
        }
    }
}

/// The deterministic bound of optimistic OMD with these steps, on linear losses where the
/// regret is exactly sum <g_t, x_t - u>. Euclidean: the one-round inequality <g_t, x_t - u> <=
/// eta_t ||e_t||^2 + (||u - x_hat_t||^2 - ||u - x_hat_t+1||^2) / (2 eta_t), e_t = g_t - M_t,
/// summed with eta_t = D / sqrt(c + V_{t-1}) non-increasing and c = 4 G^2 >= ||e_t||^2, gives
/// R_T <= D sqrt(c + V_T) / 2 + 2 D sqrt(V_T) <= 2.5 D sqrt(c + V_T). Entropic (FTRL form):
/// R_T <= ln N / eta_T + sum eta_t ||e_t||_inf^2. Checked on stochastic, slowly drifting and
/// alternating environments; the largest ratio of regret to bound is printed (measured
/// 0.84, so a step 20% too large or a hint used wrongly would break it).
#[test]
fn optimistic_regret_stays_within_its_bound() {
    let mut worst = f64::NEG_INFINITY;
    for (sigma, variation) in [(0.0, 0.0), (0.5, 0.0), (0.0, 0.02), (0.0, 1.0), (1.0, 1.0)] {
        for loss in [LossKind::Linear, LossKind::Experts] {
            let spec = SeaSpec {
                loss,
                dim: 8,
                sigma,
                variation,
                seed: 3,
            };
            let env = Environment::new(&spec).unwrap();
            let c = env.constants();
            let geometry = if loss == LossKind::Experts {
                Geometry::Simplex
            } else {
                Geometry::Ball
            };
            let mut learner =
                Learner::new(Method::Oomd, Curvature::Convex, geometry, c, 8).unwrap();
            let mut hindsight = Hindsight::new(loss, 8);
            let (mut loss_total, mut v, mut hint) = (0.0, 0.0, vec![0.0; 8]);
            let mut sum_eta_error = 0.0;
            for t in 1..=20_000 {
                let round = env.round(t);
                let eta = learner.step_size();
                let x = learner.predict();
                loss_total += round.value(&x);
                let g = round.gradient(&x);
                let e: Vec<f64> = g.iter().zip(&hint).map(|(a, b)| a - b).collect();
                let e2 = if loss == LossKind::Experts {
                    e.iter().fold(0.0f64, |m, a| m.max(a.abs())).powi(2)
                } else {
                    e.iter().map(|a| a * a).sum()
                };
                v += e2;
                sum_eta_error += eta * e2;
                hint = g.clone();
                learner.observe(&g);
                hindsight.add(&round);
            }
            let regret = loss_total - hindsight.best().1;
            let g2 = 4.0 * c.gradient_bound.powi(2);
            let bound = if loss == LossKind::Experts {
                let eta_last = (8f64.ln() / (g2 + v)).sqrt();
                8f64.ln() / eta_last + sum_eta_error
            } else {
                2.5 * c.diameter * (g2 + v).sqrt()
            };
            worst = worst.max(regret / bound);
            assert!(
                regret <= bound,
                "{loss:?} sigma {sigma} variation {variation}: {regret} > {bound}"
            );
        }
    }
    println!("largest regret / bound: {worst:.3}");
}

/// Regret grows like sqrt(T) for every learner with noise, and stays bounded for the
/// optimistic learner when the losses are fixed (sigma = 0, variation = 0); the same seed
/// gives the same report.
#[test]
fn regret_curves_and_determinism() {
    let settings = OnlineSettings {
        environment: SeaSpec {
            loss: LossKind::Linear,
            dim: 5,
            sigma: 1.0,
            variation: 0.0,
            seed: 0,
        },
        curvature: None,
        methods: vec![Method::Oomd, Method::Ogd],
        rounds: 16_384,
        seeds: vec![0, 1],
    };
    let cancel = CancelToken::new();
    let report = run(&settings, &mut |_| {}, &cancel).unwrap();
    let again = run(&settings, &mut |_| {}, &cancel).unwrap();
    assert_eq!(report.runs.len(), 4);
    for (a, b) in report.runs.iter().zip(&again.runs) {
        assert_eq!(a.points, b.points);
        // Between 0.35 and 0.65: sqrt(T) growth (measured 0.44-0.52).
        let growth = a.growth.unwrap();
        assert!((0.35..0.65).contains(&growth), "{:?}: {growth}", a.method);
    }
    let fixed = Environment::new(&SeaSpec {
        sigma: 0.0,
        ..settings.environment.clone()
    })
    .unwrap();
    let run = play(&fixed, Method::Oomd, Curvature::Convex, 4096, &cancel)
        .unwrap()
        .unwrap();
    let last = run.points.last().unwrap().regret;
    let early = run.points[2].regret;
    assert!((last - early).abs() < 1e-9, "{early} then {last}");
}

/// `stoke solve oomd`: a short run as JSON; bad values exit 2 naming them.
#[test]
fn command_line() {
    let out = common::stoke_ok(&[
        "solve",
        "oomd",
        "--loss",
        "regression",
        "--methods",
        "oomd,ons,ogd",
        "--rounds",
        "256",
        "--seeds",
        "0",
        "--json",
    ]);
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["curvature"], "exp-concave");
    let runs = value["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0]["points"].as_array().unwrap().len(), 5);
    let out = common::stoke(&["solve", "oomd", "--variation", "1.5"]);
    common::assert_usage_error(&out, "variation 1.5");
    let out = common::stoke(&["solve", "oomd", "--methods", "ons"]);
    common::assert_usage_error(&out, "ons needs --curvature exp-concave");
    let out = common::stoke(&[
        "solve",
        "oomd",
        "--loss",
        "linear",
        "--curvature",
        "strongly-convex",
    ]);
    common::assert_usage_error(&out, "not strongly convex");
}
