from django.db import migrations

from people.roles import roles_sync


class Migration(migrations.Migration):
    """HR keeps the pilots and their members; finance reads them."""

    dependencies = [
        ("pilots", "0002_pilot_flag_to_cohort"),
        ("people", "0011_budget_indexing_policy"),
        ("budgets", "0013_rollover_price_indexing"),
        ("approvals", "0007_transfer_kind_and_owner_step"),
        ("compensation", "0004_pay_records_and_statement_runs"),
        ("reporting", "0006_monthly_report"),
        ("connectors", "0003_connection_sync_status"),
        ("provisioning", "0002_roles_for_waiting_list"),
        ("notifications", "0004_slack_settings"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
