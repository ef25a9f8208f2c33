from django.urls import path

from approvals import link_views, slack_views, views

app_name = "approvals"

urlpatterns = [
    path("approvals/", views.inbox, name="inbox"),
    path("approvals/delegate/", views.delegate, name="delegate"),
    path("approvals/delegations/<int:pk>/end/", views.delegation_end_view, name="delegation-end"),
    path("requests/", views.requests_mine, name="requests"),
    path("requests/<int:pk>/", views.detail, name="detail"),
    path("requests/<int:pk>/decide/", views.decide, name="decide"),
    path("requests/<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("approvals/decide/<str:token>/", link_views.decide_link, name="decide-link"),
    path("slack/interactivity/", slack_views.slack_interactivity, name="slack-interactivity"),
]
