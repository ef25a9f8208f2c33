"""Who sees offers (server-side checks on every page), and HR's admin: list, filters, search,
the change page with rounds, approvals and letters, the preview, and every action."""

from datetime import date

import pytest
from django.urls import reverse

from compensation.models import Candidate, LevelBand, Offer, OfferState
from compensation.services import offer_counter_record
from tests.compensation.conftest import K, make_offer
from tests.compensation.test_lifecycle import sent_offer
from tests.factories import EmployeeFactory, TeamFactory, finance_user


@pytest.fixture
def two_teams(org):
    """An offer for the hiring manager's team, and one for another team and manager."""
    ours = sent_offer(org)
    other_manager = EmployeeFactory(user__email="other-hm@example.com", team=TeamFactory())
    theirs = make_offer(
        {**org, "manager": other_manager, "team": other_manager.team},
        email="bob@example.com",
        name=("Bob", "Builder"),
    )
    return ours, theirs


def letter_url(offer: Offer) -> str:
    return reverse("compensation:letter-pdf", args=[offer.letters.first().pk])


def test_an_engineer_cannot_see_offers_or_letters(client, org, two_teams):
    ours, _ = two_teams
    client.force_login(org["engineer"].user)
    assert client.get(reverse("compensation:offers")).status_code == 403
    assert client.get(letter_url(ours)).status_code == 404
    assert client.get(reverse("admin:compensation_offer_changelist")).status_code == 302


def test_finance_cannot_read_offer_letters(client, org, two_teams):
    ours, _ = two_teams
    client.force_login(finance_user())
    assert client.get(letter_url(ours)).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client, org, two_teams):
    ours, _ = two_teams
    for url in (reverse("compensation:offers"), letter_url(ours)):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_hiring_manager_sees_only_their_own_teams_offers(client, org, two_teams):
    ours, theirs = two_teams
    client.force_login(org["manager"].user)
    page = client.get(reverse("compensation:offers"))
    assert page.status_code == 200
    assert [o.pk for o in page.context["offers"]] == [ours.pk]
    assert "Ada Lovelace" in page.content.decode() and "Bob Builder" not in page.content.decode()
    pdf = client.get(letter_url(ours))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and "no-store" in pdf["Cache-Control"]
    # the other team's hiring manager sees theirs and not ours, and cannot read our letter
    client.force_login(theirs.hiring_manager.user)
    page = client.get(reverse("compensation:offers"))
    assert [o.pk for o in page.context["offers"]] == [theirs.pk]
    assert client.get(letter_url(ours)).status_code == 404
    # a manager with reports but no offers sees an empty list
    client.force_login(org["director"].user)
    page = client.get(reverse("compensation:offers"))
    assert page.status_code == 200 and list(page.context["offers"]) == []
    # and a manager is not HR: the offers admin stays closed
    client.force_login(org["manager"].user)
    assert client.get(reverse("admin:compensation_offer_changelist")).status_code == 302


def test_hr_sees_every_offer(client, org, two_teams):
    client.force_login(org["hr"])
    page = client.get(reverse("compensation:offers"))
    assert len(page.context["offers"]) == 2
    ours, _ = two_teams
    assert client.get(letter_url(ours)).status_code == 200


def test_the_admin_list_filters_and_searches(client, org, two_teams):
    ours, theirs = two_teams
    client.force_login(org["hr"])
    url = reverse("admin:compensation_offer_changelist")
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "$150,000.00" in body and "Total annual value" in body
    assert list(client.get(url, {"q": "lovelace"}).context["cl"].queryset) == [ours]
    assert list(client.get(url, {"state__exact": "draft"}).context["cl"].queryset) == [theirs]
    assert list(client.get(url, {"team__id__exact": ours.team_id}).context["cl"].queryset) == [ours]
    by_level = client.get(url, {"level__id__exact": ours.level_id}).context["cl"].queryset
    assert set(by_level) == {ours, theirs}


def test_the_change_page_shows_package_bands_rounds_approvals_and_letters(client, org):
    offer = sent_offer(org)
    offer_counter_record(offer=offer, acting_user=org["hr"], candidate_ask="$200k base")
    client.force_login(org["hr"])
    page = client.get(reverse("admin:compensation_offer_change", args=[offer.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    for expected in (
        "Total annual value",
        "Base salary is within the band",
        "Negotiation rounds side by side",
        "$200k base",
        "approval requests and their steps",
        "approved by",
        f"offer-{offer.pk}-round-1",
        "Preview the letter",
    ):
        assert expected.lower() in body.lower(), expected
    # the page offers the moves legal now (a countered offer: submit, decline, withdraw, letter)
    buttons = [label for _, label in page.context["lifecycle_actions"]]
    assert buttons == ["Submit for approval", "Generate draft letter", "Mark declined", "Withdraw"]
    assert 'value="record_counter_offer"' not in body
    preview = client.get(reverse("admin:compensation_offer_letter_preview", args=[offer.pk]))
    assert preview.status_code == 200 and "Ada" in preview.content.decode()


def test_hr_creates_an_offer_in_the_admin_with_the_band_target(client, org):
    candidate = Candidate.objects.create(
        first_name="Lin", last_name="Chen", email="lin@example.com"
    )
    client.force_login(org["hr"])
    response = client.post(
        reverse("admin:compensation_offer_add"),
        {
            "candidate": candidate.pk,
            "position_title": "Engineer",
            "level": LevelBand.objects.get(level__name="mid").level_id,
            "team": org["team"].pk,
            "hiring_manager": org["manager"].pk,
            "start_date": "2026-09-01",
            "base_salary_micros": "145000",
            "stock_option_count": "0",
            "stock_strike_price_micros": "0",
            "stock_annual_value_micros": "10000",
            "sign_on_bonus_micros": "0",
            "health_plan": "standard",
            "health_plan_cost_micros": "0",
            "match_401k_percent": "4",
            "remote_policy": "remote",
            "professional_development_micros": "2000",
            "currency": "USD",
            "token_budget_micros": "",
            "allocation_basis": "seniority",
            "trade_direction": "stock_to_tokens",
            "trade_amount_micros": "20000",
            "response_deadline": "",
            **inline_management(),
        },
    )
    # trading more stock value than there is is refused on the field
    assert response.status_code == 200
    assert "At most 100% of the stock options" in response.content.decode()
    response = client.post(
        reverse("admin:compensation_offer_add"),
        {
            **response.context["adminform"].form.data.dict(),
            "trade_amount_micros": "5000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    offer = Offer.objects.get(candidate=candidate)
    assert offer.token_budget_micros == 100_000 * K  # the mid band's target
    assert offer.effective_token_budget_micros == 105_000 * K
    assert offer.created_by == org["hr"] and offer.state == OfferState.DRAFT


def inline_management() -> dict:
    data = {}
    for prefix in ("rounds", "approvals-approvalrequest-subject_type-subject_id", "letters"):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    return data


def run_action(client, action: str, offer: Offer, **extra):
    return client.post(
        reverse("admin:compensation_offer_changelist"),
        {"action": action, "_selected_action": [offer.pk], **extra},
        follow=True,
    )


def test_the_whole_life_through_admin_actions(client, org):
    offer = make_offer(org, start_date=date(2026, 12, 1))
    client.force_login(org["hr"])
    # submit asks for a reason first, then submits
    form = run_action(client, "submit_for_approval", offer)
    assert b"Why this package" in form.content
    page = run_action(client, "submit_for_approval", offer, apply="1", text="")
    offer.refresh_from_db()
    assert offer.state == OfferState.PENDING_APPROVAL
    # an illegal action shows why
    page = run_action(client, "mark_sent", offer)
    assert "it cannot be sent. Only an approved offer can" in page.content.decode()
    assert "In review" in page.content.decode()  # the approval column of the list
    client.force_login(org["manager"].user)
    client.post(
        reverse("approvals:decide", args=[offer.approval_request_id]),
        {"decision": "approve", "comment": ""},
    )
    offer.refresh_from_db()
    assert offer.state == OfferState.APPROVED
    client.force_login(org["hr"])
    run_action(client, "generate_letter", offer)
    assert offer.letters.count() == 1
    run_action(client, "mark_sent", offer)
    run_action(client, "record_counter_offer", offer, apply="1", text="more tokens")
    offer.refresh_from_db()
    assert (offer.state, offer.round_number) == (OfferState.COUNTERED, 2)
    run_action(client, "submit_for_approval", offer, apply="1", text="same package, firm")
    offer.refresh_from_db()
    assert offer.rounds.get(number=2).reason == "same package, firm"
    client.force_login(org["manager"].user)
    client.post(
        reverse("approvals:decide", args=[offer.approval_request_id]),
        {"decision": "approve", "comment": ""},
    )
    client.force_login(org["hr"])
    run_action(client, "mark_sent", offer)
    page = run_action(client, "mark_accepted", offer)
    assert "accepted: employee and budget created" in page.content.decode()
    offer.refresh_from_db()
    assert offer.state == OfferState.ACCEPTED and offer.employee is not None
    page = run_action(client, "mark_accepted", offer)
    assert "already accepted" in page.content.decode()
    # a closed offer's package is read-only in the admin
    change = client.get(reverse("admin:compensation_offer_change", args=[offer.pk]))
    assert 'name="base_salary_micros"' not in change.content.decode()
    assert "$190,000.00" in change.content.decode()  # shown in dollars, not micros
    assert "190000000000" not in change.content.decode()


def test_the_admin_list_reads_a_fixed_number_of_queries(client, org):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def list_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("admin:compensation_offer_changelist")).status_code == 200
        return len(captured)

    client.force_login(org["hr"])
    for n in range(3):
        make_offer(
            org,
            email=f"a{n}@example.com",
            trade_direction="stock_to_tokens",
            trade_amount_micros=1_000 * K,
        )
    few = list_queries()
    for n in range(3, 30):
        make_offer(
            org,
            email=f"a{n}@example.com",
            trade_direction="stock_to_tokens",
            trade_amount_micros=1_000 * K,
        )
    assert list_queries() == few


def test_hr_moves_a_sent_offers_deadline_but_not_its_package(client, org):
    from datetime import timedelta

    from people.selectors import company_today

    offer = sent_offer(org)
    client.force_login(org["hr"])
    url = reverse("admin:compensation_offer_change", args=[offer.pk])
    page = client.get(url)
    assert 'name="response_deadline"' in page.content.decode()
    assert 'name="base_salary_micros"' not in page.content.decode()
    later = company_today() + timedelta(days=20)
    response = client.post(url, {"response_deadline": later.isoformat(), **inline_management()})
    assert response.status_code == 302
    offer.refresh_from_db()
    assert offer.response_deadline == later and offer.base_salary_micros == 190_000 * K
    past = company_today() - timedelta(days=1)
    response = client.post(url, {"response_deadline": past.isoformat(), **inline_management()})
    assert "from today on" in response.content.decode()


def test_the_package_of_a_sent_offer_cannot_change_through_the_service(org):
    from common.errors import AllotError
    from compensation.services import offer_save

    offer = sent_offer(org)
    offer.base_salary_micros += K
    with pytest.raises(AllotError, match="its package can change only in draft"):
        offer_save(offer=offer, acting_user=org["hr"])


def test_saving_a_draft_again_keeps_its_trade_rate(org):
    from decimal import Decimal

    from compensation.models import CompensationPolicy
    from compensation.services import offer_save

    offer = make_offer(org, trade_direction="stock_to_tokens", trade_amount_micros=K)
    CompensationPolicy.objects.filter(pk=1).update(stock_to_token_rate=Decimal("0.5"))
    offer.position_title = "Senior Engineer II"
    offer_save(offer=offer, acting_user=org["hr"])
    assert Offer.objects.get(pk=offer.pk).trade_rate == Decimal("1")
    offer.trade_amount_micros = 2 * K  # a new trade takes today's rate
    offer_save(offer=offer, acting_user=org["hr"])
    assert Offer.objects.get(pk=offer.pk).trade_rate == Decimal("0.5")


def test_the_hiring_manager_decides_an_offer_on_the_approvals_page(client, org):
    from compensation.services import offer_submit

    offer = make_offer(org)
    request = offer_submit(offer=offer, acting_user=org["hr"])
    client.force_login(org["manager"].user)
    inbox = client.get(reverse("approvals:inbox")).content.decode()
    assert reverse("approvals:detail", args=[request.pk]) in inbox
    page = client.get(reverse("approvals:detail", args=[request.pk])).content.decode()
    assert "Offer to Ada Lovelace as Senior Software Engineer" in page
    assert "Token budget is within the band" in page and " pool" not in page
    client.post(reverse("approvals:decide", args=[request.pk]), {"decision": "approve"})
    offer.refresh_from_db()
    assert offer.state == OfferState.APPROVED
    # the engineer on the team cannot see the request at all
    client.force_login(org["engineer"].user)
    assert client.get(reverse("approvals:detail", args=[request.pk])).status_code == 404
