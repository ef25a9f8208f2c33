"""Pilot cohorts: a named group of people trying something for a while (dates, members), and
the control group it is compared with (another cohort, or everyone in a department who is not
in the pilot). The comparison itself is `pilots/comparison.py`."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from people.models import Department, Employee


class PilotStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"


class ControlKind(models.TextChoices):
    COHORT = "cohort", "Another cohort"
    DEPARTMENT = "department", "Everyone in a department not in the pilot"
    EVERYONE_ELSE = "everyone_else", "Everyone not in the pilot"


class PilotMetric(models.TextChoices):
    """The Claude Code productivity metrics the quarterly report already reads, per engineer."""

    PULL_REQUESTS = "claude_code_pull_requests", "Pull requests (Claude Code)"
    COMMITS = "claude_code_commits", "Commits (Claude Code)"
    LINES_ADDED = "claude_code_lines_added", "Lines added (Claude Code)"
    EDITS_ACCEPTED = "claude_code_edits_accepted", "Edits accepted (Claude Code)"


class PilotCohort(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    start = models.DateField(help_text="The pilot's first day.")
    end = models.DateField(null=True, blank=True, help_text="Its last day; blank while open.")
    status = models.CharField(
        max_length=20, choices=PilotStatus.choices, default=PilotStatus.RUNNING
    )
    metric = models.CharField(
        max_length=60,
        choices=PilotMetric.choices,
        default=PilotMetric.PULL_REQUESTS,
        help_text="The productivity metric spend is divided by.",
    )
    members = models.ManyToManyField(
        Employee, through="PilotMembership", related_name="pilot_cohorts", blank=True
    )
    control_kind = models.CharField(
        "control group",
        max_length=20,
        choices=ControlKind.choices,
        default=ControlKind.EVERYONE_ELSE,
    )
    control_cohort = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="controls_for",
        help_text="With 'another cohort': the cohort compared with.",
    )
    control_department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="With 'a department': its people who are not in the pilot.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-start", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gte=F("start")), name="pilot_end_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(control_cohort=F("id")), name="pilot_not_its_own_control"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.start and self.end and self.end < self.start:
            raise ValidationError({"end": "The pilot must end on or after its first day."})
        if self.control_kind == ControlKind.COHORT and self.control_cohort_id is None:
            raise ValidationError({"control_cohort": "Choose the cohort to compare with."})
        if self.control_kind == ControlKind.DEPARTMENT and self.control_department_id is None:
            raise ValidationError({"control_department": "Choose the department to compare with."})
        if self.pk and self.control_cohort_id == self.pk:
            raise ValidationError({"control_cohort": "A pilot cannot be its own control group."})


class PilotMembership(models.Model):
    cohort = models.ForeignKey(PilotCohort, on_delete=models.CASCADE, related_name="memberships")
    employee = models.ForeignKey(
        Employee, on_delete=models.PROTECT, related_name="pilot_memberships"
    )
    joined_on = models.DateField(null=True, blank=True, help_text="Blank: from the pilot's start.")
    left_on = models.DateField(null=True, blank=True, help_text="Blank: to the pilot's end.")

    class Meta:
        ordering = ["cohort", "employee__user__email"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "employee"], name="pilot_member_once"),
            models.CheckConstraint(
                condition=Q(left_on__isnull=True)
                | Q(joined_on__isnull=True)
                | Q(left_on__gte=F("joined_on")),
                name="pilot_member_left_after_joined",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.employee} in {self.cohort}"

    def clean(self) -> None:
        if self.joined_on and self.left_on and self.left_on < self.joined_on:
            raise ValidationError({"left_on": "Left on must be on or after joined on."})
