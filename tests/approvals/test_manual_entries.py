"""Money moved by hand in the admin: up to the company's threshold it is posted at once with its
reason; above it, someone else approves it first, through the approval engine (four eyes)."""

import pytest
from django.urls import reverse

from approvals.manual_entries import manual_entry_post
from approvals.models import ApprovalRequest, RequestKind, RequestState, StepRole
from approvals.selectors import inbox_steps
from approvals.services import request_decide
from budgets.models import Budget, EntryKind, LedgerEntry
from budgets.services import budget_allocate
from common.errors import AllotError
from common.money import dollars_to_micros
from people.models import CompanySettings
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, UserFactory, finance_user, hr_user

pytestmark = pytest.mark.django_db

K = 10**6  # micros per dollar
ADD = "/admin/budgets/ledgerentry/add/"


@pytest.fixture
def budget():
    employee = EmployeeFactory()
    return Budget.objects.create(fiscal_year=current_fiscal_year(), employee=employee)


def _entry_form(budget, dollars: str, *, kind=EntryKind.ALLOCATION, memo="Mid-year correction"):
    return {"budget": budget.pk, "kind": kind, "amount": dollars, "memo": memo}


def _entries(budget):
    return LedgerEntry.objects.filter(budget=budget)


def test_an_entry_up_to_the_threshold_is_posted_at_once_by_hr(client, budget):
    # given HR in the admin, and the default threshold of $10,000
    hr = hr_user()
    client.force_login(hr)

    # when HR allocates exactly $10,000
    response = client.post(ADD, _entry_form(budget, "10000"))

    # then it is posted, by HR, with its reason, and no request is opened
    assert response.status_code == 302
    entry = _entries(budget).get()
    assert (entry.amount_micros, entry.acting_user, entry.memo) == (
        10_000 * K,
        hr,
        "Mid-year correction",
    )
    assert not ApprovalRequest.objects.exists()


def test_every_entry_posted_by_hand_needs_its_reason(client, budget):
    client.force_login(hr_user())

    response = client.post(ADD, _entry_form(budget, "500", memo="  "))

    assert response.status_code == 200
    assert "needs its reason" in response.context["adminform"].form.errors["memo"][0]
    assert not _entries(budget).exists()


@pytest.mark.parametrize(
    ("kind", "dollars"),
    [(EntryKind.ALLOCATION, "50000"), (EntryKind.ADJUSTMENT, "-10000.01")],
)
def test_above_the_threshold_nothing_is_posted_and_a_request_waits_for_someone_else(
    client, budget, kind, dollars
):
    # given HR in the admin, and money on the budget a negative adjustment can take back
    hr = hr_user()
    budget_allocate(budget=budget, amount_micros=100_000 * K, acting_user=None)
    client.force_login(hr)
    before = _entries(budget).count()

    # when HR posts above $10,000 (either sign)
    response = client.post(ADD, _entry_form(budget, dollars, kind=kind), follow=True)

    # then nothing is posted: a request of its own kind is open, routed to Finance, not to HR
    assert _entries(budget).count() == before
    request = ApprovalRequest.objects.get(kind=RequestKind.LEDGER_ENTRY)
    assert request.state == RequestState.IN_REVIEW
    assert request.requester == hr
    assert [step.role for step in request.steps.all()] == [StepRole.FINANCE]
    assert request.details["amount_micros"] == dollars_to_micros(dollars)
    assert response.redirect_chain[-1][0] == request.get_absolute_url()
    assert "Nothing is posted yet" in response.content.decode()


def test_the_final_approval_by_someone_else_posts_the_entry_once(budget):
    # given a $25,000 allocation asked by one finance person
    author, approver = finance_user(), finance_user()
    request = manual_entry_post(
        budget=budget,
        kind=EntryKind.ALLOCATION,
        amount_micros=25_000 * K,
        memo="Agent pilot for the platform team",
        acting_user=author,
    )
    assert isinstance(request, ApprovalRequest)

    # when it is not in its author's inbox, and another finance person approves it, twice
    assert not inbox_steps(user=author).filter(request=request).exists()
    assert inbox_steps(user=approver).filter(request=request).exists()
    request_decide(request=request, user=approver, approve=True, comment="checked")
    request_decide(request=request, user=approver, approve=True, comment="again")

    # then the entry is posted once, by the approver, naming the author and the request
    entry = _entries(budget).get()
    assert (entry.kind, entry.amount_micros, entry.acting_user) == (
        EntryKind.ALLOCATION,
        25_000 * K,
        approver,
    )
    assert f"request #{request.pk}" in entry.memo and author.username in entry.memo
    budget.refresh_from_db()
    assert budget.allocated_micros == 25_000 * K


def test_its_author_cannot_approve_it(budget):
    author = finance_user()
    request = manual_entry_post(
        budget=budget,
        kind=EntryKind.APPROVED_INCREASE,
        amount_micros=20_000 * K,
        memo="Negotiated at hire",
        acting_user=author,
    )

    with pytest.raises(AllotError):
        request_decide(request=request, user=author, approve=True, comment="mine")

    assert not _entries(budget).exists()


def test_the_person_whose_budget_it_is_cannot_approve_it_either(budget):
    owner = budget.employee.user
    owner.groups.add(*finance_user().groups.all())
    request = manual_entry_post(
        budget=budget,
        kind=EntryKind.ALLOCATION,
        amount_micros=20_000 * K,
        memo="More for me",
        acting_user=hr_user(),
    )

    assert not inbox_steps(user=owner).filter(request=request).exists()
    with pytest.raises(AllotError):
        request_decide(request=request, user=owner, approve=True, comment="thanks")


def test_the_threshold_is_a_superusers_to_change(client):
    settings_page = reverse("admin:people_companysettings_change", args=[1])
    for user in (hr_user(), finance_user()):
        client.force_login(user)
        html = client.get(settings_page).content.decode()
        assert 'name="manual_entry_approval_above_micros"' not in html
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    html = client.get(settings_page).content.decode()
    assert 'name="manual_entry_approval_above_micros"' in html


def test_a_lower_threshold_sends_smaller_entries_for_approval(budget):
    company = CompanySettings.objects.get(pk=1)
    company.manual_entry_approval_above_micros = 100 * K
    company.save()

    opened = manual_entry_post(
        budget=budget,
        kind=EntryKind.ALLOCATION,
        amount_micros=101 * K,
        memo="Just over",
        acting_user=hr_user(),
    )

    assert isinstance(opened, ApprovalRequest)
