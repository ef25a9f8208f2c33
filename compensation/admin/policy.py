"""HR's reference data for offers: level bands, the policy, letter templates, candidates and
the generated letters (read-only)."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from common.admin import HistoryAdmin, ReadOnlyAdmin
from common.money import format_usd
from compensation import letters, services
from compensation.models import (
    Candidate,
    CompensationPolicy,
    ExchangeRate,
    LevelBand,
    Offer,
    OfferLetter,
    OfferLetterTemplate,
)


@admin.register(LevelBand)
class LevelBandAdmin(HistoryAdmin):
    list_display = ["level", "salary_band", "token_band"]
    list_select_related = ["level"]
    ordering = ["level__rank"]

    @admin.display(description="Base salary (min / target / max)")
    def salary_band(self, band: LevelBand) -> str:
        return " / ".join(
            format_usd(v)
            for v in (
                band.base_salary_min_micros,
                band.base_salary_target_micros,
                band.base_salary_max_micros,
            )
        )

    @admin.display(description="Token budget (min / target / max)")
    def token_band(self, band: LevelBand) -> str:
        return " / ".join(
            format_usd(v)
            for v in (
                band.token_budget_min_micros,
                band.token_budget_target_micros,
                band.token_budget_max_micros,
            )
        )


@admin.register(ExchangeRate)
class ExchangeRateAdmin(HistoryAdmin):
    """Finance keeps one rate per currency and day (HR reads them): a letter in a candidate's
    currency uses the rate of the day it is made, and is refused when there is none."""

    list_display = ["day", "currency", "units_per_usd", "created_by"]
    list_filter = ["currency"]
    list_select_related = ["created_by"]
    date_hierarchy = "day"
    ordering = ["-day", "currency"]
    search_fields = ["currency"]

    def save_model(self, request, obj, form, change) -> None:
        services.exchange_rate_save(rate=obj, acting_user=request.user)


@admin.register(CompensationPolicy)
class CompensationPolicyAdmin(HistoryAdmin):
    list_display = ["__str__", "stock_to_token_rate", "token_to_stock_rate", "max_trade_percent"]

    def has_add_permission(self, request) -> bool:
        return not CompensationPolicy.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OfferLetterTemplate)
class OfferLetterTemplateAdmin(HistoryAdmin):
    list_display = ["name", "is_default"]
    actions = ["restore_built_in_text"]

    @admin.action(description="Restore the built-in text", permissions=["change"])
    def restore_built_in_text(self, request, queryset):
        for template in queryset:
            template.body = letters.default_body()
            template.save()  # through the model, so the history keeps the text it replaced
        self.message_user(request, f"{queryset.count()} template(s) restored.", messages.SUCCESS)


class OfferOfCandidateInline(admin.TabularInline):
    model = Offer
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["position_title", "level", "team", "state", "start_date"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Candidate)
class CandidateAdmin(HistoryAdmin):
    list_display = ["full_name", "email", "created_at"]
    search_fields = ["first_name", "last_name", "email"]
    inlines = [OfferOfCandidateInline]


@admin.register(OfferLetter)
class OfferLetterAdmin(ReadOnlyAdmin):
    list_display = ["offer", "round_number", "created_at", "created_by", "download"]
    list_select_related = ["offer__candidate", "created_by"]
    search_fields = ["offer__candidate__last_name", "offer__candidate__email"]
    exclude = ["pdf", "html"]

    @admin.display(description="PDF")
    def download(self, letter: OfferLetter):
        url = reverse("compensation:letter-pdf", args=[letter.pk])
        return format_html('<a href="{}">{}</a>', url, letter.filename)
