"""`{% person_label employee %}`: a person's name, with their email when someone else has it."""

from django import template

from people.labels import person_label_for_request

register = template.Library()


@register.simple_tag(takes_context=True)
def person_label(context, employee) -> str:
    return person_label_for_request(employee, context.get("request"))
