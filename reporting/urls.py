from django.urls import path

from reporting import views

app_name = "reporting"

urlpatterns = [
    path("", views.report_list, name="list"),
    path("<int:pk>/", views.report_detail, name="detail"),
    path("<int:pk>/status/", views.report_status, name="status"),
    path("<int:pk>/pdf/", views.report_download, name="pdf"),
    path("<int:pk>/retry/", views.report_retry, name="retry"),
    path("<int:pk>/csv/", views.report_csv_download, name="csv"),
    path("<int:pk>/xlsx/", views.report_xlsx_download, name="xlsx"),
    path("<int:pk>/tables.zip", views.report_csv_zip_download, name="csv_zip"),
    path("journal/<str:month>/", views.journal_download, name="journal"),
]
