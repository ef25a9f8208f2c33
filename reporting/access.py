"""Who may see finance reports: Finance and superusers, nobody else (checked on every view)."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from people.roles import FINANCE, has_role


def user_can_see_reports(user) -> bool:
    return has_role(user, FINANCE)


def finance_required(view):
    """Sign-in first (anonymous visitors go to the login page), then Finance or a 403."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not user_can_see_reports(request.user):
            raise PermissionDenied("Finance reports are for Finance only.")
        return view(request, *args, **kwargs)

    return wrapped
