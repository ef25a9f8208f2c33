import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone

from budgets.authorize import authorize
from budgets.models import Budget, Enforcement, Reservation, ReservationState, UsageEvent
from budgets.rollover import reservations_release_expired
from budgets.services import budget_allocate, budget_create
from budgets.tasks import reservations_release
from budgets.usage import usage_ingest
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, api_key, price

URL = "/api/v1/authorize/"


def hard_budget(employee, dollars, enforcement=Enforcement.HARD, overdraft=0):
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=employee)
    Budget.objects.filter(pk=budget.pk).update(enforcement=enforcement, overdraft_percent=overdraft)
    budget_allocate(budget=budget, amount_micros=dollars * 10**6, acting_user=None)
    budget.refresh_from_db()
    return budget


def call(client, key, **body):
    return client.post(
        URL, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )


@pytest.mark.django_db
def test_authorize_says_yes_within_a_hard_limit_and_no_past_it(client):
    employee = EmployeeFactory(user__email="eng@example.com")
    hard_budget(employee, 10)
    key = api_key()

    yes = call(client, key, employee="eng@example.com", estimated_cost_usd="9.99").json()
    no = call(client, key, employee="eng@example.com", estimated_cost_usd="10.01").json()

    assert yes["allowed"] is True and yes["remaining_usd"] == "0.010000"
    assert yes["budget"]["kind"] == "employee" and yes["reservation"] is None
    assert yes["reason"] == "Within budget."
    assert no["allowed"] is False and "Hard limit reached" in no["reason"]


@pytest.mark.django_db
def test_an_overdraft_extends_a_hard_limit_and_warns(client):
    employee = EmployeeFactory(user__email="eng@example.com")
    hard_budget(employee, 100, Enforcement.HARD_OVERDRAFT, overdraft=10)
    key = api_key()

    inside = call(client, key, employee="eng@example.com", estimated_cost_usd="109").json()
    outside = call(client, key, employee="eng@example.com", estimated_cost_usd="111").json()

    assert inside["allowed"] and "overdraft" in inside["warnings"][0]
    assert "overdraft" in inside["reason"]
    assert not outside["allowed"]


@pytest.mark.django_db
def test_a_soft_budget_allows_past_its_limit_with_a_warning(client):
    employee = EmployeeFactory(user__email="eng@example.com")
    hard_budget(employee, 10, Enforcement.SOFT)
    response = call(client, api_key(), employee="eng@example.com", estimated_cost_usd="25").json()
    assert response["allowed"] and "over budget" in response["warnings"][0]
    # and the reason agrees with the warning: not "Within budget."
    assert response["reason"] != "Within budget." and "over budget" in response["reason"]


@pytest.mark.django_db
def test_authorize_prices_a_model_and_token_estimate(client):
    employee = EmployeeFactory(user__email="eng@example.com")
    hard_budget(employee, 1)
    price("sonnet", input_usd="3", output_usd="15")
    key = api_key()
    body = {"employee": "eng@example.com", "model": "sonnet"}

    fits = call(client, key, **body, input_tokens=100_000, output_tokens=20_000).json()
    too_big = call(client, key, **body, input_tokens=0, output_tokens=100_000).json()
    unknown = call(client, key, employee="eng@example.com", model="mystery", input_tokens=5)

    assert fits["allowed"] and fits["remaining_usd"] == "0.400000"  # $1 - $0.30 - $0.30
    assert not too_big["allowed"]  # $1.50
    assert unknown.status_code == 400 and "'mystery'" in unknown.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"employee": "eng@example.com"}, 400),
        ({"employee": "eng@example.com", "estimated_cost_usd": "-1"}, 400),
        ({"employee": "eng@example.com", "estimated_cost_usd": "abc"}, 400),
        ({"employee": "nobody@example.com", "estimated_cost_usd": "1"}, 404),
        ({"employee": "eng@example.com", "estimated_cost_usd": "1", "project": "nope"}, 400),
    ],
)
def test_bad_authorize_requests_get_a_clear_4xx(client, body, status):
    EmployeeFactory(user__email="eng@example.com")
    response = call(client, api_key(), **body)
    assert response.status_code == status
    assert response.json()


@pytest.mark.django_db
def test_a_reservation_holds_the_estimate_until_usage_settles_it(client):
    employee = EmployeeFactory(user__email="eng@example.com")
    budget = hard_budget(employee, 10)
    key = api_key()

    held = call(
        client, key, employee="eng@example.com", estimated_cost_usd="6", reserve=True
    ).json()
    second = call(client, key, employee="eng@example.com", estimated_cost_usd="6").json()
    budget.refresh_from_db()

    assert held["allowed"] and held["reservation"]["amount_usd"] == "6.000000"
    assert budget.reserved_micros == 6 * 10**6
    assert not second["allowed"]  # the hold counts as spent

    result = usage_ingest(
        source="gateway",
        events=[
            {
                "id": "settles",
                "employee": "eng@example.com",
                "model": "x",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_usd": "4.25",
                "occurred_at": timezone.now().isoformat(),
                "reservation": held["reservation"]["id"],
            }
        ],
    )
    budget.refresh_from_db()
    reservation = Reservation.objects.get(pk=held["reservation"]["id"])

    assert result.accepted == 1
    assert (budget.spent_micros, budget.reserved_micros) == (4_250_000, 0)  # actual replaces hold
    assert reservation.state == ReservationState.SETTLED
    assert UsageEvent.objects.get(event_id="settles").reservation == reservation
    again = usage_ingest(
        source="gateway",
        events=[
            {
                "id": "settles-twice",
                "employee": "eng@example.com",
                "model": "x",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_usd": "1",
                "occurred_at": timezone.now().isoformat(),
                "reservation": held["reservation"]["id"],
            }
        ],
    )
    assert "already settled" in again.rejected[0]["errors"]["reservation"][0]


@pytest.mark.django_db
def test_unsettled_holds_expire_and_are_released_once():
    employee = EmployeeFactory()
    budget = hard_budget(employee, 10)
    authorize(employee=employee, estimated_cost_micros=3 * 10**6, reserve=True, hold_seconds=60)
    authorize(employee=employee, estimated_cost_micros=2 * 10**6, reserve=True, hold_seconds=3600)

    later = timezone.now() + timedelta(minutes=5)
    assert reservations_release_expired(now=later) == 1
    assert reservations_release_expired(now=later) == 0
    budget.refresh_from_db()
    assert budget.reserved_micros == 2 * 10**6
    assert reservations_release.delay().get() == 0  # the beat task runs the same service


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="concurrent row locks need PostgreSQL; SQLite serialises every writer",
)
def test_20_threads_by_10_reservations_admit_exactly_as_many_as_fit():
    # given a hard budget that fits exactly K = 37 holds of $1
    employee = EmployeeFactory(user__email="eng@example.com")
    budget = hard_budget(employee, 37)
    key = api_key()
    barrier = Barrier(20)

    def client_thread(_):
        client = Client()
        barrier.wait()
        allowed = 0
        try:
            for _ in range(10):
                answer = call(
                    client, key, employee="eng@example.com", estimated_cost_usd="1", reserve=True
                ).json()
                allowed += answer["allowed"]
        finally:
            close_old_connections()
            connection.close()
        return allowed

    # when 20 threads each ask 10 times at once
    with ThreadPoolExecutor(20) as pool:
        admitted = sum(pool.map(client_thread, range(20)))

    # then exactly K are admitted, not one more, and the budget holds exactly that
    budget.refresh_from_db()
    assert admitted == 37
    assert budget.reserved_micros == 37 * 10**6
    assert Reservation.objects.filter(state=ReservationState.HELD).count() == 37


# The fast path: what one call costs, and that the races still admit exactly what fits.

# Queries of one call once the key and the company settings are cached. PostgreSQL: the
# employee with their candidate budgets (one statement), and with "reserve" the hold and its
# reservation in one statement (no BEGIN, no COMMIT, no lock). SQLite has no data-modifying
# WITH: the hold there is a transaction (a savepoint inside the test's) with the UPDATE, the
# INSERT and a re-read.
QUERIES = {"postgresql": {False: 1, True: 2}, "sqlite": {False: 1, True: 6}}


@pytest.mark.django_db
@pytest.mark.parametrize("reserve", [False, True], ids=["read", "reserve"])
def test_an_authorize_call_makes_the_queries_stated_and_none_after_the_answer(
    client, django_assert_num_queries, reserve
):
    employee = EmployeeFactory(user__email="eng@example.com", user__first_name="Ana")
    hard_budget(employee, 10)
    key = api_key()
    for _ in range(2):  # the key is looked up, its last use noted, then cached; settings too
        call(client, key, employee="eng@example.com", estimated_cost_usd="1")

    with django_assert_num_queries(QUERIES[connection.vendor][reserve]):
        answer = call(
            client, key, employee="ENG@example.com", estimated_cost_usd="1", reserve=reserve
        ).json()

    # the owner's name came with the employee: nothing is read once the hold is committed
    assert answer["allowed"] and answer["budget"]["owner"] == str(employee)
    assert answer["remaining_usd"] == "9.000000"
    assert (answer["reservation"] is not None) is reserve


@pytest.mark.django_db
def test_a_call_on_a_project_reads_the_membership_with_the_budgets(
    client, django_assert_num_queries
):
    from tests.factories import ProjectFactory

    employee = EmployeeFactory(user__email="eng@example.com")
    hard_budget(employee, 10)
    project = ProjectFactory(code="checkout")
    project.members.add(employee)
    on_project, _ = budget_create(fiscal_year=current_fiscal_year(), project=project)
    budget_allocate(budget=on_project, amount_micros=5 * 10**6, acting_user=None)
    key = api_key()
    body = {"employee": "eng@example.com", "estimated_cost_usd": "1", "project": "checkout"}
    call(client, key, **body)
    call(client, key, **body)

    with django_assert_num_queries(2):  # the project; the employee with the budgets
        answer = call(client, key, **body).json()

    assert answer["budget"]["kind"] == "project" and answer["budget"]["owner"] == str(project)
    project.members.remove(employee)
    assert call(client, key, **body).json()["budget"]["kind"] == "employee"


def race(calls_per_thread, body, threads=20):
    """`threads` clients, each with its own connection, sending `body` `calls_per_thread` times
    at once; the answers."""
    key = api_key()
    barrier = Barrier(threads)

    def client_thread(_):
        client = Client()
        barrier.wait()
        try:
            return [call(client, key, **body).json() for _ in range(calls_per_thread)]
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(threads) as pool:
        return [answer for answers in pool.map(client_thread, range(threads)) for answer in answers]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_20_threads_over_a_personal_budget_and_a_team_pool_fill_both_exactly():
    # given a personal hard budget with room for 13 holds of $1, then a hard team pool for 11
    employee = EmployeeFactory(user__email="eng@example.com")
    team = employee.team
    team.has_pool, team.pool_overflow = True, True
    team.save()
    personal = hard_budget(employee, 13)
    pool, _ = budget_create(fiscal_year=current_fiscal_year(), team=team)
    Budget.objects.filter(pk=pool.pk).update(enforcement=Enforcement.HARD)
    budget_allocate(budget=pool, amount_micros=11 * 10**6, acting_user=None)

    # when 20 threads ask 3 times each at once
    answers = race(3, {"employee": "eng@example.com", "estimated_cost_usd": "1", "reserve": True})

    # then 24 are admitted: the personal budget first, then the pool, neither past its limit
    personal.refresh_from_db()
    pool.refresh_from_db()
    assert sum(a["allowed"] for a in answers) == 24
    assert (personal.reserved_micros, pool.reserved_micros) == (13 * 10**6, 11 * 10**6)
    assert Reservation.objects.filter(budget=pool).count() == 11


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_20_threads_retrying_one_request_id_at_once_hold_once():
    employee = EmployeeFactory(user__email="eng@example.com")
    budget = hard_budget(employee, 100)

    body = {
        "employee": "eng@example.com",
        "estimated_cost_usd": "7",
        "reserve": True,
        "request_id": "litellm-call-1",
    }
    answers = race(2, body)

    budget.refresh_from_db()
    assert all(a["allowed"] for a in answers), answers
    assert len({a["reservation"]["id"] for a in answers}) == 1  # every retry gets the one hold
    assert budget.reserved_micros == 7 * 10**6
    assert Reservation.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("pool", ["none", "no-overflow", "overflow"])
@pytest.mark.parametrize("on_project", ["none", "member", "not-member"])
@pytest.mark.parametrize("key", ["email", "EMAIL", "external-id", "unknown", "no-budget"])
def test_the_one_statement_reads_what_the_orm_reads(pool, on_project, key):
    from budgets.authorize import _candidates
    from budgets.authorize_read import employee_and_candidates
    from people.selectors import employee_by_key
    from tests.factories import ProjectFactory

    # given an employee with a personal budget, maybe a pool, maybe a project, and a decoy
    employee = EmployeeFactory(user__email="Eng@example.com", external_id="EMP7")
    EmployeeFactory(user__email="emp7@example.com", team=employee.team)  # a decoy
    year = current_fiscal_year()
    if key != "no-budget":
        hard_budget(employee, 10)
    team = employee.team
    if pool != "none":
        team.has_pool, team.pool_overflow = True, pool == "overflow"
        team.save()
        budget_create(fiscal_year=year, team=team)
    project = None
    if on_project != "none":
        project = ProjectFactory()
        budget_create(fiscal_year=year, project=project)
        if on_project == "member":
            project.members.add(employee)
    budget_create(fiscal_year=year - 1, employee=employee)  # another year's: never a candidate
    name = {
        "email": "eng@example.com",
        "EMAIL": " ENG@EXAMPLE.COM ",
        "external-id": "EMP7",
        "unknown": "nobody@example.com",
        "no-budget": "eng@example.com",
    }[key]

    # when both read
    reading = employee_and_candidates(name, fiscal_year=year, project=project)
    found = employee_by_key(name)

    # then they agree: the same employee, the same budgets in the same order, owners attached
    if found is None:
        assert reading is None
        return
    assert reading.employee == found == employee
    assert reading.employee.user.email == "Eng@example.com"
    expected = _candidates(found, project, year, lock=False)
    assert [b.pk for b in reading.budgets] == [b.pk for b in expected]
    assert [str(b.owner) for b in reading.budgets] == [str(b.owner) for b in expected]
    assert [b.remaining_micros for b in reading.budgets] == [
        Budget.objects.get(pk=b.pk).remaining_micros for b in expected
    ]
