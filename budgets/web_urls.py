from django.urls import path

from budgets import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("company/", views.company, name="company"),
    path("team/", views.team, name="team"),
    path("team/export.csv", views.team_export, name="team_export"),
    path("team/<int:employee_id>/", views.person, name="person"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("notifications/digest/", views.notifications_digest, name="notifications_digest"),
]
