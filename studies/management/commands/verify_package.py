from django.core.management.base import BaseCommand, CommandError

from studies.errors import InvalidInput
from studies.management.base import read_bytes
from studies.services.package import verify_package


class Command(BaseCommand):
    help = ("Check a submission package: every file's SHA-256 against MANIFEST.sha256, no file missing or extra, "
            "and the manifest against its seal. Exit status 1 naming each failing file.")

    def add_arguments(self, parser):
        parser.add_argument("package", help="the package's zip file")

    def handle(self, *args, package, **options):
        try:
            result = verify_package(read_bytes(package))
        except InvalidInput as exc:
            raise CommandError(f"{package}: {exc}") from None
        if result.intact:
            self.stdout.write(f"{package}: intact, {result.files} files match the manifest")
            return
        for line in result.lines():
            self.stderr.write(line)
        raise CommandError(f"{package}: NOT intact, {len(result.problems)} file(s) failing: "
                           + ", ".join(sorted(result.problems)))
