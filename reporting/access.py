"""Who may see finance reports: Finance and superusers, nobody else (checked on every view)."""

from people.access import role_required
from people.roles import FINANCE, has_role


def user_can_see_reports(user) -> bool:
    return has_role(user, FINANCE)


finance_required = role_required(FINANCE, denied="Finance reports are for Finance only.")
