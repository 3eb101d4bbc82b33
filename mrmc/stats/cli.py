"""Command line: ``python -m mrmc.stats {analyze,analyze-froc,power,simulate} ...``.

Exit status 0 on success, 2 with a one-line message on bad input.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence

from .analysis import analyze_study
from .covariance import COV_METHODS
from .data import read_long_csv
from .fom import FOM_KINDS, PAUC_AXES
from .froc import analyze_froc_csv, format_froc_end_points, froc_result_to_json
from .froc_fom import FROC_FOMS
from .or_analysis import CONVENTIONS
from .power import GENERALIZATIONS, PilotEstimates, sample_size_table, study_power
from .power_plan import PowerPlan, model_from_pilot_study, pilot_model, plan_specs
from .power_sim import DESIGNS, simulated_power
from .report import format_report, result_to_json
from .simulation import ROE_METZ_STRUCTURES, simulate_roe_metz


class InputError(Exception):
    """Bad command-line input; reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise InputError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mrmc.stats", description="MRMC reader-study statistics")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    analysis = commands.add_parser("analyze", help="Obuchowski-Rockette analysis of a long-table CSV")
    analysis.add_argument("csv", help="CSV with columns reader,treatment,case,truth,rating")
    _add_analysis_options(analysis)
    analysis.add_argument("--json", action="store_true", help="print one JSON object")

    froc = commands.add_parser("analyze-froc", help="OR analysis of a FROC study (marks.csv + truth.csv)")
    froc.add_argument("marks", help="CSV with columns reader,treatment,case,truth,mark_rating,lesion_id")
    froc.add_argument("truth", help="CSV with columns case,truth,lesion_id,weight")
    froc.add_argument("--fom", choices=FROC_FOMS, default="wafroc")
    froc.add_argument("--convention", choices=CONVENTIONS, default="iowa")
    froc.add_argument("--alpha", type=float, default=0.05)
    froc.add_argument("--json", action="store_true", help="print one JSON object")

    power = commands.add_parser("power", help="power / sample size from pilot variance components")
    source = power.add_mutually_exclusive_group(required=True)
    source.add_argument("--pilot", help="pilot study CSV (components estimated from it)")
    source.add_argument(
        "--components",
        nargs=6,
        type=float,
        metavar=("VAR_TR", "VAR_ERROR", "COV1", "COV2", "COV3", "PILOT_CASES"),
        help="OR components and the number of pilot cases they come from",
    )
    _add_analysis_options(power)
    power.add_argument("--effect", type=float, required=True, help="AUC difference to detect")
    power.add_argument("--readers", type=int, nargs="+", help="reader counts (default 3..15)")
    power.add_argument("--cases", type=int, help="planned cases: report power instead of cases needed")
    power.add_argument("--power", type=float, default=0.8, dest="target_power")
    power.add_argument("--generalization", choices=GENERALIZATIONS, default="rrrc")
    power.add_argument("--json", action="store_true")
    simulated = power.add_argument_group(
        "simulation", "--simulate: power of --cases (half diseased) by simulating a Roe & Metz model fitted to "
        "the pilot's AUC, var_R, var_TR and error correlations (Hillis 2018, 2020)"
    )
    simulated.add_argument("--simulate", action="store_true", help="simulate instead of the analytic power")
    simulated.add_argument("--design", choices=DESIGNS, default="fully_crossed",
                           help="froc: the FROC model of mrmc.stats.froc_simulation, --effect raising the lesions' "
                           "latent separation (the pilot is not used)")
    simulated.add_argument("--groups", type=int, help="split-plot reader groups")
    simulated.add_argument("--missing", type=float, default=0.0, help="fraction of reads missing at random")
    simulated.add_argument("--studies", type=int, default=2000, help="simulated studies per reader count")
    simulated.add_argument("--simulation-seed", type=int, default=0)
    simulated.add_argument("--auc", type=float, help="control AUC (default: the pilot's first treatment)")
    simulated.add_argument("--var-r", type=float, help="OR var_R (with --components; default: the pilot's)")

    simulate = commands.add_parser("simulate", help="write a Roe & Metz simulated study as CSV")
    simulate.add_argument("--readers", type=int, default=5)
    simulate.add_argument("--normal", type=int, default=50)
    simulate.add_argument("--abnormal", type=int, default=50)
    simulate.add_argument("--treatments", type=int, default=2)
    simulate.add_argument("--structure", choices=sorted(ROE_METZ_STRUCTURES), default="HL2")
    simulate.add_argument("--effect", type=float, default=0.0, help="shift of diseased mean after treatment 1")
    simulate.add_argument("--seed", type=int)
    return parser


def _add_analysis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cov", choices=COV_METHODS, default="jackknife")
    parser.add_argument("--fom", choices=FOM_KINDS, default="auc")
    parser.add_argument("--threshold", type=float, help="rating threshold for sens/spec")
    parser.add_argument("--pauc-range", type=float, nargs=2, metavar=("LOW", "HIGH"))
    parser.add_argument("--pauc-axis", choices=PAUC_AXES, default="specificity")
    parser.add_argument("--seed", type=int, help="bootstrap seed")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--convention", choices=CONVENTIONS, default="iowa")
    parser.add_argument("--alpha", type=float, default=0.05)


def _analysis_options(args: argparse.Namespace) -> dict:
    return {
        "fom": args.fom,
        "threshold": args.threshold,
        "pauc_range": tuple(args.pauc_range) if args.pauc_range else None,
        "pauc_axis": args.pauc_axis,
        "cov": args.cov,
        "n_bootstrap": args.bootstrap,
        "seed": args.seed,
        "convention": args.convention,
        "alpha": args.alpha,
    }


def _run_analyze(args: argparse.Namespace) -> str:
    result = analyze_study(read_long_csv(args.csv), **_analysis_options(args))
    return json.dumps(result_to_json(result), indent=2) if args.json else format_report(result)


def _run_analyze_froc(args: argparse.Namespace) -> str:
    result = analyze_froc_csv(args.marks, args.truth, fom=args.fom, convention=args.convention, alpha=args.alpha)
    if args.json:
        return json.dumps(froc_result_to_json(result), indent=2)
    return format_report(result.analysis) + format_froc_end_points(result)


def _pilot(args: argparse.Namespace) -> PilotEstimates:
    if args.components:
        var_tr, var_error, cov1, cov2, cov3, cases = args.components
        return PilotEstimates(var_tr, var_error, cov1, cov2, cov3, int(cases))
    study = read_long_csv(args.pilot)
    result = analyze_study(study, **_analysis_options(args))
    return PilotEstimates.from_components(result.analysis.var_components, study.truth.size)


def _run_power(args: argparse.Namespace) -> str:
    if args.simulate:
        return _run_simulated_power(args)
    pilot = _pilot(args)
    readers = args.readers or list(range(3, 16))
    design = {"effect_size": args.effect, "generalization": args.generalization, "alpha": args.alpha}
    if args.cases:
        rows = [
            {
                "readers": j,
                "cases": args.cases,
                "power": study_power(pilot, n_readers=j, n_cases=args.cases, **design).power,
            }
            for j in readers
        ]
    else:
        table = sample_size_table(pilot, readers=readers, target_power=args.target_power, **design)
        rows = [{"readers": j, "cases": cases, "power_target": args.target_power} for j, cases in table]
    if args.json:
        return json.dumps({**design, "rows": rows}, indent=2)
    header = (
        f"{args.generalization.upper()} power, AUC difference {args.effect:g}, alpha {args.alpha:g} "
        "(Hillis, Obuchowski & Berbaum 2011)"
    )
    body = [
        f"readers {row['readers']:>3}  cases {row['cases'] if row['cases'] is not None else 'unreachable':>8}"
        + (f"  power {row['power']:.3f}" if "power" in row else f"  for power {args.target_power:g}")
        for row in rows
    ]
    return "\n".join([header, *body]) + "\n"


def _simulated_plan(args: argparse.Namespace) -> tuple[PowerPlan, object, dict]:
    """The plan and its model: a Roe & Metz model fitted to the pilot (control AUC, control + effect), or
    the FROC model."""
    plan = PowerPlan(
        args.design, args.effect, tuple(args.readers or range(3, 16)), (args.cases,), alpha=args.alpha,
        groups=args.groups, missing=args.missing,
    )
    if args.pilot and args.design != "froc":
        model, details = model_from_pilot_study(
            plan, read_long_csv(args.pilot), control_auc=args.auc, var_r=args.var_r, **_analysis_options(args)
        )
        return plan, model, details
    if args.design != "froc" and (args.auc is None or args.var_r is None):
        raise InputError("--simulate with --components needs --auc and --var-r")
    pilot = _pilot(args) if args.design != "froc" else None
    model, details = pilot_model(
        plan, pilot=pilot, control_auc=args.auc, var_r=args.var_r, n_abnormal=pilot.n_cases // 2 if pilot else 0
    )
    return plan, model, details


def _run_simulated_power(args: argparse.Namespace) -> str:
    if not args.cases:
        raise InputError("--simulate needs --cases")
    plan, model, details = _simulated_plan(args)
    rows = []
    for spec in plan_specs(plan, model):
        result = simulated_power(spec, n_studies=args.studies, seed=args.simulation_seed)
        rows.append({"readers": spec.n_readers, "cases": args.cases, "power": result.power, "mc_se": result.mc_se})
    settings = {"design": args.design, "effect_size": args.effect, "alpha": args.alpha, "studies": args.studies}
    if args.json:
        return json.dumps({**settings, **details, "rows": rows}, indent=2)
    header = (
        f"{args.design} power by simulation, effect {args.effect:g}, alpha {args.alpha:g}, "
        f"{args.studies} studies per row (+/- Monte-Carlo SE)"
    )
    body = [
        f"readers {row['readers']:>3}  cases {row['cases']:>8}  power {row['power']:.3f} +/- {row['mc_se']:.3f}"
        for row in rows
    ]
    return "\n".join([header, *body]) + "\n"


def _run_simulate(args: argparse.Namespace) -> str:
    ratings, truth = simulate_roe_metz(
        n_readers=args.readers,
        n_normal=args.normal,
        n_abnormal=args.abnormal,
        structure=args.structure,
        n_treatments=args.treatments,
        treatment_effect=args.effect,
        seed=args.seed,
    )
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["reader", "treatment", "case", "truth", "rating"])
    for t, by_reader in enumerate(ratings, start=1):
        for r, by_case in enumerate(by_reader, start=1):
            for c, rating in enumerate(by_case, start=1):
                writer.writerow([r, t, c, int(truth[c - 1]), repr(float(rating))])
    return ""


_COMMANDS = {"analyze": _run_analyze, "analyze-froc": _run_analyze_froc, "power": _run_power, "simulate": _run_simulate}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        output = _COMMANDS[args.command](args)
    except (InputError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(output)
    return 0
