"""The offer letter fits one Letter page: the body, the closing and the acceptance with its
signature lines together, for each of the demo offers (compensation/demo.py), the sent one and
the drafts with their banner and the traded one with its extra sentence."""

import io

import pytest
from pypdf import PdfReader

from compensation.demo import offers_demo_seed
from compensation.letters import letter_html, letter_pdf
from compensation.models import Offer
from tests.factories import EmployeeFactory, hr_user


@pytest.fixture
def demo_offers(db):
    director = EmployeeFactory(user__email="director@example.com")
    manager = EmployeeFactory(
        user__email="manager@example.com", manager=director, team__name="Platform"
    )
    manager.team.lead = manager
    manager.team.save()
    hr_user(username="hr@example.com", email="hr@example.com")
    offers_demo_seed()
    return Offer.objects.select_related("candidate").order_by("pk")


def page_texts(pdf: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(pdf))
    return [" ".join((page.extract_text() or "").split()) for page in reader.pages]


def test_every_demo_offer_letter_is_one_page_with_its_closing_and_signature_block(demo_offers):
    # given the four demo offers: a draft, one waiting, one sent, one countered and traded
    assert demo_offers.count() == 4
    for offer in demo_offers:
        # when its letter is rendered to PDF
        pages = page_texts(letter_pdf(letter_html(offer)))
        # then it is one page, and that page has the body, the closing and the acceptance
        assert len(pages) == 1, f"{offer.candidate}: {len(pages)} pages"
        last = pages[-1]
        name = f"{offer.candidate.first_name} {offer.candidate.last_name}"
        assert f"Dear {offer.candidate.first_name}" in last
        assert "We look forward to working with you." in last
        assert f"I, {name}, accept this offer of employment" in last
        assert "Signature" in last and "Printed name" in last and "Date" in last
        assert last.index("We look forward") < last.index("Acceptance") < last.index("Signature")
