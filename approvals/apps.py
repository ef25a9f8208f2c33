from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Requests and approvals"

    def ready(self) -> None:
        # Django loads the models before ready(); the effects import them, so not at the top.
        from approvals.effects import register

        register()
