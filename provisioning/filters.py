"""SCIM filters (`userName eq "x"`, `emails.value eq "y"`, `displayName eq "z"`) as Django
queries: scim2-filter-parser's Q-object transpiler, so they run on SQLite and PostgreSQL alike
(django-scim2's default builds raw PostgreSQL SQL)."""

from django_scim.filters import FilterQuery
from scim2_filter_parser.transpilers.django_q_object import get_query

from people.models import Team
from provisioning.services import scim_users

USER_ATTRS = {
    ("userName", None, None): "username",
    ("emails", None, None): "email",
    ("emails", "value", None): "email",
    ("name", "givenName", None): "first_name",
    ("name", "familyName", None): "last_name",
    ("active", None, None): "is_active",
    ("externalId", None, None): "employee__external_id",
    ("id", None, None): "pk",
}
GROUP_ATTRS = {
    ("displayName", None, None): "name",
    ("id", None, None): "pk",
}


class UserFilter(FilterQuery):
    attr_map = USER_ATTRS

    @classmethod
    def search(cls, filter_query, request=None):
        query = get_query(filter_query, cls.attr_map)
        return scim_users().filter(query) if query is not None else scim_users().none()


class GroupFilter(FilterQuery):
    attr_map = GROUP_ATTRS

    @classmethod
    def search(cls, filter_query, request=None):
        query = get_query(filter_query, cls.attr_map)
        teams = Team.objects.order_by("pk")
        return teams.filter(query) if query is not None else teams.none()
