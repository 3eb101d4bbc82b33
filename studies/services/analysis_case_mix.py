"""The results' ``case_mix`` part: the analysed cases against the intended-use population's targets.

Reads only what the run froze: the cases, their truth and metadata from the reads snapshot, the
population and the acquisition attributes from the marks snapshot
(:func:`studies.services.analysis_snapshot.frozen_case_mix`). Per variable and group: the count
(diseased and non-diseased), the proportion of all analysed cases with its Wilson interval, the
target and whether the group is under-represented by the protocol's rule
(:func:`mrmc.stats.representation.representation`).
"""

from mrmc.stats.representation import NOT_RECORDED, representation
from studies.services.analysis_snapshot import frozen_case_mix
from studies.services.case_mix import rule_of


def case_mix_section(context) -> dict:
    """The section of ``context`` (:class:`studies.services.analysis_sections.SectionContext`, not imported: that
    module imports this one to register it)."""
    frozen = frozen_case_mix(context.run.marks_snapshot)
    if not frozen:
        return {"available": False, "reason": "the protocol declares no intended-use population"}
    population, acquisition = frozen["population"], frozen["acquisition"]
    rule = rule_of(population)
    data = context.data
    variables = []
    for name, variable in population["variables"].items():
        if variable["source"] == "metadata":
            values = context.snapshot.case_metadata.get(name) or [NOT_RECORDED] * len(data.cases)
        else:
            values = [acquisition.get(case, {}).get(name, NOT_RECORDED) for case in data.cases]
        groups = representation(values, data.truth, variable["targets"], min_ratio=rule["min_ratio"],
                                alpha=rule["alpha"])
        variables.append({"name": name, "source": variable["source"], "groups": [
            {"group": g.group, "count": g.count, "n_diseased": g.count_diseased,
             "n_non_diseased": g.count_non_diseased, "proportion": g.proportion, "ci": list(g.ci),
             "target": g.target, "under_represented": g.under_represented, "reasons": list(g.reasons)}
            for g in groups]})
    return {"available": True, "n_cases": len(data.cases), "n_diseased": int(data.truth.sum()),
            "n_non_diseased": int((~data.truth.astype(bool)).sum()), "rule": rule, "ci_method": "Wilson score",
            "variables": variables}
