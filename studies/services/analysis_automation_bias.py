"""The run's automation-bias analysis: the readers with and without the AI on the cases the AI gets right
and those it gets wrong at its operating point (:mod:`mrmc.stats.automation_bias`)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from mrmc.stats.automation_bias import automation_bias
from studies.models import Study
from studies.services.analysis_context import SectionContext

METHOD = ("Cases are split by the AI's call at its operating point (a score at or above it is positive) into AI "
          "correct and AI wrong, a stratum declared before reading. Within each: sensitivity and specificity by "
          "the Obuchowski-Rockette analysis of the readers' calls with the jackknife over the cases of the class "
          "(Smith & Hillis 2020), the AUC by the Obuchowski-Rockette analysis of the ratings with the run's "
          "covariance; intervals and the aided minus unaided difference for random readers and random cases "
          "(Hillis 2007), each arm's interval clipped to [0, 1]; descriptive, not adjusted for multiplicity. "
          "A reader is helped where they make more correct calls on the stratum's cases with the AI, harmed "
          "where fewer (Alberdi et al. 2004; Goddard et al. 2012; Dratsch et al. 2023).")


def automation_bias_section(context: SectionContext) -> dict:
    """Strata by the AI's call, reader performance per stratum and arm, and each reader helped or harmed."""
    if context.ai_model is None:
        return {"available": False, "reason": "the study shows readers no AI output"}
    if context.ai_scores is None:
        return {"available": False, "reason": "no AI output for every analysed case"}
    operating_point = context.ai_model.get("operating_point")
    if operating_point is None:
        return {"available": False, "reason": context.ai_model.get("operating_point_note")
                or "the AI outputs give no operating point, so the AI's calls (right or wrong) are not defined"}
    shows_ai = context.arms_show_ai
    if all(shows_ai) or not any(shows_ai):
        return {"available": False, "reason": "needs an arm without the AI and an arm with it"}
    arms = [shows_ai.index(False), shows_ai.index(True)]  # the first unaided arm and the first AI-aided arm
    calls, source = _calls(context, arms)
    if calls is None:
        return {"available": False, "reason": "no decision threshold and no binary decisions: the readers' calls "
                                              "are not defined"}
    data, options = context.data, context.options
    sequential = context.run.study.design == Study.Design.SEQUENTIAL
    result = automation_bias(
        data.ratings[arms], calls, data.truth, context.ai_scores, operating_point=operating_point,
        arms=tuple(data.treatments[t] for t in arms), readers=data.readers,
        sequential=sequential, alpha=options["alpha"],
        convention=options["convention"] or "iowa", cov=options["cov"], n_bootstrap=options["n_bootstrap"],
        seed=options["seed"],
    )
    return {"available": True, "method": METHOD, "call_source": source,
            "sequential": sequential, **asdict(result)}


def _calls(context: SectionContext, arms: list[int]) -> tuple[np.ndarray | None, str | None]:
    """The readers' calls in the two arms (1 positive, 0 negative, NaN unread): their own decision where every
    read has one, else their rating at the decision threshold."""
    ratings, decisions = context.data.ratings[arms], context.snapshot.decisions[arms]
    read = ~np.isnan(ratings)
    if not np.isnan(decisions[read]).any():
        return decisions, "reader's decision"
    if context.threshold is not None:
        return np.where(read, ratings >= context.threshold, np.nan), f"rating >= {context.threshold:g}"
    return None, None
