from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "people"
    verbose_name = "Organisation"

    def ready(self) -> None:
        # Money read-only in any admin page shows as dollars: the lowest app with admins sets it.
        from common.admin import money_display_install  # the admin loads only once apps are ready

        money_display_install()
