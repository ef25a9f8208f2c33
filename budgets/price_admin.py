"""Finance's price table in the admin: token prices per model (with their cache-write rates,
shown as their own or the default multiple of input) and the correction of a price already in
force, previewed then posted (budgets.pricing)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from budgets.calculations import cache_write_rates
from budgets.models import Budget, TokenPrice
from budgets.pricing import NewPrice, price_correct, price_correction_preview
from common.admin import HistoryAdmin
from common.errors import AllotError
from common.money import DollarsFormField, format_usd


class PriceCorrectionForm(forms.Form):
    input_per_million = DollarsFormField(label="Input (USD per 1M tokens)", min_value=0)
    output_per_million = DollarsFormField(label="Output (USD per 1M tokens)", min_value=0)
    cached_input_per_million = DollarsFormField(
        label="Cached input (USD per 1M tokens)", min_value=0
    )
    cache_write_per_million = DollarsFormField(
        label="Cache write, 5 minutes (USD per 1M tokens)",
        min_value=0,
        required=False,
        help_text="Empty: 1.25 times the input price.",
    )
    cache_write_1h_per_million = DollarsFormField(
        label="Cache write, 1 hour (USD per 1M tokens)",
        min_value=0,
        required=False,
        help_text="Empty: 2 times the input price.",
    )
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))

    def clean(self):
        data = super().clean()
        for name in (
            "input_per_million",
            "output_per_million",
            "cached_input_per_million",
            "cache_write_per_million",
            "cache_write_1h_per_million",
        ):
            if data.get(name) is not None and data[name] < 0:
                self.add_error(name, "A price cannot be negative.")
        return data

    def new_price(self) -> NewPrice:
        data = self.cleaned_data
        return NewPrice(
            data["input_per_million"],
            data["output_per_million"],
            data["cached_input_per_million"],
            data.get("cache_write_per_million"),
            data.get("cache_write_1h_per_million"),
        )


PRICE_FIELDS = [
    "input_per_million_micros",
    "output_per_million_micros",
    "cached_input_per_million_micros",
    "cache_write_per_million_micros",
    "cache_write_1h_per_million_micros",
]


@admin.register(TokenPrice)
class TokenPriceAdmin(HistoryAdmin):
    """A price already used to price events is corrected through "Correct this price", which
    previews and posts the difference; its fields cannot be edited in place."""

    list_display = ["model_name", "effective_from", "input", "output", "cached_input"]
    list_display += ["cache_write", "cache_write_1h"]
    list_filter = ["model_name"]
    search_fields = ["model_name"]
    date_hierarchy = "effective_from"
    change_form_template = "admin/budgets/tokenprice/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.usage_events.exists():
            return ["model_name", "effective_from", *PRICE_FIELDS]
        return []

    def get_urls(self):
        return [
            path(
                "<int:pk>/correct/",
                self.admin_site.admin_view(self.correct_view),
                name="budgets_tokenprice_correct",
            ),
            *super().get_urls(),
        ]

    def correct_view(self, request, pk: int):
        price = get_object_or_404(TokenPrice, pk=pk)
        if not self.has_change_permission(request, price):
            raise PermissionDenied
        initial = {
            "input_per_million": price.input_per_million_micros,
            "output_per_million": price.output_per_million_micros,
            "cached_input_per_million": price.cached_input_per_million_micros,
            "cache_write_per_million": price.cache_write_per_million_micros,
            "cache_write_1h_per_million": price.cache_write_1h_per_million_micros,
        }
        form = PriceCorrectionForm(request.POST or None, initial=initial)
        preview = None
        if request.method == "POST" and form.is_valid():
            try:
                if "apply" in request.POST:
                    correction = price_correct(
                        price=price,
                        new=form.new_price(),
                        reason=form.cleaned_data["reason"],
                        acting_user=request.user,
                    )
                    self.message_user(
                        request,
                        f"Re-priced {correction.events_repriced:,} events: spend changed by "
                        f"{format_usd(correction.delta_micros)}.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:budgets_tokenprice_change", args=[price.pk])
                    )
                preview = price_correction_preview(price=price, new=form.new_price())
            except AllotError as error:
                form.add_error(None, error.message)
        budgets = []
        if preview is not None:
            top = sorted(preview.per_budget.items(), key=lambda item: -abs(item[1]))[:20]
            by_id = Budget.objects.select_related("employee__user", "team", "project").in_bulk(
                [budget_id for budget_id, _ in top]
            )
            budgets = [(by_id[budget_id], format_usd(delta)) for budget_id, delta in top]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": price,
            "title": f"Correct the price of {price}",
            "form": form,
            "preview": preview,
            "preview_budgets": budgets,
            "old_total": preview and format_usd(preview.old_total_micros),
            "new_total": preview and format_usd(preview.new_total_micros),
            "delta": preview and format_usd(preview.delta_micros),
        }
        return TemplateResponse(request, "admin/budgets/tokenprice/correct.html", context)

    @admin.display(description="Input / 1M", ordering="input_per_million_micros")
    def input(self, price: TokenPrice) -> str:
        return format_usd(price.input_per_million_micros)

    @admin.display(description="Output / 1M", ordering="output_per_million_micros")
    def output(self, price: TokenPrice) -> str:
        return format_usd(price.output_per_million_micros)

    @admin.display(description="Cached input / 1M", ordering="cached_input_per_million_micros")
    def cached_input(self, price: TokenPrice) -> str:
        return format_usd(price.cached_input_per_million_micros)

    @admin.display(description="Cache write 5m / 1M")
    def cache_write(self, price: TokenPrice) -> str:
        return _cache_write_shown(price.cache_write_per_million_micros, cache_write_rates(price)[0])

    @admin.display(description="Cache write 1h / 1M")
    def cache_write_1h(self, price: TokenPrice) -> str:
        rate = price.cache_write_1h_per_million_micros
        return _cache_write_shown(rate, cache_write_rates(price)[1])


def _cache_write_shown(own: int | None, in_force: int) -> str:
    """A cache-write rate as the list shows it: its own, or the default it falls back to."""
    return format_usd(in_force) if own is not None else f"{format_usd(in_force)} (default)"
