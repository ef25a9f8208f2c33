from django.db import migrations

from people.roles import roles_sync


class Migration(migrations.Migration):
    """HR and finance edit approval rules (with history) and read requests in the admin."""

    dependencies = [
        ("approvals", "0002_default_rules"),
        ("people", "0003_user_email_lower_index"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
