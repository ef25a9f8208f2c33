from django.db import migrations


class Migration(migrations.Migration):
    """The pilot flag's people are a named cohort now (pilots/migrations/0002)."""

    dependencies = [
        ("people", "0011_budget_indexing_policy"),
        ("pilots", "0002_pilot_flag_to_cohort"),
    ]

    operations = [
        migrations.RemoveField(model_name="employee", name="pilot_cohort"),
        migrations.RemoveField(model_name="historicalemployee", name="pilot_cohort"),
    ]
