"""The sign-in pages: the password form (while ALLOT_PASSWORD_LOGIN is true), the single sign-on
button and its refusal page, and the password pages that only make sense with passwords."""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from people.forms import SignInForm, password_login_off_message
from people.oidc import (
    AMBIGUOUS,
    EMAIL_UNVERIFIED,
    NOT_AN_EMPLOYEE,
    REFUSAL_SESSION_KEY,
    oidc_enabled,
    password_login_enabled,
)


def sign_in_options(request: HttpRequest) -> dict:
    """For the sign-in pages (ours and the admin's): which ways in are offered."""
    return {
        "sso_enabled": oidc_enabled(),
        "sso_name": settings.ALLOT_OIDC_NAME,
        "password_login": password_login_enabled(),
    }


class SignInView(auth_views.LoginView):
    authentication_form = SignInForm

    def post(self, request, *args, **kwargs):
        if not password_login_enabled():
            return password_login_off(request)
        return super().post(request, *args, **kwargs)


def password_login_off(request: HttpRequest) -> HttpResponse:
    context = {"message": password_login_off_message(), **sign_in_options(request)}
    return render(request, "registration/password_login_off.html", context, status=403)


def needs_password_login(view: Callable) -> Callable:
    """The password reset and change pages, refused while local passwords are switched off."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not password_login_enabled():
            return password_login_off(request)
        return view(request, *args, **kwargs)

    return wrapped


class SignOnStartView(OIDCAuthenticationRequestView):
    """ "Sign in with ...": off (404) until the provider is configured."""

    def get(self, request):
        if not oidc_enabled():
            raise Http404("Single sign-on is not configured.")
        request.session.pop(REFUSAL_SESSION_KEY, None)
        return super().get(request)


class SignOnCallbackView(OIDCAuthenticationCallbackView):
    def get(self, request):
        if not oidc_enabled():
            raise Http404("Single sign-on is not configured.")
        return super().get(request)

    def login_failure(self):
        return HttpResponseRedirect(reverse("sign-on-refused"))


REFUSALS = {
    NOT_AN_EMPLOYEE: (
        "Not an employee here",
        "{email} signed in at the identity provider, but no active employee in Allot has that "
        "email. Allot only lets in the people HR has added; ask HR if you should be one.",
    ),
    EMAIL_UNVERIFIED: (
        "Email not verified",
        "The identity provider did not say that {email} is a verified email, and Allot only "
        "matches people by a verified one. Ask your IT administrator.",
    ),
    AMBIGUOUS: (
        "More than one account",
        "More than one sign-in in Allot has the email {email}, so Allot cannot tell which is "
        "yours. Ask HR to correct it.",
    ),
}
FAILED = (
    "Single sign-on did not finish",
    "The identity provider did not sign you in (it refused, the sign-in was cancelled or took "
    "too long). Try again.",
)


def sign_on_refused(request: HttpRequest) -> HttpResponse:
    refusal = request.session.get(REFUSAL_SESSION_KEY) or {}
    title, text = REFUSALS.get(refusal.get("reason"), FAILED)
    context = {
        "title": title,
        "text": text.format(email=refusal.get("email") or "Your account"),
        "reason": refusal.get("reason") or "failed",
        **sign_in_options(request),
    }
    return render(request, "registration/sign_on_refused.html", context, status=403)
