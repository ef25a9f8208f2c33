from django.urls import path

from compensation import rewards_views, views

app_name = "compensation"

urlpatterns = [
    path("offers/", views.offer_list, name="offers"),
    path("offers/letters/<int:pk>.pdf", views.letter_pdf, name="letter-pdf"),
    path("rewards/", rewards_views.rewards_list, name="rewards"),
    path("rewards/mine/", rewards_views.rewards_mine, name="rewards-mine"),
    path("rewards/<int:pk>/status/", rewards_views.rewards_status, name="rewards-status"),
    path("rewards/<int:pk>.zip", rewards_views.rewards_zip, name="rewards-zip"),
    path(
        "rewards/statement/<int:employee_id>/FY<int:fiscal_year>.pdf",
        rewards_views.rewards_pdf,
        name="rewards-pdf",
    ),
]
