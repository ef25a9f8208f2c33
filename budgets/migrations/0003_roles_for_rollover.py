from django.db import migrations

from people.roles import roles_sync


class Migration(migrations.Migration):
    dependencies = [
        ("budgets", "0002_rollover"),
        ("people", "0004_rollover_settings"),
        ("approvals", "0003_roles_for_approvals"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
