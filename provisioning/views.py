"""django-scim2's views with Allot's lookups: ids are integers (anything else is a 404, not
a 500), a list is the people SCIM manages, counted and paged in the database, and a page is at
most MAX_COUNT long."""

import json

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django_scim import exceptions, views
from django_scim.constants import SCIM_CONTENT_TYPE, SchemaURI
from django_scim.models import SCIMServiceProviderConfig
from scim2_filter_parser.parser import SCIMParserError

from people.models import Team
from provisioning.services import scim_users

MAX_COUNT = 200
# What a new level sent by the provider did to this year's budget (the policy's sentence).
LEVEL_CHANGE_HEADER = "X-Allot-Level-Change"


def _scim_body(response):
    """RFC 7644 3.12: an error is a SCIM error document. Django's own 404 and 405 pages and
    django-scim2's empty 501s become one."""
    scim = response.get("Content-Type") == SCIM_CONTENT_TYPE and response.content
    if response.status_code < 400 or scim:
        return response
    doc = {
        "schemas": [SchemaURI.ERROR],
        "status": str(response.status_code),
        "detail": response.reason_phrase,
    }
    response.content = json.dumps(doc)
    response["Content-Type"] = SCIM_CONTENT_TYPE
    return response


class ScimBodies:
    @method_decorator(csrf_exempt)  # a bearer token, not a cookie: no CSRF to guard against
    def dispatch(self, request, *args, **kwargs):
        response = _scim_body(super().dispatch(request, *args, **kwargs))
        said = getattr(request, "scim_level_change", "")
        if said and response.status_code < 400:
            response[LEVEL_CHANGE_HEADER] = said.replace("→", "->").replace("−", "-")
        return response


class NotFoundView(ScimBodies, views.SCIMView):
    """Any other path under /scim/v2/ (behind the token check like the rest)."""

    http_method_names = ["get", "post", "put", "patch", "delete"]

    def get(self, request, *args, **kwargs):
        raise exceptions.NotFoundError(request.path)

    post = put = patch = delete = get


class Unimplemented(ScimBodies, views.SCIMView):
    """Me, Bulk, the root: 501 with a SCIM error document."""


ALWAYS = {"id", "schemas"}


def _project(doc: dict, attributes: str, excluded: str) -> dict:
    """RFC 7644 3.4.2.5: `attributes` keeps only those named (and what is always returned),
    `excludedAttributes` drops those named. Top-level names, and a sub-attribute's parent."""
    wanted = {name.strip().split(".")[0].lower() for name in attributes.split(",") if name}
    dropped = {name.strip().lower() for name in excluded.split(",") if name}
    out = {}
    for key, value in doc.items():
        low = key.lower()
        if low in {a.lower() for a in ALWAYS} or key == "meta":
            out[key] = value
        elif wanted and low not in wanted or low in dropped:
            continue
        else:
            out[key] = value
    return out


def _projected(response, request):
    attributes = request.GET.get("attributes", "")
    excluded = request.GET.get("excludedAttributes", "")
    if response.status_code != 200 or not (attributes or excluded):
        return response
    doc = json.loads(response.content)
    if "Resources" in doc:
        doc["Resources"] = [_project(r, attributes, excluded) for r in doc["Resources"]]
    else:
        doc = _project(doc, attributes, excluded)
    response.content = json.dumps(doc)
    return response


class PagingMixin(ScimBodies):
    def get(self, request, *args, **kwargs):
        return _projected(super().get(request, *args, **kwargs), request)

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


class UserSearchView(PagingMixin, views.UserSearchView):
    """POST /Users/.search: the same filter and pages as GET."""


class GroupSearchView(PagingMixin, views.GroupSearchView):
    pass


class ServiceProviderConfig(SCIMServiceProviderConfig):
    """What this server does: PATCH, filters (eq and the others on the mapped attributes) and
    pages; no bulk, sort, ETags or password changes (sign-in is the identity provider's)."""

    def to_dict(self) -> dict:
        doc = super().to_dict()
        doc["filter"] = {"supported": True, "maxResults": MAX_COUNT}
        doc["changePassword"] = {"supported": False}
        doc["bulk"] = {"supported": False, "maxOperations": 0, "maxPayloadSize": 0}
        return doc


class ListTotalsMixin(ScimBodies):
    """django-scim2's discovery lists lack totalResults, which RFC 7644 requires of a list."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        doc = json.loads(response.content or b"{}")
        if response.status_code == 200 and "Resources" in doc:
            total = len(doc["Resources"])
            doc.update(totalResults=total, itemsPerPage=total, startIndex=1)
            response.content = json.dumps(doc)
        return response


class ResourceTypesView(ListTotalsMixin, views.ResourceTypesView):
    pass


class SchemasView(ListTotalsMixin, views.SchemasView):
    pass


class ServiceProviderConfigView(ScimBodies, views.ServiceProviderConfigView):
    pass
