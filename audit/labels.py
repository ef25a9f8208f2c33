"""A change as people read it: field labels instead of column names, choice labels instead of
stored values, names instead of ids, dollars instead of micros, "–" for nothing."""

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Field, Model

from common.money import MicrosField, format_usd
from people.labels import person_label
from people.models import Employee

EMPTY = "–"


def _related_name(model: type[Model], pk, shared: frozenset[str]) -> str:
    """The record an id names; a person with the email beside a name someone else has."""
    found = model._default_manager.filter(pk=pk).first()
    if found is None:
        return f"#{pk} (deleted)"
    return person_label(found, shared) if isinstance(found, Employee) else str(found)


def _members(field: Field, rows: list, shared: frozenset[str]) -> str:
    """An m2m field's history value: a list of its through rows, {owner: id, target: id}."""
    target = field.m2m_reverse_field_name()
    names = [
        _related_name(field.related_model, row.get(target), shared)
        if isinstance(row, dict)
        else str(row)
        for row in rows
    ]
    return ", ".join(names) or EMPTY


def value_label(field: Field | None, value, shared: frozenset[str] = frozenset()) -> str:
    """`shared`: the names more than one person has (`people.labels.shared_display_names`)."""
    if field is not None and field.many_to_many and isinstance(value, list):
        return _members(field, value, shared)
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field is None:
        return str(value)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(field, MicrosField) and isinstance(value, int):
        return format_usd(value)
    if field.is_relation and field.related_model is not None:
        return _related_name(field.related_model, value, shared)
    return str(value)


def _field(model: type[Model], name: str) -> Field | None:
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def change_label(
    model: type[Model], name: str, old, new, shared: frozenset[str] = frozenset()
) -> str:
    """'Head of department: – → Ada Turing' for one field of `model` that changed."""
    field = _field(model, name)
    label = str(field.verbose_name) if field is not None else name.replace("_", " ")
    before, after = value_label(field, old, shared), value_label(field, new, shared)
    return f"{label[:1].upper()}{label[1:]}: {before} → {after}"


def state_label(model: type[Model] | None, state: str) -> str:
    """A state machine's stored state as its label ("in_review" -> "In review")."""
    if model is None:
        return state
    for field in model._meta.concrete_fields:
        if field.choices and state in dict(field.flatchoices) and field.name == "state":
            return str(dict(field.flatchoices)[state])
    return state.replace("_", " ")
