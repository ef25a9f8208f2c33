from django.db import migrations

from people.roles import roles_sync


class Migration(migrations.Migration):
    """Finance closes months (and reopens them, two people) and sets the journal's accounts."""

    dependencies = [
        ("reporting", "0003_journal_accounts"),
        ("budgets", "0011_month_close_and_entry_period"),
        ("people", "0010_cost_centres"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
