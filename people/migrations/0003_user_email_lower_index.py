from django.db import migrations


class Migration(migrations.Migration):
    """Gateways name employees by email in any case: an index on LOWER(email) makes that lookup
    one index probe instead of a scan of every user (PostgreSQL and SQLite both index
    expressions)."""

    dependencies = [
        ("people", "0002_seed_levels_and_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS auth_user_email_lower ON auth_user (LOWER(email))",
            "DROP INDEX IF EXISTS auth_user_email_lower",
        ),
    ]
