"""The offer desk's actions: one per lifecycle step, each calling its service; a refused move
shows its reason as a message, and the moves that need a sentence ask for it first."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render
from django_fsm import can_proceed

from common.errors import AllotError
from compensation import services
from compensation.models import APPROVED_STATES, CLOSED_STATES


class ReasonForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 80}), required=False)


# The buttons on an offer's page: each posts the list action of the same name, and shows when
# the state machine lets the offer take that action's transition (`can_proceed`). The letter is
# not a move: any offer still open can have one made.
STATE_ACTIONS = [
    ("submit_for_approval", "Submit for approval", "submit"),
    ("back_to_draft", "Back to draft", "reopen"),
    ("generate_letter", "Generate letter", None),
    ("mark_sent", "Mark sent", "send"),
    ("record_counter_offer", "Record counter-offer", "counter"),
    ("mark_accepted", "Mark accepted", "accept"),
    ("mark_declined", "Mark declined", "decline"),
    ("withdraw", "Withdraw", "withdraw"),
]


def _draft_label(offer, action: str, label: str) -> str:
    """Before approval the letter is a marked draft, and its button says so."""
    if action == "generate_letter" and offer.state not in APPROVED_STATES:
        return "Generate draft letter"
    return label


def offer_buttons(offer) -> list[tuple[str, str]]:
    """(action, label) of each step the offer can take now."""
    return [
        (action, _draft_label(offer, action, label))
        for action, label, transition in STATE_ACTIONS
        if (
            offer.state not in CLOSED_STATES
            if transition is None
            else can_proceed(getattr(offer, transition))
        )
    ]


def offer_message(offer, message: str) -> str:
    """The message named by its offer, once: the services' own messages already start so."""
    name = f"Offer #{offer.pk}"
    return message if message.startswith(name) else f"{name}: {message}"


class OfferActionsMixin:
    """Mixed into OfferAdmin (a ModelAdmin): the list actions and the buttons on an offer."""

    def _each(self, request, queryset, verb: str, call) -> None:
        done = 0
        for offer in queryset:
            try:
                call(offer)
                done += 1
            except AllotError as exc:
                self.message_user(request, offer_message(offer, exc.message), messages.ERROR)
        if done:
            self.message_user(request, f"{done} offer(s) {verb}.", messages.SUCCESS)

    def _with_text(self, request, queryset, *, action: str, title: str, label: str, call, verb):
        """An action that needs a sentence (a reason, the candidate's ask): ask, then apply."""
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                text = form.cleaned_data["text"]
                self._each(request, queryset, verb, lambda offer: call(offer, text))
                return None
        else:
            form = ReasonForm()
        form.fields["text"].label = label
        return render(
            request,
            "admin/compensation/offer/action_text.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "offers": queryset,
                "form": form,
                "action": action,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Submit for approval", permissions=["change"])
    def submit_for_approval(self, request, queryset):
        return self._with_text(
            request,
            queryset,
            action="submit_for_approval",
            title="Submit for approval",
            label="Why this package (required from the second round on)",
            verb="submitted for approval",
            call=lambda offer, text: services.offer_submit(
                offer=offer, acting_user=request.user, reason=text
            ),
        )

    @admin.action(description="Generate the letter (PDF)", permissions=["change"])
    def generate_letter(self, request, queryset):
        self._each(
            request,
            queryset,
            "with a letter",
            lambda offer: services.letter_generate(offer=offer, acting_user=request.user),
        )

    @admin.action(description="Mark sent (stores the letter)", permissions=["change"])
    def mark_sent(self, request, queryset):
        self._each(
            request,
            queryset,
            "sent",
            lambda offer: services.offer_send(offer=offer, acting_user=request.user),
        )

    @admin.action(description="Record a counter-offer (opens a new round)", permissions=["change"])
    def record_counter_offer(self, request, queryset):
        return self._with_text(
            request,
            queryset,
            action="record_counter_offer",
            title="Record a counter-offer",
            label='What the candidate asked (e.g. "$200k base and $200k tokens instead of '
            'options")',
            verb="countered: change the package, then submit the new round",
            call=lambda offer, text: services.offer_counter_record(
                offer=offer, acting_user=request.user, candidate_ask=text
            ),
        )

    @admin.action(
        description="Mark accepted (creates the employee and budget)", permissions=["change"]
    )
    def mark_accepted(self, request, queryset):
        self._each(
            request,
            queryset,
            "accepted: employee and budget created",
            lambda offer: services.offer_accept(offer=offer, acting_user=request.user),
        )

    @admin.action(description="Mark declined", permissions=["change"])
    def mark_declined(self, request, queryset):
        self._each(
            request,
            queryset,
            "declined",
            lambda offer: services.offer_decline(offer=offer, acting_user=request.user),
        )

    @admin.action(description="Withdraw", permissions=["change"])
    def withdraw(self, request, queryset):
        # It cannot be undone: the page asks first (and for a reason, kept in the history).
        return self._with_text(
            request,
            queryset,
            action="withdraw",
            title="Withdraw",
            label="Why the offer is withdrawn (optional; it cannot be undone)",
            verb="withdrawn",
            call=lambda offer, text: services.offer_withdraw(
                offer=offer, acting_user=request.user, reason=text
            ),
        )

    @admin.action(description="Back to draft (after a refused approval)", permissions=["change"])
    def back_to_draft(self, request, queryset):
        self._each(
            request,
            queryset,
            "back in draft",
            lambda offer: services.offer_reopen(offer=offer, acting_user=request.user),
        )
