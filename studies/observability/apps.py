from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "studies.observability"
    label = "observability"
    verbose_name = "Operations: logs, metrics, health"

    def ready(self):
        from celery import signals as celery
        from django.db.models.signals import post_save

        from studies.models import Read

        from . import metrics, task_context, workers

        post_save.connect(metrics.count_read, sender=Read, dispatch_uid="observability.count_read")
        celery.before_task_publish.connect(task_context.add_request_id, dispatch_uid="observability.request_id")
        celery.task_prerun.connect(task_context.enter_task, dispatch_uid="observability.enter_task")
        celery.task_postrun.connect(task_context.leave_task, dispatch_uid="observability.leave_task")
        celery.setup_logging.connect(task_context.keep_django_logging, dispatch_uid="observability.logging")
        celery.worker_ready.connect(workers.start_heartbeat, dispatch_uid="observability.heartbeat_start")
        celery.worker_shutdown.connect(workers.stop_heartbeat, dispatch_uid="observability.heartbeat_stop")
