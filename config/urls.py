from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.views import healthz, healthz_ready
from people.forms import AdminSignInForm
from people.oidc_views import SignInView, needs_password_login, sign_on_refused

admin.site.login_form = AdminSignInForm
admin.site.site_header = "Allot administration"
admin.site.site_title = "Allot"
admin.site.index_title = "Token budgets, people and policies"

# Django's password pages, refused while ALLOT_PASSWORD_LOGIN is false.
password_urls = [
    path(route, needs_password_login(view.as_view()), name=name)
    for route, view, name in [
        ("password_change/", auth_views.PasswordChangeView, "password_change"),
        ("password_change/done/", auth_views.PasswordChangeDoneView, "password_change_done"),
        ("password_reset/", auth_views.PasswordResetView, "password_reset"),
        ("password_reset/done/", auth_views.PasswordResetDoneView, "password_reset_done"),
        (
            "reset/<uidb64>/<token>/",
            auth_views.PasswordResetConfirmView,
            "password_reset_confirm",
        ),
        ("reset/done/", auth_views.PasswordResetCompleteView, "password_reset_complete"),
    ]
]

urlpatterns = [
    # The gateways' API first: it answers every model call, and Django tries patterns in order
    # (behind the pages' includes, resolving /api/v1/authorize/ took 57 us of each call).
    path("api/v1/", include("budgets.urls")),
    path("api/v1/", include("approvals.api_urls")),
    path("scim/v2/", include("provisioning.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script as a file, so the docs page needs no inline script (CSP).
    path("api/v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("", include("budgets.web_urls")),
    path("", include("approvals.urls")),
    path("", include("audit.urls")),
    path("", include("compensation.urls")),
    path("reports/", include("reporting.urls")),
    path("pilots/", include("pilots.urls")),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/sign-on/refused/", sign_on_refused, name="sign-on-refused"),
    path("accounts/", include(password_urls)),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages that name none (the admin's, a PDF's).
    path("favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}favicon.svg")),
    path("healthz/ready", healthz_ready, name="healthz-ready"),
]
