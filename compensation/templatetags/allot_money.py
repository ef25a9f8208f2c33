from django import template

from common.money import format_usd

register = template.Library()


@register.filter
def usd(micros) -> str:
    """Integer micro-dollars as '$1,234.57'."""
    return format_usd(micros)
