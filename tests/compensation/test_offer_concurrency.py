"""An offer withdrawn at the moment its approval is decided, on PostgreSQL: one wins, no
deadlock (both take the approval request's lock before the offer's)."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import close_old_connections, connection

from approvals.models import RequestState
from approvals.services import request_decide
from common.errors import AllotError
from compensation.models import Offer, OfferState
from compensation.services import offer_submit, offer_withdraw
from tests.compensation.conftest import make_offer

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks and concurrent writers need PostgreSQL; SQLite serialises writers",
    ),
]


def test_withdrawing_while_the_approval_is_decided_never_deadlocks(org):
    for n in range(8):
        # given an offer waiting for its hiring manager's approval
        offer = make_offer(org, email=f"cand{n}@example.com")
        request = offer_submit(offer=offer, acting_user=org["hr"])
        barrier = Barrier(2)

        def approve(_, request=request):
            request_decide(request=request, user=org["manager"].user, approve=True)

        def withdraw(_, offer=offer):
            offer_withdraw(offer=offer, acting_user=org["hr"], reason="role closed")

        def run(task, barrier=barrier):
            barrier.wait()
            try:
                task(None)
                return None
            except Exception as error:  # noqa: BLE001 - the test reports what went wrong
                return error
            finally:
                close_old_connections()
                connection.close()

        # when HR withdraws it at the moment the manager approves
        with ThreadPoolExecutor(2) as pool:
            errors = list(pool.map(run, [approve, withdraw]))

        # then the withdrawal went through, and the approval either came first or was told
        # clearly that it came too late: never a deadlock or another database error
        approval_error, withdraw_error = errors
        assert withdraw_error is None, withdraw_error
        assert approval_error is None or isinstance(approval_error, AllotError), approval_error
        offer.refresh_from_db()
        request.refresh_from_db()
        assert offer.state == OfferState.WITHDRAWN
        expected = RequestState.APPROVED if approval_error is None else RequestState.WITHDRAWN
        assert request.state == expected
        assert Offer.objects.filter(pk=offer.pk, employee__isnull=True).exists()
