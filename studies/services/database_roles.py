"""The PostgreSQL role the application runs as: it owns nothing, so it can neither alter nor
truncate a table nor disable a trigger, and it may only read and append to the audit trail.

Run as the tables' owner (the role that runs ``migrate``). Default privileges give the role
the tables later migrations create; :func:`grant_privileges` runs again after every
``migrate`` to restore the narrower rights on the append-only tables.
"""

from psycopg import sql

# Tables the application may read and append to but never change: the trail itself, and the
# migration history (only the owner migrates).
APPEND_ONLY_TABLES = ("studies_auditevent",)
READ_ONLY_TABLES = ("django_migrations",)
SAFE_ROLE_ATTRIBUTES = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


def role_exists(connection, role: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        return cursor.fetchone() is not None


def create_or_update_role(connection, role: str, *, password: str | None) -> bool:
    """Create ``role`` (LOGIN, no special attributes), or set a new password; True when created.

    Both need CREATEROLE; a role created beforehand (deploy/postgres-init) needs neither.
    """
    created = not role_exists(connection, role)
    if not created and password is None:
        return False
    statement = "CREATE ROLE {} LOGIN " if created else "ALTER ROLE {} LOGIN "
    statement += SAFE_ROLE_ATTRIBUTES + (" PASSWORD {}" if password is not None else "")
    _execute(connection, statement, sql.Identifier(role), *([sql.Literal(password)] if password is not None else []))
    return created


def role_too_powerful(connection, role: str) -> str | None:
    """Why ``role`` could still rewrite the audit trail (superuser, owner of a table...), or None."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = %s", [role])
        superuser, bypass_rls, create_role = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tableowner = %s AND schemaname = current_schema()",
                       [role])
        owned = cursor.fetchone()[0]
    reasons = [reason for reason, present in (("is a superuser", superuser), ("bypasses row security", bypass_rls),
                                               ("may create roles", create_role), (f"owns {owned} table(s)", owned))
               if present]
    return f"role {role} {', '.join(reasons)}" if reasons else None


def grant_privileges(connection, role: str) -> None:
    """DML on the application's tables, SELECT + INSERT on the audit trail, sequences' USAGE."""
    name = sql.Identifier(role)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), current_schema()")
        database, schema = (sql.Identifier(value) for value in cursor.fetchone())
    statements = [
        ("GRANT CONNECT ON DATABASE {} TO {}", database, name),
        ("GRANT USAGE ON SCHEMA {} TO {}", schema, name),
        ("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}", schema, name),
        ("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}", schema, name),
        *(("REVOKE UPDATE, DELETE ON {} FROM {}", sql.Identifier(table), name) for table in APPEND_ONLY_TABLES),
        *(("REVOKE INSERT, UPDATE, DELETE ON {} FROM {}", sql.Identifier(table), name) for table in READ_ONLY_TABLES),
        ("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}", schema, name),
        ("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}", schema, name),
        ("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE, SELECT ON SEQUENCES TO {}", schema, name),
    ]
    for statement, *identifiers in statements:
        _execute(connection, statement, *identifiers)


def _execute(connection, statement: str, *parts) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL(statement).format(*parts).as_string(connection.connection))
