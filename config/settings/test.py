"""Tests: the same database choice as the environment (SQLite by default, PostgreSQL in CI)."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-not-a-secret")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

from .base import *  # noqa: E402,F403

DEBUG = False
ALLOT_DEMO_ENABLED = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# The outbox is relayed as soon as a change commits (eagerly, as above): tests that need the
# beat relay's own behaviour turn this off.
ALLOT_OUTBOX_RELAY_ON_COMMIT = True
# Tests sign in with force_login; the lockout has its own tests that turn this on.
AXES_ENABLED = False
