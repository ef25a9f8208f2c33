"""Notification now belongs to the notifications app (its 0001 took the table over and renamed
it): budgets forgets the model in state only, and the content type moves with it, so the
permissions the roles hold on it (and the admin's history) stay attached."""

from django.db import migrations

from people.roles import roles_sync


def _content_type_move(apps, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    old = ContentType.objects.filter(app_label=source, model="notification").first()
    if old is None:
        return
    if ContentType.objects.filter(app_label=target, model="notification").exists():
        # A roles sync in between already made the target's own: the old one is only stale.
        old.delete()
        return
    old.app_label = target
    old.save(update_fields=["app_label"])


def forwards(apps, schema_editor) -> None:
    _content_type_move(apps, "budgets", "notifications")
    roles_sync(apps, schema_editor)


def backwards(apps, schema_editor) -> None:
    _content_type_move(apps, "notifications", "budgets")


class Migration(migrations.Migration):
    dependencies = [
        ("budgets", "0008_rollover_item_hold_forfeited"),
        ("notifications", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Notification")],
        ),
        migrations.RunPython(forwards, backwards),
    ]
