"""HR's letter text runs in a sandbox: it cannot include, extend or load templates, so it can
neither reach the project's templates nor break every preview; a template is checked by
rendering a sample letter when it is saved, and one stored before that gives HR a message."""

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.urls import reverse

from common.errors import AllotError
from compensation.letter_engine import letter_body_check
from compensation.letters import default_body, letter_context, letter_html, letter_template
from compensation.models import OfferLetter, OfferLetterTemplate
from tests.compensation.conftest import make_offer

MISSING_INCLUDE = '{% include "no_such_template.html" %}'
PROJECT_INCLUDE = '<p>Hi</p>{% include "admin/base.html" %}'


def save_in_the_admin(client, org, body: str):
    client.force_login(org["hr"])
    return client.post(
        reverse("admin:compensation_offerlettertemplate_add"), {"name": "HR's own", "body": body}
    )


def test_a_template_including_a_missing_template_is_refused_on_save(client, org):
    # when HR saves a template that includes a template that does not exist
    page = save_in_the_admin(client, org, MISSING_INCLUDE)
    # then the form comes back with the reason on the body, and nothing is stored
    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert errors["body"] == [
        "Line 1: {% include %} is not allowed in a letter template: a letter cannot pull in "
        "another template."
    ]
    assert not OfferLetterTemplate.objects.filter(name="HR's own").exists()


def test_a_template_including_a_project_template_is_refused(db):
    with pytest.raises(ValidationError, match=r"\{% include %\} is not allowed"):
        OfferLetterTemplate(name="leaky", body=PROJECT_INCLUDE).full_clean()


@pytest.mark.parametrize(
    ("body", "tag"),
    [
        ('{% extends "admin/base.html" %}', "extends"),
        ("{% load allot_money %}{{ 5|usd }}", "load"),
        ("{% load static %}", "load"),
        ("<p>{% debug %}</p>", "debug"),
        ('{% ssi "/etc/passwd" %}', "ssi"),
        ('<a href="{% url "admin:index" %}">x</a>', "url"),
        ("{% block letter %}x{% endblock %}", "block"),
    ],
)
def test_tags_that_reach_other_templates_or_the_project_are_refused_by_name(db, body, tag):
    with pytest.raises(ValidationError) as refused:
        OfferLetterTemplate(name="reaching", body=body).full_clean()
    assert refused.value.message_dict["body"][0].startswith(
        f"Line 1: {{% {tag} %}} is not allowed in a letter template"
    )


def test_a_template_that_fails_when_rendered_is_refused_on_save(db):
    # given a template that parses but cannot render a letter (a line is not two values)
    body = "{% for label, amount in lines %}{{ label }}{% endfor %}"
    # then saving it is refused with the error, not stored to break every preview later
    with pytest.raises(ValidationError, match="does not render"):
        OfferLetterTemplate(name="unpacks", body=body).full_clean()


def test_a_valid_template_renders_the_same_letter_as_before(org):
    # given the built-in text, saved by HR (so checked), and an offer
    template = OfferLetterTemplate(name="Standard copy", body=default_body())
    template.full_clean()
    template.save()
    offer = make_offer(org)
    context = letter_context(offer)
    # when the letter is made from it
    html = letter_html(offer, template, context)
    # then its body is what Django's own engine made of the same text, character for character
    assert Template(default_body()).render(Context(context, autoescape=True)) in html


def stored_bad_template(body: str) -> OfferLetterTemplate:
    """A template saved before the checks (or past them, straight into the table)."""
    template = letter_template()
    OfferLetterTemplate.objects.filter(pk=template.pk).update(body=body)
    template.refresh_from_db()
    return template


@pytest.mark.parametrize("body", [MISSING_INCLUDE, PROJECT_INCLUDE])
def test_a_stored_bad_template_gives_hr_a_clear_message_on_preview_not_a_500(client, org, body):
    # given a template stored before the checks, and an offer
    stored_bad_template(body)
    offer = make_offer(org)
    client.force_login(org["hr"])
    # when HR previews the letter
    page = client.get(reverse("admin:compensation_offer_letter_preview", args=[offer.pk]))
    # then HR is back on the offer with a message naming the template and what is wrong
    assert page.status_code == 302
    assert page.url == reverse("admin:compensation_offer_change", args=[offer.pk])
    shown = [str(message) for message in get_messages(page.wsgi_request)]
    assert shown == [
        "The letter template “Standard offer letter” cannot make a letter: Line 1: "
        "{% include %} is not allowed in a letter template: a letter cannot pull in another "
        "template. Correct it under Offer letter templates."
    ]


def test_a_stored_bad_template_stops_letter_generation_with_a_message(client, org):
    # given a template stored before the checks that fails when rendered
    stored_bad_template("{% for label, amount in lines %}{{ label }}{% endfor %}")
    offer = make_offer(org)
    client.force_login(org["hr"])
    # when HR generates the letter from the offers list
    page = client.post(
        reverse("admin:compensation_offer_changelist"),
        {"action": "generate_letter", "_selected_action": [offer.pk]},
        follow=True,
    )
    # then the list says why, and no letter is stored
    assert page.status_code == 200
    assert "cannot make a letter: The template does not render" in page.content.decode()
    assert not OfferLetter.objects.exists()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{% lorem 2000000 w %}", "lorem"),
        ('{{ "x"|ljust:"2000000000" }}', "ljust"),
        ('{{ 1|stringformat:"0999999999d" }}', "stringformat"),
        (
            '{% for a in "0123456789" %}{% for b in "0123456789" %}{% for c in "0123456789" %}'
            "{% endfor %}{% endfor %}{% endfor %}",
            "more than 200 items",
        ),
        ("x" * 50_001, "at most 50,000 characters"),
    ],
)
def test_a_letter_template_cannot_hold_a_worker_or_fill_its_memory(body, why):
    with pytest.raises(AllotError, match=why):
        letter_body_check(body)


def test_a_letter_may_still_loop_over_its_lines():
    letter_body_check(
        "{% for line in lines %}{{ line.label|upper }}: {{ line.amount }}{% endfor %}"
    )
