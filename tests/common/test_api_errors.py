"""Every error under /api/ is JSON in the API's shape; a database fault is a 503 with
Retry-After; pages outside /api/ keep the HTML error page."""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.common.fault_urls")]


@pytest.fixture
def client(client):
    client.raise_request_exception = False  # answer as the server would, not raise in the test
    return client


def test_an_address_no_api_view_has_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "No API endpoint or record has that address.",
        "code": "not_found",
    }


def test_a_bug_in_a_plain_api_view_is_a_json_500_without_internals(client):
    response = client.get("/api/v1/faults/plain-bug/")

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert "ValueError" not in response.content.decode()


@pytest.mark.parametrize("url", ["/api/v1/faults/drf-database/", "/api/v1/faults/plain-database/"])
def test_a_lost_database_is_a_503_with_retry_after_in_drf_and_plain_views(client, url):
    response = client.get(url)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "unavailable"
    assert "connection" not in response.json()["detail"]


def test_pages_outside_the_api_keep_the_html_error_page(client):
    response = client.get("/faults/page/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


def test_a_wrong_method_on_an_api_view_is_json(client):
    response = client.delete("/api/v1/usage/")

    assert response["Content-Type"] == "application/json"
    assert response.status_code in (401, 403, 405)
    assert "detail" in response.json()


def test_the_json_answer_keeps_the_security_headers_of_the_page_it_replaced(client):
    response = client.get("/api/v1/faults/plain-bug/")

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in response
