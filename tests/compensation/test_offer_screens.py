"""What HR and approvers read about an offer: its own number, the candidate, one message each
time, a withdrawal asked first, and a letter that is marked a draft until approved."""

from django.urls import reverse
from django.utils import timezone

from budgets.usage import usage_post
from compensation.models import Candidate, Offer, OfferState
from compensation.services import letter_generate, offer_submit
from tests.compensation.conftest import make_offer
from tests.compensation.test_letters import pdf_text
from tests.compensation.test_lifecycle import approved_offer
from tests.compensation.test_pages_and_admin import run_action


def an_offer_whose_number_differs_from_its_requests(org) -> Offer:
    # Two offers, the first submitted, so the second's request number is not the offer's.
    first = make_offer(org, email="first@example.com", name=("First", "Candidate"))
    offer_submit(offer=first, acting_user=org["hr"])
    make_offer(org, email="spare@example.com", name=("Spare", "Candidate"))
    offer = make_offer(org, email="grace@example.com", name=("Grace", "Brewster"))
    offer_submit(offer=offer, acting_user=org["hr"])
    offer.refresh_from_db()
    assert offer.approval_request_id != offer.pk
    return offer


def test_offer_n_is_the_offers_number_and_the_inbox_names_the_candidate(client, org):
    offer = an_offer_whose_number_differs_from_its_requests(org)
    request = offer.approval_request
    # then the request names the offer by the offer's number, and its own number apart
    assert str(request).startswith(f"Offer #{offer.pk} (request #{request.pk})")
    # and the approver's inbox says who the offer is for
    step = request.steps.get(index=request.current_step)
    client.force_login(step.approver.user if hasattr(step.approver, "user") else step.approver)
    content = client.get(reverse("approvals:inbox")).content.decode()
    assert "Grace Brewster" in content


def test_the_offer_list_says_pending_approval_once(client, org):
    offer = an_offer_whose_number_differs_from_its_requests(org)
    client.force_login(org["hr"])
    content = client.get(reverse("compensation:offers")).content.decode()
    assert "approval approval" not in " ".join(
        content.replace("</a>", " ").replace(">", "> ").split()
    )
    assert f"request #{offer.approval_request_id}" in content


def test_a_refused_move_names_its_offer_once(client, org):
    offer = an_offer_whose_number_differs_from_its_requests(org)
    client.force_login(org["hr"])
    page = run_action(client, "mark_sent", offer).content.decode()
    assert "it cannot be sent" in page
    assert f"Offer #{offer.pk}: Offer #{offer.pk}" not in page


def test_withdraw_asks_before_it_acts(client, org):
    offer = make_offer(org)
    client.force_login(org["hr"])
    # when HR picks Withdraw; then a page asks, and nothing is withdrawn yet
    page = run_action(client, "withdraw", offer)
    assert b"it cannot be undone" in page.content
    offer.refresh_from_db()
    assert offer.state == OfferState.DRAFT
    # when HR confirms; then it is withdrawn, with the reason in its history
    run_action(client, "withdraw", offer, apply="1", text="role closed")
    offer.refresh_from_db()
    assert offer.state == OfferState.WITHDRAWN


def test_a_letter_before_approval_is_a_marked_draft_and_the_approved_one_is_new(org):
    draft_offer = make_offer(org)
    draft = letter_generate(offer=draft_offer, acting_user=org["hr"])
    assert "Draft for review: not approved, not an offer" in pdf_text(draft)
    Candidate.objects.filter(email="ada@example.com").update(email="ada.old@example.com")
    offer = approved_offer(org)
    letter = letter_generate(offer=offer, acting_user=org["hr"])
    text = pdf_text(letter)
    assert "Draft for review" not in text
    # and the candidate has a block to accept and sign
    assert "Acceptance" in text and "Signature" in text and "Printed name" in text
    assert "I, Ada Lovelace, accept this offer" in text


def test_the_letter_counts_tokens_at_what_the_company_pays(org):
    # Given company usage of $1.56 for a million tokens in the last 90 days
    usage_post(
        employee=org["manager"],
        event_id="paid-rate",
        model_name="m",
        occurred_at=timezone.now(),
        input_tokens=1_000_000,
        output_tokens=0,
        cost_micros=1_560_000,
    )
    # When a letter is made for a $150,000 token budget
    text = pdf_text(letter_generate(offer=approved_offer(org), acting_user=org["hr"]))
    # Then it counts the tokens at that rate, says so, and still names the reference rate
    assert "96,153,846,153 tokens" in text
    assert "paid per token over the last 90 days" in text and "$1.56 per million tokens" in text
    assert "reference rate is $0.0001" in text
