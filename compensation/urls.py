from django.urls import path

from compensation import views

app_name = "compensation"

urlpatterns = [
    path("offers/", views.offer_list, name="offers"),
    path("offers/letters/<int:pk>.pdf", views.letter_pdf, name="letter-pdf"),
]
