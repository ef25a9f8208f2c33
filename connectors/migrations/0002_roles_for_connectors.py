from django.db import migrations

from people.roles import roles_sync


class Migration(migrations.Migration):
    """Finance configures connections and reads the reconciliation; HR maps identifiers; both
    read the buckets, the unassigned queue and the Claude Code days."""

    dependencies = [
        ("connectors", "0001_initial"),
        ("people", "0008_delegation_policy"),
        ("budgets", "0009_notification_moved_to_notifications"),
        ("approvals", "0005_delegation_ended_early"),
        ("compensation", "0002_default_bands_policy_letter_rules"),
        ("reporting", "0002_roles_for_reports"),
        ("notifications", "0001_initial"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
