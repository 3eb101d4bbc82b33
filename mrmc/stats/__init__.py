"""MRMC reader-study statistics: figures of merit, covariance, Obuchowski-Rockette analysis.

Pure numpy/scipy (no Django, no pandas).

Entry points
------------
From reads held as records (e.g. a database query), one row per reader x treatment x case::

    from mrmc.stats import analyze_long, result_to_json

    rows = [{"reader": "r1", "treatment": "AI", "case": "c7", "truth": 1, "rating": 87.0}, ...]
    result = analyze_long(rows, fom="auc", cov="jackknife")     # raises StudyDataError on bad input
    document = result_to_json(result)                           # plain dict, stable key names

From arrays: ``analyze(ratings[treatment, reader, case], truth[case], treatments=..., readers=...)``.
From a CSV file: ``analyze_study(read_long_csv(path), ...)`` or ``python -m mrmc.stats analyze FILE.csv``.

Defaults follow the Iowa OR-DBM MRMC program (``convention='iowa'``); ``convention='mrmcaov'``
reproduces MRMCaov 0.3. Covariance methods: ``jackknife`` (default) and ``delong`` work for any
study size in O(N log N); ``unbiased`` (AUC only) needs O(n0 n1) work, done in bounded-memory blocks;
``bootstrap`` is stratified by truth and reproducible with ``seed``.

Designs: a read that does not exist is NaN; ``analyze`` detects a fully crossed, split-plot or
partially paired study (``detect_design``), uses MRMCaov's convention where it is not fully crossed,
and ``method="ustat"`` gives iMRMC's U-statistic analysis (``ustat_analysis``). Sensitivity and
specificity: ``binary_endpoint_analysis`` (class-restricted jackknife or U-statistics). AI against
readers: ``ai_versus_readers`` (1T-RRRC by default). FROC: ``analyze_froc(read_froc_csv(marks, truth),
fom="wafroc")``.

Study planning: ``study_power(PilotEstimates.from_components(result.analysis.var_components,
n_cases), n_readers=..., n_cases=..., effect_size=...)`` and ``sample_size_table(...)``
(:mod:`mrmc.stats.power`); simulated power of any design from a pilot converted to a Roe–Metz model:
``simulated_power(PowerSpec(...), ...)`` with ``roe_metz_from_or``. Simulation:
``simulate_roe_metz(...)`` (:mod:`mrmc.stats.simulation`).
"""

from .analysis import ORResult, analyze, analyze_long, analyze_study
from .binary import BinaryEndpointAnalysis, binary_endpoint_analysis
from .covariance import COV_METHODS, estimate_covariance
from .data import ReaderStudy, StudyDataError, read_long_csv
from .designs import StudyDesign, detect_design
from .fom import FigureOfMerit, auc, partial_auc, placement_values, sensitivity, specificity
from .froc import FrocResult, analyze_froc, analyze_froc_csv, froc_result_to_json
from .froc_data import FrocStudy, read_froc_csv
from .or_analysis import CONVENTIONS, or_analysis
from .power import PilotEstimates, PowerResult, cases_for_power, sample_size_table, study_power
from .power_sim import PowerSpec, SimulatedPower, cases_for_simulated_power, simulated_power
from .report import format_report, result_to_json
from .roe_metz_params import RoeMetzModel, or_parameters_of_roe_metz, roe_metz_from_or
from .simulation import ROE_METZ_STRUCTURES, simulate_roe_metz
from .standalone import ai_versus_readers
from .ustatistics import UStatResult, ustat_analysis

__all__ = [
    "BinaryEndpointAnalysis",
    "CONVENTIONS",
    "COV_METHODS",
    "FigureOfMerit",
    "FrocResult",
    "FrocStudy",
    "ORResult",
    "PilotEstimates",
    "PowerResult",
    "PowerSpec",
    "ROE_METZ_STRUCTURES",
    "ReaderStudy",
    "RoeMetzModel",
    "SimulatedPower",
    "StudyDataError",
    "StudyDesign",
    "UStatResult",
    "ai_versus_readers",
    "analyze",
    "analyze_froc",
    "analyze_froc_csv",
    "analyze_long",
    "analyze_study",
    "auc",
    "binary_endpoint_analysis",
    "cases_for_power",
    "cases_for_simulated_power",
    "detect_design",
    "estimate_covariance",
    "format_report",
    "froc_result_to_json",
    "or_analysis",
    "or_parameters_of_roe_metz",
    "partial_auc",
    "placement_values",
    "read_froc_csv",
    "read_long_csv",
    "result_to_json",
    "roe_metz_from_or",
    "sample_size_table",
    "sensitivity",
    "simulate_roe_metz",
    "simulated_power",
    "specificity",
    "study_power",
    "ustat_analysis",
]
