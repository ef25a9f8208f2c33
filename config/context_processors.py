from audit.views import can_audit
from budgets.display import viewer_sees_everything
from people.models import Employee


def nav(request) -> dict:
    """Navigation flags for the signed-in person (each page checks access again on its own)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "can_audit": can_audit(user),
        # the "Company" link to the company overview (HR, finance, superusers)
        "sees_company": viewer_sees_everything(user),
        # the "My team" and "Offers" links, for every page
        "has_reports": Employee.objects.filter(manager__user=user).exists(),
    }
