"""HR keeps the pilots (with their members and control group); finance reads them."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from common.admin import HistoryAdmin
from pilots.models import PilotCohort, PilotMembership
from pilots.services import pilot_control_overlap, pilot_overlaps


class MembershipFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        employee_ids = [
            form.cleaned_data["employee"].pk
            for form in self.forms
            if form.cleaned_data.get("employee") and not form.cleaned_data.get("DELETE")
        ]
        clashes = pilot_control_overlap(cohort=self.instance, employee_ids=employee_ids)
        if clashes:
            raise ValidationError(
                "A person cannot be in both a pilot and its control group: " + ", ".join(clashes)
            )


class PilotMembershipInline(admin.TabularInline):
    model = PilotMembership
    formset = MembershipFormSet
    extra = 1
    autocomplete_fields = ["employee"]


@admin.register(PilotCohort)
class PilotCohortAdmin(HistoryAdmin):
    list_display = ["name", "start", "end", "status", "control_kind", "member_count"]
    list_filter = ["status", "control_kind"]
    search_fields = ["name", "description"]
    ordering = ["-start", "name"]
    list_select_related = ["control_cohort", "control_department"]
    inlines = [PilotMembershipInline]
    fieldsets = [
        (None, {"fields": ["name", "description", "start", "end", "status", "metric"]}),
        ("Control group", {"fields": ["control_kind", "control_cohort", "control_department"]}),
    ]

    @admin.display(description="members")
    def member_count(self, obj: PilotCohort) -> int:
        return obj.memberships.count()

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        overlapping = pilot_overlaps(cohort=form.instance)
        if overlapping:
            messages.warning(
                request,
                "Some members are also in pilots whose dates overlap this one's (allowed, but "
                "their figures count in both): " + ", ".join(overlapping),
            )
