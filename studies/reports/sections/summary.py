"""The study at a glance: arms, readers, cases, rating scale and the run's provenance."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, number


def build(run: AnalysisRun, results: dict) -> Section:
    study = results["study"]
    arms = ", ".join(f"{a['label']} ({a['name']}{', AI shown' if a['shows_ai'] else ''})" for a in study["arms"])
    threshold = study["decision_threshold"]
    paragraphs = [
        f"Design: {study['design_label']}. Arms: {arms}. Readers: {len(study['readers'])} "
        f"({', '.join(study['readers'])}). Cases analysed: {study['n_cases']} ({study['n_abnormal']} diseased, "
        f"{study['n_normal']} non-diseased); reads analysed: {study['n_reads']}.",
        f"Rating scale: {study['rating_scale']} {number(study['rating_bounds'][0], 0)}-"
        f"{number(study['rating_bounds'][1], 0)}; decision threshold: "
        f"{'none' if threshold is None else f'{threshold:g}'}; binary decisions collected: "
        f"{'yes' if study['binary_decision'] else 'no'}.",
        f"Run {run.pk} by {run.created_by.username if run.created_by else 'unknown'} on "
        f"{run.created_at:%Y-%m-%d %H:%M} UTC, study status {run.study_status}"
        f"{' (INTERIM: reading not finished)' if run.is_interim else ''}. Snapshot sha256 "
        f"{run.snapshot_checksum}. Software: {run.software_version}.",
    ]
    if study.get("dropped_incomplete_cases"):  # runs made before every read was kept
        paragraphs.append(f"{study['dropped_incomplete_cases']} cases not yet read by every reader in every arm "
                          "were left out of this interim analysis.")
    rows = [
        [variable, level, str(counts["normal"]), str(counts["abnormal"])]
        for variable, levels in study["cases_by_subgroup"].items()
        for level, counts in levels.items()
    ]
    tables = [Table("Cases by truth and subgroup variable", ["Variable", "Level", "Non-diseased", "Diseased"], rows)]
    return Section("Study summary", paragraphs, tables if rows else [])
