"""Reports of runs with other figures of merit, covariance methods and the U-statistic method render every
section, and the DBM section says whether its F is the OR F of the run."""

import pytest

from studies.reports import render_html, render_pdf


@pytest.mark.parametrize("options, same_f", [
    ({"cov": "delong"}, False),  # DeLong's covariance is not the jackknife's: the F tests differ
    ({"fom": "sens", "threshold": 50}, False),  # sensitivity is jackknifed over the diseased cases only
    ({"method": "ustat"}, True),  # the DBM section compares with the OR jackknife analysis of the same reads
])
def test_report_renders_and_the_dbm_identity_is_stated_as_it_is(read_study, statistician, run_analysis, options,
                                                                 same_f):
    run = run_analysis(actor=statistician, study=read_study(n_cases=30), options={"seed": 1, **options})
    assert run.status == "succeeded", run.error
    html = render_html(run)
    assert render_pdf(run).startswith(b"%PDF")
    for title in ("DBM analysis (Dorfman-Berbaum-Metz)", "Reader-level intervals and arm intervals",
                  "Fitted binormal ROC curves", "Study design and reading schedule"):
        assert f"<h2>{title}</h2>" in html
    assert run.results["dbm"]["identical_to_or"] is same_f
    assert ("are the same test" in html) is same_f
