"""The admin index's "needs a level" line: how many people the identity provider sent are
waiting for HR, for those who may see the list."""

from django import template

from provisioning.services import waiting_list

register = template.Library()


@register.simple_tag
def waiting_for_level(user) -> int:
    if not user.has_perm("provisioning.view_provisionedperson"):
        return 0
    return waiting_list().count()
