"""The offer letter: HR's template from the database, the PDF's text, and letters kept as sent."""

import io

import pytest
from pypdf import PdfReader

from approvals.services import request_decide
from compensation.letters import carryover_sentence, letter_template
from compensation.models import LetterImmutableError, OfferLetter, OfferLetterTemplate
from compensation.services import (
    letter_generate,
    offer_counter_record,
    offer_save,
    offer_send,
    offer_submit,
)
from people.models import CompanySettings
from tests.compensation.conftest import K, make_offer
from tests.compensation.test_lifecycle import approved_offer, sent_offer


def pdf_text(letter: OfferLetter) -> str:
    reader = PdfReader(io.BytesIO(bytes(letter.pdf)))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def test_the_letter_pdf_lists_the_name_base_salary_and_token_budget_in_dollars_and_tokens(org):
    # given the company's reference rate of $0.0001 per token and a sent offer
    offer = sent_offer(org)
    letter = offer.rounds.get(number=1).sent_letter
    text = pdf_text(letter)
    # then the PDF names the candidate and lists the base salary and the token budget both ways
    assert "Ada Lovelace" in text
    assert "Dear Ada" in text
    assert "$190,000.00" in text
    assert "$150,000.00" in text
    assert "1,500,000,000 tokens" in text
    assert "4,000 options at a strike price of $12.50" in text
    assert "401(k)" not in text  # a $0 line is left out of the letter
    # with the sentence on what the budget is for and the company's carryover policy
    assert "pays for AI tokens" in text
    assert "50% of your unused budget carries over" in text
    assert "expires after 3 months" in text


def test_carryover_sentence_follows_the_company_policy(db):
    settings_row = CompanySettings(
        carryover_share_percent=25, carryover_cap_micros=10_000 * K, carryover_expiry_months=0
    )
    assert carryover_sentence(settings_row) == (
        "At the end of each fiscal year, 25% of your unused budget carries over to the next "
        "year, up to $10,000.00. The rest is forfeited, so the budget is meant to be used."
    )
    assert "does not carry over" in carryover_sentence(CompanySettings(carryover_share_percent=0))


def test_the_letter_comes_from_the_template_hr_edits(org):
    template = letter_template()
    assert template.is_default and "token budget" in template.body
    OfferLetterTemplate.objects.filter(pk=template.pk).update(
        body="<p>Welcome {{ candidate.first_name }}: {{ token_budget }} / "
        "{{ tokens_at_reference_rate }} tokens.</p>"
    )
    offer = approved_offer(org)
    letter = letter_generate(offer=offer, acting_user=org["hr"])
    assert "Welcome Ada: $150,000.00 / 1,500,000,000 tokens." in pdf_text(letter)


def test_a_template_that_does_not_parse_is_refused(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="does not parse"):
        OfferLetterTemplate(name="broken", body="{% if %}").full_clean()


def test_a_sent_letter_never_changes_and_a_new_round_makes_a_new_letter(org):
    # given a sent offer and its stored letter
    offer = sent_offer(org)
    first = offer.rounds.get(number=1).sent_letter
    first_pdf, first_hash = bytes(first.pdf), first.sha256
    # generating again for the same package gives the same letter
    assert letter_generate(offer=offer, acting_user=org["hr"]).pk == first.pk
    # a letter cannot be edited or deleted
    first.html = "changed"
    with pytest.raises(LetterImmutableError):
        first.save()
    with pytest.raises(LetterImmutableError):
        first.delete()
    # when the candidate counters and a better round is approved and sent
    offer_counter_record(offer=offer, acting_user=org["hr"], candidate_ask="$200k base")
    offer.refresh_from_db()
    offer.base_salary_micros = 200_000 * K
    offer_save(offer=offer, acting_user=org["hr"])
    request = offer_submit(offer=offer, acting_user=org["hr"], reason="matches the market")
    request_decide(request=request, user=org["manager"].user, approve=True)
    offer_send(offer=offer, acting_user=org["hr"])
    # then round 2 has its own letter and round 1's is byte for byte what was sent
    second = offer.rounds.get(number=2).sent_letter
    assert second.pk != first.pk and "$200,000.00" in pdf_text(second)
    first = OfferLetter.objects.get(pk=first.pk)
    assert bytes(first.pdf) == first_pdf and first.sha256 == first_hash
    assert "$190,000.00" in pdf_text(first)


def test_no_letter_for_a_closed_offer(org):
    from common.errors import AllotError
    from compensation.services import offer_withdraw

    offer = make_offer(org)
    offer_withdraw(offer=offer, acting_user=org["hr"])
    with pytest.raises(AllotError, match="closed"):
        letter_generate(offer=offer, acting_user=org["hr"])


def test_the_letter_names_the_allocation_basis_and_project(org):
    from tests.factories import ProjectFactory

    project = ProjectFactory(name="Search rewrite")
    offer = approved_offer(org, allocation_basis="project", allocation_project=project)
    text = pdf_text(letter_generate(offer=offer, acting_user=org["hr"]))
    assert "expected impact on the Search rewrite project" in text


def test_hr_restores_the_built_in_text_and_one_template_is_the_default(client, org):
    from django.urls import reverse

    template = letter_template()
    OfferLetterTemplate.objects.filter(pk=template.pk).update(body="<p>short</p>")
    client.force_login(org["hr"])
    client.post(
        reverse("admin:compensation_offerlettertemplate_changelist"),
        {"action": "restore_built_in_text", "_selected_action": [template.pk]},
    )
    template.refresh_from_db()
    assert "annual token budget" in template.body
    assert template.history.first().body == template.body  # the change is in the history
    page = client.post(
        reverse("admin:compensation_offerlettertemplate_add"),
        {"name": "Second", "body": "<p>x</p>", "is_default": "on"},
    )
    assert "Another template is the default" in page.content.decode()


def test_a_letter_template_can_neither_read_files_nor_reach_model_internals(org):
    """Found by review (issue 8): HR's template went to WeasyPrint with its default fetcher
    (file:// and any host) and was rendered with model instances in its context."""
    template = letter_template()
    OfferLetterTemplate.objects.filter(pk=template.pk).update(
        body="<p>Hi {{ candidate.first_name }} [{{ offer.hiring_manager.user.password }}]"
        '[{{ candidate.pk }}]</p><a rel="attachment" href="file:///etc/hostname">x</a>'
        '<img src="file:///etc/passwd"><img src="http://127.0.0.1:5432/">'
    )
    offer = approved_offer(org)

    letter = letter_generate(offer=offer, acting_user=org["hr"])

    reader = PdfReader(io.BytesIO(bytes(letter.pdf)))
    assert reader.attachments == {}
    assert "Hi Ada [][]" in pdf_text(letter)
    assert "pbkdf2" not in letter.html and "md5$" not in letter.html


def test_a_draft_letter_is_not_reused_once_what_it_prints_has_changed(org):
    # given a letter generated in draft, with its response deadline already set
    from datetime import timedelta

    from people.selectors import company_today
    from tests.factories import EmployeeFactory

    offer = make_offer(org, response_deadline=company_today() + timedelta(days=7))
    draft = letter_generate(offer=offer, acting_user=org["hr"])
    assert org["manager"].display_name in draft.html
    assert letter_generate(offer=offer, acting_user=org["hr"]).pk == draft.pk  # nothing changed
    # when HR changes only the hiring manager (not part of the package)
    grace = EmployeeFactory(
        user__first_name="Grace", user__last_name="Hopper", manager=org["director"]
    )
    offer.refresh_from_db()
    offer.hiring_manager = grace
    offer_save(offer=offer, acting_user=org["hr"])
    # then the next letter is a new one, naming who the new hire will report to
    again = letter_generate(offer=offer, acting_user=org["hr"])
    assert again.pk != draft.pk
    assert "Grace Hopper" in again.html and org["manager"].display_name not in again.html
