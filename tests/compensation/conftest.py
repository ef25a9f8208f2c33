from datetime import date

import pytest
from django.contrib.auth.models import Group

from compensation.models import Candidate, Offer
from compensation.services import offer_save
from people.roles import FINANCE
from tests.factories import EmployeeFactory, UserFactory, hr_user, level

K = 10**6  # micros per dollar


@pytest.fixture
def org(db):
    """director <- hiring manager (leads the team) <- engineer; an HR person and finance."""
    director = EmployeeFactory(user__email="director@example.com")
    manager = EmployeeFactory(user__email="hm@example.com", manager=director, team__name="Platform")
    manager.team.lead = manager
    manager.team.save()
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager, team=manager.team)
    finance = UserFactory(username="fin@example.com")
    finance.groups.add(Group.objects.get(name=FINANCE))
    return {
        "director": director,
        "manager": manager,
        "engineer": engineer,
        "team": manager.team,
        "hr": hr_user(username="hr@example.com"),
        "finance": finance,
    }


def make_offer(
    org, *, email="ada@example.com", name=("Ada", "Lovelace"), level_name="senior", **package
) -> Offer:
    candidate, _ = Candidate.objects.get_or_create(
        email=email, defaults={"first_name": name[0], "last_name": name[1]}
    )
    fields = {
        "position_title": "Senior Software Engineer",
        "level": level(level_name),
        "team": org["team"],
        "hiring_manager": org["manager"],
        "start_date": date(2026, 7, 1),
        "base_salary_micros": 190_000 * K,
        "stock_option_count": 4_000,
        "stock_strike_price_micros": 12_500_000,
        "stock_annual_value_micros": 40_000 * K,
        "sign_on_bonus_micros": 10_000 * K,
        "health_plan_cost_micros": 12_000 * K,
        "professional_development_micros": 3_000 * K,
    }
    fields.update(package)
    return offer_save(offer=Offer(candidate=candidate, **fields), acting_user=org["hr"])
