"""The letters' template engine on its own: it finds no template anywhere, keeps the tags and
filters a letter uses, and checks HR's text against a context shaped like a real letter's."""

from datetime import date

import pytest
from django.template import TemplateDoesNotExist

from compensation.letter_engine import LETTER_ENGINE, letter_body_render, sample_letter_context
from compensation.letters import default_body, letter_context
from tests.compensation.conftest import make_offer


def shape(value):
    """Keys and kinds of a context, not its values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_the_sample_checked_on_save_is_shaped_like_a_real_letters_context(org):
    offer = make_offer(org, response_deadline=date(2026, 12, 18))
    assert shape(sample_letter_context()) == shape(letter_context(offer))


@pytest.mark.parametrize("name", ["admin/base.html", "compensation/pdf/letter.html", "/etc/passwd"])
def test_the_engine_finds_no_template_of_the_project_nor_any_file(name):
    with pytest.raises(TemplateDoesNotExist):
        LETTER_ENGINE.get_template(name)


def test_the_built_in_letter_and_the_money_filter_render_without_loading_anything():
    html = letter_body_render(default_body(), sample_letter_context())
    assert "Dear Sam," in html and "1,500,000,000 tokens" in html
    assert letter_body_render("{{ budget|usd }}", {"budget": 150_000 * 10**6}) == "$150,000.00"
    assert letter_body_render("{{ name }}", {"name": "<b>"}) == "&lt;b&gt;"  # autoescaped
