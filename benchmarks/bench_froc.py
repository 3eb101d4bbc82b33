"""Benchmark of the FROC OR analysis (run: python benchmarks/bench_froc.py).

A null FROC study from :mod:`mrmc.stats.froc_simulation` (seeded): 10 readers x 2 treatments x
1,000 cases (500 non-diseased, 500 diseased with 1-2 lesions), up to 3 non-lesion sites per
case (2 on average, low threshold), so up to 5 marks per case and reader. For each figure
of merit it prints the wall time of a complete ``mrmc.stats.froc.analyze_froc`` call
(figures of merit, every leave-one-out value, jackknife covariance, OR analysis; best of
``--repeat``) and its ratio to the goal.

Goal (issue 13): under 2 s per figure of merit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mrmc.stats.froc import analyze_froc  # noqa: E402
from mrmc.stats.froc_fom import FROC_FOMS  # noqa: E402
from mrmc.stats.froc_simulation import FrocNullModel, simulate_froc_null  # noqa: E402

GOAL_SECONDS = 2.0
# Many marks: two suspicious sites per case on average and a low threshold.
MODEL = FrocNullModel(nl_rate=2.0, threshold=-0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    study = simulate_froc_null(
        n_studies=1, n_readers=10, n_normal=500, n_diseased=500, model=MODEL, seed=args.seed
    ).study()
    marks = np.isfinite(study.nl).sum() + np.isfinite(study.ll).sum()
    print(
        f"FROC study: {len(study.readers)} readers x {len(study.treatments)} treatments x {len(study.cases)} cases, "
        f"{study.n_lesions} lesions, {marks} marks"
    )
    for fom in FROC_FOMS:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = analyze_froc(study, fom=fom)
            times.append(time.perf_counter() - start)
        best = min(times)
        print(
            f"  {fom:<7} {best:7.3f} s  ({best / GOAL_SECONDS:.2f} of the {GOAL_SECONDS:g} s goal)  "
            f"RRRC p = {result.analysis.analysis.rrrc.test.p:.3f}"
        )


if __name__ == "__main__":
    main()
