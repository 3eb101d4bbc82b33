"""The results' ``case_mix`` part: the analysed cases against the intended-use population's targets.

Reads only what the run froze: the cases, their truth and metadata from the reads snapshot, the
population and the acquisition attributes from the marks snapshot
(:func:`studies.services.analysis_snapshot.frozen_case_mix`). Per variable and group: the count
(diseased and non-diseased), the proportion of all analysed cases with its Wilson interval, the
target and whether the group is under-represented by the protocol's rule
(:func:`mrmc.stats.representation.representation`).
"""

from mrmc.stats.representation import NOT_RECORDED
from studies.services.analysis_context import SectionContext
from studies.services.analysis_snapshot import frozen_case_mix
from studies.services.case_mix import case_mix_table, rule_of


def case_mix_section(context: SectionContext) -> dict:
    """The cases analysed against the intended-use population, per variable and group, from frozen values."""
    frozen = frozen_case_mix(context.run.marks_snapshot)
    if not frozen:
        return {"available": False, "reason": "the protocol declares no intended-use population"}
    population, acquisition, data = frozen["population"], frozen["acquisition"], context.data

    def values_of(name: str, source: str) -> list[str]:
        if source == "metadata":
            return context.snapshot.case_metadata.get(name) or [NOT_RECORDED] * len(data.cases)
        return [acquisition.get(case, {}).get(name, NOT_RECORDED) for case in data.cases]

    truth = data.truth.astype(bool)
    return {"available": True, "n_cases": len(data.cases), "n_diseased": int(truth.sum()),
            "n_non_diseased": int((~truth).sum()), "rule": rule_of(population), "ci_method": "Wilson score",
            "variables": case_mix_table(population, truth, values_of)}
