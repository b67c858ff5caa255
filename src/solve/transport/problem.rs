//! An entropic optimal-transport problem: a cost matrix, two histograms and the strength of
//! the entropy term.

use crate::usage_error;

/// min_P <C, P> - H(P) / eta subject to P 1 = source and P^T 1 = target, P >= 0, with
/// H(P) = -sum P_ij ln P_ij. `eta` is the inverse of POT's `reg`.
#[derive(Clone, Debug)]
pub struct TransportProblem {
    /// Row-major n x m costs.
    pub cost: Vec<f64>,
    pub source: Vec<f64>,
    pub target: Vec<f64>,
    pub eta: f64,
}

impl TransportProblem {
    /// Checks the shapes and values, naming what is wrong: histograms must be positive (the
    /// dual potentials are logs of them) and have equal mass, costs finite, eta positive.
    pub fn new(
        cost: Vec<f64>,
        source: Vec<f64>,
        target: Vec<f64>,
        eta: f64,
    ) -> anyhow::Result<Self> {
        let (n, m) = (source.len(), target.len());
        if n == 0 || m == 0 {
            return Err(usage_error!(
                "transport: empty histogram ({n} source and {m} target bins)"
            ));
        }
        if n.checked_mul(m).is_none_or(|cells| cells > 100_000_000) {
            return Err(usage_error!(
                "transport: {n} x {m} is too large (at most 100,000,000 cells)"
            ));
        }
        if cost.len() != n * m {
            return Err(usage_error!(
                "transport: the cost matrix has {} entries, expected {n} x {m} = {}",
                cost.len(),
                n * m
            ));
        }
        if let Some(i) = cost.iter().position(|c| !c.is_finite()) {
            return Err(usage_error!(
                "transport: cost[{}, {}] = {} is not finite",
                i / m,
                i % m,
                cost[i]
            ));
        }
        for (name, h) in [("source", &source), ("target", &target)] {
            if let Some(i) = h.iter().position(|&v| !(v > 0.0 && v.is_finite())) {
                return Err(usage_error!(
                    "transport: {name}[{i}] = {} must be positive and finite (drop empty bins)",
                    h[i]
                ));
            }
        }
        let (a, b): (f64, f64) = (source.iter().sum(), target.iter().sum());
        // Tighter than any error the solvers stop at: the marginal error cannot fall below it.
        if (a - b).abs() > 1e-14 * a.max(b) {
            return Err(usage_error!(
                "transport: the source has mass {a} and the target {b}; they must be equal"
            ));
        }
        // eta (x_i + y_j - C_ij) must keep digits: a scale past 1e8 leaves none below the
        // unit, and below 1e-8 the potentials overflow.
        let scale = eta * cost.iter().fold(0.0f64, |a, c| a.max(c.abs())).max(1e-300);
        if !(eta > 0.0 && eta.is_finite() && (1e-8..=1e8).contains(&scale)) {
            return Err(usage_error!(
                "transport: eta = {eta} must be positive, with eta max|C| in [1e-8, 1e8]"
            ));
        }
        Ok(Self {
            cost,
            source,
            target,
            eta,
        })
    }

    pub fn rows(&self) -> usize {
        self.source.len()
    }

    pub fn cols(&self) -> usize {
        self.target.len()
    }
}
