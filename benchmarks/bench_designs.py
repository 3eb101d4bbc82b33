"""Benchmark of the analysis of split-plot studies (run: python benchmarks/bench_designs.py).

20 readers x 2 treatments x 10,000 cases (Roe & Metz HL2 data, half diseased, continuous
ratings) in 4 split-plot groups of 5 readers, each group reading its own 2,500 cases in
both treatments, and the same with 3% of those reads missing at random. For each, and for
the jackknife and unbiased covariance, it prints the wall time of a complete in-process
``mrmc.stats.analyze`` call (design detection, figures of merit, covariance, OR analysis;
best of ``--repeat``). With ``--method ustat`` it times the U-statistic analysis instead.

Goal (issue 13): the whole analysis under 1 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mrmc.stats import analyze, simulate_roe_metz  # noqa: E402

N_READERS, N_CASES, N_GROUPS = 20, 10_000, 4
DESIGNS = (("split-plot", 0.0), ("split-plot, 3% missing", 0.03))
GOAL_SECONDS = 1.0


def best_time(ratings: np.ndarray, truth: np.ndarray, options: dict, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        analyze(ratings, truth, **options)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--method", choices=("or", "ustat"), default="or")
    args = parser.parse_args()
    print(f"{N_READERS} readers x 2 treatments x {N_CASES:,} cases in {N_GROUPS} split-plot groups")
    for name, missing_fraction in DESIGNS:
        ratings, truth = simulate_roe_metz(
            n_readers=N_READERS,
            n_normal=N_CASES // 2,
            n_abnormal=N_CASES // 2,
            structure="HL2",
            seed=13,
            split_plot_groups=N_GROUPS,
            missing_fraction=missing_fraction,
        )
        reads = int(np.count_nonzero(~np.isnan(ratings)))
        covs = ("jackknife", "unbiased") if args.method == "or" else (None,)
        for cov in covs:
            options = {"cov": cov} if cov else {"method": "ustat"}
            result = analyze(ratings, truth, **options)
            seconds = best_time(ratings, truth, options, args.repeat)
            verdict = "ok" if seconds < GOAL_SECONDS else f"over the {GOAL_SECONDS:g} s goal"
            print(
                f"  {name:<24} {reads:>7,} reads  {cov or 'ustat':<10} {seconds:7.3f} s  ({verdict}; "
                f"design {result.design.kind}, {result.design.n_missing:,} missing)"
            )


if __name__ == "__main__":
    main()
