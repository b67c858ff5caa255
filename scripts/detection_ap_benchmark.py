#!/usr/bin/env python3
"""Times the reference AP evaluations (the LVIS API's standard AP, large-vocab-devil's
AP-fixed and AP-pool) on a larger seeded LVIS-style pair of files, written to OUT_DIR for
`stoke metric ap` to read (BENCHMARKS.md has both timings).

    python3 scripts/detection_ap_benchmark.py PATH/TO/large-vocab-devil OUT_DIR [IMAGES]
    time stoke metric ap OUT_DIR/gt.json OUT_DIR/dets.json --quiet
"""

import sys
import time
from pathlib import Path

sys.argv = [sys.argv[0], sys.argv[1], sys.argv[2]] + sys.argv[3:]
import golden_detection_ap as g  # noqa: E402  (the seeded generators, same directory)

images = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
g.OUT = Path(sys.argv[2])
g.OUT.mkdir(parents=True, exist_ok=True)
gt = g.ground_truth(11, images=images, categories=300, lvis=True)
g.write("gt.json", gt)
dets = g.detections(12, gt, per_image_noise=100)
g.write("dets.json", dets)
print(f"{images} images, {len(gt['annotations'])} objects, {len(dets)} detections")
for name, run in [
    ("standard", lambda: g.lvis_standard("gt.json", dets, 300)),
    ("fixed", lambda: g.lvis_fixed("gt.json", dets, 10000)),
    ("pooled", lambda: g.lvis_pooled("gt.json", dets, 10000)),
]:
    start = time.perf_counter()
    result = run()
    key = "AP" if "AP" in result else "AP-pooled-all"
    print(f"{name}: {key} {result[key]:.6f} in {time.perf_counter() - start:.1f} s")
