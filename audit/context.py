from audit.views import can_audit


def nav(request) -> dict:
    """Whether the signed-in person sees the Audit link (the view checks again on its own)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"can_audit": can_audit(user)}
