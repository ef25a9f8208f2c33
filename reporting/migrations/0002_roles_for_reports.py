from django.db import migrations

from people.roles import roles_sync


class Migration(migrations.Migration):
    """Finance reads report runs and records productivity metrics (admin CSV import)."""

    dependencies = [
        ("reporting", "0001_reports_and_productivity_metrics"),
        ("approvals", "0003_roles_for_approvals"),
        ("budgets", "0001_initial"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
