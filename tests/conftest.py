import pytest


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (settings row, throttle counters)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def postgres_only(reason: str):
    from django.db import connection

    return pytest.mark.skipif(connection.vendor != "postgresql", reason=reason)
