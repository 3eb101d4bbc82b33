"""The reference standard in a run's results: how each analysed case's truth was established (imported from a
file, or by the truthing panel: consensus, majority, adjudicated) and, for a panel, its agreement against the
protocol's thresholds.

A run freezes these facts with its marks snapshot (:func:`frozen`, under ``reference_standard``), so that the
results and the report read what held when the run was made; ``reference_standard_section`` is the results' part
(registered in ``analysis_sections.SECTIONS``).
"""

import json
from collections import Counter

from studies.models import Study
from studies.selectors import analysed_cases
from studies.services import truthing

PANEL_METHODS = ("consensus", "majority", "adjudicated")


def frozen(study: Study) -> dict:
    """Per analysed case with truth: where its truth came from and by which method; the panel's rule, membership
    and agreement where the study has one."""
    cases = (analysed_cases(study).filter(truth__isnull=False).order_by("label")
             .values_list("label", "truth_method", "truth_established_by", "truth_provenance"))
    document = {"cases": [{"case": label, "source": (provenance or {}).get("source") or "imported",
                           "method": method, "established_by": established_by}
                          for label, method, established_by, provenance in cases],
                "panel": None}
    if study.truthing:
        figures = truthing.agreement(study)
        document["panel"] = {key: figures[key] for key in (
            "rule", "truthers", "adjudicator", "cases_total", "cases_complete", "label_by_round", "lesion",
            "disputes", "adjudicated", "final")}
    return document


def reference_standard_section(context) -> dict:
    """Counts of the cases by how their truth was established, and the panel's agreement, as the run froze them."""
    text = context.run.marks_snapshot
    document = json.loads(text).get("reference_standard") if text else None
    if document is None:
        return {"available": False, "reason": "this run froze no reference-standard facts (it predates them)"}
    panel_methods = Counter(case["method"] for case in document["cases"] if case["source"] == truthing.PANEL_SOURCE)
    imported = [case for case in document["cases"] if case["source"] != truthing.PANEL_SOURCE]
    return {
        "available": True,
        "counts": {"imported": len(imported)} | {method: panel_methods.get(method, 0) for method in PANEL_METHODS},
        "imported_methods": dict(sorted(Counter(case["method"] or "unspecified" for case in imported).items())),
        "established_by": sorted({case["established_by"] for case in document["cases"] if case["established_by"]}),
        "panel": document["panel"],
    }
