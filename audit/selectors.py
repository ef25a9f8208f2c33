"""Who changed what: every model's history (django-simple-history), every state transition
(django-fsm-log) and every ledger entry a person posted, as one time-ordered trail."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, Q, QuerySet
from django_fsm_log.models import StateLog
from simple_history.models import HistoricalChanges, registered_models
from simple_history.utils import get_history_model_for_model

from approvals.models import ApprovalRequest
from approvals.selectors import requests_visible_to
from audit.labels import change_label, state_label
from budgets.models import Budget, LedgerEntry, OwnerKind
from people.labels import person_label, shared_display_names
from people.models import Employee

ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}
# Fields every history row carries that say nothing about the change itself.
_NOISE = {"id", "updated_at", "modified_at"}


@dataclass
class AuditRow:
    at: datetime
    who: str
    what: str  # the kind of record, e.g. "Budget"
    record: str  # the record itself, as people know it
    action: str
    changes: list[str] = field(default_factory=list)
    reason: str = ""


def audited_models(user=None) -> list[type[Model]]:
    """Every model whose changes are kept and that `user` may view (when given), in a stable
    order. Offers, candidates and salary bands are HR's: finance does not see their history."""

    tracked = [
        model
        for model in registered_models.values()
        # m2m through tables are registered too; their rows show on the owning record's history
        if getattr(model._meta, "simple_history_manager_attribute", None)
        and (
            user is None or user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}")
        )
    ]
    return sorted(tracked, key=lambda m: str(m._meta.verbose_name).lower())


def _who(user, shared: frozenset[str]) -> str:
    if user is None:
        return "system"
    return person_label(user, shared)


def _record_name(obj, shared: frozenset[str]) -> str:
    """The record as people know it; a person (or a personal budget) with the email beside
    the name when someone else has the name."""
    if isinstance(obj, Employee):
        return person_label(obj, shared)
    if isinstance(obj, Budget) and obj.employee_id:
        owner = person_label(obj.employee, shared)
        return f"{OwnerKind(obj.owner_kind).label}: {owner} FY{obj.fiscal_year}"
    return str(obj)


def _user_filter(prefix: str, who: str) -> Q:
    return (
        Q(**{f"{prefix}__username__icontains": who})
        | Q(**{f"{prefix}__email__icontains": who})
        | Q(**{f"{prefix}__last_name__icontains": who})
    )


def _window(qs: QuerySet, column: str, since: datetime | None, until: datetime | None):
    if since:
        qs = qs.filter(**{f"{column}__gte": since})
    if until:
        qs = qs.filter(**{f"{column}__lt": until})
    return qs


# Each source gives (when, build) pairs: the rows are ordered and paged by time first, and only
# the page shown is built (a history row's diff needs its previous record, one query each),
# given the names more than one person has (`people.labels.shared_display_names`).
Pending = tuple[datetime, Callable[[frozenset[str]], AuditRow]]


def _history_row(model, record, shared: frozenset[str]) -> AuditRow:
    changes = []
    if record.history_type == "~" and isinstance(record, HistoricalChanges):
        previous = record.prev_record
        if previous is not None:
            delta = record.diff_against(previous)
            changes = [
                change_label(model, c.field, c.old, c.new, shared)
                for c in delta.changes
                if c.field not in _NOISE
            ]
    return AuditRow(
        at=record.history_date,
        who=_who(record.history_user, shared),
        what=str(model._meta.verbose_name).capitalize(),
        record=_record_name(record.instance, shared)
        if record.history_type != "-"
        else f"#{record.id}",
        action=ACTIONS.get(record.history_type, record.history_type),
        changes=changes,
        reason=record.history_change_reason or "",
    )


def _history_rows(model, *, who, since, until, limit) -> list[Pending]:
    history = get_history_model_for_model(model)
    qs = _window(history.objects.select_related("history_user"), "history_date", since, until)
    if who:
        qs = qs.filter(_user_filter("history_user", who))
    return [
        (record.history_date, partial(_history_row, model, record))
        for record in qs.order_by("-history_date", "-history_id")[:limit]
    ]


def _transition_row(log, shared: frozenset[str]) -> AuditRow:
    model = log.content_type.model_class()
    source, target = state_label(model, log.source_state), state_label(model, log.state)
    return AuditRow(
        at=log.timestamp,
        who=_who(log.by, shared),
        what=str(log.content_type.name).capitalize(),
        record=_record_name(log.content_object, shared)
        if log.content_object
        else f"#{log.object_id}",
        action=f"{log.transition.replace('_', ' ')}: {source} → {target}",
        reason=log.description or "",
    )


def _transition_rows(*, user, who, since, until, limit) -> list[Pending]:
    qs = _window(StateLog.objects.select_related("by", "content_type"), "timestamp", since, until)
    if user is not None:  # only transitions of records the reader may view (no offers for finance)
        visible = [
            ct.pk
            for ct in ContentType.objects.filter(pk__in=qs.values("content_type").distinct())
            if user.has_perm(f"{ct.app_label}.view_{ct.model}")
        ]
        qs = qs.filter(content_type__in=visible)
        # and of requests, only those the one rule of requests lets them see (an offer's
        # request names its package's total: HR's)
        requests = ContentType.objects.get_for_model(ApprovalRequest)
        qs = qs.exclude(
            Q(content_type=requests) & ~Q(object_id__in=requests_visible_to(user).values("pk"))
        )
    if who:
        qs = qs.filter(_user_filter("by", who))
    return [
        (log.timestamp, partial(_transition_row, log))
        for log in qs.order_by("-timestamp", "-id")[:limit]
    ]


def _ledger_row(entry, shared: frozenset[str]) -> AuditRow:
    return AuditRow(
        at=entry.created_at,
        who=_who(entry.acting_user, shared),
        what="Ledger entry",
        record=_record_name(entry.budget, shared),
        action=f"posted {entry.get_kind_display().lower()} {entry.amount_display}",
        reason=entry.memo,
    )


def _ledger_rows(*, who, since, until, limit) -> list[Pending]:
    qs = LedgerEntry.objects.filter(acting_user__isnull=False)
    qs = _window(
        qs.select_related(
            "acting_user", "budget__employee__user", "budget__team", "budget__project"
        ),
        "created_at",
        since,
        until,
    )
    if who:
        qs = qs.filter(_user_filter("acting_user", who))
    return [
        (entry.created_at, partial(_ledger_row, entry))
        for entry in qs.order_by("-created_at", "-id")[:limit]
    ]


def audit_trail(
    *,
    user=None,
    what: str = "",
    who: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditRow]:
    """The newest `limit` rows after `offset`, newest first, of what `user` may view (all when
    None). `what` is a model label ("budgets.budget"), "transitions" or "ledger"; empty means
    everything."""
    need = offset + limit
    rows: list[Pending] = []
    for model in audited_models(user):
        if what in ("", model._meta.label_lower):
            rows += _history_rows(model, who=who, since=since, until=until, limit=need)
    if what in ("", "transitions"):
        rows += _transition_rows(user=user, who=who, since=since, until=until, limit=need)
    if what in ("", "ledger"):
        rows += _ledger_rows(who=who, since=since, until=until, limit=need)
    rows.sort(key=lambda row: row[0], reverse=True)
    page = rows[offset:need]
    shared = shared_display_names() if page else frozenset()
    return [build(shared) for _, build in page]
