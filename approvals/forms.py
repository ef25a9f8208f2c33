from django import forms

from approvals.models import RequestKind
from approvals.selectors import transfer_destinations, transfer_sources
from budgets.models import Budget
from common.money import DollarsFormField
from people.models import Employee, Project, Team

# The fields each kind of request asks for, beyond the ones every kind has (amount, reason,
# until); the first is required. A new kind is one row: the form shows only its row's fields
# (static/request-kind-fields.js; without script, every field shows) and ignores the others.
REQUEST_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    RequestKind.INCREASE: ("employee",),
    RequestKind.PERMANENT_INCREASE: ("employee", "effective_from"),
    RequestKind.TEAM_TOPUP: ("team",),
    RequestKind.PROJECT_ALLOCATION: ("project", "members", "expected_impact"),
    RequestKind.TRANSFER: ("source", "destination"),
}
# How the form names a kind where its label alone would not tell two apart.
KIND_LABELS = {RequestKind.INCREASE: "Budget increase (this fiscal year only)"}


class PersonChoiceField(forms.ModelChoiceField):
    """People named so that two of the same name can be told apart: name, email, team."""

    def label_from_instance(self, obj: Employee) -> str:
        return person_label(obj)


class PeopleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Employee) -> str:
        return person_label(obj)


def person_label(employee: Employee) -> str:
    team = f", {employee.team.name}" if employee.team_id else ""
    return f"{employee.display_name} ({employee.user.email}{team})"


class RequestForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(kind, KIND_LABELS.get(kind, kind.label)) for kind in REQUEST_KIND_FIELDS]
    )
    employee = PersonChoiceField(
        queryset=Employee.objects.none(), required=False, label="For (budget increase)"
    )
    # Permanent increase (issue 21): the amount is added to the agreed annual budget from this day.
    effective_from = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Permanent increase: the day the new annual budget applies from (this year's "
        "share is prorated from it; every later year gets the new amount).",
    )
    # Transfer (issue 21): this year's budgets money moves from and to; both owners approve.
    source = forms.ModelChoiceField(
        queryset=Budget.objects.none(), required=False, label="From (transfer)"
    )
    destination = forms.ModelChoiceField(
        queryset=Budget.objects.none(), required=False, label="To (transfer)"
    )
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False)
    project = forms.ModelChoiceField(queryset=Project.objects.none(), required=False)
    members = PeopleChoiceField(
        queryset=Employee.objects.none(), required=False, help_text="Project allocation: who joins."
    )
    expected_impact = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Project allocation: what it will change.",
    )
    amount = DollarsFormField(label="Amount (USD)", min_value=0)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Until when you need it; the request expires unanswered after this day.",
    )

    def __init__(self, *args, me: Employee | None, **kwargs):
        super().__init__(*args, **kwargs)
        people = Employee.objects.filter(is_active=True).select_related("user", "team")
        if me is not None:
            self.fields["employee"].queryset = people.filter(pk=me.pk) | people.filter(manager=me)
            self.fields["employee"].initial = me.pk
            self.fields["team"].queryset = Team.objects.filter(pk=me.team_id) | Team.objects.filter(
                lead=me
            )
            self.fields["project"].queryset = Project.objects.filter(
                lead=me
            ) | Project.objects.filter(members=me)
            self.fields["members"].queryset = people
            self.fields["source"].queryset = transfer_sources(me)
            self.fields["destination"].queryset = transfer_destinations(me)
        self.fields["project"].queryset = self.fields["project"].queryset.distinct()

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        own = REQUEST_KIND_FIELDS.get(kind, ())
        for other in kind_fields() - set(own):  # hidden for this kind: what was left there
            data[other] = self.fields[other].to_python(None) if other != "members" else []
        if own and not data.get(own[0]):
            self.add_error(own[0], "Choose one for this kind of request.")
        if kind == RequestKind.TRANSFER and not data.get("destination"):
            self.add_error("destination", "Choose where the money goes.")
        if kind == RequestKind.PERMANENT_INCREASE and not data.get("effective_from"):
            self.add_error("effective_from", "Give the day the new annual budget applies from.")
        amount = data.get("amount")
        if amount is not None and amount <= 0:
            self.add_error("amount", "Ask for an amount above zero.")
        return data

    def rows(self) -> list[tuple[forms.BoundField, str, bool]]:
        """Each field with the kinds it belongs to ("" for every kind) and whether it starts
        hidden (it is not the chosen kind's)."""
        kind = self["kind"].value() or next(iter(REQUEST_KIND_FIELDS))
        rows = []
        for field in self:
            kinds = [k for k, names in REQUEST_KIND_FIELDS.items() if field.name in names]
            rows.append((field, " ".join(kinds), bool(kinds) and kind not in kinds))
        return rows


def kind_fields() -> set[str]:
    return {name for names in REQUEST_KIND_FIELDS.values() for name in names}


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    # The step the page showed: a second click after the request moved on is told apart from
    # a decision on the next step.
    step = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Required when you reject: the requester reads it.",
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == "reject" and not data.get("comment", "").strip():
            self.add_error("comment", "Say why you reject it.")
        return data


class DelegationForm(forms.Form):
    delegate = forms.EmailField(label="Stand-in's email")
    starts_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(required=False, max_length=200)
