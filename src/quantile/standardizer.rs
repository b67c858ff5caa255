//! Standardization of feature columns and targets by training-row statistics.

/// Per-column mean and standard deviation, fitted on training rows (a constant column keeps
/// scale 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Standardizer {
    /// Like [`Standardizer::fit`], refusing a column whose mean or scale overflows (values
    /// near f64's limit), which would silently turn every value into 0; `names` name the
    /// columns in the error.
    pub fn fit_checked(rows: &[Vec<f64>], names: &[String]) -> anyhow::Result<Standardizer> {
        let s = Standardizer::fit(rows);
        for (c, (m, v)) in s.mean.iter().zip(&s.scale).enumerate() {
            if !m.is_finite() || !v.is_finite() {
                let name = names.get(c).map_or("?", String::as_str);
                anyhow::bail!(
                    "column {name:?}: values too large to standardize (mean {m}, scale {v})"
                );
            }
        }
        Ok(s)
    }

    pub fn fit(rows: &[Vec<f64>]) -> Standardizer {
        let n = rows.len().max(1) as f64;
        let columns = rows.first().map_or(0, Vec::len);
        let mean: Vec<f64> = (0..columns)
            .map(|c| rows.iter().map(|r| r[c]).sum::<f64>() / n)
            .collect();
        let scale = (0..columns)
            .map(|c| {
                let var = rows.iter().map(|r| (r[c] - mean[c]).powi(2)).sum::<f64>() / n;
                if var > 0.0 { var.sqrt() } else { 1.0 }
            })
            .collect();
        Standardizer { mean, scale }
    }

    pub fn apply(&self, rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(c, v)| (v - self.mean[c]) / self.scale[c])
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardizer_gives_zero_mean_unit_variance() {
        let rows = vec![vec![1.0, 5.0], vec![3.0, 5.0]];
        let s = Standardizer::fit(&rows);
        assert_eq!(s.apply(&rows), vec![vec![-1.0, 0.0], vec![1.0, 0.0]]);
    }
}
