"""Benchmark of frame transcoding (run: python benchmarks/bench_transcode.py).

For the demo's 2048x2048 DX images (12 of 16 bits stored, ``make_demo_set(n_cases=2,
seed=20261128, modality="DX")``) it prints, per offered transfer syntax, the time of
:func:`mrmc.dicom.transcode.encode_frame`, reading the native frame included (best of
``--repeat`` per image, then the median over the images) and the compressed size as a
fraction of the native frame's 8 MiB. Figures only: no goal is checked.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mrmc.dicom.synth import make_demo_set  # noqa: E402
from mrmc.dicom.transcode import OFFERED_SYNTAXES, encode_frame  # noqa: E402

DEMO = {"n_cases": 2, "seed": 20261128, "modality": "DX", "shape": (2048, 2048)}


def best_encode(ds: pydicom.Dataset, uid: str, repeat: int) -> tuple[float, int]:
    """(fastest encode in seconds, codestream bytes)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        codestream = encode_frame(ds, 1, uid)
        times.append(time.perf_counter() - start)
    return min(times), len(codestream)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        datasets = [pydicom.dcmread(path) for path in make_demo_set(folder, **DEMO).image_paths]
    native_bytes = datasets[0].Rows * datasets[0].Columns * datasets[0].BitsAllocated // 8
    first = datasets[0]
    print(f"{len(datasets)} DX images {first.Rows}x{first.Columns}, {first.BitsStored} of {first.BitsAllocated} "
          f"bits stored; native frame {native_bytes / 2**20:.0f} MiB")
    print(f"{'transfer syntax':<44} {'encode ms':>10} {'size':>8} {'ratio':>7}")
    for uid in OFFERED_SYNTAXES:
        runs = [best_encode(ds, uid, args.repeat) for ds in datasets]
        seconds = statistics.median(run[0] for run in runs)
        size = statistics.median(run[1] for run in runs)
        name = f"{uid.keyword} ({uid})"
        print(f"{name:<44} {seconds * 1000:>10.0f} {size / 2**20:>7.2f}M {size / native_bytes:>7.3f}")


if __name__ == "__main__":
    main()
