"""The audit trail becomes a hash chain: every event gets ``seq``, ``prev_hash`` and ``hash``.

Existing events are chained in id order (the append-only trigger is lifted for that, which
only the tables' owner can do). SQLite rebuilds the table to change its columns, which
drops its trigger: it is created again at the end.
"""

import django.utils.timezone
from django.db import migrations, models

from studies.migrations._vendor_sql import run_sql_per_vendor

SQLITE_TRIGGER = """CREATE TRIGGER IF NOT EXISTS studies_auditevent_no_update BEFORE UPDATE ON studies_auditevent
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only (UPDATE refused)'); END"""


def chain_existing_events(apps, schema_editor):
    from studies.services.audit import CHAIN_FIELDS, GENESIS_HASH, event_hash

    AuditEvent = apps.get_model("studies", "AuditEvent")
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute("ALTER TABLE studies_auditevent DISABLE TRIGGER studies_auditevent_append_only")
    prev_hash = GENESIS_HASH
    fields = [name for name in CHAIN_FIELDS if name not in ("seq", "prev_hash")]
    for seq, event in enumerate(AuditEvent.objects.order_by("id").values("id", *fields).iterator(), start=1):
        event_hash_value = event_hash({**event, "seq": seq, "prev_hash": prev_hash})
        AuditEvent.objects.filter(pk=event["id"]).update(seq=seq, prev_hash=prev_hash, hash=event_hash_value)
        prev_hash = event_hash_value
    if postgres:
        schema_editor.execute("ALTER TABLE studies_auditevent ENABLE TRIGGER studies_auditevent_append_only")


class Migration(migrations.Migration):
    dependencies = [("studies", "0005_study_pixel_cleaning")]

    operations = [
        migrations.AlterField(
            model_name="auditevent", name="at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.AddField(model_name="auditevent", name="seq", field=models.PositiveBigIntegerField(null=True)),
        migrations.AddField(model_name="auditevent", name="prev_hash",
                            field=models.CharField(default="", max_length=64), preserve_default=False),
        migrations.AddField(model_name="auditevent", name="hash",
                            field=models.CharField(default="", max_length=64), preserve_default=False),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop),
        migrations.AlterField(model_name="auditevent", name="seq", field=models.PositiveBigIntegerField(unique=True)),
        migrations.AlterModelOptions(name="auditevent", options={"ordering": ["seq"]}),
        run_sql_per_vendor(postgresql=([], []), sqlite=([SQLITE_TRIGGER], [])),
    ]
