from django.apps import AppConfig


class CompensationConfig(AppConfig):
    name = "compensation"
    verbose_name = "Compensation and offers"

    def ready(self) -> None:
        from compensation.services import register

        register()
