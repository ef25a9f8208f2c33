from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "connectors"
    verbose_name = "Provider connectors"

    def ready(self):
        # imported here: models load only once the registry is ready (budgets names no connector)
        from budgets.overview import unassigned_source_add
        from connectors.selectors import unassigned_totals  # models: the registry is ready now

        unassigned_source_add(unassigned_totals)
