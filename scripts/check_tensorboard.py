"""Reads a stoke run's TensorBoard event files with PyPI's tensorboard (its own event
reader, not stoke's) and checks every scalar against the run's metrics.jsonl and every
image against PNG decoding. Prints what it compared.

    python3 -m venv /tmp/tb && /tmp/tb/bin/pip install tensorboard
    stoke train smoke train.tensorboard=true --out /tmp/tb-run
    /tmp/tb/bin/python scripts/check_tensorboard.py /tmp/tb-run
"""

import json
import struct
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(run: Path) -> None:
    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    written = {}
    for tag in tags["scalars"]:
        for event in accumulator.Scalars(tag):
            written[(tag, event.step)] = event.value
    compared = 0
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        prefix = "step" if "batch_loss" in record else "eval" if "test_loss" in record else "train"
        for name, value in record.items():
            if name == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            expected = struct.unpack("f", struct.pack("f", value))[0]
            got = written.get((f"{prefix}/{name}", record["step"]))
            assert got == expected, f"{prefix}/{name} at step {record['step']}: {got} vs {expected}"
            compared += 1
    images = 0
    for tag in tags["images"]:
        for event in accumulator.Images(tag):
            png = event.encoded_image_string
            assert png[:8] == b"\x89PNG\r\n\x1a\n", tag
            width, height = struct.unpack(">II", png[16:24])
            assert (width, height) == (event.width, event.height), tag
            images += 1
    print(f"tensorboard {accumulator.FirstEventTimestamp() > 0 and 'read'} the files: "
          f"{compared} scalars equal metrics.jsonl, {images} images, tags {sorted(tags['scalars'])[:4]}...")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
