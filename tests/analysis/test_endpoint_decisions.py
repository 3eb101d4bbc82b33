"""Each pre-specified endpoint's decision, from hand-built results whose bounds are worked out here.

Quantiles from tables: t(0.975, 20) = 2.085963, t(0.95, 20) = 1.724718; normal upper tails:
P(Z > 3.0) = 0.0013499, P(Z > 2.3) = 0.0107241, P(Z > 2.1) = 0.0178644, P(Z > 2.33) = 0.0099031,
P(Z > 2.26) = 0.0119122.
"""

import pytest

from studies.services.endpoint_decisions import decide_endpoints

ARMS = [{"name": "unaided", "label": "Unaided", "shows_ai": False},
        {"name": "aided", "label": "AI-aided", "shows_ai": True}]


def _rrrc(ai_minus_control: float, se: float, df: float | None) -> dict:
    # Stored as the analysis orders arms (unaided first): first minus second is control minus AI.
    return {"differences": [{"treatments": ["unaided", "aided"], "estimate": -ai_minus_control, "se": se, "df": df,
                             "ci": [None, None], "statistic": None, "p": None}]}


def results(auc=(0.043, 0.015, 20), sens=None, spec=None) -> dict:
    """A results document: the primary AUC analysis and, where given, the reader's-decision OR analyses."""
    sources = {"reader's decision": {kind: {"rrrc": _rrrc(*values)} for kind, values in (("sens", sens),
                                                                                          ("spec", spec)) if values}}
    return {
        "study": {"arms": ARMS},
        "primary": {"fom": "auc", "fom_label": "AUC", "rrrc": _rrrc(*auc)},
        "operating_points": {"available": True, "sources": sources} if sens or spec else {"available": False,
                                                                                         "reason": "no threshold"},
    }


def decided(endpoints: dict, document: dict) -> list[dict]:
    return decide_endpoints(endpoints=endpoints, results=document)["endpoints"]


AUC_SUPERIORITY = {"primary": {"figure": "auc", "hypothesis": "superiority"}}


def test_superiority_succeeds_when_the_lower_bound_exceeds_zero():
    (primary,) = decided(AUC_SUPERIORITY, results(auc=(0.043, 0.015, 20)))
    assert primary["decision"] == "success"
    assert primary["estimate"] == pytest.approx(0.043)  # AI minus control, whatever order the analysis used
    assert primary["ci"] == pytest.approx([0.043 - 2.085963 * 0.015, 0.043 + 2.085963 * 0.015], abs=1e-6)
    assert primary["statement"] == ("AI-aided − Unaided AUC difference 0.043, 95% CI [0.012, 0.074]; superiority: "
                                    "success, lower bound 0.012 > 0")


def test_superiority_fails_when_the_interval_holds_zero():
    (primary,) = decided(AUC_SUPERIORITY, results(auc=(0.02, 0.015, 20)))
    assert primary["decision"] == "failure"
    assert primary["ci"][0] == pytest.approx(0.02 - 2.085963 * 0.015, abs=1e-6)
    assert "failure, lower bound -0.011 ≤ 0" in primary["statement"]


@pytest.mark.parametrize("se,decision", [
    (0.0140, "success"),  # lower bound -0.02 - 2.085963 * 0.0140 = -0.04920 > -0.05
    (0.0145, "failure"),  # lower bound -0.02 - 2.085963 * 0.0145 = -0.05025 < -0.05
])
def test_non_inferiority_at_the_margin_edge(se, decision):
    endpoints = {"primary": {"figure": "auc", "hypothesis": "non_inferiority", "margin": 0.05}}
    (primary,) = decided(endpoints, results(auc=(-0.02, se, 20)))
    assert primary["decision"] == decision
    assert primary["null_value"] == -0.05
    assert primary["ci"][0] == pytest.approx(-0.02 - 2.085963 * se, abs=1e-6)


def test_a_one_sided_alpha_uses_the_one_sided_bound():
    # lower bound one-sided 95%: 0.02 - 1.724718 * 0.011 = 0.00103 > 0; two-sided 95%: 0.02 - 0.02295 < 0
    one_sided = decide_endpoints(endpoints={**AUC_SUPERIORITY, "sided": "one"}, results=results(auc=(0.02, 0.011, 20)))
    assert one_sided["ci_level"] == pytest.approx(0.90) and one_sided["one_sided_alpha"] == 0.05
    assert one_sided["endpoints"][0]["decision"] == "success"
    assert one_sided["endpoints"][0]["ci"][0] == pytest.approx(0.02 - 1.724718 * 0.011, abs=1e-6)
    assert "90% CI" in one_sided["endpoints"][0]["statement"]
    (two_sided,) = decided(AUC_SUPERIORITY, results(auc=(0.02, 0.011, 20)))
    assert two_sided["decision"] == "failure"


def test_one_failing_co_primary_fails_the_primary_hypothesis_and_secondaries_are_not_tested():
    endpoints = {**AUC_SUPERIORITY,
                 "co_primary": [{"figure": "sensitivity", "hypothesis": "non_inferiority", "margin": 0.05}],
                 "secondary": [{"figure": "specificity", "hypothesis": "superiority"}]}
    # sensitivity: lower bound -0.04 - 2.085963 * 0.02 = -0.0817 < -0.05
    document = decide_endpoints(endpoints=endpoints, results=results(sens=(-0.04, 0.02, 20), spec=(0.1, 0.01, 20)))
    primary, sensitivity, specificity = document["endpoints"]
    assert (primary["decision"], sensitivity["decision"]) == ("success", "failure")
    assert document["primary_outcome"] == "failure"
    assert specificity["decision"] == "not tested" and "primary endpoints did not all succeed" in specificity["reason"]


def _holm(sens_z: float, spec_z: float) -> dict:
    endpoints = {**AUC_SUPERIORITY, "secondary": [{"figure": "specificity", "hypothesis": "superiority"},
                                                  {"figure": "sensitivity", "hypothesis": "superiority"},
                                                  {"figure": "wafroc", "hypothesis": "superiority"}]}
    document = results(sens=(sens_z * 0.01, 0.01, None), spec=(spec_z * 0.01, 0.01, None))
    _, specificity, sensitivity, wafroc = decided(endpoints, document)
    return {"spec": specificity, "sens": sensitivity, "wafroc": wafroc}


def test_holm_orders_secondaries_by_p_and_counts_every_prespecified_one():
    # one-sided level 0.025, m = 3 (wafroc pre-specified but not analysed):
    # sensitivity p 0.0013499 < 0.025/3 at step 1; specificity p 0.0107241 < 0.025/2 at step 2
    secondary = _holm(sens_z=3.0, spec_z=2.3)
    assert (secondary["sens"]["holm_step"], secondary["spec"]["holm_step"]) == (1, 2)
    assert secondary["sens"]["holm_alpha"] == pytest.approx(0.025 / 3)
    assert secondary["sens"]["p_one_sided"] == pytest.approx(0.0013499, abs=1e-7)
    assert secondary["spec"]["p_one_sided"] == pytest.approx(0.0107241, abs=1e-7)
    assert (secondary["sens"]["decision"], secondary["spec"]["decision"]) == ("success", "success")
    assert secondary["wafroc"]["decision"] == "not analysed" and "FROC" in secondary["wafroc"]["reason"]


def test_holm_fails_a_secondary_that_only_passes_alone():
    # specificity p 0.0178644 > 0.025/2 at step 2, though below 0.025
    assert _holm(sens_z=3.0, spec_z=2.1)["spec"]["decision"] == "failure"


def test_holm_stops_at_the_first_failure():
    # sensitivity p 0.0099031 > 0.025/3 fails step 1; specificity p 0.0119122 < 0.025/2 would pass step 2
    secondary = _holm(sens_z=2.33, spec_z=2.26)
    assert secondary["sens"]["decision"] == "failure"
    assert secondary["spec"]["decision"] == "failure" and "earlier Holm step failed" in secondary["spec"]["statement"]


def test_endpoints_the_run_cannot_compute_are_shown_with_the_reason():
    endpoints = {"primary": {"figure": "pauc", "hypothesis": "superiority"},
                 "co_primary": [{"figure": "afroc", "hypothesis": "superiority"}]}
    document = decide_endpoints(endpoints=endpoints, results=results())
    pauc, afroc = document["endpoints"]
    assert pauc["decision"] == "not analysed" and "fom=pauc" in pauc["reason"]
    assert afroc["decision"] == "not analysed"
    assert document["primary_outcome"] == "not analysed"


def test_no_endpoints_specified():
    assert decide_endpoints(endpoints={}, results=results()) == {"specified": False}


def test_a_run_states_each_endpoint_decision_in_its_results_and_report(read_study, statistician, run_analysis):
    from studies.models import Study
    from studies.reports import render_html

    study = read_study(n_cases=30)
    plan = {**AUC_SUPERIORITY, "co_primary": [{"figure": "hrauc", "hypothesis": "superiority"}]}
    Study.objects.filter(pk=study.pk).update(endpoints=plan)  # as the protocol fixed them before the schedule
    run = run_analysis(actor=statistician, study=study, options={"seed": 1})
    auc, hrauc = run.results["endpoints"]["endpoints"]
    difference = next(d for d in run.results["primary"]["rrrc"]["differences"]
                      if set(d["treatments"]) == {"unaided", "aided"})
    sign = 1 if difference["treatments"][0] == "aided" else -1
    assert auc["estimate"] == pytest.approx(sign * difference["estimate"]) and auc["decision"] in ("success", "failure")
    assert hrauc["decision"] == "not analysed"
    html = render_html(run)
    assert "Hypotheses and decisions" in html and auc["statement"] in html
    assert "not analysed, the study does not collect lesion marks" in html


def test_an_interim_run_says_its_decisions_are_not_confirmatory():
    document = decide_endpoints(endpoints=AUC_SUPERIORITY, results=results(), interim=True)
    assert "not confirmatory" in document["note"]
    assert decide_endpoints(endpoints=AUC_SUPERIORITY, results=results())["note"] == ""


def test_a_u_statistic_run_leaves_its_endpoints_not_analysed_with_the_reason():
    document = results()
    document["primary"] = {"fom": "auc", "fom_label": "AUC", "method": "ustat", "differences": []}
    decided = decide_endpoints(endpoints=AUC_SUPERIORITY, results=document)["endpoints"]
    assert decided[0]["decision"] == "not analysed"
    assert "U-statistic" in decided[0]["reason"]
