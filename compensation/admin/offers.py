"""HR's offer desk: offers with their package, bands, rounds side by side, approval steps,
letters (HTML preview, stored PDFs) and one action per lifecycle step. Every action calls the
service in compensation.services; a refused move shows its reason as a message."""

from django import forms
from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django_fsm_log.models import StateLog

from approvals.models import ApprovalRequest
from common.admin import HistoryAdmin
from common.errors import AllotError
from common.money import format_usd
from compensation import letters, services
from compensation.admin.actions import OfferActionsMixin, offer_buttons
from compensation.calculations import TradeError
from compensation.models import (
    CLOSED_STATES,
    Offer,
    OfferLetter,
    OfferRound,
)
from compensation.selectors import round_changes, rounds_compared
from people.selectors import company_today


class RoundInline(admin.TabularInline):
    model = OfferRound
    extra = 0
    can_delete = False
    fields = [
        "number",
        "candidate_ask",
        "changes",
        "reason",
        "outside_bands",
        "submitted_by",
        "decided_by",
        "decided_at",
        "approval",
        "letter",
    ]
    readonly_fields = fields
    verbose_name_plural = "negotiation rounds"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="What changed")
    def changes(self, round_: OfferRound):
        lines = round_changes(round_.offer, round_.number)
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)) or "–"  # nosec B308

    @admin.display(description="Outside bands by")
    def outside_bands(self, round_: OfferRound) -> str:
        return format_usd(round_.outside_bands_micros) if round_.package else "–"

    @admin.display(description="Approval")
    def approval(self, round_: OfferRound):
        request = round_.approval_request
        if request is None:
            return "–"
        url = reverse("admin:approvals_approvalrequest_change", args=[request.pk])
        return format_html('<a href="{}">#{} {}</a>', url, request.pk, request.get_state_display())

    @admin.display(description="Sent letter")
    def letter(self, round_: OfferRound):
        if round_.sent_letter_id is None:
            return "–"
        url = reverse("compensation:letter-pdf", args=[round_.sent_letter_id])
        return format_html('<a href="{}">PDF</a>', url)


class ApprovalInline(GenericTabularInline):
    model = ApprovalRequest
    ct_field = "subject_type"
    ct_fk_field = "subject_id"
    extra = 0
    can_delete = False
    fields = ["link", "state", "amount", "created_at", "steps_taken"]
    readonly_fields = fields
    verbose_name = "approval request"
    verbose_name_plural = "approval requests and their steps"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return True

    @admin.display(description="Request")
    def link(self, approval: ApprovalRequest):
        url = reverse("admin:approvals_approvalrequest_change", args=[approval.pk])
        return format_html('<a href="{}">#{}</a>', url, approval.pk)

    @admin.display(description="Package value")
    def amount(self, approval: ApprovalRequest) -> str:
        return format_usd(approval.amount_micros)

    @admin.display(description="Steps")
    def steps_taken(self, approval: ApprovalRequest):
        rows = [
            (
                step.index + 1,
                step.get_role_display(),
                str(step.approver or "anyone in the group"),
                step.decision_label or step.get_state_display(),
                step.comment,
            )
            for step in approval.steps.select_related("approver", "decided_by", "on_behalf_of")
        ]
        return format_html_join(mark_safe("<br>"), "{}. {} – {}: {} {}", rows) or "–"  # nosec B308


class LetterInline(admin.TabularInline):
    model = OfferLetter
    extra = 0
    can_delete = False
    fields = ["round_number", "created_at", "created_by", "template", "sha256", "download"]
    readonly_fields = fields
    verbose_name_plural = "offer letters (kept as generated)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="PDF")
    def download(self, letter: OfferLetter):
        url = reverse("compensation:letter-pdf", args=[letter.pk])
        return format_html('<a href="{}">{}</a>', url, letter.filename)


PACKAGE_FIELDSETS = [
    (
        None,
        {
            "fields": [
                "candidate",
                "position_title",
                "level",
                "team",
                "hiring_manager",
                "start_date",
            ]
        },
    ),
    (
        "Package",
        {
            "fields": [
                "base_salary_micros",
                ("stock_option_count", "stock_strike_price_micros", "stock_annual_value_micros"),
                "sign_on_bonus_micros",
                ("health_plan", "health_plan_cost_micros"),
                "match_401k_percent",
                "remote_policy",
                "professional_development_micros",
                "currency",
            ]
        },
    ),
    (
        "Token budget",
        {
            "fields": [
                "token_budget_micros",
                ("allocation_basis", "allocation_project"),
                ("trade_direction", "trade_amount_micros"),
            ],
            "description": "The annual token budget starts at the level band's target. A "
            "candidate may trade stock value for token budget (or back) at the policy's rate.",
        },
    ),
    (
        "Summary",
        {"fields": ["state", "round_number", "response_deadline", "summary", "bands"]},
    ),
    ("Negotiation rounds side by side", {"fields": ["rounds_side_by_side"]}),
    ("Letter", {"fields": ["letter_links"]}),
    ("Transitions", {"fields": ["transition_log"], "classes": ["collapse"]}),
]
PACKAGE_FIELD_NAMES = [
    name
    for _, options in PACKAGE_FIELDSETS[:3]
    for entry in options["fields"]
    for name in (entry if isinstance(entry, tuple) else (entry,))
]


class OfferForm(forms.ModelForm):
    class Meta:
        model = Offer
        fields = [*PACKAGE_FIELD_NAMES, "response_deadline"]

    def clean(self):
        data = super().clean()
        offer = self.instance
        for name, value in data.items():
            setattr(offer, name, value)
        deadline = data.get("response_deadline")
        if "response_deadline" in self.changed_data and deadline and deadline < company_today():
            self.add_error("response_deadline", "Give a response deadline from today on.")
        if offer.level_id and offer.trade_direction:
            offer.trade_rate = None  # saving takes the policy's rate of today
            try:
                offer.trade_checked()
            except TradeError as exc:
                self.add_error("trade_amount_micros", str(exc))
        return data


MONEY_FIELDS = [name for name in PACKAGE_FIELD_NAMES if name.endswith("_micros")]
COMPUTED = ["state", "round_number", "summary", "bands", "rounds_side_by_side", "letter_links"]


@admin.register(Offer)
class OfferAdmin(OfferActionsMixin, HistoryAdmin):
    form = OfferForm
    fieldsets = PACKAGE_FIELDSETS
    list_display = [
        "id",
        "candidate",
        "position_title",
        "level",
        "team",
        "state",
        "approval",
        "total_value",
        "token_budget",
        "start_date",
        "response_deadline",
    ]
    list_filter = ["state", "team", "level"]
    list_select_related = ["candidate", "level", "team", "approval_request"]
    search_fields = [
        "candidate__first_name",
        "candidate__last_name",
        "candidate__email",
        "position_title",
    ]
    autocomplete_fields = ["candidate", "team", "hiring_manager", "allocation_project"]
    inlines = [RoundInline, ApprovalInline, LetterInline]
    actions = [
        "submit_for_approval",
        "generate_letter",
        "mark_sent",
        "record_counter_offer",
        "mark_accepted",
        "mark_declined",
        "withdraw",
        "back_to_draft",
    ]

    def get_fieldsets(self, request, obj=None):
        if obj is None or obj.is_editable:
            return self.fieldsets

        # Past draft the package is shown, not edited: money in dollars, not raw micros.
        def shown(entry):
            if isinstance(entry, tuple):
                return tuple(shown(name) for name in entry)
            return f"{entry}_usd" if entry in MONEY_FIELDS else entry

        return [
            (title, {**options, "fields": [shown(entry) for entry in options["fields"]]})
            for title, options in self.fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        fixed = [*COMPUTED, "transition_log"]
        package = [f"{n}_usd" if n in MONEY_FIELDS else n for n in PACKAGE_FIELD_NAMES]
        if obj is not None and obj.state in CLOSED_STATES:
            return [*fixed, *package, "response_deadline"]
        if obj is not None and not obj.is_editable:
            return [*fixed, *package]  # the deadline can still move
        return fixed

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # withdraw instead: the history stays

    def change_view(self, request, object_id, form_url="", extra_context=None):
        offer = self.get_object(request, object_id)
        buttons = []
        if offer is not None and self.has_change_permission(request, offer):
            buttons = offer_buttons(offer)
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "lifecycle_actions": buttons}
        )

    def save_model(self, request, obj, form, change) -> None:
        services.offer_save(offer=obj, acting_user=request.user)

    def get_urls(self):
        return [
            path(
                "<int:pk>/letter-preview/",
                self.admin_site.admin_view(self.letter_preview),
                name="compensation_offer_letter_preview",
            ),
            *super().get_urls(),
        ]

    def letter_preview(self, request: HttpRequest, pk: int) -> HttpResponse:
        offer = get_object_or_404(Offer, pk=pk)
        if not self.has_view_permission(request, offer):
            return HttpResponse(status=403)
        try:
            html = letters.letter_html(offer)
        except AllotError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:compensation_offer_change", args=[pk]))
        return HttpResponse(html)

    # Columns and read-only blocks.
    @admin.display(description="Approval")
    def approval(self, offer: Offer) -> str:
        """The current round's request: a refusal shows here before HR reopens the offer."""
        request = offer.approval_request
        return request.get_state_display() if request else "–"

    @admin.display(description="Total annual value")
    def total_value(self, offer: Offer) -> str:
        return offer.total_annual_value_display

    @admin.display(description="Token budget")
    def token_budget(self, offer: Offer) -> str:
        return offer.token_budget_display

    @admin.display(description="Package")
    def summary(self, offer: Offer):
        if not offer.pk:
            return "Saved offers show their total here."
        return mark_safe(  # nosec B308 B703  # noqa: S308 - rendered by a template with autoescape
            render_to_string(
                "admin/compensation/offer/_summary.html",
                {"offer": offer, "lines": offer.lines(), "trade": offer.trade},
            )
        )

    @admin.display(description="Bands")
    def bands(self, offer: Offer):
        if not offer.pk:
            return "–"
        checks = offer.band_checks()
        if not checks:
            return "This level has no band yet."
        return format_html_join(
            mark_safe("<br>"),  # nosec B308
            '<span style="color:{}">{}</span>',
            (("#060" if c.within else "#b00", c.message) for c in checks),
        )

    @admin.display(description="Rounds")
    def rounds_side_by_side(self, offer: Offer):
        if not offer.pk:
            return "–"
        compared = rounds_compared(offer)
        if not compared["rounds"]:
            return "No round was submitted yet."
        return mark_safe(  # nosec B308 B703  # noqa: S308 - rendered by a template with autoescape
            render_to_string("admin/compensation/offer/_rounds.html", compared)
        )

    @admin.display(description="Letter")
    def letter_links(self, offer: Offer):
        if not offer.pk:
            return "–"
        preview = reverse("admin:compensation_offer_letter_preview", args=[offer.pk])
        return format_html(
            '<a href="{}" target="_blank">Preview the letter (HTML, current package)</a>', preview
        )

    @admin.display(description="State changes")
    def transition_log(self, offer: Offer):
        logs = StateLog.objects.for_(offer).select_related("by").order_by("timestamp")
        rows = [
            (
                timezone.localtime(log.timestamp).strftime("%Y-%m-%d %H:%M"),
                log.source_state,
                log.state,
                str(log.by or "system"),
                log.description or "",
            )
            for log in logs
        ]
        return format_html_join(mark_safe("<br>"), "{}: {} → {} by {} {}", rows) or "–"  # nosec B308


def _usd_reader(name: str):
    @admin.display(description=Offer._meta.get_field(name).verbose_name)
    def reader(self, offer: Offer) -> str:
        value = getattr(offer, name)
        return "–" if value is None else format_usd(value)

    return reader


for _name in MONEY_FIELDS:
    setattr(OfferAdmin, f"{_name}_usd", _usd_reader(_name))
