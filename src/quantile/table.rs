//! Tabular regression data from CSV: a header, numeric feature columns and one numeric
//! target column (by name, or the last column).

use crate::usage_error;
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub struct RegressionTable {
    pub features: Vec<String>,
    pub target: String,
    /// `x[row][feature]`.
    pub x: Vec<Vec<f64>>,
    pub y: Vec<f64>,
}

impl RegressionTable {
    pub fn read_csv(path: &Path, target: Option<&str>) -> anyhow::Result<RegressionTable> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage_error!("cannot read data {}: {e}", path.display()))?;
        Self::parse(&text, target).map_err(|e| usage_error!("data {}: {e}", path.display()))
    }

    /// Parses CSV text; errors name the row (1 = the header) and column.
    pub fn parse(text: &str, target: Option<&str>) -> anyhow::Result<RegressionTable> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| anyhow::anyhow!("the header: {e}"))?
            .iter()
            .map(str::to_string)
            .collect();
        if header.len() < 2 {
            anyhow::bail!(
                "the header has {} column(s); expected features and a target",
                header.len()
            );
        }
        let target_column = match target {
            None => header.len() - 1,
            Some(name) => header.iter().position(|h| h == name).ok_or_else(|| {
                anyhow::anyhow!(
                    "no target column {name:?}; the columns are {}",
                    header.join(", ")
                )
            })?,
        };
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (i, record) in reader.records().enumerate() {
            let row = i + 2;
            let record = record.map_err(|e| anyhow::anyhow!("row {row}: {e}"))?;
            if record.len() != header.len() {
                anyhow::bail!(
                    "row {row} has {} values, the header {}",
                    record.len(),
                    header.len()
                );
            }
            let mut features = Vec::with_capacity(header.len() - 1);
            for (column, cell) in record.iter().enumerate() {
                let value: f64 = cell
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "row {row}, column {:?}: {cell:?} is not a finite number",
                            header[column]
                        )
                    })?;
                if column == target_column {
                    y.push(value);
                } else {
                    features.push(value);
                }
            }
            x.push(features);
        }
        if y.len() < 10 {
            anyhow::bail!("{} data rows; expected at least 10", y.len());
        }
        let mut features = header.clone();
        let target = features.remove(target_column);
        Ok(RegressionTable {
            features,
            target,
            x,
            y,
        })
    }

    pub fn rows(&self) -> usize {
        self.y.len()
    }

    /// The rows at `indices`.
    pub fn subset(&self, indices: &[usize]) -> RegressionTable {
        RegressionTable {
            features: self.features.clone(),
            target: self.target.clone(),
            x: indices.iter().map(|&i| self.x[i].clone()).collect(),
            y: indices.iter().map(|&i| self.y[i]).collect(),
        }
    }
}

/// Per-column mean and standard deviation, fitted on training rows (a constant column keeps
/// scale 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Standardizer {
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
    fn reads_a_target_by_name_and_refuses_bad_cells() {
        let text = "a,y,b\n".to_string()
            + &(0..10)
                .map(|i| format!("{i},{},{}\n", 2 * i, -i))
                .collect::<String>();
        let t = RegressionTable::parse(&text, Some("y")).unwrap();
        assert_eq!(t.features, vec!["a", "b"]);
        assert_eq!((t.x[3].clone(), t.y[3]), (vec![3.0, -3.0], 6.0));
        let t = RegressionTable::parse(&text, None).unwrap();
        assert_eq!(t.target, "b");
        let bad = text.replace("4,8,-4", "4,eight,-4");
        let e = RegressionTable::parse(&bad, Some("y"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 6, column \"y\""), "{e}");
        let e = RegressionTable::parse(&text, Some("z"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no target column \"z\""), "{e}");
    }

    #[test]
    fn standardizer_gives_zero_mean_unit_variance() {
        let rows = vec![vec![1.0, 5.0], vec![3.0, 5.0]];
        let s = Standardizer::fit(&rows);
        assert_eq!(s.apply(&rows), vec![vec![-1.0, 0.0], vec![1.0, 0.0]]);
    }
}
