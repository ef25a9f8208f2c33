from django.db import migrations

from people.roles import roles_sync

LEVELS = [  # (name, rank, default annual budget in USD) from the essay
    ("junior", 10, 50_000),
    ("mid", 20, 100_000),
    ("senior", 30, 150_000),
    ("staff", 40, 250_000),
]


def seed_levels(apps, schema_editor):
    Level = apps.get_model("people", "Level")
    for name, rank, dollars in LEVELS:
        Level.objects.get_or_create(
            name=name, defaults={"rank": rank, "default_annual_budget_micros": dollars * 10**6}
        )


def seed_company_settings(apps, schema_editor):
    apps.get_model("people", "CompanySettings").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0001_initial"),
        ("budgets", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(seed_levels, migrations.RunPython.noop),
        migrations.RunPython(seed_company_settings, migrations.RunPython.noop),
        migrations.RunPython(roles_sync, migrations.RunPython.noop),
    ]
