"""Shared plumbing for the study commands: who is acting, which study, clean error messages."""

from django.core.management.base import BaseCommand, CommandError

from studies.errors import DomainError
from studies.models import Study, User
from studies.services import audit


class StudyCommand(BaseCommand):
    """A command run on behalf of a user (``--user``, default: the first superuser), audit-logged as them."""

    needs_study = True

    def add_arguments(self, parser):
        parser.add_argument("--user", help="username the change is made and audit-logged as")
        if self.needs_study:
            parser.add_argument("--study", type=int, required=True, help="study id")

    def handle(self, *args, **options):
        actor = self._actor(options.pop("user", None))
        study = self._study(options.pop("study")) if self.needs_study else None
        with audit.context(user=actor):
            try:
                return self.run(actor=actor, study=study, **options)
            except DomainError as exc:
                lines = [str(exc), *exc.errors[1:]]
                raise CommandError("\n".join(lines)) from None

    def run(self, *, actor: User, study: Study | None, **options):
        raise NotImplementedError

    @staticmethod
    def _actor(username: str | None) -> User:
        if username:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"no user '{username}'")
            return user
        user = User.objects.filter(is_superuser=True).order_by("id").first()
        if user is None:
            raise CommandError("no superuser exists; pass --user or run createsuperuser")
        return user

    @staticmethod
    def _study(study_id: int) -> Study:
        study = Study.objects.filter(pk=study_id).first()
        if study is None:
            raise CommandError(f"no study {study_id}")
        return study


def read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
