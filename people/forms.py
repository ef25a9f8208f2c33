"""Sign-in forms of the site and the admin."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm


class UsernameLengthMixin:
    """A username longer than any account's is a failed sign-in, refused before it is checked.

    Django's AuthenticationForm shows the user model's max length on the field but does not
    enforce it, so the name went on to authenticate() and to the lockout's record of failures
    (django-axes, a varchar(255): a database error on PostgreSQL). It gets the same answer
    as a wrong password; no account can have that name, so there is nothing to lock."""

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is not None and len(username) > self.username_field.max_length:
            raise self.get_invalid_login_error()
        return super().clean()


class SignInForm(UsernameLengthMixin, AuthenticationForm):
    pass


class AdminSignInForm(UsernameLengthMixin, AdminAuthenticationForm):
    pass
