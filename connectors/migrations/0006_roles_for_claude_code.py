from django.db import migrations

from people.roles import roles_sync


class Migration(migrations.Migration):
    """HR and finance read the engineers' Claude Code days."""

    dependencies = [("connectors", "0005_claude_code")]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
