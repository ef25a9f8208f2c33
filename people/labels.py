"""Telling people with the same name apart: "Ada Turing (ada.turing2@example.com)" wherever a
list names several people, the email added only when another sign-in has the same display
name (selects always add it, `employee_choice_label`)."""

from django.contrib.auth import get_user_model
from django.db.models import Count, Value
from django.db.models.functions import Concat, Lower, Trim

from people.models import Employee

# Where `person_label_for_request` keeps the shared names for the rest of a request.
REQUEST_ATTRIBUTE = "_allot_shared_display_names"


def shared_display_names() -> frozenset[str]:
    """The full names (lower-cased) that more than one sign-in has: one grouped query. A name
    is `User.get_full_name()`, "first last", as `Employee.display_name` shows it."""
    full_name = Lower(Trim(Concat("first_name", Value(" "), "last_name")))
    rows = (
        get_user_model()
        .objects.annotate(full_name=full_name)
        .exclude(full_name="")
        .values("full_name")
        .annotate(people=Count("pk"))
        .filter(people__gt=1)
        .values_list("full_name", flat=True)
    )
    return frozenset(rows)


def employee_choice_label(employee: Employee) -> str:
    """A person in a select: always the email beside the name, so two alike are never one."""
    return _with_email(employee.user)


def _with_email(user) -> str:
    name, email = _name(user), user.email
    if not email or name == email:
        return name
    return f"{name} ({email})"


def _name(user) -> str:
    return user.get_full_name() or user.email or user.get_username()


def person_label(person, shared: frozenset[str]) -> str:
    """An employee's or a sign-in's name, with the email beside it only when the name is
    shared (`shared_display_names`)."""
    user = person.user if isinstance(person, Employee) else person
    if user.get_full_name().lower() in shared:
        return _with_email(user)
    return _name(user)


def person_label_for_request(person, request=None) -> str:
    """`person_label` with the shared names read once per request (kept on the request)."""
    if person is None:
        return ""
    shared = getattr(request, REQUEST_ATTRIBUTE, None) if request is not None else None
    if shared is None:
        shared = shared_display_names()
        if request is not None:
            setattr(request, REQUEST_ATTRIBUTE, shared)
    return person_label(person, shared)
