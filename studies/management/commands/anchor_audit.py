from django.conf import settings
from django.core.management.base import BaseCommand

from studies.services.audit import anchor_head


class Command(BaseCommand):
    help = "Append the audit chain's head (seq, hash, time) to AUDIT_ANCHOR_FILE (run it from cron, or use beat)."

    def handle(self, *args, **options):
        anchor = anchor_head()
        if anchor is None:
            self.stdout.write("the audit trail is empty: nothing to anchor")
        else:
            self.stdout.write(f"anchored seq {anchor['seq']} hash {anchor['hash']} in {settings.AUDIT_ANCHOR_FILE}")
