from django.urls import path

from budgets import apis

app_name = "api"

urlpatterns = [
    path("usage/", apis.UsageApi.as_view(), name="usage"),
    path("authorize/", apis.AuthorizeApi.as_view(), name="authorize"),
    path(
        "reservations/<str:reservation_id>/release/",
        apis.ReservationReleaseApi.as_view(),
        name="reservation-release",
    ),
    path("employees/<str:email>/balance/", apis.BalanceApi.as_view(), name="balance"),
]
