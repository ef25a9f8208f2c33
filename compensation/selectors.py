"""Reads for offers: who may see which, and the rounds side by side."""

from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

from common.errors import AllotError
from common.money import format_usd
from compensation.currency import CURRENCIES
from compensation.models import PACKAGE_FIELDS, ExchangeRate, Offer, OfferRound
from people.models import Level, Project, Team
from people.roles import HR, has_role


def user_is_hr(user: AbstractBaseUser) -> bool:
    return has_role(user, HR)


def offers_visible_to(user: AbstractBaseUser) -> QuerySet[Offer]:
    """HR and superusers see every offer; a hiring manager sees the offers they hire for and
    those for a team they lead; everyone else (engineers) sees none."""
    offers = Offer.objects.select_related(
        "candidate", "level", "team", "hiring_manager__user"
    ).order_by("-created_at")
    if not user.is_authenticated:
        return offers.none()
    if user_is_hr(user):
        return offers
    return offers.filter(Q(hiring_manager__user=user) | Q(team__lead__user=user))


def user_can_see_offer(user: AbstractBaseUser, offer: Offer) -> bool:
    return offers_visible_to(user).filter(pk=offer.pk).exists()


def offer_request_viewers(user: AbstractBaseUser) -> Q:
    """Approval requests of offers this person is the hiring manager of (a Q over
    ApprovalRequest; HR and the approvers whose step it is see them through the engine's rule)."""
    return Q(
        subject_type=ContentType.objects.get_for_model(Offer),
        subject_id__in=Offer.objects.filter(hiring_manager__user_id=user.pk).values("pk"),
    )


def exchange_rate_on(*, currency: str, day: date) -> ExchangeRate:
    """Finance's rate of `currency` for `day`; a clear error naming the currency when there is
    none (a letter is never made at another day's rate)."""
    rate = ExchangeRate.objects.filter(currency=currency, day=day).first()
    if rate is None:
        name = CURRENCIES[currency].name if currency in CURRENCIES else currency
        raise AllotError(
            f"No exchange rate for {currency} ({name}) on {day:%B} {day.day}, {day:%Y}: finance "
            "adds the day's rate under Exchange rates, then the letter can be made.",
            field="currency",
        )
    return rate


FIELD_LABELS = {
    "level_id": "Level",
    "team_id": "Team",
    "allocation_project_id": "Allocation project",
    "effective_token_budget_micros": "Token budget after trade",  # nosec B105
    "total_annual_value_micros": "Total annual value",
}


def _label(name: str) -> str:
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    label = str(Offer._meta.get_field(name).verbose_name)
    return label[:1].upper() + label[1:]


def _shown(name: str, value, names: dict) -> str:
    if value is None or value == "":
        return "–"
    if name.endswith("_micros"):
        return format_usd(value)
    if name in names:
        return names[name].get(value, str(value))
    if name in ("health_plan", "remote_policy", "allocation_basis", "trade_direction"):
        return str(dict(Offer._meta.get_field(name).choices).get(value, value)) or "–"
    return str(value)


def rounds_compared(offer: Offer) -> dict:
    """The rounds side by side: one row per package field, one column per round, and which
    cells changed from the round before (the negotiation's diff)."""
    rounds = list(OfferRound.objects.filter(offer=offer).exclude(package={}).order_by("number"))
    names = {
        "level_id": dict(Level.objects.values_list("pk", "name")),
        "team_id": dict(Team.objects.values_list("pk", "name")),
        "allocation_project_id": dict(Project.objects.values_list("pk", "code")),
    }
    fields = [*PACKAGE_FIELDS, "effective_token_budget_micros", "total_annual_value_micros"]
    rows = []
    for name in fields:
        cells, previous = [], None
        for index, round_ in enumerate(rounds):
            value = round_.package.get(name)
            cells.append(
                {
                    "value": _shown(name, value, names),
                    "changed": index > 0 and value != previous,
                }
            )
            previous = value
        rows.append(
            {"label": _label(name), "cells": cells, "changed": any(c["changed"] for c in cells)}
        )
    return {"rounds": rounds, "rows": rows}


def round_changes(offer: Offer, number: int) -> list[str]:
    """What changed in a round against the one before, as lines like 'Base salary: $180,000.00
    → $200,000.00'."""
    compared = rounds_compared(offer)
    numbers = [r.number for r in compared["rounds"]]
    if number not in numbers or numbers.index(number) == 0:
        return []
    at = numbers.index(number)
    return [
        f"{row['label']}: {row['cells'][at - 1]['value']} → {row['cells'][at]['value']}"
        for row in compared["rows"]
        if row["cells"][at]["changed"]
    ]
