from django.apps import AppConfig


class PilotsConfig(AppConfig):
    name = "pilots"
    verbose_name = "Pilots"

    def ready(self) -> None:
        # The demo's pilots need the organisation the budgets' demo made; budgets never imports
        # pilots, so they are registered here.
        from budgets.demo.extras import demo_extra_register  # apps are loaded only now
        from pilots.demo import pilots_demo_seed  # imports models: only once apps are ready

        demo_extra_register(pilots_demo_seed)
