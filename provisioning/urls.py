"""/scim/v2/: django-scim2's routes, with Allot's views for Users and Groups. The namespace is
"scim", as django-scim2's adapters reverse it."""

from django.urls import re_path

from provisioning import views

app_name = "scim"

urlpatterns = [
    re_path(r"^$", views.Unimplemented.as_view(implemented=False), name="root"),
    re_path(r"^\.search$", views.Unimplemented.as_view(implemented=False), name="search"),
    re_path(r"^Users/\.search$", views.UserSearchView.as_view(), name="users-search"),
    re_path(r"^Users(?:/(?P<uuid>[^/]+))?$", views.UsersView.as_view(), name="users"),
    re_path(r"^Groups/\.search$", views.GroupSearchView.as_view(), name="groups-search"),
    re_path(r"^Groups(?:/(?P<uuid>[^/]+))?$", views.GroupsView.as_view(), name="groups"),
    re_path(r"^Me$", views.Unimplemented.as_view(implemented=False), name="me"),
    re_path(
        r"^ServiceProviderConfig$",
        views.ServiceProviderConfigView.as_view(),
        name="service-provider-config",
    ),
    re_path(
        r"^ResourceTypes(?:/(?P<uuid>[^/]+))?$",
        views.ResourceTypesView.as_view(),
        name="resource-types",
    ),
    re_path(r"^Schemas(?:/(?P<uuid>[^/]+))?$", views.SchemasView.as_view(), name="schemas"),
    re_path(r"^Bulk$", views.Unimplemented.as_view(implemented=False), name="bulk"),
    re_path(r"", views.NotFoundView.as_view(), name="not-found"),
]
