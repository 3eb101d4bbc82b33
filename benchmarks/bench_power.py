"""Benchmark of simulated power in this process: chunks per second.

Run: python benchmarks/bench_power.py [--studies N] [--chunk-size N]. The same chunks on Celery
workers (one and two worker processes) are timed by benchmarks/bench_scaling.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mrmc.stats.power_sim import PowerSpec, chunk_sizes, simulated_power  # noqa: E402
from mrmc.stats.roe_metz_params import RoeMetzModel  # noqa: E402
from mrmc.stats.simulation import ROE_METZ_STRUCTURES  # noqa: E402

# A split-plot study of 20 readers in 4 groups, 200 + 200 cases, 3% of reads missing
SPEC = PowerSpec(
    "split_plot", RoeMetzModel(ROE_METZ_STRUCTURES["HL2"], 0.15), 20, 200, 200, n_groups=4, missing_fraction=0.03
)


def timed(label: str, run, n_chunks: int):
    start = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - start
    print(f"  {label:<12} {elapsed:7.2f} s  {n_chunks / elapsed:6.2f} chunks/s  power {result.power:.4f}"
          f" +/- {result.mc_se:.4f}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=4000)
    parser.add_argument("--chunk-size", type=int, default=250)
    args = parser.parse_args()
    n_chunks = len(chunk_sizes(args.studies, args.chunk_size))
    print(f"{args.studies} studies in {n_chunks} chunks: {SPEC.design}, {SPEC.n_readers} readers, "
          f"{SPEC.n_normal + SPEC.n_abnormal} cases")
    timed("in-process", lambda: simulated_power(SPEC, n_studies=args.studies, seed=1, chunk_size=args.chunk_size),
          n_chunks)
    return 0

if __name__ == "__main__":
    sys.exit(main())
