from django.db import migrations

MICROS = 10**6
# PRODUCT.md's tiers: up to $10,000 the manager; up to $50,000 then the skip-level; above, then
# finance. Editable in the admin, with history.
TIERS = [
    (10_000 * MICROS, ["manager"]),
    (50_000 * MICROS, ["manager", "skip_level"]),
    (None, ["manager", "skip_level", "finance"]),
]


def seed_rules(apps, schema_editor):
    ApprovalRule = apps.get_model("approvals", "ApprovalRule")
    for kind in ("increase", "project_allocation", "team_topup"):
        for ceiling, steps in TIERS:
            ApprovalRule.objects.get_or_create(
                kind=kind, max_amount_micros=ceiling, defaults={"steps": steps}
            )


class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_initial")]

    operations = [migrations.RunPython(seed_rules, migrations.RunPython.noop)]
