"""/pilots/ and /pilots/<id>/: HR, finance and superusers see every pilot; a manager only the
pilots with one of their reports in them; engineers and anonymous visitors are turned away."""

import pytest
from django.urls import reverse

from tests.factories import EmployeeFactory, UserFactory, finance_user, hr_user
from tests.pilots.conftest import START, cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def pilots():
    boss = EmployeeFactory()
    report = EmployeeFactory(manager=boss)
    theirs = cohort("With the boss's report", [report, *[EmployeeFactory() for _ in range(4)]])
    other = cohort("Someone else's", [EmployeeFactory()])
    return {"boss": boss, "theirs": theirs, "other": other}


@pytest.mark.parametrize("who", ["hr", "finance", "superuser"])
def test_staff_see_every_pilot_and_its_comparison(client, pilots, who):
    user = {
        "hr": hr_user,
        "finance": finance_user,
        "superuser": lambda: UserFactory(is_superuser=True, is_staff=True),
    }[who]()
    client.force_login(user)
    listing = client.get(reverse("pilots:list")).content.decode()
    assert "With the boss&#x27;s report" in listing and "Someone else&#x27;s" in listing
    page = client.get(reverse("pilots:detail", args=[pilots["other"].pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Difference in differences" in text
    assert "Too small to conclude: the pilot has 1 person and" in text
    assert f"{START:%b} 1, 2026" in text


def test_a_manager_sees_only_the_pilots_of_their_reports(client, pilots):
    client.force_login(pilots["boss"].user)
    listing = client.get(reverse("pilots:list")).content.decode()
    assert "With the boss&#x27;s report" in listing and "Someone else" not in listing
    assert client.get(reverse("pilots:detail", args=[pilots["theirs"].pk])).status_code == 200
    assert client.get(reverse("pilots:detail", args=[pilots["other"].pk])).status_code == 404


def test_engineers_get_403_and_visitors_sign_in(client, pilots):
    client.force_login(EmployeeFactory().user)
    assert client.get(reverse("pilots:list")).status_code == 403
    assert client.get(reverse("pilots:detail", args=[pilots["theirs"].pk])).status_code == 403
    client.logout()
    answer = client.get(reverse("pilots:list"))
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


def test_the_page_draws_the_chart_when_there_is_metric_data(client, pilot_and_control):
    client.force_login(hr_user())
    page = client.get(reverse("pilots:detail", args=[pilot_and_control["pilot"].pk]))
    text = page.content.decode()
    assert "<svg" in text and "Pilot during" in text
    assert "2.00" in text  # the difference in differences of the hand-made table
