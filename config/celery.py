import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("allot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="allot.ping")
def ping() -> str:
    """A task that proves a worker is consuming: `ping.delay().get(timeout=10) == "pong"`."""
    return "pong"
