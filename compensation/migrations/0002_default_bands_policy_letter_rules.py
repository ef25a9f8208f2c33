from pathlib import Path

from django.db import migrations

from people.roles import roles_sync

MICROS = 10**6
# Base salary (min, target, max) per level, a starting point HR edits; token budget bands are
# the level's default budget ±20 %, the essay's figures for the target.
SALARY_BANDS = {
    "junior": (90_000, 110_000, 130_000),
    "mid": (120_000, 145_000, 170_000),
    "senior": (160_000, 190_000, 220_000),
    "staff": (200_000, 240_000, 280_000),
}
# Offers: within the bands the hiring manager; up to $50,000 outside them, then the skip-level;
# further out, then finance. The amount is how far the package goes outside its bands.
OFFER_TIERS = [
    (0, ["manager"]),
    (50_000 * MICROS, ["manager", "skip_level"]),
    (None, ["manager", "skip_level", "finance"]),
]


def seed(apps, schema_editor):
    Level = apps.get_model("people", "Level")
    LevelBand = apps.get_model("compensation", "LevelBand")
    for level in Level.objects.all():
        low, mid, high = SALARY_BANDS.get(level.name, (100_000, 130_000, 160_000))
        target = level.default_annual_budget_micros
        LevelBand.objects.get_or_create(
            level=level,
            defaults={
                "base_salary_min_micros": low * MICROS,
                "base_salary_target_micros": mid * MICROS,
                "base_salary_max_micros": high * MICROS,
                "token_budget_min_micros": target * 8 // 10,
                "token_budget_target_micros": target,
                "token_budget_max_micros": target * 12 // 10,
            },
        )
    apps.get_model("compensation", "CompensationPolicy").objects.get_or_create(pk=1)
    body = (Path(__file__).parent.parent / "letter_templates" / "default.html").read_text()
    apps.get_model("compensation", "OfferLetterTemplate").objects.get_or_create(
        name="Standard offer letter", defaults={"body": body, "is_default": True}
    )
    ApprovalRule = apps.get_model("approvals", "ApprovalRule")
    for ceiling, steps in OFFER_TIERS:
        ApprovalRule.objects.get_or_create(
            kind="offer", max_amount_micros=ceiling, defaults={"steps": steps}
        )


class Migration(migrations.Migration):
    dependencies = [("compensation", "0001_offers_bands_letters")]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunPython(roles_sync, migrations.RunPython.noop),
    ]
