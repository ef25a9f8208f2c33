"""A few demo offers in different states, so `make run` shows the offer desk with something in
it. Made through the services, like HR would in the admin."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from simple_history.utils import bulk_create_with_history

from approvals.services import request_decide
from common.errors import AllotError
from compensation.models import Candidate, LevelBand, Offer, PayRecord, PaySource
from compensation.services import (
    offer_counter_record,
    offer_save,
    offer_send,
    offer_submit,
)
from people.models import Employee, Level
from people.selectors import company_today

K = 10**6


def offers_demo_seed() -> int:
    """Four candidates: a draft, one waiting for approval outside the band, one sent with its
    letter, and one countered and resubmitted (two rounds). Needs seed_demo's sign-ins."""
    hr = get_user_model().objects.filter(email="hr@example.com").first()
    manager = Employee.objects.filter(user__email="manager@example.com").first()
    if hr is None or manager is None:
        raise AllotError("Run seed_demo first: the demo offers need hr@ and manager@.")
    today = company_today()
    levels = {level.name: level for level in Level.objects.all()}

    def offer(first, last, level, title, **package) -> Offer:
        candidate, _ = Candidate.objects.get_or_create(
            email=f"{first.lower()}.{last.lower()}@candidates.example.com",
            defaults={"first_name": first, "last_name": last},
        )
        fields = {
            "position_title": title,
            "level": levels[level],
            "team": manager.team,
            "hiring_manager": manager,
            "start_date": today + timedelta(days=45),
            "stock_option_count": 3_000,
            "stock_strike_price_micros": 12 * K,
            "stock_annual_value_micros": 30_000 * K,
            "sign_on_bonus_micros": 10_000 * K,
            "health_plan_cost_micros": 14_000 * K,
            "professional_development_micros": 3_000 * K,
        }
        fields.update(package)
        return offer_save(offer=Offer(candidate=candidate, **fields), acting_user=hr)

    pay_records_demo_seed()
    offer("Priya", "Patel", "mid", "Software Engineer", base_salary_micros=140_000 * K)
    pending = offer(
        "Marcus",
        "Chen",
        "senior",
        "Senior Software Engineer",
        base_salary_micros=200_000 * K,
        token_budget_micros=220_000 * K,
    )
    offer_submit(offer=pending, acting_user=hr)
    sent = offer("Ada", "Lovelace", "staff", "Staff Engineer", base_salary_micros=250_000 * K)
    request = offer_submit(offer=sent, acting_user=hr)
    request_decide(request=request, user=manager.user, approve=True)
    offer_send(offer=sent, acting_user=hr)
    countered = offer(
        "Grace", "Hopper", "senior", "Senior Software Engineer", base_salary_micros=185_000 * K
    )
    request = offer_submit(offer=countered, acting_user=hr)
    request_decide(request=request, user=manager.user, approve=True)
    offer_send(offer=countered, acting_user=hr)
    offer_counter_record(
        offer=countered,
        acting_user=hr,
        candidate_ask="$200k base and $200k tokens instead of options",
    )
    countered.refresh_from_db()
    countered.base_salary_micros = 200_000 * K
    countered.trade_direction = "stock_to_tokens"
    countered.trade_amount_micros = 30_000 * K
    offer_save(offer=countered, acting_user=hr)
    offer_submit(
        offer=countered, acting_user=hr, reason="Top of the band on base; stock traded for tokens."
    )
    return Offer.objects.count()


def pay_records_demo_seed() -> int:
    """A pay record for every demo employee without one, from their level band's target salary
    (spread a little by employee, deterministically), so the total rewards statements show a
    whole package. Returns how many were made."""
    targets = dict(LevelBand.objects.values_list("level_id", "base_salary_target_micros"))
    made = []
    for employee in Employee.objects.filter(pay_records__isnull=True).order_by("pk"):
        target = targets.get(employee.level_id) or 150_000 * K
        salary = target // 100 * (94 + employee.pk % 13) // K * K  # 94-106 %, whole dollars
        made.append(
            PayRecord(
                employee=employee,
                effective_from=employee.hire_date,
                base_salary_micros=salary,
                bonus_micros=salary // 10,
                stock_option_count=1_000 + 250 * (employee.pk % 8),
                stock_annual_value_micros=salary // 5,
                health_plan_cost_micros=14_000 * K,
                match_401k_percent=4,
                professional_development_micros=2_000 * K,
                source=PaySource.IMPORT,
                note="Demo data",
            )
        )
    bulk_create_with_history(made, PayRecord, batch_size=500)
    return len(made)
