"""The sandbox HR's letter text runs in: a Django template Engine of its own, with no template
folders, no app templates, no loader at all, and only the tags and filters a letter needs. It
cannot include, extend or load anything, so a letter can neither reach the project's templates
nor fail on a template that does not exist. A tag it refuses is named in the error, with why.

Rendering HR's text raises AllotError (field "body") with a message HR can act on, never
anything else: the admin shows it on the template's field when HR saves, and on the offer when a
letter made from a template stored before these checks cannot be rendered."""

import logging
from datetime import date
from decimal import Decimal

from django.template import (
    Context,
    Engine,
    Library,
    Template,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
)

from common.errors import AllotError
from common.pdf import css_string
from compensation.templatetags import allot_money

logger = logging.getLogger(__name__)

# Django's own tags a letter may use: logic and text only.
LETTER_TAGS = (
    "autoescape",
    "comment",
    "cycle",
    "filter",
    "firstof",
    "for",
    "if",
    "ifchanged",
    "now",
    "regroup",
    "resetcycle",
    "spaceless",
    "templatetag",
    "verbatim",
    "widthratio",
    "with",
)
# Tags refused by name, with the reason HR reads.
REFUSED_TAGS = {
    "include": "a letter cannot pull in another template",
    "extends": "a letter cannot build on another template",
    "block": "blocks belong to templates that extend others, which letters cannot",
    "load": "a letter cannot load tag libraries",
    "ssi": "a letter cannot read files",
    "debug": "it would print everything the letter can see",
    "url": "a letter cannot look up the project's addresses",
    "csrf_token": "a letter is not a web form",  # nosec B105: a tag's name, not a password
    "querystring": "a letter is not a web page",
    "lorem": "it writes placeholder text of any length",
}
# Django's filters a letter may use: text and dates, each bounded by what it is given. Left out:
# those that build text as long as an argument asks (ljust, rjust, center, stringformat,
# floatformat) and those that reach the project or turn text into markup (safe, pprint, ...).
LETTER_FILTERS = (
    "add",
    "capfirst",
    "cut",
    "date",
    "default",
    "default_if_none",
    "divisibleby",
    "escape",
    "first",
    "force_escape",
    "join",
    "last",
    "length",
    "linebreaks",
    "linebreaksbr",
    "lower",
    "pluralize",
    "slice",
    "time",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
    "wordcount",
    "yesno",
)
# A letter is a page or two: HR's text, every loop's items together and the letter it makes are
# bounded, so no text can hold a worker for long or fill its memory.
MAX_BODY_CHARS = 50_000
MAX_LOOP_ITEMS = 200  # a letter's lines are about ten
MAX_LETTER_CHARS = 1_000_000


class RefusedTagError(TemplateSyntaxError):
    """A tag a letter may not use."""


class LetterTooLarge(Exception):
    """A letter template that would make more than a letter."""


def _refused(name: str, reason: str):
    def compile_refused(parser, token):
        raise RefusedTagError(f"{{% {name} %}} is not allowed in a letter template: {reason}.")

    return compile_refused


class _CountedItems:
    """A for loop's sequence that counts its items against the letter's loop budget (nested
    loops add up: their inner sequence is resolved once per outer item)."""

    def __init__(self, sequence):
        self.sequence = sequence

    def resolve(self, context, ignore_failures=False):
        values = self.sequence.resolve(context, ignore_failures=ignore_failures)
        values = list(values) if values is not None and not hasattr(values, "__len__") else values
        counted = context.render_context.get("letter_loop_items", 0) + len(values or ())
        if counted > MAX_LOOP_ITEMS:
            raise LetterTooLarge(f"its loops go over more than {MAX_LOOP_ITEMS:,} items")
        context.render_context["letter_loop_items"] = counted
        return values


def _bounded_for(parser, token):
    node = defaulttags.do_for(parser, token)
    node.sequence = _CountedItems(node.sequence)
    return node


register = Library()
for _name in LETTER_TAGS:
    register.tag(_name, defaulttags.register.tags[_name])
register.tag("for", _bounded_for)
for _name, _reason in REFUSED_TAGS.items():
    register.tag(_name, _refused(_name, _reason))
for _name in LETTER_FILTERS:
    register.filter(_name, defaultfilters.register.filters[_name])
register.filters.update(allot_money.register.filters)  # usd


class LetterEngine(Engine):
    # Not even Django's default builtins: those bring include, extends and block.
    default_builtins: list[str] = []


LETTER_ENGINE = LetterEngine(
    dirs=[],
    app_dirs=False,
    loaders=[],  # nothing to find: no file, no app template, no string held anywhere
    libraries={},
    builtins=[__name__],  # this module's `register`, above
    autoescape=True,
    debug=False,
    string_if_invalid="",
)


def letter_body_template(body: str) -> Template:
    """HR's text compiled in the sandbox, or AllotError saying what is wrong and where."""
    if len(body) > MAX_BODY_CHARS:
        raise AllotError(
            f"A letter template holds at most {MAX_BODY_CHARS:,} characters.", field="body"
        )
    try:
        return LETTER_ENGINE.from_string(body)
    except RefusedTagError as exc:
        token = getattr(exc, "token", None)
        where = f"Line {token.lineno}: " if token is not None else ""
        raise AllotError(f"{where}{exc}", field="body", code="refused_tag") from exc
    except TemplateSyntaxError as exc:
        raise AllotError(f"The template does not parse: {exc}", field="body") from exc


def letter_body_render(body: str, context: dict) -> str:
    """HR's text rendered with a letter's plain-values context, autoescaped."""
    template = letter_body_template(body)
    try:
        letter = template.render(Context(context, autoescape=True))
    except LetterTooLarge as exc:
        raise AllotError(f"The template makes more than a letter: {exc}.", field="body") from exc
    # HR's text is free to do anything a template can (unpack a line into two names, say), so
    # whatever it raises is a fault of the text, told to HR rather than a 500.
    except Exception as exc:
        logger.warning("letter_body_render: the template failed: %s", type(exc).__name__)
        raise AllotError(f"The template does not render: {exc}", field="body") from exc
    if len(letter) > MAX_LETTER_CHARS:
        raise AllotError(
            f"The template makes more than a letter: over {MAX_LETTER_CHARS:,} characters.",
            field="body",
        )
    return letter


def letter_body_check(body: str) -> None:
    """Render a sample letter with HR's text: AllotError if it would not make a letter."""
    letter_body_render(body, sample_letter_context())


def sample_letter_context() -> dict:
    """A letter's context as compensation.letters.letter_context makes it (the same keys, the
    same kinds of plain values), for a made-up offer: what HR's text is checked against."""
    return {
        "allocation_sentence": "It is set by your level's band.",
        "candidate": {
            "first_name": "Sam",
            "last_name": "Sample",
            "full_name": "Sam Sample",
            "email": "sam.sample@example.com",
        },
        "offer": {
            "position_title": "Senior Software Engineer",
            "level": "senior",
            "team": "Platform",
            "start_date": date(2027, 1, 4),
            "stock_option_count": 4_000,
            "get_health_plan_display": "Standard",
            "get_remote_policy_display": "Hybrid",
            "response_deadline": date(2026, 12, 18),
        },
        "css_company": css_string("Example Corp"),
        "css_candidate": css_string("Offer letter · Sam Sample"),
        "hiring_manager": "Alex Manager",
        "company": "Example Corp",
        "lines": [
            {"key": "base_salary", "label": "Base salary", "amount": "$190,000.00", "note": ""},
            {
                "key": "token_budget",
                "label": "Annual token budget",
                "amount": "$150,000.00",
                "note": "1,500,000,000 tokens at the reference rate",
            },
        ],
        "total": "$340,000.00",
        "currency": "USD",
        "currency_sentence": "",
        "strike_price": "$12.50",
        "stock_options": "4,000",
        "token_budget": "$150,000.00",  # nosec B105: a sample amount, not a password
        "token_budget_dollars": Decimal("150000"),
        "tokens_at_reference_rate": "1,500,000,000",
        "reference_rate": "$0.0001",
        "tokens_at_paid_rate": "96,153,846,153",
        "paid_rate": "$1.56 per million tokens",
        "paid_rate_basis": "what Example Corp paid per token over the last 90 days",
        "token_purpose": "The budget pays for AI tokens.",  # nosec B105: a sample sentence
        "carryover_sentence": "Unused budget does not carry over.",
        "trade_sentence": "",
        "first_year_sentence": "",
        "response_deadline": date(2026, 12, 18),
        "today": date(2026, 12, 4),
        "is_draft": True,
    }
