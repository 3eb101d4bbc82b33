from django.core.management.base import BaseCommand

from studies.services.reminders import send_session_reminders


class Command(BaseCommand):
    help = ("E-mail each reader whose reading session has opened (washout over, earlier sessions done) and who has "
            "not been told yet, once per session. Celery beat runs the same every SESSION_REMINDERS_EVERY_S.")

    def handle(self, *args, **options):
        result = send_session_reminders()
        self.stdout.write(f"{len(result.sent)} reminders sent, {len(result.failed)} refused by the mail server "
                          f"(tried again next time), {len(result.without_address)} open sessions of readers "
                          "without an e-mail address")
