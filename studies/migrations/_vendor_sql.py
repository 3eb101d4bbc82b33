"""Shared by migrations that install database triggers (not a migration: the leading underscore
keeps Django's loader away)."""

from django.db import migrations


def run_sql_per_vendor(*, postgresql: tuple[list[str], list[str]], sqlite: tuple[list[str], list[str]]):
    """A reversible operation running (forwards, backwards) statements for the connection's vendor."""
    by_vendor = {"postgresql": postgresql, "sqlite": sqlite}

    def run(schema_editor, direction: int):
        for sql in by_vendor.get(schema_editor.connection.vendor, ([], []))[direction]:
            schema_editor.execute(sql, params=None)

    return migrations.RunPython(lambda apps, editor: run(editor, 0), lambda apps, editor: run(editor, 1))
