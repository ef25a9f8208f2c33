from django.db import migrations, models


class Migration(migrations.Migration):
    """The company picks what the annual rollover allocates and whether it commits unattended."""

    dependencies = [
        ("people", "0003_user_email_lower_index"),
    ]

    operations = [
        migrations.AddField(
            model_name=model_name,
            name="allocation_model",
            field=models.CharField(
                choices=[
                    ("seniority", "By seniority (level bands)"),
                    ("projects", "By project impact (project allocations only)"),
                    ("both", "Both (level bands and project allocations)"),
                ],
                default="both",
                help_text="What the annual rollover allocates: level budgets, project ones, or both.",
                max_length=20,
            ),
        )
        for model_name in ("companysettings", "historicalcompanysettings")
    ] + [
        migrations.AddField(
            model_name=model_name,
            name="rollover_automatic",
            field=models.BooleanField(
                default=False,
                help_text="Commit the year-end rollover without waiting for finance to confirm.",
                verbose_name="automatic rollover",
            ),
        )
        for model_name in ("companysettings", "historicalcompanysettings")
    ]
