from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning (SCIM)"

    def ready(self) -> None:
        # Connects the audit trail's receiver: SCIM writes name their token in the history.
        from provisioning import history  # noqa: F401  (signal registration at start-up)
