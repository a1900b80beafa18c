"""The one Celery app every service uses, with Redis as its broker."""

from celery import Celery

from shared.queues import TASK_QUEUES, task_module

app = Celery("marquee", include=[task_module(task) for task in TASK_QUEUES])
app.config_from_object("shared.broker.celeryconfig")
