"""The admin index's unassigned-usage line: the queue's count and total, with a link to it, for
those who may see the queue (HR and finance)."""

from django import template

from connectors.admin import unassigned_summary

register = template.Library()


@register.simple_tag
def unassigned_usage(user) -> dict:
    """The queue's summary (connectors.admin.unassigned_summary), or {} for who may not see it."""
    if not user.has_perm("connectors.view_unassignedusage"):
        return {}
    return unassigned_summary()
