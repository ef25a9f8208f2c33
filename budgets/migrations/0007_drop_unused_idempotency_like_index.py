"""Drop the `varchar_pattern_ops` index Django adds on PostgreSQL beside the unique index of
`LedgerEntry.idempotency_key`. It serves only `LIKE 'prefix%'` searches, which nothing runs (the
admin's search is a case-insensitive contains, which no btree serves); every ledger entry paid
for it, usage entries included (their key is NULL, still indexed). Exact lookups and the
uniqueness use the unique index, which stays."""

from django.db import migrations

INDEX = "budgets_ledgerentry_idempotency_key_f012cd91_like"


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON budgets_ledgerentry "
            "(idempotency_key varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [("budgets", "0006_usage_event_budget_through_its_entry")]

    operations = [migrations.RunPython(drop, create)]
