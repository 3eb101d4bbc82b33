"""The database: its state as of one snapshot, ``pg_dump`` of that same snapshot, ``pg_restore``.

Both run as the tables' owner (deploy/README.md, "Database roles"). The dump is taken with
``--snapshot`` of a transaction that exported it, and the counts the manifest records are read in
that transaction, so they describe exactly the rows the dump holds, whatever commits meanwhile.
The restore leaves out owners and privileges (``--no-owner --no-acl``): the restoring owner owns
everything, and ``manage.py grant_app_role`` grants the application's role afterwards, as the
migrate step of every deployment does, so role names need not match the source's.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


class DatabaseError(Exception):
    """A dump or restore step failed; the message holds the tool's own words."""


@dataclass(frozen=True)
class State:
    """What the manifest records of the database and what a restore must give back."""

    counts: dict[str, int]
    audit_head: dict  # {"seq": ..., "hash": ...} of the newest event
    migrations: list[str]  # "app.name" of every migration applied, sorted
    instance_sha256: frozenset[str]  # the images the index names (kept out of the manifest: checked, not stored)
    model_files: dict[str, str]  # SHA-256 of each registered model file -> the models registered with it

    def summary(self) -> dict:
        return {"counts": self.counts, "audit_head": self.audit_head, "migrations": self.migrations}


class Database:
    def __init__(self, owner_url: str, pg_bin: Path | None):
        self.url = owner_url
        self.pg_bin = pg_bin

    @property
    def user(self) -> str | None:
        return urllib.parse.urlsplit(self.url).username

    def connect(self, **kwargs) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, **kwargs)
        except psycopg.OperationalError as exc:
            raise DatabaseError(f"cannot connect as the owner: {str(exc).strip()}") from None

    @contextmanager
    def snapshot(self) -> Iterator[tuple[psycopg.Connection, str]]:
        """A read-only transaction of one snapshot, and the snapshot's id for ``pg_dump --snapshot``."""
        with self.connect() as connection:
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            snapshot_id = connection.execute("SELECT pg_export_snapshot()").fetchone()[0]
            yield connection, snapshot_id
            connection.rollback()

    def dump(self, snapshot_id: str, into: Path) -> None:
        self._run("pg_dump", "--format=custom", f"--snapshot={snapshot_id}", f"--file={into}", f"--dbname={self.url}")
        into.chmod(0o600)

    def restore(self, dump: Path, *, clean: bool) -> None:
        """All or nothing (one transaction): a failed restore leaves the database as it was."""
        self._run("pg_restore", "--no-owner", "--no-acl", "--single-transaction", "--exit-on-error",
                  *(("--clean", "--if-exists") if clean else ()), f"--dbname={self.url}", str(dump))

    def tables(self) -> int:
        """Tables outside PostgreSQL's own schemas: 0 in a database nothing was migrated or restored into."""
        with self.connect() as connection:
            return connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname <> ALL(%s)",
                                      (list(SYSTEM_SCHEMAS),)).fetchone()[0]

    def _run(self, program: str, *args: str) -> None:
        executable = str(self.pg_bin / program) if self.pg_bin else shutil.which(program)
        if executable is None:
            raise DatabaseError(f"{program} is not installed (PostgreSQL's client programs, of the server's "
                                "major version or newer)")
        result = subprocess.run([executable, *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise DatabaseError(f"{program} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def read_state(connection: psycopg.Connection, tables: dict[str, str], audit_table: str,
               instance_table: str, model_table: str) -> State:
    """Counts of ``tables`` (name -> table), the audit head, the migrations, the images indexed and the
    model files registered."""
    def scalar_rows(query: sql.Composable) -> list:
        return [row[0] for row in connection.execute(query).fetchall()]

    counts = {name: scalar_rows(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))[0]
              for name, table in tables.items()}
    head = connection.execute(sql.SQL("SELECT seq, hash FROM {} ORDER BY seq DESC LIMIT 1")
                              .format(sql.Identifier(audit_table))).fetchone()
    migrations = scalar_rows(sql.SQL("SELECT app || '.' || name FROM django_migrations ORDER BY 1"))
    images = scalar_rows(sql.SQL("SELECT sha256 FROM {}").format(sql.Identifier(instance_table)))
    models: dict[str, list[str]] = {}
    for sha256, name, version, study in connection.execute(
            sql.SQL("SELECT sha256, name, version, study_id FROM {} ORDER BY id").format(sql.Identifier(model_table))):
        models.setdefault(sha256, []).append(f"{name} {version} of study {study}")
    return State(counts=counts, audit_head={"seq": head[0], "hash": head[1]} if head else {"seq": 0, "hash": ""},
                 migrations=migrations, instance_sha256=frozenset(images),
                 model_files={sha256: "; ".join(labels) for sha256, labels in models.items()})


def event_hashes(connection: psycopg.Connection, audit_table: str, seqs: list[int]) -> dict[int, str]:
    query = sql.SQL("SELECT seq, hash FROM {} WHERE seq = ANY(%s)").format(sql.Identifier(audit_table))
    return dict(connection.execute(query, (seqs,)).fetchall())
