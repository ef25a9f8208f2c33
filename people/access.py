"""The one page decorator for role-only pages: sign-in first (anonymous visitors go to the login
page), then one of the roles (or a superuser), else a 403 with the page's own reason."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from people.roles import has_role


def role_required(*roles: str, denied: str):
    def decorate(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not has_role(request.user, *roles):
                raise PermissionDenied(denied)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
