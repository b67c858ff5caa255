//! Comparisons of block coordinate descent methods on one generated problem, and the presets
//! that reproduce the paper's figures at small scale (rules: its figures 4 and 8; matrix
//! updates: 5 and 11; Newton: 12; message passing: 6a; active set: 7 and 13).

use super::descent::{Trace, descend};
use super::logistic::logistic_regression;
use super::objective::Objective;
use super::quadratic::{lattice_label_propagation, least_squares, nonnegative_lasso};
use super::selection::{Blocks, Rule, Selector};
use super::update::Update;
use crate::error::UsageError;
use crate::train::CancelToken;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// 1/2 ||A x - b||^2 on the paper's sparse, badly scaled design (its data set A).
    LeastSquares,
    /// Binary logistic loss on the same design with noisy signs (its data set B).
    Logistic,
    /// Label propagation on a lattice (its data set D).
    Lattice,
    /// Least squares plus an L1 penalty under x >= 0 (its active-set problem).
    NonnegativeLasso,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProblemSpec {
    pub kind: ProblemKind,
    pub rows: usize,
    pub cols: usize,
    /// Lattice side, labelled nodes and edge weight.
    pub side: usize,
    pub labels: usize,
    pub weight: f64,
    /// The L1 weight as a fraction of the smallest one that makes x = 0 optimal.
    pub l1_fraction: f64,
    pub seed: u64,
}

pub fn build(spec: &ProblemSpec) -> anyhow::Result<Box<dyn Objective>> {
    Ok(match spec.kind {
        ProblemKind::LeastSquares => Box::new(least_squares(spec.rows, spec.cols, spec.seed)?),
        ProblemKind::Logistic => Box::new(logistic_regression(spec.rows, spec.cols, spec.seed)?),
        ProblemKind::Lattice => Box::new(lattice_label_propagation(
            spec.side,
            spec.labels,
            spec.weight,
            spec.seed,
        )?),
        ProblemKind::NonnegativeLasso => Box::new(nonnegative_lasso(
            spec.rows,
            spec.cols,
            spec.l1_fraction,
            spec.seed,
        )?),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Method {
    pub rule: Rule,
    pub blocks: Blocks,
    pub update: Update,
    /// Block size (ignored by the forest rules).
    pub tau: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Figure {
    /// Selection rules with gradient updates on least squares (figures 4a, 8).
    Rules,
    /// Selection rules with gradient updates on logistic regression (figure 8, data set B).
    LogisticRules,
    /// Matrix updates and the GSQ rule on least squares (figures 5a, 11).
    Matrix,
    /// Newton with line search against matrix updates on logistic regression (figure 12).
    Newton,
    /// Forest blocks with message passing on the lattice (figure 6a).
    Forest,
    /// Projected updates on non-negative L1 least squares (figures 7, 13).
    ActiveSet,
}

/// The problem kind and methods of a figure (block size `tau` for the non-forest rules).
pub fn preset(figure: Figure, tau: usize, coordinates: usize) -> (ProblemKind, Vec<Method>) {
    use Blocks::{Fixed, Variable};
    let method = |rule, blocks, update| Method {
        rule,
        blocks,
        update,
        tau,
    };
    let rules_with = |update| {
        let mut m: Vec<Method> = [Rule::Random, Rule::Cyclic, Rule::Lipschitz]
            .into_iter()
            .chain([Rule::Gs, Rule::Gsd, Rule::Gsl])
            .map(|r| method(r, Fixed, update))
            .collect();
        m.extend(
            [Rule::Random, Rule::Gs, Rule::Gsd, Rule::Gsl].map(|r| method(r, Variable, update)),
        );
        m
    };
    let greedy_with = |update| {
        [Fixed, Variable]
            .into_iter()
            .flat_map(|b| [Rule::Gs, Rule::Gsl, Rule::Gsd, Rule::Gsq].map(move |r| (r, b)))
            .map(|(r, b)| method(r, b, update))
            .collect::<Vec<Method>>()
    };
    match figure {
        Figure::Rules => (ProblemKind::LeastSquares, rules_with(Update::Lipschitz)),
        Figure::LogisticRules => (ProblemKind::Logistic, rules_with(Update::Lipschitz)),
        Figure::Matrix => (ProblemKind::LeastSquares, greedy_with(Update::Matrix)),
        Figure::Newton => {
            let mut m = greedy_with(Update::Matrix);
            m.extend(greedy_with(Update::Newton));
            (ProblemKind::Logistic, m)
        }
        Figure::Forest => {
            let mut m: Vec<Method> = [
                Rule::GsForest,
                Rule::RandomForest,
                Rule::RedBlack,
                Rule::TreePartition,
            ]
            .map(|r| method(r, Variable, Update::Matrix))
            .to_vec();
            // The paper's "general" baseline: greedy blocks of n^(1/3) solved densely.
            let cube_root = ((coordinates as f64).cbrt() as usize).max(1);
            m.push(Method {
                tau: cube_root,
                ..method(Rule::Gs, Variable, Update::Matrix)
            });
            (ProblemKind::Lattice, m)
        }
        Figure::ActiveSet => {
            let updates = [
                Update::ProjectedGradient,
                Update::TwoMetric,
                Update::ProjectedNewton,
            ];
            let mut m: Vec<Method> = updates.map(|u| method(Rule::Gsq, Variable, u)).to_vec();
            m.extend(updates.map(|u| method(Rule::Random, Fixed, u)));
            (ProblemKind::NonnegativeLasso, m)
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MethodRun {
    pub method: Method,
    pub trace: Trace,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub coordinates: usize,
    pub optimum: f64,
    /// f(0) - f*.
    pub initial_gap: f64,
    pub runs: Vec<MethodRun>,
    /// Methods not defined for this problem, with the reason.
    pub skipped: Vec<(Method, String)>,
}

/// Runs every method for `iterations` from x = 0, one after another (their times are
/// comparable); `done` is told the number of methods finished. A method that is not defined
/// for the problem (a usage error) is skipped with its reason; an error if all are.
pub fn compare(
    problem: &dyn Objective,
    methods: &[Method],
    iterations: usize,
    seed: u64,
    cancel: &CancelToken,
    done: &dyn Fn(usize),
) -> anyhow::Result<Comparison> {
    let optimum = problem.minimum()?;
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for method in methods {
        if cancel.is_cancelled() {
            break;
        }
        let outcome =
            Selector::new(problem, method.rule, method.blocks, method.tau).and_then(|selector| {
                descend(
                    problem,
                    &selector,
                    method.update,
                    iterations,
                    optimum,
                    seed,
                    cancel,
                )
            });
        match outcome {
            Ok(trace) => runs.push(MethodRun {
                method: *method,
                trace,
            }),
            Err(e) if e.downcast_ref::<UsageError>().is_some() => {
                skipped.push((*method, e.to_string()))
            }
            Err(e) => return Err(e),
        }
        done(runs.len() + skipped.len());
    }
    if runs.is_empty() && !skipped.is_empty() {
        let reasons: Vec<String> = skipped.iter().map(|(_, r)| r.clone()).collect();
        return Err(crate::usage_error!(
            "no method applies to this problem: {}",
            reasons.join("; ")
        ));
    }
    let start = problem.start();
    Ok(Comparison {
        coordinates: problem.len(),
        optimum,
        initial_gap: problem.value(&start) - optimum,
        runs,
        skipped,
    })
}
