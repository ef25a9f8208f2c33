import pytest


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def postgres_only(reason: str):
    from django.db import connection

    return pytest.mark.skipif(connection.vendor != "postgresql", reason=reason)
