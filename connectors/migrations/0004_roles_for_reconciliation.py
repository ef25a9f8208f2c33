from django.db import migrations

from people.roles import roles_sync


class Migration(migrations.Migration):
    """Finance reads the reconciliation days."""

    dependencies = [("connectors", "0003_reconciliation")]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
