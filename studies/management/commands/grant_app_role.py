import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction

from studies.services import database_roles


class Command(BaseCommand):
    help = ("Create or update the PostgreSQL role the application runs as and grant it its privileges "
            "(DML only; SELECT and INSERT on the audit trail). Run it as the tables' owner, after migrate; "
            "safe to run again.")

    def add_arguments(self, parser):
        parser.add_argument("--role", default=settings.DATABASE_APP_ROLE,
                            help="role name (default: DATABASE_APP_ROLE)")
        parser.add_argument("--password-env", default="DATABASE_APP_PASSWORD",
                            help="environment variable holding the role's password (unset: password unchanged)")

    def handle(self, *args, role, password_env, **options):
        if connection.vendor != "postgresql":
            raise CommandError("database roles exist on PostgreSQL only")
        if not role:
            raise CommandError("name the role: --role or DATABASE_APP_ROLE")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            if cursor.fetchone()[0] == role:
                raise CommandError(f"run this as the tables' owner, not as {role}")
        try:
            with transaction.atomic():
                created = database_roles.create_or_update_role(connection, role,
                                                               password=os.environ.get(password_env) or None)
                database_roles.grant_privileges(connection, role)
        except DatabaseError as exc:
            raise CommandError(f"could not set up role {role}: {exc}") from None
        refusal = database_roles.role_too_powerful(connection, role)
        if refusal:
            raise CommandError(f"{refusal}: the application must connect as a role that owns nothing")
        self.stdout.write(f"role {role} {'created' if created else 'exists'}; privileges granted")
