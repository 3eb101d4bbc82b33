"""The load and fault run of benchmarks/load_readers.py, bounded: 10 readers for about 15 s against
gunicorn + a throwaway PostgreSQL cluster, a worker killed and PostgreSQL restarted mid-run.

Only correctness is asserted (no timing): every scheduled read stored exactly once, every
acknowledged read stored with its score, no 5xx but 503, the audit chain intact.
"""

import pytest

from deploy.local_stack.processes import missing_postgres
from tests.conftest import skip_or_fail

from .simulation import LoadConfig, run_load

pytestmark = pytest.mark.integration


def test_no_read_lost_or_doubled_under_load_with_a_killed_worker_and_a_database_restart(tmp_path):
    if problem := missing_postgres():
        skip_or_fail(problem)
    config = LoadConfig(readers=10, seconds=15, think_seconds=0.5, log_dir=tmp_path)

    result = run_load(config)

    report = "\n".join(result.report())
    assert [w.name.split()[0] for w in result.recorder.windows] == ["gunicorn", "PostgreSQL"], report
    assert len(result.recorder.acks) == result.assignments == 10 * config.cases * 2, report
    assert result.violations == [], report
