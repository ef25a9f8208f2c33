from django.apps import AppConfig


class CompensationConfig(AppConfig):
    name = "compensation"
    verbose_name = "Compensation and offers"

    def ready(self) -> None:
        # Django loads the models before ready(); the services import them, so not at the top.
        from compensation.services import register

        register()
