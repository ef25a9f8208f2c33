"""Offer pages outside the admin: the letter PDFs (HR-only files, served after a permission
check, never from a public media path) and a read-only list for hiring managers."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from compensation.models import OfferLetter
from compensation.selectors import offers_visible_to, user_can_see_offer, user_is_hr
from people.models import Employee


@login_required
def letter_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    letter = get_object_or_404(OfferLetter.objects.select_related("offer"), pk=pk)
    if not user_can_see_offer(request.user, letter.offer):
        raise Http404("No such letter among those you can see.")
    response = HttpResponse(bytes(letter.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{letter.filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def offer_list(request: HttpRequest) -> HttpResponse:
    offers = offers_visible_to(request.user)
    is_manager = Employee.objects.filter(manager__user=request.user, is_active=True).exists()
    if not user_is_hr(request.user) and not is_manager and not offers.exists():
        raise PermissionDenied("Offers are for HR and hiring managers.")
    return render(
        request,
        "compensation/offer_list.html",
        {
            "offers": offers.prefetch_related("letters")[:200],
            "is_hr": user_is_hr(request.user),
        },
    )
