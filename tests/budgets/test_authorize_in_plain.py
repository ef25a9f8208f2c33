"""The plain shape's own validation (authorize's hot path) gives exactly what AuthorizeIn
gives, or leaves the call to AuthorizeIn: never a value of its own, never a pass where
AuthorizeIn fails."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

# Through the API module, as a request reaches them (common.api is DRF's parser setting, so
# importing the serializers alone first would import it half-way).
from budgets.apis import s as serializers

AuthorizeIn, authorize_in_plain = serializers.AuthorizeIn, serializers.authorize_in_plain

TEXT = st.one_of(
    st.text(max_size=120),
    st.sampled_from(["eng@example.com", " eng@example.com", "EMP00042", "", "a\x00b", "\ud800"]),
    st.integers(),
    st.booleans(),
    st.none(),
)
DOLLARS = st.one_of(
    st.sampled_from(
        ["0", "0.05", "1.25", "01", "1.", ".5", "1e3", "-1", "1,000", "1000000000", "1000000000.1"]
    ),
    st.from_regex(r"[0-9]{1,11}(\.[0-9]{0,8})?", fullmatch=True),
    st.integers(min_value=-5, max_value=2 * 10**9),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
BODY = st.fixed_dictionaries(
    {},
    optional={
        "employee": TEXT,
        "estimated_cost_usd": DOLLARS,
        "reserve": st.one_of(st.booleans(), st.sampled_from(["true", 1, 0, None, "yes"])),
        "request_id": st.one_of(TEXT, st.text(min_size=99, max_size=102)),
        "project": TEXT,
        "model": st.sampled_from(["m"]),
        "input_tokens": st.integers(min_value=-1, max_value=10),
        "extra": st.none(),
    },
)


def validated(body):
    try:
        return AuthorizeIn().run_validation(body)
    except ValidationError:
        return None


@settings(max_examples=400, deadline=None)
@given(BODY)
def test_the_plain_shape_validates_as_the_serializer_does(body):
    plain = authorize_in_plain(body)

    if plain is not None:
        assert plain == dict(validated(body))
        assert str(plain["estimated_cost_usd"]) == str(validated(body)["estimated_cost_usd"])


PLAIN_BODY = st.fixed_dictionaries(
    {
        "employee": st.one_of(st.from_regex(r"[a-z0-9@.]{1,20}", fullmatch=True), TEXT),
        "estimated_cost_usd": st.one_of(
            st.from_regex(r"[0-9]{1,10}(\.[0-9]{1,7})?", fullmatch=True), DOLLARS
        ),
    },
    optional={
        "reserve": st.booleans(),
        "request_id": st.one_of(st.text(min_size=1, max_size=101), TEXT),
        "project": st.from_regex(r" ?[a-z-]{0,8} ?", fullmatch=True),
    },
)


@settings(max_examples=400, deadline=None)
@given(PLAIN_BODY)
def test_near_the_plain_shape_it_takes_what_fits_and_leaves_the_rest(body):
    plain = authorize_in_plain(body)

    if plain is not None:
        assert plain == dict(validated(body))
    elif validated(body) is not None:  # left to AuthorizeIn: only for what is not plain
        assert not (
            type(body["employee"]) is str
            and body["employee"] == body["employee"].strip()
            and type(body["estimated_cost_usd"]) is str
            and serializers.PLAIN_DOLLARS.fullmatch(body["estimated_cost_usd"])
            and all(
                type(body[k]) is str and body[k] == body[k].strip() and body[k]
                for k in ("request_id", "project")
                if k in body
            )
            and "\x00" not in str(body)
        )


@pytest.mark.parametrize(
    "body",
    [
        {"employee": "eng@example.com", "estimated_cost_usd": "0.05"},
        {"employee": "eng@example.com", "estimated_cost_usd": "1000000000", "reserve": True},
        {"employee": "E1", "estimated_cost_usd": "0", "request_id": "x" * 100, "project": "p"},
    ],
)
def test_what_a_gateway_sends_is_taken_by_the_plain_shape(body):
    assert authorize_in_plain(body) == dict(AuthorizeIn().run_validation(body))
