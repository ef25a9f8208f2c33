"""HR's admin for the organisation. Budget pieces (inlines, allocation actions) are added by
budgets/admin.py, which extends EmployeeAdmin, so that this app never imports budgets."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.widgets import AdminDateWidget
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV, XLSX

from common.admin import HistoryAdmin
from common.errors import AllotError
from common.exports import SpreadsheetExportMixin
from common.money import format_usd
from people.exports import EmployeeExportResource
from people.imports import EmployeeResource
from people.labels import employee_choice_label
from people.level_changes import employee_level_change, employee_level_change_preview
from people.models import CompanySettings, Department, Employee, Level, Project, Team
from people.roles import HR, has_role
from people.services import employee_deactivate, managers_group_sync, person_create

User = get_user_model()

# What HR may change on a person's sign-in. Everything else on a user grants access (staff,
# superuser, groups, permissions, the password) and is a superuser's alone.
PERSON_FIELDS = ("first_name", "last_name", "email", "is_active")


admin.site.unregister(User)  # Django's own UserAdmin, replaced by the one below


def is_claimed(user) -> bool:
    """Someone signs in with this account (a password set, or a sign-in made): its email is
    where a password reset goes, so changing it would hand the account to whoever reads it."""
    return user.has_usable_password() or user.last_login is not None


class AccountChangeForm(UserChangeForm):
    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if email and User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Someone already signs in with this email.")
        return email


@admin.register(User)
class AccountAdmin(UserAdmin):
    """Django's user admin, with access kept to superusers.

    HR (who holds `auth.user` change to keep people's names, emails and active flag right) edits
    only accounts that grant nothing: a staff or superuser account is read-only to anyone but a
    superuser, so nobody below a superuser can take one over by its email or switch it off.
    Setting a password in the admin is a superuser's alone: a password someone else sets is a
    sign-in they hold, and a manager's sign-in decides money. People set their own through the
    password-reset page, so the email of an account someone signs in with is a superuser's to
    change too (HR corrects it only before its owner first signs in). An email names one person.
    """

    form = AccountChangeForm

    person_fieldsets = (
        (None, {"fields": ("username",)}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Status", {"fields": ("is_active",)}),
        ("Access (set by a superuser)", {"fields": ("is_staff", "is_superuser", "roles")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser or obj is None:
            return super().get_fieldsets(request, obj)
        return self.person_fieldsets

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        fixed = ("username", "is_staff", "is_superuser", "roles", "last_login", "date_joined")
        return (*fixed, "email") if obj is not None and is_claimed(obj) else fixed

    def has_change_permission(self, request, obj=None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        if request.user.is_superuser or obj is None:
            return True
        return not (obj.is_staff or obj.is_superuser)

    def has_add_permission(self, request) -> bool:
        # A new account is made with its password and access: employees come in through the
        # employee admin (no usable password until they reset it).
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def user_change_password(self, request, id, form_url=""):
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def save_model(self, request, obj, form, change):
        # The form of a non-superuser has only the person's fields; this holds even if a form
        # class changes later.
        if not request.user.is_superuser:
            allowed = set(PERSON_FIELDS) - ({"email"} if is_claimed(form.instance) else set())
            if set(form.changed_data) - allowed:
                raise PermissionDenied
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if not request.user.is_superuser and {"groups", "user_permissions"} & set(form.fields):
            raise PermissionDenied
        super().save_related(request, form, formsets, change)

    @admin.display(description="Roles")
    def roles(self, user) -> str:
        return ", ".join(user.groups.order_by("name").values_list("name", flat=True)) or "–"


class PeopleAutocompleteJsonView(AutocompleteJsonView):
    """The admin's search-as-you-type boxes: an employee with the email beside the name, so
    two people called Ada Turing are two choices."""

    def serialize_result(self, obj, to_field_name):
        result = super().serialize_result(obj, to_field_name)
        if isinstance(obj, Employee):
            result["text"] = employee_choice_label(obj)
        return result


def _autocomplete_view(request):
    return PeopleAutocompleteJsonView.as_view(admin_site=admin.site)(request)


# AdminSite.get_urls reads the attribute when config.urls builds the admin's URLs.
admin.site.autocomplete_view = _autocomplete_view


class EmployeeChoicesMixin:
    """Employee fields in this admin's forms (selects, and an autocomplete's chosen value) name
    the email beside each name."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and db_field.related_model is Employee:
            field.label_from_instance = employee_choice_label
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.related_model is Employee:
            field.label_from_instance = employee_choice_label
        return field


@admin.register(Level)
class LevelAdmin(HistoryAdmin):
    list_display = ["name", "rank", "default_budget", "employee_count"]
    search_fields = ["name"]
    ordering = ["rank"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(employee_count=Count("employees"))

    @admin.display(description="Default annual budget", ordering="default_annual_budget_micros")
    def default_budget(self, level: Level) -> str:
        return format_usd(level.default_annual_budget_micros)

    @admin.display(description="Employees", ordering="employee_count")
    def employee_count(self, level: Level) -> int:
        return level.employee_count


class TeamInline(EmployeeChoicesMixin, admin.TabularInline):
    model = Team
    extra = 0
    fields = ["name", "lead", "has_pool", "pool_overflow", "transparency"]
    autocomplete_fields = ["lead"]
    show_change_link = True


@admin.register(Department)
class DepartmentAdmin(EmployeeChoicesMixin, HistoryAdmin):
    list_display = ["name", "head", "cost_centre", "team_count"]
    search_fields = ["name"]
    autocomplete_fields = ["head"]
    list_select_related = ["head__user"]
    inlines = [TeamInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(team_count=Count("teams"))

    @admin.display(description="Teams", ordering="team_count")
    def team_count(self, department: Department) -> int:
        return department.team_count


@admin.register(Team)
class TeamAdmin(EmployeeChoicesMixin, HistoryAdmin):
    list_display = [
        "name",
        "department",
        "lead",
        "cost_centre",
        "has_pool",
        "pool_overflow",
        "transparency",
    ]
    list_filter = ["department", "has_pool", "pool_overflow", "transparency"]
    search_fields = ["name", "department__name"]
    autocomplete_fields = ["lead"]
    list_select_related = ["department", "lead__user"]


class EmployeeCreationForm(forms.ModelForm):
    """HR adds a person in one form: the sign-in is made from the email, with no usable password
    until they reset it (or single sign-on claims the account)."""

    email = forms.EmailField()
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)

    class Meta:
        model = Employee
        fields = [
            "level",
            "team",
            "manager",
            "hire_date",
            "external_id",
            "annual_budget_micros",
        ]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("Someone already signs in with this email.")
        return email

    @transaction.atomic
    def save(self, commit=True):
        self.instance.user = person_create(
            email=self.cleaned_data["email"],
            first_name=self.cleaned_data["first_name"],
            last_name=self.cleaned_data["last_name"],
        )
        return super().save(commit=commit)


class EmployeeChangeForm(forms.ModelForm):
    """The change form. A new level is said with what it does to this year's budget (the
    company's policy, the prorated difference) before anything is saved: the first save shows
    it, the second, with the box ticked, makes the change through the level-change service."""

    level_effective_from = forms.DateField(
        label="New level applies from",
        required=False,
        widget=AdminDateWidget,
        help_text="Only when the level changes: the day it applies from (blank: today).",
    )
    confirm_level_change = forms.BooleanField(
        label="Confirm the level change",
        required=False,
        help_text="Tick it once you have read what the new level does to this year's budget.",
    )

    class Meta:
        model = Employee
        fields = [  # the admin's `fields` say which show, and which of them are read-only
            "user",
            "level",
            "team",
            "manager",
            "hire_date",
            "left_on",
            "is_active",
            "external_id",
            "annual_budget_micros",
        ]

    def clean(self):
        data = super().clean()
        if "level" not in self.changed_data or not data.get("level") or not self.instance.pk:
            return data
        try:
            preview = employee_level_change_preview(
                employee=self.instance,
                new_level=data["level"],
                effective=data.get("level_effective_from"),
            )
        except AllotError as error:
            self.add_error(error.field or "level", error.message)
            return data
        self.level_change_preview = preview.sentence if preview else ""
        if preview is not None and not data.get("confirm_level_change"):
            self.add_error(
                "confirm_level_change",
                f"{preview.sentence} Tick the box and save again to make the change.",
            )
        return data


@admin.register(Employee)
class EmployeeAdmin(EmployeeChoicesMixin, ImportMixin, SpreadsheetExportMixin, HistoryAdmin):
    # "Import" on the list: CSV or XLSX, previewed, all or nothing (people/imports.py).
    resource_classes = [EmployeeResource]
    import_formats = [CSV, XLSX]
    # "Export" beside it: the list as filtered, the import's columns first (people/exports.py).
    import_export_change_list_template = "admin/import_export/change_list_import_export.html"

    def get_export_resource_classes(self, request):
        return [EmployeeExportResource]

    def import_action(self, request, **kwargs):
        """The import's preview says, per person, what a new level posts or asks for."""
        response = super().import_action(request, **kwargs)
        result = (getattr(response, "context_data", None) or {}).get("result")
        for line in getattr(result, "level_changes", None) or []:
            self.message_user(request, f"On confirming: {line}", messages.INFO)
        return response

    def add_success_message(self, result, request):
        super().add_success_message(result, request)
        for line in getattr(result, "level_changes", None) or []:
            self.message_user(request, line, messages.SUCCESS)

    list_display = [
        "display_name",
        "email",
        "level",
        "team",
        "manager_label",
        "hire_date",
        "is_active",
    ]
    list_filter = ["level", "team__department", "team", "is_active"]
    search_fields = [
        "user__email",
        "user__first_name",
        "user__last_name",
        "external_id",
    ]
    list_select_related = ["user", "level", "team", "manager__user"]
    autocomplete_fields = ["user", "team", "manager"]
    date_hierarchy = "hire_date"
    form = EmployeeChangeForm
    fields = [
        "user",
        "level",
        "level_effective_from",
        "confirm_level_change",
        "team",
        "manager",
        "hire_date",
        "left_on",
        "is_active",
        "external_id",
        "annual_budget_micros",
    ]
    list_per_page = 50

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = EmployeeCreationForm
            kwargs["fields"] = [
                name
                for name in EmployeeCreationForm.Meta.fields
                if request.user.is_superuser or name not in self.SUPERUSER_FIELDS
            ]
        return super().get_form(request, obj, change=change, **kwargs)

    # Below a superuser, fields that move money or hand over a place are not edited here:
    # - the sign-in: pointing an employee at another one would hand that person the employee's
    #   place (their reports' approvals, their budget);
    # - the agreed annual budget: each year's allocation posts it with no second person, so it
    #   comes from an accepted offer (approved) or a superuser, never from one HR edit.
    SUPERUSER_FIELDS = ["user", "annual_budget_micros"]

    def get_fields(self, request, obj=None):
        if obj is None:
            fields = ["email", "first_name", "last_name", *EmployeeCreationForm.Meta.fields]
            if not request.user.is_superuser:
                fields.remove("annual_budget_micros")
            return fields
        fields = super().get_fields(request, obj)
        if not self.has_change_permission(request, obj):  # read-only: nothing to confirm
            fields = [name for name in fields if name not in self.LEVEL_CHANGE_FIELDS]
        return fields

    # The change form's own fields for a new level (EmployeeChangeForm), not the model's.
    LEVEL_CHANGE_FIELDS = ["level_effective_from", "confirm_level_change"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not request.user.is_superuser:
            return [*self.SUPERUSER_FIELDS, *super().get_readonly_fields(request, obj)]
        return super().get_readonly_fields(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        # Nobody below a superuser edits their own record (their manager picks who approves
        # their requests; their level and budget are their pay).
        if obj is not None and obj.user_id == request.user.pk and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    actions = ["close_as_leavers"]

    def save_model(self, request, obj, form, change):
        leaving = change and "is_active" in form.changed_data and not obj.is_active
        new_level = obj.level if change and "level" in form.changed_data else None
        with transaction.atomic():
            if new_level is not None:  # the level-change service moves it, with its policy
                obj.level = Level.objects.get(pk=form.initial["level"])
            super().save_model(request, obj, form, change)
            moved = new_level and employee_level_change(
                employee=obj,
                new_level=new_level,
                effective=form.cleaned_data.get("level_effective_from"),
                acting_user=request.user,
                source="admin",
            )
            done = employee_deactivate(employee=obj, acting_user=request.user) if leaving else []
            managers_group_sync()
        if moved:
            self.message_user(request, moved.sentence, messages.SUCCESS)
        if leaving:
            self._leaver_message(request, obj, done)

    @admin.action(
        description="Close as leavers (last day today; holds released, unused forfeited)",
        permissions=["change"],
    )
    def close_as_leavers(self, request, queryset):
        for employee in queryset.select_related("user"):
            if employee.user_id == request.user.pk:
                self.message_user(request, "You cannot close your own record.", messages.ERROR)
                continue
            self._leaver_message(
                request, employee, employee_deactivate(employee=employee, acting_user=request.user)
            )

    def _leaver_message(self, request, employee: Employee, done: list[str]) -> None:
        what = "; ".join(done) if done else "no holds or unused money"
        self.message_user(
            request,
            f"{employee.display_name} left on {employee.left_on:%b %-d, %Y}: {what}.",
            messages.SUCCESS,
        )

    @admin.display(description="Name", ordering="user__last_name")
    def display_name(self, employee: Employee) -> str:
        return employee.display_name

    @admin.display(description="manager", ordering="manager__user__last_name")
    def manager_label(self, employee: Employee) -> str:
        """With the email beside the name: the list may hold two managers called alike."""
        return employee_choice_label(employee.manager) if employee.manager_id else "–"

    @admin.display(description="Email", ordering="user__email")
    def email(self, employee: Employee) -> str:
        return employee.user.email


@admin.register(Project)
class ProjectAdmin(EmployeeChoicesMixin, HistoryAdmin):
    list_display = ["code", "name", "lead", "starts_on", "ends_on", "member_count"]
    list_filter = ["starts_on", "ends_on"]
    search_fields = ["code", "name", "justification"]
    autocomplete_fields = ["lead", "members"]
    list_select_related = ["lead__user"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, project: Project) -> int:
        return project.member_count


@admin.register(CompanySettings)
class CompanySettingsAdmin(HistoryAdmin):
    """One row: the list goes straight to it, and it can be neither added twice nor deleted."""

    fieldsets = [
        (None, {"fields": ["name", "fiscal_year_start_month"]}),
        ("Tokens", {"fields": ["reference_rate_usd_per_token", "transparency_default"]}),
        (
            "Carryover",
            {
                "fields": [
                    "carryover_share_percent",
                    "carryover_cap_micros",
                    "carryover_expiry_months",
                    "allocation_model",
                    "rollover_automatic",
                ]
            },
        ),
        (
            "Budget indexing (at the rollover)",
            {
                "fields": [
                    "budget_indexing",
                    "indexing_blend_weight",
                    "indexing_floor_pct",
                    "indexing_cap_pct",
                ],
                "description": "How the new year's allocations from levels follow token prices: "
                "the factor is the new year's rate over the closing year's effective rate (fixed "
                "in tokens), 1 (fixed in dollars), or a blend, held between the floor and the cap. "
                "The rollover's preview shows both rates, the factor and each person's amounts.",
            },
        ),
        ("Alerts", {"fields": ["alert_thresholds"]}),
        ("Controls", {"fields": ["manual_entry_approval_above_micros"]}),
        ("Levels", {"fields": ["level_change_policy"]}),
        (
            "Delegation (HR's)",
            {
                "fields": ["delegation_max_days", "delegation_stand_ins"],
                "description": "How long an approver's stand-in may decide for them, and who "
                "qualifies. Checked when a delegation is made and again whenever it would decide.",
            },
        ),
    ]
    HR_FIELDS = ["delegation_max_days", "delegation_stand_ins"]
    # Controls on the people who edit this page are not theirs to loosen.
    SUPERUSER_FIELDS = ["manual_entry_approval_above_micros"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        # Finance sets the calendar and money policies here too; who may stand in is HR's call.
        if not has_role(request.user, HR):
            fields += self.HR_FIELDS
        if not request.user.is_superuser:
            fields += self.SUPERUSER_FIELDS
        return fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        CompanySettings.objects.get_or_create(pk=1)
        return HttpResponseRedirect(reverse("admin:people_companysettings_change", args=[1]))
