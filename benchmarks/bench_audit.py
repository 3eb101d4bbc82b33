"""The audit trail's cost: appending one chained event, and verifying the chain.

Run: ``python benchmarks/bench_audit.py`` (scratch SQLite), or with ``DATABASE_URL`` set to a
PostgreSQL server (a scratch database ``bench_audit_<pid>`` is created and dropped there).

It prints:
- the time to append one event with ``audit.record`` in its own transaction (chain lock,
  head lookup, hash, INSERT, commit): median and 95th percentile over ``--events``;
- ``verify_audit``'s throughput over a chain of ``--chain`` events shaped like read
  submissions (a read's full snapshot; every other event its deletion, so that half the events
  feed the row-hash check and the finished chain is intact).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events appended one by one")
    parser.add_argument("--chain", type=int, default=300_000, help="events in the chain that is verified")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    os.environ.update(MRMC_DATA_DIR=str(scratch), LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings")
    try:
        run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(args, scratch: Path) -> None:
    import django
    from django.conf import settings

    django.setup()
    from django.db import connection

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
        f"bench_audit_{os.getpid()}" if connection.vendor == "postgresql" else str(scratch / "bench.sqlite3"))
    settings.AUDIT_ANCHOR_FILE = scratch / "anchors.jsonl"
    connection.creation.create_test_db(verbosity=0, keepdb=False)
    try:
        print(f"database: {connection.vendor}")
        bench_append(args.events)
        bench_verify(args.chain)
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


def read_snapshot(n: int) -> dict:
    return {"id": n, "assignment_id": n, "reader_id": n % 50, "case_id": n % 400, "arm_id": n % 2 + 1,
            "rating": 37.5, "decision": None, "marks": [], "comment": "", "opened_at": "2026-12-04T10:00:00.123Z",
            "first_image_at": "2026-12-04T10:00:01.456Z", "client_submitted_at": "2026-12-04T10:00:41.789Z",
            "submitted_at": "2026-12-04T10:00:41.901Z", "duration_ms": 41666,
            "idempotency_key": "8c0e6c1e-3d2b-4b5e-9f1a-2f4c5d6e7f80", "revision": 0,
            "updated_at": "2026-12-04T10:00:41.901Z"}


def bench_append(count: int) -> None:
    from django.db import transaction

    from studies.models import AuditEvent
    from studies.services import audit

    def chained(n):
        audit.record(action="create", entity="bench.Read", entity_id=n, study_id=1, after=read_snapshot(n))

    def unchained(n):  # the same INSERT without the chain's lock, head lookup and hash
        event = audit.new_event(action="create", entity="bench.Read", entity_id=n, study_id=1, after=read_snapshot(n))
        event.seq, event.prev_hash, event.hash = 10**12 + n, "", ""
        AuditEvent.objects.bulk_create([event])

    for label, write in (("chained (audit.record)", chained), ("unchained INSERT, for comparison", unchained)):
        times = []
        for n in range(count):
            start = time.perf_counter()
            with transaction.atomic():
                write(n)
            times.append(time.perf_counter() - start)
        times.sort()
        print(f"append one event in its own transaction, {label}, {count} events: "
              f"median {1000 * statistics.median(times):.2f} ms, p95 {1000 * times[int(0.95 * count)]:.2f} ms")
    _remove_unchained_rows()


def _remove_unchained_rows() -> None:
    """The scratch database's owner lifts the append-only trigger (PostgreSQL) to drop the comparison rows."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        postgres = connection.vendor == "postgresql"
        if postgres:
            cursor.execute("ALTER TABLE studies_auditevent DISABLE TRIGGER studies_auditevent_append_only")
        cursor.execute("DELETE FROM studies_auditevent WHERE seq >= %s", [10**12])
        if postgres:
            cursor.execute("ALTER TABLE studies_auditevent ENABLE TRIGGER studies_auditevent_append_only")


def bench_verify(count: int) -> None:
    from django.conf import settings

    from studies.services import audit
    from studies.services.audit_verify import verify

    start = time.perf_counter()
    batch = 5000
    for first in range(0, count, batch):
        events = []
        for n in range(first, min(first + batch, count)):
            read_id = n // 2 + 1
            deleted = n % 2 == 1
            events.append(audit.new_event(action="delete" if deleted else "create", entity="studies.Read",
                                          entity_id=read_id, study_id=1, before=read_snapshot(read_id) if deleted
                                          else None, after=None if deleted else read_snapshot(read_id)))
        audit.append_events(events)
    print(f"built a chain of {count} events in bulk in {time.perf_counter() - start:.1f} s")
    audit.anchor_head()
    start = time.perf_counter()
    result = verify(anchor_file=settings.AUDIT_ANCHOR_FILE)
    elapsed = time.perf_counter() - start
    total = result.events
    print(f"verify_audit: {total} events in {elapsed:.1f} s = {total / elapsed:,.0f} events/s "
          f"({'intact' if result.intact else f'{len(result.problems)} problems'})")


if __name__ == "__main__":
    main()
