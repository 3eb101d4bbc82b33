"""A locked study built by hand so that every figure of its evaluations is known without the code under test.

Two sites, each with 20 non-diseased and 20 diseased cases (M-A00.. and M-B00..). The cleared model ("cleared"
1.0, the shown AI output set, operating point 0.5) scores each site's non-diseased cases 0.10, 0.11, …, 0.29 and
its diseased cases 0.605, 0.615, … except four, which it scores 0.205, 0.225, 0.245 and 0.265: below 9, 7, 5 and
3 of the site's non-diseased scores, 24 discordant pairs of 400, an AUC of 0.94 at each site (and overall, where
each such case is below twice as many of the 40 non-diseased cases: 96 of 1600). Sensitivity at 0.5: 32/40.

Two updates:

- ``PASSING`` ("detector" 2.0): site A's four low diseased cases scored 0.605 to 0.635 (site A's AUC 1.0, a gain of
  0.06), site B as cleared (0.94, no change); overall 48 discordant pairs of 1600, AUC 0.97. Sensitivity 36/40.
- ``FAILING`` ("detector" 2.1): site A as in 2.0, and site B's four low diseased cases scored lower still: 0.145,
  0.165, 0.185, 0.205, below 15, 13, 11 and 9 non-diseased scores (48 pairs of 400): site B's AUC falls to 0.88,
  0.06 below the cleared model's. Overall the gain at A and the loss at B cancel (96 of 1600, AUC 0.94, no
  change): only the subgroup criterion sees it.

Besides: a training case and a case excluded from the analysis, neither of which is part of the test set.
"""

from studies.models import Study
from studies.services import imports
from studies.services import studies as study_services

CRITERIA = {
    "auc_noninferiority": {"margin": 0.05, "alpha": 0.025},
    "sensitivity_floor": 0.75,  # on the lower bound of the Wilson interval: 36/40 gives 0.769
    "specificity_floor": 0.85,  # 40/40 gives 0.912
    "subgroup_max_drop": {"variable": "site", "max": 0.05},
}
NORMAL = [round(0.10 + j / 100, 2) for j in range(20)]
DISEASED = [round(0.605 + k / 100, 3) for k in range(16)]
LOW = {"cleared": [0.205, 0.225, 0.245, 0.265], "raised": [0.605, 0.615, 0.625, 0.635],
       "lowered": [0.145, 0.165, 0.185, 0.205]}


def labels(site: str) -> tuple[list[str], list[str]]:
    """The site's non-diseased and diseased case labels."""
    return [f"M-{site}{j:02d}" for j in range(20)], [f"M-{site}{20 + k:02d}" for k in range(20)]


def site_scores(site: str, low: str) -> dict[str, float]:
    normal, diseased = labels(site)
    return dict(zip(normal + diseased, NORMAL + DISEASED + LOW[low], strict=True))


CLEARED = site_scores("A", "cleared") | site_scores("B", "cleared")
PASSING = site_scores("A", "raised") | site_scores("B", "cleared")
FAILING = site_scores("A", "raised") | site_scores("B", "lowered")


def build_locked_study(coordinator, *members) -> Study:
    study = study_services.create_study(actor=coordinator, title="Cleared detector: pivotal study", washout_days=28)
    study_services.add_arm(actor=coordinator, study=study, name="unaided")
    study_services.add_arm(actor=coordinator, study=study, name="aided", shows_ai=True)
    for member in members:
        study_services.add_member(actor=coordinator, study=study, user=member)
    rows = ["case,truth,site,training"]
    for site in "AB":
        normal, diseased = labels(site)
        rows += [f"{label},0,site-{site},no" for label in normal] + [f"{label},1,site-{site},no" for label in diseased]
    rows += ["T-01,1,site-A,yes", "X-01,0,site-A,no"]
    imports.import_truth(actor=coordinator, study=study, data="\n".join(rows).encode())
    outputs = ["case,model_name,model_version,score,operating_point"]
    outputs += [f"{label},cleared,1.0,{score},0.5" for label, score in (CLEARED | {"T-01": 0.9, "X-01": 0.95}).items()]
    imports.import_ai_outputs(actor=coordinator, study=study, data="\n".join(outputs).encode(), filename="cleared.csv")
    # The premise: the study was read and locked, and X-01 excluded (its images were of another patient)
    study.cases.filter(label="X-01").update(excluded_reason="images of another patient")
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LOCKED)
    study.refresh_from_db()
    return study
