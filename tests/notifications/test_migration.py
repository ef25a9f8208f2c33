"""The model moved from budgets to notifications: the rows, and the roles' permissions on them,
must come through the move (on SQLite and on PostgreSQL alike)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from notifications.models import Notification

BEFORE_THE_MOVE = [("budgets", "0008_rollover_item_hold_forfeited"), ("notifications", None)]


def _migrate(targets=None):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_moving_the_model_keeps_its_rows_and_the_permissions_on_it():
    try:
        # given a notification made while the model was budgets'
        old = _migrate(BEFORE_THE_MOVE)
        user = old.get_model("auth", "User").objects.create(username="ada", email="a@example.com")
        note = old.get_model("budgets", "Notification").objects.create(
            user_id=user.pk, message="Ada's budget is 80% used."
        )
        permission = old.get_model("auth", "Permission").objects.get(
            content_type__app_label="budgets", codename="view_notification"
        )
        assert permission.group_set.filter(name="HR").exists()

        # when the move runs
        new = _migrate()

        # then the row is there, in the new table, and HR still holds the same permission
        moved = Notification.objects.get(pk=note.pk)
        assert (moved.user_id, moved.message, moved.emailed_at) == (user.pk, note.message, None)
        assert Notification._meta.db_table == "notifications_notification"
        permission = new.get_model("auth", "Permission").objects.get(pk=permission.pk)
        assert permission.content_type.app_label == "notifications"
        assert permission.group_set.filter(name="HR").exists()
    finally:
        _migrate()
