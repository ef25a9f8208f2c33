from django.urls import path

from approvals import apis

app_name = "approvals_api"

urlpatterns = [
    path("transfers/", apis.TransferApi.as_view(), name="transfers"),
]
