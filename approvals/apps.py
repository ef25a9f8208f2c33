from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Requests and approvals"

    def ready(self) -> None:
        # Django loads the models before ready(); the effects import them, so not at the top.
        from approvals.effects import register

        register()
        # The level-change policy asks the engine and the ledger: registered with people,
        # which sits below both (the handler's module reads the models, so at ready()).
        from approvals.level_changes import level_change_handle  # reads models, at ready()
        from people.level_changes import level_change_handler_register  # with the above

        level_change_handler_register(level_change_handle)
        # The same: the one-click link reads the steps. Notifications sits below approvals, so
        # approvals adds the link's line to its emails.
        from approvals.oneclick import waiting_email_lines, waiting_slack_blocks  # reads models
        from notifications.email import email_extra_register  # with the above, at ready()
        from notifications.kinds import Kind  # with the above, at ready()
        from notifications.slack import slack_blocks_register  # its module reads the models

        email_extra_register(Kind.REQUEST_WAITING, waiting_email_lines)
        slack_blocks_register(Kind.REQUEST_WAITING, waiting_slack_blocks)
