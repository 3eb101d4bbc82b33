"""Fixtures shared by the statistics tests."""

import logging

import pytest


def pytest_configure(config):
    # Registered here too: tests/stats also runs alone, with no project configuration and no Django.
    config.addinivalue_line("markers", "slow: long-running statistical checks")


@pytest.fixture(scope="module")
def proc():
    """R's robjects with pROC loaded, for cross-checks; skipped with the reason where R is missing."""
    try:
        import rpy2.robjects as robjects
        from rpy2.robjects.packages import PackageNotInstalledError, importr
    except Exception as error:  # ImportError, or R itself missing / not loadable
        pytest.skip(f"R cross-check needs rpy2 and R (pip install rpy2==3.5.17; apt-get install r-base-core): {error}")
    # rpy2 logs "Embedded R already ended" at exit, after pytest has closed the captured stream
    logging.getLogger("rpy2.rinterface_lib.embedded").setLevel(logging.WARNING)
    try:
        importr("pROC")
    except PackageNotInstalledError:
        pytest.skip("R cross-check needs the R package pROC (apt-get install r-cran-proc)")
    return robjects
