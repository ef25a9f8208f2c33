from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "connectors"
    verbose_name = "Provider connectors"

    def ready(self):
        # imported once the app registry is ready (models load here); budgets names no connector
        from budgets.overview import unassigned_source_add
        # its models need the registry, which is ready only now
        from connectors.selectors import unassigned_totals

        unassigned_source_add(unassigned_totals)
