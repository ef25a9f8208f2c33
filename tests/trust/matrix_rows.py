"""The rows of the permission matrix (see tests/trust/matrix.py), and the world they run in."""

import os
from datetime import date, timedelta

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.utils import timezone

from approvals.delegation_services import delegation_create
from approvals.manual_entries import manual_entry_post
from approvals.models import ApprovalRequest, Delegation, RequestKind, RequestState
from approvals.oneclick import decision_token
from approvals.services import request_decide, request_submit
from budgets.authorize import authorize
from budgets.models import (
    Budget,
    Enforcement,
    EntryKind,
    LedgerEntry,
    Reservation,
    RolloverRun,
    RolloverState,
    UsageEvent,
)
from budgets.rollover.preview import rollover_preview
from budgets.services import budget_allocate, budget_create
from compensation.models import Offer, OfferState
from compensation.services import offer_send, offer_submit
from connectors.models import IdentityMapping, ProviderConnection
from notifications.models import NotificationPreference
from people.models import Employee
from people.roles import FINANCE, HR, MANAGERS, ROLE_PERMISSIONS
from people.selectors import company_today, current_fiscal_year
from pilots.models import PilotCohort, PilotMembership
from tests.factories import EmployeeFactory, TeamFactory, UserFactory, api_key, price
from tests.trust.forms import form_data
from tests.trust.matrix import ROLES, Row, admin_page, api, cells, web
from tests.trust.matrix_scim import scim_rows, scim_tokens


def build_world() -> dict:
    """Two teams under one skip-level manager, a request in review, staff, and three keys."""
    year = current_fiscal_year()
    skip = EmployeeFactory(user__email="skip@example.com")
    team = TeamFactory(name="Payments")
    other_team = TeamFactory(name="Search")
    manager = EmployeeFactory(user__email="manager@example.com", team=team, manager=skip)
    engineer = EmployeeFactory(user__email="eng@example.com", team=team, manager=manager)
    other_manager = EmployeeFactory(user__email="other@example.com", team=other_team, manager=skip)
    theirs = EmployeeFactory(
        user__email="theirs@example.com", team=other_team, manager=other_manager
    )
    newcomer = EmployeeFactory(user__email="new@example.com", team=team, manager=manager)
    for person in (skip, manager, other_manager):
        person.user.groups.add(Group.objects.get(name=MANAGERS))
    for person in Employee.objects.exclude(pk=newcomer.pk):
        budget, _ = budget_create(
            fiscal_year=year, employee=person, enforcement=Enforcement.HARD_OVERDRAFT
        )
        budget_allocate(budget=budget, amount_micros=5_000_000_000, acting_user=None)
    hr = UserFactory(username="hr@example.com", is_staff=True)
    hr.groups.add(Group.objects.get(name=HR))
    finance = UserFactory(username="finance@example.com", is_staff=True)
    finance.groups.add(Group.objects.get(name=FINANCE))
    superuser = UserFactory(username="root@example.com", is_staff=True, is_superuser=True)
    request = request_submit(
        kind=RequestKind.INCREASE,
        requester=engineer.user,
        employee=engineer,
        amount_micros=1_000_000_000,
        reason="Agent-heavy migration this quarter",
    )
    pending_offer, offer_request, letter = _offers(team, manager, hr)
    manual_request = manual_entry_post(
        budget=Budget.objects.get(employee=engineer, fiscal_year=year),
        kind=EntryKind.ALLOCATION,
        amount_micros=20_000 * 10**6,
        memo="Matrix: asked by HR",
        acting_user=hr,
    )
    # booked leave: from tomorrow the skip-level decides for the manager (no power today)
    leave = delegation_create(
        delegator=manager.user,
        delegate_email=skip.user.email,
        starts_on=company_today() + timedelta(days=1),
        ends_on=company_today() + timedelta(days=7),
    )
    # a hold made through the authorize key, for the release row
    held = authorize(
        employee=engineer, estimated_cost_micros=10**6, reserve=True, source="matrix-authorize"
    ).reservation
    # a pilot with the engineer in it: their manager sees it, other managers do not
    pilot = PilotCohort.objects.create(name="Matrix pilot", start=company_today())
    PilotMembership.objects.create(cohort=pilot, employee=engineer)
    return {
        "pilot": pilot,
        "reservation": held,
        "delegation": leave,
        "other_engineer": theirs,
        "rollover": _closed_year_preview(engineer, year - 1, finance),
        "report": _report(finance),
        "pending_offer": pending_offer,
        "offer_request": offer_request,
        "manual_request": manual_request,
        "letter": letter,
        "users": {
            "engineer": engineer.user,
            "manager": manager.user,
            "skip_level": skip.user,
            "other_manager": other_manager.user,
            "hr": hr,
            "finance": finance,
            "superuser": superuser,
        },
        "scim": scim_tokens(superuser),
        "keys": {
            "key_ingest": api_key("ingest", source="matrix-ingest"),
            "key_authorize": api_key("authorize", source="matrix-authorize"),
            "key_read": api_key("read_balances", source="matrix-read"),
            "key_transfers": api_key("request_transfers", source="matrix-transfers"),
        },
        "engineer": engineer,
        "newcomer": newcomer,
        "request": request,
        "price": price("gpt-matrix"),
        "entry": LedgerEntry.objects.filter(
            budget__employee=engineer, budget__fiscal_year=year
        ).first(),
        "budget": Budget.objects.get(employee=engineer, fiscal_year=year),
        "manager_budget": Budget.objects.get(employee=manager, fiscal_year=year),
    }


def _offers(team, manager, hr):
    """Two offers for the manager's team made by HR: one waiting for the hiring manager's
    approval, one approved and sent (so it has a stored letter)."""
    from tests.compensation.conftest import make_offer

    org = {"team": team, "manager": manager, "hr": hr}
    pending = make_offer(org, email="ada@example.com")
    pending_request = offer_submit(offer=pending, acting_user=hr, reason="Strong loop")
    sent = make_offer(org, email="grace@example.com", name=("Grace", "Hopper"))
    request = offer_submit(offer=sent, acting_user=hr, reason="Strong loop")
    request_decide(request=request, user=manager.user, approve=True, comment="yes")
    letter = offer_send(offer=Offer.objects.get(pk=sent.pk), acting_user=hr)
    return pending, pending_request, letter


def _closed_year_preview(engineer, year, finance):
    """A previewed rollover of last year (ended, so it may be committed)."""
    budget, _ = budget_create(fiscal_year=year, employee=engineer)
    budget_allocate(budget=budget, amount_micros=1_000_000_000, acting_user=None)
    return rollover_preview(fiscal_year=year, acting_user=finance)


def _report(finance):
    """A finished report of this quarter (its figures computed; a small stored file)."""
    from reporting.models import ReportRun, RunState
    from reporting.selectors import report_data

    year = current_fiscal_year()
    run = ReportRun.objects.create(
        fiscal_year=year,
        quarter=1,
        requested_by=finance,
        state=RunState.DONE,
        snapshot=report_data(fiscal_year=year, quarter=1),
    )
    run.pdf.save("matrix.pdf", ContentFile(b"%PDF-1.7\n%matrix\n"))
    return run


def _offer_state(world) -> str:
    return Offer.objects.get(pk=world["pending_offer"].pk).state


def _delegation_ended(world) -> bool:
    return Delegation.objects.get(pk=world["delegation"].pk).ended_at is not None


def _unbounded_delegation(world) -> dict:
    """The delegation of the incident: to an engineer of another team, for all time."""
    return {
        "delegate": world["other_engineer"].user.email,
        "starts_on": "0001-01-01",
        "ends_on": "9999-12-31",
    }


def _unbounded_delegation_in_admin(world) -> dict:
    """The same, made by HR in the admin for the manager."""
    return {
        **_unbounded_delegation(world),
        "delegator": world["users"]["manager"].pk,
        "delegate": world["other_engineer"].user.pk,
    }


def _stored_to_other_engineer(world) -> bool:
    return Delegation.objects.filter(delegate=world["other_engineer"].user).exists()


def _event(world):
    return {
        "events": [
            {
                "id": "matrix-1",
                "employee": "eng@example.com",
                "model": "gpt-matrix",
                "input_tokens": 1000,
                "output_tokens": 100,
                "occurred_at": timezone.now().isoformat(),
            }
        ]
    }


def _request_state(world) -> str:
    return ApprovalRequest.objects.get(pk=world["request"].pk).state


def _manager_link(world) -> str:
    """The one-click link the manager's email carries for the request's first step."""
    step = ApprovalRequest.objects.get(pk=world["request"].pk).steps.get(index=0)
    return f"/approvals/decide/{decision_token(step, world['users']['manager'])}/"


# The link is the manager's credential for this one decision: with no session (an API key is
# no session) it acts as the manager; signed in as anyone else it refuses.
_LINK_HOLDERS = {
    "anonymous",
    "manager",
    "key_ingest",
    "key_authorize",
    "key_read",
    "key_transfers",
}


def _digest_chosen(world) -> bool:
    return NotificationPreference.objects.filter(daily_digest=True).exists()


# -- admin sections, one row per registered model, from the same role table the groups use ------


# Admin list pages that answer with a redirect rather than a list, and why.
ADMIN_REDIRECTS = {"people.companysettings": "one row: the list redirects to it"}


def _admin_rows() -> list[Row]:
    rows = []
    for model in sorted(admin.site._registry, key=lambda m: m._meta.label_lower):
        label = model._meta.label_lower
        allowed = {}
        for role, group in (("hr", HR), ("finance", FINANCE)):
            if set(ROLE_PERMISSIONS[group].get(label, ())) & {"view", "change"}:
                allowed[role] = 302 if label in ADMIN_REDIRECTS else 200
        if label in ADMIN_REDIRECTS:
            allowed["superuser"] = 302
        app, name = label.split(".")
        rows.append(
            Row(
                "Admin sections (list pages)",
                f"/admin/{app}/{name}/",
                "GET",
                lambda w, app=app, name=name: f"/admin/{app}/{name}/",
                admin_page(**allowed),
                notes=ADMIN_REDIRECTS.get(label, ""),
            )
        )
    return rows


WEB = "Web pages"
API = "API"
ACTIONS = "Actions (writes)"
ADMIN_ACTIONS = "Admin pages and actions"
OFFERS = "Offers"
DELEGATION = "Delegation"
REPORTS = "Finance reports"
PILOTS = "Pilots"
ROLLOVER = "Annual rollover"
ACCESS = "Accounts and access (admin writes)"
FINANCE_ONLY = web(403, finance=200, superuser=200)


def _user(world, role):
    return get_user_model().objects.get(pk=world["users"][role].pk)


def _has_power(user) -> bool:
    """More than an engineer's sign-in: staff, superuser, a staff role or a permission."""
    return (
        user.is_staff
        or user.is_superuser
        or user.groups.filter(name__in=[HR, FINANCE]).exists()
        or user.user_permissions.exists()
    )


def _grant_everything(world, role) -> dict:
    """The user's change page as a superuser sees it, with every box of power ticked."""
    target = world["users"][role]
    return form_data(
        f"/admin/auth/user/{target.pk}/change/",
        world["users"]["superuser"],
        is_staff="on",
        is_superuser="on",
        groups=[str(Group.objects.get(name=FINANCE).pk)],
        user_permissions=[str(Permission.objects.get(codename="change_group").pk)],
    )


def _managers_record(world) -> Employee:
    return Employee.objects.get(pk=world["engineer"].manager_id)


def _manual_entry(world, dollars: int) -> dict:
    return {
        "budget": world["budget"].pk,
        "kind": "allocation",
        "amount": str(dollars),
        "memo": "Matrix: by hand",
    }


def _posted_by_hand(world, dollars: int) -> bool:
    return LedgerEntry.objects.filter(
        budget=world["budget"], amount_micros=dollars * 10**6, memo="Matrix: by hand"
    ).exists()


def _connection() -> ProviderConnection:
    """An Anthropic connection whose key variable is set (the sync is queued, never run: the
    row's transaction is rolled back before commit)."""
    os.environ.setdefault("ALLOT_MATRIX_ADMIN_KEY", "matrix-not-a-secret")
    connection, _ = ProviderConnection.objects.get_or_create(
        provider="anthropic",
        defaults={"admin_key_env": "ALLOT_MATRIX_ADMIN_KEY", "start_on": date(2026, 11, 1)},
    )
    return connection


def _report_runs() -> int:
    from reporting.models import ReportRun

    return ReportRun.objects.count()


ROWS: list[Row] = [
    Row(WEB, "/ (my budget)", "GET", lambda w: "/", web(200)),
    Row(
        WEB,
        "/team/",
        "GET",
        lambda w: "/team/",
        web(200, engineer=403),
        reveals=lambda w: f"/team/{w['engineer'].pk}/",
        revealed_to={"manager", "skip_level"},
        notes="managers only (their own team); HR, finance and superusers choose a manager",
    ),
    Row(
        WEB,
        "/team/?manager=<manager>",
        "GET",
        lambda w: f"/team/?manager={w['engineer'].manager_id}",
        web(200, engineer=404, other_manager=404),
        reveals=lambda w: f"/team/{w['engineer'].pk}/",
        revealed_to={"manager", "skip_level", "hr", "finance", "superuser"},
        notes="whoever may see the manager: 404 for anyone else, as for no such person",
    ),
    Row(
        WEB,
        "/team/export.csv",
        "GET",
        lambda w: "/team/export.csv",
        web(200, engineer=403, hr=403, finance=403, superuser=403),
        reveals=lambda w: w["engineer"].user.email,
        revealed_to={"manager", "skip_level"},
        notes="the page's rows as CSV; staff without reports name a manager",
    ),
    Row(
        WEB,
        "/team/export.csv?manager=<manager>",
        "GET",
        lambda w: f"/team/export.csv?manager={w['engineer'].manager_id}",
        web(200, engineer=404, other_manager=404),
        reveals=lambda w: w["engineer"].user.email,
        revealed_to={"manager", "skip_level", "hr", "finance", "superuser"},
        notes="the same checks as the page",
    ),
    Row(
        WEB,
        "/team/<engineer>/",
        "GET",
        lambda w: f"/team/{w['engineer'].pk}/",
        web(200, engineer=302, other_manager=404),
        notes="own page redirects to /; someone else's is 404, as for no such person",
    ),
    Row(
        WEB,
        "/team/<no such person>/",
        "GET",
        lambda w: "/team/999999/",
        web(404),
        notes="the same answer as someone you may not see",
    ),
    Row(WEB, "/requests/", "GET", lambda w: "/requests/", web(200)),
    Row(
        WEB,
        "/requests/<id>/",
        "GET",
        lambda w: f"/requests/{w['request'].pk}/",
        web(200, other_manager=404),
        notes="another team's request is 404",
    ),
    Row(WEB, "/approvals/", "GET", lambda w: "/approvals/", web(200)),
    Row(
        WEB,
        "/audit/",
        "GET",
        lambda w: "/audit/",
        web(403, finance=200, superuser=200),
    ),
    Row(WEB, "/healthz", "GET", lambda w: "/healthz", cells(200)),
    # No worker ran the relay in the matrix's database: "not ready", to everyone alike.
    Row(WEB, "/healthz/ready", "GET", lambda w: "/healthz/ready", cells(503)),
    Row(WEB, "/api/v1/docs/", "GET", lambda w: "/api/v1/docs/", cells(200)),
    Row(WEB, "/api/v1/schema/", "GET", lambda w: "/api/v1/schema/", cells(200)),
    Row(
        API,
        "/api/v1/usage/",
        "POST",
        lambda w: "/api/v1/usage/",
        api(
            key_ingest=200,
            **dict.fromkeys(
                [
                    "engineer",
                    "manager",
                    "skip_level",
                    "other_manager",
                    "hr",
                    "finance",
                    "superuser",
                ],
                401,
            ),
        ),
        data=_event,
        json=True,
        effect=lambda w: UsageEvent.objects.filter(event_id="matrix-1").exists(),
        notes="keys only; a session is not enough",
    ),
    Row(
        API,
        "/api/v1/authorize/",
        "POST",
        lambda w: "/api/v1/authorize/",
        api(
            key_authorize=200,
            **dict.fromkeys(
                [
                    "engineer",
                    "manager",
                    "skip_level",
                    "other_manager",
                    "hr",
                    "finance",
                    "superuser",
                ],
                401,
            ),
        ),
        data=lambda w: {"employee": "eng@example.com", "estimated_cost_usd": "1", "reserve": True},
        json=True,
        effect=lambda w: Reservation.objects.exclude(pk=w["reservation"].pk).exists(),
    ),
    Row(
        API,
        "/api/v1/reservations/<id>/release/",
        "POST",
        lambda w: f"/api/v1/reservations/{w['reservation'].pk}/release/",
        api(
            key_authorize=200,
            **dict.fromkeys(
                [
                    "engineer",
                    "manager",
                    "skip_level",
                    "other_manager",
                    "hr",
                    "finance",
                    "superuser",
                ],
                401,
            ),
        ),
        json=True,
        effect=lambda w: Reservation.objects.get(pk=w["reservation"].pk).state == "released",
        notes="the key whose source made the hold; another source's is 404",
    ),
    Row(
        API,
        "/api/v1/transfers/",
        "POST",
        lambda w: "/api/v1/transfers/",
        api(
            key_transfers=201,
            **dict.fromkeys(
                [
                    "engineer",
                    "manager",
                    "skip_level",
                    "other_manager",
                    "hr",
                    "finance",
                    "superuser",
                ],
                401,
            ),
        ),
        data=lambda w: {
            "requested_by": "eng@example.com",
            "source": w["budget"].pk,
            "destination": w["manager_budget"].pk,
            "amount_usd": "10",
            "reason": "matrix",
        },
        json=True,
        effect=lambda w: ApprovalRequest.objects.filter(kind=RequestKind.TRANSFER).exists(),
        notes="the request_transfers key only; opens a request, moves nothing",
    ),
    Row(
        API,
        "/api/v1/employees/<engineer>/balance/",
        "GET",
        lambda w: "/api/v1/employees/eng@example.com/balance/",
        api(
            key_read=200,
            engineer=200,
            manager=200,
            skip_level=200,
            other_manager=404,
            hr=200,
            finance=200,
            superuser=200,
        ),
        notes="another team's manager 404",
    ),
    Row(
        ACTIONS,
        "/requests/<id>/decide/ (approve)",
        "POST",
        lambda w: f"/requests/{w['request'].pk}/decide/",
        web(
            302, other_manager=404, engineer=404, skip_level=404, hr=404, finance=404, superuser=404
        ),
        data=lambda w: {"decision": "approve", "comment": "ok"},
        effect=lambda w: _request_state(w) == RequestState.APPROVED,
        notes="only the approver; the requester never",
        effect_roles={"manager"},
    ),
    Row(
        WEB,
        "/approvals/decide/<the manager's emailed link>/ (a scanner's GET)",
        "GET",
        _manager_link,
        cells(403, **dict.fromkeys(_LINK_HOLDERS, 200)),
        effect=lambda w: _request_state(w) != RequestState.IN_REVIEW,
        effect_roles=set(),
        notes="shows the request and asks to confirm; GET never decides",
    ),
    Row(
        ACTIONS,
        "/approvals/decide/<the manager's emailed link>/ (approve)",
        "POST",
        _manager_link,
        cells(403, **dict.fromkeys(_LINK_HOLDERS, 200)),
        data=lambda w: {"decision": "approve"},
        effect=lambda w: _request_state(w) == RequestState.APPROVED,
        notes="the signed link acts as the manager, once; signed in as someone else: 403",
    ),
    Row(
        ACTIONS,
        "/slack/interactivity/ (no Slack signature)",
        "POST",
        lambda w: "/slack/interactivity/",
        cells(404),
        data=lambda w: {"payload": "{}"},
        effect=lambda w: _request_state(w) != RequestState.IN_REVIEW,
        effect_roles=set(),
        notes="404 until Slack is set up in the admin; then an unsigned or stale request is "
        "401 (tests/notifications/test_slack.py)",
    ),
    Row(
        ACTIONS,
        "/notifications/digest/ (daily digest on)",
        "POST",
        lambda w: "/notifications/digest/",
        web(302),
        data=lambda w: {"daily_digest": "on"},
        effect=_digest_chosen,
        effect_roles={
            "engineer",
            "manager",
            "skip_level",
            "other_manager",
            "hr",
            "finance",
            "superuser",
        },
        notes="each person's own choice",
    ),
    Row(
        ACTIONS,
        "/requests/<id>/withdraw/",
        "POST",
        lambda w: f"/requests/{w['request'].pk}/withdraw/",
        web(302, other_manager=404),
        effect=lambda w: _request_state(w) == RequestState.WITHDRAWN,
        notes="only the requester withdraws",
        effect_roles={"engineer"},
    ),
    Row(
        ADMIN_ACTIONS,
        "/admin/ (index)",
        "GET",
        lambda w: "/admin/",
        admin_page(hr=200, finance=200),
    ),
    Row(
        ADMIN_ACTIONS,
        "/admin/budgets/tokenprice/<id>/correct/ (price correction)",
        "GET",
        lambda w: f"/admin/budgets/tokenprice/{w['price'].pk}/correct/",
        admin_page(finance=200),
    ),
    Row(
        ADMIN_ACTIONS,
        "/admin/budgets/ledgerentry/<id>/delete/",
        "POST",
        lambda w: f"/admin/budgets/ledgerentry/{w['entry'].pk}/delete/",
        admin_page(superuser=403),
        data=lambda w: {"post": "yes"},
        effect=lambda w: not LedgerEntry.objects.filter(pk=w["entry"].pk).exists(),
        notes="nobody, superusers included",
        effect_roles=set(),
    ),
    Row(
        ADMIN_ACTIONS,
        "/admin/people/employee/ action: allocate from level",
        "POST",
        lambda w: "/admin/people/employee/",
        admin_page(hr=302, finance=302, superuser=302),
        data=lambda w: {
            "action": "allocate_from_level",
            "_selected_action": [w["newcomer"].pk],
        },
        effect=lambda w: Budget.objects.filter(employee=w["newcomer"]).exists(),
        notes="whoever may post ledger entries: HR, finance, superusers",
        effect_roles={"hr", "finance", "superuser"},
    ),
    Row(
        ADMIN_ACTIONS,
        "/admin/budgets/ledgerentry/add/ ($10,000: at the threshold)",
        "POST",
        lambda w: "/admin/budgets/ledgerentry/add/",
        admin_page(hr=302, finance=302, superuser=302),
        data=lambda w: _manual_entry(w, 10_000),
        effect=lambda w: _posted_by_hand(w, 10_000),
        notes="posted at once, with its reason",
        effect_roles={"hr", "finance", "superuser"},
    ),
    Row(
        ADMIN_ACTIONS,
        "/admin/budgets/ledgerentry/add/ ($10,000.01: above the threshold)",
        "POST",
        lambda w: "/admin/budgets/ledgerentry/add/",
        admin_page(hr=302, finance=302, superuser=302),
        data=lambda w: {**_manual_entry(w, 10_000), "amount": "10000.01"},
        effect=lambda w: LedgerEntry.objects.filter(memo__contains="Matrix: by hand").exists(),
        notes="nobody posts it alone, superusers included: a request opens instead",
        effect_roles=set(),
    ),
    Row(
        ADMIN_ACTIONS,
        "/requests/<manual entry above the threshold>/decide/ (approve)",
        "POST",
        lambda w: f"/requests/{w['manual_request'].pk}/decide/",
        web(404, finance=302),
        data=lambda w: {"decision": "approve", "comment": "second pair of eyes"},
        effect=lambda w: LedgerEntry.objects.filter(memo__contains="Matrix: asked by HR").exists(),
        notes="someone in Finance other than its author; HR, who asked, never",
        effect_roles={"finance"},
    ),
    Row(
        OFFERS,
        "/offers/",
        "GET",
        lambda w: "/offers/",
        web(403, manager=200, skip_level=200, other_manager=200, hr=200, superuser=200),
        notes="HR, and managers for their own teams' offers",
    ),
    Row(
        OFFERS,
        "/offers/letters/<id>.pdf (a sent offer's letter)",
        "GET",
        lambda w: f"/offers/letters/{w['letter'].pk}.pdf",
        web(404, manager=200, hr=200, superuser=200),
        notes="the hiring manager, HR; anyone else 404",
    ),
    Row(
        OFFERS,
        "/admin/compensation/offer/<id>/letter-preview/",
        "GET",
        lambda w: f"/admin/compensation/offer/{w['pending_offer'].pk}/letter-preview/",
        admin_page(hr=200),
        notes="salaries are HR-only",
    ),
    Row(
        OFFERS,
        "/requests/<offer request>/decide/ (approve an offer)",
        "POST",
        lambda w: f"/requests/{w['offer_request'].pk}/decide/",
        web(404, manager=302),
        data=lambda w: {"decision": "approve", "comment": "ok"},
        effect=lambda w: _offer_state(w) == OfferState.APPROVED,
        notes="the hiring manager; HR, who made it, never",
        effect_roles={"manager"},
    ),
    Row(
        OFFERS,
        "/requests/<offer request>/",
        "GET",
        lambda w: f"/requests/{w['offer_request'].pk}/",
        web(404, manager=200, hr=200, superuser=200),
        notes="HR, the hiring manager and an approver whose step it is; finance 404",
    ),
    Row(
        OFFERS,
        "/admin/approvals/approvalrequest/<offer request>/change/",
        "GET",
        lambda w: f"/admin/approvals/approvalrequest/{w['offer_request'].pk}/change/",
        admin_page(hr=200, finance=302, superuser=200),
        reveals=lambda w: "Base salary",
        revealed_to={"hr", "superuser"},
        notes="the package is HR's: finance is sent away as if there were no such request",
    ),
    Row(
        OFFERS,
        "/admin/approvals/approvalrequest/ (the offer's request listed)",
        "GET",
        lambda w: "/admin/approvals/approvalrequest/",
        admin_page(hr=200, finance=200, superuser=200),
        reveals=lambda w: f"/admin/approvals/approvalrequest/{w['offer_request'].pk}/change/",
        revealed_to={"hr", "superuser"},
    ),
    Row(
        OFFERS,
        "/audit/?what=transitions (the offer request's state changes)",
        "GET",
        lambda w: "/audit/?what=transitions",
        web(403, finance=200, superuser=200),
        reveals=lambda w: f"(request #{w['offer_request'].pk}):",  # an offer's request's name
        revealed_to={"superuser"},
    ),
    Row(
        OFFERS,
        "/approvals/ (the offer waiting)",
        "GET",
        lambda w: "/approvals/",
        web(200),
        reveals=lambda w: f"/requests/{w['offer_request'].pk}/",
        revealed_to={"manager"},
        notes="only its approver's inbox",
    ),
    Row(
        OFFERS,
        "/requests/ (the offer listed)",
        "GET",
        lambda w: "/requests/",
        web(200),
        reveals=lambda w: f"/requests/{w['offer_request'].pk}/",
        revealed_to={"hr"},
        notes="the requester's list: HR made it",
    ),
    Row(
        DELEGATION,
        "/approvals/delegate/ (to an engineer of another team, 0001-01-01 to 9999-12-31)",
        "POST",
        lambda w: "/approvals/delegate/",
        web(200),
        data=_unbounded_delegation,
        effect=_stored_to_other_engineer,
        effect_roles=set(),
        reveals=lambda w: 'class="errorlist',
        marks=("refused", "not refused"),
        revealed_to={
            "engineer",
            "manager",
            "skip_level",
            "other_manager",
            "hr",
            "finance",
            "superuser",
        },
        notes="nothing stored for anyone; the form says why on its field",
    ),
    Row(
        DELEGATION,
        "/admin/approvals/delegation/add/ (the same, in the admin)",
        "POST",
        lambda w: "/admin/approvals/delegation/add/",
        admin_page(hr=200, superuser=200),
        data=_unbounded_delegation_in_admin,
        effect=_stored_to_other_engineer,
        effect_roles=set(),
        reveals=lambda w: 'class="errorlist',
        marks=("refused", "not refused"),
        revealed_to={"hr", "superuser"},
        notes="the same service refuses it, on the field",
    ),
    Row(
        DELEGATION,
        "/approvals/delegations/<id>/end/ (end a delegation early)",
        "POST",
        lambda w: f"/approvals/delegations/{w['delegation'].pk}/end/",
        web(404, manager=302, hr=302, superuser=302),
        effect=_delegation_ended,
        effect_roles={"manager", "hr", "superuser"},
        notes="the delegator, or HR; anyone else 404",
    ),
    Row(
        ROLLOVER,
        "/admin/budgets/rolloverrun/new/ (preview a year)",
        "GET",
        lambda w: "/admin/budgets/rolloverrun/new/",
        admin_page(finance=200),
    ),
    Row(
        ROLLOVER,
        "/admin/budgets/rolloverrun/<id>/preview/",
        "GET",
        lambda w: f"/admin/budgets/rolloverrun/{w['rollover'].pk}/preview/",
        admin_page(hr=200, finance=200),
    ),
    Row(
        ROLLOVER,
        "/admin/budgets/rolloverrun/<id>/preview.csv",
        "GET",
        lambda w: f"/admin/budgets/rolloverrun/{w['rollover'].pk}/preview.csv",
        admin_page(hr=200, finance=200),
    ),
    Row(
        ROLLOVER,
        "/admin/budgets/rolloverrun/<id>/confirm/ (commit the year)",
        "POST",
        lambda w: f"/admin/budgets/rolloverrun/{w['rollover'].pk}/confirm/",
        admin_page(hr=403, finance=302, superuser=302),
        effect=lambda w: (
            RolloverRun.objects.get(pk=w["rollover"].pk).state != RolloverState.PREVIEWED
        ),
        notes="finance only",
        effect_roles={"finance", "superuser"},
    ),
    Row(
        PILOTS,
        "/pilots/",
        "GET",
        lambda w: "/pilots/",
        web(200, engineer=403),
        reveals=lambda w: "Matrix pilot",
        revealed_to={"manager", "hr", "finance", "superuser"},
        notes="a manager sees the pilots their reports are in",
    ),
    Row(
        PILOTS,
        "/pilots/<id>/",
        "GET",
        lambda w: f"/pilots/{w['pilot'].pk}/",
        web(200, engineer=403, skip_level=404, other_manager=404),
        notes="managers of a member only; other managers 404",
    ),
    Row(REPORTS, "/reports/", "GET", lambda w: "/reports/", FINANCE_ONLY),
    Row(
        REPORTS,
        "/reports/ (ask for a report)",
        "POST",
        lambda w: "/reports/",
        web(403, finance=302, superuser=302),
        data=lambda w: {"fiscal_year": current_fiscal_year(), "quarter": 2},
        effect=lambda w: _report_runs() > 1,
        notes="the build runs in the worker",
        effect_roles={"finance", "superuser"},
    ),
    Row(
        REPORTS,
        "/reports/ (ask for a monthly report)",
        "POST",
        lambda w: "/reports/",
        web(403, finance=302, superuser=302),
        data=lambda w: {"period": "month", "m-month": f"{timezone.localdate():%Y-%m}"},
        effect=lambda w: _report_runs() > 1,
        notes="the build runs in the worker",
        effect_roles={"finance", "superuser"},
    ),
    Row(REPORTS, "/reports/<id>/", "GET", lambda w: f"/reports/{w['report'].pk}/", FINANCE_ONLY),
    Row(
        REPORTS,
        "/reports/<id>/status/",
        "GET",
        lambda w: f"/reports/{w['report'].pk}/status/",
        FINANCE_ONLY,
    ),
    Row(
        REPORTS,
        "/reports/<id>/pdf/",
        "GET",
        lambda w: f"/reports/{w['report'].pk}/pdf/",
        FINANCE_ONLY,
        notes="files only through this view",
    ),
    Row(
        REPORTS,
        "/reports/<id>/csv/",
        "GET",
        lambda w: f"/reports/{w['report'].pk}/csv/",
        FINANCE_ONLY,
    ),
    Row(
        REPORTS,
        "/reports/<id>/xlsx/",
        "GET",
        lambda w: f"/reports/{w['report'].pk}/xlsx/",
        FINANCE_ONLY,
    ),
    Row(
        REPORTS,
        "/reports/<id>/tables.zip",
        "GET",
        lambda w: f"/reports/{w['report'].pk}/tables.zip",
        FINANCE_ONLY,
    ),
    Row(
        REPORTS,
        "/reports/<id>/retry/ (build a failed report again)",
        "POST",
        lambda w: f"/reports/{w['report'].pk}/retry/",
        web(403, finance=302, superuser=302),
    ),
    Row(
        REPORTS,
        "/reports/999999/pdf/ (a guessed id)",
        "GET",
        lambda w: "/reports/999999/pdf/",
        web(403, finance=404, superuser=404),
        notes="no hint to others whether it exists",
    ),
    Row(
        REPORTS,
        "/admin/reporting/productivitymetric/import/ (CSV upload)",
        "GET",
        lambda w: "/admin/reporting/productivitymetric/import/",
        admin_page(finance=200),
        notes="feeds the report: finance only",
    ),
    Row(
        REPORTS,
        "/admin/reporting/productivitymetric/export/",
        "GET",
        lambda w: "/admin/reporting/productivitymetric/export/",
        admin_page(finance=200),
    ),
    Row(
        ACCESS,
        "/admin/auth/user/<HR's own>/change/ (make HR a superuser in Finance)",
        "POST",
        lambda w: f"/admin/auth/user/{w['users']['hr'].pk}/change/",
        admin_page(superuser=302),
        data=lambda w: _grant_everything(w, "hr"),
        effect=lambda w: _user(w, "hr").is_superuser,
        notes="access is a superuser's; a staff account is read-only to HR",
        effect_roles={"superuser"},
    ),
    Row(
        ACCESS,
        "/admin/auth/user/<engineer>/change/ (tick staff, superuser, groups, permissions)",
        "POST",
        lambda w: f"/admin/auth/user/{w['users']['engineer'].pk}/change/",
        admin_page(hr=302, superuser=302),
        data=lambda w: _grant_everything(w, "engineer"),
        effect=lambda w: _has_power(_user(w, "engineer")),
        notes="HR's save keeps only name, email, active",
        effect_roles={"superuser"},
    ),
    Row(
        ACCESS,
        "/admin/auth/user/<engineer>/change/ (rename)",
        "POST",
        lambda w: f"/admin/auth/user/{w['users']['engineer'].pk}/change/",
        admin_page(hr=302, superuser=302),
        data=lambda w: form_data(
            f"/admin/auth/user/{w['users']['engineer'].pk}/change/",
            w["users"]["superuser"],
            first_name="Renamed",
        ),
        effect=lambda w: _user(w, "engineer").first_name == "Renamed",
        notes="HR edits people",
        effect_roles={"hr", "superuser"},
    ),
    Row(
        ACCESS,
        "/admin/auth/user/<superuser>/password/",
        "POST",
        lambda w: f"/admin/auth/user/{w['users']['superuser'].pk}/password/",
        admin_page(superuser=302),
        data=lambda w: {"password1": "Taken-over-42", "password2": "Taken-over-42"},
        effect=lambda w: _user(w, "superuser").check_password("Taken-over-42"),
        effect_roles={"superuser"},
    ),
    Row(
        ACCESS,
        "/admin/auth/user/<manager>/password/",
        "POST",
        lambda w: f"/admin/auth/user/{w['users']['manager'].pk}/password/",
        admin_page(superuser=302),
        data=lambda w: {"password1": "Taken-over-42", "password2": "Taken-over-42"},
        effect=lambda w: _user(w, "manager").check_password("Taken-over-42"),
        notes="a password someone else sets is a sign-in they hold",
        effect_roles={"superuser"},
    ),
    Row(
        ACCESS,
        "/admin/auth/user/add/",
        "POST",
        lambda w: "/admin/auth/user/add/",
        admin_page(superuser=302),
        data=lambda w: {
            "username": "backdoor",
            "usable_password": "true",
            "password1": "Quiet-Lantern-81",
            "password2": "Quiet-Lantern-81",
        },
        effect=lambda w: get_user_model().objects.filter(username="backdoor").exists(),
        notes="people come in through the employee admin",
        effect_roles={"superuser"},
    ),
    Row(
        ACCESS,
        "/admin/auth/group/add/",
        "POST",
        lambda w: "/admin/auth/group/add/",
        admin_page(superuser=302),
        data=lambda w: {
            "name": "Backdoor",
            "permissions": [str(Permission.objects.get(codename="change_group").pk)],
        },
        effect=lambda w: Group.objects.filter(name="Backdoor").exists(),
        effect_roles={"superuser"},
    ),
    Row(
        ACCESS,
        "/admin/auth/group/<Finance>/change/ (add permissions)",
        "POST",
        lambda w: f"/admin/auth/group/{Group.objects.get(name=FINANCE).pk}/change/",
        admin_page(superuser=302),
        data=lambda w: {
            "name": FINANCE,
            "permissions": [str(Permission.objects.get(codename="change_group").pk)],
        },
        effect=lambda w: Group.objects.filter(
            name=FINANCE, permissions__codename="change_group"
        ).exists(),
        effect_roles={"superuser"},
    ),
    Row(
        ACCESS,
        "/admin/auth/permission/add/",
        "POST",
        lambda w: "/admin/auth/permission/add/",
        admin_page(hr=404, finance=404, superuser=404),
        data=lambda w: {"name": "x", "codename": "x", "content_type": "1"},
        effect=lambda w: Permission.objects.filter(codename="x").exists(),
        notes="permissions have no admin page: 404 for staff",
        effect_roles=set(),
    ),
    Row(
        ACCESS,
        "/admin/people/employee/<manager>/change/ (point the manager's record at HR's sign-in)",
        "POST",
        lambda w: f"/admin/people/employee/{_managers_record(w).pk}/change/",
        admin_page(hr=302, finance=403, superuser=302),
        data=lambda w: form_data(
            f"/admin/people/employee/{_managers_record(w).pk}/change/",
            w["users"]["superuser"],
            user=str(w["users"]["hr"].pk),
        ),
        effect=lambda w: _managers_record(w).user_id == w["users"]["hr"].pk,
        notes="the sign-in of an employee is a superuser's repair",
        effect_roles={"superuser"},
    ),
    Row(
        ADMIN_ACTIONS,
        "/admin/connectors/identitymapping/add/ (map a provider's API key to an employee)",
        "POST",
        lambda w: "/admin/connectors/identitymapping/add/",
        admin_page(hr=302, superuser=302),
        data=lambda w: form_data(
            "/admin/connectors/identitymapping/add/",
            w["users"]["superuser"],
            provider="anthropic",
            kind="api_key_id",
            external_id="apikey_matrix",
            employee=str(Employee.objects.get(user=w["users"]["engineer"]).pk),
        ),
        effect=lambda w: IdentityMapping.objects.filter(external_id="apikey_matrix").exists(),
        notes="HR maps identities; finance reads them",
        effect_roles={"hr", "superuser"},
    ),
    Row(
        ADMIN_ACTIONS,
        "/admin/connectors/providerconnection/add/ (a provider's usage reports)",
        "POST",
        lambda w: "/admin/connectors/providerconnection/add/",
        admin_page(finance=302, superuser=302),
        data=lambda w: form_data(
            "/admin/connectors/providerconnection/add/",
            w["users"]["superuser"],
            provider="openai",
            admin_key_env="ALLOT_OPENAI_ADMIN_KEY",
            start_on="2026-11-01",
            restate_days="3",
        ),
        effect=lambda w: ProviderConnection.objects.filter(provider="openai").exists(),
        notes="finance configures; the key stays in the environment",
        effect_roles={"finance", "superuser"},
    ),
    Row(
        ADMIN_ACTIONS,
        "/admin/connectors/providerconnection/<id>/sync/ (Sync now)",
        "POST",
        lambda w: f"/admin/connectors/providerconnection/{_connection().pk}/sync/",
        admin_page(hr=403, finance=302, superuser=302),
        effect=lambda w: ProviderConnection.objects.filter(sync_queued_at__isnull=False).exists(),
        notes="finance queues a sync (after commit); HR reads the connection only",
        effect_roles={"finance", "superuser"},
    ),
    *_admin_rows(),
    *scim_rows(),
]

assert all(set(row.expect) == set(ROLES) for row in ROWS)
