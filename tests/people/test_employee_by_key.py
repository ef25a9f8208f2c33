"""employee_by_key: by external id or sign-in email (any case), in one statement."""

import pytest

from people.selectors import employee_by_key
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db


def test_an_email_in_any_case_finds_the_employee_in_one_query(django_assert_num_queries):
    ana = EmployeeFactory(user__email="Ana.Lima@example.com")
    with django_assert_num_queries(1):
        found = employee_by_key("  ana.LIMA@example.com ")
        assert (found, found.user.email, found.team) == (ana, ana.user.email, ana.team)


def test_an_external_id_finds_the_employee_in_one_query(django_assert_num_queries):
    bo = EmployeeFactory(external_id="EMP00042")
    with django_assert_num_queries(1):
        assert employee_by_key("EMP00042") == bo


def test_an_external_id_that_looks_like_an_email_wins_over_the_email():
    EmployeeFactory(user__email="shared@example.com")
    by_id = EmployeeFactory(external_id="shared@example.com", user__email="other@example.com")
    assert employee_by_key("SHARED@example.com") != by_id  # ids match exactly, emails any case
    assert employee_by_key("shared@example.com") == by_id


def test_nobody_and_unstorable_keys_name_nobody():
    EmployeeFactory(user__email="ana@example.com", external_id="EMP1")
    assert employee_by_key("nobody@example.com") is None
    assert employee_by_key("EMP2") is None
    assert employee_by_key("ana@example.com\x00") is None
