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
}
