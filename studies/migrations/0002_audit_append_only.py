"""The audit trail is append-only in the database itself, not only in code.

PostgreSQL refuses UPDATE and DELETE of audit rows. SQLite (the laptop default) refuses
UPDATE only: its test-database flush deletes rows and it has no session setting to tell
that apart from tampering.
"""

from django.db import migrations

from studies.migrations._vendor_sql import run_sql_per_vendor

POSTGRES_UP = [
    """
CREATE FUNCTION studies_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql""",
    """CREATE TRIGGER studies_auditevent_append_only BEFORE UPDATE OR DELETE ON studies_auditevent
    FOR EACH ROW EXECUTE FUNCTION studies_audit_append_only()""",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS studies_auditevent_append_only ON studies_auditevent",
    "DROP FUNCTION IF EXISTS studies_audit_append_only()",
]
SQLITE_UP = [
    """CREATE TRIGGER studies_auditevent_no_update BEFORE UPDATE ON studies_auditevent
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only (UPDATE refused)'); END""",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS studies_auditevent_no_update"]


class Migration(migrations.Migration):
    dependencies = [("studies", "0001_initial")]
    operations = [run_sql_per_vendor(postgresql=(POSTGRES_UP, POSTGRES_DOWN), sqlite=(SQLITE_UP, SQLITE_DOWN))]
