"""Sign-in forms of the site and the admin."""

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from people.oidc import oidc_enabled, password_login_enabled


class UsernameLengthMixin:
    """A username longer than any account's is a failed sign-in, refused before it is checked.

    Django's AuthenticationForm shows the user model's max length on the field but does not
    enforce it, so the name went on to authenticate() and to the lockout's record of failures
    (django-axes, a varchar(255): a database error on PostgreSQL). It gets the same answer
    as a wrong password; no account can have that name, so there is nothing to lock.

    With ALLOT_PASSWORD_LOGIN false no password is checked at all, whatever the form posted."""

    def clean(self):
        if not password_login_enabled():
            raise forms.ValidationError(password_login_off_message(), code="password_login_off")
        username = self.cleaned_data.get("username")
        if username is not None and len(username) > self.username_field.max_length:
            raise self.get_invalid_login_error()
        return super().clean()


def password_login_off_message() -> str:
    if oidc_enabled():
        return f"Password sign-in is switched off here: sign in with {settings.ALLOT_OIDC_NAME}."
    return "Password sign-in is switched off here."


class SignInForm(UsernameLengthMixin, AuthenticationForm):
    pass


class AdminSignInForm(UsernameLengthMixin, AdminAuthenticationForm):
    pass
