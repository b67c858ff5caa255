#!/usr/bin/env python3
"""Golden numbers for src/ranking: the official code's task-level aggregations
(PierreColombo/RankingNLPSystems, utils.py: `mean_aggregation_task_level` and the Borda count
`ranking_aggregation`) on seeded tables without ties (the official code breaks ties by numpy's
sort order; stoke counts a tie one half each, so tied tables are compared by hand in the unit
tests instead).

    python3 scripts/golden_ranking.py PATH/TO/RankingNLPSystems > tests/golden/ranking.json

Needs pandas < 2 (the code uses DataFrame.iteritems) and numpy < 2; pandas 1.5.3 and numpy
1.26.4 were used.
"""

import json
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, sys.argv[1])
import utils  # noqa: E402  (the official module)


def case(seed, systems, tasks):
    rng = np.random.default_rng(seed)
    # Tasks on different scales (accuracies, BLEU-like, unbounded), all values distinct.
    scales = rng.choice([1.0, 100.0, 1000.0], size=tasks)
    scores = rng.permutation(systems * tasks).reshape(systems, tasks) + rng.random((systems, tasks))
    scores = np.round(scores / (systems * tasks) * scales, 6)
    df = pd.DataFrame(scores, columns=[f"T{t}" for t in range(tasks)])
    df.insert(0, "Model", [f"S{s}" for s in range(systems)])
    _, means = utils.mean_aggregation_task_level(df)
    _, counts = utils.ranking_aggregation(df, return_count=True)
    return {
        "systems": df.Model.tolist(),
        "tasks": [f"T{t}" for t in range(tasks)],
        "scores": scores.tolist(),
        "mean": [float(m) for m in means],
        "borda": [int(c) for c in counts],
    }


cases = [case(0, 5, 4), case(1, 12, 9), case(2, 30, 6), case(3, 7, 22)]
print(json.dumps({"cases": cases}, indent=1))
