from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.views import healthz
from people.forms import AdminSignInForm, SignInForm

admin.site.login_form = AdminSignInForm
admin.site.site_header = "Allot administration"
admin.site.site_title = "Allot"
admin.site.index_title = "Token budgets, people and policies"

urlpatterns = [
    path("", include("budgets.web_urls")),
    path("", include("approvals.urls")),
    path("", include("audit.urls")),
    path("", include("compensation.urls")),
    path("reports/", include("reporting.urls")),
    path("accounts/login/", LoginView.as_view(authentication_form=SignInForm), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("budgets.urls")),
    path("scim/v2/", include("provisioning.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script as a file, so the docs page needs no inline script (CSP).
    path("api/v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]
