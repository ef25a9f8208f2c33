"""The bearer token check for /scim/v2/ (django-scim2's AUTH_CHECK_MIDDLEWARE setting): only a
live token lets a call in, whoever's session cookie comes with it. The request then acts as the
token's creator (the audit trail's user) and carries the token (its name is the reason)."""

import hmac
import json
from datetime import timedelta

from django.http import HttpResponse
from django.utils import timezone
from django_scim import constants

from provisioning.models import ScimToken, token_digest

# last_used_at is for the admin's list ("is this token still in use?"): a minute is enough.
LAST_USED_EVERY = timedelta(minutes=1)


def unauthorized(detail: str) -> HttpResponse:
    body = {"schemas": [constants.SchemaURI.ERROR], "status": "401", "detail": detail}
    response = HttpResponse(json.dumps(body), status=401, content_type=constants.SCIM_CONTENT_TYPE)
    response["WWW-Authenticate"] = 'Bearer realm="allot-scim"'
    return response


def token_of(request) -> ScimToken | None:
    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    digest = token_digest(raw.strip())
    token = (
        ScimToken.objects.select_related("created_by").filter(digest=digest, revoked=False).first()
    )
    if token is None or not hmac.compare_digest(token.digest, digest):
        return None
    if not (token.created_by.is_active and token.created_by.is_superuser):
        return None  # a token lives no longer than its creator's right to make one
    return token


class ScimTokenAuth:
    """Wraps each SCIM view (django-scim2 applies it as a decorator to dispatch)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request, *args, **kwargs):
        token = token_of(request)
        if token is None:
            return unauthorized("A valid SCIM bearer token is required.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
            ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
        request.user = token.created_by
        request.scim_token = token
        return self.get_response(request, *args, **kwargs)
