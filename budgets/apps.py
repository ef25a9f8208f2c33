from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"
    verbose_name = "Budgets and ledger"

    def ready(self) -> None:
        # Django loads the models before ready(); both modules import them, so not at the top.
        from budgets.leavers import leaver_close
        from people.services import leaver_hook_register  # (the same reason)

        leaver_hook_register(leaver_close)
