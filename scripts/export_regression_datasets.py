#!/usr/bin/env python3
"""Exports regression data sets that ship inside PyPI packages (no download) to the CSV
format `stoke quantile` reads (header, numeric columns, the target last):

- diabetes: scikit-learn's `load_diabetes(scaled=False)`, 442 patients, 10 baseline
  variables, target a measure of disease progression one year later (Efron et al. 2004);
- engel: statsmodels' Engel food expenditure data, 235 Belgian working-class households,
  income -> food expenditure (Koenker and Bassett 1982, the classic quantile regression set);
- fair: statsmodels' Fair (1978) affairs survey, 6,366 women, 8 variables, target the time
  spent in extramarital affairs (mostly zero: a skewed, zero-inflated target).

    python3 scripts/export_regression_datasets.py datasets/regression

scikit-learn 1.9.1 and statsmodels 0.15.0 were used.
"""

import sys
from pathlib import Path

import statsmodels.api as sm
from sklearn.datasets import load_diabetes

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)

diabetes = load_diabetes(as_frame=True, scaled=False).frame
diabetes.to_csv(out / "diabetes.csv", index=False)

engel = sm.datasets.engel.load_pandas().data[["income", "foodexp"]]
engel.to_csv(out / "engel.csv", index=False)

fair = sm.datasets.fair.load_pandas().data
fair.to_csv(out / "fair.csv", index=False)

for name, frame in [("diabetes", diabetes), ("engel", engel), ("fair", fair)]:
    print(name, frame.shape, "target", frame.columns[-1])
