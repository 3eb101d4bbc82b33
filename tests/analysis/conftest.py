"""A locked, fully read study (the analysed demo's builder) for analysis tests."""

import pytest
from django.test import TestCase

from studies.models import AnalysisRun
from studies.services.demo_analysis import create_read_demo_study


@pytest.fixture
def read_study(db, coordinator, statistician):
    """Five readers x two arms x 60 cases, locked; the statistician is a member."""

    def make(**options):
        options.setdefault("n_cases", 60)
        return create_read_demo_study(coordinator=coordinator, statistician=statistician, **options)

    return make


def run_started_analysis(**kwargs) -> AnalysisRun:
    """``analysis.start_run`` with its job executed (in-process) when the transaction commits."""
    from studies.services import analysis

    with TestCase.captureOnCommitCallbacks(execute=True):
        run = analysis.start_run(**kwargs)
    run.refresh_from_db()
    return run


@pytest.fixture
def run_analysis():
    return run_started_analysis
