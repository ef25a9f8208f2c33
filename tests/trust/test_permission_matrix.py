"""Walk the permission matrix (tests/trust/matrix_rows.py) through real requests, every row
against every role, and check docs/security.md shows the same table."""

import json
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client

from tests.trust.matrix import KEY_ROLES, ROLES, markdown
from tests.trust.matrix_rows import ROWS, build_world

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def client_for(role: str, world: dict) -> Client:
    client = Client()
    if role in KEY_ROLES:
        client.defaults["HTTP_AUTHORIZATION"] = f"Api-Key {world['keys'][role]}"
    elif role != "anonymous":
        client.force_login(world["users"][role])
    return client


class Rollback(Exception):
    pass


@pytest.mark.django_db
@pytest.mark.parametrize("row", ROWS, ids=[f"{r.method} {r.name}" for r in ROWS])
def test_permission_matrix(row):
    world = build_world()
    seen, effects, revealed = {}, {}, {}
    for role in ROLES:
        try:
            with transaction.atomic():  # each role starts from the same world
                client = client_for(role, world)
                data = row.data(world) if row.data else None
                extra = row.headers(world) if row.headers else {}
                if row.method == "GET":
                    response = client.get(row.path(world), **extra)
                elif row.json:
                    response = client.post(
                        row.path(world),
                        json.dumps(data),
                        content_type="application/json",
                        **extra,
                    )
                else:
                    response = client.post(row.path(world), data or {}, **extra)
                seen[role] = response.status_code
                if row.reveals is not None:
                    revealed[role] = row.reveals(world) in response.content.decode()
                if row.effect is not None:
                    effects[role] = row.effect(world)
                raise Rollback
        except Rollback:
            pass

    assert seen == row.expect
    if row.reveals is not None:
        assert {role for role, found in revealed.items() if found} == row.revealed_to
    if row.effect is not None:
        wanted = row.effect_roles
        if wanted is None:
            wanted = {role for role, status in row.expect.items() if status in row.success}
        assert {role for role, happened in effects.items() if happened} == set(wanted)


def test_docs_show_the_same_matrix():
    assert markdown(ROWS) in DOC.read_text(), (
        "docs/security.md is out of date: run `python -m tests.trust.matrix --write`"
    )
