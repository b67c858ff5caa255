//! Entropic optimal transport against POT (scripts/golden_transport.py): Sinkhorn's and
//! Sinkhorn-Newton-Sparse's plans, costs and objectives against `ot.sinkhorn` (log domain)
//! on seeded problems, and the unregularised limit against `ot.emd2`'s exact cost.

mod common;

use serde_json::Value;
use stoke::solve::transport::compare::{TransportMethod, solve};
use stoke::solve::transport::dual::DualKernel;
use stoke::solve::transport::problem::TransportProblem;
use stoke::solve::transport::sparse_newton::NewtonSettings;
use stoke::solve::transport::trace::Stop;

fn golden() -> Value {
    let text = std::fs::read_to_string("tests/golden/transport.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

use common::floats;

fn problem(case: &Value, eta: f64) -> TransportProblem {
    TransportProblem::new(
        floats(&case["cost"]),
        floats(&case["source"]),
        floats(&case["target"]),
        eta,
    )
    .unwrap()
}

/// Both methods reach a marginal error of 3e-14 and give POT's plan (its column error below
/// 1e-14 in L2). Both plans are converged only to ~1e-14, so entries may differ by about
/// that: tolerance 5e-14 (measured at most 2.4e-14); objective and cost within 3e-15
/// (measured 1.1e-15, values ~0.05-0.2).
#[test]
fn plans_match_pot() {
    let golden = golden();
    for case in golden["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let problem = problem(case, case["eta"].as_f64().unwrap());
        let expected = floats(&case["plan"]);
        for method in [TransportMethod::Sinkhorn, TransportMethod::Sns] {
            let stop = Stop::new(3e-14, 100_000);
            let (p, report) = solve(&problem, method, &NewtonSettings::default(), &stop);
            // Recomputed from both marginals (Sinkhorn's trace sees the rows; the columns add
            // rounding).
            assert!(
                report.marginal_error <= 4e-14,
                "{name} {method:?}: {:?}",
                report.marginal_error
            );
            let plan = DualKernel::new(&problem).plan(&p);
            let diff = plan
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            let objective = report.dual_value - case["entropic_objective"].as_f64().unwrap();
            let cost = report.transport_cost - case["transport_cost"].as_f64().unwrap();
            println!(
                "{name} {method:?}: {} iterations, plan {diff:.1e}, objective {objective:.1e}, cost {cost:.1e}",
                report.iterations
            );
            assert!(diff < 5e-14, "{name} {method:?}: plan differs by {diff:e}");
            assert!(
                objective.abs() < 3e-15 && cost.abs() < 3e-15,
                "{name} {method:?}"
            );
        }
    }
}

/// The entropic plan's cost approaches the exact optimum from above, within
/// (H(P_eta) - H(P*)) / eta <= ln(n m) / eta (the entropic plan minimises <C, P> - H(P) / eta).
/// Density 2 keeps 17 of the 72 plan entries, so the sparsified Hessian is what converges.
#[test]
fn large_eta_approaches_the_exact_cost() {
    let golden = golden();
    for case in golden["limits"].as_array().unwrap() {
        let exact = case["exact_cost"].as_f64().unwrap();
        let cells = (case["rows"].as_u64().unwrap() * case["cols"].as_u64().unwrap()) as f64;
        let mut gaps = Vec::new();
        for eta in [1e2, 1e3, 1e4] {
            let problem = problem(case, eta);
            let stop = Stop::new(1e-11, 100_000);
            let newton = NewtonSettings {
                density: 2.0,
                ..NewtonSettings::default()
            };
            let (_, report) = solve(&problem, TransportMethod::Sns, &newton, &stop);
            assert!(
                report.marginal_error <= 1e-11,
                "eta {eta}: error {:e} after {} iterations, {:?}",
                report.marginal_error,
                report.iterations,
                report.newton
            );
            let gap = report.transport_cost - exact;
            assert!(
                gap > -1e-12 && gap <= cells.ln() / eta,
                "eta {eta}: cost {} vs exact {exact}",
                report.transport_cost
            );
            gaps.push(gap);
        }
        println!("gaps to the exact cost at eta 1e2, 1e3, 1e4: {gaps:?}");
        assert!(gaps[2] < 1e-3, "{gaps:?}");
    }
}

/// Bad input names what is wrong.
#[test]
fn bad_problems_are_refused() {
    let err = |r: anyhow::Result<TransportProblem>| r.unwrap_err().to_string();
    assert!(
        err(TransportProblem::new(
            vec![0.0; 3],
            vec![0.5, 0.5],
            vec![1.0],
            1.0
        ))
        .contains("2 x 1")
    );
    assert!(
        err(TransportProblem::new(
            vec![0.0; 2],
            vec![0.5, 0.0],
            vec![1.0],
            1.0
        ))
        .contains("source[1]")
    );
    assert!(
        err(TransportProblem::new(
            vec![0.0; 2],
            vec![0.5, 0.5],
            vec![2.0],
            1.0
        ))
        .contains("mass")
    );
    assert!(
        err(TransportProblem::new(
            vec![0.0, f64::NAN],
            vec![0.5, 0.5],
            vec![1.0],
            1.0
        ))
        .contains("cost[1, 0]")
    );
    assert!(
        err(TransportProblem::new(
            vec![0.0; 2],
            vec![0.5, 0.5],
            vec![1.0],
            0.0
        ))
        .contains("eta")
    );
}

/// The command: a small random problem solved by both methods as JSON, and a bad density
/// refused with exit code 2 naming the flag.
#[test]
fn command_line() {
    let out = common::stoke_ok(&[
        "solve",
        "transport",
        "--size",
        "30",
        "--eta",
        "50",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reports = v["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    let costs: Vec<f64> = reports
        .iter()
        .map(|r| r["transport_cost"].as_f64().unwrap())
        .collect();
    assert!((costs[0] - costs[1]).abs() < 1e-12, "{costs:?}");
    let bad = common::stoke(&["solve", "transport", "--density", "0"]);
    common::assert_usage_error(&bad, "--density 0");
}
