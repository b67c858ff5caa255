#!/usr/bin/env python3
"""Golden numbers for src/detection: standard COCO AP (pycocotools), standard LVIS AP (the
`lvis` package, the LVIS API), and Dave et al.'s AP-fixed and AP-pool (achalddave/
large-vocab-devil) on small seeded ground-truth and detection files that this script writes.

    python3 scripts/golden_detection_ap.py PATH/TO/large-vocab-devil tests/golden/detection_ap

AP-fixed follows the repository's scripts/evaluate_ap_fixed.py (keep each category's top K
detections, `LVISResults(max_dets=-1)`, `LVISEval`); AP-pool follows scripts/
evaluate_ap_pooled.py (the same top K, then the repository's `LVISPooledEval` with area "all").
Those few lines are repeated here so the values keep all their digits (the scripts log two
decimals); the evaluation classes are the official ones, imported. COCO's AP-fixed has no
official script: it is pycocotools' COCOeval with no per-image cap after the same top K.

Needs numpy < 1.24 (the code uses np.float), lvis 0.5.3, pycocotools 2.0.11, tqdm;
numpy 1.23.5 was used.
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, sys.argv[1])
from lvdevil.eval_wrapper import LVISPooledEval  # noqa: E402  (the official class)
from lvis import LVIS, LVISEval, LVISResults  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

OUT = Path(sys.argv[2])


def box_inside(rng, width, height, size):
    w = max(2.0, size * rng.uniform(0.6, 1.4))
    h = max(2.0, size * rng.uniform(0.6, 1.4))
    x = rng.uniform(0, width - w)
    y = rng.uniform(0, height - h)
    return [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]


def jitter(rng, box, amount):
    x, y, w, h = box
    return [
        round(x + rng.normal(0, amount * w), 2),
        round(y + rng.normal(0, amount * h), 2),
        round(max(1.0, w * np.exp(rng.normal(0, amount))), 2),
        round(max(1.0, h * np.exp(rng.normal(0, amount))), 2),
    ]


def ground_truth(seed, images, categories, lvis):
    """Boxes of all three COCO sizes; LVIS files get frequencies, negative and
    not-exhaustive lists; COCO files get crowd regions."""
    rng = np.random.default_rng(seed)
    image_ids = sorted(rng.choice(max(1000, 4 * images), size=images, replace=False).tolist())
    cat_ids = sorted(rng.choice(max(100, 4 * categories), size=categories, replace=False).tolist())
    cats = [{"id": c, "name": f"class{c}"} for c in cat_ids]
    if lvis:
        for i, c in enumerate(cats):
            c["frequency"] = "rcf"[i % 3]
    imgs, anns = [], []
    for image_id in image_ids:
        img = {"id": image_id, "width": 640, "height": 480}
        present = rng.choice(cat_ids, size=rng.integers(1, 4), replace=False).tolist()
        for c in present:
            for _ in range(rng.integers(1, 4)):
                size = rng.choice([20.0, 60.0, 150.0])
                box = box_inside(rng, 640, 480, size)
                ann = {"id": len(anns) + 1, "image_id": image_id, "category_id": c, "bbox": box}
                # A mask covers part of its box: area below the box area, as in COCO and LVIS.
                ann["area"] = round(box[2] * box[3] * rng.uniform(0.5, 0.95), 2)
                if not lvis:
                    ann["iscrowd"] = int(rng.random() < 0.08)
                anns.append(ann)
        if lvis:
            absent = [c for c in cat_ids if c not in present]
            img["neg_category_ids"] = rng.choice(absent, size=len(absent) // 2, replace=False).tolist()
            img["not_exhaustive_category_ids"] = [c for c in present if rng.random() < 0.25]
        imgs.append(img)
    return {"images": imgs, "annotations": anns, "categories": cats}


def detections(seed, gt, per_image_noise, score_decimals=None):
    """True positives (jittered boxes, some duplicated) and false positives on any category."""
    rng = np.random.default_rng(seed)
    cat_ids = [c["id"] for c in gt["categories"]]
    dets = []
    by_image = defaultdict(list)
    for ann in gt["annotations"]:
        by_image[ann["image_id"]].append(ann)
    for img in gt["images"]:
        for ann in by_image[img["id"]]:
            for _ in range(rng.integers(0, 3)):
                dets.append({
                    "image_id": img["id"], "category_id": ann["category_id"],
                    "bbox": jitter(rng, ann["bbox"], rng.choice([0.03, 0.1, 0.25])),
                    "score": float(rng.beta(4, 2)),
                })
        for _ in range(per_image_noise):
            dets.append({
                "image_id": img["id"], "category_id": int(rng.choice(cat_ids)),
                "bbox": box_inside(rng, 640, 480, rng.choice([20.0, 60.0, 150.0])),
                "score": float(rng.beta(2, 4)),
            })
    order = rng.permutation(len(dets))
    dets = [dets[i] for i in order]
    if score_decimals is not None:
        for d in dets:
            d["score"] = round(d["score"], score_decimals)
    return dets


def write(name, value):
    with open(OUT / name, "w") as f:
        json.dump(value, f, separators=(",", ":"))


def top_per_category(dets, k):
    """scripts/evaluate_ap_fixed.py's selection: each category's k highest-scoring."""
    by_cat = defaultdict(list)
    for d in dets:
        by_cat[d["category_id"]].append(d)
    out = []
    for cat_dets in by_cat.values():
        out.extend(sorted(cat_dets, key=lambda x: x["score"], reverse=True)[:k])
    return out


def copy_dets(dets):
    return [dict(d, bbox=list(d["bbox"])) for d in dets]


def lvis_standard(gt_name, dets, max_dets, ious=None):
    gt = LVIS(str(OUT / gt_name))
    ev = LVISEval(gt, LVISResults(gt, copy_dets(dets), max_dets=max_dets), iou_type="bbox")
    ev.params.max_dets = max_dets
    if ious is not None:
        ev.params.iou_thrs = np.array(ious)
    ev.run()
    return {k: float(v) for k, v in ev.results.items()}


def lvis_fixed(gt_name, dets, k):
    gt = LVIS(str(OUT / gt_name))
    results = LVISResults(gt, top_per_category(copy_dets(dets), k), max_dets=-1)
    ev = LVISEval(gt, results, iou_type="bbox")
    ev.params.max_dets = -1
    ev.run()
    return {k: float(v) for k, v in ev.results.items() if k.startswith("AP")}


def lvis_pooled(gt_name, dets, k):
    gt = LVIS(str(OUT / gt_name))
    results = LVISResults(gt, top_per_category(copy_dets(dets), k), max_dets=-1)
    ev = LVISPooledEval(gt, results, iou_type="bbox", pools=["all", "r", "c", "f"])
    ev.params.max_dets = -1
    ev.params.area_rng = [ev.params.area_rng[0]]
    ev.params.area_rng_lbl = [ev.params.area_rng_lbl[0]]
    ev.run()
    return {k: float(v) for k, v in ev.results.items() if k.startswith("AP-pooled")}


COCO_STATS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def coco_standard(gt_name, dets):
    gt = COCO(str(OUT / gt_name))
    ev = COCOeval(gt, gt.loadRes(copy_dets(dets)), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return dict(zip(COCO_STATS, map(float, ev.stats)))


def coco_capped(gt_name, dets, cap):
    """pycocotools with maxDets [1, 10, cap]: its summarize() hard-codes 100 for AP, so the
    means are taken here from the accumulated arrays, as summarize() takes them."""
    gt = COCO(str(OUT / gt_name))
    ev = COCOeval(gt, gt.loadRes(copy_dets(dets)), "bbox")
    ev.params.maxDets = [1, 10, cap]
    ev.evaluate()
    ev.accumulate()

    def mean(a):
        valid = a[a > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    p, r = ev.eval["precision"], ev.eval["recall"]
    m = ev.params.maxDets.index(cap)  # evaluate() sorted maxDets
    out = {"AP": mean(p[:, :, :, 0, m]), "AP50": mean(p[0, :, :, 0, m]), "AP75": mean(p[5, :, :, 0, m])}
    for a, name in [(1, "APs"), (2, "APm"), (3, "APl")]:
        out[name] = mean(p[:, :, :, a, m])
    for limit in [1, 10, cap]:
        if limit <= cap:
            out[f"AR@{limit}"] = mean(r[:, :, 0, ev.params.maxDets.index(limit)])
    for a, name in [(1, "ARs"), (2, "ARm"), (3, "ARl")]:
        out[f"{name}@{cap}"] = mean(r[:, :, a, m])
    return out


def edge_cases(gt, dets, lvis, seed):
    """Images without annotations, a category nobody annotated, ignored and zero-area
    objects, zero-area detections, scores of 0.0 and -0.0."""
    rng = np.random.default_rng(seed)
    cat_ids = [c["id"] for c in gt["categories"]]
    lonely = max(cat_ids) + 1
    gt["categories"].append({"id": lonely, "name": "unseen"} | ({"frequency": "c"} if lvis else {}))
    if lvis:  # the common group holds only the unseen category: APc is -1
        for i, c in enumerate(gt["categories"][:-1]):
            c["frequency"] = "rf"[i % 2]
    for k in range(2):
        image = {"id": max(i["id"] for i in gt["images"]) + 1, "width": 640, "height": 480}
        if lvis:
            image["neg_category_ids"] = cat_ids[:3]
            image["not_exhaustive_category_ids"] = []
        gt["images"].append(image)
        dets.append({"image_id": image["id"], "category_id": cat_ids[k], "bbox": [10, 10, 50, 50], "score": 0.6})
    for ann in gt["annotations"][::7]:
        ann["area"] = 0.0
    if lvis:
        for ann in gt["annotations"][3::9]:
            ann["ignore"] = 1
    for d in dets[::11]:
        d["bbox"][2] = 0.0
    image = gt["images"][0]["id"]
    dets.append({"image_id": image, "category_id": lonely, "bbox": [5, 5, 30, 30], "score": 0.4})
    for score in [0.0, -0.0, 0.0]:
        box = box_inside(rng, 640, 480, 60.0)
        dets.append({"image_id": image, "category_id": cat_ids[0], "bbox": box, "score": score})
    return gt, dets


def coco_fixed(gt_name, dets, k):
    gt = COCO(str(OUT / gt_name))
    ev = COCOeval(gt, gt.loadRes(top_per_category(copy_dets(dets), k)), "bbox")
    ev.params.maxDets = [10**9]
    ev.evaluate()
    ev.accumulate()
    precision = ev.eval["precision"][:, :, :, 0, 0]
    valid = precision[precision > -1]
    return {"AP": float(np.mean(valid))}


def capped_detector(seed, gt, crowded):
    """The paper's point on per-image caps (section 3). Both detectors find every frequent and
    common object with a high score, and rare objects with a low score. The "crowded" one also
    finds all rare objects (the other half of them) but spends its per-image budget on many
    mid-scoring frequent-category guesses, so a per-image cap of 20 drops its rare finds:
    it ranks below the other under the cap and above it under AP-fixed."""
    rng = np.random.default_rng(seed)
    freq = {c["id"]: c["frequency"] for c in gt["categories"]}
    not_rare = [c for c, f in freq.items() if f != "r"]
    dets = []
    for ann in gt["annotations"]:
        rare = freq[ann["category_id"]] == "r"
        if rare and not crowded and rng.random() < 0.5:
            continue
        dets.append({
            "image_id": ann["image_id"], "category_id": ann["category_id"],
            "bbox": jitter(rng, ann["bbox"], 0.03),
            "score": float(rng.uniform(0.1, 0.2) if rare else rng.uniform(0.6, 1.0)),
        })
    if crowded:
        for img in gt["images"]:
            for _ in range(25):
                dets.append({
                    "image_id": img["id"], "category_id": int(rng.choice(not_rare)),
                    "bbox": box_inside(rng, 640, 480, 60.0), "score": float(rng.uniform(0.3, 0.5)),
                })
    return dets


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    expected = {}

    lvis_gt = ground_truth(1, images=24, categories=9, lvis=True)
    write("lvis_gt.json", lvis_gt)
    lvis_dets = detections(2, lvis_gt, per_image_noise=12)
    write("lvis_dets.json", lvis_dets)
    # Two-decimal scores: many ties, so the order in which ties are broken is tested.
    lvis_tied = detections(3, lvis_gt, per_image_noise=12, score_decimals=2)
    write("lvis_dets_tied.json", lvis_tied)
    for name, dets in [("lvis_dets.json", lvis_dets), ("lvis_dets_tied.json", lvis_tied)]:
        expected[name] = {
            "standard": lvis_standard("lvis_gt.json", dets, 300),
            "standard_cap10": lvis_standard("lvis_gt.json", dets, 10),
            "fixed": lvis_fixed("lvis_gt.json", dets, 10000),
            "fixed_k15": lvis_fixed("lvis_gt.json", dets, 15),
            "pooled": lvis_pooled("lvis_gt.json", dets, 10000),
            "pooled_k15": lvis_pooled("lvis_gt.json", dets, 15),
        }

    coco_gt = ground_truth(4, images=20, categories=6, lvis=False)
    write("coco_gt.json", coco_gt)
    coco_dets = detections(5, coco_gt, per_image_noise=8)
    write("coco_dets.json", coco_dets)
    coco_tied = detections(6, coco_gt, per_image_noise=8, score_decimals=2)
    write("coco_dets_tied.json", coco_tied)
    for name, dets in [("coco_dets.json", coco_dets), ("coco_dets_tied.json", coco_tied)]:
        expected[name] = {
            "standard": coco_standard("coco_gt.json", dets),
            "fixed_k12": coco_fixed("coco_gt.json", dets, 12),
        }

    cap_gt = ground_truth(7, images=30, categories=6, lvis=True)
    write("cap_gt.json", cap_gt)
    for name, crowded in [("cap_sparse.json", False), ("cap_crowded.json", True)]:
        dets = capped_detector(8, cap_gt, crowded)
        write(name, dets)
        expected[name] = {
            "standard_cap20": lvis_standard("cap_gt.json", dets, 20),
            "fixed": lvis_fixed("cap_gt.json", dets, 10000),
        }

    base = ground_truth(9, images=12, categories=7, lvis=True)
    edge_gt, edge_dets = edge_cases(base, detections(10, base, 10), lvis=True, seed=11)
    write("lvis_edge_gt.json", edge_gt)
    write("lvis_edge_dets.json", edge_dets)
    expected["lvis_edge_dets.json"] = {
        "standard": lvis_standard("lvis_edge_gt.json", edge_dets, 300),
        "standard_iou": lvis_standard("lvis_edge_gt.json", edge_dets, 300, [0.3, 0.5, 0.62, 0.75, 1.0]),
        "fixed_k8": lvis_fixed("lvis_edge_gt.json", edge_dets, 8),
        "pooled": lvis_pooled("lvis_edge_gt.json", edge_dets, 10000),
    }
    base = ground_truth(12, images=12, categories=5, lvis=False)
    edge_gt, edge_dets = edge_cases(base, detections(13, base, 10), lvis=False, seed=14)
    write("coco_edge_gt.json", edge_gt)
    write("coco_edge_dets.json", edge_dets)
    expected["coco_edge_dets.json"] = {
        "standard": coco_standard("coco_edge_gt.json", edge_dets),
        "capped5": coco_capped("coco_edge_gt.json", edge_dets, 5),
    }

    write("expected.json", expected)
    print(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main()
