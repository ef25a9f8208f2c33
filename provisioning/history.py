"""Every SCIM write is in the audit trail: its history rows carry the token's creator as the
user (the request's user, set by the token check) and the token's name as the reason."""

from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record


def _scim_reason(sender, history_instance, **kwargs) -> None:
    request = getattr(HistoricalRecords.context, "request", None)
    token = getattr(request, "scim_token", None)
    if token is not None and not history_instance.history_change_reason:
        history_instance.history_change_reason = f"SCIM ({token.name})"


pre_create_historical_record.connect(_scim_reason, dispatch_uid="provisioning-scim-reason")
