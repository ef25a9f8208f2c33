"""django-scim2's views with Allot's lookups: ids are integers (anything else is a 404, not
a 500), a list is the people SCIM manages, counted and paged in the database, and a page is at
most MAX_COUNT long."""

import json

from django_scim import exceptions, views
from django_scim.models import SCIMServiceProviderConfig
from scim2_filter_parser.parser import SCIMParserError

from people.models import Team
from provisioning.services import scim_users

MAX_COUNT = 200


class PagingMixin:
    def _page(self, request):
        start, count = super()._page(request)
        return start, max(0, min(count, MAX_COUNT))

    def get_object(self):
        raw = self.kwargs.get(self.lookup_url_kwarg) or ""
        if not raw.isdigit():
            raise exceptions.NotFoundError(raw)
        found = self.queryset().filter(pk=int(raw)).first()
        if found is None:
            raise exceptions.NotFoundError(raw)
        return found

    def get_many(self, request):
        query = request.GET.get("filter")
        if query:
            return self._search(request, query, *self._page(request))
        return self._build_response(request, self.queryset(), *self._page(request))

    def _search(self, request, query, start, count):
        try:
            found = self.__class__.parser_getter().search(query, request)
        except (ValueError, SCIMParserError) as exc:
            raise exceptions.BadRequestError(
                f"Invalid filter: {exc}", scim_type="invalidFilter"
            ) from exc
        return self._build_response(request, found, start, count)

    def _build_response(self, request, qs, start, count):
        # django-scim2 counts by iterating: the database counts and slices instead.
        total = qs.count()
        page = list(qs[start - 1 : start - 1 + count])
        response = super()._build_response(request, page, 1, count)
        doc = json.loads(response.content)
        doc["totalResults"], doc["startIndex"] = total, start
        response.content = json.dumps(doc)
        return response


class UsersView(PagingMixin, views.UsersView):
    def queryset(self):
        return scim_users()


class GroupsView(PagingMixin, views.GroupsView):
    def queryset(self):
        return Team.objects.select_related("department").order_by("pk")


class UserSearchView(views.UserSearchView):
    """POST /Users/.search: the same filter and pages as GET."""

    _page = PagingMixin._page
    _search = PagingMixin._search
    _build_response = PagingMixin._build_response


class GroupSearchView(views.GroupSearchView):
    _page = PagingMixin._page
    _search = PagingMixin._search
    _build_response = PagingMixin._build_response


class ServiceProviderConfig(SCIMServiceProviderConfig):
    """What this server does: PATCH, filters (eq and the others on the mapped attributes) and
    pages; no bulk, sort, ETags or password changes (sign-in is the identity provider's)."""

    def to_dict(self) -> dict:
        doc = super().to_dict()
        doc["filter"] = {"supported": True, "maxResults": MAX_COUNT}
        doc["changePassword"] = {"supported": False}
        doc["bulk"] = {"supported": False, "maxOperations": 0, "maxPayloadSize": 0}
        return doc
