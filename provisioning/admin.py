"""SCIM in the admin: superusers see the tokens (never a secret) and revoke them; HR sees the
people the identity provider sent who wait for a level, and gives them one."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet

from common.admin import HistoryAdmin
from people.models import Level
from provisioning.models import ProvisionedPerson, ScimToken
from provisioning.services import scim_token_revoke, waiting_list, waiting_promote


@admin.register(ScimToken)
class ScimTokenAdmin(HistoryAdmin):
    list_display = ["name", "created_by", "created_at", "last_used_at", "revoked"]
    list_filter = ["revoked"]
    fields = ["name", "created_by", "created_at", "last_used_at", "revoked"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False  # `manage.py create_scim_token NAME`: the secret is shown there, once

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked, not deleted: the audit trail names it

    @admin.action(description="Revoke (the provider's calls are refused from now on)")
    def revoke(self, request, queryset: QuerySet) -> None:
        for token in queryset:
            scim_token_revoke(token=token)
        self.message_user(request, f"{queryset.count()} token(s) revoked.", messages.SUCCESS)


class LevelForm(forms.ModelForm):
    level = forms.ModelChoiceField(queryset=Level.objects.all())

    class Meta:
        model = ProvisionedPerson
        fields = ["level", "team"]


@admin.register(ProvisionedPerson)
class WaitingAdmin(HistoryAdmin):
    """The "needs a level" list: pick the level and save, and they are an employee."""

    form = LevelForm
    list_display = ["person", "email", "level_asked", "manager_user", "team", "created_at"]
    search_fields = ["user__email", "user__first_name", "user__last_name", "level_asked"]
    autocomplete_fields = ["team"]
    list_select_related = ["user", "manager_user", "team"]
    readonly_fields = ["level_asked", "manager_user"]

    def get_queryset(self, request):
        return super().get_queryset(request) & waiting_list()

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Name", ordering="user__last_name")
    def person(self, waiting: ProvisionedPerson) -> str:
        return str(waiting)

    @admin.display(description="Email", ordering="user__email")
    def email(self, waiting: ProvisionedPerson) -> str:
        return waiting.user.email

    def save_model(self, request, obj, form, change) -> None:
        obj.save()
        employee = waiting_promote(waiting=obj, level=form.cleaned_data["level"])
        self.message_user(request, f"{employee} is an employee now.", messages.SUCCESS)
