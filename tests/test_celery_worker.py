"""One test runs a real Celery worker process on the configured broker and talks to it."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

from config.broker import FILESYSTEM_BROKER_URL, filesystem_broker_options

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def broker(tmp_path):
    """The environment's broker (Redis in CI), or the filesystem one in a folder of our own."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    url = settings.CELERY_BROKER_URL
    options = {}
    backend = os.environ.get("CELERY_RESULT_BACKEND")
    if url.startswith(FILESYSTEM_BROKER_URL):
        env["CELERY_FILESYSTEM_BROKER_DIR"] = str(tmp_path / "broker")
        options = filesystem_broker_options(tmp_path / "broker")
        backend = f"db+sqlite:///{tmp_path / 'results.sqlite3'}"
    env["CELERY_RESULT_BACKEND"] = backend or url
    client = Celery("allot-test", broker=url, backend=env["CELERY_RESULT_BACKEND"])
    client.conf.broker_transport_options = options
    return client, env


def test_a_real_worker_answers_a_ping_and_runs_a_task(broker, tmp_path):
    client, env = broker
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=warning",
            f"--hostname=test-{os.getpid()}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "worker.log", "w"),  # noqa: SIM115
    )
    try:
        replies = []
        deadline = time.monotonic() + 60
        while not replies and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            replies = client.control.ping(timeout=1.0)
        assert replies, "no worker answered a ping within 60 seconds"
        assert list(replies[0].values())[0] == {"ok": "pong"}
        assert client.send_task("allot.ping").get(timeout=30) == "pong"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
