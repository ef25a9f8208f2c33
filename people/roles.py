"""The four roles (HR, Finance, Managers, Engineers; the README lists them) as Django groups,
and the model permissions each one holds.

Migrations call `roles_sync` whenever a model is added, so the groups always match this table.
Managers and Engineers work in the web pages, not the admin, so they hold no model permissions:
those pages check relations (whose manager you are) on the server instead.
"""

from django.contrib.auth.management import create_permissions

HR = "HR"
FINANCE = "Finance"
MANAGERS = "Managers"
ENGINEERS = "Engineers"

_CRUD = ("add", "change", "delete", "view")

ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    HR: {
        "auth.user": ("change", "view"),  # people's names, emails, active; see AccountAdmin
        "people.level": _CRUD,
        "people.department": _CRUD,
        "people.team": _CRUD,
        "people.employee": ("add", "change", "view"),
        "people.project": _CRUD,
        "people.companysettings": ("change", "view"),
        "budgets.budget": ("add", "change", "view"),
        "budgets.ledgerentry": ("add", "view"),
        "budgets.tokenprice": ("view",),
        "budgets.usageevent": ("view",),
        "budgets.reservation": ("view",),
        "budgets.alertclaim": ("view",),
        "notifications.notification": ("view",),
        "budgets.carryoverpolicy": _CRUD,
        "budgets.rolloverrun": ("view",),
        "approvals.approvalrule": ("add", "change", "view"),
        "approvals.approvalrequest": ("view",),
        "approvals.approvalstep": ("view",),
        "approvals.delegation": _CRUD,
        "compensation.levelband": _CRUD,
        "compensation.compensationpolicy": ("change", "view"),
        "compensation.candidate": _CRUD,
        "compensation.offer": ("add", "change", "view"),
        "compensation.offerround": ("view",),
        "compensation.offerlettertemplate": _CRUD,
        "compensation.offerletter": ("view",),
        "compensation.exchangerate": ("view",),  # the rate an offer letter will use
        # pay is HR's alone (finance sees token money, not salaries); records are kept, not deleted
        "compensation.payrecord": ("add", "change", "view"),
        "compensation.statementrun": ("add", "view"),
        "connectors.providerconnection": ("view",),
        "connectors.identitymapping": _CRUD,
        "connectors.usagebucket": ("view",),
        "connectors.unassignedusage": ("view",),
        "connectors.claudecodeday": ("view",),
        # the "needs a level" list: people the identity provider sent, for HR to give a level
        "provisioning.provisionedperson": ("change", "view"),
        "pilots.pilotcohort": _CRUD,
        "pilots.pilotmembership": _CRUD,
    },
    FINANCE: {
        "people.level": ("view",),
        "people.department": ("view",),
        "people.team": ("view",),
        "people.employee": ("view",),
        "people.project": ("view",),
        "people.companysettings": ("change", "view"),
        "budgets.budget": ("add", "change", "view"),
        "budgets.ledgerentry": ("add", "view"),
        "budgets.tokenprice": ("add", "change", "view"),
        "budgets.usageevent": ("view",),
        "budgets.reservation": ("view",),
        "budgets.alertclaim": ("view",),
        "budgets.integrationkey": ("add", "change", "view"),
        "budgets.carryoverpolicy": _CRUD,
        "budgets.rolloverrun": ("add", "change", "view"),
        # closing a month, and asking or confirming its reopening (two finance users)
        "budgets.monthclose": ("add", "view"),
        "approvals.approvalrule": ("add", "change", "view"),
        "approvals.approvalrequest": ("view",),
        "approvals.approvalstep": ("view",),
        "compensation.levelband": ("view",),
        "compensation.compensationpolicy": ("change", "view"),
        "compensation.exchangerate": _CRUD,  # only finance keeps the rates
        "reporting.reportrun": ("view",),
        "reporting.productivitymetric": _CRUD,
        "reporting.journalaccount": _CRUD,
        "connectors.providerconnection": ("add", "change", "view"),
        "connectors.identitymapping": ("view",),
        "connectors.usagebucket": ("view",),
        "connectors.unassignedusage": ("view",),
        "connectors.providercostday": ("view",),
        "connectors.claudecodeday": ("view",),
        "pilots.pilotcohort": ("view",),
        "pilots.pilotmembership": ("view",),
    },
    MANAGERS: {},
    ENGINEERS: {},
}

STAFF_ROLES = (HR, FINANCE)


def has_role(user, *roles: str) -> bool:
    """A signed-in, active superuser, or a member of one of `roles`: the one check behind
    every finance-only and HR-only page, action and service."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_superuser or user.groups.filter(name__in=roles).exists())


def roles_sync(apps, schema_editor=None) -> None:
    """Create the groups and give each exactly the permissions above (usable in migrations)."""
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, model_actions in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        wanted = []
        for label, actions in model_actions.items():
            app_label, model = label.split(".")
            wanted.extend(
                Permission.objects.filter(
                    content_type__app_label=app_label,
                    content_type__model=model,
                    codename__in=[f"{action}_{model}" for action in actions],
                )
            )
        group.permissions.set(wanted)
