from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from config.views import healthz

admin.site.site_header = "Allot administration"
admin.site.site_title = "Allot"
admin.site.index_title = "Token budgets, people and policies"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
