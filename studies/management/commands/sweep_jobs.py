from django.core.management.base import BaseCommand

from studies.services.jobs import LOST_REASON, sweep_lost_jobs


class Command(BaseCommand):
    help = (f"Fail running jobs whose worker is gone or silent ('{LOST_REASON}'), publish again the tasks of "
            "jobs still queued after JOB_QUEUED_REPUBLISH_AFTER_S and delete upload staging folders no queued or "
            "running job uses. Celery beat runs the same every minute.")

    def handle(self, *args, **options):
        swept = sweep_lost_jobs()
        self.stdout.write(f"{len(swept['failed'])} lost jobs failed, "
                          f"{len(swept['republished'])} queued jobs published again, "
                          f"{len(swept['staging_removed'])} orphaned staging folders removed")
        for job_id in swept["failed"]:
            self.stdout.write(f"  job {job_id}: {LOST_REASON}")
        for job_id in swept["republished"]:
            self.stdout.write(f"  job {job_id}: still queued, its task published again")

