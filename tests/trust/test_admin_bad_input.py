"""Bad input on the staff pages: no address or filter a person can type is a 500 (on PostgreSQL
a NUL in any text lookup was one)."""

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client():
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/admin/budgets/usageevent/?model_name=%00", 400),
        ("/admin/budgets/budget/?enforcement=%00", 400),
        ("/admin/people/team/?transparency=%00", 400),
        ("/admin/budgets/usageevent/?q=%00", 400),
        ("/audit/?who=%00", 400),
        ("/admin/budgets/integrationkey/%00/change/", 404),
        ("/admin/budgets/integrationkey/%00/delete/", 404),
        ("/admin/people/level/%00/history/", 404),
        ("/admin/people/level/abc/history/", 404),
        ("/admin/people/level/abc/change/", 302),  # the admin's own "does not exist"
    ],
)
def test_no_address_or_filter_is_a_500(superuser_client, url, status):
    assert superuser_client.get(url).status_code == status


def test_the_api_answers_a_nul_in_a_query_in_json(superuser_client):
    response = superuser_client.get("/api/v1/schema/?format=%00")

    assert response.status_code == 400
    assert response.json()["detail"] == "A query parameter holds a NUL character."
