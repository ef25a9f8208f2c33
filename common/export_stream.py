"""The admin lists' CSV and TSV exports, streamed: the same columns, cells and filters as the
resource's own export (common.exports), read in chunks of `values_list` rows, written row by row
into a StreamingHttpResponse, so memory stays flat and no model is built per row.

A column whose attribute is a database path (`employee__user__email`) is read by values_list;
one that is a property of a related row (`budget__owner_label`) is read from that row, loaded
once per id in bulk (`related_select` on the resource names what that property needs). Each
cell then goes through what the resource's own export applies: its field's conversion (a
DollarsField's micros to dollars), its widget's render and `spreadsheet_cell`
(tests/test_admin_list_exports.py compares the files byte for byte). A column that is
neither (a dehydrate method, a property of the row itself, a relation exported whole) makes
the export walk instances instead, still chunked and streamed."""

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet
from import_export import fields, widgets

from common.csvsafe import spreadsheet_cell

EXPORT_CHUNK_ROWS = 2_000
DELIMITERS = {"csv": ",", "tsv": "\t"}


@dataclass(frozen=True)
class Column:
    field: object  # the resource's import_export Field
    path: str  # what values_list reads: the column itself, or the related row's id
    related: str | None = None  # the related row's property the cell shows, if any


class _Line:
    """A file-like that hands back what csv.writer wrote for one row."""

    def write(self, text: str) -> str:
        return text


def _resolve(model: type[Model], attribute: str) -> tuple[str, str | None] | None:
    """(values_list path, related property) for an attribute, None when it is not one."""
    parts = attribute.split("__")
    current = model
    for index, part in enumerate(parts):
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            if index == 0 or index != len(parts) - 1:
                return None  # a property of the row itself, or one in the middle of a path
            return "__".join(parts[:index]), part
        if field.is_relation:
            if field.many_to_many or field.one_to_many or index == len(parts) - 1:
                return None  # a relation exported whole goes through its widget's instance
            current = field.related_model
        elif index != len(parts) - 1:
            return None
    return attribute, None


def stream_columns(resource, model: type[Model], export_fields) -> list[Column] | None:
    """The columns for the values_list path, None when one of them needs the instance."""
    columns = []
    for field in resource.get_export_fields(export_fields):
        name = resource.get_field_name(field)
        dehydrate = field.get_dehydrate_method(name)
        if callable(dehydrate) or hasattr(resource, dehydrate) or not field.attribute:
            return None
        resolved = _resolve(model, field.attribute)
        if resolved is None:
            return None
        columns.append(Column(field, *resolved))
    return columns


def _nested_set(row: dict, path: str, value) -> None:
    *parents, last = path.split("__")
    for part in parents:
        row = row.setdefault(part, {})
    row[last] = value


def _related_load(
    resource, model: type[Model], columns: list[Column], chunk: list[tuple], at: dict, cache: dict
) -> None:
    """Loads, in bulk, the related rows this chunk names that the cache does not hold yet."""
    for column in columns:
        if column.related is None:
            continue
        target = model
        for part in column.path.split("__"):
            target = target._meta.get_field(part).related_model
        known = cache.setdefault(column.path, {})
        missing = {values[at[column.path]] for values in chunk} - known.keys() - {None}
        if missing:
            select = getattr(resource, "related_select", {}).get(column.path, ())
            known.update(target._default_manager.select_related(*select).in_bulk(missing))


def _converter(column: Column) -> Callable[[object], object] | None:
    """What the column's Field makes of the value it reads (DollarsField: micros to dollars);
    None for a plain Field, which exports the value as it is."""
    field = column.field
    if type(field).get_value is fields.Field.get_value:
        return None
    attribute = field.attribute

    def convert(value):
        row: dict = {}
        _nested_set(row, attribute, value)
        return field.get_value(row)

    return convert


def _renderer(widget) -> Callable[[object], object]:
    """The widget's render for a text file. An integer needs no number_format while Django
    groups no thousands: it comes out as its digits, the same text, without the locale calls
    that were a third of an export's time."""
    render = widget.render
    if (
        isinstance(widget, widgets.NumberWidget)
        and widget.coerce_to_string
        and not settings.USE_THOUSAND_SEPARATOR
    ):
        return lambda value: str(value) if type(value) is int else render(value)
    return render


def _cell_functions(columns: list[Column]) -> list[Callable[[object], object]]:
    """Per column: value -> cell, as the field, its widget and spreadsheet_cell make it."""
    cells = []
    for column in columns:
        convert, render = _converter(column), _renderer(column.field.widget)
        if convert is None:
            cells.append(lambda value, render=render: spreadsheet_cell(render(value)))
        else:
            cells.append(
                lambda value, render=render, convert=convert: spreadsheet_cell(
                    render(convert(value))
                )
            )
    return cells


def _value_rows(resource, queryset: QuerySet, columns: list[Column]) -> Iterator[list]:
    """Each row's cells, read chunk by chunk."""
    paths = list(dict.fromkeys(column.path for column in columns))
    at = {path: index for index, path in enumerate(paths)}
    cache: dict[str, dict] = {}
    reads = [
        (at[c.path], c.related, cell)
        for c, cell in zip(columns, _cell_functions(columns), strict=True)
    ]

    def rows_of(chunk: list[tuple]) -> Iterator[list]:
        _related_load(resource, queryset.model, columns, chunk, at, cache)
        for values in chunk:
            row = []
            for index, related_name, cell in reads:
                value = values[index]
                if related_name is not None:
                    related = cache[paths[index]].get(value)
                    value = None if related is None else getattr(related, related_name)
                row.append(cell(value))
            yield row

    chunk: list[tuple] = []
    for values in queryset.values_list(*paths).iterator(chunk_size=EXPORT_CHUNK_ROWS):
        chunk.append(values)
        if len(chunk) == EXPORT_CHUNK_ROWS:
            yield from rows_of(chunk)
            chunk = []
    yield from rows_of(chunk)


def export_lines(
    resource, queryset: QuerySet, export_fields, *, delimiter: str, cells_plain: bool
) -> Iterator[str]:
    """The header and then each row, as the resource's own export writes them.
    `cells_plain`: the resource's export_field is only the field's export and spreadsheet_cell
    (SpreadsheetSafeResource's), so the rows may be read as values."""
    writer = csv.writer(_Line(), delimiter=delimiter)
    yield writer.writerow(resource.get_export_headers(selected_fields=export_fields))
    queryset = resource.filter_export(queryset)
    columns = stream_columns(resource, queryset.model, export_fields) if cells_plain else None
    if columns is not None:
        for row in _value_rows(resource, queryset, columns):
            yield writer.writerow(row)
        return
    fields = resource.get_export_fields(export_fields)  # what export_resource picks, once
    for instance in queryset.iterator(chunk_size=EXPORT_CHUNK_ROWS):
        yield writer.writerow(
            [resource.export_field(field, instance, force_native_type=False) for field in fields]
        )
